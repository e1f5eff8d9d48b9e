package anthropic

import (
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
)

// BenchmarkRequestDecodeEncode measures a client body in and an upstream
// body out: a tool-use conversation with images and thinking.
func BenchmarkRequestDecodeEncode(b *testing.B) {
	formattest.BenchRoundTrip(b, formattest.Fixture(b, "request_tools.json"), DecodeRequest, EncodeRequest)
}

// BenchmarkStreamDecode measures one upstream event per iteration, cycling
// through a thinking + text + tool-use stream.
func BenchmarkStreamDecode(b *testing.B) {
	evs := formattest.ReadEvents(b, "stream_tool_use.sse")
	dec := NewStreamDecoder()
	out := make([]format.Event, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(evs) {
			i, dec = 0, NewStreamDecoder()
		}
		var rerr *relayerr.Error
		if out, _, rerr = dec.Decode(evs[i], out[:0]); rerr != nil {
			b.Fatal(rerr)
		}
		i++
	}
}

// BenchmarkStreamEncode measures one IR event per iteration.
func BenchmarkStreamEncode(b *testing.B) {
	evs := decodeStream(b, formattest.Fixture(b, "stream_tool_use.sse")).Events
	enc := NewStreamEncoder(format.StreamOptions{Model: "m"})
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(evs) {
			buf = enc.Finish(buf[:0])
			i, enc = 0, NewStreamEncoder(format.StreamOptions{Model: "m"})
		}
		buf = enc.Encode(buf[:0], evs[i])
		i++
	}
}
