package model

import (
	"context"
	"sync"
	"time"

	"sluice/common"
)

// With Redis, every reservation used to cost one script round trip before
// the upstream call: a quarter of the gateway's CPU per request and most
// of its added time to first byte. A lease removes it for busy keys: the
// script that reserves a request also takes a little more (leaseFactor
// times the reservation, only while the balances keep four times that
// afterwards), and this instance serves the key's next reservations and refunds
// from that float in memory. The float is real money taken from Redis, so
// no instance can overspend; it goes back to Redis when the key has been
// idle for leaseIdle, when an operator changes the balance, on shutdown,
// and into the local balances when Redis fails. What it costs: other
// instances see a balance lower by the floats held elsewhere (never
// higher), and a kill -9 loses the floats of the keys used in the last
// leaseIdle from the live balances, as it loses the reservations in flight
// (SQL, which records only real charges, keeps the truth).
//
// A lease is topped up before it runs out: once a reservation leaves it
// under 1/refillBelow of its cap, a background script takes it back to the
// cap while requests go on spending what is left. Topped up only when it
// ran short, a key's every leaseFactor-th reservation waited for a script
// round trip, which put that round trip in the p99 of a lone client.
const (
	leaseFactor = 15
	leaseIdle   = time.Second
	refillBelow = 3
	// refillTimeout bounds a background top-up, which has no request's
	// context (the client's read timeout, 500 ms, usually ends it first).
	refillTimeout = 10 * time.Second
)

// lease is a key's float: quota taken from its user's balance (and its
// own, when limited) in Redis that this instance has not yet handed out.
type lease struct {
	mu      sync.Mutex
	amount  int64
	limited bool          // taken from the key's balance as well as the user's
	cap     int64         // refunds beyond this go back to Redis at once
	filling bool          // a top-up is in flight: concurrent ones would stack
	landed  chan struct{} // closed when the top-up in flight ends
	used    time.Time     // last take or refund
	user    *UserEntry    // set while the lease is registered
}

// leaseRegistry lists the keys holding a lease, for the idle return and
// for the readers of balances.
type leaseRegistry struct {
	mu     sync.Mutex
	leased map[*TokenEntry]struct{}
}

func (r *leaseRegistry) add(t *TokenEntry) {
	r.mu.Lock()
	if r.leased == nil {
		r.leased = map[*TokenEntry]struct{}{}
	}
	r.leased[t] = struct{}{}
	r.mu.Unlock()
}

func (r *leaseRegistry) snapshot() []*TokenEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*TokenEntry, 0, len(r.leased))
	for t := range r.leased {
		out = append(out, t)
	}
	return out
}

// takeLeased takes amount from t's lease if the lease, taken the same way
// (limited), covers all of it. When that leaves the lease below
// 1/refillBelow of its cap and no top-up is in flight, it also reports how
// much would fill it back to the cap; the caller must then refill it
// (Cache.refillLease), which ends the top-up. When the lease falls short
// while a top-up is in flight, it returns a channel closed when the top-up
// ends: waiting for it costs no more than a script of one's own, and a
// busy key no longer sends a script per reservation until the top-up lands.
func takeLeased(t *TokenEntry, limited bool, amount int64) (ok bool, refill int64, landing <-chan struct{}) {
	l := &t.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.user == nil || l.limited != limited {
		return false, 0, nil
	}
	if l.amount < amount {
		return false, 0, l.landed
	}
	l.amount -= amount
	l.used = time.Now()
	if l.filling || l.amount*refillBelow >= l.cap {
		return true, 0, nil
	}
	l.startFill()
	return true, l.cap - l.amount, nil
}

// startFill marks a top-up in flight; l.mu is held.
func (l *lease) startFill() {
	l.filling = true
	l.landed = make(chan struct{})
}

// takeLeasedUpTo takes as much of amount from t's lease as it holds.
func takeLeasedUpTo(t *TokenEntry, limited bool, amount int64) int64 {
	l := &t.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.user == nil || l.limited != limited || l.amount <= 0 {
		return 0
	}
	got := min(amount, l.amount)
	l.amount -= got
	l.used = time.Now()
	return got
}

// creditLease adds amount to t's registered lease and reports whether it
// did; what passes the lease's cap is returned as excess for Redis.
func creditLease(t *TokenEntry, limited bool, amount int64) (ok bool, excess int64) {
	l := &t.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.user == nil || l.limited != limited {
		return false, 0
	}
	l.amount += amount
	l.used = time.Now()
	if l.amount > l.cap {
		excess = l.amount - l.cap
		l.amount = l.cap
	}
	return true, excess
}

// beginFill reports how much lease a reservation of amount should ask
// for: leaseFactor times it, unless another top-up of the key is in
// flight (concurrent top-ups would stack, and a big float held here can
// make another instance refuse what this one could still pay). A non-zero
// answer must be followed by fillLease.
func beginFill(t *TokenEntry, amount int64) int64 {
	l := &t.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.filling {
		return 0
	}
	l.startFill()
	return leaseFactor * amount
}

// fillLease ends a top-up, adding ext (what the script took beyond the
// reservation, possibly 0) and setting the lease's cap to wanted (kept as
// it is when 0). A lease taken the other way (the key's limit was switched
// meanwhile) is returned as stale, and what passes the cap as excess
// (taken the same way as the lease), both to go back to Redis: a top-up
// sized when it started can land on a lease that another one filled
// meanwhile, and leases held far past their cap made another instance
// refuse what this one held (TestLeasesNeverOverspendAcrossInstances).
func (c *Cache) fillLease(u *UserEntry, t *TokenEntry, limited bool, ext, wanted int64) (stale int64, staleLimited bool, excess int64) {
	l := &t.lease
	l.mu.Lock()
	l.filling = false
	if l.landed != nil {
		close(l.landed)
		l.landed = nil
	}
	if ext <= 0 {
		l.mu.Unlock()
		return 0, false, 0
	}
	if l.user != nil && l.limited != limited {
		stale, staleLimited = l.amount, l.limited
		l.amount = 0
	}
	fresh := l.user == nil
	l.user, l.limited = u, limited
	if wanted > 0 {
		l.cap = wanted
	}
	l.amount += ext
	if l.cap > 0 && l.amount > l.cap {
		excess = l.amount - l.cap
		l.amount = l.cap
	}
	l.used = time.Now()
	l.mu.Unlock()
	if fresh {
		c.bal.leases.add(t)
	}
	return stale, staleLimited, excess
}

// landFill ends a top-up (fillLease) and gives back to Redis what the
// lease cannot keep: a stale lease taken the other way, and what passes
// the cap.
func (c *Cache) landFill(ctx context.Context, u *UserEntry, t *TokenEntry, limited bool, ext, wanted int64) {
	stale, staleLimited, excess := c.fillLease(u, t, limited, ext, wanted)
	if stale > 0 {
		c.giveBack(ctx, u, t, staleLimited, stale)
	}
	if excess > 0 {
		c.giveBack(ctx, u, t, limited, excess)
	}
}

// refillLease tops t's lease up by want in the background (takeLeased
// asked for it). Requests meanwhile spend what the lease still holds; one
// that finds it short waits for the top-up, then runs its own script if
// the lease still falls short. The top-up is the reservation script with
// nothing to reserve, so Redis grants it only while the balances keep four
// times as much.
func (c *Cache) refillLease(u *UserEntry, t *TokenEntry, limited bool, want int64) {
	c.bal.refills.Add(1)
	common.RelayCtxGo(context.Background(), func() {
		defer c.bal.refills.Done()
		ctx, cancel := context.WithTimeout(context.Background(), refillTimeout)
		defer cancel()
		ui, ti := u.Info(), t.Info()
		res, err := c.bal.runScript(ctx, takeScript, ui.ID, ti.ID, !limited, 0, want)
		var ext int64
		if err == nil && res[0] == 1 {
			ext = res[3]
			u.Quota.Store(res[1])
			if limited {
				t.Remain.Store(res[2])
			}
		}
		c.landFill(ctx, u, t, limited, ext, 0)
		if err != nil {
			c.bal.markDown(err)
		}
	})
}

// unregister empties t's lease and takes it off the registry, returning
// what it held and how it was taken; match decides under the lease's lock.
func (b *balances) unregister(t *TokenEntry, match func(l *lease) bool) (u *UserEntry, amount int64, limited bool) {
	l := &t.lease
	l.mu.Lock()
	if l.user == nil || !match(l) {
		l.mu.Unlock()
		return nil, 0, false
	}
	u, amount, limited = l.user, l.amount, l.limited
	l.user, l.amount = nil, 0
	l.mu.Unlock()
	b.leases.mu.Lock()
	delete(b.leases.leased, t)
	b.leases.mu.Unlock()
	return u, amount, limited
}

// releaseLeases gives the matching leases back to Redis.
func (c *Cache) releaseLeases(ctx context.Context, match func(t *TokenEntry, l *lease) bool) {
	for _, t := range c.bal.leases.snapshot() {
		u, amount, limited := c.bal.unregister(t, func(l *lease) bool { return match(t, l) })
		if amount > 0 {
			c.giveBack(ctx, u, t, limited, amount)
		}
	}
}

// giveBack credits amount to the user's balance (and the key's, when
// limited) in Redis, coalesced with the other credits when that is on.
func (c *Cache) giveBack(ctx context.Context, u *UserEntry, t *TokenEntry, limited bool, amount int64) {
	if !limited {
		t = nil
	}
	if !c.bal.useRedis() || !c.deferCredit(u, t, amount) {
		tokenID := 0
		if t != nil {
			tokenID = t.Info().ID
		}
		c.addBalances(ctx, u.Info().ID, tokenID, amount, u, t)
	}
}

// ReleaseIdleLeases gives back the leases of keys unused for leaseIdle.
func (c *Cache) ReleaseIdleLeases(ctx context.Context) {
	if !c.bal.useRedis() {
		return
	}
	cutoff := time.Now().Add(-leaseIdle)
	c.releaseLeases(ctx, func(_ *TokenEntry, l *lease) bool { return l.used.Before(cutoff) })
}

// leasesToLocal moves every lease into the in-memory balances when Redis
// fails: the money left Redis, so it is recorded as a change to replay
// there when Redis returns.
func (b *balances) leasesToLocal() {
	for _, t := range b.leases.snapshot() {
		u, amount, limited := b.unregister(t, func(*lease) bool { return true })
		if amount <= 0 {
			continue
		}
		u.Quota.Add(amount)
		if limited {
			t.Remain.Add(amount)
		}
		b.recordOutage(u.Info().ID, t.Info().ID, !limited, amount)
	}
}

// leasedFor sums this instance's leases of a user's keys (user) or of one
// key, so the balances it reports include them.
func (b *balances) leasedFor(user bool, id int) int64 {
	var sum int64
	for _, t := range b.leases.snapshot() {
		l := &t.lease
		l.mu.Lock()
		if l.user != nil && ((user && l.user.Info().ID == id) || (!user && l.limited && t.Info().ID == id)) {
			sum += l.amount
		}
		l.mu.Unlock()
	}
	return sum
}
