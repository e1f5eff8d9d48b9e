package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

func bodyContext(body string, contentLength int64) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	c.Request.ContentLength = contentLength
	return c
}

func TestReadBodyBoundsAndSizes(t *testing.T) {
	t.Parallel()
	const limit = 10_000
	long := strings.Repeat("x", 3000)
	for _, tt := range []struct {
		name     string
		body     string
		length   int64 // Content-Length as sent (-1: chunked)
		tooLarge bool
	}{
		{"known length", long, 3000, false},
		{"a length that lies low costs a regrowth, not bytes", long, 100, false},
		{"chunked, past ReadAll's first buffer", long, -1, false},
		{"exactly the limit", strings.Repeat("y", limit), limit, false},
		{"chunked, one byte over", strings.Repeat("y", limit+1), -1, true},
		{"declared over", "{}", limit + 1, true},
		{"empty", "", 0, false},
	} {
		body, rerr := ReadBody(bodyContext(tt.body, tt.length), limit)
		if tt.tooLarge {
			if rerr == nil || rerr.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: %v, want 413", tt.name, rerr)
			}
			continue
		}
		if rerr != nil || string(body) != tt.body {
			t.Errorf("%s: %d bytes, %v", tt.name, len(body), rerr)
		}
	}
}

// BenchmarkReadBody reads an 8 KB chat request (a system prompt and some
// history), as clients send it, with its Content-Length.
func BenchmarkReadBody(b *testing.B) {
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 8000) + `"}]}`
	b.ReportAllocs()
	for b.Loop() {
		if got, rerr := ReadBody(bodyContext(body, int64(len(body))), 1<<20); rerr != nil || len(got) != len(body) {
			b.Fatal(rerr)
		}
	}
}
