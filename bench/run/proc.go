package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sluice/bench/internal/benchenv"
)

// Which CPU each side runs on: the gateway under test alone on one core,
// everything that generates or answers load on the other.
const (
	gatewayCPU = "0"
	loadCPU    = "1"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is one child process, pinned to a CPU, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// procs tracks every child so an interrupted run leaves none behind.
var procs struct {
	sync.Mutex
	all []*proc
}

// pinning is false when taskset or a second CPU is missing; processes then
// run unpinned and the report says so.
var pinning = true

// startProc runs bin with args on cpu, with exactly env (nothing inherited
// but PATH, HOME and TMPDIR).
func startProc(logDir, name, cpu, bin string, env []string, args ...string) (*proc, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin}, args...)
	if pinning {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	benchenv.DieWithParent(cmd)
	start := cmd.Start
	if cpu == loadCPU {
		start = func() error { return startLoadProc(cmd) }
	}
	if err := start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	procs.Lock()
	procs.all = append(procs.all, p)
	procs.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 40 s (sluice drains for up to 30 s),
// then kills. It reports an unclean exit.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within 40 s of SIGTERM", p.name)
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w (see %s)", p.name, p.err, p.log.Name())
	}
	return nil
}

// stopAll stops every child still running, newest first.
func stopAll() {
	procs.Lock()
	all := procs.all
	procs.all = nil
	procs.Unlock()
	for i := len(all) - 1; i >= 0; i-- {
		_ = all[i].stop()
	}
}

// waitReady polls url every 5 ms until it answers 200, p exits, or limit
// passes; it returns how long that took.
func waitReady(ctx context.Context, client *http.Client, p *proc, url string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		select {
		case <-p.done:
			return 0, fmt.Errorf("%s exited before serving: %v (see %s)", p.name, p.err, p.log.Name())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		// Polling a port that is not open yet: there is no event to wait on.
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer %s within %v (see %s)", p.name, url, limit, p.log.Name())
}

// cpuTicks is utime+stime of pid (all its threads, living and dead).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := statFields(string(b))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// statFields are the fields of a /proc/<pid>/stat line after the command
// name (field 2), which may hold spaces and parentheses: the state first,
// then the parent's pid, and utime and stime at 11 and 12.
func statFields(line string) []string {
	return strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
}

// tcpSocket is one row of /proc/net/tcp or /proc/net/tcp6.
type tcpSocket struct {
	localPort, remotePort int
	state                 string // 01: established, 0A: listening
	inode                 string
}

// tcpSockets reads a /proc/net/tcp-style table.
func tcpSockets(table string) ([]tcpSocket, error) {
	b, err := os.ReadFile(table)
	if err != nil {
		return nil, err
	}
	port := func(addr string) int {
		p, _ := strconv.ParseUint(addr[strings.LastIndexByte(addr, ':')+1:], 16, 16)
		return int(p)
	}
	var socks []tcpSocket
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) > 9 {
			socks = append(socks, tcpSocket{localPort: port(f[1]), remotePort: port(f[2]), state: f[3], inode: f[9]})
		}
	}
	return socks, nil
}

// resetPeak restarts VmHWM from the current RSS (Linux ≥ 4.0), so a
// scenario's peak is its own and not the process's lifetime peak.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuStat reads the line of /proc/stat for one CPU ("cpu0"): ticks spent
// busy (by anyone), stolen by the hypervisor, and in total.
func cpuStat(cpu string) (busy, steal, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != cpu {
			continue
		}
		var v [8]int64 // user nice system idle iowait irq softirq steal
		for i := range v {
			if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
				return 0, 0, 0, err
			}
			total += v[i]
		}
		return v[0] + v[1] + v[2] + v[5] + v[6], v[7], total, nil
	}
	return 0, 0, 0, fmt.Errorf("no %s in /proc/stat", cpu)
}
