package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"sluice/common"
	"sluice/constant"
)

// ErrKeyQuota means the API key's remaining quota cannot cover the request.
var ErrKeyQuota = errors.New("the API key's quota is exhausted")

// ErrUserQuota means the user's balance cannot cover the request.
var ErrUserQuota = errors.New("the user's quota is exhausted")

// balances holds the live quota balances. Without Redis they are the
// atomics in the cache entries. With Redis they live in Redis (one integer
// key per user and per key, see constant.CacheKeyUserQuota), changed only
// by Lua scripts, so several instances share one truth and none can
// overspend; the entries' atomics then mirror the last value seen and
// carry the instance through a Redis outage.
type balances struct {
	rdb   *redis.Client
	batch scriptBatcher // the balance scripts, pipelined across requests
	store *Store
	// prefix namespaces the keys (tests share one Redis).
	prefix string
	// pending returns charges queued in this instance's batch writer but
	// not yet in SQL, so a balance seeded from SQL does not forget them.
	pending atomic.Pointer[func(user bool, id int) int64]

	// leases are the keys' floats of Redis quota held here (lease.go).
	leases leaseRegistry
	// refills counts the leases' background top-ups in flight, which
	// shutdown waits for before it gives the leases back.
	refills sync.WaitGroup

	down atomic.Bool
	// While Redis is down, what this instance changed locally, replayed
	// into Redis when it returns.
	outMu    sync.Mutex
	outUser  map[int]int64
	outToken map[int]int64
}

// takeExact subtracts n from a if that leaves it non-negative. The CAS
// loop is what keeps concurrent requests from overspending a balance.
func takeExact(a *atomic.Int64, n int64) bool {
	for {
		cur := a.Load()
		if cur < n {
			return false
		}
		if a.CompareAndSwap(cur, cur-n) {
			return true
		}
	}
}

// takeUpTo subtracts as much of n as the balance allows and reports how much.
func takeUpTo(a *atomic.Int64, n int64) int64 {
	for {
		cur := a.Load()
		take := min(n, cur)
		if take <= 0 {
			return 0
		}
		if a.CompareAndSwap(cur, cur-take) {
			return take
		}
	}
}

// Scripts return {status, user balance, key balance} or {-3}/{-4} when the
// key's or user's balance is not in Redis yet (the caller seeds it from
// SQL and retries). ARGV: amount, unlimited ("1"/"0"), and for takeScript
// the lease wanted beyond the amount, granted (as a fourth element) only
// while what is left covers four times as much: a lease never holds the
// last of a balance, so near zero every instance decides in Redis.
var (
	takeScript = redis.NewScript(`
local amt = tonumber(ARGV[1])
local limited = ARGV[2] == '0'
local t = 0
if limited then
  local v = redis.call('GET', KEYS[1])
  if not v then return {-3} end
  t = tonumber(v)
  if t < amt then return {-1, 0, t} end
end
local v = redis.call('GET', KEYS[2])
if not v then return {-4} end
local u = tonumber(v)
if u < amt then return {-2, u, t} end
local room = u - amt
if limited then room = math.min(room, t - amt) end
local ext = tonumber(ARGV[3])
if room < 4 * ext then ext = 0 end
if limited then t = redis.call('DECRBY', KEYS[1], amt + ext) end
u = redis.call('DECRBY', KEYS[2], amt + ext)
return {1, u, t, ext}`)
	takeUpToScript = redis.NewScript(`
local want = tonumber(ARGV[1])
local limited = ARGV[2] == '0'
local v = redis.call('GET', KEYS[2])
if not v then return {-4} end
local take = math.min(want, tonumber(v))
if limited then
  local tv = redis.call('GET', KEYS[1])
  if not tv then return {-3} end
  take = math.min(take, tonumber(tv))
end
if take < 0 then take = 0 end
local u = redis.call('DECRBY', KEYS[2], take)
local t = 0
if limited then t = redis.call('DECRBY', KEYS[1], take) end
return {take, u, t}`)
	// addScript adds to balances that exist; a missing one will be seeded
	// from SQL, which already includes (or will include) the change.
	addScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    out[i] = redis.call('INCRBY', k, tonumber(ARGV[i]))
  else
    out[i] = false
  end
end
return out`)
)

func (b *balances) userKey(id int) string {
	return b.prefix + fmt.Sprintf(constant.CacheKeyUserQuota, id)
}
func (b *balances) tokenKey(id int) string {
	return b.prefix + fmt.Sprintf(constant.CacheKeyTokenQuota, id)
}

// AttachRedis makes Redis the keeper of balances. pending reports charges
// queued locally but not yet written to SQL.
// prefix is prepended to every key (empty in production).
func (c *Cache) AttachRedis(rdb *redis.Client, prefix string, pending func(user bool, id int) int64) {
	c.bal.rdb = rdb
	c.bal.batch.rdb = rdb
	c.bal.prefix = prefix
	if pending != nil {
		c.bal.pending.Store(&pending)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		// Start on local balances rather than make the first requests
		// wait for Redis timeouts; WatchRedis switches over when it answers.
		c.bal.markDown(err)
	}
}

// RedisHealthy reports whether balances are being kept in Redis right now.
func (c *Cache) RedisHealthy() bool { return c.bal.rdb != nil && !c.bal.down.Load() }

func (b *balances) useRedis() bool { return b.rdb != nil && !b.down.Load() }

func (b *balances) pendingOf(user bool, id int) int64 {
	if f := b.pending.Load(); f != nil {
		return (*f)(user, id)
	}
	return 0
}

// seed writes a missing balance from SQL (minus what is queued locally).
func (b *balances) seed(ctx context.Context, user bool, id int) error {
	var (
		val int64
		key string
	)
	if user {
		u, err := b.store.UserByID(id)
		if err != nil {
			return err
		}
		val, key = u.Quota, b.userKey(id)
	} else {
		t, err := b.store.TokenByID(id)
		if err != nil {
			return err
		}
		val, key = t.RemainQuota, b.tokenKey(id)
	}
	val -= b.pendingOf(user, id)
	return b.rdb.SetNX(ctx, key, val, 0).Err()
}

// mayHaveRun reports whether a failed command may still have been
// executed by Redis: only a failure to get a connection proves it was
// never sent.
func mayHaveRun(err error) bool {
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var op *net.OpError
	return !(errors.As(err, &op) && op.Op == "dial")
}

// markDown switches to local balances after a Redis failure.
func (b *balances) markDown(err error) {
	if b.down.CompareAndSwap(false, true) {
		slog.Error("Redis unavailable: keeping balances in memory until it returns", "err", err)
		b.leasesToLocal()
	}
}

// outageLocked returns the changes made locally while Redis is down, by
// user and by key, creating them on first use; b.outMu is held.
func (b *balances) outageLocked() (users, tokens map[int]int64) {
	if b.outUser == nil {
		b.outUser, b.outToken = map[int]int64{}, map[int]int64{}
	}
	return b.outUser, b.outToken
}

func (b *balances) recordOutage(userID, tokenID int, unlimited bool, delta int64) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	users, tokens := b.outageLocked()
	users[userID] += delta
	if !unlimited {
		tokens[tokenID] += delta
	}
}

// mergeOutage adds changes by user and by key to those to replay.
func (b *balances) mergeOutage(users, tokens map[int]int64) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	outUsers, outTokens := b.outageLocked()
	for id, d := range users {
		outUsers[id] += d
	}
	for id, d := range tokens {
		outTokens[id] += d
	}
}

// runScript runs a balance script, seeding missing balances and retrying.
func (b *balances) runScript(ctx context.Context, s *redis.Script, userID, tokenID int, unlimited bool, amount, lease int64) ([]int64, error) {
	keys := []string{b.tokenKey(tokenID), b.userKey(userID)}
	flag := "0"
	if unlimited {
		flag = "1"
	}
	for attempt := 0; attempt < 3; attempt++ {
		res, err := b.batch.run(ctx, s, keys, amount, flag, lease).Int64Slice()
		if err != nil {
			return nil, err
		}
		switch res[0] {
		case -3:
			err = b.seed(ctx, false, tokenID)
		case -4:
			err = b.seed(ctx, true, userID)
		default:
			return res, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("balance could not be seeded")
}

// TakeQuota takes amount from the key (unless unlimited) and its user, or
// from neither. With Redis it is served from the key's lease when the
// lease covers it, and otherwise the script tops the lease up.
func (c *Cache) TakeQuota(ctx context.Context, u *UserEntry, t *TokenEntry, amount int64) error {
	if amount < 0 {
		amount = 0
	}
	ui, ti := u.Info(), t.Info()
	if c.bal.useRedis() {
		limited := !ti.Unlimited
		for range 2 {
			ok, refill, landing := takeLeased(t, limited, amount)
			if ok {
				if refill > 0 {
					c.refillLease(u, t, limited, refill)
				}
				return nil
			}
			if landing == nil {
				break
			}
			select {
			case <-landing:
			case <-ctx.Done():
			}
		}
		wanted := beginFill(t, amount)
		res, err := c.bal.runScript(ctx, takeScript, ui.ID, ti.ID, ti.Unlimited, amount, wanted)
		if wanted > 0 {
			var ext int64
			if err == nil && res[0] == 1 {
				ext = res[3]
			}
			c.landFill(ctx, u, t, limited, ext, wanted)
		}
		if err == nil && res[0] != 1 && c.foldBack(ctx, u, t) {
			// Refused while this instance held some of the balance aside:
			// decide again on all of it.
			res, err = c.bal.runScript(ctx, takeScript, ui.ID, ti.ID, ti.Unlimited, amount, 0)
		}
		if err == nil {
			u.Quota.Store(res[1])
			if limited {
				t.Remain.Store(res[2])
			}
			switch res[0] {
			case -1:
				return ErrKeyQuota
			case -2:
				return ErrUserQuota
			}
			return nil
		}
		c.bal.markDown(err)
	}
	if !ti.Unlimited && !takeExact(&t.Remain, amount) {
		return ErrKeyQuota
	}
	if !takeExact(&u.Quota, amount) {
		if !ti.Unlimited {
			t.Remain.Add(amount)
		}
		return ErrUserQuota
	}
	if c.bal.rdb != nil {
		c.bal.recordOutage(ui.ID, ti.ID, ti.Unlimited, -amount)
	}
	return nil
}

// foldBack sends this instance's floats of u's balance and its queued
// credits to Redis at once, and reports whether there was any.
func (c *Cache) foldBack(ctx context.Context, u *UserEntry, t *TokenEntry) bool {
	had := c.credits.queuedAmount(true, u.Info().ID) != 0 ||
		(t != nil && c.credits.queuedAmount(false, t.Info().ID) != 0)
	c.releaseLeases(ctx, func(_ *TokenEntry, l *lease) bool {
		if l.user == u && l.amount > 0 {
			had = true
		}
		return l.user == u
	})
	if had {
		c.flushCredits(ctx)
	}
	return had
}

// TakeQuotaUpTo takes as much of amount as both balances allow, the same
// from each, and reports how much (the key's lease first, with Redis).
func (c *Cache) TakeQuotaUpTo(ctx context.Context, u *UserEntry, t *TokenEntry, amount int64) int64 {
	if amount <= 0 {
		return 0
	}
	ui, ti := u.Info(), t.Info()
	if c.bal.useRedis() {
		leased := takeLeasedUpTo(t, !ti.Unlimited, amount)
		if leased == amount {
			return amount
		}
		res, err := c.bal.runScript(ctx, takeUpToScript, ui.ID, ti.ID, ti.Unlimited, amount-leased, 0)
		if err == nil {
			u.Quota.Store(res[1])
			if !ti.Unlimited {
				t.Remain.Store(res[2])
			}
			return leased + res[0]
		}
		c.bal.markDown(err)
		// What was leased is taken: the lease's money left Redis before.
		return leased + c.takeUpToLocal(u, t, ti.Unlimited, amount-leased)
	}
	return c.takeUpToLocal(u, t, ti.Unlimited, amount)
}

func (c *Cache) takeUpToLocal(u *UserEntry, t *TokenEntry, unlimited bool, amount int64) int64 {
	took := takeUpTo(&u.Quota, amount)
	if !unlimited {
		got := takeUpTo(&t.Remain, took)
		if got < took {
			u.Quota.Add(took - got)
			took = got
		}
	}
	if c.bal.rdb != nil && took > 0 {
		c.bal.recordOutage(u.Info().ID, t.Info().ID, unlimited, -took)
	}
	return took
}

// GiveQuota returns amount to the key (unless unlimited) and its user.
func (c *Cache) GiveQuota(ctx context.Context, u *UserEntry, t *TokenEntry, amount int64) {
	if amount <= 0 {
		return
	}
	ui, ti := u.Info(), t.Info()
	if c.bal.useRedis() {
		if ok, excess := creditLease(t, !ti.Unlimited, amount); ok {
			if excess > 0 {
				c.giveBack(ctx, u, t, !ti.Unlimited, excess)
			}
			return
		}
	}
	if ti.Unlimited {
		// An unlimited key has no balance to give back to.
		if !c.bal.useRedis() || !c.deferCredit(u, nil, amount) {
			c.addBalances(ctx, ui.ID, 0, amount, u, nil)
		}
		return
	}
	if !c.bal.useRedis() || !c.deferCredit(u, t, amount) {
		c.addBalances(ctx, ui.ID, ti.ID, amount, u, t)
	}
}

// AddUserQuota changes a user's live balance by delta (the SQL side is the
// caller's).
func (c *Cache) AddUserQuota(ctx context.Context, id int, delta int64) {
	c.addBalances(ctx, id, 0, delta, c.UserEntry(id), nil)
}

// AddTokenRemain changes a key's live balance by delta.
func (c *Cache) AddTokenRemain(ctx context.Context, id int, delta int64) {
	c.addBalances(ctx, 0, id, delta, nil, c.TokenEntryByID(id))
}

func (c *Cache) addBalances(ctx context.Context, userID, tokenID int, delta int64, u *UserEntry, t *TokenEntry) {
	var lastErr error
	if c.bal.useRedis() {
		var keys []string
		var args []any
		if userID != 0 {
			keys, args = append(keys, c.bal.userKey(userID)), append(args, delta)
		}
		if tokenID != 0 {
			keys, args = append(keys, c.bal.tokenKey(tokenID)), append(args, delta)
		}
		res, err := c.bal.batch.run(ctx, addScript, keys, args...).Slice()
		if err == nil {
			i := 0
			if userID != 0 {
				if v, ok := res[i].(int64); ok && u != nil {
					u.Quota.Store(v)
				}
				i++
			}
			if tokenID != 0 {
				if v, ok := res[i].(int64); ok && t != nil {
					t.Remain.Store(v)
				}
			}
			return
		}
		lastErr = err
		c.bal.markDown(err)
	}
	if u != nil {
		u.Quota.Add(delta)
	}
	if t != nil {
		t.Remain.Add(delta)
	}
	if c.bal.rdb != nil && delta > 0 && lastErr != nil && mayHaveRun(lastErr) {
		// A refund or top-up whose script may have run before the reply
		// was lost: replaying it could credit it twice and let the balance
		// be overspent. It is kept locally for the outage but not
		// replayed; at worst Redis holds less than SQL says, never more.
		slog.Warn("Redis lost the reply to a balance credit; not replaying it", "user_id", userID,
			"token_id", tokenID, "amount", delta)
		return
	}
	if c.bal.rdb != nil {
		c.bal.outMu.Lock()
		users, tokens := c.bal.outageLocked()
		if userID != 0 {
			users[userID] += delta
		}
		if tokenID != 0 {
			tokens[tokenID] += delta
		}
		c.bal.outMu.Unlock()
	}
}

// UserQuota is a user's live balance.
func (c *Cache) UserQuota(ctx context.Context, id int) (int64, bool) {
	e := c.UserEntry(id)
	if c.bal.useRedis() {
		v, err := c.bal.rdb.Get(ctx, c.bal.userKey(id)).Int64()
		if errors.Is(err, redis.Nil) {
			// Not in Redis yet: this instance's copy may miss what others
			// charged, so seed from SQL (as the scripts do) and read again.
			if err = c.bal.seed(ctx, true, id); err == nil {
				v, err = c.bal.rdb.Get(ctx, c.bal.userKey(id)).Int64()
			}
		}
		if err == nil {
			if e != nil {
				e.Quota.Store(v)
			}
			return v + c.bal.leasedFor(true, id) + c.credits.queuedAmount(true, id), true
		}
		if !errors.Is(err, redis.Nil) && !errors.Is(err, ErrNotFound) {
			c.bal.markDown(err)
		}
	}
	if e == nil {
		return 0, false
	}
	return e.Quota.Load(), true
}

// TokenRemain is a key's live balance.
func (c *Cache) TokenRemain(ctx context.Context, id int) (int64, bool) {
	e := c.TokenEntryByID(id)
	if c.bal.useRedis() {
		v, err := c.bal.rdb.Get(ctx, c.bal.tokenKey(id)).Int64()
		if errors.Is(err, redis.Nil) {
			// Not in Redis yet: this instance's copy may miss what others
			// charged, so seed from SQL (as the scripts do) and read again.
			if err = c.bal.seed(ctx, false, id); err == nil {
				v, err = c.bal.rdb.Get(ctx, c.bal.tokenKey(id)).Int64()
			}
		}
		if err == nil {
			if e != nil {
				e.Remain.Store(v)
			}
			return v + c.bal.leasedFor(false, id) + c.credits.queuedAmount(false, id), true
		}
		if !errors.Is(err, redis.Nil) && !errors.Is(err, ErrNotFound) {
			c.bal.markDown(err)
		}
	}
	if e == nil {
		return 0, false
	}
	return e.Remain.Load(), true
}

// WatchRedis pings Redis while it is marked down and, when it answers
// again, replays what this instance changed meanwhile before switching
// back. It runs until ctx ends.
func (c *Cache) WatchRedis(ctx context.Context) {
	if c.bal.rdb == nil {
		return
	}
	common.Every(ctx, 500*time.Millisecond, func() {
		if !c.bal.down.Load() {
			c.ReleaseIdleLeases(ctx)
			return
		}
		if c.bal.rdb.Ping(ctx).Err() != nil {
			return
		}
		if err := c.replayOutage(ctx); err != nil {
			slog.Warn("Redis is back but replay failed; staying in memory", "err", err)
			return
		}
		c.bal.down.Store(false)
		slog.Info("Redis is back: balances shared again")
	})
}

func (c *Cache) replayOutage(ctx context.Context) error {
	c.bal.outMu.Lock()
	users, tokens := c.bal.outUser, c.bal.outToken
	c.bal.outUser, c.bal.outToken = nil, nil
	c.bal.outMu.Unlock()
	restore := func() { c.bal.mergeOutage(users, tokens) }
	for id, d := range users {
		if err := addScript.Run(ctx, c.bal.rdb, []string{c.bal.userKey(id)}, d).Err(); err != nil {
			restore()
			return err
		}
		delete(users, id)
	}
	for id, d := range tokens {
		if err := addScript.Run(ctx, c.bal.rdb, []string{c.bal.tokenKey(id)}, d).Err(); err != nil {
			restore()
			return err
		}
		delete(tokens, id)
	}
	return nil
}

// TakeUserQuotaUpTo takes as much of amount from a user's balance as it
// holds, atomically, and reports how much (an operator lowering a quota
// can never drive it below zero, even while requests spend it).
func (c *Cache) TakeUserQuotaUpTo(ctx context.Context, id int, amount int64) int64 {
	u := c.UserEntry(id)
	if u == nil || amount <= 0 {
		return 0
	}
	if c.bal.useRedis() {
		// This instance's floats and queued refunds go back first, so an
		// operator lowering a balance can take what they hold.
		c.foldBack(ctx, u, nil)
		res, err := c.bal.runScript(ctx, takeUpToScript, id, 0, true, amount, 0)
		if err == nil {
			u.Quota.Store(res[1])
			return res[0]
		}
		c.bal.markDown(err)
	}
	took := takeUpTo(&u.Quota, amount)
	if c.bal.rdb != nil && took > 0 {
		c.bal.recordOutage(id, 0, true, -took)
	}
	return took
}

// TakeTokenRemainUpTo takes as much of amount from a key's balance as it
// holds, atomically, and reports how much.
func (c *Cache) TakeTokenRemainUpTo(ctx context.Context, id int, amount int64) int64 {
	t := c.TokenEntryByID(id)
	if t == nil || amount <= 0 {
		return 0
	}
	if c.bal.useRedis() {
		c.releaseLeases(ctx, func(lt *TokenEntry, _ *lease) bool { return lt == t })
		c.flushCredits(ctx)
		res, err := c.bal.runTokenOnly(ctx, id, amount)
		if err == nil {
			t.Remain.Store(res[1])
			return res[0]
		}
		c.bal.markDown(err)
	}
	took := takeUpTo(&t.Remain, amount)
	if c.bal.rdb != nil && took > 0 {
		c.bal.outMu.Lock()
		_, tokens := c.bal.outageLocked()
		tokens[id] -= took
		c.bal.outMu.Unlock()
	}
	return took
}

var takeTokenUpToScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return {-3} end
local take = math.min(tonumber(ARGV[1]), tonumber(v))
if take < 0 then take = 0 end
return {take, redis.call('DECRBY', KEYS[1], take)}`)

func (b *balances) runTokenOnly(ctx context.Context, id int, amount int64) ([]int64, error) {
	for attempt := 0; attempt < 3; attempt++ {
		res, err := takeTokenUpToScript.Run(ctx, b.rdb, []string{b.tokenKey(id)}, amount).Int64Slice()
		if err != nil {
			return nil, err
		}
		if res[0] != -3 {
			return res, nil
		}
		if err := b.seed(ctx, false, id); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("balance could not be seeded")
}
