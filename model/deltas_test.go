package model_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"sluice/internal/testdb"
	"sluice/model"
)

type userRow struct{ Quota, UsedQuota, RequestCount int64 }
type tokenRow struct{ RemainQuota, UsedQuota, AccessedTime int64 }

func readUser(t *testing.T, s *model.Store, id int) userRow {
	t.Helper()
	var r userRow
	if err := s.DB.Raw("SELECT quota, used_quota, request_count FROM users WHERE id = ?", id).Scan(&r).Error; err != nil {
		t.Fatal(err)
	}
	return r
}

func readToken(t *testing.T, s *model.Store, id int) tokenRow {
	t.Helper()
	var r tokenRow
	if err := s.DB.Raw("SELECT remain_quota, used_quota, accessed_time FROM tokens WHERE id = ?", id).Scan(&r).Error; err != nil {
		t.Fatal(err)
	}
	return r
}

func TestApplyDeltas(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 1000)
		u2 := mustCreateUser(t, s, 50)
		tok, _ := mustCreateToken(t, s, u.ID, 500, false)
		if err := s.UpdateTokenFields(tok.ID, map[string]any{"accessed_time": 100}); err != nil {
			t.Fatal(err)
		}
		ch := mustCreateChannel(t, s, model.Channel{Models: "m"}, "k")

		// An admin top-up between two batches must survive: updates are
		// relative, never "set to what the writer last saw".
		if err := s.AddUserQuota(u.ID, 100); err != nil {
			t.Fatal(err)
		}
		d := model.Deltas{
			Users:    map[int]model.UserDelta{u.ID: {Quota: 30, UsedQuota: 30, RequestCount: 2}, u2.ID: {Quota: 5, UsedQuota: 5, RequestCount: 1}},
			Tokens:   map[int]model.TokenDelta{tok.ID: {RemainQuota: 30, UsedQuota: 30, AccessedTime: 200}},
			Channels: map[int]int64{ch.ID: 35},
		}
		if err := s.ApplyDeltas(d); err != nil {
			t.Fatalf("ApplyDeltas: %v", err)
		}
		if got := readUser(t, s, u.ID); got != (userRow{1070, 30, 2}) {
			t.Errorf("user after batch 1: %+v", got)
		}
		if got := readUser(t, s, u2.ID); got != (userRow{45, 5, 1}) {
			t.Errorf("user 2 after batch 1: %+v", got)
		}
		if got := readToken(t, s, tok.ID); got != (tokenRow{470, 30, 200}) {
			t.Errorf("token after batch 1: %+v", got)
		}

		// accessed_time only moves forward; an older batch leaves it.
		d2 := model.Deltas{Tokens: map[int]model.TokenDelta{tok.ID: {RemainQuota: 10, UsedQuota: 10, AccessedTime: 150}}}
		if err := s.ApplyDeltas(d2); err != nil {
			t.Fatal(err)
		}
		if got := readToken(t, s, tok.ID); got != (tokenRow{460, 40, 200}) {
			t.Errorf("token after an older access time: %+v", got)
		}
		// A zero access time (unknown) leaves it too.
		if err := s.ApplyDeltas(model.Deltas{Tokens: map[int]model.TokenDelta{tok.ID: {UsedQuota: 1}}}); err != nil {
			t.Fatal(err)
		}
		if got := readToken(t, s, tok.ID); got != (tokenRow{460, 41, 200}) {
			t.Errorf("token after a zero access time: %+v", got)
		}
		if got, _ := s.ChannelByID(ch.ID); got.UsedQuota != 35 {
			t.Errorf("channel used_quota = %d, want 35", got.UsedQuota)
		}
		if err := s.ApplyDeltas(model.Deltas{}); err != nil {
			t.Errorf("empty ApplyDeltas: %v", err)
		}
	})
}

// A charge queued before a user was (soft-)deleted still lands on that
// user's row: the money was spent.
func TestApplyDeltasChargesSoftDeletedUser(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 100)
		if err := s.DB.Delete(&model.User{}, u.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyDeltas(model.Deltas{Users: map[int]model.UserDelta{u.ID: {Quota: 10, UsedQuota: 10, RequestCount: 1}}}); err != nil {
			t.Fatal(err)
		}
		if got := readUser(t, s, u.ID); got != (userRow{90, 10, 1}) {
			t.Errorf("soft-deleted user after charge: %+v", got)
		}
	})
}

// failOn makes every UPDATE of table fail while on is set, after the
// statements before it in the same transaction have run.
func failOn(t *testing.T, db *gorm.DB, table string, on *atomic.Bool) {
	t.Helper()
	err := db.Callback().Update().Before("gorm:update").Register("test:fail_"+table, func(tx *gorm.DB) {
		if on.Load() && tx.Statement.Table == table {
			_ = tx.AddError(errors.New("injected failure updating " + table))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestApplyDeltasIsOneTransaction(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 1000)
		tok, _ := mustCreateToken(t, s, u.ID, 500, false)
		ch := mustCreateChannel(t, s, model.Channel{Models: "m"}, "k")
		var broken atomic.Bool
		broken.Store(true)
		// Channels are written last, so users and tokens are already
		// updated inside the transaction when it fails.
		failOn(t, s.DB, "channels", &broken)

		d := model.Deltas{
			Users:    map[int]model.UserDelta{u.ID: {Quota: 30, UsedQuota: 30, RequestCount: 1}},
			Tokens:   map[int]model.TokenDelta{tok.ID: {RemainQuota: 30, UsedQuota: 30, AccessedTime: 99}},
			Channels: map[int]int64{ch.ID: 30},
		}
		if err := s.ApplyDeltas(d); err == nil {
			t.Fatal("ApplyDeltas succeeded despite the injected failure")
		}
		if got := readUser(t, s, u.ID); got != (userRow{1000, 0, 0}) {
			t.Errorf("user changed by a failed batch: %+v", got)
		}
		if got := readToken(t, s, tok.ID); got.RemainQuota != 500 || got.UsedQuota != 0 {
			t.Errorf("token changed by a failed batch: %+v", got)
		}
		broken.Store(false)
		if err := s.ApplyDeltas(d); err != nil {
			t.Fatal(err)
		}
		if got := readUser(t, s, u.ID); got != (userRow{970, 30, 1}) {
			t.Errorf("user after retry: %+v", got)
		}
	})
}

func TestAddTokenRemainAndUserQuota(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 100)
		tok, _ := mustCreateToken(t, s, u.ID, 10, false)
		if err := s.AddUserQuota(u.ID, -40); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTokenRemain(tok.ID, 15); err != nil {
			t.Fatal(err)
		}
		if got := readUser(t, s, u.ID); got.Quota != 60 {
			t.Errorf("user quota = %d, want 60", got.Quota)
		}
		if got := readToken(t, s, tok.ID); got.RemainQuota != 25 {
			t.Errorf("token remain = %d, want 25", got.RemainQuota)
		}
	})
}
