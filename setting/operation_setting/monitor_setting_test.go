package operation_setting

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func restoreMonitor(t *testing.T) {
	t.Cleanup(func() {
		if err := SetMonitor(DefaultMonitor()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultMonitor(t *testing.T) {
	d := DefaultMonitor()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Monitor{CPUMonitorEnabled: true, CPUMonitorThreshold: 80, CPUProfileSeconds: 10,
		CPUProfileIntervalSeconds: 30, CPUProfileDir: "./pprof", CPUProfileKeep: 10, CPUMonitorSampleSeconds: 5}
	if d != want {
		t.Fatalf("DefaultMonitor() = %+v, want %+v", d, want)
	}
	if *GetMonitor() != d {
		t.Fatalf("GetMonitor() = %+v before any change, want the defaults", *GetMonitor())
	}
	c := d.CPUMonitorConfig()
	if !c.Enabled || c.ThresholdPercent != 80 || c.ProfileDuration != 10*time.Second || c.Interval != 30*time.Second ||
		c.SampleInterval != 5*time.Second || c.Dir != "./pprof" || c.Keep != 10 {
		t.Fatalf("CPUMonitorConfig() = %+v", c)
	}
}

func TestMonitorValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*Monitor)
		wantErr string // empty: valid
	}{
		{"defaults", func(*Monitor) {}, ""},
		{"disabled", func(m *Monitor) { m.CPUMonitorEnabled = false }, ""},
		{"threshold 1", func(m *Monitor) { m.CPUMonitorThreshold = 1 }, ""},
		{"threshold 100", func(m *Monitor) { m.CPUMonitorThreshold = 100 }, ""},
		{"threshold 0", func(m *Monitor) { m.CPUMonitorThreshold = 0 }, "CPUMonitorThreshold"},
		{"threshold 101", func(m *Monitor) { m.CPUMonitorThreshold = 101 }, "CPUMonitorThreshold"},
		{"profile 1 s", func(m *Monitor) { m.CPUProfileSeconds = 1 }, ""},
		{"profile 300 s", func(m *Monitor) { m.CPUProfileSeconds = 300 }, ""},
		{"profile 0 s", func(m *Monitor) { m.CPUProfileSeconds = 0 }, "CPUProfileSeconds"},
		{"profile 301 s", func(m *Monitor) { m.CPUProfileSeconds = 301 }, "CPUProfileSeconds"},
		{"interval 1 s", func(m *Monitor) { m.CPUProfileIntervalSeconds = 1 }, ""},
		{"interval 0 s", func(m *Monitor) { m.CPUProfileIntervalSeconds = 0 }, "CPUProfileIntervalSeconds"},
		{"interval over a day", func(m *Monitor) { m.CPUProfileIntervalSeconds = 86401 }, "CPUProfileIntervalSeconds"},
		{"empty dir", func(m *Monitor) { m.CPUProfileDir = "" }, "CPUProfileDir"},
		{"blank dir", func(m *Monitor) { m.CPUProfileDir = " \t" }, "CPUProfileDir"},
		{"NUL in dir", func(m *Monitor) { m.CPUProfileDir = "a\x00b" }, "CPUProfileDir"},
		{"absolute dir", func(m *Monitor) { m.CPUProfileDir = "/var/lib/sluice/pprof" }, ""},
		{"keep 1", func(m *Monitor) { m.CPUProfileKeep = 1 }, ""},
		{"keep 0", func(m *Monitor) { m.CPUProfileKeep = 0 }, "CPUProfileKeep"},
		{"keep too many", func(m *Monitor) { m.CPUProfileKeep = 1001 }, "CPUProfileKeep"},
		{"sample 0 s", func(m *Monitor) { m.CPUMonitorSampleSeconds = 0 }, "CPUMonitorSampleSeconds"},
		{"sample 301 s", func(m *Monitor) { m.CPUMonitorSampleSeconds = 301 }, "CPUMonitorSampleSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := DefaultMonitor()
			tt.change(&m)
			err := m.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestUpdateMonitorRejectsWithoutChange(t *testing.T) {
	restoreMonitor(t)
	before := *GetMonitor()
	if err := UpdateMonitor(func(m *Monitor) { m.CPUProfileKeep = 3; m.CPUMonitorThreshold = 0 }); err == nil {
		t.Fatal("an invalid update was accepted")
	}
	if *GetMonitor() != before {
		t.Fatal("a rejected update changed the knobs")
	}
	if err := SetMonitor(Monitor{}); err == nil {
		t.Fatal("SetMonitor accepted the zero value")
	}
	if err := UpdateMonitor(func(m *Monitor) { m.CPUProfileKeep = 3 }); err != nil {
		t.Fatal(err)
	}
	if GetMonitor().CPUProfileKeep != 3 || CurrentCPUMonitorConfig().Keep != 3 {
		t.Fatalf("update not published: %+v", *GetMonitor())
	}
}

// TestConcurrentMonitorUpdates checks that concurrent writers of different knobs all survive and that readers
// never see an invalid set; run with -race.
func TestConcurrentMonitorUpdates(t *testing.T) {
	restoreMonitor(t)
	const n = 200
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := UpdateMonitor(func(m *Monitor) { m.CPUProfileKeep = i }); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := UpdateMonitor(func(m *Monitor) { m.CPUMonitorThreshold = 1 + i%100 }); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range n {
			if m := GetMonitor(); m.Validate() != nil {
				t.Errorf("reader saw invalid knobs %+v", *m)
				return
			}
		}
	}()
	wg.Wait()
	if m := GetMonitor(); m.CPUProfileKeep != n || m.CPUMonitorThreshold != 1+n%100 {
		t.Fatalf("a concurrent update was lost: %+v", *m)
	}
}
