package responses

import (
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

func BenchmarkRequestRoundTrip(b *testing.B) {
	formattest.BenchRoundTrip(b, formattest.Fixture(b, "request_conversation.json"), DecodeRequest, EncodeRequest)
}

// BenchmarkStreamDecode reports the cost per upstream event.
func BenchmarkStreamDecode(b *testing.B) {
	formattest.BenchStreamDecode(b, NewStreamDecoder, formattest.ReadEvents(b, "stream_tools.sse"))
}

// BenchmarkStreamEncode reports the cost per IR event of the main
// direction (a Responses client served by another dialect).
func BenchmarkStreamEncode(b *testing.B) {
	evs, _, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ReadEvents(b, "stream_tools.sse"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeStream(format.StreamOptions{Model: "m"}, evs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
