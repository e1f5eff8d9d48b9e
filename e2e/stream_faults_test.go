package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// openStream posts a streaming chat request with plain net/http and
// returns the response once its headers arrived.
func openStream(t *testing.T, ctx context.Context, s *sluice, key, model string) *http.Response {
	t.Helper()
	resp := s.post(t, ctx, "/v1/chat/completions", key, bytes.NewReader(chatBody(model, true)))
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	return resp
}

// isChunk reports whether an event is a chat.completion.chunk.
func isChunk(data string) bool {
	var c struct {
		Object string `json:"object"`
	}
	return json.Unmarshal([]byte(data), &c) == nil && c.Object == "chat.completion.chunk"
}

// checkErrorEvent asserts that data is an OpenAI error event
// ({"error":{message,type,code}}) naming no upstream detail.
func checkErrorEvent(t *testing.T, data string, upstreams ...*fakeUpstream) {
	t.Helper()
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(data), &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Errorf("the stream did not end with an OpenAI error event; last event: %s", data)
	}
	checkNoLeak(t, []byte(data), upstreams...)
}

// TestStreamFaults covers streams that do not end well: a client that
// leaves, an upstream that drops the connection, one that goes silent.
func TestStreamFaults(t *testing.T) {
	t.Parallel()
	slow := newUpstream(t, behaviour{Chunks: 20, Delay: 100 * time.Millisecond})
	cut := newUpstream(t, behaviour{Chunks: 5, CutAfter: 2})
	stalled := newUpstream(t, behaviour{Chunks: 5, StallAfter: 1})
	s := startSluice(t, options{Env: map[string]string{"STREAMING_TIMEOUT": "1"}})
	s.setPrices(t, "slow-model", "cut-model", "stall-model")
	slowID := s.createChannel(t, channelSpec{Name: "slow", BaseURL: slow.URL, Models: "slow-model"})
	s.createChannel(t, channelSpec{Name: "cut", BaseURL: cut.URL, Models: "cut-model"})
	s.createChannel(t, channelSpec{Name: "stalled", BaseURL: stalled.URL, Models: "stall-model"})
	const budget = 1_000_000

	t.Run("ClientLeavesMidStream", func(t *testing.T) {
		t.Parallel()
		key := s.createKey(t, keySpec{RemainQuota: budget})
		ctx, cancel := context.WithCancel(context.Background())
		resp := openStream(t, ctx, s, key.Secret, "slow-model")
		events := newSSEReader(resp.Body)
		for i := range 2 {
			if data, err := events.next(); err != nil || !isChunk(data) {
				t.Fatalf("event %d: %q, %v", i, data, err)
			}
		}
		cancel()
		resp.Body.Close()
		// The upstream finishes its 2 s stream; its final usage is what
		// the request is charged.
		logs := s.waitConsumeLogs(t, key.Name, 1)
		want := consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt, CompletionTokens: chatUsage.Completion,
			Channel: slowID, ModelName: "slow-model", IsStream: true}
		if l := logs[0]; l.Quota != want.Quota || l.PromptTokens != want.PromptTokens || l.CompletionTokens != want.CompletionTokens ||
			l.Channel != want.Channel || !l.IsStream {
			t.Errorf("consume log = %+v, want %+v", l, want)
		}
		if kb := s.keyBalance(t, key.ID); kb.RemainQuota != budget-want.Quota {
			t.Errorf("key remain = %d, want %d", kb.RemainQuota, budget-want.Quota)
		}
	})

	t.Run("UpstreamDropsTheConnection", func(t *testing.T) {
		t.Parallel()
		key := s.createKey(t, keySpec{RemainQuota: budget})
		resp := openStream(t, context.Background(), s, key.Secret, "cut-model")
		defer resp.Body.Close()
		var all []string
		events := newSSEReader(resp.Body)
		for {
			data, err := events.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading the stream: %v (events so far %q)", err, all)
			}
			all = append(all, data)
		}
		if len(all) != 3 || !isChunk(all[0]) || !isChunk(all[1]) {
			t.Fatalf("events = %q, want the 2 chunks the upstream sent, then an error event", all)
		}
		checkErrorEvent(t, all[2], cut)
	})

	t.Run("UpstreamDropsTheConnection/openai-go", func(t *testing.T) {
		t.Parallel()
		key := s.createKey(t, keySpec{RemainQuota: budget})
		stream := s.client(key.Secret).Chat.Completions.NewStreaming(context.Background(), hello("cut-model"))
		chunks := 0
		for stream.Next() {
			chunks++
		}
		if stream.Err() == nil {
			t.Errorf("the SDK saw a clean end after %d chunks of a stream the upstream cut", chunks)
		}
	})

	t.Run("UpstreamStalls", func(t *testing.T) {
		t.Parallel()
		key := s.createKey(t, keySpec{RemainQuota: budget})
		resp := openStream(t, context.Background(), s, key.Secret, "stall-model")
		defer resp.Body.Close()
		events := newSSEReader(resp.Body)
		if data, err := events.next(); err != nil || !isChunk(data) {
			t.Fatalf("first event: %q, %v", data, err)
		}
		silentSince := time.Now()
		data, err := events.next()
		waited := time.Since(silentSince)
		if err != nil {
			t.Fatalf("after %v the stream ended without an error event: %v", waited, err)
		}
		checkErrorEvent(t, data, stalled)
		// ~1 s; the upper bound leaves room for a loaded CI machine.
		if waited < 500*time.Millisecond || waited > 4*time.Second {
			t.Errorf("the error event came after %v of silence; STREAMING_TIMEOUT is 1 s", waited)
		}
		if data, err := events.next(); !errors.Is(err, io.EOF) {
			t.Errorf("after the error event: %q, %v; want the end of the stream", data, err)
		}
	})
}
