package anthropic

import (
	"strings"
	"testing"

	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

func TestErrorFrom(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		kind    relayerr.Kind
		retry   bool
		disable bool
	}{
		{"bad key", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, relayerr.KindUpstream, true, true},
		// Anthropic's own overload status, not a standard one.
		{"overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, relayerr.KindUpstream, true, false},
		// An exhausted account answers 400: it must still disable the channel.
		{"no credit", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`, relayerr.KindUpstream, true, true},
		{"bad request", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}`, relayerr.KindInvalidRequest, false, false},
		{"rate limited", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, relayerr.KindRateLimited, true, false},
		{"not JSON", 502, `<html>bad gateway</html>`, relayerr.KindUpstream, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorFrom(tt.status, []byte(tt.body))
			if e.Kind != tt.kind || e.Retryable != tt.retry || e.DisableChannel != tt.disable {
				t.Fatalf("got kind %v retry %v disable %v (%q)", e.Kind, e.Retryable, e.DisableChannel, e.Message)
			}
		})
	}
}

// The passthrough decoder keeps event names, merges usage from
// message_start and message_delta, and ends at message_stop.
func TestStreamDecoder(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"ping"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi there"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`,
		`{"type":"message_stop"}`,
	}
	d := Adaptor{}.NewStreamDecoder(nil)
	var out strings.Builder
	done := false
	for _, e := range events {
		name := []byte(strings.Split(strings.Split(e, `"type":"`)[1], `"`)[0])
		b, fin, err := d.Decode(sse.Event{Name: name, Data: []byte(e)})
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		done = fin
	}
	if !done {
		t.Fatal("message_stop did not end the stream")
	}
	u := d.Usage()
	if u == nil || u.PromptTokens != 130 || u.CachedTokens != 100 || u.CacheWriteTokens != 20 || u.CompletionTokens != 7 {
		t.Fatalf("usage %+v", u)
	}
	if d.Text() != "Hi there" {
		t.Errorf("text %q", d.Text())
	}
	if !strings.HasPrefix(out.String(), "event: message_start\ndata: {") || !strings.HasSuffix(out.String(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Errorf("framing:\n%s", out.String())
	}
	_, _, err := d.Decode(sse.Event{Name: []byte("error"), Data: []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)})
	if err == nil || err.Message != "Overloaded" {
		t.Fatalf("error event: %v", err)
	}
}

func TestParseModels(t *testing.T) {
	ids, err := Adaptor{}.ParseModels([]byte(`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5"},{"type":"model","id":"claude-haiku-4-5"}],"has_more":false}`))
	if err != nil || len(ids) != 2 || ids[0] != "claude-sonnet-4-5" {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := (Adaptor{}).ParseModels([]byte(`{"models":[]}`)); err == nil {
		t.Fatal("a foreign list was accepted")
	}
}
