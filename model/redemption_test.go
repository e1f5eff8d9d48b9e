package model_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice/common"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

// redCreate stores one code of quota and returns it with its secret.
func redCreate(t *testing.T, s *model.Store, quota int64, expired int64) (model.Redemption, string) {
	t.Helper()
	code := common.RandomString(32)
	r := model.Redemption{Name: testenv.Name("code-"), KeyHash: common.HashSecret(code), MaskedKey: code[:4] + "********",
		Status: model.RedemptionStatusUnused, Quota: quota, CreatedTime: time.Now().Unix(), ExpiredTime: expired}
	rs := []model.Redemption{r}
	if err := s.CreateRedemptions(rs); err != nil {
		t.Fatalf("CreateRedemptions: %v", err)
	}
	return rs[0], code
}

func redUserQuota(t *testing.T, s *model.Store, id int) int64 {
	t.Helper()
	return scalar(t, s, "SELECT quota FROM users WHERE id = ?", id)
}

func TestRedeemCodeOnce(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 100)
		r, code := redCreate(t, s, 5000, 0)
		now := time.Now().Unix()

		got, err := s.RedeemCode(common.HashSecret(code), u.ID, now)
		if err != nil {
			t.Fatalf("RedeemCode: %v", err)
		}
		if got.ID != r.ID || got.Quota != 5000 || got.Status != model.RedemptionStatusUsed || got.UsedUserID != u.ID || got.RedeemedTime != now {
			t.Fatalf("redeemed row = %+v", got)
		}
		if q := redUserQuota(t, s, u.ID); q != 5100 {
			t.Fatalf("user quota = %d, want 5100", q)
		}
		// A second attempt, by anyone, changes nothing.
		other := mustCreateUser(t, s, 0)
		for _, uid := range []int{u.ID, other.ID} {
			if _, err := s.RedeemCode(common.HashSecret(code), uid, now+1); !errors.Is(err, model.ErrRedemptionUnavailable) {
				t.Fatalf("second redeem by %d: err = %v, want ErrRedemptionUnavailable", uid, err)
			}
		}
		if q := redUserQuota(t, s, u.ID); q != 5100 {
			t.Fatalf("user quota after second redeem = %d, want 5100", q)
		}
		if q := redUserQuota(t, s, other.ID); q != 0 {
			t.Fatalf("other user's quota = %d, want 0", q)
		}
		stored, err := s.RedemptionByID(r.ID)
		if err != nil || stored.UsedUserID != u.ID || stored.RedeemedTime != now {
			t.Fatalf("stored row after second redeem = %+v, %v", stored, err)
		}
	})
}

func TestRedeemCodeRefusals(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		now := time.Now().Unix()
		u := mustCreateUser(t, s, 10)

		disabled, disabledCode := redCreate(t, s, 100, 0)
		if _, err := s.SetRedemptionStatus(disabled.ID, model.RedemptionStatusDisabled); err != nil {
			t.Fatal(err)
		}
		_, expiredCode := redCreate(t, s, 100, now-1)
		_, expiringNowCode := redCreate(t, s, 100, now)
		cases := map[string]string{
			"unknown":   common.RandomString(32),
			"disabled":  disabledCode,
			"expired":   expiredCode,
			"at expiry": expiringNowCode,
		}
		for name, code := range cases {
			if _, err := s.RedeemCode(common.HashSecret(code), u.ID, now); !errors.Is(err, model.ErrRedemptionUnavailable) {
				t.Errorf("%s code: err = %v, want ErrRedemptionUnavailable", name, err)
			}
		}
		if q := redUserQuota(t, s, u.ID); q != 10 {
			t.Fatalf("quota after refused codes = %d, want 10", q)
		}

		// A code whose expiry is still ahead works.
		_, future := redCreate(t, s, 7, now+3600)
		if _, err := s.RedeemCode(common.HashSecret(future), u.ID, now); err != nil {
			t.Fatalf("unexpired code: %v", err)
		}

		// A missing user rolls the claim back: the code stays spendable.
		r, code := redCreate(t, s, 100, 0)
		if _, err := s.RedeemCode(common.HashSecret(code), 999999, now); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("redeem for a missing user: err = %v, want ErrNotFound", err)
		}
		if got, _ := s.RedemptionByID(r.ID); got.Status != model.RedemptionStatusUnused || got.UsedUserID != 0 {
			t.Fatalf("code after failed redeem = %+v, want unused", got)
		}
		if _, err := s.RedeemCode(common.HashSecret(code), u.ID, now); err != nil {
			t.Fatalf("code after rolled-back redeem: %v", err)
		}
	})
}

func TestRedeemCodeConcurrent(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		users := []*model.User{mustCreateUser(t, s, 0), mustCreateUser(t, s, 0), mustCreateUser(t, s, 0)}
		_, code := redCreate(t, s, 777, 0)
		hash := common.HashSecret(code)
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			successes int
			winner    int
		)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uid := users[i%len(users)].ID
				_, err := s.RedeemCode(hash, uid, time.Now().Unix())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					successes++
					winner = uid
				case !errors.Is(err, model.ErrRedemptionUnavailable):
					t.Errorf("redeem: unexpected error %v", err)
				}
			}()
		}
		wg.Wait()
		if successes != 1 {
			t.Fatalf("%d successful redemptions of one code, want 1", successes)
		}
		for _, u := range users {
			want := int64(0)
			if u.ID == winner {
				want = 777
			}
			if q := redUserQuota(t, s, u.ID); q != want {
				t.Errorf("user %d quota = %d, want %d", u.ID, q, want)
			}
		}
	})
}

func TestRedemptionAdmin(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a, _ := redCreate(t, s, 100, 0)
		b, bCode := redCreate(t, s, 200, 0)
		c, _ := redCreate(t, s, 300, 0)

		// The hash never reaches JSON.
		raw, _ := json.Marshal(a)
		if strings.Contains(string(raw), a.KeyHash) || strings.Contains(string(raw), "key_hash") {
			t.Fatalf("redemption JSON shows the hash: %s", raw)
		}

		all, total, err := s.ListRedemptions(model.RedemptionFilter{Page: 1, PageSize: 2})
		if err != nil || total != 3 || len(all) != 2 || all[0].ID != c.ID || all[1].ID != b.ID {
			t.Fatalf("page 1 = %v (total %d, err %v), want [%d %d] of 3", redIDs(all), total, err, c.ID, b.ID)
		}
		byName, total, err := s.ListRedemptions(model.RedemptionFilter{Keyword: a.Name[5:], Page: 1, PageSize: 10})
		if err != nil || total != 1 || byName[0].ID != a.ID {
			t.Fatalf("search by name = %v, %d, %v", redIDs(byName), total, err)
		}
		byID, _, err := s.ListRedemptions(model.RedemptionFilter{Keyword: strconv.Itoa(b.ID), Page: 1, PageSize: 10})
		if err != nil || len(byID) != 1 || byID[0].ID != b.ID {
			t.Fatalf("search by id = %v, %v", redIDs(byID), err)
		}

		// Edit an unused code; the same values again is no error (MySQL
		// reports 0 changed rows for it).
		edit := model.RedemptionEdit{Name: "renamed", Quota: 150, ExpiredTime: 0}
		for range 2 {
			got, err := s.UpdateRedemption(a.ID, edit)
			if err != nil || got.Name != "renamed" || got.Quota != 150 {
				t.Fatalf("UpdateRedemption = %+v, %v", got, err)
			}
		}
		if _, err := s.UpdateRedemption(999999, edit); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("update of a missing code: %v", err)
		}

		// A used code keeps its quota and expiry, may be renamed, and can't
		// be re-enabled or disabled.
		u := mustCreateUser(t, s, 0)
		if _, err := s.RedeemCode(common.HashSecret(bCode), u.ID, time.Now().Unix()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRedemption(b.ID, model.RedemptionEdit{Name: b.Name, Quota: 999}); !errors.Is(err, model.ErrRedemptionUsed) {
			t.Fatalf("repricing a used code: err = %v, want ErrRedemptionUsed", err)
		}
		got, err := s.UpdateRedemption(b.ID, model.RedemptionEdit{Name: "used-renamed", Quota: 200})
		if err != nil || got.Name != "used-renamed" || got.Quota != 200 || got.Status != model.RedemptionStatusUsed {
			t.Fatalf("renaming a used code = %+v, %v", got, err)
		}
		for _, st := range []int{model.RedemptionStatusUnused, model.RedemptionStatusDisabled} {
			if _, err := s.SetRedemptionStatus(b.ID, st); !errors.Is(err, model.ErrRedemptionUsed) {
				t.Fatalf("status %d on a used code: err = %v, want ErrRedemptionUsed", st, err)
			}
		}

		// Status of an unused code: disable, disable again (no change), enable.
		for _, st := range []int{model.RedemptionStatusDisabled, model.RedemptionStatusDisabled, model.RedemptionStatusUnused} {
			got, err := s.SetRedemptionStatus(c.ID, st)
			if err != nil || got.Status != st {
				t.Fatalf("SetRedemptionStatus(%d) = %+v, %v", st, got, err)
			}
		}
		if _, err := s.SetRedemptionStatus(999999, 2); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("status of a missing code: %v", err)
		}

		// Delete invalid: b (used), a disabled and an expired code go; a,
		// c and a code expiring later stay.
		now := time.Now().Unix()
		d, _ := redCreate(t, s, 1, 0)
		if _, err := s.SetRedemptionStatus(d.ID, model.RedemptionStatusDisabled); err != nil {
			t.Fatal(err)
		}
		redCreate(t, s, 1, now-10)
		later, _ := redCreate(t, s, 1, now+3600)
		if n, err := s.DeleteInvalidRedemptions(now); err != nil || n != 3 {
			t.Fatalf("DeleteInvalidRedemptions = %d, %v, want 3", n, err)
		}
		left, total, _ := s.ListRedemptions(model.RedemptionFilter{Page: 1, PageSize: 10})
		if total != 3 || left[0].ID != later.ID || left[1].ID != c.ID || left[2].ID != a.ID {
			t.Fatalf("left after DeleteInvalid = %v", redIDs(left))
		}
		if ok, err := s.DeleteRedemption(a.ID); !ok || err != nil {
			t.Fatalf("DeleteRedemption = %v, %v", ok, err)
		}
		if ok, err := s.DeleteRedemption(a.ID); ok || err != nil {
			t.Fatalf("second DeleteRedemption = %v, %v", ok, err)
		}
		if _, err := s.RedemptionByID(a.ID); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("RedemptionByID after delete: %v", err)
		}
	})
}

func redIDs(rs []model.Redemption) []int {
	out := make([]int, len(rs))
	for i := range rs {
		out[i] = rs[i].ID
	}
	return out
}
