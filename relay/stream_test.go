package relay

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
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
