package model

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deferred credits reach Redis together after the delay: until then the
// balance is lower than it will be (never higher), then exact.
func TestDeferredCreditsArriveTogether(t *testing.T) {
	c, u, tok := ledgerFixture(t, 1000, 1000, false)
	rdb, _ := attach(t, c, redisURL(t))
	c.DeferCredits(200 * time.Millisecond)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.GiveQuota(ctx, u, tok, 100)
		}()
	}
	wg.Wait()
	userKey, tokenKey := c.bal.userKey(u.Info().ID), c.bal.tokenKey(tok.Info().ID)
	if v, _ := rdb.Get(ctx, userKey).Int64(); v != 400 {
		t.Fatalf("user balance in Redis %d before the flush, want 400 (credits held back)", v)
	}
	// Read through this instance, a queued refund is already the user's.
	if q, _ := c.UserQuota(ctx, u.Info().ID); q != 700 {
		t.Fatalf("UserQuota %d with the credits queued, want 700", q)
	}
	if q, _ := c.TokenRemain(ctx, tok.Info().ID); q != 700 {
		t.Fatalf("TokenRemain %d with the credits queued, want 700", q)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		uv, _ := rdb.Get(ctx, userKey).Int64()
		tv, _ := rdb.Get(ctx, tokenKey).Int64()
		if uv == 700 && tv == 700 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the delay: user %d key %d in Redis, want 700 and 700", uv, tv)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if q, _ := c.UserQuota(ctx, u.Info().ID); q != 700 {
		t.Fatalf("UserQuota %d, want 700", q)
	}
}

// Shutdown's FlushCredits sends what is queued at once.
func TestFlushCreditsSendsAtOnce(t *testing.T) {
	c, u, tok := ledgerFixture(t, 1000, 1000, false)
	rdb, _ := attach(t, c, redisURL(t))
	c.DeferCredits(time.Hour)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 500); err != nil {
		t.Fatal(err)
	}
	c.GiveQuota(ctx, u, tok, 200)
	c.FlushCredits(ctx)
	if v, _ := rdb.Get(ctx, c.bal.tokenKey(tok.Info().ID)).Int64(); v != 700 {
		t.Fatalf("key balance %d after FlushCredits, want 700", v)
	}
	c.FlushCredits(ctx) // nothing queued: a no-op
	if v, _ := rdb.Get(ctx, c.bal.userKey(u.Info().ID)).Int64(); v != 700 {
		t.Fatalf("user balance %d after a second flush, want 700", v)
	}
}

// holdPipeline is a go-redis hook that, once armed, holds the first
// command or pipeline sent (the credit flush's script) until released.
type holdPipeline struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

// hold, on the first call once armed, signals entered and waits for release.
func (h *holdPipeline) hold() {
	if h.armed.CompareAndSwap(true, false) {
		close(h.entered)
		<-h.release
	}
}

func (h *holdPipeline) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *holdPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.hold()
		return next(ctx, cmd)
	}
}
func (h *holdPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.hold()
		return next(ctx, cmds)
	}
}

// A flush that finds the queue empty while another is still sending
// waits for it: FlushCredits, which shutdown calls before letting go of
// Redis, returns only once the credit on its way has arrived.
func TestFlushCreditsWaitsForACreditOnItsWay(t *testing.T) {
	c, u, tok := ledgerFixture(t, 10_000, 0, true)
	rdb, _ := attach(t, c, redisURL(t))
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 1_000); err != nil { // seeds Redis
		t.Fatal(err)
	}
	c.FlushCredits(ctx) // the lease goes back: nothing is held or queued now
	if got := redisBalance(t, c, true, u.Info().ID); got != 9_000 {
		t.Fatalf("Redis holds %d after the reservation, want 9,000", got)
	}
	c.DeferCredits(time.Hour) // only explicit flushes
	c.GiveQuota(ctx, u, tok, 400)
	hold := &holdPipeline{entered: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(hold)
	hold.armed.Store(true)
	sent := make(chan struct{})
	go func() { // the timer's flush, say: it takes the queue and waits on Redis
		c.flushCredits(ctx)
		close(sent)
	}()
	<-hold.entered
	done := make(chan struct{})
	go func() {
		c.FlushCredits(ctx)
		close(done)
	}()
	select {
	case <-done:
		close(hold.release)
		t.Fatal("FlushCredits returned while a queued credit was still on its way to Redis")
	case <-time.After(200 * time.Millisecond):
	}
	close(hold.release)
	<-done
	<-sent
	if got := redisBalance(t, c, true, u.Info().ID); got != 9_400 {
		t.Fatalf("Redis holds %d once FlushCredits returned, want 9,400", got)
	}
}
