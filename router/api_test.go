package router_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/model"
)

type tokenView struct {
	ID          int    `json:"id"`
	Key         string `json:"key"`
	Name        string `json:"name"`
	Status      int    `json:"status"`
	RemainQuota int64  `json:"remain_quota"`
}

// createKey creates an API key through the admin API as the holder of
// accessToken, and returns it with its secret.
func createKey(tb testing.TB, s *apitest.Server, accessToken string, fields map[string]any) tokenView {
	tb.Helper()
	status, env := s.Do(tb, "POST", "/api/token/", accessToken, fields)
	if status != 200 || !env.Success {
		tb.Fatalf("create key: %d %s", status, env.Message)
	}
	var key tokenView
	apitest.Decode(tb, env, &key)
	return key
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, userTok := s.NewUser(t, "alice", constant.RoleCommon, 1000)

	status, env := s.Do(t, "POST", "/api/token/", userTok, map[string]any{"name": "app", "remain_quota": 500, "expired_time": -1})
	if status != 200 || !env.Success {
		t.Fatalf("create: %d %s", status, env.Message)
	}
	var created tokenView
	apitest.Decode(t, env, &created)
	if !strings.HasPrefix(created.Key, "sk-") || len(created.Key) != 51 || strings.Contains(created.Key, "*") {
		t.Fatalf("created key %q is not the full secret", created.Key)
	}
	stored, err := s.Store.TokenByID(created.ID)
	if err != nil || stored.KeyHash != common.HashSecret(created.Key) {
		t.Fatal("key not stored as its SHA-256")
	}

	_, env = s.Do(t, "GET", "/api/token/?p=1&page_size=10", userTok, nil)
	var list struct {
		Items    []tokenView `json:"items"`
		Total    int64       `json:"total"`
		Page     int         `json:"page"`
		PageSize int         `json:"page_size"`
	}
	apitest.Decode(t, env, &list)
	if list.Total != 1 || len(list.Items) != 1 || list.Page != 1 || list.PageSize != 10 {
		t.Fatalf("list: %+v", list)
	}
	if list.Items[0].Key == created.Key || !strings.Contains(list.Items[0].Key, "*") {
		t.Fatalf("list shows the secret: %q", list.Items[0].Key)
	}

	// The key works on the relay (404: no channel serves the model)…
	relay := func() int {
		st, _ := s.Raw(t, "POST", "/v1/chat/completions", created.Key, `{"model":"m","messages":[]}`)
		return st
	}
	if got := relay(); got != http.StatusNotFound {
		t.Fatalf("relay with a fresh key: %d", got)
	}
	// …disabling it refuses it at once…
	if st, env := s.Do(t, "PUT", "/api/token/?status_only=true", userTok, map[string]any{"id": created.ID, "status": 2}); st != 200 || !env.Success {
		t.Fatalf("disable: %d %s", st, env.Message)
	}
	if got := relay(); got != http.StatusForbidden {
		t.Fatalf("relay with a disabled key: %d", got)
	}
	// …a full PUT ignores a key sent back and changes the editable fields…
	st, env := s.Do(t, "PUT", "/api/token/", userTok, map[string]any{"id": created.ID, "name": "renamed", "status": 1,
		"remain_quota": 42, "key": "sk-attacker-chosen", "expired_time": -1})
	if st != 200 || !env.Success {
		t.Fatalf("update: %d %s", st, env.Message)
	}
	var updated tokenView
	apitest.Decode(t, env, &updated)
	if updated.Name != "renamed" || updated.RemainQuota != 42 || updated.Key == "sk-attacker-chosen" {
		t.Fatalf("updated: %+v", updated)
	}
	if relay() != http.StatusNotFound {
		t.Fatal("re-enabled key refused")
	}
	// …and deleting it refuses it at once.
	if st, _ := s.Do(t, "DELETE", "/api/token/"+strconv.Itoa(created.ID), userTok, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if got := relay(); got != http.StatusUnauthorized {
		t.Fatalf("relay with a deleted key: %d", got)
	}
}

func TestTokenValidationAndOwnership(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, alice := s.NewUser(t, "alice", constant.RoleCommon, 0)
	_, bob := s.NewUser(t, "bob", constant.RoleCommon, 0)
	bad := []any{
		`{"name":`,
		map[string]any{"name": ""},
		map[string]any{"name": "x", "remain_quota": -1},
		map[string]any{"name": "x", "expired_time": -5},
		map[string]any{"name": "x", "allow_ips": "10.0.0.0/33"},
		map[string]any{"name": "x", "allow_ips": "not-an-ip"},
	}
	for i, b := range bad {
		if st, env := s.Do(t, "POST", "/api/token/", alice, b); st != 400 || env.Success {
			t.Errorf("case %d: %d %v", i, st, env)
		}
	}
	_, env := s.Do(t, "POST", "/api/token/", alice, map[string]any{"name": "mine"})
	var tok tokenView
	apitest.Decode(t, env, &tok)
	id := strconv.Itoa(tok.ID)
	if st, _ := s.Do(t, "GET", "/api/token/"+id, bob, nil); st != 404 {
		t.Fatalf("bob read alice's key: %d", st)
	}
	if st, _ := s.Do(t, "DELETE", "/api/token/"+id, bob, nil); st != 404 {
		t.Fatalf("bob deleted alice's key: %d", st)
	}
	if st, _ := s.Do(t, "GET", "/api/token/", "", nil); st != 401 {
		t.Fatalf("anonymous list: %d", st)
	}
}

type channelView map[string]any

func TestChannelCRUDKeepsTheKeyWriteOnly(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, admin := s.NewUser(t, "admin", constant.RoleAdmin, 0)
	_, common := s.NewUser(t, "user", constant.RoleCommon, 0)
	const secret = "sk-upstream-very-secret"

	// Both body forms are accepted.
	st, env := s.Do(t, "POST", "/api/channel/", admin, map[string]any{"type": 1, "name": "a", "key": secret, "models": "m1,m2"})
	if st != 200 || !env.Success {
		t.Fatalf("create: %d %s", st, env.Message)
	}
	var a channelView
	apitest.Decode(t, env, &a)
	st, env = s.Do(t, "POST", "/api/channel/", admin, map[string]any{"mode": "single", "channel": map[string]any{"type": 8, "name": "b", "key": secret, "models": "m3", "base_url": "http://example.invalid"}})
	if st != 200 || !env.Success {
		t.Fatalf("create wrapped: %d %s", st, env.Message)
	}
	if a["id"] == nil || a["auto_ban"] != float64(1) {
		t.Fatalf("created: %v", a)
	}
	id := strconv.Itoa(int(a["id"].(float64)))
	for _, path := range []string{"/api/channel/" + id, "/api/channel/?p=1&page_size=10"} {
		_, raw := s.Raw(t, "GET", path, admin, nil)
		if strings.Contains(string(raw), secret) || strings.Contains(string(raw), `"key"`) {
			t.Fatalf("%s returns the key: %s", path, raw)
		}
	}
	// An empty key keeps the stored credential.
	st, env = s.Do(t, "PUT", "/api/channel/", admin, map[string]any{"id": a["id"], "type": 1, "name": "a2", "key": "", "models": "m1", "priority": 5})
	if st != 200 || !env.Success {
		t.Fatalf("update: %d %s", st, env.Message)
	}
	ch, err := s.Store.ChannelByID(int(a["id"].(float64)))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := s.Store.ChannelKey(ch); plain != secret || ch.Key == secret {
		t.Fatalf("stored key %q (plain %q)", ch.Key, plain)
	}
	if !s.Cache.HasModel("default", "m1") || s.Cache.HasModel("default", "m2") {
		t.Fatal("routing table not rebuilt after the update")
	}
	// Validation, roles, auth.
	for i, b := range []any{`{`, map[string]any{"type": 1, "name": "", "key": "k", "models": "m"},
		map[string]any{"type": 1, "name": "x", "key": "k", "models": ""},
		map[string]any{"type": 999, "name": "x", "key": "k", "models": "m"},
		map[string]any{"type": 1, "name": "x", "key": "k", "models": "m", "model_mapping": "{not json"},
		map[string]any{"type": 1, "name": "x", "models": "m"}} {
		if st, _ := s.Do(t, "POST", "/api/channel/", admin, b); st != 400 {
			t.Errorf("bad channel %d accepted: %d", i, st)
		}
	}
	if st, _ := s.Do(t, "GET", "/api/channel/", common, nil); st != 403 {
		t.Fatalf("common user listed channels: %d", st)
	}
	if st, _ := s.Do(t, "GET", "/api/channel/", "", nil); st != 401 {
		t.Fatalf("anonymous listed channels: %d", st)
	}
	if st, _ := s.Do(t, "DELETE", "/api/channel/"+id, admin, nil); st != 200 || s.Cache.HasModel("default", "m1") {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := s.Do(t, "DELETE", "/api/channel/"+id, admin, nil); st != 404 {
		t.Fatalf("second delete: %d", st)
	}
}

func TestOptionsAreRootOnlyAndNeverHalfApplied(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	_, admin := s.NewUser(t, "admin", constant.RoleAdmin, 0)
	if st, _ := s.Do(t, "GET", "/api/option/", admin, nil); st != 403 {
		t.Fatalf("admin read options: %d", st)
	}
	st, env := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "ModelRatio", "value": `{"a":1,"b":"x"}`})
	if st != 400 || !strings.Contains(env.Message, "ModelRatio") {
		t.Fatalf("bad ratio: %d %q", st, env.Message)
	}
	if st, _ := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "NoSuchOption", "value": "1"}); st != 400 {
		t.Fatalf("unknown key: %d", st)
	}
	t.Cleanup(func() { s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "RetryTimes", "value": "2"}) })
	if st, _ := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "RetryTimes", "value": 3}); st != 200 {
		t.Fatalf("set RetryTimes: %d", st)
	}
	_, env = s.Do(t, "GET", "/api/option/", s.RootToken, nil)
	var rows []struct{ Key, Value string }
	apitest.Decode(t, env, &rows)
	found := false
	for _, r := range rows {
		if r.Key == "RetryTimes" {
			found = r.Value == "3"
		}
		if r.Key == "ModelRatio" && strings.Contains(r.Value, `"a"`) {
			t.Fatal("a refused ratio was half-applied")
		}
	}
	if !found {
		t.Fatal("RetryTimes not updated")
	}
	stored, _ := s.Store.AllOptions()
	if stored["RetryTimes"] != "3" || stored["ModelRatio"] != "" {
		t.Fatalf("stored options: %v", stored)
	}
}

func TestSessionLoginNeedsTheUserHeader(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	post := func(body string) *http.Response {
		resp, err := client.Post(s.URL+"/api/user/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(`{"username":"root","password":"wrong-password"}`); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := post(`{"username":"root","password":"root-password-1"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("cookie flags: %s", cookie)
	}
	self := func(header string) int {
		req, _ := http.NewRequest("GET", s.URL+"/api/user/self", nil)
		if header != "" {
			req.Header.Set("New-Api-User", header)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := self(strconv.Itoa(s.RootID)); got != 200 {
		t.Fatalf("self with cookie and header: %d", got)
	}
	if got := self(""); got != 401 {
		t.Fatalf("cookie without New-Api-User: %d", got)
	}
	if got := self("999"); got != 401 {
		t.Fatalf("cookie with someone else's id: %d", got)
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/user/logout", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("logout: %v", err)
	}
	if got := self(strconv.Itoa(s.RootID)); got != 401 {
		t.Fatalf("self after logout: %d", got)
	}
}

func TestLogsFiltersAndRoles(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	aliceID, alice := s.NewUser(t, "alice", constant.RoleCommon, 0)
	logs := []model.Log{
		{UserID: aliceID, Username: "alice", Type: 2, ModelName: "gpt-4o", Quota: 10, CreatedAt: 100, TokenName: "k1", ChannelID: 1, Group: "default"},
		{UserID: aliceID, Username: "alice", Type: 2, ModelName: "gpt-4o-mini", Quota: 20, CreatedAt: 200, TokenName: "k2", ChannelID: 2, Group: "vip"},
		{UserID: s.RootID, Username: "root", Type: 2, ModelName: "gpt-4o", Quota: 40, CreatedAt: 300, TokenName: "k3", ChannelID: 1, Group: "default"},
		{UserID: s.RootID, Username: "root", Type: 3, Content: "manage", CreatedAt: 400},
	}
	if err := s.Store.InsertLogs(logs); err != nil {
		t.Fatal(err)
	}
	count := func(path, tok string) (int, int64) {
		st, env := s.Do(t, "GET", path, tok, nil)
		var p struct {
			Total int64 `json:"total"`
		}
		if st == 200 {
			apitest.Decode(t, env, &p)
		}
		return st, p.Total
	}
	cases := []struct {
		path string
		tok  string
		want int64
	}{
		{"/api/log/", s.RootToken, 4},
		{"/api/log/?type=2", s.RootToken, 3},
		{"/api/log/?username=alice", s.RootToken, 2},
		{"/api/log/?model_name=gpt-4o-mini", s.RootToken, 1},
		{"/api/log/?channel=1", s.RootToken, 2},
		{"/api/log/?group=vip", s.RootToken, 1},
		{"/api/log/?token_name=k3", s.RootToken, 1},
		{"/api/log/?start_timestamp=150&end_timestamp=350", s.RootToken, 2},
		{"/api/log/self", alice, 2},
		{"/api/log/self?username=root", alice, 2},
	}
	for _, c := range cases {
		st, n := count(c.path, c.tok)
		if st != 200 || n != c.want {
			t.Errorf("%s: status %d total %d, want %d", c.path, st, n, c.want)
		}
	}
	if st, _ := count("/api/log/", alice); st != 403 {
		t.Fatalf("common user read all logs: %d", st)
	}
	_, env := s.Do(t, "GET", "/api/log/stat?type=2&username=alice", s.RootToken, nil)
	var stat struct{ Quota int64 }
	apitest.Decode(t, env, &stat)
	if stat.Quota != 30 {
		t.Fatalf("stat quota %d", stat.Quota)
	}
	// Pagination edges: past the end is empty, not an error.
	_, env = s.Do(t, "GET", "/api/log/?p=99&page_size=2", s.RootToken, nil)
	var page struct {
		Items []json.RawMessage `json:"items"`
		Total int64             `json:"total"`
	}
	apitest.Decode(t, env, &page)
	if len(page.Items) != 0 || page.Total != 4 {
		t.Fatalf("past the end: %+v", page)
	}
}

func TestSetupFlowRunsOnce(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	// apitest bootstraps root, so setup is already done here.
	_, env := s.Do(t, "GET", "/api/setup", "", nil)
	var st struct{ Status bool }
	apitest.Decode(t, env, &st)
	if !st.Status {
		t.Fatal("setup reported not done")
	}
	if code, _ := s.Do(t, "POST", "/api/setup", "", map[string]any{"username": "evil", "password": "password123", "confirmPassword": "password123"}); code != 403 {
		t.Fatalf("second setup: %d", code)
	}
}

func TestTokenGroupMustBeUsableByItsOwner(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, alice := s.NewUser(t, "alice", constant.RoleCommon, 0)
	if st, env := s.Do(t, "POST", "/api/token/", alice, map[string]any{"name": "k", "group": "vip"}); st != 400 || !strings.Contains(env.Message, "vip") {
		t.Fatalf("common user got a vip key: %d %q", st, env.Message)
	}
	if st, _ := s.Do(t, "POST", "/api/token/", alice, map[string]any{"name": "k", "group": "default"}); st != 200 {
		t.Fatalf("own group refused: %d", st)
	}
	if st, _ := s.Do(t, "POST", "/api/token/", s.RootToken, map[string]any{"name": "k", "group": "vip"}); st != 200 {
		t.Fatalf("root refused a vip key: %d", st)
	}
}

func TestLogoutEndsTheSessionServerSide(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	resp, err := http.Post(s.URL+"/api/user/login", "application/json", strings.NewReader(`{"username":"root","password":"root-password-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sluice_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	call := func(path string) int {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.AddCookie(session)
		req.Header.Set("New-Api-User", strconv.Itoa(s.RootID))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if call("/api/user/self") != 200 {
		t.Fatal("fresh session refused")
	}
	if call("/api/user/logout") != 200 {
		t.Fatal("logout failed")
	}
	// A copy of the cookie kept from before the logout no longer works.
	if got := call("/api/user/self"); got != 401 {
		t.Fatalf("the old cookie still works after logout: %d", got)
	}
}
