package openai

import (
	"bytes"
	"strings"
	"testing"

	relaycommon "sluice/relay/common"
	"sluice/relay/sse"
)

// TestResponsesDecoder relays a Responses stream: every event framed with
// its name (the type when the upstream sent no event line), each output
// intact although the framing buffer is reused, the deltas kept as text
// and the usage read from response.completed.
func TestResponsesDecoder(t *testing.T) {
	t.Parallel()
	big := `{"type":"response.created","response":{"instructions":"` + strings.Repeat("x", 8<<10) + `"}}`
	events := []sse.Event{
		{Name: []byte("response.created"), Data: []byte(big)},
		{Name: []byte("response.output_text.delta"), Data: []byte(`{"type":"response.output_text.delta","delta":"Hel"}`)},
		{Data: []byte(`{"type":"response.output_text.delta","delta":"lo\n"}`)},
		{Name: []byte("response.function_call_arguments.delta"), Data: []byte(`{"type":"response.function_call_arguments.delta","delta":"{\"a\":1}"}`)},
		{Name: []byte("response.completed"), Data: []byte(`{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}}}`)},
	}
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{Dialect: relaycommon.DialectResponses})
	for i, ev := range events {
		out, done, err := d.Decode(ev)
		if err != nil || done {
			t.Fatalf("event %d: done=%v err=%v", i, done, err)
		}
		name := ev.Name
		if len(name) == 0 {
			name = []byte("response.output_text.delta")
		}
		if want := sse.AppendEvent(nil, name, ev.Data); !bytes.Equal(out, want) {
			t.Fatalf("event %d: out %q, want %q", i, out, want)
		}
	}
	if got := d.Text(); got != "Hello\n{\"a\":1}" {
		t.Fatalf("text %q", got)
	}
	if u := d.Usage(); u == nil || *u != (relaycommon.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}) {
		t.Fatalf("usage %+v", u)
	}
	if !d.(*responsesDecoder).CompleteAtEOF() {
		t.Fatal("not complete after response.completed")
	}
	if cap(d.(*responsesDecoder).out) > maxReusedOut {
		t.Fatalf("kept a %d-byte framing buffer after small events", cap(d.(*responsesDecoder).out))
	}
	if _, _, err := d.Decode(sse.Event{Data: []byte(`{"type":"error","message":"overloaded"}`)}); err == nil || err.Message != "overloaded" {
		t.Fatalf("error event: %v", err)
	}
}

func BenchmarkResponsesDecodeDelta(b *testing.B) {
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{Dialect: relaycommon.DialectResponses})
	ev := sse.Event{Name: []byte("response.output_text.delta"),
		Data: []byte(`{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"token "}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}
