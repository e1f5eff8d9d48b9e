package router_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sluice/internal/apitest"
)

// BenchmarkChatCompletionThroughRouter is one non-stream chat completion
// through everything a request meets in process: gin, every middleware
// (request id, CORS, key auth, rate limit, distributor), the relay, pricing,
// reservation, settlement, metrics and the queued log, against a local
// upstream. Only the client side of net/http is left out.
func BenchmarkChatCompletionThroughRouter(b *testing.B) {
	// Start-up's log lines would split the benchmark's result lines.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"bench-model",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44}}`))
	}))
	b.Cleanup(up.Close)
	s := apitest.New(b, apitest.Options{})
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/channel/", map[string]any{"type": 8, "name": "bench", "key": "sk-up", "base_url": up.URL, "models": "bench-model"}},
		{"PUT", "/api/option/", map[string]string{"key": "ModelRatio", "value": `{"bench-model":1}`}},
	} {
		if st, env := s.Do(b, call.method, call.path, s.RootToken, call.body); st != 200 || !env.Success {
			b.Fatalf("%s %s: %d %s", call.method, call.path, st, env.Message)
		}
	}
	key := createKey(b, s, s.RootToken, map[string]any{"name": "bench", "unlimited_quota": true, "expired_time": -1})
	handler := s.Config.Handler
	const body = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":16}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
