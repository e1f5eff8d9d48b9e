package anthropic

import (
	"errors"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

var responseFixtures = []string{"response_text", "response_tool_use", "response_stop_sequence"}

func TestResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range responseFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			formattest.GoldenCodec(t, name+".json", "decode_"+name+".json", "encode_"+name+".json", DecodeResponse, EncodeResponse)
		})
	}
}

func TestDecodeResponseUsage(t *testing.T) {
	t.Parallel()
	r, err := DecodeResponse(formattest.Fixture(t, "response_tool_use.json"))
	if err != nil {
		t.Fatal(err)
	}
	// IR input counts every prompt token: 12 uncached + 248 written + 2048 read.
	want := format.Usage{InputTokens: 2308, OutputTokens: 130, CacheReadTokens: 2048, CacheWriteTokens: 248}
	if r.Usage != want {
		t.Errorf("usage: got %+v, want %+v", r.Usage, want)
	}
	if len(r.Content) != 4 {
		t.Errorf("content: got %d parts, want 4 (server_tool_use dropped)", len(r.Content))
	}
}

// Answers from other dialects: the cases pin what an Anthropic client
// must see.
func TestEncodeResponseFromOtherDialects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *format.Response
	}{
		{
			// Gemini reports STOP with function calls; Anthropic clients
			// run tools on stop_reason "tool_use". Unsigned reasoning is
			// kept for the client; images cannot be in a Messages answer.
			name: "gemini_stop_with_tool",
			resp: &format.Response{
				ID: "resp_1", Model: "gemini-2.5-pro", StopReason: format.StopEnd,
				Content: []format.Part{
					{Type: format.PartThinking, Text: "thought summary"},
					{Type: format.PartImage, Image: &format.Image{URL: "https://example.com/a.png"}},
					{Type: format.PartText, Text: ""},
					{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "call_1", Name: "lookup", Arguments: ""}},
				},
				Usage: format.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 60, ReasoningTokens: 5},
			},
		},
		{
			name: "openai_length",
			resp: &format.Response{
				ID: "chatcmpl-123", Model: "gpt-4o", StopReason: format.StopLength,
				Content: []format.Part{{Type: format.PartText, Text: "truncated <answer> & more"}},
				Usage:   format.Usage{InputTokens: 10, OutputTokens: 16},
			},
		},
		{
			name: "content_filter",
			resp: &format.Response{ID: "x", Model: "m", StopReason: format.StopContentFilter},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := EncodeResponse(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, "encode_response_"+tc.name+".json", out)
		})
	}
}

func TestEncodeResponseGeneratesID(t *testing.T) {
	t.Parallel()
	out, err := EncodeResponse(&format.Response{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, "msg_") || len(r.ID) != 28 {
		t.Errorf("id: got %q", r.ID)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"error body", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded at https://internal.example/x"}}`, "upstream error: Overloaded at [redacted-url]"},
		{"wrong type", `{"type":"completion"}`, `type: must be "message"`},
		{"no content", `{"type":"message","id":"m"}`, "content: must be an array"},
		{"garbage", `nope`, "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeResponse([]byte(tc.body))
			if !errors.Is(err, format.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}
