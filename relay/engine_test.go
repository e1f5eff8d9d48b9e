package relay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
	"sluice/service"
	"sluice/setting"
)

// fakeUpstream is an OpenAI-dialect server whose answer a test scripts.
type fakeUpstream struct {
	*httptest.Server
	hits atomic.Int64
}

const chatOK = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":110}}`

func newUpstream(t testing.TB, h http.HandlerFunc) *fakeUpstream {
	f := &fakeUpstream{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func streamChunks(chunks ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			_, _ = io.WriteString(w, "data: "+c+"\n\n")
			w.(http.Flusher).Flush()
		}
	}
}

type fixture struct {
	engine *Engine
	store  *model.Store
	cache  *model.Cache
	user   *model.UserEntry
	token  *model.TokenEntry
}

func newFixture(t testing.TB, quota int64) *fixture {
	t.Helper()
	db, err := model.Open("", filepath.Join(t.TempDir(), "s.db"), model.PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cipher, _ := common.NewCipher("test")
	store := model.NewStore(db, db, cipher)
	if err := store.Migrate(); err != nil {
		t.Fatal(err)
	}
	u := &model.User{Username: "u", Password: "x", Role: 1, Status: 1, Quota: quota}
	if err := store.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: u.ID, Name: "k", KeyHash: common.HashSecret("sk-test"), Status: 1, ExpiredTime: -1, RemainQuota: quota}
	if err := store.CreateToken(tok); err != nil {
		t.Fatal(err)
	}
	cache := model.NewCache(store)
	writer := service.NewBatchWriter(store, false)
	if err := setting.Apply("ModelRatio", `{"m":1}`); err != nil {
		t.Fatal(err)
	}
	if err := setting.Apply("CompletionRatio", `{"m":2}`); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Cache: cache, Writer: writer, Tasks: &service.Tasks{}, Client: NewHTTPClient(),
		Health:           &service.ChannelHealth{Store: store, Cache: cache, Writer: writer},
		StreamingTimeout: 2 * time.Second, DrainTimeout: time.Second, MaxResponseBytes: 1 << 20}
	return &fixture{engine: e, store: store, cache: cache}
}

func (f *fixture) addChannel(t testing.TB, url string, priority int64) int {
	t.Helper()
	ch := &model.Channel{Type: int(constant.ChannelTypeCustom), Name: "c", BaseURL: url, Models: "m",
		Group: "default", Priority: priority, Weight: 1, Status: 1, AutoBan: 1}
	if err := f.store.CreateChannel(ch, "upstream-key"); err != nil {
		t.Fatal(err)
	}
	return ch.ID
}

func (f *fixture) load(t testing.TB) {
	t.Helper()
	if err := f.cache.Load(); err != nil {
		t.Fatal(err)
	}
	f.user = f.cache.UserEntry(1)
	f.token = f.cache.TokenByHash(common.HashSecret("sk-test"))
}

func (f *fixture) request(t testing.TB, body string) *Request {
	t.Helper()
	p, err := peek.Peek([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.cache.SelectChannel("default", p.Model, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Request{RequestID: "r", Mode: relaycommon.ModeChatCompletions, Body: []byte(body), Peek: p,
		User: f.user, Token: f.token, Group: "default", First: first, Start: time.Now()}
}

const chatBody = `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hello"}]}`

func TestRetryMovesToTheNextTierAndChargesOnce(t *testing.T) {
	f := newFixture(t, 1_000_000)
	bad := newUpstream(t, answer(500, `{"error":{"message":"boom"}}`))
	good := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, bad.URL, 10)
	goodID := f.addChannel(t, good.URL, 0)
	f.load(t)

	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.request(t, chatBody)); err != nil {
		t.Fatalf("relay: %v", err)
	}
	f.engine.Tasks.Wait()
	if rec.Code != 200 || bad.hits.Load() != 1 || good.hits.Load() != 1 {
		t.Fatalf("code=%d bad hits=%d good hits=%d", rec.Code, bad.hits.Load(), good.hits.Load())
	}
	if err := f.engine.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	logs, _, err := f.store.ListLogs(model.LogFilter{Type: constant.LogTypeConsume, Page: 1, PageSize: 10})
	if err != nil || len(logs) != 1 {
		t.Fatalf("logs=%d err=%v", len(logs), err)
	}
	// 100 prompt + 10 completion × ratio 2, model ratio 1.
	if logs[0].Quota != 120 || logs[0].ChannelID != goodID {
		t.Fatalf("log quota=%d channel=%d", logs[0].Quota, logs[0].ChannelID)
	}
	if got := f.user.Quota.Load(); got != 1_000_000-120 {
		t.Fatalf("user quota %d", got)
	}
}

func TestNonRetryableErrorIsNotRetried(t *testing.T) {
	f := newFixture(t, 1_000_000)
	a := newUpstream(t, answer(400, `{"error":{"message":"Invalid value for temperature","code":"invalid_value"}}`))
	b := newUpstream(t, answer(400, `{"error":{"message":"Invalid value for temperature","code":"invalid_value"}}`))
	f.addChannel(t, a.URL, 0)
	f.addChannel(t, b.URL, 0)
	f.load(t)
	err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody))
	if err == nil || err.Status != 400 || !strings.Contains(err.Message, "temperature") {
		t.Fatalf("err = %v", err)
	}
	if a.hits.Load()+b.hits.Load() != 1 {
		t.Fatalf("a 400 was retried: %d hits", a.hits.Load()+b.hits.Load())
	}
	if f.user.Quota.Load() != 1_000_000 || f.token.Remain.Load() != 1_000_000 {
		t.Fatal("a failed request was charged")
	}
}

func TestNeverTheSameChannelTwice(t *testing.T) {
	f := newFixture(t, 1_000_000)
	up := newUpstream(t, answer(503, `{}`))
	f.addChannel(t, up.URL, 0)
	f.load(t)
	err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody))
	if err == nil || err.Status != 502 {
		t.Fatalf("err = %v", err)
	}
	if up.hits.Load() != 1 {
		t.Fatalf("the only channel was tried %d times", up.hits.Load())
	}
}

func TestUnauthorizedUpstreamDisablesTheChannel(t *testing.T) {
	f := newFixture(t, 1_000_000)
	dead := newUpstream(t, answer(401, `{"error":{"message":"Incorrect API key provided: upstream-key"}}`))
	good := newUpstream(t, answer(200, chatOK))
	deadID := f.addChannel(t, dead.URL, 10)
	f.addChannel(t, good.URL, 0)
	f.load(t)
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.request(t, chatBody)); err != nil {
		t.Fatal(err)
	}
	f.engine.Tasks.Wait()
	ch, err := f.store.ChannelByID(deadID)
	if err != nil || ch.Status != constant.ChannelStatusAutoDisabled {
		t.Fatalf("status=%d err=%v", ch.Status, err)
	}
	if f.cache.ChannelByID(deadID).Status != constant.ChannelStatusAutoDisabled {
		t.Fatal("cache still routes to the dead channel")
	}
}

func TestStreamHidesTheUsageChunkAndCharges(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var sawIncludeUsage atomic.Bool
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p, _ := peek.Peek(b)
		sawIncludeUsage.Store(p.IncludeUsage)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{
			`{"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"he"}}]}`,
			`{"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}`,
			`{"id":"1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
			`[DONE]`,
		} {
			_, _ = io.WriteString(w, "data: "+c+"\n\n")
		}
	})
	f.addChannel(t, up.URL, 0)
	f.load(t)
	rec := httptest.NewRecorder()
	req := f.request(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if err := f.engine.Relay(context.Background(), rec, req); err != nil {
		t.Fatal(err)
	}
	f.engine.Tasks.Wait()
	out := rec.Body.String()
	if !sawIncludeUsage.Load() {
		t.Fatal("upstream was not asked for usage")
	}
	if strings.Contains(out, `"usage"`) || !strings.Contains(out, "data: [DONE]") || strings.Count(out, "data: ") != 3 {
		t.Fatalf("client stream:\n%s", out)
	}
	if got := 1_000_000 - f.user.Quota.Load(); got != 7+3*2 {
		t.Fatalf("charged %d, want 13", got)
	}
}

func TestStreamCutMidWayEndsWithAnErrorEvent(t *testing.T) {
	f := newFixture(t, 1_000_000)
	up := newUpstream(t, streamChunks(`{"id":"1","choices":[{"index":0,"delta":{"content":"partial answer"}}]}`))
	other := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, up.URL, 10)
	f.addChannel(t, other.URL, 0)
	f.load(t)
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.request(t, `{"model":"m","stream":true,"messages":[]}`)); err != nil {
		t.Fatal(err)
	}
	f.engine.Tasks.Wait()
	out := rec.Body.String()
	if !strings.Contains(out, "partial answer") || !strings.Contains(out, `data: {"error":`) {
		t.Fatalf("client stream:\n%s", out)
	}
	if other.hits.Load() != 0 {
		t.Fatal("retried after bytes reached the client")
	}
	// What was delivered is charged (counted locally: no usage came).
	if f.user.Quota.Load() >= 1_000_000 {
		t.Fatal("delivered tokens were not charged")
	}
}

func TestStalledStreamTimesOut(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.engine.StreamingTimeout = 300 * time.Millisecond
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"1","choices":[{"index":0,"delta":{"content":"x"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	f.addChannel(t, up.URL, 0)
	f.load(t)
	rec := httptest.NewRecorder()
	start := time.Now()
	if err := f.engine.Relay(context.Background(), rec, f.request(t, `{"model":"m","stream":true,"messages":[]}`)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stall detected after %v", d)
	}
	if !strings.Contains(rec.Body.String(), "upstream_timeout") {
		t.Fatalf("no timeout error event:\n%s", rec.Body.String())
	}
}

func TestInsufficientQuotaMakesNoUpstreamCall(t *testing.T) {
	f := newFixture(t, 10)
	up := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, up.URL, 0)
	f.load(t)
	err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody))
	if err == nil || err.Kind != relayerr.KindQuotaExceeded || err.Status != 429 {
		t.Fatalf("err = %v", err)
	}
	if up.hits.Load() != 0 {
		t.Fatal("upstream called without a reservation")
	}
}

// With the charge queue full (the database away for long), new requests
// are refused before any reservation or upstream call, rather than served
// with charges that could not be kept.
func TestSaturatedChargeQueueRefusesNewRequests(t *testing.T) {
	f := newFixture(t, 1_000_000)
	up := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, up.URL, 0)
	f.load(t)
	f.engine.Writer.SetMaxPending(1)
	f.engine.Writer.AddLog(model.Log{Type: constant.LogTypeSystem, Content: "fills the queue"})
	err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody))
	if err == nil || err.Kind != relayerr.KindUnavailable || err.Status != 503 {
		t.Fatalf("err = %v, want 503 unavailable", err)
	}
	if up.hits.Load() != 0 {
		t.Fatal("upstream called while the charge queue was full")
	}
	if q, _ := f.cache.TokenRemain(context.Background(), f.token.Info().ID); q != 1_000_000 {
		t.Fatalf("key remain = %d after a refused request", q)
	}
	if err := f.engine.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody)); err != nil {
		t.Fatalf("after the drain: %v", err)
	}
}

// An upstream 429 with Retry-After keeps that channel out of rotation for
// the time it asked, while another channel can serve; once every channel
// is cooling they are tried again rather than refusing the client.
func TestRetryAfterCoolsTheChannel(t *testing.T) {
	f := newFixture(t, 1_000_000)
	limited := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		answer(429, `{"error":{"message":"slow down","type":"rate_limit_error"}}`)(w, r)
	})
	ok := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, limited.URL, 10)
	f.addChannel(t, ok.URL, 0)
	f.load(t)
	for i := range 3 {
		if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if limited.hits.Load() != 1 || ok.hits.Load() != 3 {
		t.Fatalf("hits: rate-limited channel %d (want 1), other %d (want 3)", limited.hits.Load(), ok.hits.Load())
	}
	ok.Close() // now the only other channel is gone: the cooling one is tried again
	_ = f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody))
	if limited.hits.Load() < 2 {
		t.Fatalf("the cooling channel was not tried when it was the last one (hits %d)", limited.hits.Load())
	}
}

func BenchmarkRelayNonStream(b *testing.B) {
	f := newFixture(b, 1<<60)
	up := newUpstream(b, answer(200, chatOK))
	f.addChannel(b, up.URL, 0)
	f.load(b)
	req := f.request(b, chatBody)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := *req
		if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), &r); err != nil {
			b.Fatal(err)
		}
	}
	f.engine.Tasks.Wait()
}

func BenchmarkRelayStream(b *testing.B) {
	f := newFixture(b, 1<<60)
	chunks := make([]string, 0, 52)
	for range 50 {
		chunks = append(chunks, `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"token "},"finish_reason":null}]}`)
	}
	chunks = append(chunks, `{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":50,"total_tokens":57}}`, `[DONE]`)
	up := newUpstream(b, streamChunks(chunks...))
	f.addChannel(b, up.URL, 0)
	f.load(b)
	req := f.request(b, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := *req
		if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), &r); err != nil {
			b.Fatal(err)
		}
	}
	f.engine.Tasks.Wait()
}

func TestPromptEstimateCountsInlineImagesFlat(t *testing.T) {
	t.Parallel()
	img := strings.Repeat("A", 3_000_000) // a ~2 MB image, base64
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}]}`
	got := promptEstimate([]byte(body))
	textOnly := (len(body)-len(img))/3 + 1
	if got != textOnly+imageTokenAllowance {
		t.Fatalf("estimate %d, want %d", got, textOnly+imageTokenAllowance)
	}
	plain := `{"model":"m","messages":[{"role":"user","content":"hello"}]}`
	if promptEstimate([]byte(plain)) != len(plain)/3+1 {
		t.Fatal("plain text estimate changed")
	}
}

func TestRepeatedFailuresDisableAndTheProbeReenables(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.engine.Health.FailureRule = func() (int, time.Duration) { return 3, time.Minute }
	var healthy atomic.Bool
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			answer(200, chatOK)(w, r)
			return
		}
		answer(502, `{"error":{"message":"bad gateway"}}`)(w, r)
	})
	id := f.addChannel(t, up.URL, 0)
	f.load(t)
	for i := range 3 {
		if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody)); err == nil || err.Status != 502 {
			t.Fatalf("request %d: %v", i+1, err)
		}
		f.engine.Tasks.Wait()
		want := constant.ChannelStatusEnabled
		if i == 2 {
			want = constant.ChannelStatusAutoDisabled
		}
		if ch, _ := f.store.ChannelByID(id); ch.Status != want {
			t.Fatalf("after %d failures status %d, want %d", i+1, ch.Status, want)
		}
	}
	// Still failing: the probe leaves it off.
	f.engine.probeOnce(context.Background(), f.store)
	if ch, _ := f.store.ChannelByID(id); ch.Status != constant.ChannelStatusAutoDisabled {
		t.Fatal("the probe re-enabled a failing channel")
	}
	healthy.Store(true)
	f.engine.probeOnce(context.Background(), f.store)
	if ch, _ := f.store.ChannelByID(id); ch.Status != constant.ChannelStatusEnabled {
		t.Fatal("the probe did not re-enable a channel that answers")
	}
	if !f.cache.HasModel("default", "m") {
		t.Fatal("the re-enabled channel is not routed to")
	}
}

// Shortening the probe interval takes effect at once, not after the old
// (long) wait: an operator doing it during an incident expects the probe
// to run within a few seconds.
func TestProbeIntervalChangeIsObeyedAtOnce(t *testing.T) {
	f := newFixture(t, 1_000_000)
	up := newUpstream(t, answer(200, chatOK))
	id := f.addChannel(t, up.URL, 0)
	if err := f.store.DB.Model(&model.Channel{}).Where("id = ?", id).Update("status", constant.ChannelStatusAutoDisabled).Error; err != nil {
		t.Fatal(err)
	}
	f.load(t)
	var interval atomic.Int64
	interval.Store(int64(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.engine.RunHealthProbe(ctx, f.store, func() time.Duration { return time.Duration(interval.Load()) })
	time.Sleep(1500 * time.Millisecond)
	if ch, _ := f.store.ChannelByID(id); ch.Status != constant.ChannelStatusAutoDisabled {
		t.Fatal("probed before the interval passed")
	}
	interval.Store(int64(time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ch, _ := f.store.ChannelByID(id); ch.Status == constant.ChannelStatusEnabled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the shortened interval was not obeyed within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flushSpy is a ResponseRecorder that notes, at each flush, how many logs
// the batch writer held: what was charged by the time the client had its
// answer.
type flushSpy struct {
	*httptest.ResponseRecorder
	writer      *service.BatchWriter
	logsAtFlush []int
	bodyAtFlush []int
}

func (s *flushSpy) Flush() {
	s.logsAtFlush = append(s.logsAtFlush, s.writer.PendingLogs())
	s.bodyAtFlush = append(s.bodyAtFlush, s.Body.Len())
	s.ResponseRecorder.Flush()
}

func TestAnswerIsSentWholeBeforeItsChargeAndChargedWhenRelayReturns(t *testing.T) {
	f := newFixture(t, 1_000_000)
	up := newUpstream(t, answer(200, chatOK))
	f.addChannel(t, up.URL, 0)
	f.load(t)

	spy := &flushSpy{ResponseRecorder: httptest.NewRecorder(), writer: f.engine.Writer}
	if err := f.engine.Relay(context.Background(), spy, f.request(t, chatBody)); err != nil {
		t.Fatalf("relay: %v", err)
	}
	// No Tasks.Wait: the charge must be queued by the time Relay returns.
	if got := f.engine.Writer.PendingLogs(); got != 1 {
		t.Fatalf("logs queued when Relay returned: %d, want 1", got)
	}
	body := spy.Body.String()
	if len(spy.logsAtFlush) == 0 || spy.logsAtFlush[0] != 0 || spy.bodyAtFlush[0] != len(body) {
		t.Fatalf("first flush saw %v queued logs and %v body bytes, want 0 logs and the whole %d-byte answer",
			spy.logsAtFlush, spy.bodyAtFlush, len(body))
	}
	if cl := spy.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Fatalf("Content-Length %q for a %d-byte answer", cl, len(body))
	}
}
