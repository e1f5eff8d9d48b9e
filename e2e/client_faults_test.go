package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readHeaderTimeout is main.go's http.Server ReadHeaderTimeout.
const readHeaderTimeout = 10 * time.Second

// checkHealthy asserts that sluice still serves a normal chat request after
// a fault, and returns how many calls the upstream had then.
func checkHealthy(t *testing.T, s *sluice, key, model string, up *fakeUpstream) int {
	t.Helper()
	resp := s.post(t, context.Background(), "/v1/chat/completions", key, bytes.NewReader(chatBody(model, false)))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the fault a normal request got %d: %s", resp.StatusCode, body)
	}
	return len(up.Calls())
}

// onlyReader hides a body's type, so net/http cannot learn its length and
// sends it chunked.
type onlyReader struct{ io.Reader }

// TestClientFaults sends what broken or hostile clients send and checks
// each gets a clean 4xx in OpenAI's shape, made by sluice itself (the
// upstream sees nothing), and that sluice serves normally afterwards.
func TestClientFaults(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{Env: map[string]string{"MAX_REQUEST_BODY_MB": "1"}})
	const model = "faults-model"
	s.setPrices(t, model)
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: model})
	key := s.createKey(t, keySpec{UnlimitedQuota: true}).Secret

	deep := 100_000
	nested := fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":%s%s}]}`, model,
		strings.Repeat("[", deep), strings.Repeat("]", deep))
	huge := fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, strings.Repeat("x", 3<<19))
	cases := []struct {
		name    string
		body    []byte
		chunked bool
		status  int
		code    string
	}{
		{name: "invalid UTF-8 in a message", body: fmt.Appendf(nil, "{\"model\":%q,\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9 \xff\xfe\"}]}", model),
			status: http.StatusBadRequest, code: "invalid_request"},
		{name: "invalid UTF-8 in the model name", body: []byte("{\"model\":\"faults-\xc3\x28\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
			status: http.StatusBadRequest, code: "invalid_request"},
		{name: "100,000 nested arrays in a message", body: nested, status: http.StatusBadRequest, code: "invalid_request"},
		{name: "body over MAX_REQUEST_BODY_MB", body: huge, status: http.StatusRequestEntityTooLarge, code: "request_too_large"},
		{name: "body over MAX_REQUEST_BODY_MB, chunked", body: huge, chunked: true, status: http.StatusRequestEntityTooLarge, code: "request_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := checkHealthy(t, s, key, model, up)
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = onlyReader{body}
			}
			resp := s.post(t, context.Background(), "/v1/chat/completions", key, body)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.chunked && len(resp.Request.TransferEncoding) == 0 && resp.Request.ContentLength > 0 {
				t.Fatalf("the request was not sent chunked")
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, got)
			}
			checkOpenAIError(t, got, tc.code, up)
			if n := len(up.Calls()); n != before {
				t.Errorf("the upstream received %d calls for a request sluice should have refused", n-before)
			}
			checkHealthy(t, s, key, model, up)
		})
	}

	t.Run("thousands of headers", func(t *testing.T) {
		// 10,000 headers of ~110 bytes: past MaxHeaderBytes (1 MiB), so
		// net/http answers 431 itself, before any handler runs (its body is
		// net/http's plain text, not the OpenAI shape).
		var req bytes.Buffer
		fmt.Fprintf(&req, "POST /v1/chat/completions HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer %s\r\n", key)
		for i := range 10_000 {
			fmt.Fprintf(&req, "X-Flood-%05d: %s\r\n", i, strings.Repeat("f", 96))
		}
		req.WriteString("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
		resp := rawRequest(t, s, req.Bytes())
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
		checkHealthy(t, s, key, model, up)
	})

	t.Run("many small headers under the limit", func(t *testing.T) {
		// 5,000 headers that fit in MaxHeaderBytes are served normally.
		req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/chat/completions", bytes.NewReader(chatBody(model, false)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		for i := range 5_000 {
			req.Header.Set(fmt.Sprintf("X-Many-%04d", i), "v")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

// TestDeepNestingAtBodyLimit sends a body nested as deep as the default
// 32 MB limit allows (12 million arrays). It must be refused like any bad
// body; sluice refuses it before any recursive parser sees it.
func TestDeepNestingAtBodyLimit(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	const model = "deep-model"
	s.setPrices(t, model)
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: model})
	key := s.createKey(t, keySpec{UnlimitedQuota: true}).Secret
	const deep = 12_000_000
	body := fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":%s%s}]}`, model,
		strings.Repeat("[", deep), strings.Repeat("]", deep))
	resp := s.post(t, context.Background(), "/v1/chat/completions", key, bytes.NewReader(body))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %.300s", resp.StatusCode, got)
	}
	checkOpenAIError(t, got, "invalid_request", up)
	checkHealthy(t, s, key, model, up)
}

// rawRequest writes raw bytes on a fresh connection and reads one
// response. The server may close the connection before it has read
// everything (that is the point of a limit), so a failed write is ignored.
func rawRequest(t *testing.T, s *sluice, raw []byte) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	go func() { _, _ = conn.Write(raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestSlowloris trickles a request's headers one byte every 500 ms, as a
// slowloris attack does to hold connections open: sluice must drop the
// connection once ReadHeaderTimeout has passed, and keep serving others
// meanwhile and afterwards.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	const model = "slow-model"
	s.setPrices(t, model)
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: model})
	key := s.createKey(t, keySpec{UnlimitedQuota: true}).Secret

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: sluice\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// A header that never ends, one byte at a time.
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for _, b := range []byte(strings.Repeat("X-Slow: "+strings.Repeat("s", 64), 10)) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
		}
	}()

	// Other clients are served while the slow one hangs on.
	time.Sleep(time.Second)
	checkHealthy(t, s, key, model, up)

	// The server closes the connection (net/http may first answer 408):
	// read until it does, for at most ReadHeaderTimeout and a margin.
	margin := 3 * time.Second
	_ = conn.SetReadDeadline(start.Add(readHeaderTimeout + margin))
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the slow connection was still open after %v (ReadHeaderTimeout %v)", elapsed.Round(time.Millisecond), readHeaderTimeout)
	}
	if elapsed < readHeaderTimeout-time.Second {
		t.Errorf("the connection closed after %v, before ReadHeaderTimeout: %v %q", elapsed, err, got)
	}
	if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
		t.Errorf("the slow connection got an unexpected answer: %q", got)
	}
	checkHealthy(t, s, key, model, up)
}
