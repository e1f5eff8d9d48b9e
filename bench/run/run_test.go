package main

import (
	"os"
	"testing"
	"time"
)

func TestProcReaders(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	if _, err := cpuTicks(pid); err != nil {
		t.Fatalf("cpuTicks: %v", err)
	}
	if busy, _, total, err := cpuStat("cpu0"); err != nil || busy <= 0 || total < busy {
		t.Fatalf("cpuStat = %d of %d, %v", busy, total, err)
	}
}

func TestInts(t *testing.T) {
	t.Parallel()
	got, err := ints(" 1,16 ,64,")
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 64 {
		t.Fatalf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-4", "x"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q) accepted", bad)
		}
	}
}

func TestWrkFailed(t *testing.T) {
	t.Parallel()
	// A 500 is both a status error and a bad answer in wrk's counts; it
	// must count once.
	w := wrkResult{Requests: 10, StatusErrors: 1, BadAnswers: 1, ReadErrors: 2}
	if got := w.failed(); got != 3 {
		t.Fatalf("failed = %d, want 3", got)
	}
}

func TestMergeRounds(t *testing.T) {
	t.Parallel()
	// Three rounds of one target; the second met a noisy stretch.
	rounds := []loadRound{
		{wrk: wrkResult{DurationUS: 2e6, Requests: 6000, Bytes: 600, P50US: 250, P90US: 300, P99US: 500, MaxUS: 900, MeanUS: 260},
			warmupFailed: 1, gatewayTicks: 90, othersTicks: 2, cpuTicks: 200, peakRSSKB: 50_000},
		{wrk: wrkResult{DurationUS: 2e6, Requests: 4000, Bytes: 400, P50US: 400, P90US: 900, P99US: 4500, MaxUS: 9000, MeanUS: 410, ReadErrors: 1},
			gatewayTicks: 70, othersTicks: 30, cpuTicks: 200, peakRSSKB: 64_000},
		{wrk: wrkResult{DurationUS: 2e6, Requests: 6000, Bytes: 600, P50US: 240, P90US: 310, P99US: 600, MaxUS: 1200, MeanUS: 250},
			gatewayTicks: 100, othersTicks: 8, cpuTicks: 200, peakRSSKB: 52_000},
	}
	var res loadResult
	mergeRounds(&res, rounds)
	w := res.Wrk
	if w.Requests != 16000 || w.DurationUS != 6e6 || w.Bytes != 1600 || w.ReadErrors != 1 || w.MaxUS != 9000 {
		t.Fatalf("sums = %+v", w)
	}
	if w.P50US != 250 || w.P90US != 310 || w.P99US != 600 {
		t.Fatalf("percentiles %d/%d/%d, want the rounds' medians 250/310/600", w.P50US, w.P90US, w.P99US)
	}
	if want := int64((260*6000 + 410*4000 + 250*6000) / 16000); w.MeanUS != want {
		t.Fatalf("mean %d, want %d (weighted by requests)", w.MeanUS, want)
	}
	// 260 ticks of 10 ms over 16,000 requests.
	if res.CPUMicrosPerRequest != 162.5 {
		t.Fatalf("CPU per request %v, want 162.5", res.CPUMicrosPerRequest)
	}
	if res.DisturbedPct != 100*40.0/600 || res.PeakRSSKB != 64_000 || res.WarmupFailed != 1 || len(res.Rounds) != 3 {
		t.Fatalf("disturbed %v, peak %d, warm-up failed %d, rounds %d", res.DisturbedPct, res.PeakRSSKB, res.WarmupFailed, len(res.Rounds))
	}
	if res.Rounds[1].P99US != 4500 {
		t.Fatalf("rounds kept out of order: %+v", res.Rounds)
	}
}

func TestRoundDuration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d      time.Duration
		rounds int
		want   time.Duration
	}{{10 * time.Second, 5, 2 * time.Second}, {10 * time.Second, 1, 10 * time.Second}, {time.Second, 5, time.Second}, {7 * time.Second, 2, 4 * time.Second}} {
		r := &runner{opt: options{duration: c.d, rounds: c.rounds}}
		if got := r.roundDuration(); got != c.want {
			t.Errorf("%v in %d rounds: %v, want %v", c.d, c.rounds, got, c.want)
		}
	}
}
