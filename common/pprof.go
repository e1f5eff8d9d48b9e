package common

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/process"
)

// CPUMonitorConfig is what the CPU monitor reads before each cycle. setting/operation_setting owns the knobs
// (options CPUMonitorEnabled, CPUMonitorThreshold, …) and converts them to this value; common cannot import
// setting, so RunCPUMonitor takes a function that returns the current value.
type CPUMonitorConfig struct {
	// Enabled turns sampling and profiling on.
	Enabled bool
	// ThresholdPercent is the process CPU, in percent of the cores the process may use (0..100), at or above
	// which a profile is taken.
	ThresholdPercent float64
	// ProfileDuration is how long one profile records.
	ProfileDuration time.Duration
	// Interval is the pause after a profile before sampling resumes.
	Interval time.Duration
	// SampleInterval is the window over which CPU is measured between two checks.
	SampleInterval time.Duration
	// Dir is where profiles are written; it is created when missing.
	Dir string
	// Keep is how many of the newest profiles are kept.
	Keep int
}

// Profile files are named cpuProfilePrefix + UTC time in cpuProfileTimeLayout + cpuProfileExt, so that names sort
// in time order and retention can recognise — and delete — only files the monitor wrote itself.
const (
	cpuProfilePrefix     = "sluice-cpu-"
	cpuProfileTimeLayout = "20060102-150405.000"
	cpuProfileExt        = ".pprof"
	// cpuProfileTemp marks a profile still being written; it is renamed when complete, so a reader (or
	// retention) never sees half a profile.
	cpuProfileTemp = ".tmp"
	// errorLogEvery bounds how often a repeating sampling failure is logged.
	errorLogEvery = 10 * time.Minute
)

// RunCPUMonitor samples the process's and the system's CPU every SampleInterval until ctx ends. When the
// process's CPU reaches the threshold it writes a CPU profile of ProfileDuration into Dir, prunes Dir to the
// newest Keep profiles, and then waits Interval before sampling again. config is called before every cycle, so
// changes made at run time apply from the next cycle.
//
// The trigger is process CPU normalised by the cores the process may use (min of GOMAXPROCS and the machine's
// CPUs; since Go 1.25 GOMAXPROCS follows the container's CPU limit), not system CPU: a profile of sluice only
// explains sluice's own load, and on a shared host system CPU can be high because of other programs, which a
// profile of this process cannot explain. System CPU is sampled too and logged next to each profile as context.
//
// Failures are logged, never fatal: a panic inside one cycle is recovered and logged, and a CPU profile
// already running (for example one requested through ENABLE_PPROF's /debug/pprof/profile) makes that cycle skip
// its profile.
func RunCPUMonitor(ctx context.Context, config func() CPUMonitorConfig) {
	m := &cpuMonitor{}
	for {
		wait := m.cycle(ctx, config)
		if wait <= 0 {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// cpuMonitor holds the sampler's state between cycles.
type cpuMonitor struct {
	proc       *process.Process
	primed     bool // the last cycle took a baseline, so the next sample covers one window
	lastErr    string
	lastErrLog time.Time
}

// cycle runs one check and returns how long to wait before the next one.
func (m *cpuMonitor) cycle(ctx context.Context, config func() CPUMonitorConfig) (wait time.Duration) {
	wait = time.Second
	defer func() {
		if r := recover(); r != nil {
			slog.Error("cpu monitor panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			m.primed = false
		}
	}()
	cfg := config()
	wait = cfg.SampleInterval
	if !cfg.Enabled {
		m.primed = false // a later sample must not average over the time spent disabled
		return wait
	}
	procPct, sysPct, ok, err := m.sample(ctx)
	if err != nil {
		m.logError("cpu monitor: sampling failed", err)
		return wait
	}
	if !ok || procPct < cfg.ThresholdPercent {
		return wait
	}
	slog.Warn("cpu above threshold: writing a CPU profile", "process_cpu_percent", round1(procPct),
		"system_cpu_percent", round1(sysPct), "threshold_percent", cfg.ThresholdPercent,
		"seconds", cfg.ProfileDuration.Seconds(), "dir", cfg.Dir)
	path, err := writeCPUProfile(ctx, cfg.Dir, cfg.ProfileDuration, time.Now())
	switch {
	case errors.Is(err, errProfileBusy):
		slog.Warn("cpu monitor: a CPU profile is already running; skipping this one")
	case err != nil:
		slog.Error("cpu monitor: writing a CPU profile failed", "err", err)
	default:
		slog.Info("cpu profile written", "path", path)
		if err := pruneCPUProfiles(cfg.Dir, cfg.Keep); err != nil {
			slog.Error("cpu monitor: pruning old profiles failed", "err", err)
		}
	}
	m.primed = false // the next decision measures a fresh window, not the profile and the pause
	return cfg.Interval
}

// sample returns the process's CPU normalised to 0..100 of the cores it may use and the system's CPU (0..100)
// since the previous call. ok is false on the first call after a reset: it only takes the baseline.
func (m *cpuMonitor) sample(ctx context.Context) (procPct, sysPct float64, ok bool, err error) {
	if m.proc == nil {
		if m.proc, err = process.NewProcessWithContext(ctx, int32(os.Getpid())); err != nil {
			return 0, 0, false, err
		}
	}
	// With a zero interval both calls measure since their previous call, so sampling never blocks.
	raw, err := m.proc.PercentWithContext(ctx, 0)
	if err != nil {
		return 0, 0, false, err
	}
	sys, sysErr := cpu.PercentWithContext(ctx, 0, false)
	if !m.primed {
		m.primed = true
		return 0, 0, false, nil
	}
	if sysErr == nil && len(sys) == 1 {
		sysPct = sys[0]
	} // else: system CPU is context only; the process figure still decides.
	// gopsutil reports 100 per fully used core.
	cores := min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	procPct = min(raw/float64(max(cores, 1)), 100)
	return procPct, sysPct, true, nil
}

// logError logs a sampling failure the first time it happens and then at most every errorLogEvery, so a
// permanent failure (a locked-down /proc) does not flood the log every few seconds.
func (m *cpuMonitor) logError(msg string, err error) {
	now := time.Now()
	if err.Error() == m.lastErr && now.Sub(m.lastErrLog) < errorLogEvery {
		return
	}
	m.lastErr, m.lastErrLog = err.Error(), now
	slog.Error(msg, "err", err)
}

// errProfileBusy is returned when another CPU profile is running: Go allows one at a time.
var errProfileBusy = errors.New("a CPU profile is already running")

// writeCPUProfile records a CPU profile for d (less if ctx ends first) into dir under a name built from now,
// and returns its path. The file appears under its final name only once complete.
func writeCPUProfile(ctx context.Context, dir string, d time.Duration, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create profile directory: %w", err)
	}
	final := filepath.Join(dir, cpuProfileName(now))
	tmp := final + cpuProfileTemp
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("create profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		// StartCPUProfile's only failure on a writable file is "cpu profiling already in use".
		return "", fmt.Errorf("%w: %v", errProfileBusy, err)
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write profile: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("rename profile: %w", err)
	}
	return final, nil
}

// cpuProfileName is the file name of a profile started at t.
func cpuProfileName(t time.Time) string {
	return cpuProfilePrefix + t.UTC().Format(cpuProfileTimeLayout) + cpuProfileExt
}

// isCPUProfileName reports whether name is one the monitor writes, so that retention never deletes an
// operator's own files that happen to sit in the same directory.
func isCPUProfileName(name string) bool {
	stamp, ok := strings.CutPrefix(name, cpuProfilePrefix)
	if !ok {
		return false
	}
	if stamp, ok = strings.CutSuffix(stamp, cpuProfileExt); !ok {
		return false
	}
	_, err := time.Parse(cpuProfileTimeLayout, stamp)
	return err == nil && len(stamp) == len(cpuProfileTimeLayout)
}

// pruneCPUProfiles deletes all but the newest keep profiles the monitor wrote in dir. Other files,
// directories and symbolic links are left alone.
func pruneCPUProfiles(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && isCPUProfileName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	keep = max(keep, 1) // never delete the profile just written
	if len(names) <= keep {
		return nil
	}
	slices.Sort(names) // the fixed-width UTC stamp sorts in time order
	var errs []error
	for _, n := range names[:len(names)-keep] {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
