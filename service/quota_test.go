package service_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"sluice/service"
)

func TestReserve(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		user, remain         int64
		unlimited            bool
		amount               int64
		wantErr              error
		wantUser, wantRemain int64
		wantAmount           int64
	}{
		{"both cover it", 1000, 500, false, 100, nil, 900, 400, 100},
		{"exactly the balance", 100, 100, false, 100, nil, 0, 0, 100},
		{"key cannot cover it", 1000, 99, false, 100, service.ErrKeyQuota, 1000, 99, 0},
		{"user cannot cover it: key is given back", 99, 500, false, 100, service.ErrUserQuota, 99, 500, 0},
		{"unlimited key ignores its remain", 1000, 0, true, 100, nil, 900, 0, 100},
		{"unlimited key, user short", 50, 0, true, 100, service.ErrUserQuota, 50, 0, 0},
		{"zero estimate", 0, 0, false, 0, nil, 0, 0, 0},
		{"negative estimate holds nothing", 10, 10, false, -5, nil, 10, 10, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, u, k := entries(tc.user, tc.remain, tc.unlimited)
			r, err := service.Reserve(t.Context(), c, u, k, tc.amount)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && r.Amount() != tc.wantAmount {
				t.Errorf("Amount = %d, want %d", r.Amount(), tc.wantAmount)
			}
			if u.Quota.Load() != tc.wantUser || k.Remain.Load() != tc.wantRemain {
				t.Errorf("balances user %d key %d, want %d %d", u.Quota.Load(), k.Remain.Load(), tc.wantUser, tc.wantRemain)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		user, remain         int64
		unlimited            bool
		reserve, cost        int64
		charged, unpaid      int64
		wantUser, wantRemain int64
	}{
		{"below the reservation: difference refunded", 1000, 500, false, 100, 40, 40, 0, 960, 460},
		{"exactly the reservation", 1000, 500, false, 100, 100, 100, 0, 900, 400},
		{"above, covered by both", 1000, 500, false, 100, 150, 150, 0, 850, 350},
		{"zero cost: everything back", 1000, 500, false, 100, 0, 0, 0, 1000, 500},
		{"negative cost counts as zero", 1000, 500, false, 100, -7, 0, 0, 1000, 500},
		// After the reservation the user has 20 left: 20 more is charged,
		// 180 is unpaid, the user stops at 0.
		{"above, user short", 120, 500, false, 100, 300, 120, 180, 0, 380},
		// The key has 10 left after the reservation: only 10 more can be
		// charged, the user is not charged what the key could not pay.
		{"above, key short", 1000, 110, false, 100, 300, 110, 190, 890, 0},
		{"above, both short", 130, 105, false, 100, 300, 105, 195, 25, 0},
		{"unlimited key untouched, below", 1000, 7, true, 100, 30, 30, 0, 970, 7},
		{"unlimited key untouched, above", 1000, 7, true, 100, 150, 150, 0, 850, 7},
		{"unlimited key, user short", 120, 7, true, 100, 150, 120, 30, 0, 7},
		{"nothing reserved, cost covered", 50, 50, false, 0, 30, 30, 0, 20, 20},
		{"nothing reserved, nothing left", 0, 0, false, 0, 30, 0, 30, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, u, k := entries(tc.user, tc.remain, tc.unlimited)
			r, err := service.Reserve(t.Context(), c, u, k, tc.reserve)
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			charged, unpaid := r.Settle(t.Context(), tc.cost)
			if charged != tc.charged || unpaid != tc.unpaid {
				t.Errorf("Settle(%d) = charged %d, unpaid %d; want %d, %d", tc.cost, charged, unpaid, tc.charged, tc.unpaid)
			}
			if u.Quota.Load() != tc.wantUser || k.Remain.Load() != tc.wantRemain {
				t.Errorf("balances user %d key %d, want %d %d", u.Quota.Load(), k.Remain.Load(), tc.wantUser, tc.wantRemain)
			}
			// Money invariants: what left the user is what was charged, and
			// for a limited key the same left the key.
			if got := tc.user - u.Quota.Load(); got != charged {
				t.Errorf("user paid %d, charged %d", got, charged)
			}
			if !tc.unlimited && tc.remain-k.Remain.Load() != charged {
				t.Errorf("key paid %d, charged %d", tc.remain-k.Remain.Load(), charged)
			}
			if max(tc.cost, 0) != charged+unpaid {
				t.Errorf("charged %d + unpaid %d != cost %d", charged, unpaid, tc.cost)
			}
			// Whatever comes after the first settlement is a no-op.
			if c, up := r.Settle(t.Context(), tc.cost); c != 0 || up != 0 {
				t.Errorf("second Settle = %d, %d", c, up)
			}
			r.Refund(t.Context())
			if u.Quota.Load() != tc.wantUser || k.Remain.Load() != tc.wantRemain {
				t.Errorf("Refund after Settle moved balances to user %d key %d", u.Quota.Load(), k.Remain.Load())
			}
		})
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	for _, unlimited := range []bool{false, true} {
		c, u, k := entries(1000, 500, unlimited)
		r, err := service.Reserve(t.Context(), c, u, k, 300)
		if err != nil {
			t.Fatal(err)
		}
		r.Refund(t.Context())
		if u.Quota.Load() != 1000 || k.Remain.Load() != 500 {
			t.Errorf("unlimited=%v: after Refund user %d key %d, want 1000 500", unlimited, u.Quota.Load(), k.Remain.Load())
		}
		r.Refund(t.Context())
		if c, up := r.Settle(t.Context(), 200); c != 0 || up != 0 {
			t.Errorf("unlimited=%v: Settle after Refund = %d, %d; want 0, 0", unlimited, c, up)
		}
		if u.Quota.Load() != 1000 || k.Remain.Load() != 500 {
			t.Errorf("unlimited=%v: Refund twice / Settle after Refund moved balances: user %d key %d",
				unlimited, u.Quota.Load(), k.Remain.Load())
		}
	}
}

// Refund and Settle racing on one reservation (the client disconnects as the
// usage arrives): exactly one takes effect.
func TestRefundSettleRace(t *testing.T) {
	t.Parallel()
	for range 200 {
		c, u, k := entries(1000, 1000, false)
		r, _ := service.Reserve(t.Context(), c, u, k, 100)
		var charged atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() { c, _ := r.Settle(t.Context(), 150); charged.Store(c) })
		wg.Go(func() { r.Refund(t.Context()) })
		wg.Wait()
		if c := charged.Load(); c != 0 && c != 150 {
			t.Fatalf("charged %d", c)
		}
		if want := 1000 - charged.Load(); u.Quota.Load() != want || k.Remain.Load() != want {
			t.Fatalf("charged %d but user %d key %d", charged.Load(), u.Quota.Load(), k.Remain.Load())
		}
	}
}

// Many requests on one user whose balance covers about 50 of them: no
// balance is ever seen negative, and what left the balances is exactly
// what Settle reported as charged.
func TestReserveSettleConcurrent(t *testing.T) {
	t.Parallel()
	const (
		workers  = 200
		estimate = 100
		initial  = 50 * estimate
		keyStart = 30 * estimate
	)
	ce := newCacheEntries(initial, keyStart)
	cache, user, limited, unlimited := ce.cache, ce.user, ce.limited, ce.unlimited

	var (
		stop     atomic.Bool
		negative atomic.Int64 // count of negative observations
		charged  [2]atomic.Int64
		unpaid   atomic.Int64
		refused  atomic.Int64
		wg       sync.WaitGroup
	)
	observe := func() {
		if user.Quota.Load() < 0 || limited.Remain.Load() < 0 {
			negative.Add(1)
		}
	}
	var obs sync.WaitGroup
	obs.Go(func() {
		for !stop.Load() {
			observe()
		}
	})
	// Every worker reserves, then waits until all have tried, so about 50
	// reservations are in flight at once and the balance is at zero when
	// they settle: settlements above the estimate then compete for what
	// the cheaper ones give back, and some end unpaid. Each worker then
	// makes two more requests mixed with everyone else's.
	var reserved sync.WaitGroup
	reserved.Add(workers)
	gate := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			key, which := limited, 0
			if i%2 == 1 {
				key, which = unlimited, 1
			}
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for round := range 3 {
				r, err := service.Reserve(t.Context(), cache, user, key, estimate)
				observe()
				if round == 0 {
					reserved.Done()
					<-gate
				}
				if err != nil {
					refused.Add(1)
					continue
				}
				switch rng.IntN(5) {
				case 0: // the request failed: it costs nothing
					r.Refund(t.Context())
				default: // real cost 0..2.5x the estimate
					c, up := r.Settle(t.Context(), int64(rng.IntN(estimate*5/2+1)))
					charged[which].Add(c)
					unpaid.Add(up)
				}
				observe()
			}
		})
	}
	reserved.Wait()
	close(gate)
	wg.Wait()
	stop.Store(true)
	obs.Wait()

	if n := negative.Load(); n != 0 {
		t.Errorf("a balance was seen negative %d times", n)
	}
	total := charged[0].Load() + charged[1].Load()
	if got := initial - user.Quota.Load(); got != total {
		t.Errorf("user: initial - final = %d, sum charged = %d", got, total)
	}
	if got := keyStart - limited.Remain.Load(); got != charged[0].Load() {
		t.Errorf("limited key: initial - final = %d, charged through it = %d", got, charged[0].Load())
	}
	if unlimited.Remain.Load() != 0 {
		t.Errorf("unlimited key's remain moved to %d", unlimited.Remain.Load())
	}
	if refused.Load() == 0 || unpaid.Load() == 0 {
		t.Errorf("refused %d, unpaid %d: the test did not exhaust the balance", refused.Load(), unpaid.Load())
	}
	t.Logf("charged %d (limited %d), unpaid %d, refused %d, user left %d, key left %d",
		total, charged[0].Load(), unpaid.Load(), refused.Load(), user.Quota.Load(), limited.Remain.Load())
}
