package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The usage the fake upstream reports for every call: tests price their
// expectations from these, never from sluice's own figures.
var (
	chatUsage  = tokens{Prompt: 19, Completion: 10}
	embedUsage = tokens{Prompt: 8}
)

// behaviour scripts the fake upstream; the zero value answers correctly.
type behaviour struct {
	// Status answers every call with this status and an OpenAI error body
	// that, like careless providers' errors, echoes the channel key and the
	// upstream URL.
	Status int
	// Hang accepts a call and answers nothing, not even headers, until the
	// caller gives up.
	Hang bool
	// Chunks is the number of content chunks in a stream (default 3).
	Chunks int
	// Delay is waited before each stream chunk, or before a non-stream answer.
	Delay time.Duration
	// CutAfter > 0 drops the connection after that many content chunks,
	// without a finish chunk or [DONE].
	CutAfter int
	// StallAfter > 0 sends that many content chunks, then holds the
	// connection open silently until the caller gives up.
	StallAfter int
}

// upstreamCall is one request the fake upstream received.
type upstreamCall struct {
	Path   string
	Header http.Header
	Body   []byte
}

// field decodes one top-level member of the call's JSON body (nil if absent).
func (c upstreamCall) field(t *testing.T, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c.Body, &m); err != nil {
		t.Fatalf("upstream received a body that is not a JSON object: %s", c.Body)
	}
	return m[name]
}

// fakeUpstream is an OpenAI-compatible server speaking the real wire
// format (shapes from OpenAI's API reference, fixtures in testdata/). It
// records every call so tests can assert what sluice forwarded.
type fakeUpstream struct {
	URL string
	srv *httptest.Server

	mu    sync.Mutex
	calls []upstreamCall
	b     behaviour

	closing chan struct{}
}

func newUpstream(t *testing.T, b behaviour) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{b: b, closing: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	t.Cleanup(func() {
		close(u.closing) // release hanging handlers, or Close would wait for them
		u.srv.Close()
	})
	return u
}

// set changes the behaviour for the following calls.
func (u *fakeUpstream) set(b behaviour) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.b = b
}

// Calls returns a copy of the calls received so far.
func (u *fakeUpstream) Calls() []upstreamCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamCall(nil), u.calls...)
}

// lastCall returns the most recent call, failing the test if there is none.
func (u *fakeUpstream) lastCall(t *testing.T) upstreamCall {
	t.Helper()
	calls := u.Calls()
	if len(calls) == 0 {
		t.Fatalf("the upstream received no call")
	}
	return calls[len(calls)-1]
}

func (u *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, upstreamCall{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	b := u.b
	u.mu.Unlock()

	switch {
	case b.Hang:
		u.waitForCaller(r)
		return
	case b.Status != 0:
		u.writeError(w, b.Status)
		return
	}
	var req struct {
		Model          string          `json:"model"`
		Stream         bool            `json:"stream"`
		Tools          json.RawMessage `json:"tools"`
		EncodingFormat string          `json:"encoding_format"`
		StreamOptions  *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "")
		return
	}
	switch r.URL.Path {
	case "/v1/chat/completions":
		if req.Stream {
			u.stream(w, r, b, req.Model, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			return
		}
		if !u.pause(r, b.Delay) {
			return
		}
		fixture := "chat_completion.json"
		if len(req.Tools) > 0 {
			fixture = "chat_tool_call.json"
		}
		writeFixture(w, fixture, req.Model, chatUsage, nil)
	case "/v1/completions":
		writeFixture(w, "completion.json", req.Model, chatUsage, nil)
	case "/v1/embeddings":
		writeFixture(w, "embeddings.json", req.Model, embedUsage, func(m map[string]any) {
			if req.EncodingFormat == "base64" {
				encodeEmbeddingsBase64(m)
			}
		})
	default:
		writeOpenAIError(w, http.StatusNotFound, "Invalid URL (POST "+r.URL.Path+")", "invalid_request_error", "")
	}
}

// waitForCaller blocks until the caller hangs up (or the test ends).
func (u *fakeUpstream) waitForCaller(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-u.closing:
	}
}

// pause waits d, reporting false if the caller hung up meanwhile.
func (u *fakeUpstream) pause(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-u.closing:
		return false
	}
}

// writeError answers like OpenAI does for the status, with a message that
// leaks the channel key and this server's URL.
func (u *fakeUpstream) writeError(w http.ResponseWriter, status int) {
	leak := fmt.Sprintf(" (key %s, backend %s/v1)", upstreamKey, u.URL)
	switch status {
	case http.StatusUnauthorized:
		writeOpenAIError(w, status, "Incorrect API key provided: "+upstreamKey+". You can find your API key at "+u.URL+"/account/api-keys.", "invalid_request_error", "invalid_api_key")
	case http.StatusTooManyRequests:
		writeOpenAIError(w, status, "Rate limit reached for requests"+leak, "requests", "rate_limit_exceeded")
	case http.StatusBadRequest:
		writeOpenAIError(w, status, "Invalid value for 'temperature'"+leak, "invalid_request_error", "invalid_value")
	default:
		writeOpenAIError(w, status, "The server had an error while processing your request"+leak, "server_error", "")
	}
}

func writeOpenAIError(w http.ResponseWriter, status int, msg, typ, code string) {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeFixture answers with a testdata body, its model set to the one
// requested and its usage to u (as the real API echoes the model it ran).
func writeFixture(w http.ResponseWriter, name, model string, u tokens, edit func(map[string]any)) {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		writeOpenAIError(w, http.StatusInternalServerError, "fixture: "+err.Error(), "server_error", "")
		return
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		writeOpenAIError(w, http.StatusInternalServerError, "fixture: "+err.Error(), "server_error", "")
		return
	}
	m["model"] = model
	usage := m["usage"].(map[string]any)
	usage["prompt_tokens"] = u.Prompt
	usage["total_tokens"] = u.Prompt + u.Completion
	if _, ok := usage["completion_tokens"]; ok {
		usage["completion_tokens"] = u.Completion
	}
	if edit != nil {
		edit(m)
	}
	writeJSON(w, http.StatusOK, m)
}

// encodeEmbeddingsBase64 turns each embedding into little-endian float32
// bytes in base64, as the API answers encoding_format "base64".
func encodeEmbeddingsBase64(m map[string]any) {
	for _, d := range m["data"].([]any) {
		e := d.(map[string]any)
		var buf bytes.Buffer
		for _, f := range e["embedding"].([]any) {
			_ = binary.Write(&buf, binary.LittleEndian, math.Float32bits(float32(f.(float64))))
		}
		e["embedding"] = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
}

// streamWords are the content deltas a stream sends, in order.
func streamWords(n int) []string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("w%d ", i)
	}
	return words
}

// stream answers a chat completion as server-sent chat.completion.chunk
// events: a role chunk with the first word, more content chunks, a finish
// chunk, the usage chunk (choices: []) only when include_usage was asked,
// then [DONE]. With include_usage every other chunk carries "usage": null,
// as the API documents.
func (u *fakeUpstream) stream(w http.ResponseWriter, r *http.Request, b behaviour, model string, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	created := time.Now().Unix()
	send := func(choices []any, usage any) bool {
		if !u.pause(r, b.Delay) {
			return false
		}
		chunk := map[string]any{"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": created,
			"model": model, "system_fingerprint": "fp_e2e", "choices": choices}
		if includeUsage {
			chunk["usage"] = usage
		}
		data, _ := json.Marshal(chunk)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	n := b.Chunks
	if n == 0 {
		n = 3
	}
	for i, word := range streamWords(n) {
		switch {
		case b.CutAfter > 0 && i == b.CutAfter:
			// Drop the connection mid-body: the chunked encoding never ends.
			if conn, _, err := rc.Hijack(); err == nil {
				conn.Close()
			}
			return
		case b.StallAfter > 0 && i == b.StallAfter:
			u.waitForCaller(r)
			return
		}
		delta := map[string]any{"content": word}
		if i == 0 {
			delta["role"] = "assistant"
		}
		if !send([]any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": nil}}, nil) {
			return
		}
	}
	if !send([]any{map[string]any{"index": 0, "delta": map[string]any{}, "logprobs": nil, "finish_reason": "stop"}}, nil) {
		return
	}
	if includeUsage {
		usage := map[string]any{"prompt_tokens": chatUsage.Prompt, "completion_tokens": chatUsage.Completion,
			"total_tokens": chatUsage.Prompt + chatUsage.Completion}
		if !send([]any{}, usage) {
			return
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// streamText is what a complete stream of n chunks says.
func streamText(n int) string { return strings.Join(streamWords(n), "") }
