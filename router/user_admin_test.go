package router_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/model"
	"sluice/service"
	"sluice/setting/operation_setting"
)

// uaUser is a user as the admin API shows it.
type uaUser struct {
	ID          int    `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        int    `json:"role"`
	Status      int    `json:"status"`
	Group       string `json:"group"`
	Quota       int64  `json:"quota"`
	UsedQuota   int64  `json:"used_quota"`
}

type uaPage struct {
	Items    []uaUser `json:"items"`
	Total    int64    `json:"total"`
	Page     int      `json:"page"`
	PageSize int      `json:"page_size"`
}

// uaCheck asserts a call's status and success flag.
func uaCheck(t *testing.T, what string, status int, env apitest.Envelope, wantStatus int) {
	t.Helper()
	if status != wantStatus || env.Success != (wantStatus == http.StatusOK) {
		t.Fatalf("%s: status %d success %v (%q), want %d", what, status, env.Success, env.Message, wantStatus)
	}
}

// uaFixture is a server with an admin and two common users besides root.
type uaFixture struct {
	s                 *apitest.Server
	adminID, admin2ID int
	admin, admin2     string
	userID, user2ID   int
	user, user2       string
	rootToken         string
	rootID            int
}

func newUAFixture(t *testing.T) *uaFixture {
	t.Helper()
	s := apitest.New(t, apitest.Options{})
	f := &uaFixture{s: s, rootToken: s.RootToken, rootID: s.RootID}
	f.adminID, f.admin = uaNewUser(t, s, "alice", constant.RoleAdmin, 0)
	f.admin2ID, f.admin2 = uaNewUser(t, s, "amy", constant.RoleAdmin, 0)
	f.userID, f.user = uaNewUser(t, s, "bob", constant.RoleCommon, 1000)
	f.user2ID, f.user2 = uaNewUser(t, s, "carol", constant.RoleCommon, 0)
	return f
}

// uaPasswordHash is one bcrypt hash shared by the fixture users: hashing
// is deliberately slow, and very slow under -race.
var uaPasswordHash = sync.OnceValue(func() string {
	h, err := common.HashPassword(uaPassword)
	if err != nil {
		panic(err)
	}
	return h
})

const uaPassword = "fixture-password"

// uaNewUser is apitest's NewUser with the shared password hash: a user in
// SQL and the cache, and an admin access token for it.
func uaNewUser(t *testing.T, s *apitest.Server, username string, role int, quota int64) (int, string) {
	t.Helper()
	u := &model.User{Username: username, Password: uaPasswordHash(), Role: role, Status: constant.UserStatusEnabled,
		Quota: quota, Group: constant.DefaultGroup}
	if err := s.Store.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	tok := "access-" + common.RandomString(20)
	if err := s.Store.SetAccessTokenHash(u.ID, common.HashSecret(tok)); err != nil {
		t.Fatal(err)
	}
	s.Cache.PutUser(u)
	return u.ID, tok
}

// manageLogs returns the contents of the manage logs about username.
func (f *uaFixture) manageLogs(t *testing.T, username string) []string {
	t.Helper()
	if err := f.s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	status, env := f.s.Do(t, http.MethodGet, "/api/log/?type=3&page_size=100&username="+username, f.rootToken, nil)
	uaCheck(t, "list manage logs", status, env, http.StatusOK)
	var p struct {
		Items []model.Log `json:"items"`
	}
	apitest.Decode(t, env, &p)
	out := make([]string, 0, len(p.Items))
	for _, l := range p.Items {
		if l.Type != constant.LogTypeManage {
			t.Fatalf("log of type %d in a type=3 list", l.Type)
		}
		out = append(out, l.Content)
	}
	return out
}

// newKey creates an unlimited API key as the user with access token tok.
func (f *uaFixture) newKey(t *testing.T, tok string) string {
	t.Helper()
	status, env := f.s.Do(t, http.MethodPost, "/api/token/", tok, map[string]any{"name": "k", "unlimited_quota": true})
	uaCheck(t, "create key", status, env, http.StatusOK)
	var k struct {
		Key string `json:"key"`
	}
	apitest.Decode(t, env, &k)
	if !strings.HasPrefix(k.Key, "sk-") {
		t.Fatalf("created key %q", k.Key)
	}
	return k.Key
}

// relayStatus is the status a chat completion with key gets. No channel
// serves the model, so a usable key gets 404 and a refused one 401/403.
func (f *uaFixture) relayStatus(t *testing.T, key string) int {
	t.Helper()
	status, _ := f.s.Raw(t, http.MethodPost, "/v1/chat/completions", key,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	return status
}

func TestUserListAndSearch(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	if err := f.s.Store.UpdateUserFields(f.user2ID, map[string]any{"email": "carol@example.com", "display_name": "Carol Smith"}); err != nil {
		t.Fatal(err)
	}

	status, raw := f.s.Raw(t, http.MethodGet, "/api/user/?p=1&page_size=2", f.admin, nil)
	if status != http.StatusOK {
		t.Fatalf("list: %d %s", status, raw)
	}
	for _, secret := range []string{"password", "access_token", "$2a$"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("user list leaks %q: %s", secret, raw)
		}
	}
	_, env := f.s.Do(t, http.MethodGet, "/api/user/?p=2&page_size=2", f.admin, nil)
	var p uaPage
	apitest.Decode(t, env, &p)
	if p.Total != 5 || p.Page != 2 || p.PageSize != 2 || len(p.Items) != 2 {
		t.Fatalf("page 2: %+v", p)
	}

	search := []struct {
		name, query string
		want        []string
	}{
		{"username", "keyword=bo", []string{"bob"}},
		{"display name, any case", "keyword=smith", []string{"carol"}},
		{"email", "keyword=example.com", []string{"carol"}},
		{"exact id", "keyword=" + strconv.Itoa(f.userID), []string{"bob"}},
		{"no match", "keyword=nobody", []string{}},
		{"empty keyword lists all", "keyword=", []string{"carol", "bob", "amy", "alice", "root"}},
	}
	for _, tc := range search {
		status, env := f.s.Do(t, http.MethodGet, "/api/user/search?"+tc.query, f.admin, nil)
		uaCheck(t, "search "+tc.name, status, env, http.StatusOK)
		var p uaPage
		apitest.Decode(t, env, &p)
		got := []string{}
		for _, u := range p.Items {
			got = append(got, u.Username)
		}
		if !slices.Equal(got, tc.want) || p.Total != int64(len(tc.want)) {
			t.Errorf("search %s: got %v (total %d), want %v", tc.name, got, p.Total, tc.want)
		}
	}

	for _, path := range []string{"/api/user/", "/api/user/search?keyword=bob"} {
		status, env := f.s.Do(t, http.MethodGet, path, "", nil)
		uaCheck(t, path+" without auth", status, env, http.StatusUnauthorized)
		status, env = f.s.Do(t, http.MethodGet, path, f.user, nil)
		uaCheck(t, path+" as common user", status, env, http.StatusForbidden)
	}
	// Nonsense paging falls back to the defaults rather than failing.
	status, env = f.s.Do(t, http.MethodGet, "/api/user/?p=x&page_size=-3", f.admin, nil)
	uaCheck(t, "bad paging", status, env, http.StatusOK)
	apitest.Decode(t, env, &p)
	if p.Page != 1 || p.PageSize != 10 {
		t.Fatalf("bad paging answered page %d size %d", p.Page, p.PageSize)
	}
}

func TestUserGet(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	// The view shows the live balance, not SQL's, which lags a batch.
	f.s.Cache.TakeUserQuotaUpTo(context.Background(), f.userID, 100)
	f.s.Writer.RecordCharge(service.Charge{UserID: f.userID, Quota: 100})

	cases := []struct {
		name, token, id string
		want            int
	}{
		{"admin reads common user", f.admin, strconv.Itoa(f.userID), http.StatusOK},
		{"root reads admin", f.rootToken, strconv.Itoa(f.adminID), http.StatusOK},
		{"root reads root", f.rootToken, strconv.Itoa(f.rootID), http.StatusOK},
		{"no auth", "", strconv.Itoa(f.userID), http.StatusUnauthorized},
		{"common user", f.user, strconv.Itoa(f.user2ID), http.StatusForbidden},
		{"admin reads admin", f.admin, strconv.Itoa(f.admin2ID), http.StatusForbidden},
		{"admin reads itself", f.admin, strconv.Itoa(f.adminID), http.StatusForbidden},
		{"admin reads root", f.admin, strconv.Itoa(f.rootID), http.StatusForbidden},
		{"bad id", f.admin, "abc", http.StatusBadRequest},
		{"zero id", f.admin, "0", http.StatusBadRequest},
		{"unknown id", f.admin, "9999", http.StatusNotFound},
	}
	for _, tc := range cases {
		status, env := f.s.Do(t, http.MethodGet, "/api/user/"+tc.id, tc.token, nil)
		uaCheck(t, tc.name, status, env, tc.want)
	}
	_, env := f.s.Do(t, http.MethodGet, "/api/user/"+strconv.Itoa(f.userID), f.admin, nil)
	var u uaUser
	apitest.Decode(t, env, &u)
	if u.Username != "bob" || u.Quota != 900 || u.UsedQuota != 100 || u.Role != constant.RoleCommon {
		t.Fatalf("got %+v, want bob with live quota 900 and used 100", u)
	}
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)

	status, env := f.s.Do(t, http.MethodPost, "/api/user/", f.admin,
		map[string]any{"username": "dave", "password": "dave-password", "display_name": "Dave"})
	uaCheck(t, "create", status, env, http.StatusOK)
	var u uaUser
	apitest.Decode(t, env, &u)
	if u.ID == 0 || u.Username != "dave" || u.DisplayName != "Dave" || u.Role != constant.RoleCommon ||
		u.Status != constant.UserStatusEnabled || u.Group != constant.DefaultGroup || u.Quota != operation_setting.Get().QuotaForNewUser {
		t.Fatalf("created %+v", u)
	}
	if e := f.s.Cache.UserEntry(u.ID); e == nil || e.Info().Username != "dave" {
		t.Fatal("new user is not in the cache")
	}
	status, env = f.s.Do(t, http.MethodPost, "/api/user/login", "", map[string]any{"username": "dave", "password": "dave-password"})
	uaCheck(t, "new user logs in", status, env, http.StatusOK)

	status, env = f.s.Do(t, http.MethodPost, "/api/user/", f.rootToken,
		map[string]any{"username": "erin", "password": "erin-password", "role": constant.RoleAdmin, "quota": 5000, "group": "vip"})
	uaCheck(t, "root creates admin", status, env, http.StatusOK)
	apitest.Decode(t, env, &u)
	if u.Role != constant.RoleAdmin || u.Quota != 5000 || u.Group != "vip" || u.DisplayName != "erin" {
		t.Fatalf("created %+v", u)
	}
	if got := f.manageLogs(t, "erin"); len(got) != 1 || !strings.Contains(got[0], "admin root created user erin") {
		t.Fatalf("create logs: %q", got)
	}

	valid := map[string]any{"username": "frank", "password": "frank-password"}
	cases := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"no auth", "", valid, http.StatusUnauthorized},
		{"common user", f.user, valid, http.StatusForbidden},
		{"admin creates admin", f.admin, map[string]any{"username": "frank", "password": "frank-password", "role": 10}, http.StatusForbidden},
		{"root creates root", f.rootToken, map[string]any{"username": "frank", "password": "frank-password", "role": 100}, http.StatusBadRequest},
		{"bad JSON", f.admin, `{"username":`, http.StatusBadRequest},
		{"short password", f.admin, map[string]any{"username": "frank", "password": "short"}, http.StatusBadRequest},
		{"no username", f.admin, map[string]any{"username": "  ", "password": "frank-password"}, http.StatusBadRequest},
		{"long username", f.admin, map[string]any{"username": strings.Repeat("x", 65), "password": "frank-password"}, http.StatusBadRequest},
		{"reserved character", f.admin, map[string]any{"username": "frank#1", "password": "frank-password"}, http.StatusBadRequest},
		{"negative quota", f.admin, map[string]any{"username": "frank", "password": "frank-password", "quota": -1}, http.StatusBadRequest},
		{"unknown group", f.admin, map[string]any{"username": "frank", "password": "frank-password", "group": "nosuch"}, http.StatusBadRequest},
		{"duplicate username", f.admin, map[string]any{"username": "bob", "password": "other-password"}, http.StatusConflict},
	}
	for _, tc := range cases {
		status, env := f.s.Do(t, http.MethodPost, "/api/user/", tc.token, tc.body)
		uaCheck(t, tc.name, status, env, tc.want)
	}
	if _, err := f.s.Store.UserByUsername("frank"); err == nil {
		t.Fatal("a refused create left a user behind")
	}
}

func TestUserUpdate(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	uid := f.userID

	status, env := f.s.Do(t, http.MethodPut, "/api/user/", f.admin,
		map[string]any{"id": uid, "display_name": "Bobby", "group": "vip", "password": "new-password-1", "quota": 2500})
	uaCheck(t, "update", status, env, http.StatusOK)
	var u uaUser
	apitest.Decode(t, env, &u)
	if u.DisplayName != "Bobby" || u.Group != "vip" || u.Quota != 2500 || u.Username != "bob" {
		t.Fatalf("updated %+v", u)
	}
	if info := f.s.Cache.UserEntry(uid).Info(); info.Group != "vip" {
		t.Fatalf("cache group %q after update", info.Group)
	}
	status, env = f.s.Do(t, http.MethodPost, "/api/user/login", "", map[string]any{"username": "bob", "password": "new-password-1"})
	uaCheck(t, "login with new password", status, env, http.StatusOK)
	// An empty password and absent fields leave things as they are.
	status, env = f.s.Do(t, http.MethodPut, "/api/user/", f.admin, map[string]any{"id": uid, "password": "", "username": "robert"})
	uaCheck(t, "rename", status, env, http.StatusOK)
	apitest.Decode(t, env, &u)
	if u.Username != "robert" || u.DisplayName != "Bobby" || u.Quota != 2500 {
		t.Fatalf("after rename %+v", u)
	}

	logs := strings.Join(f.manageLogs(t, "bob"), "\n")
	for _, want := range []string{"admin alice changed quota of bob from 1000 to 2500", "admin alice changed group of bob from default to vip"} {
		if !strings.Contains(logs, want) {
			t.Errorf("manage logs %q lack %q", logs, want)
		}
	}

	danID, _ := uaNewUser(t, f.s, "dan", constant.RoleCommon, 0)
	status, env = f.s.Do(t, http.MethodPut, "/api/user/", f.rootToken, map[string]any{"id": danID, "role": constant.RoleAdmin})
	uaCheck(t, "root makes admin", status, env, http.StatusOK)
	if f.s.Cache.UserEntry(danID).Info().Role != constant.RoleAdmin {
		t.Fatal("role change did not reach the cache")
	}

	cases := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"no auth", "", map[string]any{"id": uid, "display_name": "x"}, http.StatusUnauthorized},
		{"common user", f.user2, map[string]any{"id": uid, "display_name": "x"}, http.StatusForbidden},
		{"admin on admin", f.admin, map[string]any{"id": f.admin2ID, "display_name": "x"}, http.StatusForbidden},
		{"admin on root", f.admin, map[string]any{"id": f.rootID, "quota": 1}, http.StatusForbidden},
		{"admin grants admin", f.admin, map[string]any{"id": uid, "role": constant.RoleAdmin}, http.StatusForbidden},
		{"bad JSON", f.admin, `{"id":`, http.StatusBadRequest},
		{"missing id", f.admin, map[string]any{"display_name": "x"}, http.StatusBadRequest},
		{"short password", f.admin, map[string]any{"id": uid, "password": "short"}, http.StatusBadRequest},
		{"negative quota", f.admin, map[string]any{"id": uid, "quota": -5}, http.StatusBadRequest},
		{"unknown group", f.admin, map[string]any{"id": uid, "group": "nosuch"}, http.StatusBadRequest},
		{"duplicate username", f.admin, map[string]any{"id": uid, "username": "alice"}, http.StatusConflict},
		{"unknown id", f.admin, map[string]any{"id": 9999, "display_name": "x"}, http.StatusNotFound},
	}
	for _, tc := range cases {
		status, env := f.s.Do(t, http.MethodPut, "/api/user/", tc.token, tc.body)
		uaCheck(t, tc.name, status, env, tc.want)
	}
	if got, _ := f.s.Store.UserByID(f.admin2ID); got.DisplayName == "x" {
		t.Fatal("a refused update was written")
	}
}

// TestUserQuotaEditWithQueuedCharges: an admin's quota edit lands on the
// live balance, and charges still queued in the batch writer are applied
// once, neither lost nor doubled.
func TestUserQuotaEditWithQueuedCharges(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	uid := f.userID
	// Two settled requests whose charges have not been flushed yet: the
	// live balance already paid them, SQL has not.
	ctx := context.Background()
	live := func() int64 {
		q, ok := f.s.Cache.UserQuota(ctx, uid)
		if !ok {
			t.Fatal("no live balance")
		}
		return q
	}
	for _, q := range []int64{300, 50} {
		f.s.Cache.TakeUserQuotaUpTo(ctx, uid, q)
		f.s.Writer.RecordCharge(service.Charge{UserID: uid, Quota: q})
	}

	status, env := f.s.Do(t, http.MethodPut, "/api/user/", f.admin, map[string]any{"id": uid, "quota": 5000})
	uaCheck(t, "set quota", status, env, http.StatusOK)
	var u uaUser
	apitest.Decode(t, env, &u)
	if u.Quota != 5000 {
		t.Fatalf("answered quota %d, want 5000", u.Quota)
	}
	if err := f.s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	row, err := f.s.Store.UserByID(uid)
	if err != nil {
		t.Fatal(err)
	}
	if got := live(); row.Quota != 5000 || got != 5000 || row.UsedQuota != 350 {
		t.Fatalf("after flush: SQL quota %d used %d, cache %d; want 5000/350/5000", row.Quota, row.UsedQuota, got)
	}
	if got := f.manageLogs(t, "bob"); len(got) != 1 || got[0] != "admin alice changed quota of bob from 650 to 5000" {
		t.Fatalf("quota logs %q", got)
	}

	// Lowering works the same way.
	f.s.Cache.TakeUserQuotaUpTo(ctx, uid, 100)
	f.s.Writer.RecordCharge(service.Charge{UserID: uid, Quota: 100})
	status, env = f.s.Do(t, http.MethodPut, "/api/user/", f.admin, map[string]any{"id": uid, "quota": 10})
	uaCheck(t, "lower quota", status, env, http.StatusOK)
	if err := f.s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	row, _ = f.s.Store.UserByID(uid)
	if got := live(); row.Quota != 10 || got != 10 {
		t.Fatalf("after lowering: SQL %d, cache %d; want 10", row.Quota, got)
	}
}

func TestUserDelete(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	key := f.newKey(t, f.user)
	if got := f.relayStatus(t, key); got != http.StatusNotFound {
		t.Fatalf("live key: relay status %d, want 404 (no channel)", got)
	}

	path := "/api/user/" + strconv.Itoa(f.userID)
	cases := []struct {
		name, token, path string
		want              int
	}{
		{"no auth", "", path, http.StatusUnauthorized},
		{"common user", f.user2, path, http.StatusForbidden},
		{"admin deletes admin", f.admin, "/api/user/" + strconv.Itoa(f.admin2ID), http.StatusForbidden},
		{"admin deletes root", f.admin, "/api/user/" + strconv.Itoa(f.rootID), http.StatusForbidden},
		{"root deletes root", f.rootToken, "/api/user/" + strconv.Itoa(f.rootID), http.StatusForbidden},
		{"bad id", f.admin, "/api/user/x1", http.StatusBadRequest},
		{"unknown id", f.admin, "/api/user/9999", http.StatusNotFound},
		{"happy path", f.admin, path, http.StatusOK},
		{"already deleted", f.admin, path, http.StatusNotFound},
	}
	for _, tc := range cases {
		status, env := f.s.Do(t, http.MethodDelete, tc.path, tc.token, nil)
		uaCheck(t, tc.name, status, env, tc.want)
	}

	if got := f.relayStatus(t, key); got != http.StatusUnauthorized {
		t.Fatalf("deleted user's key: relay status %d, want 401", got)
	}
	status, env := f.s.Do(t, http.MethodGet, "/api/user/self", f.user, nil)
	uaCheck(t, "deleted user's access token", status, env, http.StatusUnauthorized)
	if got := f.manageLogs(t, "bob"); len(got) != 1 || got[0] != "admin alice deleted user bob" {
		t.Fatalf("delete logs %q", got)
	}

	// The name is free again (new-api keeps it taken by the soft-deleted row).
	status, env = f.s.Do(t, http.MethodPost, "/api/user/", f.admin, map[string]any{"username": "bob", "password": "bob-again-pw"})
	uaCheck(t, "re-create bob", status, env, http.StatusOK)
	var u uaUser
	apitest.Decode(t, env, &u)
	if u.ID == f.userID || u.Quota != operation_setting.Get().QuotaForNewUser {
		t.Fatalf("re-created bob %+v inherits the deleted account", u)
	}
	status, env = f.s.Do(t, http.MethodPost, "/api/user/login", "", map[string]any{"username": "bob", "password": "bob-again-pw"})
	uaCheck(t, "new bob logs in", status, env, http.StatusOK)
	// A 64-character name still fits once the deletion suffix is added.
	long := strings.Repeat("L", 64)
	status, env = f.s.Do(t, http.MethodPost, "/api/user/", f.admin, map[string]any{"username": long, "password": "long-password"})
	uaCheck(t, "create a 64-character name", status, env, http.StatusOK)
	apitest.Decode(t, env, &u)
	status, env = f.s.Do(t, http.MethodDelete, "/api/user/"+strconv.Itoa(u.ID), f.admin, nil)
	uaCheck(t, "delete a 64-character name", status, env, http.StatusOK)
	status, env = f.s.Do(t, http.MethodPost, "/api/user/", f.admin, map[string]any{"username": long, "password": "long-password"})
	uaCheck(t, "re-create a 64-character name", status, env, http.StatusOK)
}

func TestUserManage(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	manage := func(token string, id int, action string) (int, apitest.Envelope) {
		return f.s.Do(t, http.MethodPost, "/api/user/manage", token, map[string]any{"id": id, "action": action})
	}
	steps := []struct {
		name, token, action string
		id, wantRole        int
		wantStatus          int
	}{
		{"admin disables", f.admin, "disable", f.userID, constant.RoleCommon, constant.UserStatusDisabled},
		{"admin enables", f.admin, "enable", f.userID, constant.RoleCommon, constant.UserStatusEnabled},
		{"root promotes", f.rootToken, "promote", f.userID, constant.RoleAdmin, constant.UserStatusEnabled},
		{"root demotes", f.rootToken, "demote", f.userID, constant.RoleCommon, constant.UserStatusEnabled},
	}
	for _, st := range steps {
		status, env := manage(st.token, st.id, st.action)
		uaCheck(t, st.name, status, env, http.StatusOK)
		var u uaUser
		apitest.Decode(t, env, &u)
		if u.Role != st.wantRole || u.Status != st.wantStatus {
			t.Fatalf("%s: role %d status %d, want %d/%d", st.name, u.Role, u.Status, st.wantRole, st.wantStatus)
		}
		if info := f.s.Cache.UserEntry(st.id).Info(); info.Role != st.wantRole || info.Status != st.wantStatus {
			t.Fatalf("%s: cache has role %d status %d", st.name, info.Role, info.Status)
		}
	}
	wantLogs := []string{
		"admin root demoted user bob (role 1, status 1)",
		"admin root promoted user bob (role 10, status 1)",
		"admin alice enabled user bob (role 1, status 1)",
		"admin alice disabled user bob (role 1, status 2)",
	}
	if got := f.manageLogs(t, "bob"); !slices.Equal(got, wantLogs) {
		t.Fatalf("manage logs\n got %q\nwant %q", got, wantLogs)
	}

	cases := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"no auth", "", map[string]any{"id": f.userID, "action": "disable"}, http.StatusUnauthorized},
		{"common user", f.user2, map[string]any{"id": f.userID, "action": "disable"}, http.StatusForbidden},
		{"admin promotes", f.admin, map[string]any{"id": f.userID, "action": "promote"}, http.StatusForbidden},
		{"admin disables admin", f.admin, map[string]any{"id": f.admin2ID, "action": "disable"}, http.StatusForbidden},
		{"admin demotes admin", f.admin, map[string]any{"id": f.admin2ID, "action": "demote"}, http.StatusForbidden},
		{"admin disables root", f.admin, map[string]any{"id": f.rootID, "action": "disable"}, http.StatusForbidden},
		{"root disables root", f.rootToken, map[string]any{"id": f.rootID, "action": "disable"}, http.StatusForbidden},
		{"promote an admin", f.rootToken, map[string]any{"id": f.adminID, "action": "promote"}, http.StatusBadRequest},
		{"demote a common user", f.rootToken, map[string]any{"id": f.userID, "action": "demote"}, http.StatusBadRequest},
		{"unknown action", f.admin, map[string]any{"id": f.userID, "action": "ban"}, http.StatusBadRequest},
		{"bad JSON", f.admin, `{"id":1,`, http.StatusBadRequest},
		{"missing id", f.admin, map[string]any{"action": "disable"}, http.StatusBadRequest},
		{"unknown id", f.admin, map[string]any{"id": 9999, "action": "disable"}, http.StatusNotFound},
	}
	for _, tc := range cases {
		status, env := f.s.Do(t, http.MethodPost, "/api/user/manage", tc.token, tc.body)
		uaCheck(t, tc.name, status, env, tc.want)
	}
	if info := f.s.Cache.UserEntry(f.admin2ID).Info(); info.Status != constant.UserStatusEnabled || info.Role != constant.RoleAdmin {
		t.Fatalf("a refused action changed amy: %+v", info)
	}

	status, env := manage(f.admin, f.user2ID, "delete")
	uaCheck(t, "admin deletes through manage", status, env, http.StatusOK)
	if f.s.Cache.UserEntry(f.user2ID) != nil {
		t.Fatal("deleted user still cached")
	}
	if got := f.manageLogs(t, "carol"); len(got) != 1 || got[0] != "admin alice deleted user carol" {
		t.Fatalf("delete logs %q", got)
	}
}

// TestDisableRefusesKeyAtOnce: the very next relay request with a disabled
// user's key is refused, with no cache refresh in between.
func TestDisableRefusesKeyAtOnce(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	key := f.newKey(t, f.user)
	if got := f.relayStatus(t, key); got != http.StatusNotFound {
		t.Fatalf("enabled user's key: %d, want 404 (model not served)", got)
	}
	status, env := f.s.Do(t, http.MethodPost, "/api/user/manage", f.admin, map[string]any{"id": f.userID, "action": "disable"})
	uaCheck(t, "disable", status, env, http.StatusOK)
	if got := f.relayStatus(t, key); got != http.StatusForbidden {
		t.Fatalf("disabled user's key: %d, want 403", got)
	}
	status, env = f.s.Do(t, http.MethodGet, "/api/user/self", f.user, nil)
	uaCheck(t, "disabled user's access token", status, env, http.StatusForbidden)

	status, env = f.s.Do(t, http.MethodPost, "/api/user/manage", f.admin, map[string]any{"id": f.userID, "action": "enable"})
	uaCheck(t, "enable", status, env, http.StatusOK)
	if got := f.relayStatus(t, key); got != http.StatusNotFound {
		t.Fatalf("re-enabled user's key: %d, want 404", got)
	}
}

func TestDeleteSelf(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	key := f.newKey(t, f.user)

	status, env := f.s.Do(t, http.MethodDelete, "/api/user/self", "", nil)
	uaCheck(t, "no auth", status, env, http.StatusUnauthorized)
	status, env = f.s.Do(t, http.MethodDelete, "/api/user/self", f.rootToken, nil)
	uaCheck(t, "root deletes itself", status, env, http.StatusForbidden)

	status, env = f.s.Do(t, http.MethodDelete, "/api/user/self", f.user, nil)
	uaCheck(t, "delete self", status, env, http.StatusOK)
	if got := f.relayStatus(t, key); got != http.StatusUnauthorized {
		t.Fatalf("self-deleted user's key: %d, want 401", got)
	}
	status, env = f.s.Do(t, http.MethodDelete, "/api/user/self", f.user, nil)
	uaCheck(t, "delete self twice", status, env, http.StatusUnauthorized)
	if got := f.manageLogs(t, "bob"); len(got) != 1 || got[0] != "user bob deleted their own account" {
		t.Fatalf("logs %q", got)
	}
	status, env = f.s.Do(t, http.MethodPost, "/api/user/", f.admin, map[string]any{"username": "bob", "password": "bob-again-pw"})
	uaCheck(t, "re-create bob", status, env, http.StatusOK)
}

func TestGroups(t *testing.T) {
	t.Parallel()
	f := newUAFixture(t)
	ch := &model.Channel{Type: 1, Name: "team", Models: "gpt-x", Group: "default, team-x"}
	if err := f.s.Store.CreateChannel(ch, "sk-upstream"); err != nil {
		t.Fatal(err)
	}

	status, env := f.s.Do(t, http.MethodGet, "/api/group/", f.admin, nil)
	uaCheck(t, "list groups", status, env, http.StatusOK)
	var groups []string
	apitest.Decode(t, env, &groups)
	if want := []string{"default", "svip", "team-x", "vip"}; !slices.Equal(groups, want) {
		t.Fatalf("groups %v, want %v", groups, want)
	}
	status, env = f.s.Do(t, http.MethodGet, "/api/group/", "", nil)
	uaCheck(t, "groups without auth", status, env, http.StatusUnauthorized)
	status, env = f.s.Do(t, http.MethodGet, "/api/group/", f.user, nil)
	uaCheck(t, "groups as common user", status, env, http.StatusForbidden)

	// A channel's group is a valid choice for a user.
	status, env = f.s.Do(t, http.MethodPut, "/api/user/", f.admin, map[string]any{"id": f.user2ID, "group": "team-x"})
	uaCheck(t, "move carol to team-x", status, env, http.StatusOK)

	type usage struct {
		Ratio float64 `json:"ratio"`
		Desc  string  `json:"desc"`
	}
	self := func(token string) map[string]usage {
		status, env := f.s.Do(t, http.MethodGet, "/api/user/self/groups", token, nil)
		uaCheck(t, "self groups", status, env, http.StatusOK)
		var m map[string]usage
		apitest.Decode(t, env, &m)
		return m
	}
	if got := self(f.user); len(got) != 1 || got["default"] != (usage{Ratio: 1, Desc: "default"}) {
		t.Fatalf("common user's groups %v", got)
	}
	if got := self(f.user2); len(got) != 1 || got["team-x"].Desc != "team-x" || got["team-x"].Ratio != 1 {
		t.Fatalf("team-x user's groups %v", got)
	}
	if got := self(f.admin); len(got) != 4 || got["vip"].Desc != "vip" {
		t.Fatalf("admin's groups %v", got)
	}
	status, env = f.s.Do(t, http.MethodGet, "/api/user/self/groups", "", nil)
	uaCheck(t, "self groups without auth", status, env, http.StatusUnauthorized)
}
