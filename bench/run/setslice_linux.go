//go:build linux

package main

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setSlice sets the calling thread's slice (SCHED_OTHER, nice 0, as every
// process here runs).
func setSlice(d time.Duration) error {
	attr := unix.SchedAttr{Size: uint32(unsafe.Sizeof(unix.SchedAttr{})), Policy: unix.SCHED_NORMAL, Runtime: uint64(d)}
	return unix.SchedSetAttr(0, &attr, 0)
}
