package common

import (
	"runtime"
	"sync"
	"testing"
)

// Not parallel: these tests change GOMAXPROCS for the whole process.

func TestWithSpareProcAddsOneProcForItsDuration(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	ran := false
	WithSpareProc(func() {
		ran = true
		if got := runtime.GOMAXPROCS(0); got != base+1 {
			t.Errorf("GOMAXPROCS inside = %d, want %d", got, base+1)
		}
		// Nested: still one spare, not two.
		WithSpareProc(func() {
			if got := runtime.GOMAXPROCS(0); got != base+1 {
				t.Errorf("GOMAXPROCS nested = %d, want %d", got, base+1)
			}
		})
		if got := runtime.GOMAXPROCS(0); got != base+1 {
			t.Errorf("GOMAXPROCS after the nested call = %d, want %d (the outer call still runs)", got, base+1)
		}
	})
	if !ran {
		t.Fatal("fn did not run")
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS after = %d, want %d", got, base)
	}
}

// Overlapping holders share one spare P, and the last one out restores
// the value: the first one out must not take the spare from the other.
func TestWithSpareProcOverlappingHolders(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	firstIn, secondIn, firstOut := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		WithSpareProc(func() {
			close(firstIn)
			<-secondIn
		})
		close(firstOut)
	}()
	go func() {
		defer wg.Done()
		<-firstIn
		WithSpareProc(func() {
			close(secondIn)
			<-firstOut
			if got := runtime.GOMAXPROCS(0); got != base+1 {
				t.Errorf("GOMAXPROCS while the second holder runs alone = %d, want %d", got, base+1)
			}
		})
	}()
	wg.Wait()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS after both = %d, want %d", got, base)
	}
}

// With GOMAXPROCS set in the environment, the value restored is the one the
// process had, not the runtime's default.
func TestWithSpareProcRestoresAnExplicitValue(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	prev := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(prev)
	WithSpareProc(func() {
		if got := runtime.GOMAXPROCS(0); got != 4 {
			t.Errorf("GOMAXPROCS inside = %d, want 4", got)
		}
	})
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS after = %d, want 3", got)
	}
}

// A panic in fn still gives the spare P back.
func TestWithSpareProcRestoresAfterPanic(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	func() {
		defer func() { _ = recover() }()
		WithSpareProc(func() { panic("boom") })
	}()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS after a panic = %d, want %d", got, base)
	}
}
