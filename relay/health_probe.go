package relay

import (
	"context"
	"log/slog"
	"time"

	"sluice/constant"
	"sluice/model"
)

// RunHealthProbe is the half-open side of channel health: every interval
// (read each round, 0 pauses probing) it sends each auto-disabled channel
// the smallest real request and switches it back on when it answers.
// Manually disabled channels (status 2) are never touched.
func (e *Engine) RunHealthProbe(ctx context.Context, store *model.Store, interval func() time.Duration) {
	// A short tick rather than one long sleep, so an operator shortening
	// the interval (say from 300 s to 10 s during an incident) is obeyed
	// at once, not after the old wait runs out.
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if iv := interval(); iv > 0 && time.Since(last) >= iv {
			e.probeOnce(ctx, store)
			last = time.Now()
		}
	}
}

// probeTick is how often RunHealthProbe rereads its interval.
const probeTick = time.Second

func (e *Engine) probeOnce(ctx context.Context, store *model.Store) {
	chans, err := store.ChannelViewsWithStatus(constant.ChannelStatusAutoDisabled)
	if err != nil {
		slog.Warn("health probe: listing channels failed", "err", err)
		return
	}
	for _, ch := range chans {
		if ctx.Err() != nil || len(ch.Models) == 0 {
			continue
		}
		if _, err := TestChannel(ctx, e.Client, ch, ch.Models[0]); err != nil {
			continue
		}
		e.Health.Reenable(ch)
	}
}
