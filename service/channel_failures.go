package service

import (
	"strconv"
	"sync"
	"time"

	"sluice/model"
)

// failureWindow counts each channel's recent failures, so a channel is
// switched off for a sustained error rate rather than for one bad answer.
type failureWindow struct {
	mu    sync.Mutex
	times map[int][]time.Time // per channel, oldest first, bounded by the threshold
}

// record adds a failure at now and reports whether the channel has had at
// least threshold failures within window.
func (f *failureWindow) record(channelID, threshold int, window time.Duration, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.times == nil {
		f.times = map[int][]time.Time{}
	}
	ts := f.times[channelID]
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) > window {
		cut++
	}
	ts = append(ts[cut:], now)
	if len(ts) > threshold {
		ts = ts[len(ts)-threshold:]
	}
	f.times[channelID] = ts
	return len(ts) >= threshold
}

func (f *failureWindow) reset(channelID int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.times, channelID)
}

// RecordFailure notes a failed attempt that does not by itself prove the
// channel dead (5xx, timeouts, refused connections). After Threshold() of
// them within Window() the channel is auto-disabled like a dead key; the
// health probe re-enables it once it answers again.
func (h *ChannelHealth) RecordFailure(ch *model.ChannelView, now time.Time) {
	threshold, window := 0, time.Duration(0)
	if h.FailureRule != nil {
		threshold, window = h.FailureRule()
	}
	if ch == nil || threshold <= 0 || window <= 0 {
		return
	}
	if h.failures.record(ch.ID, threshold, window, now) {
		h.failures.reset(ch.ID)
		h.AutoDisable(ch, strconv.Itoa(threshold)+" failures within "+window.String())
	}
}
