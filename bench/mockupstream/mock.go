package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// config is the mock's behaviour, fixed at start (its flags).
type config struct {
	// Chunks is the number of content chunks in a stream; a non-stream
	// answer carries the same text in one message.
	Chunks int
	// ChunkBytes is the length of each chunk's content.
	ChunkBytes int
	// Delay is waited between two content chunks.
	Delay time.Duration
	// Latency is waited before the first byte of any chat answer.
	Latency time.Duration
	// Hold stops every stream after its first content chunk until POST
	// /release (or HoldMax, or the caller leaving).
	Hold    bool
	HoldMax time.Duration
	// Model is what GET /v1/models lists.
	Model string
}

// promptTokens is the prompt size every answer reports.
const promptTokens = 24

// maxCachedModels bounds the pre-encoded answers kept, so a client sending
// many model names cannot grow the mock without limit.
const maxCachedModels = 64

// mock is the OpenAI-compatible handler. Every answer is encoded once per
// model name and then only written: the mock must cost far less than the
// gateways it is used to measure.
type mock struct {
	cfg    config
	models []byte

	mu      sync.Mutex
	encoded map[string]*answers
	gate    chan struct{} // closed by release; replaced by a new one
}

// answers are the bytes of every answer for one model.
type answers struct {
	full     []byte // the non-stream chat.completion
	role     []byte // first stream event: the assistant role
	content  []byte // one content chunk event, repeated Chunks times
	finish   []byte // the finish_reason event
	usage    []byte // the usage event (stream_options.include_usage)
	done     []byte // data: [DONE]
	fullSize string
	// withUsage are role, content and finish as OpenAI sends them in a
	// stream asked for usage: each with "usage":null.
	withUsage struct{ role, content, finish []byte }
}

func newMock(cfg config) *mock {
	if cfg.Model == "" {
		cfg.Model = "bench-model"
	}
	models := fmt.Sprintf(`{"object":"list","data":[{"id":%s,"object":"model","created":1700000000,"owned_by":"bench"}]}`, jsonString(cfg.Model))
	return &mock{cfg: cfg, models: []byte(models), encoded: map[string]*answers{}, gate: make(chan struct{})}
}

func (m *mock) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", m.chat)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(m.models)
	})
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, _ *http.Request) {
		m.release()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// release lets every held stream go on; streams started later are held
// again.
func (m *mock) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.gate)
	m.gate = make(chan struct{})
}

func (m *mock) currentGate() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gate
}

func (m *mock) answersFor(model string) *answers {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.encoded[model]; ok {
		return a
	}
	a := encode(m.cfg, model)
	if len(m.encoded) < maxCachedModels {
		m.encoded[model] = a
	}
	return a
}

func (m *mock) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	f := gjson.GetManyBytes(body, "model", "stream", "stream_options.include_usage")
	if !gjson.ValidBytes(body) || f[0].String() == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"a JSON body with a model is required","type":"invalid_request_error"}}`)
		return
	}
	a := m.answersFor(f[0].String())
	if !wait(r.Context(), nil, m.cfg.Latency) {
		return
	}
	if !f[1].Bool() {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", a.fullSize)
		_, _ = w.Write(a.full)
		return
	}
	m.stream(w, r.Context(), a, f[2].Bool())
}

// stream writes one event per write and flushes each, as a real provider's
// tokens arrive one by one.
func (m *mock) stream(w http.ResponseWriter, ctx context.Context, a *answers, usage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	var gate <-chan struct{}
	if m.cfg.Hold {
		gate = m.currentGate()
	}
	role, content, finish := a.role, a.content, a.finish
	if usage {
		role, content, finish = a.withUsage.role, a.withUsage.content, a.withUsage.finish
	}
	if !send(role) {
		return
	}
	for i := 0; i < m.cfg.Chunks; i++ {
		if i > 0 && !wait(ctx, nil, m.cfg.Delay) {
			return
		}
		if !send(content) {
			return
		}
		if i == 0 && gate != nil && !wait(ctx, gate, m.cfg.HoldMax) {
			return
		}
	}
	if !send(finish) {
		return
	}
	if usage && !send(a.usage) {
		return
	}
	send(a.done)
}

// wait returns after d, or when gate (if any) is closed, or false when
// the caller has gone.
func wait(ctx context.Context, gate <-chan struct{}, d time.Duration) bool {
	if d <= 0 && gate == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-gate:
		return true
	case <-ctx.Done():
		return false
	}
}

// encode builds every answer for model; shapes follow OpenAI's chat
// completion and chat completion chunk objects.
func encode(cfg config, model string) *answers {
	text := content(cfg.ChunkBytes)
	completion := cfg.Chunks * max(1, cfg.ChunkBytes/4)
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`,
		promptTokens, completion, promptTokens+completion)
	head := fmt.Sprintf(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":%s,"system_fingerprint":"fp_bench","choices":[`, jsonString(model))
	event := func(choices, extra string) []byte {
		return []byte("data: " + head + choices + "]" + extra + "}\n\n")
	}
	full := fmt.Sprintf(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":%s,`+
		`"system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":%s},`+
		`"logprobs":null,"finish_reason":"stop"}],"usage":%s}`, jsonString(model), jsonString(strings.Repeat(text, cfg.Chunks)), usage)
	role := `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}`
	chunk := fmt.Sprintf(`{"index":0,"delta":{"content":%s},"logprobs":null,"finish_reason":null}`, jsonString(text))
	finish := `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`
	a := &answers{
		full:     []byte(full),
		fullSize: fmt.Sprint(len(full)),
		role:     event(role, ""),
		content:  event(chunk, ""),
		finish:   event(finish, ""),
		usage:    event("", `,"usage":`+usage),
		done:     []byte("data: [DONE]\n\n"),
	}
	a.withUsage.role = event(role, `,"usage":null`)
	a.withUsage.content = event(chunk, `,"usage":null`)
	a.withUsage.finish = event(finish, `,"usage":null`)
	return a
}

// content is n bytes of words.
func content(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("tok ", n/4+1)[:n]
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
