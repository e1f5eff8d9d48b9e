package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tidwall/gjson"
)

// chaosModel is the one model every channel serves.
const chaosModel = "chaos-model"

// sample is one request's outcome as the client saw it.
type sample struct {
	outcome string
	latency time.Duration
	success bool // a whole answer: a 200 JSON body, or a stream ending in [DONE]
}

// recorder collects samples from the load goroutines.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// load runs workers goroutines sending chat requests, stream and not, with
// keys taken in turn, until ctx ends.
func load(ctx context.Context, client *http.Client, base string, keys []string, workers int, rec *recorder) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += workers {
				stream := rand.IntN(2) == 0
				rec.add(one(ctx, client, base, keys[i%len(keys)], stream, rand.IntN(2) == 0))
			}
		})
	}
	wg.Wait()
}

// one sends one request and classifies what came back.
func one(ctx context.Context, client *http.Client, base, key string, stream, usage bool) sample {
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Say something about chaos."}],"max_tokens":16,"stream":%v`, chaosModel, stream)
	if stream && usage {
		body += `,"stream_options":{"include_usage":true}`
	}
	body += "}"
	// The request does not die with the load's context: in-flight requests
	// finish, so every charge the gateway makes is one the client saw.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return sample{outcome: transportKind(err), latency: time.Since(start)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		code := gjson.GetBytes(raw, "error.code").String()
		return sample{outcome: fmt.Sprintf("%d %s", resp.StatusCode, code), latency: time.Since(start)}
	}
	if !stream {
		raw, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			return sample{outcome: "200 body cut: " + transportKind(err), latency: time.Since(start)}
		case !gjson.GetBytes(raw, "usage").Exists():
			return sample{outcome: "200 without usage", latency: time.Since(start)}
		}
		return sample{outcome: "200", latency: time.Since(start), success: true}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last []byte
	for sc.Scan() {
		if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
			last = append(last[:0], bytes.TrimSpace(data)...)
		}
	}
	lat := time.Since(start)
	switch {
	case sc.Err() != nil:
		return sample{outcome: "stream cut: " + transportKind(sc.Err()), latency: lat}
	case string(last) == "[DONE]":
		return sample{outcome: "200 stream", latency: lat, success: true}
	case gjson.GetBytes(last, "error").Exists():
		return sample{outcome: "200 stream, error event " + gjson.GetBytes(last, "error.code").String(), latency: lat}
	}
	return sample{outcome: "200 stream TRUNCATED (no [DONE], no error event)", latency: lat}
}

func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "client timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "unexpected EOF"
	}
	return "transport error"
}

// summary is the load's outcome counts and latency percentiles.
type summary struct {
	total, successes int
	outcomes         map[string]int
	p50, p99, max    time.Duration
}

func summarise(samples []sample) summary {
	s := summary{total: len(samples), outcomes: map[string]int{}}
	lat := make([]time.Duration, 0, len(samples))
	for _, x := range samples {
		s.outcomes[x.outcome]++
		lat = append(lat, x.latency)
		if x.success {
			s.successes++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	s.p50, s.p99 = pct(0.50), pct(0.99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1]
	}
	return s
}
