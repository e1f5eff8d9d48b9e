package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// pinServices moves the processes listening on the given loopback TCP
// ports - PostgreSQL's postmaster with every process it has forked, Redis -
// to the load CPU for the run, all their threads, and returns what puts
// them back. They are the machine's own services, not started by the run,
// so they otherwise run on whichever core the kernel picks, the gateway's
// included: unpinned, 3-5 % of the gateway core's time at c=64 and c=256
// went to other processes ("disturbed" in the report), pinned 0-2 %. A
// production gateway does not share its cores with its database. Backends
// forked later inherit the postmaster's CPU.
func pinServices(cpu string, ports ...int) (restore func() error, pinned []int, err error) {
	var pids []int
	for _, port := range ports {
		owners, err := listeners(port)
		if err != nil {
			return nil, nil, err
		}
		if len(owners) == 0 {
			return nil, nil, fmt.Errorf("no process found listening on port %d (reading other users' /proc/<pid>/fd needs root)", port)
		}
		pids = append(pids, owners...)
	}
	pids = withDescendants(pids)
	return pinPIDs(cpu, pids)
}

// pinPIDs sets every thread of each pid to cpu and returns what restores
// each one's previous CPUs. A process that has exited meanwhile is skipped.
func pinPIDs(cpu string, pids []int) (restore func() error, pinned []int, err error) {
	masks := map[int]string{}
	restore = func() error {
		var errs []error
		for pid, mask := range masks {
			if out, err := exec.Command("taskset", "-a", "-p", mask, strconv.Itoa(pid)).CombinedOutput(); err != nil && alive(pid) {
				errs = append(errs, fmt.Errorf("restore CPUs of pid %d: %v: %s", pid, err, out))
			}
		}
		return errors.Join(errs...)
	}
	for _, pid := range pids {
		out, err := exec.Command("taskset", "-p", strconv.Itoa(pid)).Output()
		if err != nil {
			if !alive(pid) {
				continue
			}
			return nil, nil, errors.Join(fmt.Errorf("read CPUs of pid %d: %w", pid, err), restore())
		}
		// "pid 123's current affinity mask: 3"
		f := strings.Fields(string(out))
		if len(f) == 0 {
			return nil, nil, errors.Join(fmt.Errorf("taskset -p %d: unexpected %q", pid, out), restore())
		}
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpu, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			if !alive(pid) {
				continue
			}
			return nil, nil, errors.Join(fmt.Errorf("pin pid %d: %v: %s", pid, err, out), restore())
		}
		masks[pid] = f[len(f)-1]
		pinned = append(pinned, pid)
	}
	return restore, pinned, nil
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// listeners returns the processes holding a listening TCP socket on port
// (IPv4 or IPv6, any address).
func listeners(port int) ([]int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found, err := listeningInodes(table, port)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, ino := range found {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	seen := map[int]bool{}
	var pids []int
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil || !inodes[link] {
			continue
		}
		pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
		if err == nil && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// listeningInodes returns the inodes of the sockets in a /proc/net/tcp-style
// table that listen on port.
func listeningInodes(table string, port int) ([]string, error) {
	socks, err := tcpSockets(table)
	var inodes []string
	for _, sock := range socks {
		if sock.state == "0A" && sock.localPort == port {
			inodes = append(inodes, sock.inode)
		}
	}
	return inodes, err
}

// withDescendants adds every process descended from pids.
func withDescendants(pids []int) []int {
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := map[int]int{}
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		pid, err1 := strconv.Atoi(strings.Split(path, "/")[2])
		f := statFields(string(raw))
		if err1 != nil || len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = ppid
		}
	}
	for grew := true; grew; {
		grew = false
		for pid, ppid := range parent {
			if in[ppid] && !in[pid] {
				in[pid] = true
				pids = append(pids, pid)
				grew = true
			}
		}
	}
	return pids
}
