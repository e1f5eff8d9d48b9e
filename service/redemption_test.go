package service

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/testdb"
	"sluice/model"
)

func TestNewRedemptionsValidate(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	ok := NewRedemptions{Name: "promo", Quota: 1, Count: 1}
	tests := []struct {
		name    string
		change  func(*NewRedemptions)
		wantErr string
	}{
		{name: "valid", change: func(*NewRedemptions) {}},
		{name: "100 codes", change: func(n *NewRedemptions) { n.Count = 100 }},
		{name: "128-byte name", change: func(n *NewRedemptions) { n.Name = strings.Repeat("n", 128) }},
		{name: "future expiry", change: func(n *NewRedemptions) { n.ExpiredTime = now.Unix() + 1 }},
		{name: "empty name", change: func(n *NewRedemptions) { n.Name = "  " }, wantErr: "name"},
		{name: "129-byte name", change: func(n *NewRedemptions) { n.Name = strings.Repeat("n", 129) }, wantErr: "name"},
		{name: "zero quota", change: func(n *NewRedemptions) { n.Quota = 0 }, wantErr: "quota"},
		{name: "negative quota", change: func(n *NewRedemptions) { n.Quota = -5 }, wantErr: "quota"},
		{name: "zero codes", change: func(n *NewRedemptions) { n.Count = 0 }, wantErr: "count"},
		{name: "101 codes", change: func(n *NewRedemptions) { n.Count = 101 }, wantErr: "count"},
		{name: "past expiry", change: func(n *NewRedemptions) { n.ExpiredTime = now.Unix() }, wantErr: "expired_time"},
		{name: "negative expiry", change: func(n *NewRedemptions) { n.ExpiredTime = -1 }, wantErr: "expired_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := ok
			tt.change(&n)
			err := n.Validate(now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestCreateRedemptionsStoresOnlyHashes(t *testing.T) {
	t.Parallel()
	s := testdb.Store(t, model.DialectSQLite)
	codes, err := CreateRedemptions(s, NewRedemptions{CreatorID: 1, Name: " promo ", Quota: 500, Count: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 20 {
		t.Fatalf("%d codes, want 20", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !plausibleCode(c) || seen[c] {
			t.Fatalf("code %q is not 32 alphanumerics or repeats", c)
		}
		seen[c] = true
	}
	rows, total, err := s.ListRedemptions(model.RedemptionFilter{Page: 1, PageSize: 100})
	if err != nil || total != 20 {
		t.Fatalf("list = %d, %v", total, err)
	}
	hashes := map[string]bool{}
	for _, c := range codes {
		hashes[common.HashSecret(c)] = true
	}
	for _, r := range rows {
		if !hashes[r.KeyHash] || r.Name != "promo" || r.Quota != 500 || r.Status != model.RedemptionStatusUnused || r.UserID != 1 || r.CreatedTime == 0 {
			t.Fatalf("stored row = %+v", r)
		}
		if strings.Count(r.MaskedKey, "*") != 8 || len(r.MaskedKey) != 16 {
			t.Fatalf("masked key %q should show 8 of 32 characters", r.MaskedKey)
		}
		for _, c := range codes {
			if strings.Contains(r.KeyHash+r.MaskedKey+r.Name, c) {
				t.Fatal("a code is stored in clear")
			}
		}
	}
	if _, err := CreateRedemptions(s, NewRedemptions{Name: "x", Quota: 1, Count: 0}); err == nil {
		t.Fatal("CreateRedemptions accepted count 0")
	}
}

// redeemFixture is a store with users in a loaded cache and a redeemer.
type redeemFixture struct {
	store *model.Store
	cache *model.Cache
	w     *BatchWriter
	r     *Redeemer
	users []*model.User
}

func newRedeemFixture(t *testing.T, s *model.Store, users int) *redeemFixture {
	t.Helper()
	f := &redeemFixture{store: s, w: NewBatchWriter(s, false)}
	for i := range users {
		u := &model.User{Username: "user" + itoa(i), Password: "x", Role: 1, Status: 1, Quota: 1000}
		if err := s.CreateUser(u); err != nil {
			t.Fatal(err)
		}
		f.users = append(f.users, u)
	}
	f.cache = model.NewCache(s)
	if err := f.cache.Load(); err != nil {
		t.Fatal(err)
	}
	f.r = &Redeemer{Store: s, Cache: f.cache, Writer: f.w}
	return f
}

func (f *redeemFixture) code(t *testing.T, quota int64) string {
	t.Helper()
	codes, err := CreateRedemptions(f.store, NewRedemptions{Name: "c", Quota: quota, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return codes[0]
}

func (f *redeemFixture) topupLogs(t *testing.T) []model.Log {
	t.Helper()
	if err := f.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var logs []model.Log
	if err := f.store.LogDB.Where("type = ?", constant.LogTypeTopup).Find(&logs).Error; err != nil {
		t.Fatal(err)
	}
	return logs
}

func TestRedeemConcurrentExactlyOnce(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		f := newRedeemFixture(t, s, 5)
		code := f.code(t, 123_456)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
		)
		start := make(chan struct{})
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := f.users[i%len(f.users)]
				<-start
				q, err := f.r.Redeem(u.ID, u.Username, code)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					if q != 123_456 {
						t.Errorf("redeem returned %d, want 123456", q)
					}
					winners = append(winners, u.ID)
				case !errors.Is(err, model.ErrRedemptionUnavailable):
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d successes, want exactly 1", len(winners))
		}
		for _, u := range f.users {
			want := int64(1000)
			if u.ID == winners[0] {
				want += 123_456
			}
			got, err := s.UserByID(u.ID)
			if err != nil || got.Quota != want {
				t.Errorf("user %d SQL quota = %d (%v), want %d", u.ID, got.Quota, err, want)
			}
			if live := f.cache.UserEntry(u.ID).Quota.Load(); live != want {
				t.Errorf("user %d live quota = %d, want %d", u.ID, live, want)
			}
		}
		logs := f.topupLogs(t)
		if len(logs) != 1 {
			t.Fatalf("%d topup logs, want 1", len(logs))
		}
		l := logs[0]
		if l.UserID != winners[0] || l.Quota != 123_456 || !strings.Contains(l.Content, "123456") || strings.Contains(l.Content, code) {
			t.Fatalf("topup log = %+v", l)
		}
	})
}

func TestRedeemLockout(t *testing.T) {
	t.Parallel()
	f := newRedeemFixture(t, testdb.Store(t, model.DialectSQLite), 2)
	f.r.MaxFailures, f.r.Window = 3, time.Hour
	a, b := f.users[0], f.users[1]
	good := f.code(t, 10)

	// A used code counts as a failure like a wrong one, with the same error.
	used := f.code(t, 1)
	if _, err := f.r.Redeem(b.ID, b.Username, used); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{common.RandomString(32), "short", used} {
		if _, err := f.r.Redeem(a.ID, a.Username, bad); !errors.Is(err, model.ErrRedemptionUnavailable) ||
			err.Error() != "invalid or already used redemption code" {
			t.Fatalf("bad code %q: err = %v", bad, err)
		}
	}
	// Three failures: even a good code is refused now, and stays unused.
	if _, err := f.r.Redeem(a.ID, a.Username, good); !errors.Is(err, ErrTooManyRedeemFailures) {
		t.Fatalf("after 3 failures: err = %v, want ErrTooManyRedeemFailures", err)
	}
	if live := f.cache.UserEntry(a.ID).Quota.Load(); live != 1000 {
		t.Fatalf("locked-out user's quota = %d, want 1000", live)
	}
	// Another user is unaffected.
	if q, err := f.r.Redeem(b.ID, b.Username, good); err != nil || q != 10 {
		t.Fatalf("other user: %d, %v", q, err)
	}
	// The lockout ends with its window.
	f.r.Window = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if _, err := f.r.Redeem(a.ID, a.Username, f.code(t, 5)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
