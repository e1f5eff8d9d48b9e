package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"sluice/bench/internal/benchenv"
)

// runGroups runs every scenario. Each group starts fresh gateway
// processes, so a peak or a per-stream figure is not inherited from an
// earlier group; within a group every scenario runs on each target in
// turn (direct, floor, then each sluice; the load group's in rounds,
// loadScenario), so ratios compare runs made seconds apart.
func (r *runner) runGroups(ctx context.Context) {
	type step struct {
		name string
		run  func(context.Context) error
	}
	var steps []step
	if slices.Contains(r.opt.groups, "load") {
		steps = append(steps, step{"load", r.groupLoad})
	}
	if slices.Contains(r.opt.groups, "long") {
		steps = append(steps, step{"long stream", r.groupLong})
	}
	for _, n := range r.opt.hold {
		if slices.Contains(r.opt.groups, "hold") {
			steps = append(steps, step{fmt.Sprintf("%d held streams", n), func(ctx context.Context) error { return r.groupHold(ctx, n) }})
		}
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", s.name)
		if err := s.run(ctx); err != nil {
			r.fail("%s: %v", s.name, err)
		}
	}
}

// startGroup starts the floor and every sluice for ups, sluice with
// sluiceEnv added to its environment; direct (the mock itself) comes first
// when withDirect.
func (r *runner) startGroup(ctx context.Context, ups []*upstream, withDirect bool, sluiceEnv ...string) ([]*instance, error) {
	var insts []*instance
	if withDirect {
		insts = append(insts, directInstance(ups))
	}
	floor, err := startFloor(ctx, r.out, r.bins.floor, ups)
	insts = append(insts, floor)
	if err != nil {
		return insts, err
	}
	for _, s := range r.setups {
		in, err := s.start(ctx, ups, sluiceEnv...)
		if in != nil {
			insts = append(insts, in)
		}
		if err != nil {
			return insts, err
		}
		r.mu.Lock()
		for i := range r.res.Starts {
			if r.res.Starts[i].Target == s.name {
				r.res.Starts[i].RestartsMS = append(r.res.Starts[i].RestartsMS, ms(in.startup))
			}
		}
		r.mu.Unlock()
	}
	return insts, nil
}

// stopGroup stops a group's gateways; sluice must exit cleanly.
func (r *runner) stopGroup(insts []*instance) {
	for _, in := range insts {
		if err := in.stop(); err != nil {
			r.fail("stop %s: %v", in.name, err)
		}
	}
}

// groupLoad: time to first byte, one stream at a time, then non-stream
// and stream chat under wrk at each concurrency.
func (r *runner) groupLoad(ctx context.Context) error {
	main, slow := r.mocks["main"], r.mocks["slow"]
	insts, err := r.startGroup(ctx, []*upstream{main, slow}, true)
	defer r.stopGroup(insts)
	if err != nil {
		return err
	}
	sleep(ctx, time.Second)
	for _, in := range insts {
		if in.isGateway() {
			rss, _, _ := benchenv.MemKB(in.pids[main])
			r.res.Idle = append(r.res.Idle, idleInfo{Target: in.name, RSSKB: rss})
		}
	}
	// Time to first byte first, while no gateway on the gateway CPU is
	// still busy with the tail of a heavy scenario.
	for _, in := range insts {
		s, err := r.seq(ctx, in.urls[slow], in.key, slow.model, r.opt.ttfbN)
		if err != nil {
			r.fail("%s time to first byte: %v", in.name, err)
			continue
		}
		r.checkSeq(in.name, "time to first byte", s)
		r.res.TTFB = append(r.res.TTFB, ttfbRun{Target: in.name, Seq: s})
	}
	for _, stream := range []bool{false, true} {
		for _, c := range r.opt.concurrency {
			if ctx.Err() != nil {
				return nil
			}
			for _, res := range r.loadScenario(ctx, insts, main, c, stream) {
				r.res.Load = append(r.res.Load, res)
				r.progress(res)
			}
		}
	}
	return nil
}

func scenarioName(stream bool, c int) string {
	if stream {
		return fmt.Sprintf("stream c=%d", c)
	}
	return fmt.Sprintf("non-stream c=%d", c)
}

func (r *runner) progress(l loadResult) {
	fmt.Fprintf(os.Stderr, "  %-16s %-9s %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.0f µs/req  peak %5.1f MB  disturbed %2.0f %%  failed %d\n",
		scenarioName(l.Stream, l.C), l.Target, l.Wrk.rps(), float64(l.Wrk.P50US)/1000, float64(l.Wrk.P99US)/1000,
		l.CPUMicrosPerRequest, float64(l.PeakRSSKB)/1024, l.DisturbedPct, l.Wrk.failed()+l.WarmupFailed)
	if n := l.Wrk.failed() + l.WarmupFailed; n > 0 {
		r.fail("%s %s: %d failed requests (%+v)", l.Target, scenarioName(l.Stream, l.C), n, l.Wrk)
	}
	if l.Wrk.Requests == 0 {
		r.fail("%s %s: no request completed", l.Target, scenarioName(l.Stream, l.C))
	}
}

func (r *runner) checkSeq(target, what string, s seqResult) {
	if s.Failed > 0 {
		r.fail("%s %s: %d of %d streams failed: %v", target, what, s.Failed, s.N, s.Errors)
	}
}

// warm sends a few ordinary streams through a fresh sluice so its pools
// and buffers exist before a memory baseline is taken.
func (r *runner) warm(ctx context.Context, in *instance) {
	main := r.mocks["main"]
	if !in.sluice {
		return
	}
	s, err := r.seq(ctx, in.urls[main], in.key, main.model, 20)
	if err != nil {
		r.fail("%s warm-up: %v", in.name, err)
		return
	}
	r.checkSeq(in.name, "warm-up", s)
}

// groupLong: two long streams, one after the other, on fresh processes;
// RSS added is the peak over the baseline after a warm-up of short
// streams (never a long one, whose freed memory would hide growth).
func (r *runner) groupLong(ctx context.Context) error {
	main, long := r.mocks["main"], r.mocks["long"]
	insts, err := r.startGroup(ctx, []*upstream{main, long}, true)
	defer r.stopGroup(insts)
	if err != nil {
		return err
	}
	for _, in := range insts {
		r.warm(ctx, in)
		res := longRun{Target: in.name}
		pid := in.pids[long]
		if pid != 0 {
			res.BaseRSSKB, _, _ = benchenv.MemKB(pid)
			_ = resetPeak(pid)
		}
		s, err := r.seq(ctx, in.urls[long], in.key, long.model, 2)
		if err != nil {
			r.fail("%s long stream: %v", in.name, err)
			continue
		}
		r.checkSeq(in.name, "long stream", s)
		if pid != 0 {
			_, res.PeakRSSKB, _ = benchenv.MemKB(pid)
		}
		res.Seq = s
		r.res.Long = append(r.res.Long, res)
		fmt.Fprintf(os.Stderr, "  long stream      %-9s %6.1f MB in %7.1f ms  RSS +%.2f MB\n", in.name,
			float64(s.BytesPerStream)/1e6, float64(s.TotalP50)/1000, float64(res.PeakRSSKB-res.BaseRSSKB)/1024)
	}
	return nil
}

// groupHold: n streams held open at once through each gateway, on fresh
// processes.
func (r *runner) groupHold(ctx context.Context, n int) error {
	main, hold := r.mocks["main"], r.mocks["hold"]
	var env []string
	if r.opt.profile {
		// One heap sample per 4 KiB allocated (default 512 KiB), so the
		// heap profile shows what each held stream keeps. Only here: the
		// sampling costs CPU, which would show in the load group's profiles.
		env = append(env, "GODEBUG=memprofilerate=4096")
	}
	insts, err := r.startGroup(ctx, []*upstream{main, hold}, false, env...)
	defer r.stopGroup(insts)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if ctx.Err() != nil {
			return nil
		}
		r.warm(ctx, in)
		h, err := r.hold(ctx, in, hold, n)
		if err != nil {
			r.fail("%s %d held streams: %v", in.name, n, err)
		}
		if h.Client.Failed > 0 || h.Client.Completed != n {
			r.fail("%s %d held streams: %d failed, %d completed: %v", in.name, n, h.Client.Failed, h.Client.Completed, h.Client.Errors)
		}
		r.res.Hold = append(r.res.Hold, h)
		fmt.Fprintf(os.Stderr, "  %5d held       %-9s opened in %5.1f s  RSS %6.1f → %6.1f MB (%.1f KB/stream)  upstream conns %d  failed %d\n",
			n, in.name, h.Client.OpenSeconds, float64(h.BaseRSSKB)/1024, float64(h.PeakRSSKB)/1024,
			h.perStreamKB(), h.UpstreamConns, h.Client.Failed)
	}
	return nil
}
