package common

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/bytedance/gopkg/util/gopool"
)

// relayPool runs the relay's background work (settlement, logging, channel
// stats). A bounded pool keeps a burst of finishing requests from spawning
// an unbounded number of goroutines, and its panic handler keeps one bad
// task from taking the process down.
var relayPool = func() gopool.Pool {
	p := gopool.NewPool("sluice-relay", 10000, gopool.NewConfig())
	p.SetPanicHandler(func(ctx context.Context, r any) {
		slog.Error("background task panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	})
	return p
}()

// RelayCtxGo runs f on the relay pool with ctx.
func RelayCtxGo(ctx context.Context, f func()) {
	relayPool.CtxGo(ctx, f)
}
