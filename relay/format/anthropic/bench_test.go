package anthropic

import (
	"bytes"
	"io"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// BenchmarkRequestDecodeEncode measures a client body in and an upstream
// body out: a tool-use conversation with images and thinking.
func BenchmarkRequestDecodeEncode(b *testing.B) {
	body := formattest.Fixture(b, "request_tools.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
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

// loadEvents reads a stream fixture into owned events.
func loadEvents(b *testing.B, name string) []sse.Event {
	rd := sse.NewReader(bytes.NewReader(formattest.Fixture(b, name)), 0)
	defer rd.Release()
	var evs []sse.Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, sse.Event{Name: bytes.Clone(ev.Name), Data: bytes.Clone(ev.Data)})
	}
}

// BenchmarkStreamDecode measures one upstream event per iteration, cycling
// through a thinking + text + tool-use stream.
func BenchmarkStreamDecode(b *testing.B) {
	evs := loadEvents(b, "stream_tool_use.sse")
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
