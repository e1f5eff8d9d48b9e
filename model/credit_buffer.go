package model

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// creditBuffer coalesces the refunds that settle every request (the
// reservation minus the real cost) and sends them to Redis together: one
// script call per delay for every user and key credited meanwhile, instead
// of one round trip per request. Only credits wait: a balance can then be
// briefly lower than it will be, never higher, so nothing can be overspent.
// Debits (reservations, extra charges) stay immediate.
type creditBuffer struct {
	delay time.Duration

	// sending is held by a flush from taking the queue until Redis has
	// answered. A flush that found the queue empty returned at once while
	// another (the timer's) could still be sending, so shutdown's
	// FlushCredits could let go of Redis with a credit on its way; now a
	// flush returns only once every credit queued before it has been
	// sent, whichever flush carried it.
	sending sync.Mutex

	mu      sync.Mutex
	users   map[int]int64
	tokens  map[int]int64
	entries map[creditKey]creditEntry // to refresh the in-memory mirrors
	timer   *time.Timer
}

type creditKey struct {
	user bool
	id   int
}

type creditEntry struct {
	u *UserEntry
	t *TokenEntry
}

// DeferCredits makes GiveQuota coalesce its Redis credits for up to delay
// (0 turns it off). Call FlushCredits before shutting down.
func (c *Cache) DeferCredits(delay time.Duration) {
	c.credits.mu.Lock()
	defer c.credits.mu.Unlock()
	c.credits.delay = delay
}

// deferCredit queues a credit; false when deferring is off.
func (c *Cache) deferCredit(u *UserEntry, t *TokenEntry, amount int64) bool {
	b := &c.credits
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.delay <= 0 {
		return false
	}
	if b.users == nil {
		b.users, b.tokens, b.entries = map[int]int64{}, map[int]int64{}, map[creditKey]creditEntry{}
	}
	ui := u.Info()
	b.users[ui.ID] += amount
	b.entries[creditKey{user: true, id: ui.ID}] = creditEntry{u: u}
	if t != nil {
		ti := t.Info()
		b.tokens[ti.ID] += amount
		b.entries[creditKey{id: ti.ID}] = creditEntry{t: t}
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.delay, func() { c.flushCredits(context.Background()) })
	}
	return true
}

// queuedAmount is what this instance holds back for a user (user) or a
// key, queued for Redis. Balances read here include it: a refund waiting
// for the next flush is the user's money. (A flush on its way is not
// counted: Redis may already have applied it, and a read must never show
// more than the balance.)
func (b *creditBuffer) queuedAmount(user bool, id int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if user {
		return b.users[id]
	}
	return b.tokens[id]
}

// FlushCredits gives every key's lease back and sends every queued credit
// now (shutdown calls it after the last settlement, before the process
// lets go of Redis).
func (c *Cache) FlushCredits(ctx context.Context) {
	c.bal.refills.Wait() // a top-up landing after the release would be stranded
	c.releaseLeases(ctx, func(*TokenEntry, *lease) bool { return true })
	c.flushCredits(ctx)
}

// flushCredits sends the queued credits, after any flush on its way.
func (c *Cache) flushCredits(ctx context.Context) {
	b := &c.credits
	b.sending.Lock()
	defer b.sending.Unlock()
	b.mu.Lock()
	users, tokens, entries := b.users, b.tokens, b.entries
	b.users, b.tokens, b.entries = nil, nil, nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	if len(users) == 0 && len(tokens) == 0 {
		return
	}
	keys := make([]string, 0, len(users)+len(tokens))
	args := make([]any, 0, cap(keys))
	order := make([]creditKey, 0, cap(keys))
	for id, d := range users {
		keys, args, order = append(keys, c.bal.userKey(id)), append(args, d), append(order, creditKey{user: true, id: id})
	}
	for id, d := range tokens {
		keys, args, order = append(keys, c.bal.tokenKey(id)), append(args, d), append(order, creditKey{id: id})
	}
	if c.bal.useRedis() {
		res, err := c.bal.batch.run(ctx, addScript, keys, args...).Slice()
		if err == nil {
			for i, k := range order {
				v, ok := res[i].(int64)
				if !ok {
					continue // not in Redis: it will be seeded from SQL, which has the change
				}
				if e := entries[k]; k.user && e.u != nil {
					e.u.Quota.Store(v)
				} else if !k.user && e.t != nil {
					e.t.Remain.Store(v)
				}
			}
			return
		}
		c.bal.markDown(err)
		if mayHaveRun(err) {
			// As in addBalances: a credit that may have been applied is
			// kept locally but never replayed.
			slog.Warn("Redis lost the reply to queued balance credits; not replaying them", "keys", len(keys))
			c.applyCreditsLocally(users, tokens, entries, false)
			return
		}
	}
	c.applyCreditsLocally(users, tokens, entries, c.bal.rdb != nil)
}

// applyCreditsLocally adds credits to the in-memory balances, recording
// them for the outage replay when record is set.
func (c *Cache) applyCreditsLocally(users, tokens map[int]int64, entries map[creditKey]creditEntry, record bool) {
	for id, d := range users {
		if e := entries[creditKey{user: true, id: id}]; e.u != nil {
			e.u.Quota.Add(d)
		}
	}
	for id, d := range tokens {
		if e := entries[creditKey{id: id}]; e.t != nil {
			e.t.Remain.Add(d)
		}
	}
	if record {
		c.bal.mergeOutage(users, tokens)
	}
}
