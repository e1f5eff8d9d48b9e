package service

import (
	"context"
	"log/slog"
	"time"

	"sluice/common"
	"sluice/model"
)

// RunOptionSync re-reads the options table every interval, so instances
// without Redis pub/sub still converge on an operator's change within
// SYNC_FREQUENCY.
func RunOptionSync(ctx context.Context, store *model.Store, every time.Duration) {
	common.Every(ctx, every, func() {
		if err := ReloadOptions(store); err != nil {
			slog.Error("option refresh failed", "err", err)
		}
	})
}
