//go:build !linux

package common

// OnBackgroundThread runs fn: a thread's own priority is Linux's
// (background.go).
func OnBackgroundThread(fn func()) { fn() }

// CPUMeter reports every interval as busy where the process's CPU time is
// not read, so OnBackgroundThread's callers never take its path.
type CPUMeter struct{}

// Busy returns 1.
func (m *CPUMeter) Busy() float64 { return 1 }
