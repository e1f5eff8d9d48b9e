package openai

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
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"a","content":[{"type":"image_url","image_url":"data:;base64,"}]}]}`))
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

// FuzzStream decodes a fuzzed SSE stream and re-encodes the events: no
// panic, and the encoder's output must decode without error.
func FuzzStream(f *testing.F) {
	formattest.AddFixtures(f, "stream_*")
	f.Fuzz(func(t *testing.T, body []byte) {
		// A decode error ends the stream; what came before it is replayed.
		out, _, _ := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, body))
		enc := encodeStream(format.StreamOptions{Model: "m", IncludeUsage: true}, out)
		if !strings.HasSuffix(string(enc), "data: [DONE]\n\n") {
			t.Fatalf("stream not terminated: %q", enc)
		}
		if _, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, enc)); err != nil || !done {
			t.Fatalf("re-decode: done=%v err=%v\n%s", done, err, enc)
		}
	})
}
