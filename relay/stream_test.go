package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/tokenizer"
)

// flushHeaders flushes on another goroutine; what the flush returns or
// raises must reach the handler as if it had flushed itself.
func TestFlushHeadersReportsTheFlush(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "text/event-stream")
	rec.WriteHeader(http.StatusOK)
	if err := flushHeaders(rec); err != nil || !rec.Flushed {
		t.Fatalf("flushHeaders: err %v, flushed %v", err, rec.Flushed)
	}

	if err := flushHeaders(failingFlusher{rec}); !errors.Is(err, errFlush) {
		t.Fatalf("flushHeaders on a failing writer: %v, want %v", err, errFlush)
	}

	defer func() {
		if p := recover(); p != "flush panicked" {
			t.Fatalf("recovered %v, want the flush's panic raised in the caller", p)
		}
	}()
	_ = flushHeaders(panickingFlusher{rec})
	t.Fatal("flushHeaders returned after the flush panicked")
}

var errFlush = errors.New("client gone")

type failingFlusher struct{ http.ResponseWriter }

func (failingFlusher) FlushError() error { return errFlush }

type panickingFlusher struct{ http.ResponseWriter }

func (panickingFlusher) Flush() { panic("flush panicked") }

// connCounter counts an upstream's connections as its server sees them.
type connCounter struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed:
		c.closed++
	}
}

func (c *connCounter) counts() (opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.closed
}

// chatEvents is a chat stream that reports its usage.
var chatEvents = []string{
	`{"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`,
	`{"id":"1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
	`[DONE]`,
}

// endingStream is an HTTP/1.1 upstream whose stream of events ends with
// [DONE] and whose body ends later: after tail, or when release is closed.
func endingStream(t *testing.T, events []string, tail time.Duration, release <-chan struct{}) (*httptest.Server, *connCounter) {
	t.Helper()
	conns := &connCounter{}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range events {
			_, _ = io.WriteString(w, "data: "+c+"\n\n")
		}
		w.(http.Flusher).Flush()
		select { // the body's last chunk goes out when the handler returns
		case <-time.After(tail):
		case <-release:
		case <-r.Context().Done(): // the client closed the connection
		}
	}))
	up.Config.ConnState = conns.track
	up.Start()
	t.Cleanup(up.Close)
	return up, conns
}

// endingStreamHTTP2 is endingStream over HTTPS and HTTP/2.
func endingStreamHTTP2(t *testing.T, events []string, tail time.Duration) (*httptest.Server, *connCounter) {
	t.Helper()
	conns := &connCounter{}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("the upstream call came over %s", r.Proto)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range events {
			_, _ = io.WriteString(w, "data: "+c+"\n\n")
		}
		w.(http.Flusher).Flush()
		select {
		case <-time.After(tail):
		case <-r.Context().Done(): // the relay reset the stream
		}
	}))
	up.EnableHTTP2 = true
	up.Config.ConnState = conns.track
	up.StartTLS()
	t.Cleanup(up.Close)
	return up, conns
}

// reuseTrace records whether the upstream call got a pooled connection.
func reuseTrace(reused *bool) context.Context {
	return httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { *reused = i.Reused },
	})
}

// relayReusing relays req and fails unless its upstream call got a pooled
// connection.
func relayReusing(t *testing.T, f *fixture, req *Request) *httptest.ResponseRecorder {
	t.Helper()
	var reused bool
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(reuseTrace(&reused), rec, req); err != nil {
		t.Fatal(err)
	}
	if !reused {
		t.Fatal("the stream dialled a new upstream connection")
	}
	return rec
}

// wantOneConnection fails unless the upstream saw one connection, still open.
func wantOneConnection(t *testing.T, conns *connCounter) {
	t.Helper()
	if opened, closed := conns.counts(); opened != 1 || closed != 0 {
		t.Fatalf("upstream saw %d connections opened and %d closed, want 1 and 0", opened, closed)
	}
}

// A stream that ended with its end event leaves the upstream connection in
// the pool even when the body's end comes after the event, and the client's
// response does not wait for it.
func TestFinishedStreamKeepsItsUpstreamConnection(t *testing.T) {
	const tail = 50 * time.Millisecond
	up, conns := endingStream(t, chatEvents, tail, nil)
	f := newFixture(t, 1_000_000)
	f.addChannel(t, up.URL, 0)
	f.load(t)
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

	start := time.Now()
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, body)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= tail {
		t.Fatalf("the relay took %v: it waited for the upstream body's end (%v after [DONE])", took, tail)
	}
	time.Sleep(tail + 200*time.Millisecond) // the body's end arrives and is drained
	relayReusing(t, f, f.request(t, body))
	wantOneConnection(t, conns)
	f.engine.Tasks.Wait()
	if got := 1_000_000 - f.user.Quota.Load(); got != 2*(7+3*2) {
		t.Fatalf("charged %d for two streams, want 26", got)
	}
}

// Over HTTP/2 a stream closed on its end event is reset and its connection
// kept, with nothing to drain: the second stream shares the connection even
// though the first's body never ended.
func TestFinishedHTTP2StreamSharesItsConnection(t *testing.T) {
	up, conns := endingStreamHTTP2(t, chatEvents, time.Hour)
	f := newFixture(t, 1_000_000)
	f.engine.Client = up.Client()
	f.addChannel(t, up.URL, 0)
	f.load(t)
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, body)); err != nil {
		t.Fatal(err)
	}
	relayReusing(t, f, f.request(t, body))
	wantOneConnection(t, conns)
}

// An upstream that keeps the body open after its end event loses the
// connection once drainWait has passed; the client is not held meanwhile.
func TestStreamBodyLeftOpenIsDroppedAfterTheDrainWait(t *testing.T) {
	old := drainWait
	drainWait = 50 * time.Millisecond
	t.Cleanup(func() { drainWait = old })
	release := make(chan struct{})
	up, conns := endingStream(t, chatEvents, time.Hour, release)
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handler
	f := newFixture(t, 1_000_000)
	f.addChannel(t, up.URL, 0)
	f.load(t)

	start := time.Now()
	req := f.request(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), req); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= drainWait {
		t.Fatalf("the relay took %v: it waited on the open body", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, closed := conns.counts(); closed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection of a body left open was never closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took < drainWait {
		t.Fatalf("the connection closed after %v, before the drain wait (%v)", took, drainWait)
	}
}

// A media call's event stream (image generation, streamed transcription)
// that ends with [DONE] keeps its connection the same way.
func TestFinishedMediaStreamKeepsItsUpstreamConnection(t *testing.T) {
	const tail = 50 * time.Millisecond
	up, conns := endingStream(t, []string{
		`{"type":"image_generation.partial_image","b64_json":"AAAA","partial_image_index":0}`,
		`{"type":"image_generation.completed","b64_json":"AAAA","usage":{"input_tokens":20,"output_tokens":100,"total_tokens":120}}`,
		`[DONE]`,
	}, tail, nil)
	f := newFixture(t, 1_000_000)
	f.addChannel(t, up.URL, 0)
	f.load(t)
	media := func() *Request {
		req := f.request(t, `{"model":"m","prompt":"a cat","stream":true}`)
		req.Mode = relaycommon.ModeImageGenerations
		return req
	}

	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, media()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), "image_generation.completed") {
		t.Fatalf("client stream:\n%s", rec.Body.String())
	}
	time.Sleep(tail + 200*time.Millisecond)
	relayReusing(t, f, media())
	wantOneConnection(t, conns)
	f.engine.Tasks.Wait()
	if used := 1_000_000 - f.user.Quota.Load(); used <= 0 {
		t.Fatalf("the media streams were not charged (%d)", used)
	}
}

// A media call's event stream goes to the client with the headers of a
// chat stream: proxies in between must neither buffer nor close it.
func TestMediaStreamHasTheEventStreamHeaders(t *testing.T) {
	up, _ := endingStream(t, []string{
		`{"type":"image_generation.completed","b64_json":"AAAA","usage":{"input_tokens":20,"output_tokens":100,"total_tokens":120}}`,
		`[DONE]`,
	}, 0, nil)
	f := newFixture(t, 1_000_000)
	f.addChannel(t, up.URL, 0)
	f.load(t)
	req := f.request(t, `{"model":"m","prompt":"a cat","stream":true}`)
	req.Mode = relaycommon.ModeImageGenerations

	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, req); err != nil {
		t.Fatal(err)
	}
	f.engine.Tasks.Wait()
	for name, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
		"Connection": "keep-alive", "X-Accel-Buffering": "no"} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestOverflowTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                         string
		extra, keptBytes, keptTokens int
		want                         int
	}{
		{"nothing past the cap", 0, 65536, 16000, 0},
		{"the kept text's rate", 30000, 60000, 20000, 10000},
		{"rounded up", 10, 3, 1, 4},
		{"nothing kept to measure: 4 bytes a token", 10, 0, 0, 3},
		{"kept text counted as no tokens", 8, 100, 0, 2},
		{"a large overflow does not overflow", 1 << 40, 1 << 16, 1 << 16, 1 << 40},
	}
	for _, tt := range tests {
		if got := overflowTokens(tt.extra, tt.keptBytes, tt.keptTokens); got != tt.want {
			t.Errorf("%s: overflowTokens(%d, %d, %d) = %d, want %d", tt.name, tt.extra, tt.keptBytes, tt.keptTokens, got, tt.want)
		}
	}
}

// A long stream that reports no usage is charged for its whole text, not
// just the kept prefix: the rest is counted at the prefix's own bytes per
// token. This Chinese text runs at 2.3 bytes a token where English runs
// near 4: a fixed 4 undercharged it by a third.
func TestLongStreamWithoutUsageIsChargedForItsWholeText(t *testing.T) {
	f := newFixture(t, 1_000_000_000)
	sentence := "今天天气很好，我们一起去公园散步，然后在湖边喝茶聊天。"
	piece := strings.Repeat(sentence, 20)
	var chunks []string
	var whole strings.Builder
	for whole.Len() < 4*channel.MaxKeptText {
		chunks = append(chunks, `{"id":"1","choices":[{"index":0,"delta":{"content":"`+piece+`"}}]}`)
		whole.WriteString(piece)
	}
	chunks = append(chunks, "[DONE]")
	up := newUpstream(t, streamChunks(chunks...))
	f.addChannel(t, up.URL, 0)
	f.load(t)
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, body)); err != nil {
		t.Fatal(err)
	}
	f.engine.Tasks.Wait()
	prompt := tokenizer.CountChatPrompt("m", []byte(body))
	completion := (1_000_000_000 - f.user.Quota.Load() - int64(prompt)) / 2 // completion ratio 2
	counted := int64(tokenizer.CountText("m", whole.String()))
	if diff := completion - counted; diff < -counted/100 || diff > counted/100 {
		t.Fatalf("charged %d completion tokens for a text of %d tokens (%d bytes)", completion, counted, whole.Len())
	}
	kept := tokenizer.CountText("m", whole.String()[:channel.MaxKeptText])
	if fixed := int64(kept + (whole.Len()-channel.MaxKeptText+3)/4); fixed > counted*9/10 {
		t.Fatalf("the text is not one a fixed 4 bytes a token undercounts (%d of %d): the test shows nothing", fixed, counted)
	}
}
