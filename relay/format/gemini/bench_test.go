package gemini

import (
	"bytes"
	"io"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/sse"
)

func BenchmarkRequestDecodeEncode(b *testing.B) {
	body := formattest.Fixture(b, "request_tools.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := DecodeRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecode measures the decoder per event over a recorded
// stream (the SSE reader's cost excluded).
func BenchmarkStreamDecode(b *testing.B) {
	var events []sse.Event
	for _, name := range []string{"stream_text.sse", "stream_tools.sse"} {
		r := sse.NewReader(bytes.NewReader(formattest.Fixture(b, name)), 0)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events = append(events, sse.Event{Data: bytes.Clone(ev.Data)})
		}
		r.Release()
	}
	b.ReportAllocs()
	var dst []format.Event
	var dec format.StreamDecoder
	n := 0
	for b.Loop() {
		if n == len(events) {
			n = 0
		}
		if n == 0 {
			// A new stream at each pass, as the fixtures are two streams'
			// worth of recorded events.
			dec = NewStreamDecoder()
		}
		out, _, err := dec.Decode(events[n], dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		dst = out
		n++
	}
}

func BenchmarkStreamEncode(b *testing.B) {
	ev := format.Event{Type: format.EventTextDelta, Text: "a typical delta of a few words"}
	enc := NewStreamEncoder(format.StreamOptions{Model: "gemini-2.5-flash", ID: "resp-1"})
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		dst = enc.Encode(dst[:0], ev)
	}
}
