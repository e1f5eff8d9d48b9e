//go:build linux

package common

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// backgroundNice is the priority of OnBackgroundThread's thread: the
// lowest, so the kernel hands the core to a request's thread the moment it
// wakes.
const backgroundNice = 19

// OnBackgroundThread runs fn on an OS thread of its own at the lowest
// priority, with a spare P (WithSpareProc), and returns when fn does. It
// is for background work that holds a core for milliseconds and runs in
// this process, like the pure-Go SQLite engine's inserts: on a gateway with
// one core, Go's scheduler lets such work run until it yields, and a
// request whose bytes arrive meanwhile waits for it; the kernel, given a
// niced thread next to the request's, switches at once. Only where the
// process has CPU to spare: a saturated core gives a nice-19 thread about
// 1.5 % of its time, and a thread that holds a P while the kernel keeps it
// off the core stalls whoever needs every P to stop (the collector). The
// caller decides with a CPUMeter. The thread ends with fn (it is never
// handed back to the scheduler with its priority).
func OnBackgroundThread(fn func()) {
	WithSpareProc(func() {
		done := make(chan any, 1)
		go func() {
			runtime.LockOSThread()
			// No UnlockOSThread: a goroutine that exits locked takes its
			// thread with it, so no other goroutine ever runs niced.
			defer func() { done <- recover() }()
			// Per thread on Linux (setpriority takes a thread id); if it
			// fails, fn still runs, at the normal priority.
			_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), backgroundNice)
			fn()
		}()
		if p := <-done; p != nil {
			panic(p)
		}
	})
}

// CPUMeter measures the share of its Ps (GOMAXPROCS) the process used
// between two calls of Busy.
type CPUMeter struct {
	cpu  time.Duration
	wall time.Time
}

// Busy returns the process's CPU time since the previous call, as a share
// of GOMAXPROCS cores over the same wall time: 0.6 on one P means 60 % of
// a core. The first call returns 1 (no interval yet: assume busy).
func (m *CPUMeter) Busy() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 1
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	prevCPU, prevWall := m.cpu, m.wall
	m.cpu, m.wall = cpu, now
	if prevWall.IsZero() {
		return 1
	}
	wall := now.Sub(prevWall)
	if wall <= 0 {
		return 1
	}
	return float64(cpu-prevCPU) / float64(wall) / float64(runtime.GOMAXPROCS(0))
}
