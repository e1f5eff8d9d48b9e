package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	oa "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// sdkStream feeds encoder output to the official SDK's stream decoder and
// accumulator, the way a Go client would read it.
func sdkStream(t *testing.T, body []byte) (oa.ChatCompletion, int) {
	t.Helper()
	res := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": []string{"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(body)),
	}
	stream := ssestream.NewStream[oa.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc oa.ChatCompletionAccumulator
	n := 0
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("the SDK accumulator rejected chunk %d", n)
		}
		n++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("SDK stream error: %v", err)
	}
	return acc.ChatCompletion, n
}

func TestSDKAcceptsStream(t *testing.T) {
	t.Parallel()
	usage := &format.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 60, CacheWriteTokens: 30, ReasoningTokens: 5}
	thinkTextCalls := []format.Event{
		{Type: format.EventStart, ID: "msg_01", Model: "claude-x"},
		{Type: format.EventThinkingDelta, Text: "hmm"},
		{Type: format.EventSignature, Signature: "sig"},
		{Type: format.EventTextDelta, Text: "Let me "},
		{Type: format.EventTextDelta, Text: "check."},
		{Type: format.EventToolCallStart, Index: 0, ID: "toolu_a", Name: "lookup"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `{"q":`},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `"x"}`},
		{Type: format.EventToolCallStart, Index: 1, ID: "toolu_b", Name: "lookup"},
		{Type: format.EventToolArgsDelta, Index: 1, Text: `{}`},
		{Type: format.EventUsage, Usage: usage},
		{Type: format.EventFinish, StopReason: format.StopToolUse},
	}
	tests := []struct {
		name       string
		events     []format.Event
		usage      bool
		wantText   string
		wantCalls  int
		wantFinish string
		wantInput  int64
	}{
		{"thinking, text, tool calls, usage first", thinkTextCalls, true, "Let me check.", 2, "tool_calls", 100},
		{"usage not asked for", thinkTextCalls, false, "Let me check.", 2, "tool_calls", 0},
		// Gemini-like: no start event, no finish event, calls only.
		{"no start, no finish", []format.Event{
			{Type: format.EventToolCallStart, Index: 0, ID: "c0", Name: "f"},
			{Type: format.EventToolArgsDelta, Index: 0, Text: `{"a":1}`},
			{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 7, OutputTokens: 3}},
		}, true, "", 1, "tool_calls", 7},
		{"empty stream", nil, true, "", 0, "stop", 0},
		{"length", []format.Event{
			{Type: format.EventTextDelta, Text: "abc"},
			{Type: format.EventFinish, StopReason: format.StopLength},
			{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 1, OutputTokens: 2}},
			{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 1, OutputTokens: 3}},
		}, true, "abc", 0, "length", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := encodeStream(format.StreamOptions{Model: "gpt-4o", ID: "chatcmpl-x", IncludeUsage: tt.usage}, tt.events)
			cc, _ := sdkStream(t, body)
			if len(cc.Choices) != 1 {
				t.Fatalf("choices = %d", len(cc.Choices))
			}
			c := cc.Choices[0]
			if c.Message.Content != tt.wantText || len(c.Message.ToolCalls) != tt.wantCalls || c.FinishReason != tt.wantFinish {
				t.Errorf("content=%q calls=%d finish=%q", c.Message.Content, len(c.Message.ToolCalls), c.FinishReason)
			}
			if cc.Usage.PromptTokens != tt.wantInput {
				t.Errorf("prompt_tokens = %d, want %d", cc.Usage.PromptTokens, tt.wantInput)
			}
			if cc.Model != "gpt-4o" {
				t.Errorf("model = %q", cc.Model)
			}
			if tt.wantCalls == 2 {
				if tc := c.Message.ToolCalls[0]; tc.ID != "toolu_a" || tc.Function.Arguments != `{"q":"x"}` {
					t.Errorf("tool call 0 = %+v", tc)
				}
				if cc.Usage.PromptTokensDetails.CachedTokens != 60 && tt.usage {
					t.Errorf("cached = %d", cc.Usage.PromptTokensDetails.CachedTokens)
				}
			}
		})
	}
}

func TestSDKAcceptsResponse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"basic", "tools", "reasoning"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeResponse(formattest.Fixture(t, "response_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			body, err := EncodeResponse(r)
			if err != nil {
				t.Fatal(err)
			}
			var cc oa.ChatCompletion
			if err := json.Unmarshal(body, &cc); err != nil {
				t.Fatal(err)
			}
			if cc.ID != r.ID || len(cc.Choices) != 1 || cc.Usage.TotalTokens != int64(r.Usage.InputTokens+r.Usage.OutputTokens) {
				t.Errorf("SDK view: %+v", cc)
			}
			var calls int
			for _, p := range r.Content {
				if p.Type == format.PartToolCall {
					calls++
				}
			}
			if len(cc.Choices[0].Message.ToolCalls) != calls {
				t.Errorf("tool calls = %d, want %d", len(cc.Choices[0].Message.ToolCalls), calls)
			}
		})
	}
}
