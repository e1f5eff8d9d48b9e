package openai

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sluice/relay/format"
)

// addFixtures seeds f with every fixture whose name has the prefix.
func addFixtures(f *testing.F, prefix string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzRequest checks that DecodeRequest never panics and that whatever it
// accepts encodes to a body it accepts again.
func FuzzRequest(f *testing.F) {
	addFixtures(f, "request_")
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"a","content":[{"type":"image_url","image_url":"data:;base64,"}]}]}`))
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

// FuzzStream decodes a fuzzed SSE stream and re-encodes the events: no
// panic, and the encoder's output must decode without error.
func FuzzStream(f *testing.F) {
	addFixtures(f, "stream_")
	f.Fuzz(func(t *testing.T, body []byte) {
		evs := parseSSE(t, body)
		dec := NewStreamDecoder()
		var out []format.Event
		for _, ev := range evs {
			o, done, err := dec.Decode(ev, out)
			out = o
			if err != nil || done {
				break
			}
		}
		enc := encodeStream(format.StreamOptions{Model: "m", IncludeUsage: true}, out)
		if !strings.HasSuffix(string(enc), "data: [DONE]\n\n") {
			t.Fatalf("stream not terminated: %q", enc)
		}
		if _, done, err := decodeStream(NewStreamDecoder(), parseSSE(t, enc)); err != nil || !done {
			t.Fatalf("re-decode: done=%v err=%v\n%s", done, err, enc)
		}
	})
}
