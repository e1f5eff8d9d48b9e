// Package cputime measures the CPU time this process uses, for benchmarks
// whose wall time includes deliberate waits (the batch writer parks so
// the scheduler polls the network, and on an idle machine those parks,
// not work, dominate ns/op): CPU time is what a busy gateway pays.
package cputime

import (
	"testing"
	"time"
)

// Used returns the process's user and system CPU time so far, or 0 where
// the platform does not report it.
func Used() time.Duration {
	d, _ := process()
	return d
}

// Report adds cpu-ns/op to b's result for cpu spent over b.N operations,
// where the platform reports CPU time.
func Report(b *testing.B, cpu time.Duration) {
	if _, ok := process(); ok {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}
