package service_test

import (
	"testing"

	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
	"sluice/service"
)

// An operator sets a key's remaining quota while charges are queued in the
// batch writer and a request is in flight: SQL ends at the target minus
// what is charged afterwards, and the live balance agrees with SQL.
func TestSetTokenRemainWithQueuedCharges(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 1000)
		w := service.NewBatchWriter(s, false)
		ue, te := a.cache.UserEntry(a.user.ID), a.cache.TokenEntryByID(a.key.ID)

		for _, cost := range []int64{80, 50} { // settled, queued, not flushed
			r, err := service.Reserve(t.Context(), a.cache, ue, te, 100)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := r.Settle(t.Context(), cost)
			w.RecordCharge(a.charge(a.key, c))
		}
		inflight, err := service.Reserve(t.Context(), a.cache, ue, te, 100)
		if err != nil {
			t.Fatal(err)
		}
		if te.Remain.Load() != 770 || a.sql(t).KeyRemain != 1000 {
			t.Fatalf("setup: live %d, SQL %d", te.Remain.Load(), a.sql(t).KeyRemain)
		}

		if err := service.SetTokenRemain(s, a.cache, w, a.key.ID, 2000); err != nil {
			t.Fatalf("SetTokenRemain: %v", err)
		}
		if got := a.sql(t).KeyRemain; got != 2000 {
			t.Errorf("SQL remain = %d right after setting 2000", got)
		}
		if got := te.Remain.Load(); got != 1900 {
			t.Errorf("live remain = %d, want 1900 (2000 minus the 100 in flight)", got)
		}

		c, _ := inflight.Settle(t.Context(), 60)
		w.RecordCharge(a.charge(a.key, c))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got := a.sql(t)
		if got.KeyRemain != 1940 || te.Remain.Load() != 1940 {
			t.Errorf("after settling: SQL %d, live %d; want both 1940", got.KeyRemain, te.Remain.Load())
		}
		if got.KeyUsed != 190 || got.LogQuota != 190 || got.Logs != 3 {
			t.Errorf("used %d, log sum %d over %d logs; want 190, 190, 3", got.KeyUsed, got.LogQuota, got.Logs)
		}

		// Setting the value it already has is a no-op.
		if err := service.SetTokenRemain(s, a.cache, w, a.key.ID, 1940); err != nil {
			t.Fatal(err)
		}
		if a.sql(t).KeyRemain != 1940 || te.Remain.Load() != 1940 {
			t.Errorf("no-op set moved the balance")
		}
	})
}

// Lowering a key below what is already reserved in flight must not drive
// the key negative when that request settles (balances never go below zero).
func TestSetTokenRemainBelowInFlightNeverNegative(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 1000)
		w := service.NewBatchWriter(s, false)
		ue, te := a.cache.UserEntry(a.user.ID), a.cache.TokenEntryByID(a.key.ID)
		inflight, err := service.Reserve(t.Context(), a.cache, ue, te, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := service.SetTokenRemain(s, a.cache, w, a.key.ID, 10); err != nil {
			t.Fatal(err)
		}
		if live := te.Remain.Load(); live < 0 {
			t.Errorf("live key balance %d after setting remain to 10 with 100 in flight", live)
		}
		c, _ := inflight.Settle(t.Context(), 100)
		w.RecordCharge(a.charge(a.key, c))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := a.sql(t).KeyRemain; got < 0 || te.Remain.Load() < 0 {
			t.Errorf("key balance negative after settling: SQL %d, live %d", got, te.Remain.Load())
		}
	})
}

func TestAddUserQuotaWithQueuedCharges(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 1000, 100_000)
		w := service.NewBatchWriter(s, false)
		ue := a.cache.UserEntry(a.user.ID)
		r, err := service.Reserve(t.Context(), a.cache, ue, a.cache.TokenEntryByID(a.key.ID), 300)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := r.Settle(t.Context(), 300)
		w.RecordCharge(a.charge(a.key, c)) // queued: live 700, SQL 1000

		applied, err := service.AddUserQuota(s, a.cache, a.user.ID, 500)
		if err != nil || applied != 500 {
			t.Fatalf("top-up = %d, %v", applied, err)
		}
		if got := a.sql(t).UserQuota; got != 1500 || ue.Quota.Load() != 1200 {
			t.Errorf("after top-up: SQL %d (want 1500), live %d (want 1200)", got, ue.Quota.Load())
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := a.sql(t).UserQuota; got != 1200 || ue.Quota.Load() != 1200 {
			t.Errorf("after flush: SQL %d, live %d; want both 1200", got, ue.Quota.Load())
		}

		// A deduction larger than the balance is clamped at zero, also
		// with charges still queued.
		r, _ = service.Reserve(t.Context(), a.cache, ue, a.cache.TokenEntryByID(a.key.ID), 200)
		c, _ = r.Settle(t.Context(), 200)
		w.RecordCharge(a.charge(a.key, c)) // live 1000, SQL 1200
		applied, err = service.AddUserQuota(s, a.cache, a.user.ID, -5000)
		if err != nil || applied != -1000 {
			t.Fatalf("deduction applied %d, %v; want -1000", applied, err)
		}
		if ue.Quota.Load() != 0 {
			t.Errorf("live balance %d after over-deduction", ue.Quota.Load())
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got := a.sql(t)
		if got.UserQuota != 0 || got.UserUsed != 500 || got.LogQuota != 500 {
			t.Errorf("after flush: %+v; want quota 0, used 500, log sum 500", got)
		}
	})
}

// A user this instance has not cached yet (created elsewhere within the
// last SYNC_FREQUENCY): a deduction is still clamped at zero in SQL.
func TestAddUserQuotaUncachedUserNeverNegative(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := &model.User{Username: testenv.Name("u-"), Password: "x", Quota: 100}
		if err := s.CreateUser(u); err != nil {
			t.Fatal(err)
		}
		empty := model.NewCache(s) // not loaded: knows nobody
		if _, err := service.AddUserQuota(s, empty, u.ID, 50); err != nil {
			t.Fatal(err)
		}
		got, _ := s.UserByID(u.ID)
		if got.Quota != 150 {
			t.Fatalf("top-up of an uncached user: %d, want 150", got.Quota)
		}
		if _, err := service.AddUserQuota(s, empty, u.ID, -1000); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(u.ID); got.Quota < 0 {
			t.Errorf("deduction took an uncached user's quota to %d", got.Quota)
		}
	})
}
