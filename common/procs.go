package common

import (
	"os"
	"runtime"
	"sync"
)

// spareProc counts the callers inside WithSpareProc; the first raises
// GOMAXPROCS by one and the last puts it back.
var spareProc struct {
	sync.Mutex
	holders int
	base    int // GOMAXPROCS before the first holder raised it
}

// WithSpareProc runs fn with one more P (GOMAXPROCS) than the process has
// otherwise, for work that blocks in a system call for milliseconds, like
// SQLite's fsync when it checkpoints its WAL. A goroutine in a system
// call keeps its P until sysmon takes it back, and sysmon, which sleeps up
// to 10 ms between looks on a busy process and takes a P back on its
// second look, needed 14-19 ms in execution traces of sluice: on a gateway
// with one P, no request runs meanwhile. With a spare P the requests go on
// while fn waits. Raising and restoring GOMAXPROCS each stop the world for
// microseconds, so fn should be rare work, not a request's.
func WithSpareProc(fn func()) {
	spareProc.Lock()
	if spareProc.holders == 0 {
		spareProc.base = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(spareProc.base + 1)
		// A P alone serves nobody: requests are noticed by a thread
		// waiting in the network poller, and none may be waiting while
		// fn's thread runs (in a trace without this, requests waited 5 ms
		// at the start of one checkpoint). A new goroutine wakes a thread
		// for the new P, which, once it finds nothing else to do, waits in
		// the poller for the rest of fn.
		go func() {}()
	}
	spareProc.holders++
	spareProc.Unlock()

	defer func() {
		spareProc.Lock()
		defer spareProc.Unlock()
		if spareProc.holders--; spareProc.holders > 0 {
			return
		}
		if os.Getenv("GOMAXPROCS") == "" {
			// Back to the runtime's own value, which keeps following the
			// container's CPU limit (a plain GOMAXPROCS(n) would freeze it).
			runtime.SetDefaultGOMAXPROCS()
			return
		}
		runtime.GOMAXPROCS(spareProc.base)
	}()
	fn()
}
