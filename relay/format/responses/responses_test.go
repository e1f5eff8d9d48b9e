package responses

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
)

func TestRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "conversation"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, body := formattest.GoldenCodec(t, "request_"+name+".json", "request_decode_"+name+".json", "request_encode_"+name+".json",
				DecodeRequest, EncodeRequest)
			again, err := DecodeRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			// EncodeRequest drops earlier turns' reasoning (see its doc).
			for i := range r.Messages {
				var keep []format.Part
				for _, p := range r.Messages[i].Parts {
					if p.Type != format.PartThinking && p.Type != format.PartRedactedThinking {
						keep = append(keep, p)
					}
				}
				r.Messages[i].Parts = keep
			}
			if !formattest.SameJSON(t, r, again) {
				t.Errorf("round trip changed the request:\n%s\n%s", formattest.MustJSON(t, r), formattest.MustJSON(t, again))
			}
		})
	}
}

func TestDecodeRequestConversation(t *testing.T) {
	t.Parallel()
	r, err := DecodeRequest(formattest.Fixture(t, "request_conversation.json"))
	if err != nil {
		t.Fatal(err)
	}
	// developer + user, one assistant turn (reasoning, text, two calls),
	// one user message of two tool results, then the user's text.
	if len(r.System) != 2 || len(r.Messages) != 4 {
		t.Fatalf("system=%d messages=%d", len(r.System), len(r.Messages))
	}
	a := r.Messages[1].Parts
	if len(a) != 4 || a[0].Type != format.PartThinking || a[0].Signature != "gAAAAABor-8eSig" || a[3].ToolCall.Name != "get_time" {
		t.Errorf("assistant parts = %s", formattest.MustJSON(t, a))
	}
	res := r.Messages[2].Parts
	if len(res) != 2 || res[1].ToolResult.Name != "get_time" || res[1].ToolResult.Content[0].Text != "14:05" {
		t.Errorf("tool results = %s", formattest.MustJSON(t, res))
	}
	if r.ToolChoice == nil || !r.ToolChoice.DisableParallel {
		t.Errorf("ToolChoice = %+v", r.ToolChoice)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"not json", `{`, "request body is not valid JSON"},
		{"no model", `{"input":"hi"}`, "model: is required"},
		{"no input", `{"model":"m"}`, "input: is required"},
		{"previous response", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, "previous_response_id: not supported"},
		{"conversation", `{"model":"m","input":"hi","conversation":"conv_1"}`, "conversation: not supported"},
		{"web search tool", `{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`, `tools[0].type: the "web_search" tool is not supported`},
		{"file id", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input[0].content[0].file_id: uploaded files are not supported"},
		{"input file", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_data":"x"}]}]}`, `unsupported content part type "input_file"`},
		{"item reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "item_reference is not supported"},
		{"computer call", `{"model":"m","input":[{"type":"computer_call_output"}]}`, `unsupported input item type "computer_call_output"`},
		{"bad role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, `input[0].role: unsupported role "tool"`},
		{"input number", `{"model":"m","input":5}`, "input: must be a string or an array"},
		{"tool choice", `{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}`, "tool_choice: must be"},
		{"output without id", `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tt.body))
			if !errors.Is(err, format.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tools", "incomplete"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, body := formattest.GoldenCodec(t, "response_"+name+".json", "response_decode_"+name+".json", "response_encode_"+name+".json",
				DecodeResponse, EncodeResponse)
			again, err := DecodeResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if !formattest.SameJSON(t, r, again) {
				t.Errorf("round trip changed the response:\n%s\n%s", formattest.MustJSON(t, r), formattest.MustJSON(t, again))
			}
		})
	}
}

// anthropicResponse is an Anthropic answer in the IR: thinking with a
// signature, redacted thinking, text, two tool calls, cache usage.
func anthropicResponse() *format.Response {
	return &format.Response{
		ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5",
		Content: []format.Part{
			{Type: format.PartThinking, Text: "Need <both> tools.", Signature: "EqQBCkgIARAB"},
			{Type: format.PartRedactedThinking, Data: "EmwKAhgBEgy3va3p"},
			{Type: format.PartText, Text: "Checking "},
			{Type: format.PartText, Text: "now."},
			{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_02", Name: "get_time", Arguments: `{}`}},
		},
		StopReason: format.StopToolUse,
		Usage:      format.Usage{InputTokens: 2100, OutputTokens: 120, CacheReadTokens: 1800, CacheWriteTokens: 200, ReasoningTokens: 40},
	}
}

func TestEncodeResponseFromIR(t *testing.T) {
	t.Parallel()
	body, err := EncodeResponse(anthropicResponse())
	if err != nil {
		t.Fatal(err)
	}
	formattest.Golden(t, "response_encode_ir_anthropic.json", body)
}

func TestStreamDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tools"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			evs, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ReadEvents(t, "stream_"+name+".sse"))
			if err != nil || !done {
				t.Fatalf("done=%v err=%v", done, err)
			}
			formattest.Golden(t, "stream_decode_"+name+".json", formattest.MustJSON(t, evs))
			out := encodeStream(format.StreamOptions{Model: "client-model", ID: "fallback"}, evs)
			formattest.Golden(t, "stream_encode_"+name+".sse", out)
			again, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, out))
			if err != nil || !done {
				t.Fatalf("re-decode: done=%v err=%v", done, err)
			}
			evs[0].Model, again[0].Model = "", ""
			if !formattest.SameJSON(t, evs, again) {
				t.Errorf("stream round trip differs:\n%s\n%s", formattest.MustJSON(t, evs), formattest.MustJSON(t, again))
			}
		})
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	evs, _, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ReadEvents(t, "stream_error.sse"))
	var re *relayerr.Error
	if !errors.As(err, &re) || re.Kind != relayerr.KindUpstream {
		t.Fatalf("err = %v, want a KindUpstream relay error", err)
	}
	if strings.Contains(re.Message, "https://") || !strings.Contains(re.Message, "The server had an error") {
		t.Errorf("message not sanitized or lost: %q", re.Message)
	}
	if len(evs) != 2 || evs[1].Text != "Partial" {
		t.Errorf("events before the error = %s", formattest.MustJSON(t, evs))
	}
	_, _, rerr := NewStreamDecoder().Decode(formattest.SSEData(`{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}`), nil)
	if rerr == nil || rerr.Message != "boom" {
		t.Errorf("response.failed: err = %v", rerr)
	}
}

// A stateless client sends the output items back as input in the next
// turn: the thinking signatures and the redacted block must come back as
// they were, and a signature-only block must stay a signature.
func TestReasoningRoundTrip(t *testing.T) {
	t.Parallel()
	resp := anthropicResponse()
	resp.Content = append(resp.Content, format.Part{Type: format.PartThinking, Signature: "gemini-sig"})
	body, err := EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Output []json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(out.Output)
	req := `{"model":"m","input":` + string(input) + `}`
	r, err := DecodeRequest([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	var want []format.Part
	for _, p := range resp.Content {
		if p.Type == format.PartText {
			continue
		}
		want = append(want, p)
	}
	var got []format.Part
	for _, p := range r.Messages[0].Parts {
		if p.Type != format.PartText {
			got = append(got, p)
		}
	}
	if !formattest.SameJSON(t, got, want) {
		t.Errorf("parts back:\n%s\nwant\n%s", formattest.MustJSON(t, got), formattest.MustJSON(t, want))
	}
}
