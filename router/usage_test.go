package router_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/model"
	"sluice/service"
)

// udRow is an hourly usage row as /api/data answers it.
type udRow struct {
	ModelName string `json:"model_name"`
	Username  string `json:"username"`
	Count     int64  `json:"count"`
	Quota     int64  `json:"quota"`
	TokenUsed int64  `json:"token_used"`
	CreatedAt int64  `json:"created_at"`
}

func udGet(t *testing.T, s *apitest.Server, token, path string) []udRow {
	t.Helper()
	status, env := s.Do(t, "GET", path, token, nil)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("GET %s: %d %q", path, status, env.Message)
	}
	var rows []udRow
	apitest.Decode(t, env, &rows)
	return rows
}

func udCharge(s *apitest.Server, userID int, username, modelName string, at, quota int64, tokens int) {
	s.Writer.RecordCharge(service.Charge{UserID: userID, Quota: quota, Log: &model.Log{UserID: userID, Username: username,
		Type: constant.LogTypeConsume, ModelName: modelName, CreatedAt: at, Quota: quota, PromptTokens: tokens, CompletionTokens: 1}})
}

func TestUsageDataRoutes(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	aliceID, alice := s.NewUser(t, "alice", constant.RoleCommon, 1_000_000)
	bobID, _ := s.NewUser(t, "bob", constant.RoleCommon, 1_000_000)

	now := time.Now().Unix()
	h0 := now - now%3600 - 2*3600 // two hours ago, on the hour
	h1 := h0 + 3600
	old := h0 - 10*86400 // outside the default 7-day window

	udCharge(s, aliceID, "alice", "gpt-4o", h0+5, 10, 9)
	udCharge(s, aliceID, "alice", "gpt-4o", h0+3000, 20, 19)
	udCharge(s, aliceID, "alice", "claude", h1+1, 5, 4)
	udCharge(s, bobID, "bob", "gpt-4o", h1+2, 7, 6)
	udCharge(s, bobID, "bob", "gpt-4o", old, 100, 99)
	if err := s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}

	// Admin, default window: the recent rows of everyone, oldest first.
	rows := udGet(t, s, s.RootToken, "/api/data/")
	if len(rows) != 3 {
		t.Fatalf("admin rows = %+v, want 3", rows)
	}
	if r := rows[0]; r.CreatedAt != h0 || r.Username != "alice" || r.ModelName != "gpt-4o" || r.Count != 2 || r.Quota != 30 || r.TokenUsed != 30 {
		t.Fatalf("first row = %+v", r)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].CreatedAt < rows[i-1].CreatedAt {
			t.Fatalf("rows not ordered by created_at: %+v", rows)
		}
	}
	// A flush adds to the same rows.
	udCharge(s, aliceID, "alice", "gpt-4o", h0+60, 1, 0)
	if err := s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	if r := udGet(t, s, s.RootToken, "/api/data/?username=alice")[0]; r.CreatedAt != h0 || r.Count != 3 || r.Quota != 31 || r.TokenUsed != 31 {
		t.Fatalf("alice's first row after a second flush = %+v", r)
	}

	// Filters: username, an explicit window that reaches the old row.
	if got := udGet(t, s, s.RootToken, "/api/data/?username=bob"); len(got) != 1 || got[0].Username != "bob" || got[0].CreatedAt != h1 {
		t.Fatalf("bob's rows (default window) = %+v", got)
	}
	q := "?start_timestamp=" + strconv.FormatInt(old-10, 10) + "&end_timestamp=" + strconv.FormatInt(now, 10)
	if got := udGet(t, s, s.RootToken, "/api/data/"+q+"&username=bob"); len(got) != 2 || got[0].Quota != 100 {
		t.Fatalf("bob's rows over 12 days = %+v", got)
	}
	// A window starting mid-hour includes that hour's row.
	if got := udGet(t, s, s.RootToken, "/api/data/?start_timestamp="+strconv.FormatInt(h1+1800, 10)); len(got) != 2 {
		t.Fatalf("rows from the middle of h1 = %+v, want h1's two", got)
	}

	// Self: only the caller's rows, whatever username is asked for.
	self := udGet(t, s, alice, "/api/data/self?username=bob")
	if len(self) != 2 {
		t.Fatalf("alice's own rows = %+v", self)
	}
	for _, r := range self {
		if r.Username != "alice" {
			t.Fatalf("self rows include %+v", r)
		}
	}
	if got := udGet(t, s, alice, "/api/data/self"+q); len(got) != 2 {
		t.Fatalf("alice's rows over 12 days = %+v", got)
	}
	// No rows is an empty array, not null.
	if status, raw := s.Raw(t, "GET", "/api/data/?username=nobody", s.RootToken, nil); status != http.StatusOK || !strings.Contains(string(raw), `"data":[]`) {
		t.Fatalf("empty answer: %d %s", status, raw)
	}

	// Auth and validation.
	if status, _ := s.Do(t, "GET", "/api/data/", "", nil); status != http.StatusUnauthorized {
		t.Errorf("admin data without auth: %d", status)
	}
	if status, _ := s.Do(t, "GET", "/api/data/self", "", nil); status != http.StatusUnauthorized {
		t.Errorf("self data without auth: %d", status)
	}
	if status, _ := s.Do(t, "GET", "/api/data/", alice, nil); status != http.StatusForbidden {
		t.Errorf("admin data as a common user: %d", status)
	}
	for _, bad := range []string{
		"?start_timestamp=abc",
		"?end_timestamp=1.5",
		"?start_timestamp=" + strconv.FormatInt(now-367*86400, 10) + "&end_timestamp=" + strconv.FormatInt(now, 10),
		"?start_timestamp=" + strconv.FormatInt(now, 10) + "&end_timestamp=" + strconv.FormatInt(now-10, 10),
	} {
		for _, path := range []string{"/api/data/", "/api/data/self"} {
			if status, env := s.Do(t, "GET", path+bad, s.RootToken, nil); status != http.StatusBadRequest || env.Success || env.Message == "" {
				t.Errorf("GET %s%s: %d %+v, want 400", path, bad, status, env)
			}
		}
	}
}

func TestDeleteHistoryLogs(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, user := s.NewUser(t, "carol", constant.RoleCommon, 0)
	now := time.Now().Unix()
	var logs []model.Log
	for i := range 12 {
		logs = append(logs, model.Log{Type: constant.LogTypeConsume, CreatedAt: now - 90*86400 + int64(i), Content: "old"})
	}
	for i := range 3 {
		logs = append(logs, model.Log{Type: constant.LogTypeConsume, CreatedAt: now - int64(i), Content: "new"})
	}
	if err := s.Store.InsertLogs(logs); err != nil {
		t.Fatal(err)
	}

	target := strconv.FormatInt(now-86400, 10)
	if status, _ := s.Do(t, "DELETE", "/api/log/?target_timestamp="+target, "", nil); status != http.StatusUnauthorized {
		t.Errorf("without auth: %d", status)
	}
	if status, _ := s.Do(t, "DELETE", "/api/log/?target_timestamp="+target, user, nil); status != http.StatusForbidden {
		t.Errorf("as a common user: %d", status)
	}
	for _, bad := range []string{"", "?target_timestamp=", "?target_timestamp=abc", "?target_timestamp=-5",
		"?target_timestamp=" + strconv.FormatInt(time.Now().UnixMilli(), 10)} {
		if status, env := s.Do(t, "DELETE", "/api/log/"+bad, s.RootToken, nil); status != http.StatusBadRequest || env.Success {
			t.Errorf("DELETE /api/log/%s: %d, want 400", bad, status)
		}
	}

	status, env := s.Do(t, "DELETE", "/api/log/?target_timestamp="+target, s.RootToken, nil)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("delete: %d %q", status, env.Message)
	}
	var n int64
	apitest.Decode(t, env, &n)
	if n != 12 {
		t.Fatalf("deleted %d logs, want 12", n)
	}
	if err := s.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	var left []model.Log
	if err := s.Store.LogDB.Order("id").Find(&left).Error; err != nil {
		t.Fatal(err)
	}
	if len(left) != 4 {
		t.Fatalf("%d logs left, want the 3 new ones and a manage log: %+v", len(left), left)
	}
	for _, l := range left[:3] {
		if l.Content != "new" {
			t.Fatalf("an old log survived: %+v", l)
		}
	}
	m := left[3]
	if m.Type != constant.LogTypeManage || m.UserID != s.RootID || m.Username != "root" ||
		!strings.Contains(m.Content, "12 logs") || !strings.Contains(m.Content, "root") {
		t.Fatalf("manage log = %+v", m)
	}
}
