//go:build linux

package common

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
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

// IdleMeter measures how much of the CPUs this process may run on (its
// affinity) sat idle between two calls of Share, whoever else runs there:
// what a thread at OnBackgroundThread's priority can count on getting.
// The process's own CPU time does not tell: a core shared with another
// busy process (a database on the same host, a build) leaves sluice under
// its share with nothing idle, and a niced thread there starves.
type IdleMeter struct {
	idle, total uint64
	read        bool
}

// Share returns the idle share of this process's CPUs since the previous
// call, from 0 to 1. The first call, or one that cannot read /proc/stat,
// returns 0 (assume busy).
func (m *IdleMeter) Share() float64 {
	idle, total, err := idleTicks()
	if err != nil {
		m.read = false
		return 0
	}
	prevIdle, prevTotal, had := m.idle, m.total, m.read
	m.idle, m.total, m.read = idle, total, true
	if !had || total <= prevTotal || idle < prevIdle {
		return 0
	}
	return min(1, float64(idle-prevIdle)/float64(total-prevTotal))
}

// idleTicks sums, over the CPUs in this process's affinity mask, the idle
// (idle + iowait) and total ticks of /proc/stat.
func idleTicks() (idle, total uint64, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, 0, err
	}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	for line := range bytes.Lines(raw) {
		rest, ok := bytes.CutPrefix(line, []byte("cpu"))
		if !ok || len(rest) == 0 || rest[0] < '0' || rest[0] > '9' {
			continue // the aggregate "cpu " line, or not a CPU
		}
		fields := bytes.Fields(rest)
		cpu, err := strconv.Atoi(string(fields[0]))
		if err != nil || !set.IsSet(cpu) {
			continue
		}
		// user nice system idle iowait irq softirq steal: guest time
		// is already counted in user and nice.
		for i, f := range fields[1:min(len(fields), 9)] {
			n, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat cpu%d: %w", cpu, err)
			}
			total += n
			if i == 3 || i == 4 {
				idle += n
			}
		}
	}
	if total == 0 {
		return 0, 0, errors.New("/proc/stat lists none of this process's CPUs")
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
