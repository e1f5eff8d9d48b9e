package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// mediaBehaviour scripts the fake media upstream; the zero value answers
// correctly.
type mediaBehaviour struct {
	// Status answers every HTTP call with this status and an OpenAI error.
	Status int
	// SpeechGate, when set, holds the speech answer after its first chunk
	// until the channel is closed: a test proves the chunk reached the
	// client before the rest exists.
	SpeechGate chan struct{}
	// RealtimeDropAfterCreated drops the WebSocket (no close frame) right
	// after sending response.created.
	RealtimeDropAfterCreated bool
	// RealtimeWaitCancel sends response.done only after the client's
	// response.cancel (with the usage produced so far).
	RealtimeWaitCancel bool
}

// Fixed answers of the fake media upstream, which tests price from.
var (
	speechChunks        = [][]byte{[]byte("ID3-chunk-one-"), []byte("chunk-two-"), []byte("chunk-three")}
	imageUsage          = tokens{Prompt: 50, Completion: 1056}
	transcriptSeconds   = 7.0  // usage {type: duration} of a json answer
	verboseSeconds      = 12.5 // verbose_json's duration
	srtEndSeconds       = 9.5  // the last cue of the srt answer
	rerankTokens        = 42   // Jina's usage.total_tokens
	cohereTokens        = 30   // Cohere's meta.billed_units.input_tokens
	realtimeTurnUsage   = rtUsage{TextIn: 100, AudioIn: 200, CachedText: 40, TextOut: 30, AudioOut: 120}
	transcribeTokenUsed = rtUsage{TextIn: 10, AudioIn: 90, TextOut: 20}
)

// rtUsage is a usage split by modality, as Realtime's response.usage and
// gpt-4o-transcribe's usage report it.
type rtUsage struct{ TextIn, AudioIn, CachedText, TextOut, AudioOut int }

// mediaCall is one call the fake media upstream received.
type mediaCall struct {
	Path   string
	Header http.Header
	Query  string
	// Fields are the form fields (multipart) or top-level JSON members.
	Fields map[string]string
	// Files maps a file field to "<size>:<sha256>" of its bytes.
	Files map[string]string
	// Events are the client events of a Realtime session, in order.
	Events []string
}

// mediaUpstream is an OpenAI-compatible server for images, audio,
// moderations, rerank and Realtime, speaking their real wire shapes.
type mediaUpstream struct {
	URL string
	srv *httptest.Server

	mu    sync.Mutex
	calls []*mediaCall
	b     mediaBehaviour
}

func newMediaUpstream(t *testing.T, b mediaBehaviour) *mediaUpstream {
	t.Helper()
	u := &mediaUpstream{b: b}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	t.Cleanup(u.srv.Close)
	return u
}

func (u *mediaUpstream) set(b mediaBehaviour) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.b = b
}

// Calls returns a snapshot of the calls so far.
func (u *mediaUpstream) Calls() []mediaCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]mediaCall, len(u.calls))
	for i, c := range u.calls {
		out[i] = *c
		out[i].Events = append([]string(nil), c.Events...)
	}
	return out
}

func (u *mediaUpstream) last(t *testing.T) mediaCall {
	t.Helper()
	calls := u.Calls()
	if len(calls) == 0 {
		t.Fatal("the media upstream received no call")
	}
	return calls[len(calls)-1]
}

func (u *mediaUpstream) serve(w http.ResponseWriter, r *http.Request) {
	call := &mediaCall{Path: r.URL.Path, Header: r.Header.Clone(), Query: r.URL.RawQuery,
		Fields: map[string]string{}, Files: map[string]string{}}
	u.mu.Lock()
	u.calls = append(u.calls, call)
	b := u.b
	u.mu.Unlock()
	if r.URL.Path == "/v1/realtime" {
		u.realtime(w, r, call, b)
		return
	}
	if err := u.readBody(r, call); err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "could not parse the body: "+err.Error(), "invalid_request_error", "")
		return
	}
	if b.Status != 0 {
		writeOpenAIError(w, b.Status, "The server had an error while processing your request (key "+upstreamKey+")", "server_error", "")
		return
	}
	model := call.Fields["model"]
	switch r.URL.Path {
	case "/v1/images/generations", "/v1/images/edits":
		n, _ := strconv.Atoi(call.Fields["n"])
		n = max(n, 1)
		data := make([]any, n)
		for i := range data {
			data[i] = map[string]any{"b64_json": "aW1hZ2U=", "revised_prompt": call.Fields["prompt"]}
		}
		resp := map[string]any{"created": time.Now().Unix(), "data": data}
		if strings.HasPrefix(model, "gpt-image") {
			resp["usage"] = map[string]any{"input_tokens": imageUsage.Prompt, "output_tokens": imageUsage.Completion,
				"total_tokens":         imageUsage.Prompt + imageUsage.Completion,
				"input_tokens_details": map[string]any{"text_tokens": imageUsage.Prompt, "image_tokens": 0}}
		}
		writeJSON(w, http.StatusOK, resp)
	case "/v1/audio/speech":
		w.Header().Set("Content-Type", "audio/mpeg")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for i, c := range speechChunks {
			_, _ = w.Write(c)
			_ = rc.Flush()
			if i == 0 && b.SpeechGate != nil {
				select {
				case <-b.SpeechGate:
				case <-r.Context().Done():
					return
				}
			}
		}
	case "/v1/audio/transcriptions", "/v1/audio/translations":
		u.transcribe(w, call)
	case "/v1/moderations":
		writeJSON(w, http.StatusOK, map[string]any{"id": "modr-e2e", "model": "omni-moderation-2024-09-26",
			"results": []any{map[string]any{"flagged": true, "categories": map[string]bool{"violence": true},
				"category_scores": map[string]float64{"violence": 0.97}}}})
	case "/v1/rerank":
		results := []any{map[string]any{"index": 1, "relevance_score": 0.9}, map[string]any{"index": 0, "relevance_score": 0.1}}
		if strings.Contains(model, "cohere") {
			writeJSON(w, http.StatusOK, map[string]any{"id": "rr-e2e", "results": results,
				"meta": map[string]any{"billed_units": map[string]any{"search_units": 1, "input_tokens": cohereTokens}}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"model": model, "results": results,
			"usage": map[string]any{"total_tokens": rerankTokens}})
	default:
		writeOpenAIError(w, http.StatusNotFound, "Invalid URL (POST "+r.URL.Path+")", "invalid_request_error", "")
	}
}

// readBody records a multipart upload's fields and file digests (read as
// a stream, never held whole) or a JSON body's scalar members.
func (u *mediaUpstream) readBody(r *http.Request, call *mediaCall) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		mr, err := r.MultipartReader()
		if err != nil {
			return err
		}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if p.FileName() != "" {
				h := sha256.New()
				n, err := io.Copy(h, p)
				if err != nil {
					return err
				}
				call.Files[p.FormName()] = strconv.FormatInt(n, 10) + ":" + hex.EncodeToString(h.Sum(nil))
				continue
			}
			v, _ := io.ReadAll(p)
			call.Fields[p.FormName()] = string(v)
		}
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) == nil {
			call.Fields[k] = s
		} else {
			call.Fields[k] = string(v)
		}
	}
	return nil
}

// transcribe answers in the requested response_format as OpenAI does.
func (u *mediaUpstream) transcribe(w http.ResponseWriter, call *mediaCall) {
	const text = "Hello from the fake upstream."
	switch call.Fields["response_format"] {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
	case "srt":
		w.Header().Set("Content-Type", "application/x-subrip")
		_, _ = io.WriteString(w, "1\n00:00:00,000 --> 00:00:04,000\nHello from\n\n2\n00:00:04,000 --> 00:00:09,500\nthe fake upstream.\n\n")
	case "vtt":
		w.Header().Set("Content-Type", "text/vtt")
		_, _ = io.WriteString(w, "WEBVTT\n\n00:00:00.000 --> 00:00:09.500\nHello from the fake upstream.\n\n")
	case "verbose_json":
		writeJSON(w, http.StatusOK, map[string]any{"task": "transcribe", "language": "english",
			"duration": verboseSeconds, "text": text, "segments": []any{}})
	default:
		resp := map[string]any{"text": text}
		if strings.Contains(call.Fields["model"], "transcribe") {
			resp["usage"] = map[string]any{"type": "tokens", "input_tokens": transcribeTokenUsed.TextIn + transcribeTokenUsed.AudioIn,
				"input_token_details": map[string]any{"text_tokens": transcribeTokenUsed.TextIn, "audio_tokens": transcribeTokenUsed.AudioIn},
				"output_tokens":       transcribeTokenUsed.TextOut, "total_tokens": transcribeTokenUsed.TextIn + transcribeTokenUsed.AudioIn + transcribeTokenUsed.TextOut}
		} else {
			resp["usage"] = map[string]any{"type": "duration", "seconds": transcriptSeconds}
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// realtime plays an OpenAI Realtime server: session.created on connect,
// then for each response.create a response.created, two audio deltas and
// a response.done carrying realtimeTurnUsage.
func (u *mediaUpstream) realtime(w http.ResponseWriter, r *http.Request, call *mediaCall, b mediaBehaviour) {
	if b.Status != 0 {
		writeOpenAIError(w, b.Status, "realtime refused (key "+upstreamKey+")", "server_error", "")
		return
	}
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	send := func(v map[string]any) error { return conn.WriteJSON(v) }
	if send(map[string]any{"type": "session.created", "event_id": "event_1",
		"session": map[string]any{"id": "sess_e2e", "model": r.URL.Query().Get("model")}}) != nil {
		return
	}
	turn := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &ev)
		u.mu.Lock()
		call.Events = append(call.Events, string(data))
		u.mu.Unlock()
		if ev.Type != "response.create" {
			continue
		}
		turn++
		id := fmt.Sprintf("resp_%d", turn)
		if send(map[string]any{"type": "response.created", "response": map[string]any{"id": id, "status": "in_progress"}}) != nil {
			return
		}
		if b.RealtimeDropAfterCreated {
			if nc := conn.NetConn(); nc != nil {
				nc.Close() // no close frame: a dropped connection
			}
			return
		}
		status := "completed"
		if b.RealtimeWaitCancel {
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					return
				}
				u.mu.Lock()
				call.Events = append(call.Events, string(data))
				u.mu.Unlock()
				if strings.Contains(string(data), `"response.cancel"`) {
					break
				}
			}
			status = "cancelled"
		} else {
			for i := range 2 {
				if send(map[string]any{"type": "response.output_audio.delta", "response_id": id, "delta": fmt.Sprintf("QUFB%d", i)}) != nil {
					return
				}
			}
		}
		ru := realtimeTurnUsage
		if send(map[string]any{"type": "response.done", "response": map[string]any{"id": id, "status": status,
			"usage": map[string]any{
				"total_tokens": ru.TextIn + ru.AudioIn + ru.TextOut + ru.AudioOut, "input_tokens": ru.TextIn + ru.AudioIn,
				"output_tokens": ru.TextOut + ru.AudioOut,
				"input_token_details": map[string]any{"text_tokens": ru.TextIn, "audio_tokens": ru.AudioIn,
					"cached_tokens": ru.CachedText, "cached_tokens_details": map[string]any{"text_tokens": ru.CachedText, "audio_tokens": 0}},
				"output_token_details": map[string]any{"text_tokens": ru.TextOut, "audio_tokens": ru.AudioOut},
			}}}) != nil {
			return
		}
	}
}
