package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// client is an openai-go client for sluice with SDK retries off, so every
// call the test makes is exactly one request.
func (s *sluice) client(key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))
	return &c
}

// post sends body to a /v1 path with the key (none when empty) and extra
// header pairs; the caller closes the response.
func (s *sluice) post(t *testing.T, ctx context.Context, path, key string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

// sseReader reads the data of server-sent events one at a time.
type sseReader struct{ sc *bufio.Scanner }

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return &sseReader{sc: sc}
}

// next returns the next event's data, or io.EOF (or the read error) when
// the stream ends.
func (r *sseReader) next() (string, error) {
	var data []string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				return strings.Join(data, "\n"), nil
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := r.sc.Err(); err != nil {
		return "", err
	}
	if len(data) > 0 {
		return strings.Join(data, "\n"), nil
	}
	return "", io.EOF
}

// tokens is a usage as an upstream reports it.
type tokens struct{ Prompt, Completion int }

// cost is CONTRACT.md's formula for ratio 1 and completion ratio 2 (what
// setPrices configures): round(prompt + 2 × completion), at least 1.
func cost(u tokens) int64 {
	return max(int64(math.Floor(float64(u.Prompt)+2*float64(u.Completion)+0.5)), 1)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	// Re-encoded, both are canonical: encoding/json sorts object keys.
	cx, _ := json.Marshal(x)
	cy, _ := json.Marshal(y)
	return string(cx) == string(cy)
}

// eventually polls cond every 50 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
