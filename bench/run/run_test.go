package main

import (
	"os"
	"testing"
)

func TestProcReaders(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	if _, err := cpuTicks(pid); err != nil {
		t.Fatalf("cpuTicks: %v", err)
	}
	if busy, _, total, err := cpuStat("cpu0"); err != nil || busy <= 0 || total < busy {
		t.Fatalf("cpuStat = %d of %d, %v", busy, total, err)
	}
}

func TestInts(t *testing.T) {
	t.Parallel()
	got, err := ints(" 1,16 ,64,")
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 64 {
		t.Fatalf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-4", "x"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q) accepted", bad)
		}
	}
}

func TestWrkFailed(t *testing.T) {
	t.Parallel()
	// A 500 is both a status error and a bad answer in wrk's counts; it
	// must count once.
	w := wrkResult{Requests: 10, StatusErrors: 1, BadAnswers: 1, ReadErrors: 2}
	if got := w.failed(); got != 3 {
		t.Fatalf("failed = %d, want 3", got)
	}
}
