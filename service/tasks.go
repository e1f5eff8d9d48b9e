package service

import (
	"context"
	"sync"

	"sluice/common"
)

// Tasks runs background work on the relay pool and lets shutdown wait for
// it, so a settlement started by the last request still reaches the batch
// writer before the final flush.
type Tasks struct{ wg sync.WaitGroup }

// Go runs f in the background.
func (t *Tasks) Go(ctx context.Context, f func()) {
	t.wg.Add(1)
	common.RelayCtxGo(ctx, func() {
		defer t.wg.Done()
		f()
	})
}

// Wait blocks until every task started so far has finished.
func (t *Tasks) Wait() { t.wg.Wait() }
