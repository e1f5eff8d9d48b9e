package responses

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/packages/ssestream"
	oresp "github.com/openai/openai-go/v3/responses"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// sdkResult is what a client using the official SDK gets from a stream:
// text and arguments accumulated from the deltas, and the final response.
type sdkResult struct {
	text     string
	args     map[string]string // item id → accumulated arguments
	final    oresp.Response
	terminal string
	events   int
}

// sdkStream reads encoder output through the SDK's SSE decoder and checks
// the protocol invariants a client relies on: increasing sequence
// numbers, deltas only for announced items, and done events repeating
// exactly what the deltas built.
func sdkStream(t *testing.T, body []byte) sdkResult {
	t.Helper()
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": []string{"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(body))}
	stream := ssestream.NewStream[oresp.ResponseStreamEventUnion](ssestream.NewDecoder(res), nil)
	out := sdkResult{args: map[string]string{}}
	items := map[string]int64{} // item id → output index, while open
	texts := map[string]*strings.Builder{}
	seq := int64(-1)
	for stream.Next() {
		ev := stream.Current()
		out.events++
		if ev.SequenceNumber != seq+1 {
			t.Fatalf("event %d (%s): sequence_number %d after %d", out.events, ev.Type, ev.SequenceNumber, seq)
		}
		seq = ev.SequenceNumber
		switch ev.Type {
		case "response.output_item.added":
			e := ev.AsResponseOutputItemAdded()
			items[e.Item.ID] = e.OutputIndex
			texts[e.Item.ID] = &strings.Builder{}
		case "response.output_text.delta", "response.reasoning_summary_text.delta", "response.function_call_arguments.delta":
			b, ok := texts[ev.ItemID]
			if !ok || items[ev.ItemID] != ev.OutputIndex {
				t.Fatalf("%s for unannounced item %s at %d", ev.Type, ev.ItemID, ev.OutputIndex)
			}
			b.WriteString(ev.Delta)
			if ev.Type == "response.output_text.delta" {
				out.text += ev.Delta
			}
		case "response.output_text.done":
			if e := ev.AsResponseOutputTextDone(); e.Text != texts[e.ItemID].String() {
				t.Errorf("output_text.done %q != deltas %q", e.Text, texts[e.ItemID].String())
			}
		case "response.function_call_arguments.done":
			e := ev.AsResponseFunctionCallArgumentsDone()
			if e.Arguments != texts[e.ItemID].String() {
				t.Errorf("arguments.done %q != deltas %q", e.Arguments, texts[e.ItemID].String())
			}
			out.args[e.ItemID] = e.Arguments
		case "response.output_item.done":
			e := ev.AsResponseOutputItemDone()
			if _, ok := items[e.Item.ID]; !ok {
				t.Errorf("output_item.done for unknown item %s", e.Item.ID)
			}
			delete(items, e.Item.ID)
		case "response.completed", "response.incomplete":
			out.terminal = ev.Type
			out.final = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("SDK stream error: %v", err)
	}
	if len(items) != 0 {
		t.Errorf("items never closed: %v", items)
	}
	return out
}

func TestSDKAcceptsStream(t *testing.T) {
	t.Parallel()
	full := []format.Event{
		{Type: format.EventStart, ID: "msg_01", Model: "claude-x"},
		{Type: format.EventThinkingDelta, Text: "Think "},
		{Type: format.EventThinkingDelta, Text: "hard."},
		{Type: format.EventSignature, Signature: "sig-1"},
		{Type: format.EventRedactedThinking, Text: "REDACTED"},
		{Type: format.EventTextDelta, Text: "Let me "},
		{Type: format.EventTextDelta, Text: "check."},
		{Type: format.EventToolCallStart, Index: 0, ID: "toolu_a", Name: "lookup"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `{"q":`},
		{Type: format.EventToolCallStart, Index: 1, ID: "toolu_b", Name: "fetch"},
		// Interleaved arguments (OpenAI Chat may do this): call 0 is
		// still open.
		{Type: format.EventToolArgsDelta, Index: 0, Text: `"x"}`},
		{Type: format.EventToolArgsDelta, Index: 1, Text: `{}`},
		{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 60, ReasoningTokens: 5}},
		{Type: format.EventFinish, StopReason: format.StopToolUse},
	}
	tests := []struct {
		name      string
		events    []format.Event
		text      string
		calls     map[string]string // call_id → arguments in the final response
		terminal  string
		input     int64
		reasoning int // reasoning items in the final output
	}{
		{"thinking, text, interleaved calls", full, "Let me check.",
			map[string]string{"toolu_a": `{"q":"x"}`, "toolu_b": `{}`}, "response.completed", 100, 2},
		{"no start, no finish, usage last", []format.Event{
			{Type: format.EventTextDelta, Text: "Hi"},
			{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 3, OutputTokens: 1}},
		}, "Hi", map[string]string{}, "response.completed", 3, 0},
		{"max tokens", []format.Event{
			{Type: format.EventStart, ID: "chatcmpl-1"},
			{Type: format.EventTextDelta, Text: "Once upon"},
			{Type: format.EventFinish, StopReason: format.StopLength},
			{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 5, OutputTokens: 2}},
		}, "Once upon", map[string]string{}, "response.incomplete", 5, 0},
		{"text after tool call, no usage", []format.Event{
			{Type: format.EventToolCallStart, Index: 0, ID: "c0", Name: "f"},
			{Type: format.EventToolArgsDelta, Index: 0, Text: `{"a":1}`},
			{Type: format.EventTextDelta, Text: "done"},
		}, "done", map[string]string{"c0": `{"a":1}`}, "response.completed", 0, 0},
		{"empty stream", nil, "", map[string]string{}, "response.completed", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := encodeStream(format.StreamOptions{Model: "gpt-5", ID: "fallback-id"}, tt.events)
			got := sdkStream(t, body)
			if got.terminal != tt.terminal {
				t.Fatalf("terminal = %q, want %q", got.terminal, tt.terminal)
			}
			f := got.final
			if got.text != tt.text || f.OutputText() != tt.text {
				t.Errorf("text: deltas %q, final %q, want %q", got.text, f.OutputText(), tt.text)
			}
			calls := map[string]string{}
			reasoning := 0
			for _, it := range f.Output {
				switch it.Type {
				case "function_call":
					fc := it.AsFunctionCall()
					calls[fc.CallID] = fc.Arguments
				case "reasoning":
					reasoning++
				}
			}
			if !formattest.SameJSON(t, calls, tt.calls) || reasoning != tt.reasoning {
				t.Errorf("final calls %v reasoning %d, want %v %d", calls, reasoning, tt.calls, tt.reasoning)
			}
			if f.Usage.InputTokens != tt.input || f.Model != "gpt-5" || !strings.HasPrefix(f.ID, "resp_") {
				t.Errorf("usage %d model %q id %q", f.Usage.InputTokens, f.Model, f.ID)
			}
			if tt.terminal == "response.incomplete" && f.IncompleteDetails.Reason != "max_output_tokens" {
				t.Errorf("incomplete_details = %+v", f.IncompleteDetails)
			}
		})
	}
	// The sequence above is also a golden file, to read by eye.
	formattest.Golden(t, "stream_encode_ir_anthropic.sse", encodeStream(format.StreamOptions{Model: "gpt-5"}, full))
}

func TestSDKAcceptsResponse(t *testing.T) {
	t.Parallel()
	body, err := EncodeResponse(anthropicResponse())
	if err != nil {
		t.Fatal(err)
	}
	var r oresp.Response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Checking now." || r.Status != "completed" {
		t.Errorf("text %q status %q", r.OutputText(), r.Status)
	}
	var names []string
	for _, it := range r.Output {
		if it.Type == "function_call" {
			names = append(names, it.AsFunctionCall().Name+it.AsFunctionCall().Arguments)
		}
		if it.Type == "reasoning" && it.AsReasoning().ID == "" {
			t.Errorf("reasoning item without id")
		}
	}
	if strings.Join(names, ",") != `get_weather{"city":"Paris"},get_time{}` {
		t.Errorf("calls = %v", names)
	}
	u := r.Usage
	if u.InputTokens != 2100 || u.OutputTokens != 120 || u.TotalTokens != 2220 ||
		u.InputTokensDetails.CachedTokens != 1800 || u.OutputTokensDetails.ReasoningTokens != 40 {
		t.Errorf("usage = %+v", u)
	}
}
