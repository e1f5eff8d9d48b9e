package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file covers upstream faults the fake upstream of fake_upstream_test.go
// cannot produce: TLS failures, TCP resets, malformed bodies and streams,
// oversized answers and Retry-After. An upstream that never sends its first
// byte is covered by TestErrorStatuses (hang-model, stream and not).

// rawUpstream answers over a bare TCP socket, for faults net/http's server
// cannot make: a reset (RST, SO_LINGER 0) after part of a response.
type rawUpstream struct {
	URL   string
	calls atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

// newRawUpstream serves one request per connection: it reads the request,
// then lets answer write whatever it likes and close the connection.
func newRawUpstream(t *testing.T, answer func(c *net.TCPConn, body []byte)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns = append(u.conns, c)
			u.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				body, _ := io.ReadAll(req.Body)
				u.calls.Add(1)
				answer(c.(*net.TCPConn), body)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		for _, c := range u.conns {
			c.Close()
		}
		u.mu.Unlock()
		wg.Wait()
	})
	return u
}

// resetAfter writes data, waits for the gateway to have read it, then
// closes with SO_LINGER 0 so the peer gets a RST instead of a FIN.
func resetAfter(c *net.TCPConn, data string) {
	_, _ = io.WriteString(c, data)
	time.Sleep(300 * time.Millisecond)
	_ = c.SetLinger(0)
	_ = c.Close()
}

// chunkEvent is one chat.completion.chunk SSE event with content word.
func chunkEvent(i int, word string) string {
	delta := fmt.Sprintf(`{"content":%q}`, word)
	if i == 0 {
		delta = fmt.Sprintf(`{"role":"assistant","content":%q}`, word)
	}
	return `data: {"id":"chatcmpl-faults","object":"chat.completion.chunk","created":1700000000,"model":"m",` +
		`"choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
}

const sseHeaders = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"

// scriptedUpstream is a net/http upstream whose every answer is script;
// it counts its calls.
type scriptedUpstream struct {
	*httptest.Server
	calls atomic.Int64
}

func newScripted(t *testing.T, script func(w http.ResponseWriter, r *http.Request)) *scriptedUpstream {
	t.Helper()
	u := &scriptedUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.calls.Add(1)
		script(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// sseScript answers a stream made of raw SSE text, flushed piece by piece.
func sseScript(pieces ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for _, p := range pieces {
			if _, err := io.WriteString(w, p); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}

// leakProbe turns a URL into the fakeUpstream checkNoLeak and
// checkErrorEvent compare client-visible bodies against.
func leakProbe(url string) *fakeUpstream { return &fakeUpstream{URL: url} }

// readStream reads every event of a stream response until its end.
func readStream(t *testing.T, resp *http.Response) []string {
	t.Helper()
	defer resp.Body.Close()
	var all []string
	events := newSSEReader(resp.Body)
	for {
		data, err := events.next()
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatalf("reading the stream: %v (events so far %q)", err, all)
		}
		all = append(all, data)
	}
}

// TestUpstreamFaults: each broken upstream gives the client a clean error
// in OpenAI's shape that names no upstream detail; a request that produced
// nothing costs nothing, a stream cut after content is charged for what
// was delivered (counted locally), and repeated transport failures
// auto-disable a channel only once ChannelFailureThreshold is reached.
// The subtests run in order: each checks root's balance.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	s := startSluice(t, options{Env: map[string]string{"STREAMING_TIMEOUT": "5"}})
	const threshold = 3
	s.setOption(t, "ChannelFailureThreshold", strconv.Itoa(threshold))
	s.setOption(t, "ChannelFailureWindowSeconds", "600")
	const budget = 1_000_000
	ctx := context.Background()

	// A server whose certificate sluice has no reason to trust.
	var handshakeErrors atomic.Int64
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeFixture(w, "chat_completion.json", "tls-model", chatUsage, nil)
	}))
	untrusted.Config.ErrorLog = log.New(writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("TLS handshake error")) {
			handshakeErrors.Add(1)
		}
		return len(p), nil
	}), "", 0)
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	resetBody := newRawUpstream(t, func(c *net.TCPConn, _ []byte) {
		resetAfter(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"+
			`{"id":"chatcmpl-reset","object":"chat.completion","created":1700000000,"model":"reset-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hel`)
	})
	malformed := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// A whole body by its length, but not JSON: a proxy's error page
		// cut short, or an upstream bug.
		_, _ = io.WriteString(w, `{"id":"chatcmpl-bad","object":"chat.completion","choices":[{"message":{"content":"Hi`)
	})

	s.setPrices(t, "tls-model", "reset-model", "malformed-model", "reset-stream-model", "reset-first-model",
		"error-event-model", "error-first-model", "garbage-sse-model", "bad-data-model", "control-model")
	control := newUpstream(t, behaviour{})
	s.createChannel(t, channelSpec{Name: "control", BaseURL: control.URL, Models: "control-model"})
	userStart := s.userBalance(t)
	var charged int64 // what the subtests expect the user to have paid in all

	nonStream := []struct {
		name, model, url string
		calls            func() int64
	}{
		{"TLSCertificateNotTrusted", "tls-model", untrusted.URL, handshakeErrors.Load},
		{"ResetMidBody", "reset-model", resetBody.URL, resetBody.calls.Load},
		{"MalformedJSONBody", "malformed-model", malformed.URL, malformed.calls.Load},
	}
	for _, tc := range nonStream {
		t.Run(tc.name, func(t *testing.T) {
			id := s.createChannel(t, channelSpec{Name: tc.name, BaseURL: tc.url, Models: tc.model})
			key := s.createKey(t, keySpec{RemainQuota: budget})
			for i := 1; i <= threshold; i++ {
				before, calls := s.userBalance(t), tc.calls()
				resp := s.post(t, ctx, "/v1/chat/completions", key.Secret, bytes.NewReader(chatBody(tc.model, false)))
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("call %d: status %d, want 502: %s", i, resp.StatusCode, body)
				}
				checkOpenAIError(t, body, "upstream_error", leakProbe(tc.url))
				// The TLS server logs its handshake error just after the
				// client gave up on it, so allow it a moment.
				for wait := time.Now().Add(2 * time.Second); tc.calls() == calls && time.Now().Before(wait); {
					time.Sleep(10 * time.Millisecond)
				}
				if tc.calls() == calls {
					t.Errorf("call %d: the upstream saw no attempt; the failure was not the one under test", i)
				}
				if kb := s.keyBalance(t, key.ID); kb.RemainQuota != budget || kb.UsedQuota != 0 {
					t.Errorf("call %d: the key was not refunded: %+v", i, kb)
				}
				if ub := s.userBalance(t); ub != before {
					t.Errorf("call %d: the user's balance moved from %+v to %+v", i, before, ub)
				}
				if i < threshold {
					if st := s.channelStatus(t, id); st != 1 {
						t.Fatalf("after %d failures (threshold %d) the channel has status %d, want 1", i, threshold, st)
					}
				}
			}
			var st int
			eventually(t, 5*time.Second, func() bool { st = s.channelStatus(t, id); return st == 3 },
				func() string {
					return fmt.Sprintf("after %d failures the channel has status %d, want 3", threshold, st)
				})
			resp := s.post(t, ctx, "/v1/chat/completions", key.Secret, bytes.NewReader(chatBody(tc.model, false)))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("with its only channel auto-disabled: %d, want 503: %s", resp.StatusCode, body)
			}
		})
	}

	// Streams. content is what the upstream delivered before failing: ""
	// means nothing is charged; otherwise the charge is the local count.
	twoChunks := chunkEvent(0, "w0 ") + chunkEvent(1, "w1 ")
	resetStream := newRawUpstream(t, func(c *net.TCPConn, _ []byte) { resetAfter(c, sseHeaders+twoChunks) })
	resetFirst := newRawUpstream(t, func(c *net.TCPConn, _ []byte) { resetAfter(c, sseHeaders) })
	leakyError := fmt.Sprintf(`data: {"error":{"message":"The engine is overloaded (key %s, backend %s)","type":"server_error","param":null,"code":null}}`+"\n\n",
		upstreamKey, "http://127.0.0.1:1/v1")
	errorEvent := newScripted(t, sseScript(twoChunks, leakyError))
	errorFirst := newScripted(t, sseScript(leakyError))
	streams := []struct {
		name, model, url string
		content          string
	}{
		{"ResetMidStream", "reset-stream-model", resetStream.URL, "w0 w1 "},
		{"ResetBeforeContent", "reset-first-model", resetFirst.URL, ""},
		{"ErrorEventMidStream", "error-event-model", errorEvent.URL, "w0 w1 "},
		{"ErrorEventFirst", "error-first-model", errorFirst.URL, ""},
	}
	for _, tc := range streams {
		t.Run(tc.name, func(t *testing.T) {
			id := s.createChannel(t, channelSpec{Name: tc.name, BaseURL: tc.url, Models: tc.model})
			key := s.createKey(t, keySpec{RemainQuota: budget})
			before := s.userBalance(t)
			all := readStream(t, openStream(t, ctx, s, key.Secret, tc.model))
			if len(all) == 0 {
				t.Fatalf("empty stream: want an error event at least")
			}
			var text strings.Builder
			for _, ev := range all[:len(all)-1] {
				if !isChunk(ev) {
					t.Errorf("event %q before the error event is not a chunk", ev)
				}
				text.WriteString(contentOf(t, ev))
			}
			checkErrorEvent(t, all[len(all)-1], leakProbe(tc.url))
			if text.String() != tc.content {
				t.Errorf("delivered %q, want %q", text.String(), tc.content)
			}
			if tc.content == "" {
				// Nothing produced: the reservation is refunded at once.
				if kb := s.keyBalance(t, key.ID); kb.RemainQuota != budget || kb.UsedQuota != 0 {
					t.Errorf("a stream that delivered nothing was charged: %+v", kb)
				}
				if ub := s.userBalance(t); ub != before {
					t.Errorf("the user's balance moved from %+v to %+v", before, ub)
				}
			} else {
				logs := s.waitConsumeLogs(t, key.Name, 1)
				l := logs[0]
				want := cost(tokens{Prompt: l.PromptTokens, Completion: l.CompletionTokens})
				if len(logs) != 1 || l.Channel != id || !l.IsStream || l.PromptTokens <= 0 ||
					l.CompletionTokens <= 0 || l.CompletionTokens > 8 || l.Quota != want {
					t.Errorf("consume logs %+v: want one on channel %d charging the %q delivered (1–8 tokens) at prompt + 2 × completion = %d",
						logs, id, tc.content, want)
				}
				if kb := s.keyBalance(t, key.ID); kb.RemainQuota != budget-l.Quota || kb.UsedQuota != l.Quota {
					t.Errorf("key %+v after a charge of %d", kb, l.Quota)
				}
				if paid := before.Quota - s.userBalance(t).Quota; paid != l.Quota {
					t.Errorf("the user paid %d, the log says %d", paid, l.Quota)
				}
				charged += l.Quota
			}
			if st := s.channelStatus(t, id); st != 1 {
				t.Errorf("one failed stream changed the channel's status to %d", st)
			}
		})
	}

	t.Run("GarbageLinesInTheStream", func(t *testing.T) {
		// Lines that are not SSE fields, unknown fields, comments, a bare
		// "data" field with no value and blank-line noise: SSE says ignore
		// them, and the stream must come through whole and be charged
		// from the upstream's usage.
		usage := fmt.Sprintf(`data: {"id":"chatcmpl-faults","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
			chatUsage.Prompt, chatUsage.Completion, chatUsage.Prompt+chatUsage.Completion)
		up := newScripted(t, sseScript(
			"this line is not an SSE field\n", ": a comment\n", "retry: soon\n", "event: \n",
			chunkEvent(0, "w0 "), "\x00\x01 binary noise\n\n", "id: 7\nbogus-field: x\n\n",
			chunkEvent(1, "w1 "), "\n\n\n", chunkEvent(2, "w2 "),
			`data: {"id":"chatcmpl-faults","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n",
			usage, "data: [DONE]\n\n"))
		s.createChannel(t, channelSpec{Name: "garbage", BaseURL: up.URL, Models: "garbage-sse-model"})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		all := readStream(t, openStream(t, ctx, s, key.Secret, "garbage-sse-model"))
		var text strings.Builder
		for _, ev := range all {
			if ev == "[DONE]" {
				continue
			}
			if !isChunk(ev) {
				t.Errorf("the client got a non-chunk event %q", ev)
				continue
			}
			text.WriteString(contentOf(t, ev))
		}
		if text.String() != streamText(3) || len(all) == 0 || all[len(all)-1] != "[DONE]" {
			t.Errorf("events %q: want the 3 words and [DONE]", all)
		}
		if l := s.waitConsumeLogs(t, key.Name, 1)[0]; l.Quota != cost(chatUsage) {
			t.Errorf("charged %d, want the upstream's usage %d", l.Quota, cost(chatUsage))
		} else {
			charged += l.Quota
		}
	})

	t.Run("NonJSONDataEvent", func(t *testing.T) {
		// A data event that is not JSON. The OpenAI decoder reads events
		// with gjson and forwards what it does not understand verbatim, so
		// the client receives the broken event between good chunks, and
		// the charge still comes from the usage chunk. Pinned here so a
		// change (dropping such events, or ending the stream with an error
		// event) is a deliberate one.
		usage := fmt.Sprintf(`data: {"id":"chatcmpl-faults","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
			chatUsage.Prompt, chatUsage.Completion, chatUsage.Prompt+chatUsage.Completion)
		up := newScripted(t, sseScript(chunkEvent(0, "w0 "), "data: {\"id\":\"chatcmpl-faults\",\"choices\":[{\"del\n\n",
			chunkEvent(1, "w1 "), usage, "data: [DONE]\n\n"))
		s.createChannel(t, channelSpec{Name: "bad-data", BaseURL: up.URL, Models: "bad-data-model"})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		all := readStream(t, openStream(t, ctx, s, key.Secret, "bad-data-model"))
		if len(all) != 4 || !isChunk(all[0]) || all[1] != `{"id":"chatcmpl-faults","choices":[{"del` || !isChunk(all[2]) || all[3] != "[DONE]" {
			t.Errorf("events %q: want chunk, the broken event verbatim, chunk, [DONE]", all)
		}
		if l := s.waitConsumeLogs(t, key.Name, 1)[0]; l.Quota != cost(chatUsage) {
			t.Errorf("charged %d, want the upstream's usage %d", l.Quota, cost(chatUsage))
		} else {
			charged += l.Quota
		}
	})

	// A control request: once its log is written, anything the failures
	// had queued is written too, and the totals must add up.
	key := s.createKey(t, keySpec{RemainQuota: budget})
	if st := chatStatus(t, s, key.Secret, "control-model"); st != http.StatusOK {
		t.Fatalf("control request: status %d", st)
	}
	charged += s.waitConsumeLogs(t, key.Name, 1)[0].Quota
	var logged int64
	for _, l := range s.consumeLogs(t, "") {
		logged += l.Quota
	}
	if paid := userStart.Quota - s.userBalance(t).Quota; paid != charged || logged != charged {
		t.Errorf("in all the user paid %d and the consume logs sum to %d; the subtests expect %d", paid, logged, charged)
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestOversizedUpstreamResponse: an upstream that answers a non-stream
// call with an endless body gets a 502 once MaxResponseBytes (256 MiB in
// main.go) is passed; the gateway stops reading there, so its memory stays
// bounded by the limit, not by what the upstream would send.
func TestOversizedUpstreamResponse(t *testing.T) {
	t.Parallel()
	const offered = int64(4) << 30 // 4 GiB, 16 × the limit
	var written atomic.Int64
	huge := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"id":"chatcmpl-huge","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		block := bytes.Repeat([]byte("a"), 1<<20)
		for n := int64(0); n < offered; n += int64(len(block)) {
			if _, err := w.Write(block); err != nil {
				return
			}
			written.Add(int64(len(block)))
		}
	})
	s := startSluice(t, options{})
	s.setPrices(t, "huge-model")
	id := s.createChannel(t, channelSpec{BaseURL: huge.URL, Models: "huge-model"})
	key := s.createKey(t, keySpec{RemainQuota: 1_000_000})
	_, hwmBefore := procMemKB(t, s.cmd.Process.Pid)

	start := time.Now()
	resp := s.post(t, context.Background(), "/v1/chat/completions", key.Secret, bytes.NewReader(chatBody("huge-model", false)))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %.300s", resp.StatusCode, body)
	}
	checkOpenAIError(t, body, "upstream_error", leakProbe(huge.URL))
	_, hwm := procMemKB(t, s.cmd.Process.Pid)
	t.Logf("502 after %v; the upstream got %d MiB out before the gateway hung up; gateway peak RSS %d MiB (before: %d MiB)",
		took.Round(time.Millisecond), written.Load()>>20, hwm>>10, hwmBefore>>10)
	if written.Load() >= offered {
		t.Errorf("the gateway read all %d MiB the upstream offered", offered>>20)
	}
	// ReadAll's growth keeps up to about twice the limit alive at once.
	if hwm > 1<<20 { // KiB: 1 GiB
		t.Errorf("peak RSS %d MiB: memory is not bounded by MaxResponseBytes", hwm>>10)
	}
	if kb := s.keyBalance(t, key.ID); kb.RemainQuota != 1_000_000 || kb.UsedQuota != 0 {
		t.Errorf("the key was not refunded: %+v", kb)
	}
	if st := s.channelStatus(t, id); st != 1 {
		t.Errorf("one oversized answer changed the channel's status to %d", st)
	}
}

// procMemKB reads VmRSS and VmHWM (peak RSS) of pid in KiB.
func procMemKB(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// TestUpstreamRetryAfter: a channel whose upstream answers 429 with
// Retry-After is skipped for that long while a second channel serves,
// then tried again; the client never sees the 429, and a rate limit is no
// mark against the channel's health.
func TestUpstreamRetryAfter(t *testing.T) {
	t.Parallel()
	const wait = 2 * time.Second
	var limitedAt atomic.Int64 // unix nanoseconds of the 429
	var answered atomic.Bool
	limited := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if answered.CompareAndSwap(false, true) {
			limitedAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
			writeOpenAIError(w, http.StatusTooManyRequests, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
			return
		}
		writeFixture(w, "chat_completion.json", "ra-model", chatUsage, nil)
	})
	backup := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "ra-model")
	idA := s.createChannel(t, channelSpec{Name: "limited", BaseURL: limited.URL, Models: "ra-model", Priority: 10})
	idB := s.createChannel(t, channelSpec{Name: "backup", BaseURL: backup.URL, Models: "ra-model", Priority: 0})
	key := s.createKey(t, keySpec{RemainQuota: 1_000_000})

	// Until the cooling ends every request lands on B; then A (the higher
	// priority) is called again.
	var servedByB int
	var backAfter time.Duration
	for deadline := time.Now().Add(3 * wait); time.Now().Before(deadline); {
		callsA := limited.calls.Load()
		if st := chatStatus(t, s, key.Secret, "ra-model"); st != http.StatusOK {
			t.Fatalf("status %d: the client saw the rate limit", st)
		}
		if limited.calls.Load() > callsA && limited.calls.Load() >= 2 {
			backAfter = time.Since(time.Unix(0, limitedAt.Load()))
			break
		}
		servedByB++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("A was called again %v after its 429 (Retry-After %v); B served %d requests meanwhile", backAfter, wait, servedByB)
	switch {
	case backAfter == 0:
		t.Fatalf("channel A was not called again within %v of a Retry-After of %v", 3*wait, wait)
	case backAfter < wait-100*time.Millisecond:
		t.Errorf("channel A was called again %v after a Retry-After of %v", backAfter, wait)
	case servedByB < 5:
		t.Errorf("only %d requests were served by B while A cooled", servedByB)
	}
	if n := len(backup.Calls()); n != servedByB {
		t.Errorf("B was called %d times, want %d (once per request while A cooled)", n, servedByB)
	}
	for _, id := range []int{idA, idB} {
		if st := s.channelStatus(t, id); st != 1 {
			t.Errorf("channel %d has status %d after a rate limit, want 1", id, st)
		}
	}
}
