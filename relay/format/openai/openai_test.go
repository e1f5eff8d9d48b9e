package openai

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
)

func TestRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"basic", "tools", "thinking"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, body := formattest.GoldenCodec(t, "request_"+name+".json", "request_decode_"+name+".json", "request_encode_"+name+".json",
				DecodeRequest, EncodeRequest)
			// What we send must decode back to the same IR, except top_k
			// which Chat cannot carry.
			again, err := DecodeRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			r.TopK = nil
			if !formattest.SameJSON(t, r, again) {
				t.Errorf("round trip changed the request:\n%s\n%s", formattest.MustJSON(t, r), formattest.MustJSON(t, again))
			}
		})
	}
}

// anthropicLikeRequest is what an Anthropic client's request looks like in
// the IR: system blocks with cache control, thinking with a signature,
// redacted thinking, parallel tool calls whose results include an image
// and an error.
func anthropicLikeRequest() *format.Request {
	temp, topK := 0.5, 40
	return &format.Request{
		Model: "claude-sonnet-4-5",
		System: []format.Part{
			{Type: format.PartText, Text: "You are Claude Code.", CacheControl: []byte(`{"type":"ephemeral"}`)},
			{Type: format.PartText, Text: "Be brief."},
		},
		Messages: []format.Message{
			{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "Screenshot the page and read the title."}}},
			{Role: format.RoleAssistant, Parts: []format.Part{
				{Type: format.PartThinking, Text: "Two tools at once.", Signature: "sig-abc"},
				{Type: format.PartRedactedThinking, Data: "ENCRYPTED=="},
				{Type: format.PartText, Text: "Working on it."},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_1", Name: "screenshot", Arguments: "{}"}},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_2", Name: "title", Arguments: ""}},
			}},
			{Role: format.RoleUser, Parts: []format.Part{
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "toolu_1", Name: "screenshot", Content: []format.Part{
					{Type: format.PartText, Text: "captured"},
					{Type: format.PartImage, Image: &format.Image{MediaType: "image/png", Data: "iVBORw0KGgo="}},
				}}},
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "toolu_2", Name: "title", IsError: true,
					Content: []format.Part{{Type: format.PartText, Text: "timeout"}}}},
				{Type: format.PartText, Text: "Go on."},
			}},
		},
		Tools: []format.Tool{
			{Name: "screenshot", Description: "Take a screenshot", Parameters: []byte(`{"type":"object","properties":{}}`)},
			{Name: "title", Parameters: []byte(`{"type":"object"}`), CacheControl: []byte(`{"type":"ephemeral"}`)},
		},
		ToolChoice:  &format.ToolChoice{Mode: format.ToolChoiceRequired, DisableParallel: true},
		MaxTokens:   8192,
		Temperature: &temp,
		TopK:        &topK,
		Stop:        []string{"\n\nHuman:"},
		Stream:      true,
		Thinking:    &format.Thinking{Enabled: true, BudgetTokens: 4096},
		User:        "user-42",
	}
}

func TestEncodeRequestFromIR(t *testing.T) {
	t.Parallel()
	body, err := EncodeRequest(anthropicLikeRequest())
	if err != nil {
		t.Fatal(err)
	}
	formattest.Golden(t, "request_encode_ir_anthropic.json", body)
	back, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	asst := back.Messages[1].Parts
	if asst[0].Signature != "sig-abc" || asst[0].Text != "Two tools at once." || asst[1].Data != "ENCRYPTED==" {
		t.Errorf("thinking did not survive: %+v", asst[:2])
	}
}

func TestEffort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   *format.Thinking
		want string
	}{
		{nil, ""},
		{&format.Thinking{Enabled: false, BudgetTokens: 9000}, ""},
		{&format.Thinking{Enabled: true, Effort: "minimal"}, "minimal"},
		{&format.Thinking{Enabled: true, BudgetTokens: 1024}, "low"},
		{&format.Thinking{Enabled: true, BudgetTokens: 2048}, "medium"},
		{&format.Thinking{Enabled: true, BudgetTokens: 16383}, "medium"},
		{&format.Thinking{Enabled: true, BudgetTokens: 16384}, "high"},
		// Gemini's dynamic budget (-1): no size given, the default effort.
		{&format.Thinking{Enabled: true, BudgetTokens: -1}, "medium"},
	}
	for _, tt := range tests {
		if got := Effort(tt.in); got != tt.want {
			t.Errorf("Effort(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"not json", `{"model":`, "request body is not valid JSON"},
		{"messages not array", `{"model":"m","messages":"hi"}`, "messages: must be an array"},
		{"no messages", `{"model":"m","messages":[]}`, "messages: must be a non-empty array"},
		{"no model", `{"messages":[{"role":"user","content":"hi"}]}`, "model: is required"},
		{"bad role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, `messages[0].role: unsupported role "function"`},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, `messages[0].content[0]: unsupported content part type "input_audio"`},
		{"bad data url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,xyz"}}]}]}`, "data:<mime>;base64,<data>"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id: is required"},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, `tools[0].type: unsupported tool type "custom"`},
		{"bad tool choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"any"}`, `tool_choice: unsupported value "any"`},
		{"bad stop", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, "stop: must be a string or an array of strings"},
		{"bad format", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, `response_format.type: unsupported value "xml"`},
		{"max_tokens string", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"10"}`, "max_tokens: must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tt.body))
			if !errors.Is(err, format.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeRequestDetails(t *testing.T) {
	t.Parallel()
	// parallel_tool_calls:false without a tool_choice still disables
	// parallel calls, and a following user message stays separate from
	// the merged tool results.
	r, err := DecodeRequest(formattest.Fixture(t, "request_tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 4 {
		t.Fatalf("got %d messages, want 4 (user, assistant, tool results, user)", len(r.Messages))
	}
	res := r.Messages[2].Parts
	if len(res) != 2 || res[0].ToolResult.Name != "get_weather" || res[1].ToolResult.CallID != "call_67890abc" {
		t.Errorf("tool results = %+v", res)
	}
	body := `{"model":"m","messages":[{"role":"user","content":"x"}],"parallel_tool_calls":false,
		"tools":[{"type":"function","function":{"name":"f"}}],"max_tokens":5,"max_completion_tokens":7}`
	r, err = DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.ToolChoice == nil || !r.ToolChoice.DisableParallel || r.ToolChoice.Mode != format.ToolChoiceAuto {
		t.Errorf("ToolChoice = %+v", r.ToolChoice)
	}
	if r.MaxTokens != 7 {
		t.Errorf("MaxTokens = %d, want max_completion_tokens 7", r.MaxTokens)
	}
}

func TestResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"basic", "tools", "reasoning", "deepseek"} {
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

func TestDecodeResponseErrors(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[]`, `{"choices":[]}`, `{"error":{"message":"overloaded"}}`, `{"choices":[{"message":{"content":5}}]}`} {
		if _, err := DecodeResponse([]byte(body)); !errors.Is(err, format.ErrInvalid) {
			t.Errorf("DecodeResponse(%s) err = %v, want ErrInvalid", body, err)
		}
	}
}

func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tools", "reasoning", "openrouter"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			evs, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ReadEvents(t, "stream_"+name+".sse"))
			if err != nil || !done {
				t.Fatalf("done=%v err=%v", done, err)
			}
			formattest.Golden(t, "stream_decode_"+name+".json", formattest.MustJSON(t, evs))
			out := encodeStream(format.StreamOptions{Model: "client-model", ID: "chatcmpl-fallback", IncludeUsage: true}, evs)
			formattest.Golden(t, "stream_encode_"+name+".sse", out)
			// Our own output decodes to the same events (the model aside,
			// which the encoder replaces with the client's).
			again, done, err := formattest.DecodeStream(NewStreamDecoder(), formattest.ParseSSE(t, out))
			if err != nil || !done {
				t.Fatalf("re-decode: done=%v err=%v", done, err)
			}
			evs[0].Model, again[0].Model = "", ""
			if !reflect.DeepEqual(evs, again) {
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
	if strings.Contains(re.Message, "https://") || !strings.Contains(re.Message, "Provider disconnected") {
		t.Errorf("message not sanitized or lost: %q", re.Message)
	}
	if len(evs) != 2 || evs[1].Text != "The answer" {
		t.Errorf("events before the error = %+v", evs)
	}
}

func TestStreamDecodeEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string
		want   []format.Event
	}{
		{
			// Some servers (Gemini's compatibility layer) put every call at
			// index 0 and repeat the id in each piece.
			name: "calls reusing index 0",
			chunks: []string{
				`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}`,
				`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{"}}]}}]}`,
				`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"arguments":"}"}}]}}]}`,
			},
			want: []format.Event{
				{Type: format.EventStart, ID: "x"},
				{Type: format.EventToolCallStart, Index: 0, ID: "a", Name: "f"},
				{Type: format.EventToolArgsDelta, Index: 0, Text: "{}"},
				{Type: format.EventToolCallStart, Index: 1, ID: "b", Name: "g"},
				{Type: format.EventToolArgsDelta, Index: 1, Text: "{"},
				{Type: format.EventToolArgsDelta, Index: 1, Text: "}"},
			},
		},
		{
			name: "call without id gets one; other choices ignored",
			chunks: []string{
				`{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"tool_calls":[{"function":{"name":"f"}}]}}]}`,
				`{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]},"finish_reason":"function_call"}]}`,
			},
			want: []format.Event{
				{Type: format.EventStart},
				{Type: format.EventToolCallStart, Index: 0, ID: "call_0", Name: "f"},
				{Type: format.EventToolArgsDelta, Index: 0, Text: "{}"},
				{Type: format.EventFinish, StopReason: format.StopToolUse},
			},
		},
		{
			name:   "keep-alive and empty data",
			chunks: []string{``},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dec := NewStreamDecoder()
			var got []format.Event
			for _, c := range tt.chunks {
				var err *relayerr.Error
				got, _, err = dec.Decode(formattest.SSEData(c), got)
				if err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s\nwant %s", formattest.MustJSON(t, got), formattest.MustJSON(t, tt.want))
			}
		})
	}
	if _, _, err := NewStreamDecoder().Decode(formattest.SSEData(`not json`), nil); err == nil || err.Kind != relayerr.KindUpstream {
		t.Errorf("malformed chunk: err = %v", err)
	}
}

func TestStreamEncodeFromIR(t *testing.T) {
	t.Parallel()
	// Anthropic-like order: interleaved thinking blocks (one redacted),
	// text, tool calls, usage before the finish.
	evs := []format.Event{
		{Type: format.EventStart, ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5"},
		{Type: format.EventThinkingDelta, Text: "First <block>."},
		{Type: format.EventSignature, Signature: "sig-1"},
		{Type: format.EventRedactedThinking, Text: "REDACTED=="},
		{Type: format.EventThinkingDelta, Text: "Second block."},
		{Type: format.EventSignature, Signature: "sig-2"},
		{Type: format.EventTextDelta, Text: "Checking."},
		{Type: format.EventToolCallStart, Index: 0, ID: "toolu_1", Name: "search"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `{"q":"go"}`},
		{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 1500, OutputTokens: 80, CacheReadTokens: 1000, CacheWriteTokens: 400}},
		{Type: format.EventFinish, StopReason: format.StopToolUse},
	}
	out := encodeStream(format.StreamOptions{Model: "gpt-4o", ID: "chatcmpl-fallback", IncludeUsage: true}, evs)
	formattest.Golden(t, "stream_encode_ir_anthropic.sse", out)
	// A client merging reasoning_details by index, then sending the turn
	// back, keeps each signature with its own text.
	body := `{"model":"m","messages":[{"role":"assistant","content":"x","reasoning_details":[
		{"type":"reasoning.text","text":"First <block>.","index":0},{"type":"reasoning.text","signature":"sig-1","index":0},
		{"type":"reasoning.encrypted","data":"REDACTED==","index":1},
		{"type":"reasoning.text","text":"Second block.","index":2},{"type":"reasoning.text","signature":"sig-2","index":2}]}]}`
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p := r.Messages[0].Parts
	if len(p) != 4 || p[0].Signature != "sig-1" || p[0].Text != "First <block>." || p[1].Data != "REDACTED==" ||
		p[2].Signature != "sig-2" || p[2].Text != "Second block." {
		t.Errorf("parts = %s", formattest.MustJSON(t, p))
	}
}
