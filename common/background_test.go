//go:build linux

package common

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
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

// kernelTakesSlices reports that the running kernel lets a normal thread
// ask for its scheduler slice (sched_attr.sched_runtime, Linux 6.12 on).
func kernelTakesSlices(t *testing.T) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release, err)
	}
	return major > 6 || major == 6 && minor >= 12
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
		if attr, err := unix.SchedGetAttr(0, 0); err != nil {
			t.Error(err)
		} else if want := uint64(backgroundSlice); attr.Runtime != want && kernelTakesSlices(t) {
			t.Errorf("fn's thread has a %v slice, want %v", time.Duration(attr.Runtime), backgroundSlice)
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

// Spinning on every CPU the process may use leaves none of them idle,
// whatever else runs on the machine.
func TestIdleMeterSeesItsCPUsBusy(t *testing.T) {
	var m IdleMeter
	if got := m.Share(); got != 0 {
		t.Fatalf("first Share = %v, want 0 (no interval yet: assume busy)", got)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(set.Count()))
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for range set.Count() {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_ = unix.Getpid()
			}
		})
	}
	wg.Wait()
	if got := m.Share(); got > 0.3 {
		t.Fatalf("idle share while spinning on all %d CPUs = %.2f, want near 0", set.Count(), got)
	}
	time.Sleep(50 * time.Millisecond)
	if got := m.Share(); got < 0 || got > 1 {
		t.Fatalf("idle share = %v, want within [0, 1]", got)
	}
}

// A thread that sleeps gets no CPU time; one that spins gets some.
func TestThreadClockShare(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := StartThreadClock()
	time.Sleep(100 * time.Millisecond)
	if got := clock.Share(); got > 0.2 {
		t.Fatalf("share after sleeping = %.2f, want near 0", got)
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		_ = unix.Getpid()
	}
	if got := clock.Share(); got <= 0 {
		t.Fatalf("share after spinning = %.2f, want above 0", got)
	}
}
