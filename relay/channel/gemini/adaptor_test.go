package gemini

import (
	"testing"

	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

func TestErrorFrom(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		kind    relayerr.Kind
		disable bool
	}{
		// Google answers a bad key with 400 INVALID_ARGUMENT; the reason says what it is.
		{"bad key", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`, relayerr.KindUpstream, true},
		{"bad request", 400, `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`, relayerr.KindInvalidRequest, false},
		{"quota", 429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`, relayerr.KindRateLimited, false},
		{"permission", 403, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`, relayerr.KindUpstream, true},
		{"server", 503, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`, relayerr.KindUpstream, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorFrom(tt.status, []byte(tt.body))
			if e.Kind != tt.kind || e.DisableChannel != tt.disable {
				t.Fatalf("got kind %v disable %v (%q)", e.Kind, e.DisableChannel, e.Message)
			}
		})
	}
}

// Gemini streams have no end marker: complete once a finishReason came;
// usage is cumulative per chunk, thoughts counted as output.
func TestStreamDecoder(t *testing.T) {
	d := Adaptor{}.NewStreamDecoder(nil)
	chunks := []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":10},"modelVersion":"gemini-2.5-flash"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"cachedContentTokenCount":4,"candidatesTokenCount":2,"thoughtsTokenCount":30,"totalTokenCount":41},"modelVersion":"gemini-2.5-flash"}`,
	}
	end := d.(interface{ CompleteAtEOF() bool })
	for i, c := range chunks {
		out, done, err := d.Decode(sse.Event{Data: []byte(c)})
		if err != nil || done || string(out) != c {
			t.Fatalf("chunk %d: out %q done %v err %v", i, out, done, err)
		}
		if i == 0 && end.CompleteAtEOF() {
			t.Fatal("complete before any finishReason")
		}
	}
	if !end.CompleteAtEOF() {
		t.Fatal("not complete after finishReason")
	}
	want := relaycommon.Usage{PromptTokens: 9, CompletionTokens: 32, CachedTokens: 4, ReasoningTokens: 30, TotalTokens: 41}
	if u := d.Usage(); u == nil || *u != want || d.Text() != "Hello" {
		t.Fatalf("usage %+v text %q", u, d.Text())
	}
	if _, _, err := d.Decode(sse.Event{Data: []byte(`{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}`)}); err == nil {
		t.Fatal("an error chunk was relayed as data")
	}
}

func TestParseModels(t *testing.T) {
	ids, err := Adaptor{}.ParseModels([]byte(`{"models":[{"name":"models/gemini-2.5-flash","supportedGenerationMethods":["generateContent","countTokens"]},{"name":"models/text-embedding-004","supportedGenerationMethods":["embedContent"]}]}`))
	if err != nil || len(ids) != 1 || ids[0] != "gemini-2.5-flash" {
		t.Fatalf("%v %v", ids, err)
	}
}

func TestModelPath(t *testing.T) {
	if got := ModelPath("gemini-2.5-flash", true); got != "/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
		t.Fatal(got)
	}
	if got := ModelPath("gemini-2.5-flash", false); got != "/models/gemini-2.5-flash:generateContent" {
		t.Fatal(got)
	}
	if got := ModelPath("models/gemini-3-pro-preview", true); got != "/models/gemini-3-pro-preview:streamGenerateContent?alt=sse" {
		t.Fatal(got)
	}
	if got := ModelPath("odd?model", false); got != "/models/odd%3Fmodel:generateContent" {
		t.Fatal(got)
	}
}
