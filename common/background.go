//go:build linux

package common

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"golang.org/x/sys/unix"
)

// backgroundNice is the priority of OnBackgroundThread's thread: the
// lowest, so the kernel hands the core to a request's thread the moment it
// wakes.
const backgroundNice = 19

// backgroundSlice is the scheduler slice OnBackgroundThread's thread asks
// for: the shortest Linux grants. A priority alone is not enough: under
// EEVDF (Linux 6.6 on) a thread the kernel has put on the core keeps it
// until its slice is used up ("run to parity") before a thread that wakes
// gets it, nice 19 or not, and the default slice is 0.7 ms × (1 + log2
// CPUs), 1.4 ms on two. In loopback captures of the c=1 bench run,
// requests that arrived while a flush's inserts ran niced still waited
// 0.7-1.5 ms for the core.
const backgroundSlice = 100 * time.Microsecond

// setBackgroundPriority gives the calling thread backgroundNice and
// backgroundSlice, or only the nice value where the kernel takes no slice
// (before Linux 6.12), or leaves it be if even that fails: the work still
// runs, at the normal priority. Both are per thread on Linux.
func setBackgroundPriority() {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL,
		Nice: backgroundNice, Runtime: uint64(backgroundSlice)}
	if unix.SchedSetAttr(0, &attr, 0) != nil {
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), backgroundNice)
	}
}

// OnBackgroundThread runs fn on an OS thread of its own at the lowest
// priority, with a spare P (WithSpareProc), and returns when fn does. It
// is for background work that holds a core for milliseconds and runs in
// this process, like the pure-Go SQLite engine's inserts: on a gateway with
// one core, Go's scheduler lets such work run until it yields, and a
// request whose bytes arrive meanwhile waits for it; the kernel, given a
// niced thread next to the request's, switches at once. Only where the
// cores have time to spare: a saturated core gives a nice-19 thread about
// 1.5 % of its time, and a thread that holds a P while the kernel keeps it
// off the core stalls whoever needs every P to stop (the collector). The
// caller decides with an IdleMeter, and fn watches a ThreadClock in case
// the cores fill up meanwhile. The thread ends with fn (it is never
// handed back to the scheduler with its priority).
func OnBackgroundThread(fn func()) {
	WithSpareProc(func() {
		done := make(chan any, 1)
		go func() {
			runtime.LockOSThread()
			// No UnlockOSThread: a goroutine that exits locked takes its
			// thread with it, so no other goroutine ever runs niced.
			defer func() { done <- recover() }()
			setBackgroundPriority()
			fn()
		}()
		if p := <-done; p != nil {
			panic(p)
		}
	})
}

// IdleMeter measures how much of the CPUs this process may run on (its
// affinity) sat idle between two calls of Share, whoever else runs there:
// what a thread at OnBackgroundThread's priority can count on getting.
// The process's own CPU time does not tell: a core shared with another
// busy process (a database on the same host, a build) leaves sluice under
// its share with nothing idle, and a niced thread there starves.
type IdleMeter struct {
	idle, total float64 // seconds, summed over the CPUs; total 0: unread
}

// Share returns the idle share of this process's CPUs since the previous
// call, from 0 to 1. The first call, or one that cannot read the CPUs'
// times, returns 0 (assume busy).
func (m *IdleMeter) Share() float64 {
	idle, total, err := idleTimes()
	prevIdle, prevTotal := m.idle, m.total
	m.idle, m.total = idle, total // zero on error: the next call starts over
	if err != nil || prevTotal == 0 || total <= prevTotal || idle < prevIdle {
		return 0
	}
	return min(1, (idle-prevIdle)/(total-prevTotal))
}

// idleTimes sums, over the CPUs in this process's affinity mask, their
// idle (idle + iowait) and total times.
func idleTimes() (idle, total float64, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, 0, err
	}
	times, err := cpu.Times(true)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range times {
		n, err := strconv.Atoi(strings.TrimPrefix(t.CPU, "cpu"))
		if err != nil || !set.IsSet(n) {
			continue
		}
		idle += t.Idle + t.Iowait
		total += t.Total()
	}
	if total == 0 {
		return 0, 0, errors.New("no CPU times for this process's CPUs")
	}
	return idle, total, nil
}

// ThreadClock compares the CPU time the calling OS thread got with the
// wall time that passed: a thread at OnBackgroundThread's priority that
// gets almost none of it is starved (something at normal priority holds
// every core it may use) and should hand its work back.
type ThreadClock struct {
	cpu  time.Duration
	wall time.Time
}

// StartThreadClock starts a ThreadClock on the calling thread, which must
// be locked to its goroutine (runtime.LockOSThread) for as long as the
// clock is read.
func StartThreadClock() ThreadClock {
	return ThreadClock{cpu: threadCPU(), wall: time.Now()}
}

// Share returns the thread's CPU time over the wall time since the start
// or the previous call: 1 for a thread that ran throughout.
func (c *ThreadClock) Share() float64 {
	cpu, now := threadCPU(), time.Now()
	dCPU, dWall := cpu-c.cpu, now.Sub(c.wall)
	c.cpu, c.wall = cpu, now
	if dWall <= 0 {
		return 1
	}
	return float64(dCPU) / float64(dWall)
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
