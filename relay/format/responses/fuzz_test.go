package responses

import (
	"strings"
	"testing"

	"sluice/relay/format"
)

// FuzzRequest checks that DecodeRequest never panics and that whatever it
// accepts encodes to a body it accepts again.
func FuzzRequest(f *testing.F) {
	addFixtures(f, "request_")
	f.Add([]byte(`{"model":"m","input":[{"type":"reasoning","encrypted_content":"x"},{"type":"function_call_output","call_id":"c","output":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			return
		}
		out, err := EncodeRequest(r)
		if err != nil {
			t.Fatalf("EncodeRequest: %v", err)
		}
		if _, err := DecodeRequest(out); err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
	})
}

// FuzzResponse is FuzzRequest for response bodies.
func FuzzResponse(f *testing.F) {
	addFixtures(f, "response_")
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		out, err := EncodeResponse(r)
		if err != nil {
			t.Fatalf("EncodeResponse: %v", err)
		}
		if _, err := DecodeResponse(out); err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
	})
}

// FuzzStream decodes a fuzzed stream, re-encodes the events and checks
// the encoder's output decodes to a terminated stream.
func FuzzStream(f *testing.F) {
	addFixtures(f, "stream_")
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := NewStreamDecoder()
		var evs []format.Event
		for _, ev := range parseSSE(t, body) {
			o, done, err := dec.Decode(ev, evs)
			evs = o
			if err != nil || done {
				break
			}
		}
		enc := encodeStream(format.StreamOptions{Model: "m"}, evs)
		if !strings.Contains(string(enc), "event: response.") {
			t.Fatalf("no events written: %q", enc)
		}
		if _, done, err := decodeStream(NewStreamDecoder(), parseSSE(t, enc)); err != nil || !done {
			t.Fatalf("re-decode: done=%v err=%v\n%s", done, err, enc)
		}
	})
}
