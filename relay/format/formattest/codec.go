package formattest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"sluice/relay/format"
	"sluice/relay/sse"
)

// MustJSON is v as indented JSON, failing the test when v does not
// marshal.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SameJSON compares two values by their JSON dump, which normalises the
// whitespace inside json.RawMessage fields.
func SameJSON(t testing.TB, a, b any) bool {
	t.Helper()
	return bytes.Equal(MustJSON(t, a), MustJSON(t, b))
}

// ParseSSE reads SSE bytes through the shared reader into events whose
// buffers are owned (the reader reuses its own).
func ParseSSE(t testing.TB, b []byte) []sse.Event {
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

// ReadEvents is ParseSSE of the fixture testdata/<name>.
func ReadEvents(t testing.TB, name string) []sse.Event {
	t.Helper()
	return ParseSSE(t, Fixture(t, name))
}

// SSEData is an unnamed event carrying s.
func SSEData(s string) sse.Event { return sse.Event{Data: []byte(s)} }

// DecodeStream runs dec over evs and returns the IR events, whether the
// dialect's end marker was seen, and the first in-stream error (where
// decoding stops).
func DecodeStream(dec format.StreamDecoder, evs []sse.Event) ([]format.Event, bool, error) {
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

// EncodeStream runs enc over the IR events and finishes the stream.
func EncodeStream(enc format.StreamEncoder, evs []format.Event) []byte {
	var out []byte
	for _, ev := range evs {
		out = enc.Encode(out, ev)
	}
	return enc.Finish(out)
}

// AddFixtures seeds f with every file of testdata matching glob.
func AddFixtures(f *testing.F, glob string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// RoundTrip is the property a codec's fuzz targets share: body goes
// through decode and, when decode accepts it, the value must encode and
// the encoding must decode again (t fails otherwise). It returns both
// decoded values, or decode's error on body (the caller decides what a
// rejection must look like).
func RoundTrip[T any](t testing.TB, body []byte, decode func([]byte) (T, error), encode func(T) ([]byte, error)) (first, again T, err error) {
	t.Helper()
	if first, err = decode(body); err != nil {
		return first, again, err
	}
	out, err := encode(first)
	if err != nil {
		t.Fatalf("encode of an accepted body: %v", err)
	}
	if again, err = decode(out); err != nil {
		t.Fatalf("re-decode: %v\n%s", err, out)
	}
	return first, again, nil
}

// BenchRoundTrip measures decode then encode of body, per body.
func BenchRoundTrip[T any](b *testing.B, body []byte, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		v, err := decode(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchStreamDecode measures a fresh decoder from newDecoder over the
// whole of evs per iteration, and reports the cost per upstream event.
func BenchStreamDecode(b *testing.B, newDecoder func() format.StreamDecoder, evs []sse.Event) {
	out := make([]format.Event, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dec := newDecoder()
		for _, ev := range evs {
			out, _, _ = dec.Decode(ev, out[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// GoldenCodec decodes the fixture testdata/<fixture>, compares the IR (as
// JSON) with the golden file decoded, encodes the IR back and compares
// that body with the golden file encoded. It returns the IR and the body.
func GoldenCodec[T any](t testing.TB, fixture, decoded, encoded string, decode func([]byte) (T, error), encode func(T) ([]byte, error)) (T, []byte) {
	t.Helper()
	v, err := decode(Fixture(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	Golden(t, decoded, MustJSON(t, v))
	body, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	Golden(t, encoded, body)
	return v, body
}
