package router_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/model"
)

// Keys the fake upstream knows. They do not look like "sk-…" on purpose:
// the relay's generic sanitiser would not catch them, so only the channel
// operations' own redaction keeps them out of messages.
const (
	cxGoodKey  = "upstream-good-credential-7f3a9"
	cxBadKey   = "upstream-revoked-credential-41b2"
	cxEchoKey  = "upstream-echoed-credential-c0d1" // accepted, but 400s echoing it
	cxSlowKey  = "upstream-slow-credential-9e8d"   // blocks until released
	cxUpstream = 20 * time.Millisecond             // minimum upstream latency
)

// cxUpstream is an OpenAI-dialect fake: chat completions, embeddings and
// the model list, checking the bearer key like OpenAI does.
type cxFake struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []map[string]any // chat and embedding request bodies, in order
	paths   []string
	release chan struct{} // closed by unblock to let cxSlowKey requests answer
	once    sync.Once
	models  string // the /v1/models answer
	// inflight and maxInflight count concurrent requests.
	inflight, maxInflight atomic.Int64
}

func newCXFake(t *testing.T) *cxFake {
	f := &cxFake{release: make(chan struct{}),
		models: `{"object":"list","data":[` +
			`{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},` +
			`{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},` +
			`{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"},` +
			`{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}`}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.unblock()
		f.Close()
	})
	return f
}

func (f *cxFake) unblock() { f.once.Do(func() { close(f.release) }) }

func (f *cxFake) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	body, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	if len(body) > 0 {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		f.bodies = append(f.bodies, m)
	}
	f.mu.Unlock()
	switch key {
	case cxGoodKey, cxEchoKey:
	case cxSlowKey:
		<-f.release
	default:
		// OpenAI echoes part of the key it refused.
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+key+
			`. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		return
	}
	time.Sleep(cxUpstream)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		_, _ = io.WriteString(w, f.models)
	case key == cxEchoKey:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"request rejected for credential `+key+
			`","type":"invalid_request_error","param":null,"code":null}}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":"length"}],`+
			`"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/embeddings":
		_, _ = io.WriteString(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093]}],`+
			`"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"message":"unknown path","type":"invalid_request_error"}}`)
	}
}

func (f *cxFake) lastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *cxFake) lastPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return ""
	}
	return f.paths[len(f.paths)-1]
}

// cxTestAnswer is new-api's channel test answer.
type cxTestAnswer struct {
	Success bool    `json:"success"`
	Message string  `json:"message"`
	Time    float64 `json:"time"`
}

func cxTest(t *testing.T, s *apitest.Server, path, token string) (int, cxTestAnswer) {
	t.Helper()
	status, raw := s.Raw(t, "GET", path, token, nil)
	var a cxTestAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("GET %s: %d %s", path, status, raw)
	}
	return status, a
}

func cxChannel(t *testing.T, s *apitest.Server, ch model.Channel) *model.Channel {
	t.Helper()
	got, err := s.Store.ChannelByID(ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// cxAuthChecks asserts that a route refuses the anonymous (401) and common users (403).
func cxAuthChecks(t *testing.T, s *apitest.Server, common, method, path string, body any) {
	t.Helper()
	if st, env := s.Do(t, method, path, "", body); st != http.StatusUnauthorized || env.Success {
		t.Errorf("%s %s without auth: %d", method, path, st)
	}
	if st, env := s.Do(t, method, path, common, body); st != http.StatusForbidden || env.Success {
		t.Errorf("%s %s as a common user: %d", method, path, st)
	}
}

func TestChannelTest(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	up := newCXFake(t)
	commonTok := prUser(t, s, "cx-test-common", constant.RoleCommon, "default")
	good := prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": up.URL,
		"models": "gpt-4o,text-embedding-3-small", "model_mapping": `{"gpt-4o":"gpt-4o-2024-08-06"}`})
	bad := prChannel(t, s, map[string]any{"key": cxBadKey, "base_url": up.URL, "models": "gpt-4o"})
	echo := prChannel(t, s, map[string]any{"key": cxEchoKey, "base_url": up.URL + "/v1", "models": "gpt-4o"})

	t.Run("success records the response time", func(t *testing.T) {
		status, a := cxTest(t, s, "/api/channel/test/"+strconv.Itoa(good), s.RootToken)
		if status != 200 || !a.Success || a.Time < cxUpstream.Seconds() {
			t.Fatalf("test: %d %+v", status, a)
		}
		body := up.lastBody()
		if up.lastPath() != "POST /v1/chat/completions" || body["model"] != "gpt-4o-2024-08-06" || body["max_tokens"] != 1.0 {
			t.Fatalf("upstream got %s %v (want the mapped model and max_tokens 1)", up.lastPath(), body)
		}
		ch := cxChannel(t, s, model.Channel{ID: good})
		if ch.ResponseTime < int(cxUpstream.Milliseconds()) || ch.TestTime == 0 {
			t.Fatalf("recorded response_time %d ms, test_time %d", ch.ResponseTime, ch.TestTime)
		}
	})

	t.Run("an embedding model is tested with an embeddings call", func(t *testing.T) {
		status, a := cxTest(t, s, "/api/channel/test/"+strconv.Itoa(good)+"?model=text-embedding-3-small", s.RootToken)
		if status != 200 || !a.Success {
			t.Fatalf("test: %d %+v", status, a)
		}
		if up.lastPath() != "POST /v1/embeddings" || up.lastBody()["model"] != "text-embedding-3-small" {
			t.Fatalf("upstream got %s %v", up.lastPath(), up.lastBody())
		}
	})

	t.Run("a refused key fails without leaking it or disabling the channel", func(t *testing.T) {
		status, a := cxTest(t, s, "/api/channel/test/"+strconv.Itoa(bad), s.RootToken)
		if status != 200 || a.Success || a.Message == "" {
			t.Fatalf("test: %d %+v", status, a)
		}
		if strings.Contains(a.Message, cxBadKey) || strings.Contains(a.Message, "credential-41b2") {
			t.Fatalf("message leaks the key: %q", a.Message)
		}
		if !strings.Contains(a.Message, "401") {
			t.Errorf("message %q does not say the upstream answered 401", a.Message)
		}
		ch := cxChannel(t, s, model.Channel{ID: bad})
		if ch.Status != constant.ChannelStatusEnabled {
			t.Fatalf("a manual test changed the status to %d", ch.Status)
		}
		if ch.ResponseTime != 0 {
			t.Errorf("a failed test recorded response_time %d", ch.ResponseTime)
		}
	})

	t.Run("an upstream message echoing the key is redacted", func(t *testing.T) {
		_, a := cxTest(t, s, "/api/channel/test/"+strconv.Itoa(echo), s.RootToken)
		if a.Success || strings.Contains(a.Message, cxEchoKey) || !strings.Contains(a.Message, "request rejected") {
			t.Fatalf("answer %+v", a)
		}
	})

	t.Run("an unreachable upstream fails with a reason", func(t *testing.T) {
		l := httptest.NewServer(http.NotFoundHandler())
		dead := l.URL
		l.Close() // a port that refuses connections
		id := prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": dead, "models": "gpt-4o"})
		_, a := cxTest(t, s, "/api/channel/test/"+strconv.Itoa(id), s.RootToken)
		if a.Success || !strings.Contains(a.Message, "refused") || strings.Contains(a.Message, cxGoodKey) {
			t.Fatalf("answer %+v", a)
		}
	})

	t.Run("errors and auth", func(t *testing.T) {
		if st, env := s.Do(t, "GET", "/api/channel/test/99999", s.RootToken, nil); st != 404 || env.Success {
			t.Errorf("unknown id: %d", st)
		}
		if st, _ := s.Do(t, "GET", "/api/channel/test/abc", s.RootToken, nil); st != 400 {
			t.Errorf("bad id: %d", st)
		}
		cxAuthChecks(t, s, commonTok, "GET", "/api/channel/test/"+strconv.Itoa(good), nil)
		cxAuthChecks(t, s, commonTok, "GET", "/api/channel/test", nil)
	})
}

// cxWait polls cond until it holds or a few seconds pass.
func cxWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChannelTestAll(t *testing.T) {
	t.Parallel() // reads AutomaticDisableChannelEnabled (on by default) and changes nothing global
	s := apitest.New(t, apitest.Options{})
	up := newCXFake(t)
	good := prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": up.URL, "models": "gpt-4o"})
	deadBan := prChannel(t, s, map[string]any{"key": cxBadKey, "base_url": up.URL, "models": "gpt-4o"})
	deadNoBan := prChannel(t, s, map[string]any{"key": cxBadKey, "base_url": up.URL, "models": "gpt-4o", "auto_ban": 0})
	// POST /api/channel/ stores auto_ban 0 as 1 (gorm skips a zero value
	// for a column with a default on create), so set it directly.
	if err := s.Store.DB.Model(&model.Channel{}).Where("id = ?", deadNoBan).Update("auto_ban", 0).Error; err != nil {
		t.Fatal(err)
	}
	echo := prChannel(t, s, map[string]any{"key": cxEchoKey, "base_url": up.URL, "models": "gpt-4o"})
	off := prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": up.URL, "models": "gpt-4o",
		"status": constant.ChannelStatusManuallyDisabled})
	more := make([]int, 6)
	for i := range more {
		more[i] = prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": up.URL, "models": "cx-extra"})
	}

	status, env := s.Do(t, "GET", "/api/channel/test", s.RootToken, nil)
	if status != 200 || !env.Success {
		t.Fatalf("test all: %d %+v", status, env)
	}
	cxWait(t, "every enabled channel to be tested", func() bool {
		for _, id := range append([]int{good}, more...) {
			if cxChannel(t, s, model.Channel{ID: id}).TestTime == 0 {
				return false
			}
		}
		return cxChannel(t, s, model.Channel{ID: deadBan}).Status == constant.ChannelStatusAutoDisabled
	})
	s.Tasks.Wait()
	if n := up.maxInflight.Load(); n > 4 {
		t.Errorf("%d channels were tested at once, want at most 4", n)
	}
	if ch := cxChannel(t, s, model.Channel{ID: deadNoBan}); ch.Status != constant.ChannelStatusEnabled {
		t.Errorf("auto_ban 0 channel status %d", ch.Status)
	}
	if ch := cxChannel(t, s, model.Channel{ID: echo}); ch.Status != constant.ChannelStatusEnabled {
		t.Errorf("a 400 is not a dead key, yet the channel status is %d", ch.Status)
	}
	if ch := cxChannel(t, s, model.Channel{ID: off}); ch.TestTime != 0 {
		t.Error("a disabled channel was tested")
	}
	// The auto-disabled channel no longer routes.
	for range 20 {
		ch, err := s.Cache.SelectChannel("default", "gpt-4o", nil)
		if err != nil || ch.ID == deadBan {
			t.Fatalf("SelectChannel = %v, %v after auto-disable", ch, err)
		}
	}
}

func TestChannelTestAllRunsOnce(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	up := newCXFake(t)
	prChannel(t, s, map[string]any{"key": cxSlowKey, "base_url": up.URL, "models": "gpt-4o"})
	// The answer comes while the upstream is still blocked: the tests run
	// in the background.
	if st, _ := s.Do(t, "GET", "/api/channel/test", s.RootToken, nil); st != 200 {
		t.Fatalf("first test all: %d", st)
	}
	st, env := s.Do(t, "GET", "/api/channel/test", s.RootToken, nil)
	if st != http.StatusConflict || env.Success {
		t.Fatalf("second test all while the first runs: %d %+v", st, env)
	}
	up.unblock()
	s.Tasks.Wait()
	if st, _ := s.Do(t, "GET", "/api/channel/test", s.RootToken, nil); st != 200 {
		t.Fatalf("test all after the first finished: %d", st)
	}
	s.Tasks.Wait()
}

func TestFetchModels(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	up := newCXFake(t)
	commonTok := prUser(t, s, "cx-fetch-common", constant.RoleCommon, "default")
	id := prChannel(t, s, map[string]any{"key": cxGoodKey, "base_url": up.URL, "models": "gpt-4o"})
	bad := prChannel(t, s, map[string]any{"key": cxBadKey, "base_url": up.URL, "models": "gpt-4o"})
	want := []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}

	status, env := s.Do(t, "GET", "/api/channel/fetch_models/"+strconv.Itoa(id), s.RootToken, nil)
	var ids []string
	if status != 200 || !env.Success {
		t.Fatalf("saved channel: %d %+v", status, env)
	}
	apitest.Decode(t, env, &ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("models = %v, want %v (sorted, de-duplicated)", ids, want)
	}
	if up.lastPath() != "GET /v1/models" {
		t.Fatalf("upstream saw %s", up.lastPath())
	}

	status, env = s.Do(t, "POST", "/api/channel/fetch_models", s.RootToken,
		map[string]any{"base_url": up.URL + "/v1/", "type": 8, "key": cxGoodKey})
	if status != 200 || !env.Success {
		t.Fatalf("unsaved channel: %d %+v", status, env)
	}
	apitest.Decode(t, env, &ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("unsaved models = %v", ids)
	}

	status, env = s.Do(t, "GET", "/api/channel/fetch_models/"+strconv.Itoa(bad), s.RootToken, nil)
	if status != http.StatusBadGateway || env.Success || strings.Contains(env.Message, cxBadKey) {
		t.Fatalf("refused key: %d %+v", status, env)
	}
	status, env = s.Do(t, "POST", "/api/channel/fetch_models", s.RootToken,
		map[string]any{"base_url": up.URL, "type": 1, "key": cxBadKey})
	if status != http.StatusBadGateway || strings.Contains(env.Message, cxBadKey) {
		t.Fatalf("unsaved refused key: %d %+v", status, env)
	}

	for _, tc := range []struct {
		name string
		body any
	}{
		{"no type", map[string]any{"base_url": up.URL, "key": cxGoodKey}},
		{"unsupported type", map[string]any{"base_url": up.URL, "type": 999, "key": cxGoodKey}},
		{"bad base_url", map[string]any{"base_url": "ftp://host", "type": 1, "key": cxGoodKey}},
		{"no key", map[string]any{"base_url": up.URL, "type": 1}},
		{"not JSON", "{"},
	} {
		if st, env := s.Do(t, "POST", "/api/channel/fetch_models", s.RootToken, tc.body); st != 400 || env.Success {
			t.Errorf("%s: %d %+v", tc.name, st, env)
		}
	}
	if st, _ := s.Do(t, "GET", "/api/channel/fetch_models/99999", s.RootToken, nil); st != 404 {
		t.Errorf("unknown channel: %d", st)
	}
	cxAuthChecks(t, s, commonTok, "GET", "/api/channel/fetch_models/"+strconv.Itoa(id), nil)
	cxAuthChecks(t, s, commonTok, "POST", "/api/channel/fetch_models", map[string]any{"base_url": up.URL, "type": 1, "key": cxGoodKey})
}

func cxAbilities(t *testing.T, s *apitest.Server, id int) []model.Ability {
	t.Helper()
	var as []model.Ability
	if err := s.Store.DB.Where("channel_id = ?", id).Find(&as).Error; err != nil {
		t.Fatal(err)
	}
	return as
}

func TestChannelTags(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	commonTok := prUser(t, s, "cx-tag-common", constant.RoleCommon, "default")
	a := prChannel(t, s, map[string]any{"key": cxGoodKey + "-a", "models": "tag-m1", "tag": "team"})
	b := prChannel(t, s, map[string]any{"key": cxGoodKey + "-b", "models": "tag-m1,tag-m2", "tag": "team",
		"status": constant.ChannelStatusAutoDisabled})
	other := prChannel(t, s, map[string]any{"key": cxGoodKey + "-o", "models": "tag-m3", "tag": "other"})

	routable := func(group, m string) []int {
		var ids []int
		for range 30 {
			ch, err := s.Cache.SelectChannel(group, m, nil)
			if errors.Is(err, model.ErrNoChannel) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ids, ch.ID) {
				ids = append(ids, ch.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}

	st, env := s.Do(t, "POST", "/api/channel/tag/enabled", s.RootToken, map[string]any{"tag": "team"})
	if st != 200 || !env.Success {
		t.Fatalf("enable tag: %d %+v", st, env)
	}
	if ids := routable("default", "tag-m1"); !slices.Equal(ids, []int{a, b}) {
		t.Fatalf("after enabling, tag-m1 routes to %v, want %v", ids, []int{a, b})
	}

	st, env = s.Do(t, "POST", "/api/channel/tag/disabled", s.RootToken, map[string]any{"tag": "team"})
	if st != 200 || !env.Success {
		t.Fatalf("disable tag: %d %+v", st, env)
	}
	for _, id := range []int{a, b} {
		if ch := cxChannel(t, s, model.Channel{ID: id}); ch.Status != constant.ChannelStatusManuallyDisabled {
			t.Errorf("channel %d status %d after disabling its tag", id, ch.Status)
		}
		for _, ab := range cxAbilities(t, s, id) {
			if ab.Enabled {
				t.Errorf("ability %+v still enabled", ab)
			}
		}
	}
	if ids := routable("default", "tag-m1"); ids != nil {
		t.Fatalf("a disabled tag still routes to %v", ids)
	}
	if ids := routable("default", "tag-m3"); !slices.Equal(ids, []int{other}) {
		t.Fatalf("another tag was touched: %v", ids)
	}
	if st, _ := s.Do(t, "POST", "/api/channel/tag/enabled", s.RootToken, map[string]any{"tag": "team"}); st != 200 {
		t.Fatalf("re-enable: %d", st)
	}

	// Editing the tag rewrites every channel's abilities: a model and a
	// group added here become routable at once.
	st, env = s.Do(t, "PUT", "/api/channel/tag", s.RootToken, map[string]any{"tag": "team", "new_tag": "team2",
		"priority": 7, "weight": 3, "models": "tag-m1, tag-new", "groups": "default,vip",
		"model_mapping": `{"tag-new":"upstream-new"}`})
	if st != 200 || !env.Success {
		t.Fatalf("edit tag: %d %+v", st, env)
	}
	if ids := routable("vip", "tag-new"); !slices.Equal(ids, []int{a, b}) {
		t.Fatalf("tag-new for vip routes to %v, want %v", ids, []int{a, b})
	}
	if ids := routable("default", "tag-m2"); ids != nil {
		t.Fatalf("tag-m2 was dropped from the models yet routes to %v", ids)
	}
	for _, id := range []int{a, b} {
		ch := cxChannel(t, s, model.Channel{ID: id})
		if ch.Tag != "team2" || ch.Priority != 7 || ch.Weight != 3 || ch.Models != "tag-m1,tag-new" ||
			ch.Group != "default,vip" || ch.ModelMapping != `{"tag-new":"upstream-new"}` {
			t.Errorf("channel %d after the edit: %+v", id, ch)
		}
		as := cxAbilities(t, s, id)
		if len(as) != 4 {
			t.Errorf("channel %d has %d abilities, want 4", id, len(as))
		}
		for _, ab := range as {
			if ab.Priority != 7 || ab.Weight != 3 || ab.Tag != "team2" || !ab.Enabled {
				t.Errorf("ability %+v", ab)
			}
		}
		// The key is untouched.
		v, err := s.Store.ChannelViewByID(id)
		if err != nil || !strings.HasPrefix(v.Key, cxGoodKey) {
			t.Errorf("channel %d key after the edit: %v", id, err)
		}
	}
	if v := s.Cache.ChannelByID(a); v == nil || v.MapModel("tag-new") != "upstream-new" {
		t.Error("the cache does not have the new model mapping")
	}
	if ch := cxChannel(t, s, model.Channel{ID: other}); ch.Tag != "other" || ch.Models != "tag-m3" {
		t.Errorf("a channel of another tag changed: %+v", ch)
	}

	// Only the given fields change.
	if st, _ := s.Do(t, "PUT", "/api/channel/tag", s.RootToken, map[string]any{"tag": "team2", "priority": 1}); st != 200 {
		t.Fatalf("priority-only edit: %d", st)
	}
	if ch := cxChannel(t, s, model.Channel{ID: a}); ch.Priority != 1 || ch.Weight != 3 || ch.Models != "tag-m1,tag-new" {
		t.Errorf("after a priority-only edit: %+v", ch)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"disable without tag", "POST", "/api/channel/tag/disabled", map[string]any{}, 400},
		{"enable blank tag", "POST", "/api/channel/tag/enabled", map[string]any{"tag": "  "}, 400},
		{"unknown tag", "POST", "/api/channel/tag/disabled", map[string]any{"tag": "nobody"}, 404},
		{"edit unknown tag", "PUT", "/api/channel/tag", map[string]any{"tag": "nobody", "priority": 1}, 404},
		{"edit nothing", "PUT", "/api/channel/tag", map[string]any{"tag": "team2"}, 400},
		{"bad mapping", "PUT", "/api/channel/tag", map[string]any{"tag": "team2", "model_mapping": `{"a":1}`}, 400},
		{"empty model list", "PUT", "/api/channel/tag", map[string]any{"tag": "team2", "models": " , "}, 400},
		{"negative weight", "PUT", "/api/channel/tag", map[string]any{"tag": "team2", "weight": -1}, 400},
		{"not JSON", "PUT", "/api/channel/tag", "{", 400},
	} {
		if st, env := s.Do(t, tc.method, tc.path, s.RootToken, tc.body); st != tc.want || env.Success {
			t.Errorf("%s: %d %+v, want %d", tc.name, st, env, tc.want)
		}
	}
	if ch := cxChannel(t, s, model.Channel{ID: a}); ch.ModelMapping != `{"tag-new":"upstream-new"}` {
		t.Errorf("a refused edit changed the channel: %+v", ch)
	}
	cxAuthChecks(t, s, commonTok, "POST", "/api/channel/tag/disabled", map[string]any{"tag": "team2"})
	cxAuthChecks(t, s, commonTok, "POST", "/api/channel/tag/enabled", map[string]any{"tag": "team2"})
	cxAuthChecks(t, s, commonTok, "PUT", "/api/channel/tag", map[string]any{"tag": "team2", "priority": 2})
}

func TestChannelSearchAndModelLists(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	commonTok := prUser(t, s, "cx-search-common", constant.RoleCommon, "default")
	alpha := prChannel(t, s, map[string]any{"name": "alpha-east", "models": "m-shared,m-alpha", "tag": "east", "group": "default,vip"})
	beta := prChannel(t, s, map[string]any{"name": "beta-west", "models": "m-shared,m-beta", "tag": "west", "type": 8,
		"status": constant.ChannelStatusManuallyDisabled})

	search := func(q string) []int {
		t.Helper()
		st, env := s.Do(t, "GET", "/api/channel/search?"+q, s.RootToken, nil)
		if st != 200 || !env.Success {
			t.Fatalf("search %s: %d %+v", q, st, env)
		}
		var p struct {
			Items []struct {
				ID  int    `json:"id"`
				Key string `json:"key"`
			} `json:"items"`
			Total    int `json:"total"`
			Page     int `json:"page"`
			PageSize int `json:"page_size"`
		}
		apitest.Decode(t, env, &p)
		if p.Total != len(p.Items) || p.Page != 1 || p.PageSize == 0 {
			t.Fatalf("search %s: page %+v", q, p)
		}
		ids := make([]int, len(p.Items))
		for i, it := range p.Items {
			if it.Key != "" {
				t.Fatal("search returns channel keys")
			}
			ids[i] = it.ID
		}
		slices.Sort(ids)
		return ids
	}
	for q, want := range map[string][]int{
		"keyword=alpha":                 {alpha},
		"keyword=" + strconv.Itoa(beta): {beta},
		"model=m-shared":                {alpha, beta},
		"model=m-beta":                  {beta},
		"tag=east":                      {alpha},
		"group=vip":                     {alpha},
		"status=2":                      {beta},
		"type=8":                        {beta},
		"keyword=nothing-matches":       {},
		"":                              {alpha, beta},
	} {
		if got := search(q); !slices.Equal(got, want) {
			t.Errorf("search %q = %v, want %v", q, got, want)
		}
	}
	for _, q := range []string{"status=enabled", "type=-1"} {
		if st, env := s.Do(t, "GET", "/api/channel/search?"+q, s.RootToken, nil); st != 400 || env.Success {
			t.Errorf("search %s: %d", q, st)
		}
	}

	st, env := s.Do(t, "GET", "/api/channel/models", s.RootToken, nil)
	if st != 200 || !env.Success {
		t.Fatalf("models: %d %+v", st, env)
	}
	var all []struct {
		ID         string `json:"id"`
		ChannelIDs []int  `json:"channel_ids"`
	}
	apitest.Decode(t, env, &all)
	got := map[string][]int{}
	var order []string
	for _, m := range all {
		got[m.ID] = m.ChannelIDs
		order = append(order, m.ID)
	}
	if !slices.Equal(order, []string{"m-alpha", "m-beta", "m-shared"}) {
		t.Fatalf("models = %v, want every listed model, sorted", order)
	}
	if !slices.Equal(got["m-shared"], []int{alpha, beta}) || !slices.Equal(got["m-beta"], []int{beta}) {
		t.Fatalf("channel ids = %v", got)
	}

	st, env = s.Do(t, "GET", "/api/channel/models_enabled", s.RootToken, nil)
	var enabled []string
	apitest.Decode(t, env, &enabled)
	if st != 200 || !slices.Equal(enabled, []string{"m-alpha", "m-shared"}) {
		t.Fatalf("models_enabled = %d %v (m-beta has only a disabled channel)", st, enabled)
	}

	cxAuthChecks(t, s, commonTok, "GET", "/api/channel/search?keyword=a", nil)
	cxAuthChecks(t, s, commonTok, "GET", "/api/channel/models", nil)
	cxAuthChecks(t, s, commonTok, "GET", "/api/channel/models_enabled", nil)
}

// TestChannelTestAllRespectsTheOption switches AutomaticDisableChannelEnabled
// off, a process-wide option, so it must not run in parallel.
func TestChannelTestAllRespectsTheOption(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	up := newCXFake(t)
	dead := prChannel(t, s, map[string]any{"key": cxBadKey, "base_url": up.URL, "models": "gpt-4o"})
	setOpt := func(v string) {
		if st, env := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "AutomaticDisableChannelEnabled", "value": v}); st != 200 {
			t.Fatalf("set AutomaticDisableChannelEnabled=%s: %d %s", v, st, env.Message)
		}
	}
	setOpt("false")
	t.Cleanup(func() { setOpt("true") })
	if st, _ := s.Do(t, "GET", "/api/channel/test", s.RootToken, nil); st != 200 {
		t.Fatalf("test all: %d", st)
	}
	cxWait(t, "the upstream to be called", func() bool { return up.lastPath() != "" })
	s.Tasks.Wait()
	if ch := cxChannel(t, s, model.Channel{ID: dead}); ch.Status != constant.ChannelStatusEnabled {
		t.Fatalf("the channel was disabled (status %d) with AutomaticDisableChannelEnabled off", ch.Status)
	}
}
