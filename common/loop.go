package common

import (
	"context"
	"time"
)

// Every calls f once per interval until ctx ends, for the background loops
// (cache refresh, batch flush, option sync, Redis watch). A slow f delays
// the next call rather than overlapping it.
func Every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
