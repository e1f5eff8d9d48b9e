package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// fault is what the mock upstream does with one call.
type fault int

// The faults, in the order of faultWeights.
const (
	faultOK           fault = iota // a correct answer (stream or not)
	faultSlow                      // a correct answer, each stream chunk 50–150 ms apart
	fault500                       // 500 with an OpenAI error body
	fault429                       // 429 with Retry-After: 1
	faultReset                     // RST before any byte of the answer
	faultResetMid                  // RST after the headers and part of the body
	faultStall                     // nothing at all until the caller gives up
	faultStreamError               // two chunks, then an error event
	faultStallMidBody              // headers and two chunks, then silence
	faultCount
)

var faultNames = [faultCount]string{"ok", "slow", "500", "429", "reset", "reset-mid", "stall", "stream-error", "stall-mid"}

// faultWeights is the mix, in percent.
var faultWeights = [faultCount]int{60, 8, 8, 5, 4, 5, 3, 5, 2}

// Usage every correct answer reports.
const (
	promptTokens     = 20
	completionTokens = 8
)

// mock is an OpenAI-compatible upstream that injects faults at random. It
// only listens on 127.0.0.1.
type mock struct {
	srv    *http.Server
	ln     net.Listener
	URL    string
	calls  [faultCount]atomic.Int64
	rng    func() int
	closed chan struct{}
}

func newMock() (*mock, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mock{ln: ln, URL: "http://" + ln.Addr().String(), closed: make(chan struct{})}
	m.srv = &http.Server{Handler: http.HandlerFunc(m.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

// quiesce closes the mock's idle keep-alive connections (and stops
// keeping any), so the gateway's pool goroutines for them end before the
// goroutine count is read.
func (m *mock) quiesce() { m.srv.SetKeepAlivesEnabled(false) }

func (m *mock) close() {
	close(m.closed)
	_ = m.srv.Close()
}

func pickFault() fault {
	n := rand.IntN(100)
	for f, w := range faultWeights {
		if n < w {
			return fault(f)
		}
		n -= w
	}
	return faultOK
}

func (m *mock) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f := pickFault()
	m.calls[f].Add(1)
	model := gjson.GetBytes(body, "model").String()
	stream := gjson.GetBytes(body, "stream").Bool()
	usage := gjson.GetBytes(body, "stream_options.include_usage").Bool()
	switch f {
	case fault500:
		writeError(w, http.StatusInternalServerError, "The server had an error while processing your request", "server_error")
		return
	case fault429:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "Rate limit reached for requests", "rate_limit_exceeded")
		return
	case faultReset:
		reset(w, "")
		return
	case faultStall:
		m.wait(r, time.Minute)
		return
	}
	if !stream {
		answer := fmt.Sprintf(`{"id":"chatcmpl-chaos","object":"chat.completion","created":%d,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"chaos answer"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			time.Now().Unix(), model, promptTokens, completionTokens, promptTokens+completionTokens)
		switch f {
		case faultResetMid:
			reset(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(answer))+"\r\n\r\n"+answer[:len(answer)/2])
		case faultStallMidBody:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
			_, _ = io.WriteString(w, answer[:len(answer)/2])
			_ = http.NewResponseController(w).Flush()
			m.wait(r, time.Minute)
		default:
			if f == faultSlow {
				m.wait(r, time.Duration(50+rand.IntN(100))*time.Millisecond)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
		}
		return
	}
	m.stream(w, r, f, model, usage)
}

func (m *mock) stream(w http.ResponseWriter, r *http.Request, f fault, model string, usage bool) {
	chunk := func(i int) string {
		return fmt.Sprintf(`data: {"id":"chatcmpl-chaos","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
			`"choices":[{"index":0,"delta":{"content":"w%d "},"finish_reason":null}]}`+"\n\n", model, i)
	}
	if f == faultResetMid {
		reset(w, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+chunk(0)+chunk(1))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(s string) bool {
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for i := range completionTokens {
		switch {
		case i == 2 && f == faultStreamError:
			send(`data: {"error":{"message":"The engine is currently overloaded","type":"server_error","param":null,"code":null}}` + "\n\n")
			return
		case i == 2 && f == faultStallMidBody:
			m.wait(r, time.Minute)
			return
		case f == faultSlow:
			if !m.wait(r, time.Duration(50+rand.IntN(100))*time.Millisecond) {
				return
			}
		}
		if !send(chunk(i)) {
			return
		}
	}
	if !send(fmt.Sprintf(`data: {"id":"chatcmpl-chaos","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n", model)) {
		return
	}
	if usage {
		send(fmt.Sprintf(`data: {"id":"chatcmpl-chaos","object":"chat.completion.chunk","created":1700000000,"model":%q,"choices":[],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
			model, promptTokens, completionTokens, promptTokens+completionTokens))
	}
	send("data: [DONE]\n\n")
}

// wait sleeps d, reporting false if the caller left or the mock closed.
func (m *mock) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-m.closed:
	}
	return false
}

// reset writes raw bytes on the hijacked connection, gives the gateway a
// moment to read them, then closes with SO_LINGER 0 so it sees a RST.
func reset(w http.ResponseWriter, raw string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if raw != "" {
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
		time.Sleep(100 * time.Millisecond)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error","param":null,"code":%q}}`, msg, code)
}
