//go:build linux

package common

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice reads the calling thread's nice value from /proc.
func threadNice(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Field 19 is nice; the command (field 2) may hold spaces, so count
	// from its closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Not parallel: these tests change GOMAXPROCS and measure the process's CPU.

func TestOnBackgroundThreadRunsNicedWithASpareProc(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	ran := false
	OnBackgroundThread(func() {
		ran = true
		if got := threadNice(t); got != backgroundNice {
			t.Errorf("fn's thread has nice %d, want %d", got, backgroundNice)
		}
		if got := runtime.GOMAXPROCS(0); got != base+1 {
			t.Errorf("GOMAXPROCS inside = %d, want %d", got, base+1)
		}
	})
	if !ran {
		t.Fatal("fn did not run")
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS after = %d, want %d", got, base)
	}
	// The niced thread ended with fn: no goroutine runs niced afterwards.
	for range 50 {
		done := make(chan int)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			done <- threadNice(t)
		}()
		if n := <-done; n != 0 {
			t.Fatalf("a goroutine after OnBackgroundThread ran on a thread with nice %d", n)
		}
	}
}

func TestOnBackgroundThreadRaisesFnsPanic(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want fn's panic", p)
		}
		if got := runtime.GOMAXPROCS(0); got != base {
			t.Errorf("GOMAXPROCS after a panic = %d, want %d", got, base)
		}
	}()
	OnBackgroundThread(func() { panic("boom") })
}

func TestCPUMeterBusy(t *testing.T) {
	var m CPUMeter
	if got := m.Busy(); got != 1 {
		t.Fatalf("first Busy = %v, want 1 (no interval yet)", got)
	}
	// One goroutine spinning for 300 ms uses one of GOMAXPROCS cores.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		_ = unix.Getpid()
	}
	spin := m.Busy()
	time.Sleep(300 * time.Millisecond)
	idle := m.Busy()
	procs := float64(runtime.GOMAXPROCS(0))
	if spin < 0.5/procs {
		t.Errorf("Busy after spinning one core = %.2f, want at least %.2f", spin, 0.5/procs)
	}
	if idle > 0.25 {
		t.Errorf("Busy after sleeping = %.2f, want near 0", idle)
	}
}
