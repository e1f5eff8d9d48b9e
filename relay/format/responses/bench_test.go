package responses

import (
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

func BenchmarkRequestRoundTrip(b *testing.B) {
	body := formattest.Fixture(b, "request_conversation.json")
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

// BenchmarkStreamDecode reports the cost per upstream event.
func BenchmarkStreamDecode(b *testing.B) {
	evs := readEvents(b, "stream_tools.sse")
	out := make([]format.Event, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dec := NewStreamDecoder()
		for _, ev := range evs {
			out, _, _ = dec.Decode(ev, out[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkStreamEncode reports the cost per IR event of the main
// direction (a Responses client served by another dialect).
func BenchmarkStreamEncode(b *testing.B) {
	evs, _, err := decodeStream(NewStreamDecoder(), readEvents(b, "stream_tools.sse"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeStream(format.StreamOptions{Model: "m"}, evs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
