package model

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func redisBalance(t *testing.T, c *Cache, user bool, id int) int64 {
	t.Helper()
	key := c.bal.tokenKey(id)
	if user {
		key = c.bal.userKey(id)
	}
	v, err := c.bal.rdb.Get(context.Background(), key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A busy key's reservations and refunds are served from its lease, which
// a background script tops up before it runs out: Redis sees a script
// only for the first reservation and the top-ups, and the balances this
// instance reports still count what the lease holds.
func TestLeaseServesReservationsLocally(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1_000_000, 500_000, false)
	attach(t, c, url)
	ctx := context.Background()
	uid, tid := u.Info().ID, tok.Info().ID
	const lease = leaseFactor * 100
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	if got := redisBalance(t, c, true, uid); got != 1_000_000-100-lease {
		t.Fatalf("Redis user balance %d after the first reservation, want the reservation and a lease of %d taken", got, lease)
	}
	// Down to a third of the lease, every reservation is served locally.
	taken := int64(100)
	for tok.lease.amount-100 >= lease/refillBelow {
		if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
			t.Fatal(err)
		}
		taken += 100
	}
	c.bal.refills.Wait()
	if got := redisBalance(t, c, true, uid); got != 1_000_000-100-lease {
		t.Fatalf("Redis user balance %d after %d reservations: a reservation served from the lease reached Redis", got, taken/100)
	}
	// The next one leaves the lease below a third: it is topped up to its
	// cap in the background, and what Redis holds plus the lease is still
	// the balance less what was reserved.
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	taken += 100
	c.bal.refills.Wait()
	if got := tok.lease.amount; got != lease {
		t.Fatalf("lease holds %d after its top-up, want its cap %d", got, lease)
	}
	if got := redisBalance(t, c, true, uid); got != 1_000_000-taken-lease {
		t.Fatalf("Redis user balance %d after the top-up, want %d", got, 1_000_000-taken-lease)
	}
	if got := redisBalance(t, c, false, tid); got != 500_000-taken-lease {
		t.Fatalf("Redis key balance %d after the top-up, want %d", got, 500_000-taken-lease)
	}
	// A refund beyond the cap goes back to Redis (queued as a credit).
	c.GiveQuota(ctx, u, tok, 40)
	if got, _ := c.UserQuota(ctx, uid); got != 1_000_000-taken+40 {
		t.Fatalf("reported user balance %d, want %d", got, 1_000_000-taken+40)
	}
	if got, _ := c.TokenRemain(ctx, tid); got != 500_000-taken+40 {
		t.Fatalf("reported key balance %d, want %d", got, 500_000-taken+40)
	}
	c.FlushCredits(ctx)
	if got := redisBalance(t, c, true, uid); got != 1_000_000-taken+40 {
		t.Fatalf("Redis user balance %d after shutdown's flush, want %d", got, 1_000_000-taken+40)
	}
	if got := redisBalance(t, c, false, tid); got != 500_000-taken+40 {
		t.Fatalf("Redis key balance %d after shutdown's flush, want %d", got, 500_000-taken+40)
	}
}

// Shutdown's flush waits for a top-up still in flight, so the quota it
// takes is not stranded in a lease nobody gives back.
func TestFlushCreditsWaitsForLeaseTopUp(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1_000_000, 0, true)
	attach(t, c, url)
	ctx := context.Background()
	taken := int64(0)
	for taken == 0 || tok.lease.amount-100 >= leaseFactor*100/refillBelow {
		if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
			t.Fatal(err)
		}
		taken += 100
	}
	// This one starts a top-up; the flush follows at once, long before a
	// Redis round trip could end.
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	taken += 100
	c.FlushCredits(ctx)
	c.bal.refills.Wait() // a top-up the flush did not wait for lands now
	if got := redisBalance(t, c, true, u.Info().ID); got != 1_000_000-taken {
		t.Fatalf("Redis user balance %d after shutdown's flush, want %d: a top-up's quota was stranded", got, 1_000_000-taken)
	}
}

// Two instances spending one user's balance at once, each with leases:
// never more than the balance is spent, Redis never goes below zero, and
// once the leases are back Redis holds exactly the balance minus what was
// taken.
func TestLeasesNeverOverspendAcrossInstances(t *testing.T) {
	url := redisURL(t)
	a, _, _ := ledgerFixture(t, 100_000, 0, true)
	_, prefix := attach(t, a, url)
	b := NewCache(a.store)
	if err := b.Load(); err != nil {
		t.Fatal(err)
	}
	rdbB, _ := attach(t, b, url)
	b.AttachRedis(rdbB, prefix, nil) // the same keys as a
	ctx := context.Background()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range 400 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.TakeQuota(ctx, c.UserEntry(1), c.TokenEntryByID(1), 500)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrUserQuota):
			default:
				t.Errorf("unexpected error %v", err)
			}
			if v := redisBalance(t, a, true, 1); v < 0 {
				t.Errorf("user balance in Redis went negative: %d", v)
			}
		}()
	}
	wg.Wait()
	// Each instance may hold a lease when the last reservations are
	// refused elsewhere, and a top-up of it in flight: up to twice a
	// lease's cap (leaseFactor reservations) out of Redis per instance.
	if n := ok.Load(); n > 200 || n < 200-2*2*leaseFactor {
		t.Fatalf("%d reservations of 500 succeeded against a balance of 100,000 (want at most 200, and at least 200 less a lease and a top-up per instance)", n)
	}
	a.FlushCredits(ctx)
	b.FlushCredits(ctx)
	if got := redisBalance(t, a, true, 1); got != 100_000-500*ok.Load() {
		t.Fatalf("Redis user balance %d once the leases are back, want %d", got, 100_000-500*ok.Load())
	}
}

// Near zero no lease is taken, and one held from earlier goes back to
// Redis before a reservation is refused, so a single instance refuses only
// what the whole balance cannot cover.
func TestLeaseFoldsBackBeforeRefusing(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 10_000, 0, true)
	attach(t, c, url)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	if got := redisBalance(t, c, true, u.Info().ID); got != 10_000-1600 {
		t.Fatalf("no lease taken: Redis holds %d", got)
	}
	if err := c.TakeQuota(ctx, u, tok, 9_000); err != nil {
		t.Fatalf("9,000 of the 9,900 left was refused: %v", err)
	}
	if got, _ := c.UserQuota(ctx, u.Info().ID); got != 900 {
		t.Fatalf("user balance %d, want 900", got)
	}
	if err := c.TakeQuota(ctx, u, tok, 901); !errors.Is(err, ErrUserQuota) {
		t.Fatalf("901 of 900: err = %v", err)
	}
	if got := redisBalance(t, c, true, u.Info().ID); got != 900 {
		t.Fatalf("a lease was taken near zero: Redis holds %d of 900", got)
	}
}

// An operator lowering a balance can take what this instance's lease
// holds.
func TestOperatorTakeReachesLeasedQuota(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 10_000, 10_000, false)
	attach(t, c, url)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	if got := c.TakeUserQuotaUpTo(ctx, u.Info().ID, 1<<40); got != 9_900 {
		t.Fatalf("operator took %d, want all 9,900", got)
	}
	if got := c.TakeTokenRemainUpTo(ctx, tok.Info().ID, 1<<40); got != 9_900 {
		t.Fatalf("operator took %d from the key, want all 9,900", got)
	}
	if got := redisBalance(t, c, true, u.Info().ID); got != 0 {
		t.Fatalf("user balance in Redis %d, want 0", got)
	}
}

// A key idle for leaseIdle gives its lease back.
func TestIdleLeaseGoesBack(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1_000_000, 0, true)
	attach(t, c, url)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	c.ReleaseIdleLeases(ctx)
	if got := redisBalance(t, c, true, u.Info().ID); got != 1_000_000-1600 {
		t.Fatalf("a lease in use went back: Redis holds %d", got)
	}
	tok.lease.mu.Lock()
	tok.lease.used = time.Now().Add(-2 * leaseIdle)
	tok.lease.mu.Unlock()
	c.ReleaseIdleLeases(ctx)
	if got := redisBalance(t, c, true, u.Info().ID); got != 1_000_000-100 {
		t.Fatalf("Redis holds %d after the idle lease went back, want %d", got, 1_000_000-100)
	}
}

// When Redis fails, the leases become local balance and are replayed to
// Redis when it returns: nothing is lost or counted twice.
func TestLeaseMovesLocalWhenRedisFails(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1_000_000, 50_000, false)
	attach(t, c, url)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 100); err != nil {
		t.Fatal(err)
	}
	c.bal.markDown(errors.New("injected"))
	if got := u.Quota.Load(); got != 1_000_000-100 {
		t.Fatalf("local user balance %d during the outage, want %d", got, 1_000_000-100)
	}
	if got := tok.Remain.Load(); got != 50_000-100 {
		t.Fatalf("local key balance %d during the outage, want %d", got, 50_000-100)
	}
	if err := c.TakeQuota(ctx, u, tok, 200); err != nil {
		t.Fatal(err)
	}
	if err := c.replayOutage(ctx); err != nil {
		t.Fatal(err)
	}
	c.bal.down.Store(false)
	if got := redisBalance(t, c, true, u.Info().ID); got != 1_000_000-300 {
		t.Fatalf("Redis user balance %d after the replay, want %d", got, 1_000_000-300)
	}
	if got := redisBalance(t, c, false, tok.Info().ID); got != 50_000-300 {
		t.Fatalf("Redis key balance %d after the replay, want %d", got, 50_000-300)
	}
}

// A top-up sized when it started can land on a lease another top-up filled
// meanwhile: what passes the lease's cap goes back to Redis rather than
// piling up here, where another instance's reservations cannot reach it
// (leases of six times their cap were seen before).
func TestFillLeaseReturnsWhatPassesTheCap(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1_000_000, 0, true)
	attach(t, c, url)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 1_000); err != nil {
		t.Fatal(err)
	}
	capped := int64(leaseFactor * 1_000)
	if got := c.bal.leasedFor(true, u.Info().ID); got != capped {
		t.Fatalf("lease %d after the first reservation, want its cap %d", got, capped)
	}
	stale, _, excess := c.fillLease(u, tok, false, 4_000, 0)
	if stale != 0 || excess != 4_000 {
		t.Fatalf("a top-up of 4,000 on a full lease: stale %d, excess %d, want 0 and 4,000", stale, excess)
	}
	if got := c.bal.leasedFor(true, u.Info().ID); got != capped {
		t.Fatalf("lease %d after the top-up, want its cap %d", got, capped)
	}
	if err := c.TakeQuota(ctx, u, tok, 1_000); err != nil { // from the lease
		t.Fatal(err)
	}
	stale, _, excess = c.fillLease(u, tok, false, 1_500, 0)
	if stale != 0 || excess != 500 {
		t.Fatalf("a top-up of 1,500 on a lease 1,000 short: stale %d, excess %d, want 0 and 500", stale, excess)
	}
}
