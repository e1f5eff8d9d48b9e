package operation_setting

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sluice/common"
)

// Bounds of the CPU monitor's knobs. The upper bounds only stop a typo from parking the monitor for a year or
// filling a disk: a profile longer than five minutes is unreadable anyway, and sampling less often than every
// five minutes misses every spike worth profiling.
const (
	MaxCPUProfileSeconds         = 300
	MaxCPUProfileIntervalSeconds = 86400
	MaxCPUProfileKeep            = 1000
	MaxCPUMonitorSampleSeconds   = 300
)

// Monitor is one published, immutable set of CPU-monitor knobs (see common.RunCPUMonitor).
type Monitor struct {
	// CPUMonitorEnabled turns the monitor on; when off it neither samples nor profiles.
	CPUMonitorEnabled bool
	// CPUMonitorThreshold is the process CPU, in percent of the cores the process may use, at or above which a
	// profile is taken. 1..100.
	CPUMonitorThreshold int
	// CPUProfileSeconds is how long one CPU profile records. 1..MaxCPUProfileSeconds.
	CPUProfileSeconds int
	// CPUProfileIntervalSeconds is the pause after a profile before sampling resumes, so a sustained overload
	// yields a profile every interval rather than back-to-back profiles. 1..MaxCPUProfileIntervalSeconds.
	CPUProfileIntervalSeconds int
	// CPUProfileDir is the directory profiles are written to (created when missing). Not empty.
	CPUProfileDir string
	// CPUProfileKeep is how many of the newest profiles are kept; older ones the monitor wrote are deleted.
	// 1..MaxCPUProfileKeep.
	CPUProfileKeep int
	// CPUMonitorSampleSeconds is the window over which CPU is measured between two checks.
	// 1..MaxCPUMonitorSampleSeconds.
	CPUMonitorSampleSeconds int
}

// DefaultMonitor returns the knobs of a fresh install.
func DefaultMonitor() Monitor {
	return Monitor{
		CPUMonitorEnabled:         true,
		CPUMonitorThreshold:       80,
		CPUProfileSeconds:         10,
		CPUProfileIntervalSeconds: 30,
		CPUProfileDir:             "./pprof",
		CPUProfileKeep:            10,
		CPUMonitorSampleSeconds:   5,
	}
}

// Validate reports the first knob out of range, naming it, or nil.
func (m *Monitor) Validate() error {
	switch {
	case m.CPUMonitorThreshold < 1 || m.CPUMonitorThreshold > 100:
		return fmt.Errorf("CPUMonitorThreshold must be between 1 and 100, got %d", m.CPUMonitorThreshold)
	case m.CPUProfileSeconds < 1 || m.CPUProfileSeconds > MaxCPUProfileSeconds:
		return fmt.Errorf("CPUProfileSeconds must be between 1 and %d, got %d", MaxCPUProfileSeconds, m.CPUProfileSeconds)
	case m.CPUProfileIntervalSeconds < 1 || m.CPUProfileIntervalSeconds > MaxCPUProfileIntervalSeconds:
		return fmt.Errorf("CPUProfileIntervalSeconds must be between 1 and %d, got %d",
			MaxCPUProfileIntervalSeconds, m.CPUProfileIntervalSeconds)
	case strings.TrimSpace(m.CPUProfileDir) == "":
		return fmt.Errorf("CPUProfileDir must not be empty")
	case strings.ContainsRune(m.CPUProfileDir, 0):
		return fmt.Errorf("CPUProfileDir must not contain a NUL byte")
	case m.CPUProfileKeep < 1 || m.CPUProfileKeep > MaxCPUProfileKeep:
		return fmt.Errorf("CPUProfileKeep must be between 1 and %d, got %d", MaxCPUProfileKeep, m.CPUProfileKeep)
	case m.CPUMonitorSampleSeconds < 1 || m.CPUMonitorSampleSeconds > MaxCPUMonitorSampleSeconds:
		return fmt.Errorf("CPUMonitorSampleSeconds must be between 1 and %d, got %d",
			MaxCPUMonitorSampleSeconds, m.CPUMonitorSampleSeconds)
	}
	return nil
}

// CPUMonitorConfig converts the knobs to the monitor's own typed configuration.
func (m *Monitor) CPUMonitorConfig() common.CPUMonitorConfig {
	return common.CPUMonitorConfig{
		Enabled:          m.CPUMonitorEnabled,
		ThresholdPercent: float64(m.CPUMonitorThreshold),
		ProfileDuration:  time.Duration(m.CPUProfileSeconds) * time.Second,
		Interval:         time.Duration(m.CPUProfileIntervalSeconds) * time.Second,
		SampleInterval:   time.Duration(m.CPUMonitorSampleSeconds) * time.Second,
		Dir:              m.CPUProfileDir,
		Keep:             m.CPUProfileKeep,
	}
}

var (
	currentMonitor atomic.Pointer[Monitor]
	// monitorWriteMu serialises UpdateMonitor so that two concurrent changes to different knobs both survive.
	monitorWriteMu sync.Mutex
)

func init() {
	m := DefaultMonitor()
	currentMonitor.Store(&m)
}

// GetMonitor returns the current knobs. It never returns nil; the value is shared, so callers must not modify it.
func GetMonitor() *Monitor { return currentMonitor.Load() }

// CurrentCPUMonitorConfig returns the current knobs as the monitor reads them; pass it to common.RunCPUMonitor so
// that every change made through the options registry applies from the monitor's next cycle.
func CurrentCPUMonitorConfig() common.CPUMonitorConfig { return GetMonitor().CPUMonitorConfig() }

// SetMonitor replaces all the knobs at once after validating them; on error nothing changes.
func SetMonitor(m Monitor) error {
	if err := m.Validate(); err != nil {
		return err
	}
	monitorWriteMu.Lock()
	defer monitorWriteMu.Unlock()
	currentMonitor.Store(&m)
	return nil
}

// UpdateMonitor applies change to a copy of the current knobs and publishes the copy if it is valid; on error
// nothing changes.
func UpdateMonitor(change func(*Monitor)) error {
	monitorWriteMu.Lock()
	defer monitorWriteMu.Unlock()
	next := *currentMonitor.Load()
	change(&next)
	if err := next.Validate(); err != nil {
		return err
	}
	currentMonitor.Store(&next)
	return nil
}
