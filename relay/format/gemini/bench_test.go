package gemini

import (
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

func BenchmarkRequestDecodeEncode(b *testing.B) {
	formattest.BenchRoundTrip(b, formattest.Fixture(b, "request_tools.json"), DecodeRequest, EncodeRequest)
}

// BenchmarkStreamDecode measures the decoder per event over a recorded
// stream (the SSE reader's cost excluded).
func BenchmarkStreamDecode(b *testing.B) {
	events := append(formattest.ReadEvents(b, "stream_text.sse"), formattest.ReadEvents(b, "stream_tools.sse")...)
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
