package gemini

import (
	"bytes"
	"errors"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/sse"
)

// FuzzDecodeRequest: DecodeRequest never panics, fails only with
// ErrInvalid, and whatever it accepts encodes into a body it accepts again.
func FuzzDecodeRequest(f *testing.F) {
	formattest.AddFixtures(f, "request_*.json")
	f.Add([]byte(`{"contents": {"parts": {"text": "x", "thought": true, "thoughtSignature": "s"}}}`))
	f.Add([]byte(`{"contents": [{"role": "model", "parts": [{"functionCall": {}}, {"text": ""}]}, {"parts": [{"functionResponse": {"response": "x", "parts": [{"inlineData": {}}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, _, err := formattest.RoundTrip(t, body, DecodeRequest, EncodeRequest); err != nil && !errors.Is(err, format.ErrInvalid) {
			t.Fatalf("error without ErrInvalid: %v", err)
		}
	})
}

// FuzzDecodeResponse: the same contract for responses.
func FuzzDecodeResponse(f *testing.F) {
	formattest.AddFixtures(f, "response_*.json")
	f.Add([]byte(`{"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "s"}, {"functionCall": {"name": "f", "args": null}}]}}], "usageMetadata": {"promptTokenCount": 1e300}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, _, err := formattest.RoundTrip(t, body, DecodeResponse, EncodeResponse); err != nil && !errors.Is(err, format.ErrInvalid) {
			t.Fatalf("error without ErrInvalid: %v", err)
		}
	})
}

// FuzzStreamDecoder feeds each line of the input as one event's data:
// the decoder never panics, and the events it produces, encoded as a
// Gemini stream, decode again without error.
func FuzzStreamDecoder(f *testing.F) {
	formattest.AddFixtures(f, "stream_*.sse")
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\"},\"thoughtSignature\":\"s\"}]},\"finishReason\":\"STOP\"}]}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := NewStreamDecoder()
		var events []format.Event
		for _, line := range bytes.Split(body, []byte("\n")) {
			line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:"))
			out, _, err := dec.Decode(sse.Event{Data: line}, events)
			if err != nil {
				break
			}
			events = out
		}
		enc := NewStreamEncoder(format.StreamOptions{Model: "m", ID: "id"})
		var sseOut []byte
		for _, ev := range events {
			sseOut = enc.Encode(sseOut, ev)
		}
		sseOut = enc.Finish(sseOut)
		r := sse.NewReader(bytes.NewReader(sseOut), 0)
		defer r.Release()
		dec2 := NewStreamDecoder()
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if _, _, derr := dec2.Decode(ev, nil); derr != nil {
				t.Fatalf("our own stream did not decode: %v\n%s", derr, sseOut)
			}
		}
	})
}
