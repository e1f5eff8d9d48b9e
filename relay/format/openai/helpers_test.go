package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/sse"
)

func TestMain(m *testing.M) {
	// Pin the clock so "created" in golden files is stable.
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

// readEvents reads an SSE fixture into events whose buffers are owned.
func readEvents(t testing.TB, name string) []sse.Event {
	t.Helper()
	return parseSSE(t, formattest.Fixture(t, name))
}

func parseSSE(t testing.TB, b []byte) []sse.Event {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(b), 0)
	defer r.Release()
	var out []sse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sse.Event{Name: bytes.Clone(ev.Name), Data: bytes.Clone(ev.Data)})
	}
}

// decodeStream runs the decoder over events, returning the IR events, the
// done flag and the first in-stream error.
func decodeStream(dec format.StreamDecoder, evs []sse.Event) ([]format.Event, bool, error) {
	var out []format.Event
	for _, ev := range evs {
		o, done, e := dec.Decode(ev, out)
		out = o
		if e != nil {
			return out, false, e
		}
		if done {
			return out, true, nil
		}
	}
	return out, false, nil
}

// encodeStream runs the encoder over IR events and finishes the stream.
func encodeStream(opts format.StreamOptions, evs []format.Event) []byte {
	enc := NewStreamEncoder(opts)
	var out []byte
	for _, ev := range evs {
		out = enc.Encode(out, ev)
	}
	return enc.Finish(out)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sseData(s string) sse.Event { return sse.Event{Data: []byte(s)} }

// sameJSON compares two values by their JSON dump, which normalises the
// whitespace inside json.RawMessage fields.
func sameJSON(t testing.TB, a, b any) bool {
	t.Helper()
	return bytes.Equal(mustJSON(t, a), mustJSON(t, b))
}
