package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// loadSlice is the scheduler slice that the load CPU's own processes (the
// mocks, wrk, the stream client) ask for: the shortest the kernel grants.
//
// PostgreSQL and Redis share the load CPU (pinServices). A 200-row INSERT
// keeps a PostgreSQL backend busy there for about 2 ms, and with the
// kernel's default slice (0.7 ms × (1 + log2 CPUs) under EEVDF) a wrk or
// mock woken meanwhile waited for the backend's slice to end: a stall of
// the client, not of the gateway, that the c=1 p99 on PostgreSQL counted
// as sluice's. A task whose slice is shorter than the running task's
// preempts it on waking (Linux 6.12 on). Older kernels refuse the request
// and the run goes on with the default slice; the report says which.
const loadSlice = 100 * time.Microsecond

// loadSliceNote is what the report says about loadSlice, set by the first
// start on the load CPU.
var loadSliceNote struct {
	sync.Once
	text string
}

// startLoadProc starts cmd, a process for the load CPU, with loadSlice.
// The slice is set on the OS thread that forks and the child inherits it;
// the thread gets the default back before anything else runs on it.
func startLoadProc(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := setSlice(loadSlice)
	loadSliceNote.Do(func() {
		loadSliceNote.text = fmt.Sprintf("mocks and load generators ask for a %v scheduler slice", loadSlice)
		if err != nil {
			loadSliceNote.text = fmt.Sprintf("mocks and load generators run with the kernel's default slice (a %v one was refused: %v)", loadSlice, err)
		}
	})
	startErr := cmd.Start()
	if err == nil {
		// 0 is the kernel's default. Should it fail, a thread of the
		// harness keeps the short slice: nothing measured runs on it.
		_ = setSlice(0)
	}
	return startErr
}

// runLoadProc runs cmd like startLoadProc and returns its standard output.
func runLoadProc(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := startLoadProc(cmd); err != nil {
		return nil, err
	}
	err := cmd.Wait()
	return out.Bytes(), err
}
