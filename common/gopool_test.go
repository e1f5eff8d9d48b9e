package common

import (
	"context"
	"testing"
	"time"
)

// A panicking background task is logged and contained: the process and
// the pool keep working.
func TestRelayCtxGoSurvivesPanics(t *testing.T) {
	for range 3 {
		RelayCtxGo(context.Background(), func() { panic("boom") })
	}
	done := make(chan struct{})
	RelayCtxGo(context.Background(), func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the pool stopped running tasks after a panic")
	}
}
