package responses

import (
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// FuzzRequest checks that DecodeRequest never panics and that whatever it
// accepts encodes to a body it accepts again.
func FuzzRequest(f *testing.F) {
	formattest.AddFixtures(f, "request_*")
	f.Add([]byte(`{"model":"m","input":[{"type":"reasoning","encrypted_content":"x"},{"type":"function_call_output","call_id":"c","output":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		formattest.RoundTrip(t, body, DecodeRequest, EncodeRequest)
	})
}

// FuzzResponse is FuzzRequest for response bodies.
func FuzzResponse(f *testing.F) {
	formattest.AddFixtures(f, "response_*")
	f.Fuzz(func(t *testing.T, body []byte) {
		formattest.RoundTrip(t, body, DecodeResponse, EncodeResponse)
	})
}

// FuzzStream decodes a fuzzed stream, re-encodes the events and checks
// the encoder's output decodes to a terminated stream.
func FuzzStream(f *testing.F) {
	formattest.AddFixtures(f, "stream_*")
	f.Fuzz(func(t *testing.T, body []byte) {
		// A decode error ends the stream; what came before it is replayed.
		evs, _, _ := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, body))
		enc := encodeStream(format.StreamOptions{Model: "m"}, evs)
		if !strings.Contains(string(enc), "event: response.") {
			t.Fatalf("no events written: %q", enc)
		}
		if _, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, enc)); err != nil || !done {
			t.Fatalf("re-decode: done=%v err=%v\n%s", done, err, enc)
		}
	})
}
