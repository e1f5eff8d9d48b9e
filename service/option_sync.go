package service

import (
	"context"
	"log/slog"
	"time"

	"sluice/model"
)

// RunOptionSync re-reads the options table every interval, so instances
// without Redis pub/sub still converge on an operator's change within
// SYNC_FREQUENCY.
func RunOptionSync(ctx context.Context, store *model.Store, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := ReloadOptions(store); err != nil {
				slog.Error("option refresh failed", "err", err)
			}
		}
	}
}
