package openai

import (
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

func BenchmarkRequestRoundTrip(b *testing.B) {
	formattest.BenchRoundTrip(b, formattest.Fixture(b, "request_tools.json"), DecodeRequest, EncodeRequest)
}

// BenchmarkStreamDecode reports the cost per upstream event.
func BenchmarkStreamDecode(b *testing.B) {
	formattest.BenchStreamDecode(b, NewStreamDecoder, formattest.ReadEvents(b, "stream_tools.sse"))
}

func BenchmarkStreamEncode(b *testing.B) {
	evs, _, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ReadEvents(b, "stream_tools.sse"))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeStream(format.StreamOptions{Model: "m", IncludeUsage: true}, evs)
	}
	_ = buf
}
