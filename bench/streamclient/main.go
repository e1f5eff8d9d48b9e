// Command streamclient measures what wrk cannot: streams one at a time
// with their time to first byte (-mode seq), and many streams held open at
// once (-mode hold). It prints one JSON result on stdout; in hold mode a
// line "open {…}" comes first, once every stream has received its first
// content chunk (or failed), so a caller can measure the gateway while they
// are all open.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	URL, Key, Model string
	N               int
	Parallel        int
	Timeout         time.Duration
}

func main() {
	var o options
	mode := flag.String("mode", "seq", "seq: n streams one after another; hold: n streams open at once")
	flag.StringVar(&o.URL, "url", "http://127.0.0.1:3000", "gateway base URL (…/v1/chat/completions is appended)")
	flag.StringVar(&o.Key, "key", "", "API key sent as a bearer token")
	flag.StringVar(&o.Model, "model", "bench-model", "model name")
	flag.IntVar(&o.N, "n", 100, "number of streams")
	flag.IntVar(&o.Parallel, "open-parallel", 128, "hold: streams being opened at once")
	flag.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "bound on the whole run")
	flag.Parse()
	if o.N <= 0 || o.Parallel <= 0 {
		log.Fatal("-n and -open-parallel must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	var res any
	switch *mode {
	case "seq":
		res = runSeq(ctx, o)
	case "hold":
		res = runHold(ctx, o)
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

// body is the same request wrk sends for streams.
func body(model string) []byte {
	return []byte(`{"model":"` + model + `","messages":[{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":16,` +
		`"stream":true,"stream_options":{"include_usage":true}}`)
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}}
}

// stream is one streaming call, read to its end.
type stream struct {
	headers     time.Duration // until the response headers
	ttfb, total time.Duration
	bytes       int64
	events      int
	err         error
}

// open sends the request and returns the response once its status is 200.
func open(ctx context.Context, c *http.Client, o options, payload []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.URL, "/")+"/v1/chat/completions",
		bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.Key != "" {
		req.Header.Set("Authorization", "Bearer "+o.Key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp, nil
}

// read consumes SSE lines, calling onEvent after each data line, and
// checks the stream ended with data: [DONE].
func read(r io.Reader, s *stream, start time.Time, onEvent func(n int)) {
	br := bufio.NewReaderSize(r, 4096)
	last, midLine := "", false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && s.bytes == 0 {
			s.ttfb = time.Since(start)
		}
		s.bytes += int64(len(line))
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok && !midLine {
			s.events++
			last = string(bytes.TrimSpace(data[:min(len(data), 16)]))
			if onEvent != nil {
				onEvent(s.events)
			}
		}
		// A line longer than the buffer comes in pieces; only the first
		// may start an event.
		midLine = errors.Is(err, bufio.ErrBufferFull)
		if midLine {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.err = err
			return
		}
	}
	s.total = time.Since(start)
	if last != "[DONE]" {
		s.err = fmt.Errorf("stream ended after %d events without data: [DONE]", s.events)
	}
}

// seqResult is -mode seq's output; times are microseconds.
type seqResult struct {
	N, Failed                 int
	HeadersP50                int64
	TTFBP50, TTFBP90, TTFBP99 int64
	TotalP50, TotalP99        int64
	BytesPerStream            int64
	EventsPerStream           int
	Errors                    []string `json:",omitempty"`
}

func runSeq(ctx context.Context, o options) seqResult {
	c := newClient(1)
	payload := body(o.Model)
	var headers, ttfb, total []time.Duration
	res := seqResult{N: o.N}
	for i := 0; i < o.N && ctx.Err() == nil; i++ {
		start := time.Now()
		var s stream
		resp, err := open(ctx, c, o, payload)
		if err == nil {
			s.headers = time.Since(start)
			read(resp.Body, &s, start, nil)
			resp.Body.Close()
			err = s.err
		}
		if err != nil {
			res.Failed++
			res.Errors = appendErr(res.Errors, err)
			continue
		}
		headers, ttfb, total = append(headers, s.headers), append(ttfb, s.ttfb), append(total, s.total)
		res.BytesPerStream, res.EventsPerStream = s.bytes, s.events
	}
	res.Failed += o.N - res.Failed - len(ttfb) // not started: the time bound passed
	res.HeadersP50 = pct(headers, 50)
	res.TTFBP50, res.TTFBP90, res.TTFBP99 = pct(ttfb, 50), pct(ttfb, 90), pct(ttfb, 99)
	res.TotalP50, res.TotalP99 = pct(total, 50), pct(total, 99)
	return res
}

// holdResult is -mode hold's output.
type holdResult struct {
	N, Opened, Failed int
	// OpenSeconds is how long it took until every stream had its first
	// content chunk (or had failed).
	OpenSeconds float64
	Completed   int
	Errors      []string `json:",omitempty"`
}

// holder is the state the streams of one hold run share.
type holder struct {
	c                  *http.Client
	o                  options
	payload            []byte
	sem                chan struct{} // bounds streams being opened
	opened, openFailed atomic.Int64
	openWG, doneWG     sync.WaitGroup

	mu        sync.Mutex
	completed int
	errors    []string
}

func runHold(ctx context.Context, o options) holdResult {
	h := &holder{c: newClient(o.N), o: o, payload: body(o.Model), sem: make(chan struct{}, o.Parallel)}
	start := time.Now()
	for i := 0; i < o.N; i++ {
		h.openWG.Add(1)
		h.sem <- struct{}{}
		h.doneWG.Go(func() { h.one(ctx) })
	}
	h.openWG.Wait()
	res := holdResult{N: o.N, Opened: int(h.opened.Load()), Failed: int(h.openFailed.Load()),
		OpenSeconds: time.Since(start).Seconds()}
	h.mu.Lock()
	res.Errors = slices.Clone(h.errors)
	h.mu.Unlock()
	line, _ := json.Marshal(res)
	fmt.Printf("open %s\n", line)
	h.doneWG.Wait()
	res.Completed, res.Errors = h.completed, h.errors
	res.Failed = o.N - res.Completed
	return res
}

// one holds one stream: open counts once its first content chunk came
// (or it failed), then it is read to its end.
func (h *holder) one(ctx context.Context) {
	var once sync.Once
	markOpen := func(ok bool) {
		once.Do(func() {
			if ok {
				h.opened.Add(1)
			} else {
				h.openFailed.Add(1)
			}
			<-h.sem
			h.openWG.Done()
		})
	}
	defer markOpen(false)
	fail := func(err error) {
		h.mu.Lock()
		h.errors = appendErr(h.errors, err)
		h.mu.Unlock()
	}
	resp, err := open(ctx, h.c, h.o, h.payload)
	if err != nil {
		fail(err)
		return
	}
	defer resp.Body.Close()
	var s stream
	// Events 1 and 2 are the role and the first content chunk.
	read(resp.Body, &s, time.Now(), func(n int) {
		if n == 2 {
			markOpen(true)
		}
	})
	if s.err != nil {
		fail(s.err)
		return
	}
	h.mu.Lock()
	h.completed++
	h.mu.Unlock()
}

// appendErr keeps the first few distinct errors.
func appendErr(errs []string, err error) []string {
	msg := err.Error()
	if len(errs) >= 5 || slices.Contains(errs, msg) {
		return errs
	}
	return append(errs, msg)
}

// pct is the nearest-rank percentile in microseconds.
func pct(d []time.Duration, p int) int64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i, 1)-1].Microseconds()
}
