package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/sse"
)

func TestMain(m *testing.M) {
	// Pin the clock so created_at in golden files is stable.
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

func readEvents(t testing.TB, name string) []sse.Event {
	t.Helper()
	return parseSSE(t, formattest.Fixture(t, name))
}

// parseSSE reads SSE bytes into events whose buffers are owned.
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

func decodeStream(dec format.StreamDecoder, evs []sse.Event) ([]format.Event, bool, error) {
	var out []format.Event
	for _, ev := range evs {
		o, done, err := dec.Decode(ev, out)
		out = o
		if err != nil {
			return out, false, err
		}
		if done {
			return out, true, nil
		}
	}
	return out, false, nil
}

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

func sameJSON(t testing.TB, a, b any) bool {
	t.Helper()
	return bytes.Equal(mustJSON(t, a), mustJSON(t, b))
}

// addFixtures seeds f with every fixture whose name has the prefix.
func addFixtures(f *testing.F, prefix string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func sseData(s string) sse.Event { return sse.Event{Data: []byte(s)} }
