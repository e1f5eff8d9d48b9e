package gemini

import (
	"errors"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// TestDecodeResponseGolden decodes recorded-shape responses into the IR
// and encodes that IR back for a Gemini client: both are golden.
func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop format.StopReason
	}{
		{"response_text", format.StopEnd},
		{"response_tool_call", format.StopToolUse},
		{"response_thinking", format.StopLength},
		{"response_blocked", format.StopContentFilter},
		{"response_safety", format.StopContentFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := formattest.GoldenCodec(t, tt.name+".json", tt.name+".ir.json", tt.name+".reencoded.json", DecodeResponse, EncodeResponse)
			if r.StopReason != tt.stop {
				t.Errorf("stop = %d, want %d", r.StopReason, tt.stop)
			}
		})
	}
}

func TestDecodeResponseUsage(t *testing.T) {
	t.Parallel()
	r, err := DecodeResponse(formattest.Fixture(t, "response_text.json"))
	if err != nil {
		t.Fatal(err)
	}
	// promptTokenCount already includes the cached tokens; thoughts are
	// reported beside candidates and belong inside OutputTokens.
	want := format.Usage{InputTokens: 2100, OutputTokens: 12 + 481, CacheReadTokens: 2048, ReasoningTokens: 481}
	if r.Usage != want {
		t.Errorf("usage = %+v, want %+v", r.Usage, want)
	}
	if r.ID != "e3bKaNL5IsWVz7IPgOmP-Ag" || r.Model != "gemini-2.5-flash" {
		t.Errorf("id/model = %q/%q", r.ID, r.Model)
	}
}

func TestDecodeResponseCallIDs(t *testing.T) {
	t.Parallel()
	r, err := DecodeResponse(formattest.Fixture(t, "response_tool_call.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Ids are unique across the turns of a conversation (the response id
	// is in them) and stable for one response.
	if got := r.Content[0].ToolCall.ID + "," + r.Content[1].ToolCall.ID; got != "call_6VvNaN-oGpnWz7IP3Ib0mAk_0,call_6VvNaN-oGpnWz7IP3Ib0mAk_1" {
		t.Errorf("ids = %s", got)
	}
	if r.Content[0].Signature != "CiQBcsjafGk2QwQKc0xmtvl1Z+Dm" || r.Content[1].Signature != "" {
		t.Errorf("signatures = %q, %q", r.Content[0].Signature, r.Content[1].Signature)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"not json", `{`, "body: must be valid JSON"},
		{"array", `[{"candidates": []}]`, "body: must be a JSON object"},
		{"candidates object", `{"candidates": {}}`, "candidates: must be an array"},
		{"candidate string", `{"candidates": ["x"]}`, "candidates[0]: must be an object"},
		{"content array", `{"candidates": [{"content": []}]}`, "candidates[0].content: must be an object"},
		{"part string", `{"candidates": [{"content": {"parts": ["x"]}}]}`, "candidates[0].content.parts[0]: must be an object"},
		{"usage string", `{"usageMetadata": "x"}`, "usageMetadata: must be an object"},
		{"error body", `{"error": {"code": 400, "message": "Quota exceeded, see https://ai.google.dev/gemini-api/docs/rate-limits", "status": "RESOURCE_EXHAUSTED"}}`, "error: Quota exceeded, see [redacted-url]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeResponse([]byte(tt.body))
			if !errors.Is(err, format.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestFinishReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		calls bool
		want  format.StopReason
	}{
		{"STOP", false, format.StopEnd},
		// Gemini has no tool_use reason: a STOP after function calls is one.
		{"STOP", true, format.StopToolUse},
		{"MAX_TOKENS", true, format.StopLength},
		{"SAFETY", false, format.StopContentFilter},
		{"RECITATION", false, format.StopContentFilter},
		{"PROHIBITED_CONTENT", false, format.StopContentFilter},
		{"BLOCKLIST", false, format.StopContentFilter},
		{"SPII", false, format.StopContentFilter},
		// A broken call or an unexplained stop has no IR reason.
		{"MALFORMED_FUNCTION_CALL", false, format.StopUnknown},
		{"OTHER", false, format.StopUnknown},
		{"", false, format.StopUnknown},
	}
	for _, tt := range tests {
		if got := finishReason(tt.in, tt.calls); got != tt.want {
			t.Errorf("finishReason(%q, %v) = %d, want %d", tt.in, tt.calls, got, tt.want)
		}
	}
	enc := map[format.StopReason]string{
		format.StopEnd: "STOP", format.StopToolUse: "STOP", format.StopSequence: "STOP",
		format.StopLength: "MAX_TOKENS", format.StopContentFilter: "SAFETY", format.StopUnknown: "STOP",
	}
	for r, want := range enc {
		if got := encodeFinish(r); got != want {
			t.Errorf("encodeFinish(%d) = %q, want %q", r, got, want)
		}
	}
}

// TestEncodeResponseGolden encodes answers as other dialects' decoders
// produce them.
func TestEncodeResponseGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *format.Response
	}{
		{"encode_response_anthropic", &format.Response{
			ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5",
			Content: []format.Part{
				{Type: format.PartThinking, Text: "Let me check the weather.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA"},
				{Type: format.PartRedactedThinking, Data: "EmwKAhgBEgy3va3pzix"},
				{Type: format.PartText, Text: "I'll look that up."},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Arguments: `{"location": "San Francisco, CA"}`}},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_02", Name: "broken", Arguments: `{"trunc`}},
			},
			StopReason: format.StopToolUse,
			Usage:      format.Usage{InputTokens: 2095, OutputTokens: 503, CacheReadTokens: 2000, CacheWriteTokens: 10, ReasoningTokens: 0},
		}},
		{"encode_response_openai", &format.Response{
			ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Model: "o3-mini",
			Content:      []format.Part{{Type: format.PartText, Text: "Hello <world> & friends"}},
			StopReason:   format.StopSequence,
			StopSequence: "\n\n",
			Usage:        format.Usage{InputTokens: 19, OutputTokens: 210, ReasoningTokens: 192},
		}},
		{"encode_response_empty", &format.Response{StopReason: format.StopContentFilter}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := EncodeResponse(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, tt.name+".json", out)
			if _, err := DecodeResponse(out); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		})
	}
}

// TestRedactedThinkingRoundTrip: Anthropic's redacted thinking reaches a
// Gemini client in a marked signature, comes back as redacted thinking
// when the client returns it, and is never sent to a Gemini upstream.
func TestRedactedThinkingRoundTrip(t *testing.T) {
	t.Parallel()
	out, err := EncodeResponse(&format.Response{Content: []format.Part{
		{Type: format.PartRedactedThinking, Data: "EmwKAhgBEgy"},
		{Type: format.PartText, Text: "ok"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	content := gjsonGet(t, out, "candidates.0.content")
	req, err := DecodeRequest([]byte(`{"contents": [` + content + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := req.Messages[0].Parts[0]
	if p.Type != format.PartRedactedThinking || p.Data != "EmwKAhgBEgy" {
		t.Fatalf("part = %+v", p)
	}
	body, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "EmwKAhgBEgy") {
		t.Errorf("redacted thinking sent to Gemini: %s", body)
	}

	steps := decodeStream(t, encodeStream(format.StreamOptions{}, []format.Event{{Type: format.EventRedactedThinking, Text: "abc"}}))
	if ev := steps[0].Events[1]; ev.Type != format.EventRedactedThinking || ev.Text != "abc" {
		t.Errorf("stream event = %+v", ev)
	}
}

func gjsonGet(t *testing.T, body []byte, path string) string {
	t.Helper()
	r := gjson.GetBytes(body, path)
	if !r.Exists() {
		t.Fatalf("%s missing in %s", path, body)
	}
	return r.Raw
}
