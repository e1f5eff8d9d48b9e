package main

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestListenersFindsTheOwningProcess(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	pids, err := listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{os.Getpid()}) {
		t.Fatalf("listeners(%d) = %v, want [%d]", port, pids, os.Getpid())
	}
	// A connected socket on another port is no listener.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if pids, err := listeners(c.LocalAddr().(*net.TCPAddr).Port); err != nil || len(pids) != 0 {
		t.Fatalf("listeners(client port) = %v, %v; want none", pids, err)
	}
}

func TestWithDescendantsAddsChildren(t *testing.T) {
	t.Parallel()
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	got := withDescendants([]int{os.Getpid()})
	if !slices.Contains(got, child.Process.Pid) {
		t.Fatalf("withDescendants = %v, missing child %d", got, child.Process.Pid)
	}
}

func TestPinPIDsPinsAndRestores(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		t.Skip("needs taskset and two CPUs")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	pid := child.Process.Pid
	before := cpuList(t, pid)

	restore, pinned, err := pinPIDs("1", []int{pid, 1 << 30}) // the second never existed
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pinned, []int{pid}) {
		t.Fatalf("pinned = %v, want [%d]", pinned, pid)
	}
	if got := cpuList(t, pid); got != "1" {
		t.Fatalf("pinned CPUs = %q, want 1", got)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got := cpuList(t, pid); got != before {
		t.Fatalf("restored CPUs = %q, want %q", got, before)
	}
}

// cpuList is pid's CPUs as taskset -cp prints them ("0,1", "1").
func cpuList(t *testing.T, pid int) string {
	t.Helper()
	out, err := exec.Command("taskset", "-cp", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	return f[len(f)-1]
}
