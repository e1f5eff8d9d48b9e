package router_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/internal/testdb"
	"sluice/model"
)

// rdCode is a redemption code as the admin API shows it.
type rdCode struct {
	ID           int    `json:"id"`
	UserID       int    `json:"user_id"`
	Name         string `json:"name"`
	Key          string `json:"key"`
	Status       int    `json:"status"`
	Quota        int64  `json:"quota"`
	CreatedTime  int64  `json:"created_time"`
	RedeemedTime int64  `json:"redeemed_time"`
	UsedUserID   int    `json:"used_user_id"`
	ExpiredTime  int64  `json:"expired_time"`
}

type rdPage struct {
	Items    []rdCode `json:"items"`
	Total    int64    `json:"total"`
	Page     int      `json:"page"`
	PageSize int      `json:"page_size"`
}

// rdExpect asserts a call's status and success flag.
func rdExpect(t *testing.T, what string, status int, env apitest.Envelope, want int) {
	t.Helper()
	if status != want || env.Success != (want == http.StatusOK) {
		t.Fatalf("%s: status %d success %v (%q), want %d", what, status, env.Success, env.Message, want)
	}
}

// rdCreate makes count codes of quota through the API and returns them.
func rdCreate(t *testing.T, s *apitest.Server, token, name string, quota int64, count int) []string {
	t.Helper()
	status, env := s.Do(t, "POST", "/api/redemption/", token, map[string]any{"name": name, "quota": quota, "count": count})
	rdExpect(t, "create codes", status, env, http.StatusOK)
	var codes []string
	apitest.Decode(t, env, &codes)
	if len(codes) != count {
		t.Fatalf("created %d codes, want %d", len(codes), count)
	}
	return codes
}

func rdList(t *testing.T, s *apitest.Server, token, path string) rdPage {
	t.Helper()
	status, env := s.Do(t, "GET", path, token, nil)
	rdExpect(t, "GET "+path, status, env, http.StatusOK)
	var p rdPage
	apitest.Decode(t, env, &p)
	return p
}

// rdQuota reads a user's quota in SQL and in the live cache.
func rdQuota(t *testing.T, s *apitest.Server, id int) (sql, live int64) {
	t.Helper()
	u, err := s.Store.UserByID(id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Quota, s.Cache.UserEntry(id).Quota.Load()
}

func TestRedemptionRoutesAuth(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, user := s.NewUser(t, "carol", constant.RoleCommon, 0)
	admin := []struct{ method, path string }{
		{"GET", "/api/redemption/"},
		{"GET", "/api/redemption/search?keyword=x"},
		{"GET", "/api/redemption/1"},
		{"POST", "/api/redemption/"},
		{"PUT", "/api/redemption/"},
		{"PUT", "/api/redemption/?status_only=true"},
		{"DELETE", "/api/redemption/1"},
		{"DELETE", "/api/redemption/invalid"},
	}
	for _, r := range admin {
		if status, _ := s.Do(t, r.method, r.path, "", `{}`); status != http.StatusUnauthorized {
			t.Errorf("%s %s without auth: %d, want 401", r.method, r.path, status)
		}
		if status, _ := s.Do(t, r.method, r.path, user, `{}`); status != http.StatusForbidden {
			t.Errorf("%s %s as a common user: %d, want 403", r.method, r.path, status)
		}
	}
	if status, _ := s.Do(t, "POST", "/api/user/topup", "", map[string]string{"key": "x"}); status != http.StatusUnauthorized {
		t.Errorf("topup without auth: %d, want 401", status)
	}
}

func TestRedemptionCreateValidation(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	tests := []struct {
		name string
		body any
	}{
		{"not JSON", `{"name":`},
		{"no name", map[string]any{"quota": 1, "count": 1}},
		{"blank name", map[string]any{"name": "   ", "quota": 1, "count": 1}},
		{"name too long", map[string]any{"name": strings.Repeat("n", 129), "quota": 1, "count": 1}},
		{"zero quota", map[string]any{"name": "n", "quota": 0, "count": 1}},
		{"negative quota", map[string]any{"name": "n", "quota": -1, "count": 1}},
		{"zero count", map[string]any{"name": "n", "quota": 1, "count": 0}},
		{"count over 100", map[string]any{"name": "n", "quota": 1, "count": 101}},
		{"expiry in the past", map[string]any{"name": "n", "quota": 1, "count": 1, "expired_time": time.Now().Unix() - 10}},
		{"quota not a number", map[string]any{"name": "n", "quota": "lots", "count": 1}},
	}
	for _, tt := range tests {
		status, env := s.Do(t, "POST", "/api/redemption/", s.RootToken, tt.body)
		if status != http.StatusBadRequest || env.Success || env.Message == "" {
			t.Errorf("%s: status %d success %v message %q, want 400 with a message", tt.name, status, env.Success, env.Message)
		}
	}
	if p := rdList(t, s, s.RootToken, "/api/redemption/"); p.Total != 0 {
		t.Fatalf("refused creations stored %d codes", p.Total)
	}
	// The limits themselves are accepted.
	rdCreate(t, s, s.RootToken, strings.Repeat("n", 128), 1, 100)
}

func TestRedemptionAdminFlow(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	adminID, admin := s.NewUser(t, "alice", constant.RoleAdmin, 0)
	userID, user := s.NewUser(t, "carol", constant.RoleCommon, 0)

	promo := rdCreate(t, s, admin, "spring-promo", 5000, 3)
	gift := rdCreate(t, s, s.RootToken, "gift", 700, 1)
	all := append(append([]string{}, promo...), gift...)
	for _, c := range all {
		if len(c) != 32 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Fatalf("code %q is not 32 alphanumerics", c)
		}
	}

	// No list, search or get ever shows a code.
	noCodes := func(what string, raw []byte) {
		t.Helper()
		for _, c := range all {
			if strings.Contains(string(raw), c) || strings.Contains(string(raw), c[4:28]) {
				t.Fatalf("%s shows a redemption code: %s", what, raw)
			}
		}
	}
	p := rdList(t, s, admin, "/api/redemption/?p=1&page_size=2")
	if p.Total != 4 || p.Page != 1 || p.PageSize != 2 || len(p.Items) != 2 || p.Items[0].Name != "gift" {
		t.Fatalf("page 1 = %+v", p)
	}
	for _, path := range []string{"/api/redemption/?p=1&page_size=10", "/api/redemption/search?keyword=promo",
		"/api/redemption/" + strconv.Itoa(p.Items[0].ID)} {
		_, raw := s.Raw(t, "GET", path, admin, nil)
		noCodes(path, raw)
	}
	found := rdList(t, s, admin, "/api/redemption/search?keyword=spring")
	if found.Total != 3 || found.Items[0].Quota != 5000 || found.Items[0].UserID != adminID || found.Items[0].Status != 1 {
		t.Fatalf("search by name = %+v", found)
	}
	giftID := p.Items[0].ID
	if byID := rdList(t, s, admin, "/api/redemption/search?keyword="+strconv.Itoa(giftID)); byID.Total != 1 || byID.Items[0].ID != giftID {
		t.Fatalf("search by id = %+v", byID)
	}
	if status, env := s.Do(t, "GET", "/api/redemption/999999", admin, nil); status != http.StatusNotFound || env.Success {
		t.Fatalf("missing code: %d %+v", status, env)
	}
	if status, _ := s.Do(t, "GET", "/api/redemption/abc", admin, nil); status != http.StatusBadRequest {
		t.Fatalf("bad id: %d", status)
	}

	// Edit the gift: name and quota.
	status, env := s.Do(t, "PUT", "/api/redemption/", admin, map[string]any{"id": giftID, "name": "gift-2", "quota": 900, "key": "ignored"})
	rdExpect(t, "edit", status, env, http.StatusOK)
	var edited rdCode
	apitest.Decode(t, env, &edited)
	if edited.Name != "gift-2" || edited.Quota != 900 || edited.Key == "ignored" {
		t.Fatalf("edited = %+v", edited)
	}
	for _, bad := range []map[string]any{{"id": giftID, "name": "", "quota": 1}, {"id": giftID, "name": "x", "quota": 0}, {"name": "x", "quota": 1}} {
		if status, env := s.Do(t, "PUT", "/api/redemption/", admin, bad); status != http.StatusBadRequest || env.Success {
			t.Fatalf("edit %v: %d", bad, status)
		}
	}

	// Disable it: it can't be redeemed (same answer as a wrong code).
	status, env = s.Do(t, "PUT", "/api/redemption/?status_only=true", admin, map[string]any{"id": giftID, "status": 2})
	rdExpect(t, "disable", status, env, http.StatusOK)
	status, env = s.Do(t, "POST", "/api/user/topup", user, map[string]string{"key": gift[0]})
	rdExpect(t, "redeem a disabled code", status, env, http.StatusBadRequest)
	if env.Message != "invalid or already used redemption code" {
		t.Fatalf("disabled code message = %q", env.Message)
	}
	if status, _ := s.Do(t, "PUT", "/api/redemption/?status_only=true", admin, map[string]any{"id": giftID, "status": 3}); status != http.StatusBadRequest {
		t.Fatalf("status 3 by hand: %d, want 400", status)
	}
	// Enable and redeem it.
	status, env = s.Do(t, "PUT", "/api/redemption/?status_only=true", admin, map[string]any{"id": giftID, "status": 1})
	rdExpect(t, "enable", status, env, http.StatusOK)
	status, env = s.Do(t, "POST", "/api/user/topup", user, map[string]string{"key": " " + gift[0] + "\n"})
	rdExpect(t, "redeem", status, env, http.StatusOK)
	var added int64
	apitest.Decode(t, env, &added)
	if added != 900 {
		t.Fatalf("topup added %d, want 900", added)
	}
	if sql, live := rdQuota(t, s, userID); sql != 900 || live != 900 {
		t.Fatalf("quota after topup: SQL %d, live %d; want 900", sql, live)
	}
	status, env = s.Do(t, "GET", "/api/redemption/"+strconv.Itoa(giftID), admin, nil)
	rdExpect(t, "get used", status, env, http.StatusOK)
	var used rdCode
	apitest.Decode(t, env, &used)
	if used.Status != 3 || used.UsedUserID != userID || used.RedeemedTime == 0 {
		t.Fatalf("used code = %+v", used)
	}
	// A used code can't be re-enabled or repriced.
	if status, _ := s.Do(t, "PUT", "/api/redemption/?status_only=true", admin, map[string]any{"id": giftID, "status": 1}); status != http.StatusBadRequest {
		t.Fatalf("re-enable a used code: %d, want 400", status)
	}
	if status, _ := s.Do(t, "PUT", "/api/redemption/", admin, map[string]any{"id": giftID, "name": "gift-2", "quota": 5}); status != http.StatusBadRequest {
		t.Fatalf("reprice a used code: %d, want 400", status)
	}

	// Expired codes are refused at redeem time like any other.
	exp := rdCreate(t, s, admin, "short-lived", 50, 1)
	expRow := rdList(t, s, admin, "/api/redemption/search?keyword=short-lived").Items[0]
	if err := s.Store.DB.Model(&model.Redemption{}).Where("id = ?", expRow.ID).Update("expired_time", time.Now().Unix()-1).Error; err != nil {
		t.Fatal(err)
	}
	status, env = s.Do(t, "POST", "/api/user/topup", user, map[string]string{"key": exp[0]})
	if status != http.StatusBadRequest || env.Message != "invalid or already used redemption code" {
		t.Fatalf("expired code: %d %q", status, env.Message)
	}
	if status, _ := s.Do(t, "POST", "/api/user/topup", user, map[string]string{"key": ""}); status != http.StatusBadRequest {
		t.Fatalf("empty key: %d", status)
	}

	// Delete one, then the invalid ones (the used gift, a disabled promo and
	// the expired code).
	if status, env := s.Do(t, "DELETE", "/api/redemption/"+strconv.Itoa(found.Items[2].ID), admin, nil); status != http.StatusOK || !env.Success {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := s.Do(t, "DELETE", "/api/redemption/"+strconv.Itoa(found.Items[2].ID), admin, nil); status != http.StatusNotFound {
		t.Fatalf("delete again: %d, want 404", status)
	}
	status, env = s.Do(t, "PUT", "/api/redemption/?status_only=true", admin, map[string]any{"id": found.Items[1].ID, "status": 2})
	rdExpect(t, "disable promo", status, env, http.StatusOK)
	status, env = s.Do(t, "DELETE", "/api/redemption/invalid", admin, nil)
	rdExpect(t, "delete invalid", status, env, http.StatusOK)
	var deleted int64
	apitest.Decode(t, env, &deleted)
	if deleted != 3 {
		t.Fatalf("delete invalid removed %d, want 3", deleted)
	}
	left := rdList(t, s, admin, "/api/redemption/")
	if left.Total != 1 || left.Items[0].ID != found.Items[0].ID {
		t.Fatalf("left = %+v", left)
	}

	// The logs name the amount, never a code.
	if err := s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	_, raw := s.Raw(t, "GET", "/api/log/?type=1", s.RootToken, nil)
	noCodes("the topup logs", raw)
	if !strings.Contains(string(raw), "900") {
		t.Fatalf("topup log does not name the amount: %s", raw)
	}
}

// TestTopupConcurrentExactlyOnce races 50 redemptions of one code by five
// users through the whole HTTP stack, on every database.
func TestTopupConcurrentExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := apitest.New(t, apitest.Options{DB: testdb.Open(t, d)})
			type caller struct {
				id    int
				token string
			}
			var users []caller
			for i := range 5 {
				id, tok := s.NewUser(t, "racer"+strconv.Itoa(i), constant.RoleCommon, 100)
				users = append(users, caller{id, tok})
			}
			code := rdCreate(t, s, s.RootToken, "race", 424_242, 1)[0]

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
					u := users[i%len(users)]
					<-start
					status, env := s.Do(t, "POST", "/api/user/topup", u.token, map[string]string{"key": code})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case status == http.StatusOK && env.Success:
						winners = append(winners, u.id)
					case status == http.StatusBadRequest && env.Message == "invalid or already used redemption code":
					default:
						t.Errorf("unexpected answer %d %+v", status, env)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("%d successful redemptions, want exactly 1", len(winners))
			}
			for _, u := range users {
				want := int64(100)
				if u.id == winners[0] {
					want += 424_242
				}
				if sql, live := rdQuota(t, s, u.id); sql != want || live != want {
					t.Errorf("user %d: SQL %d, live %d; want %d", u.id, sql, live, want)
				}
			}
			if err := s.Writer.Flush(); err != nil {
				t.Fatal(err)
			}
			var logs []model.Log
			if err := s.Store.LogDB.Where("type = ?", constant.LogTypeTopup).Find(&logs).Error; err != nil {
				t.Fatal(err)
			}
			if len(logs) != 1 || logs[0].UserID != winners[0] || logs[0].Quota != 424_242 || strings.Contains(logs[0].Content, code) {
				t.Fatalf("topup logs = %+v", logs)
			}
		})
	}
}

func TestTopupLockout(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, mallory := s.NewUser(t, "mallory", constant.RoleCommon, 0)
	carolID, carol := s.NewUser(t, "carol", constant.RoleCommon, 0)
	code := rdCreate(t, s, s.RootToken, "real", 10, 1)[0]

	for i := range 10 {
		status, env := s.Do(t, "POST", "/api/user/topup", mallory, map[string]string{"key": "guess" + strconv.Itoa(i) + strings.Repeat("x", 26)})
		if status != http.StatusBadRequest || env.Message != "invalid or already used redemption code" {
			t.Fatalf("guess %d: %d %q", i, status, env.Message)
		}
	}
	// Guessing stops working, even with a real code.
	if status, _ := s.Do(t, "POST", "/api/user/topup", mallory, map[string]string{"key": code}); status != http.StatusTooManyRequests {
		t.Fatalf("after 10 wrong codes: %d, want 429", status)
	}
	status, env := s.Do(t, "POST", "/api/user/topup", carol, map[string]string{"key": code})
	rdExpect(t, "another user's topup", status, env, http.StatusOK)
	if sql, live := rdQuota(t, s, carolID); sql != 10 || live != 10 {
		t.Fatalf("carol's quota: SQL %d, live %d", sql, live)
	}
}
