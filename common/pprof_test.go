package common

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests are not parallel: Go allows one CPU profile per process at a time.

// burnCPU keeps every usable core busy until the returned stop function is called.
func burnCPU(t *testing.T) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				for i := range 100_000 {
					x += i * i
				}
				_ = x
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func profilesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if isCPUProfileName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestCPUMonitorWritesParsableProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pprof") // missing: the monitor creates it
	cfg := CPUMonitorConfig{Enabled: true, ThresholdPercent: 1, ProfileDuration: time.Second,
		Interval: 100 * time.Millisecond, SampleInterval: 200 * time.Millisecond, Dir: dir, Keep: 2}
	burnCPU(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); RunCPUMonitor(ctx, func() CPUMonitorConfig { return cfg }) }()

	// Three profiles take about 3 × 1.3 s; wait until the monitor has written more than Keep, which the
	// oldest profile's stamp proves once it has been pruned.
	var first string
	deadline := time.Now().Add(30 * time.Second)
	for {
		names := profilesIn(t, dir)
		if first == "" && len(names) > 0 {
			first = names[0]
		}
		if first != "" && !slices.Contains(names, first) && len(names) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s of burning CPU over a 1%% threshold: profiles %v (first %q)", names, first)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done

	names := profilesIn(t, dir)
	if len(names) == 0 || len(names) > cfg.Keep {
		t.Fatalf("after pruning %d profiles remain (%v), want 1..%d", len(names), names, cfg.Keep)
	}
	path := filepath.Join(dir, names[len(names)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatal("profile is empty")
	}
	// A Go CPU profile is a gzip-compressed protocol buffer.
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("profile is not gzip: %v", err)
	}
	if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
		t.Fatalf("profile does not decompress: %d bytes, %v", len(raw), err)
	}
	checkWithGoToolPprof(t, path)
}

// checkWithGoToolPprof parses the profile with the toolchain's own reader, which works offline.
func checkWithGoToolPprof(t *testing.T, path string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command to run go tool pprof (%v); the gzip check above passed", err)
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top %s: %v\n%s", path, err, out)
	}
	// The header names the profile type and duration; the burning goroutines make the table non-empty.
	if !strings.Contains(string(out), "Type: cpu") || !strings.Contains(string(out), "flat") {
		t.Fatalf("unexpected go tool pprof output:\n%s", out)
	}
}

func TestCPUMonitorDisabledOrIdleWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pprof")
	m := &cpuMonitor{}
	cfg := CPUMonitorConfig{Enabled: false, ThresholdPercent: 1, ProfileDuration: time.Second, Interval: time.Minute,
		SampleInterval: 7 * time.Second, Dir: dir, Keep: 1}
	for range 3 {
		if wait := m.cycle(context.Background(), func() CPUMonitorConfig { return cfg }); wait != cfg.SampleInterval {
			t.Fatalf("disabled cycle waits %v, want the sample interval", wait)
		}
	}
	// Enabled but the threshold cannot be reached (100 % of every core while this test sleeps).
	cfg.Enabled, cfg.ThresholdPercent = true, 100.5
	for range 3 {
		if wait := m.cycle(context.Background(), func() CPUMonitorConfig { return cfg }); wait != cfg.SampleInterval {
			t.Fatalf("idle cycle waits %v, want the sample interval", wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no profile was due, yet the directory exists (err %v)", err)
	}
}

func TestCPUMonitorRecoversFromPanic(t *testing.T) {
	m := &cpuMonitor{}
	wait := m.cycle(context.Background(), func() CPUMonitorConfig { panic("broken settings") })
	if wait <= 0 {
		t.Fatalf("after a panic the monitor waits %v, want a positive pause", wait)
	}
}

func TestWriteCPUProfileWhileAnotherRuns(t *testing.T) {
	dir := t.TempDir()
	var other bytes.Buffer
	if err := pprof.StartCPUProfile(&other); err != nil {
		t.Skipf("cannot start a CPU profile here: %v", err)
	}
	defer pprof.StopCPUProfile()
	_, err := writeCPUProfile(context.Background(), dir, 10*time.Millisecond, time.Now())
	if !errors.Is(err, errProfileBusy) {
		t.Fatalf("err = %v, want errProfileBusy", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused profile left files behind: %v", entries)
	}
}

func TestWriteCPUProfileStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	path, err := writeCPUProfile(ctx, dir, time.Hour, start)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("profile ignored the context: took %v", el)
	}
	if filepath.Base(path) != cpuProfileName(start) {
		t.Fatalf("path %s, want name %s", path, cpuProfileName(start))
	}
}

func TestWriteCPUProfileUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := writeCPUProfile(context.Background(), filepath.Join(file, "sub"), time.Millisecond, time.Now()); err == nil {
		t.Fatal("a directory under a regular file was accepted")
	}
}

func TestPruneCPUProfiles(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		profiles int // written one minute apart
		keep     int
		want     int
	}{
		{"fewer than keep", 2, 5, 2},
		{"exactly keep", 3, 3, 3},
		{"more than keep", 7, 3, 3},
		{"keep one", 4, 1, 1},
		{"keep below one still keeps the newest", 4, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var written []string
			for i := range tc.profiles {
				n := cpuProfileName(base.Add(time.Duration(i) * time.Minute))
				written = append(written, n)
				if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Files that are not the monitor's own must survive, even with a similar name.
			foreign := []string{"notes.pprof", "sluice-cpu-latest.pprof", "sluice-cpu-20200101-000000.000.pprof.bak",
				"heap.pprof", cpuProfileName(base) + cpuProfileTemp}
			for _, n := range foreign {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A directory with a profile's name is not a profile.
			if err := os.Mkdir(filepath.Join(dir, cpuProfileName(base.Add(-time.Hour))), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := pruneCPUProfiles(dir, tc.keep); err != nil {
				t.Fatal(err)
			}
			got := profilesIn(t, dir)
			got = slices.DeleteFunc(got, func(n string) bool { return n == cpuProfileName(base.Add(-time.Hour)) })
			if want := written[len(written)-tc.want:]; !slices.Equal(got, want) {
				t.Fatalf("kept %v, want the newest %v", got, want)
			}
			for _, n := range foreign {
				if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
					t.Errorf("foreign file %s removed: %v", n, err)
				}
			}
		})
	}
}

func TestIsCPUProfileName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{cpuProfileName(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)), true},
		{"sluice-cpu-20260102-030405.006.pprof", true},
		{"sluice-cpu-20260102-030405.pprof", false}, // no milliseconds: not our layout
		{"sluice-cpu-2026010-030405.006.pprof", false},
		{"sluice-cpu-20261302-030405.006.pprof", false}, // month 13
		{"sluice-cpu-20260102-030405.006.pprof.tmp", false},
		{"other-20260102-030405.006.pprof", false},
		{"sluice-cpu-.pprof", false},
	}
	for _, tc := range tests {
		if got := isCPUProfileName(tc.name); got != tc.want {
			t.Errorf("isCPUProfileName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
