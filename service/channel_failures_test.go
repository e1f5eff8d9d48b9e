package service

import (
	"testing"
	"time"
)

func TestFailureWindow(t *testing.T) {
	t.Parallel()
	var f failureWindow
	t0 := time.Unix(1_000_000, 0)
	// Four failures spread over more than the window never trip a 3-in-10s rule.
	for i, at := range []time.Duration{0, 6 * time.Second, 12 * time.Second, 18 * time.Second} {
		if f.record(1, 3, 10*time.Second, t0.Add(at)) {
			t.Fatalf("tripped at failure %d", i+1)
		}
	}
	// Three within the window do.
	if f.record(1, 3, 10*time.Second, t0.Add(19*time.Second)) != true {
		t.Fatal("3 failures within 10 s did not trip")
	}
	// Channels are counted apart, and memory per channel stays at the threshold.
	if f.record(2, 3, 10*time.Second, t0) {
		t.Fatal("another channel tripped")
	}
	for i := range 1000 {
		f.record(3, 5, time.Hour, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(f.times[3]); n != 5 {
		t.Fatalf("kept %d timestamps, want 5", n)
	}
	f.reset(1)
	if f.record(1, 3, 10*time.Second, t0.Add(20*time.Second)) {
		t.Fatal("reset did not clear the window")
	}
}
