package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results is everything a run measured; results.json holds it whole.
type results struct {
	Machine  string
	Settings string
	Seconds  float64
	Load     []loadResult
	TTFB     []ttfbRun
	Long     []longRun
	Hold     []holdRun
	Starts   []startInfo
	Idle     []idleInfo
	Failures []string
}

type ttfbRun struct {
	Target string
	Seq    seqResult
}

type longRun struct {
	Target               string
	Seq                  seqResult
	BaseRSSKB, PeakRSSKB int64
}

type startInfo struct {
	Target       string
	FirstStartMS float64
	RestartsMS   []float64
}

type idleInfo struct {
	Target string
	RSSKB  int64
}

func (h holdRun) perStreamKB() float64 {
	if h.N == 0 {
		return 0
	}
	return float64(h.PeakRSSKB-h.BaseRSSKB) / float64(h.N)
}

// writeReport prints the markdown report and saves it with results.json.
func (r *runner) writeReport(stdout io.Writer) error {
	r.res.Machine = machine()
	r.res.Settings = fmt.Sprintf("wrk -t1; per scenario a %v warm-up, then %d round(s) of %v on each target in turn (percentiles: the rounds' median); gateway pinned to CPU %s, mocks and load to CPU %s%s",
		r.opt.warmup, r.opt.rounds, r.roundDuration(), gatewayCPU, loadCPU, map[bool]string{true: "", false: " (not pinned: taskset missing)"}[pinning])
	if servicesPinned != "" {
		r.res.Settings += "; " + servicesPinned
	}
	if loadSliceNote.text != "" {
		r.res.Settings += "; " + loadSliceNote.text
	}
	var b bytes.Buffer
	r.markdown(&b)
	raw, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.out, "results.json"), raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.out, "report.md"), b.Bytes(), 0o644); err != nil {
		return err
	}
	_, err = stdout.Write(b.Bytes())
	return err
}

func (r *runner) markdown(b *bytes.Buffer) {
	fmt.Fprintf(b, "## sluice load report\n\n- machine: %s\n- %s\n- run took %.0f s\n\n", r.res.Machine, r.res.Settings, r.res.Seconds)
	for _, cfg := range r.opt.configs {
		if len(r.res.Load) > 0 {
			r.loadTable(b, cfg)
		}
	}
	r.streamTable(b)
	r.targetTable(b)
	if len(r.res.Failures) > 0 {
		fmt.Fprintf(b, "### Failures\n\n")
		for _, f := range r.res.Failures {
			fmt.Fprintf(b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
}

func (r *runner) load(target string, stream bool, c int) (loadResult, bool) {
	for _, l := range r.res.Load {
		if l.Target == target && l.Stream == stream && l.C == c {
			return l, true
		}
	}
	return loadResult{}, false
}

func msCell(us ...int64) string {
	var s []string
	for _, u := range us {
		s = append(s, fmt.Sprintf("%.2f", float64(u)/1000))
	}
	return strings.Join(s, " / ")
}

func (r *runner) loadTable(b *bytes.Buffer, cfg string) {
	fmt.Fprintf(b, "### Chat completions under wrk: sluice on %s\n\n", configTitle(cfg))
	b.WriteString("Cells are direct / floor / sluice (added latency and CPU: floor / sluice). " +
		"Added = the target's percentile minus direct-to-mock's at the same concurrency. " +
		"Disturbed = the gateway CPU's time used by other processes or stolen by the hypervisor during the run.\n\n")
	b.WriteString("| scenario | req/s | p50 ms | p90 ms | p99 ms | added p50 µs | added p99 µs | CPU µs/req | CPU ×floor | peak RSS MB | disturbed % | failed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, stream := range []bool{false, true} {
		for _, c := range r.opt.concurrency {
			d, ok1 := r.load("direct", stream, c)
			f, ok2 := r.load("floor", stream, c)
			s, ok3 := r.load(cfg, stream, c)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			fmt.Fprintf(b, "| %s | %.0f / %.0f / %.0f | %s | %s | %s | %d / %d | %d / %d | %.0f / %.0f | %s | %.1f / %.1f | %.0f / %.0f | %d |\n",
				scenarioName(stream, c), d.Wrk.rps(), f.Wrk.rps(), s.Wrk.rps(),
				msCell(d.Wrk.P50US, f.Wrk.P50US, s.Wrk.P50US), msCell(d.Wrk.P90US, f.Wrk.P90US, s.Wrk.P90US),
				msCell(d.Wrk.P99US, f.Wrk.P99US, s.Wrk.P99US),
				f.Wrk.P50US-d.Wrk.P50US, s.Wrk.P50US-d.Wrk.P50US, f.Wrk.P99US-d.Wrk.P99US, s.Wrk.P99US-d.Wrk.P99US,
				f.CPUMicrosPerRequest, s.CPUMicrosPerRequest, ratio(s.CPUMicrosPerRequest, f.CPUMicrosPerRequest),
				float64(f.PeakRSSKB)/1024, float64(s.PeakRSSKB)/1024, f.DisturbedPct, s.DisturbedPct,
				s.Wrk.failed()+s.WarmupFailed+f.Wrk.failed()+f.WarmupFailed+d.Wrk.failed()+d.WarmupFailed)
		}
	}
	b.WriteString("\n")
}

func configTitle(cfg string) string {
	if cfg == "postgres" {
		return "PostgreSQL + Redis"
	}
	return "SQLite"
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// targets are the report's columns after direct and the floor.
func (r *runner) columns() []string {
	return append([]string{"direct", "floor"}, r.opt.configs...)
}

func (r *runner) streamTable(b *bytes.Buffer) {
	cols := r.columns()
	b.WriteString("### Streams, memory and start-up\n\n| measure | " + strings.Join(cols, " | ") + " |\n|---" +
		strings.Repeat("|---", len(cols)) + "|\n")
	row := func(name string, cell func(target string) string) {
		b.WriteString("| " + name)
		for _, c := range cols {
			v := cell(c)
			if v == "" {
				v = "–"
			}
			b.WriteString(" | " + v)
		}
		b.WriteString(" |\n")
	}
	row(fmt.Sprintf("stream one at a time (20 chunks 1 ms apart, %d streams): headers p50 · first byte p50 / p99 µs", r.opt.ttfbN), func(t string) string {
		for _, x := range r.res.TTFB {
			if x.Target == t {
				return fmt.Sprintf("%d · %d / %d", x.Seq.HeadersP50, x.Seq.TTFBP50, x.Seq.TTFBP99)
			}
		}
		return ""
	})
	r.longRows(row)
	for _, n := range r.opt.hold {
		r.holdRows(row, n)
	}
	r.startRows(row)
	b.WriteString("\n")
}

func (r *runner) longRows(row func(string, func(string) string)) {
	find := func(t string) (longRun, bool) {
		for _, x := range r.res.Long {
			if x.Target == t {
				return x, true
			}
		}
		return longRun{}, false
	}
	row(fmt.Sprintf("%d MB stream: time ms", r.opt.longMB), func(t string) string {
		if x, ok := find(t); ok {
			return fmt.Sprintf("%.0f", float64(x.Seq.TotalP50)/1000)
		}
		return ""
	})
	row(fmt.Sprintf("%d MB stream: RSS added MB (peak over 2 streams − baseline)", r.opt.longMB), func(t string) string {
		if x, ok := find(t); ok && t != "direct" {
			return fmt.Sprintf("%.2f", float64(x.PeakRSSKB-x.BaseRSSKB)/1024)
		}
		return ""
	})
}

func (r *runner) holdRows(row func(string, func(string) string), n int) {
	find := func(t string) (holdRun, bool) {
		for _, x := range r.res.Hold {
			if x.Target == t && x.N == n {
				return x, true
			}
		}
		return holdRun{}, false
	}
	row(fmt.Sprintf("%d held streams: failed / opened in s", n), func(t string) string {
		if x, ok := find(t); ok {
			return fmt.Sprintf("%d / %.1f", x.Client.Failed, x.Client.OpenSeconds)
		}
		return ""
	})
	row(fmt.Sprintf("%d held streams: RSS MB before → all open → peak", n), func(t string) string {
		if x, ok := find(t); ok {
			return fmt.Sprintf("%.1f → %.1f → %.1f", float64(x.BaseRSSKB)/1024, float64(x.OpenRSSKB)/1024, float64(x.PeakRSSKB)/1024)
		}
		return ""
	})
	row(fmt.Sprintf("%d held streams: KB per stream (peak − before) / upstream connections", n), func(t string) string {
		if x, ok := find(t); ok {
			return fmt.Sprintf("%.1f / %d", x.perStreamKB(), x.UpstreamConns)
		}
		return ""
	})
}

func (r *runner) startRows(row func(string, func(string) string)) {
	row("idle RSS MB (fresh process, 1 s after start)", func(t string) string {
		for _, x := range r.res.Idle {
			if x.Target == t {
				return fmt.Sprintf("%.1f", float64(x.RSSKB)/1024)
			}
		}
		return ""
	})
	row("start-up to a served /api/status ms: empty database / restarts (median)", func(t string) string {
		for _, x := range r.res.Starts {
			if x.Target == t {
				return fmt.Sprintf("%.0f / %.0f", x.FirstStartMS, median(x.RestartsMS))
			}
		}
		return ""
	})
}

// median is the middle value, the higher of the two for an even count.
func median[T cmp.Ordered](v []T) T {
	if len(v) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// machine describes where the run happened.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	wrk, _ := exec.Command("wrk", "-v").CombinedOutput()
	wrkVersion, _, _ := strings.Cut(string(wrk), "\n")
	wrkVersion, _, _ = strings.Cut(wrkVersion, " Copyright")
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	dirty, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	rev := strings.TrimSpace(string(commit))
	if len(bytes.TrimSpace(dirty)) > 0 {
		rev += " (with local changes)"
	}
	return fmt.Sprintf("%s, %d CPUs, Linux %s, %s, %s, sluice %s, %s", model, runtime.NumCPU(),
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(wrkVersion), rev,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
