package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads a stream's data lines, checking each but [DONE] is JSON.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data != "[DONE]" && !json.Valid([]byte(data)) {
			t.Fatalf("event is not JSON: %s", data)
		}
		out = append(out, data)
	}
	return out
}

func TestChat(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newMock(config{Chunks: 3, ChunkBytes: 8}).routes())
	t.Cleanup(srv.Close)
	tests := []struct {
		name       string
		body       string
		wantEvents int // 0: not a stream
		wantUsage  bool
	}{
		{name: "non-stream", body: `{"model":"m","messages":[]}`, wantUsage: true},
		// role + 3 content + finish + [DONE]
		{name: "stream", body: `{"model":"m","stream":true}`, wantEvents: 6},
		{name: "stream with usage", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, wantEvents: 7, wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, srv.URL, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tt.wantEvents == 0 {
				var c struct {
					Model   string
					Choices []struct{ Message struct{ Content string } }
					Usage   *struct {
						CompletionTokens int `json:"completion_tokens"`
					}
				}
				if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
					t.Fatal(err)
				}
				if c.Model != "m" || len(c.Choices) != 1 || len(c.Choices[0].Message.Content) != 24 || c.Usage == nil {
					t.Fatalf("answer %+v", c)
				}
				return
			}
			ev := events(t, resp.Body)
			if len(ev) != tt.wantEvents || ev[len(ev)-1] != "[DONE]" {
				t.Fatalf("got %d events %q", len(ev), ev)
			}
			if got := strings.Contains(ev[len(ev)-2], `"usage":{`); got != tt.wantUsage {
				t.Fatalf("usage event %v, want %v: %s", got, tt.wantUsage, ev[len(ev)-2])
			}
			// As OpenAI does: asked for usage, every other chunk has
			// "usage":null; not asked, none has a usage.
			for _, e := range ev[:len(ev)-2] {
				if got := strings.Contains(e, `"usage":null`); got != tt.wantUsage || (!tt.wantUsage && strings.Contains(e, `"usage"`)) {
					t.Fatalf("chunk %s: usage null %v, want %v", e, got, tt.wantUsage)
				}
			}
		})
	}
}

func TestBadBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newMock(config{Chunks: 1}).routes())
	t.Cleanup(srv.Close)
	if resp := post(t, srv.URL, `{"stream":true`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func TestHoldUntilRelease(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newMock(config{Chunks: 2, ChunkBytes: 4, Hold: true, HoldMax: time.Minute}).routes())
	t.Cleanup(srv.Close)
	resp := post(t, srv.URL, `{"model":"m","stream":true}`)
	br := bufio.NewReader(resp.Body)
	// The role and the first content chunk arrive before the release.
	for i := 0; i < 2; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	r, err := http.Post(srv.URL+"/release", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	ev := events(t, br)
	if len(ev) != 3 || ev[2] != "[DONE]" { // second content, finish, [DONE]
		t.Fatalf("after release: %q", ev)
	}
}
