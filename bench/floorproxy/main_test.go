package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestStreamsSurviveAnUpstreamThatAnswersAtOnce relays many streams from an
// upstream that answers the moment it has read the request body — the race
// newProxy's full duplex closes. Before it, about one stream in a thousand
// through the floor ended with "unexpected EOF", failing the harness's
// smoke run.
func TestStreamsSurviveAnUpstreamThatAnswersAtOnce(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, "data: {\"i\":1}\n\n")
			w.(http.Flusher).Flush()
			if i == 0 {
				// The events must reach the proxy in separate reads,
				// or its closing the connection would lose nothing.
				time.Sleep(50 * time.Microsecond)
			}
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(upstream.Close)
	target, _ := url.Parse(upstream.URL)
	transport, err := newTransport("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(transport.CloseIdleConnections)
	proxy := httptest.NewServer(newProxy(target, transport))
	t.Cleanup(proxy.Close)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 200) + `"}]}`
	failed := 0
	const streams = 5000
	for i := 0; i < streams; i++ {
		resp, err := client.Post(proxy.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.HasSuffix(string(got), "data: [DONE]\n\n") {
			failed++
			t.Logf("stream %d: %d bytes, %v", i, len(got), err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d streams through the floor failed", failed, streams)
	}
}
