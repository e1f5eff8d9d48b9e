package main

import (
	"bytes"
	"fmt"
	"strings"
)

// verdict is one of issue 5's targets for one configuration.
type verdict struct {
	value string
	met   bool
	known bool
	// none: the target does not apply to this configuration.
	none bool
}

func (v verdict) String() string {
	switch {
	case !v.known:
		return "not measured"
	case v.none:
		return v.value + " (no target)"
	case v.met:
		return v.value + " — met"
	default:
		return v.value + " — **over**"
	}
}

// targetTable judges the run against issue 5's targets (all features on,
// ratios from this one run).
func (r *runner) targetTable(b *bytes.Buffer) {
	b.WriteString("### Targets (issue 5)\n\n| target | " + strings.Join(r.opt.configs, " | ") + " |\n|---" +
		strings.Repeat("|---", len(r.opt.configs)) + "|\n")
	row := func(name string, judge func(cfg string) verdict) {
		b.WriteString("| " + name)
		for _, cfg := range r.opt.configs {
			b.WriteString(" | " + judge(cfg).String())
		}
		b.WriteString(" |\n")
	}
	for _, c := range []int{16, 64} {
		row(fmt.Sprintf("non-stream c=%d: CPU/request ≤ 1.5× floor", c), r.cpuTarget(false, c))
	}
	row("non-stream c=1: added p50 ≤ floor's + 100 µs", r.addedTarget(false, 1, 100, func(w wrkResult) int64 { return w.P50US }))
	row("non-stream c=1: added p99 ≤ floor's + 300 µs", r.addedTarget(false, 1, 300, func(w wrkResult) int64 { return w.P99US }))
	for _, c := range []int{16, 64} {
		row(fmt.Sprintf("stream (20 chunks) c=%d: CPU/stream ≤ 1.5× floor", c), r.cpuTarget(true, c))
	}
	row("stream: time to first byte p50 within 200 µs of floor's", r.ttfbTarget)
	row("10,000 held streams: ≤ 60 KB RSS per stream, 0 failed", r.holdTarget)
	row(fmt.Sprintf("%d MB stream adds ≤ 1 MB RSS", r.opt.longMB), r.longTarget)
	row("idle RSS ≤ 30 MB", r.idleTarget)
	row("start-up to a served /api/status ≤ 300 ms on SQLite (restart / empty database)", r.startTarget)
	b.WriteString("\n")
}

func (r *runner) cpuTarget(stream bool, c int) func(string) verdict {
	return func(cfg string) verdict {
		f, ok1 := r.load("floor", stream, c)
		s, ok2 := r.load(cfg, stream, c)
		if !ok1 || !ok2 || f.CPUMicrosPerRequest <= 0 {
			return verdict{}
		}
		x := s.CPUMicrosPerRequest / f.CPUMicrosPerRequest
		return verdict{value: fmt.Sprintf("%.2f× (%.0f vs %.0f µs)", x, s.CPUMicrosPerRequest, f.CPUMicrosPerRequest),
			met: x <= 1.5, known: true}
	}
}

func (r *runner) addedTarget(stream bool, c int, slackUS int64, pick func(wrkResult) int64) func(string) verdict {
	return func(cfg string) verdict {
		d, ok1 := r.load("direct", stream, c)
		f, ok2 := r.load("floor", stream, c)
		s, ok3 := r.load(cfg, stream, c)
		if !ok1 || !ok2 || !ok3 {
			return verdict{}
		}
		fa, sa := pick(f.Wrk)-pick(d.Wrk), pick(s.Wrk)-pick(d.Wrk)
		return verdict{value: fmt.Sprintf("%+d µs over floor's (%d vs %d µs)", sa-fa, sa, fa), met: sa <= fa+slackUS, known: true}
	}
}

func (r *runner) ttfbTarget(cfg string) verdict {
	var f, s *ttfbRun
	for i := range r.res.TTFB {
		switch r.res.TTFB[i].Target {
		case "floor":
			f = &r.res.TTFB[i]
		case cfg:
			s = &r.res.TTFB[i]
		}
	}
	if f == nil || s == nil {
		return verdict{}
	}
	d := s.Seq.TTFBP50 - f.Seq.TTFBP50
	return verdict{value: fmt.Sprintf("%+d µs (%d vs %d µs)", d, s.Seq.TTFBP50, f.Seq.TTFBP50), met: d <= 200, known: true}
}

func (r *runner) holdTarget(cfg string) verdict {
	for _, h := range r.res.Hold {
		if h.Target == cfg && h.N == 10000 {
			return verdict{value: fmt.Sprintf("%.1f KB/stream, %d failed", h.perStreamKB(), h.Client.Failed),
				met: h.perStreamKB() <= 60 && h.Client.Failed == 0, known: true}
		}
	}
	return verdict{}
}

func (r *runner) longTarget(cfg string) verdict {
	for _, l := range r.res.Long {
		if l.Target == cfg {
			mb := float64(l.PeakRSSKB-l.BaseRSSKB) / 1024
			return verdict{value: fmt.Sprintf("+%.2f MB", mb), met: mb <= 1, known: true}
		}
	}
	return verdict{}
}

func (r *runner) idleTarget(cfg string) verdict {
	for _, x := range r.res.Idle {
		if x.Target == cfg {
			mb := float64(x.RSSKB) / 1024
			return verdict{value: fmt.Sprintf("%.1f MB", mb), met: mb <= 30, known: true}
		}
	}
	return verdict{}
}

func (r *runner) startTarget(cfg string) verdict {
	for _, x := range r.res.Starts {
		if x.Target == cfg && len(x.RestartsMS) > 0 {
			m := median(x.RestartsMS)
			return verdict{value: fmt.Sprintf("%.0f / %.0f ms", m, x.FirstStartMS), met: m <= 300 && x.FirstStartMS <= 300,
				known: true, none: cfg != "sqlite"}
		}
	}
	return verdict{}
}
