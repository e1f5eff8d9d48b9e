package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"sluice/bench/internal/benchenv"
)

// wrkResult is what chat.lua's done() prints; times in microseconds.
type wrkResult struct {
	DurationUS    int64 `json:"duration_us"`
	Requests      int64 `json:"requests"`
	Bytes         int64 `json:"bytes"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	StatusErrors  int64 `json:"status_errors"`
	Timeouts      int64 `json:"timeouts"`
	BadAnswers    int64 `json:"bad_answers"`
	P50US         int64 `json:"p50_us"`
	P90US         int64 `json:"p90_us"`
	P99US         int64 `json:"p99_us"`
	MaxUS         int64 `json:"max_us"`
	MeanUS        int64 `json:"mean_us"`
}

// failed counts every request that did not end in a whole 200 answer.
// (A bad status is counted both as a status error and a bad answer.)
func (w wrkResult) failed() int64 {
	return w.ConnectErrors + w.ReadErrors + w.WriteErrors + w.Timeouts + w.BadAnswers
}

func (w wrkResult) rps() float64 {
	if w.DurationUS == 0 {
		return 0
	}
	return float64(w.Requests) / (float64(w.DurationUS) / 1e6)
}

// loadCommand runs a load generator on the load CPU; start it with
// startLoadProc or runLoadProc.
func loadCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	if pinning {
		return exec.CommandContext(ctx, "taskset", append([]string{"-c", loadCPU, name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// wrk runs one wrk load and returns chat.lua's summary.
func (r *runner) wrk(ctx context.Context, url, key, model string, c int, stream bool, d time.Duration) (wrkResult, error) {
	secs := max(1, int((d+time.Second/2)/time.Second))
	if key == "" {
		key = "-"
	}
	args := []string{"-t1", "-c", strconv.Itoa(c), "-d", strconv.Itoa(secs) + "s", "--timeout", "10s", "--latency",
		"-s", r.lua, url + "/v1/chat/completions", "--", key, model, strconv.FormatBool(stream)}
	var stderr bytes.Buffer
	cmd := loadCommand(ctx, "wrk", args...)
	cmd.Stderr = &stderr
	out, err := runLoadProc(cmd)
	fmt.Fprintf(r.wrkLog, "### wrk %s\n%s%s\n", strings.Join(args, " "), out, stderr.Bytes())
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, stderr.Bytes())
	}
	_, line, ok := bytes.Cut(out, []byte("WRK_RESULT "))
	if !ok {
		return wrkResult{}, errors.New("wrk printed no WRK_RESULT line")
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	var w wrkResult
	return w, json.Unmarshal(line, &w)
}

// loadResult is one wrk scenario against one target, over all its rounds.
type loadResult struct {
	Target string
	Stream bool
	C      int
	// Wrk adds the rounds up; its percentiles are the medians of the
	// rounds' (see mergeRounds).
	Wrk wrkResult
	// Rounds are the measured runs one by one, in the order they ran.
	Rounds       []wrkResult
	WarmupFailed int64
	// CPUMicrosPerRequest is the gateway's utime+stime over the measured
	// runs (and, for sluice, the batch flush after each) per request.
	CPUMicrosPerRequest float64
	PeakRSSKB           int64
	// DisturbedPct is the share of the gateway CPU's time, over the
	// measurement, that other processes used or the hypervisor stole: a
	// run above a few percent was disturbed by something outside it.
	DisturbedPct float64
}

// loadRound is one measured wrk run of a scenario on one target, with what
// the gateway's CPU did meanwhile.
type loadRound struct {
	wrk          wrkResult
	warmupFailed int64
	// gatewayTicks is the gateway's utime+stime; othersTicks the gateway
	// CPU's time that other processes used or the hypervisor stole, out of
	// cpuTicks (0 when not pinned).
	gatewayTicks, othersTicks, cpuTicks int64
	peakRSSKB                           int64
}

// loadScenario measures one scenario on every target in r.opt.rounds
// rounds: each round runs the scenario on each target in turn for
// duration/rounds, starting one target further on than the round before.
// Noise on a shared machine comes and goes over seconds to minutes; one
// long run per target, one target after the other, let a noisy stretch
// land on one of them only (a floor's c=1 p99 of 0.5 ms in one run and 4.5
// ms in the next), while rounds spread it over all.
func (r *runner) loadScenario(ctx context.Context, insts []*instance, up *upstream, c int, stream bool) []loadResult {
	rounds := make([][]loadRound, len(insts))
	failed := make([]error, len(insts))
	d := r.roundDuration()
	for k := range r.opt.rounds {
		for j := range insts {
			i := (j + k) % len(insts)
			if failed[i] != nil || ctx.Err() != nil {
				continue
			}
			round, err := r.measureRound(ctx, insts[i], up, c, stream, d, k == 0)
			if err != nil {
				failed[i] = err
				continue
			}
			rounds[i] = append(rounds[i], round)
		}
	}
	var out []loadResult
	for i, in := range insts {
		if failed[i] != nil {
			r.fail("%s %s: %v", in.name, scenarioName(stream, c), failed[i])
			continue
		}
		if len(rounds[i]) == 0 {
			continue // cancelled
		}
		res := loadResult{Target: in.name, Stream: stream, C: c}
		mergeRounds(&res, rounds[i])
		out = append(out, res)
	}
	return out
}

// roundDuration is each round's share of -duration, in whole seconds (what
// wrk takes), at least one.
func (r *runner) roundDuration() time.Duration {
	return max(time.Second, (r.opt.duration / time.Duration(r.opt.rounds)).Round(time.Second))
}

// measureRound runs one round of a scenario on one target, after a warm-up
// when warm (the first round).
func (r *runner) measureRound(ctx context.Context, in *instance, up *upstream, c int, stream bool, d time.Duration, warm bool) (loadRound, error) {
	var res loadRound
	url, pid := in.urls[up], in.pids[up]
	if warm && r.opt.warmup > 0 {
		w, err := r.wrk(ctx, url, in.key, up.model, c, stream, r.opt.warmup)
		if err != nil {
			return res, err
		}
		res.warmupFailed = w.failed()
	}
	var t0, busy0, steal0, total0 int64
	if pid != 0 {
		_ = resetPeak(pid)
		t0, _ = cpuTicks(pid)
		busy0, steal0, total0, _ = cpuStat("cpu" + gatewayCPU)
	}
	stopProfile := r.maybeProfile(ctx, in, c, stream, d)
	w, err := r.wrk(ctx, url, in.key, up.model, c, stream, d)
	stopProfile()
	if err != nil {
		return res, err
	}
	res.wrk = w
	if pid == 0 {
		return res, nil
	}
	if in.sluice {
		// Let the batch writer flush this round's charges and logs, so
		// their CPU is counted here and not during the next target's run.
		sleep(ctx, r.opt.settle)
	}
	t1, err := cpuTicks(pid)
	if err != nil {
		return res, fmt.Errorf("%s exited during the run: %w", in.name, err)
	}
	res.gatewayTicks = t1 - t0
	_, res.peakRSSKB, _ = benchenv.MemKB(pid)
	if busy1, steal1, total1, err := cpuStat("cpu" + gatewayCPU); err == nil && total1 > total0 && pinning {
		res.othersTicks = max(0, (busy1-busy0)-(t1-t0)) + steal1 - steal0
		res.cpuTicks = total1 - total0
	}
	return res, nil
}

// mergeRounds fills res from its rounds: counts and CPU added up, the peak
// RSS the highest, and each latency percentile the median of the rounds'
// (so one round that met a noisy stretch of the machine does not decide
// it; the rounds themselves stay in res.Rounds).
func mergeRounds(res *loadResult, rounds []loadRound) {
	var gatewayTicks, othersTicks, cpuTicks int64
	var p50, p90, p99 []int64
	var weightedMean float64
	m := &res.Wrk
	for _, x := range rounds {
		w := x.wrk
		res.Rounds = append(res.Rounds, w)
		res.WarmupFailed += x.warmupFailed
		res.PeakRSSKB = max(res.PeakRSSKB, x.peakRSSKB)
		gatewayTicks += x.gatewayTicks
		othersTicks += x.othersTicks
		cpuTicks += x.cpuTicks
		m.DurationUS += w.DurationUS
		m.Requests += w.Requests
		m.Bytes += w.Bytes
		m.ConnectErrors += w.ConnectErrors
		m.ReadErrors += w.ReadErrors
		m.WriteErrors += w.WriteErrors
		m.StatusErrors += w.StatusErrors
		m.Timeouts += w.Timeouts
		m.BadAnswers += w.BadAnswers
		m.MaxUS = max(m.MaxUS, w.MaxUS)
		weightedMean += float64(w.MeanUS) * float64(w.Requests)
		p50, p90, p99 = append(p50, w.P50US), append(p90, w.P90US), append(p99, w.P99US)
	}
	m.P50US, m.P90US, m.P99US = median(p50), median(p90), median(p99)
	if m.Requests > 0 {
		m.MeanUS = int64(weightedMean / float64(m.Requests))
		res.CPUMicrosPerRequest = float64(gatewayTicks) * 1e6 / clockTicks / float64(m.Requests)
	}
	if cpuTicks > 0 {
		res.DisturbedPct = 100 * float64(othersTicks) / float64(cpuTicks)
	}
}

// maybeProfile records a CPU profile of sluice during the measured run of
// the c=64 scenarios when -profile is set; the returned func waits for it.
func (r *runner) maybeProfile(ctx context.Context, in *instance, c int, stream bool, d time.Duration) func() {
	if in.pprof == "" || c != r.profileC() {
		return func() {}
	}
	secs := max(1, int(d/time.Second)-1)
	kind := map[bool]string{false: "nonstream", true: "stream"}[stream]
	path := fmt.Sprintf("%s/profile-%s-%s-c%d.pprof", r.out, in.name, kind, c)
	var wg sync.WaitGroup
	wg.Go(func() {
		// Half-way, where every goroutine is: what CPU profiles cannot show
		// is time spent waiting (locks, the database).
		sleep(ctx, time.Duration(secs)*time.Second/2)
		r.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", in.pprof), strings.TrimSuffix(path, ".pprof")+"-goroutines.txt")
		// Two seconds of execution trace: what made a request wait
		// (go tool trace -pprof=sched: time runnable but not running).
		r.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/trace?seconds=2", in.pprof), strings.TrimSuffix(path, ".pprof")+".trace")
		// What the collector marks on every cycle: the live heap (gc=1
		// collects first, so it is not the last cycle's view).
		r.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", in.pprof), strings.TrimSuffix(path, ".pprof")+"-heap.pprof")
	})
	wg.Go(func() {
		r.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", in.pprof, secs), path)
	})
	return wg.Wait
}

// fetch saves what url answers into path.
func (r *runner) fetch(ctx context.Context, url, path string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.fail("fetch %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		r.fail("fetch %s: %v", url, err)
	}
}

// profileC is the concurrency profiled: 64, or the largest one run.
func (r *runner) profileC() int {
	best := 0
	for _, c := range r.opt.concurrency {
		if c == 64 {
			return 64
		}
		best = max(best, c)
	}
	return best
}

// seqResult and holdResult are streamclient's outputs.
type seqResult struct {
	N, Failed                 int
	HeadersP50                int64
	TTFBP50, TTFBP90, TTFBP99 int64
	TotalP50, TotalP99        int64
	BytesPerStream            int64
	EventsPerStream           int
	Errors                    []string
}

type holdResult struct {
	N, Opened, Failed int
	OpenSeconds       float64
	Completed         int
	Errors            []string
}

// seq runs n streams one after another through url.
func (r *runner) seq(ctx context.Context, url, key, model string, n int) (seqResult, error) {
	var res seqResult
	cmd := loadCommand(ctx, r.bins.client, "-mode", "seq", "-url", url, "-key", key, "-model", model,
		"-n", strconv.Itoa(n), "-timeout", "2m")
	cmd.Stderr = os.Stderr
	out, err := runLoadProc(cmd)
	if err != nil {
		return res, fmt.Errorf("streamclient: %w", err)
	}
	return res, json.Unmarshal(out, &res)
}

// holdRun is n streams held open at once on one target.
type holdRun struct {
	Target string
	N      int
	Client holdResult
	// BaseRSSKB is before the streams, OpenRSSKB when all are open,
	// PeakRSSKB the peak over the whole scenario.
	BaseRSSKB, OpenRSSKB, PeakRSSKB int64
	// UpstreamConns is how many connections reached the mock while all
	// streams were open (HTTP/2 multiplexes them).
	UpstreamConns int
}

// hold opens n streams through in, measures it while all are open,
// releases them and waits for them to end.
func (r *runner) hold(ctx context.Context, in *instance, up *upstream, n int) (holdRun, error) {
	res := holdRun{Target: in.name, N: n}
	pid := in.pids[up]
	res.BaseRSSKB, _, _ = benchenv.MemKB(pid)
	_ = resetPeak(pid)
	cmd := loadCommand(ctx, r.bins.client, "-mode", "hold", "-url", in.urls[up], "-key", in.key, "-model", up.model,
		"-n", strconv.Itoa(n), "-timeout", "3m")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := startLoadProc(cmd); err != nil {
		return res, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "open "); ok {
			_ = json.Unmarshal([]byte(rest), &res.Client)
			res.OpenRSSKB, _, _ = benchenv.MemKB(pid)
			res.UpstreamConns = countConns(pid, up.url)
			if in.pprof != "" {
				// gc=1: the profile shows the heap as it is now, not as at
				// the last collection, which can predate the open streams.
				r.fetch(ctx, "http://"+in.pprof+"/debug/pprof/heap?gc=1", fmt.Sprintf("%s/heap-%s-hold%d.pprof", r.out, in.name, n))
				// The text form ends with the runtime's MemStats: stacks,
				// heap in use and GC headroom, which make up RSS per stream.
				r.fetch(ctx, "http://"+in.pprof+"/debug/pprof/heap?debug=1", fmt.Sprintf("%s/memstats-%s-hold%d.txt", r.out, in.name, n))
				// Where each held stream's goroutines wait, and so how deep
				// their stacks are (stacks are half of RSS per stream).
				r.fetch(ctx, "http://"+in.pprof+"/debug/pprof/goroutine?debug=1", fmt.Sprintf("%s/goroutines-%s-hold%d.txt", r.out, in.name, n))
			}
			if err := up.release(r.mockClient(up)); err != nil {
				r.fail("release %s: %v", up.name, err)
			}
			continue
		}
		_ = json.Unmarshal([]byte(line), &res.Client)
	}
	err = cmd.Wait()
	_, res.PeakRSSKB, _ = benchenv.MemKB(pid)
	if err != nil {
		return res, fmt.Errorf("streamclient: %w", err)
	}
	return res, nil
}

// mockClient reaches a mock directly (trusting its certificate).
func (r *runner) mockClient(up *upstream) *http.Client {
	if up.ca == "" {
		return &http.Client{Timeout: 10 * time.Second}
	}
	c, err := trustingClient(context.Background(), up.ca)
	if err != nil {
		return &http.Client{Timeout: 10 * time.Second}
	}
	return c
}

// countConns counts pid's established TCP connections to the port of
// rawURL: rows of /proc/net/tcp (IPv4) whose socket inode is one of pid's
// open files.
func countConns(pid int, rawURL string) int {
	_, port, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://"), ":")
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	socks, err := tcpSockets("/proc/net/tcp")
	if err != nil {
		return 0
	}
	n := 0
	for _, sock := range socks {
		if sock.remotePort == p && sock.state == "01" && inodes[sock.inode] {
			n++
		}
	}
	return n
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
