//go:build !linux

package common

// OnBackgroundThread runs fn: a thread's own priority is Linux's
// (background.go).
func OnBackgroundThread(fn func()) { fn() }

// IdleMeter reports every interval as busy where the CPUs' idle time is
// not read, so OnBackgroundThread's callers never take its path.
type IdleMeter struct{}

// Share returns 0.
func (m *IdleMeter) Share() float64 { return 0 }

// ThreadClock reports a thread that always ran where its CPU time is not
// read.
type ThreadClock struct{}

// StartThreadClock returns a ThreadClock.
func StartThreadClock() ThreadClock { return ThreadClock{} }

// Share returns 1.
func (c *ThreadClock) Share() float64 { return 1 }
