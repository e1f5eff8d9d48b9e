package anthropic

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// FuzzDecodeRequest checks that DecodeRequest never panics, fails only
// with format.ErrInvalid, and that whatever it accepts encodes to a body
// it accepts again.
func FuzzDecodeRequest(f *testing.F) {
	formattest.AddFixtures(f, "request_*.json")
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"adaptive"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, r2, err := formattest.RoundTrip(t, body, DecodeRequest, EncodeRequest)
		if err != nil {
			if !errors.Is(err, format.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if r2.Model != r.Model || r2.Stream != r.Stream || r2.User != r.User {
			t.Fatalf("round trip changed scalars: %+v -> %+v", r, r2)
		}
	})
}

// FuzzDecodeResponse checks DecodeResponse and the encode/decode round
// trip of what it accepts.
func FuzzDecodeResponse(f *testing.F) {
	formattest.AddFixtures(f, "response_*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		r, r2, err := formattest.RoundTrip(t, body, DecodeResponse, EncodeResponse)
		if err != nil {
			if !errors.Is(err, format.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if r2.Usage != r.Usage {
			t.Fatalf("usage changed: %+v -> %+v", r.Usage, r2.Usage)
		}
	})
}

// FuzzStreamDecoder feeds arbitrary SSE bodies through the shared reader
// and the decoder, then re-encodes the events: the encoder's output must
// decode again without error and end with message_stop.
func FuzzStreamDecoder(f *testing.F) {
	formattest.AddFixtures(f, "stream_*.sse")
	f.Fuzz(func(t *testing.T, body []byte) {
		rd := sse.NewReader(bytes.NewReader(body), 1<<20)
		defer rd.Release()
		dec := NewStreamDecoder()
		var events []format.Event
		for {
			ev, err := rd.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, sse.ErrLineTooLong) {
					t.Fatalf("reader: %v", err)
				}
				break
			}
			var done bool
			var rerr *relayerr.Error
			events, done, rerr = dec.Decode(ev, events)
			if rerr != nil || done {
				break
			}
		}
		out := encodeStream(format.StreamOptions{Model: "m", ID: "msg_f"}, events)
		got := decodeStream(t, out)
		if !got.Done || got.err != nil {
			t.Fatalf("re-decode of encoder output: done=%v err=%v\n%s", got.Done, got.err, out)
		}
	})
}

// FuzzStreamEncoder drives the encoder with arbitrary event sequences
// (any order, any indexes, usage before or after finish, no start): the
// output must always be well-formed Messages API framing.
func FuzzStreamEncoder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 2, 6, 7, 8, 9})
	f.Add([]byte{9, 3, 3, 4, 5, 2, 6, 0x16, 7, 0x17, 8})
	f.Fuzz(func(t *testing.T, program []byte) {
		events := make([]format.Event, 0, len(program))
		for i, op := range program {
			text := string(rune('a' + i%26))
			ev := format.Event{Type: format.EventType(op%9 + 1), Index: int(op>>4) % 4, Text: text, Signature: text, ID: text, Name: text}
			switch ev.Type {
			case format.EventUsage:
				ev.Usage = &format.Usage{InputTokens: i, OutputTokens: i}
			case format.EventFinish:
				ev.StopReason = format.StopReason(op % 6)
			}
			events = append(events, ev)
		}
		out := encodeStream(format.StreamOptions{Model: "m", ID: "msg_f"}, events)
		if err := sequenceError(out, true); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}
