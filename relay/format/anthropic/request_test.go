package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// requestFixtures are recorded-shape client bodies (docs.anthropic.com
// examples: tool use with parallel calls, images, thinking with signature,
// adaptive thinking with structured output).
var requestFixtures = []string{"request_tools", "request_thinking", "request_adaptive"}

func TestDecodeRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range requestFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeRequest(formattest.Fixture(t, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, "decode_"+name+".json", formattest.MustJSON(t, r))
		})
	}
}

func TestDecodeRequestDetails(t *testing.T) {
	t.Parallel()
	r, err := DecodeRequest(formattest.Fixture(t, "request_tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) != 2 {
		t.Errorf("tools: got %d, want 2 (the web_search server tool is dropped)", len(r.Tools))
	}
	tr := r.Messages[2].Parts[1].ToolResult
	if tr.Name != "get_time" || !tr.IsError || len(tr.Content) != 2 {
		t.Errorf("tool result: got %+v, want name from the tool_use, is_error, text and image", tr)
	}
	if got := string(r.System[1].CacheControl); got != `{"type": "ephemeral"}` {
		t.Errorf("system cache_control: got %s", got)
	}
}

// Every body converted from another dialect goes through EncodeRequest:
// the cases pin the API's constraints it has to satisfy.
func TestEncodeRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range requestFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeRequest(formattest.Fixture(t, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			out, err := EncodeRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, "encode_"+name+".json", out)
		})
	}
	for _, tc := range encodeRequestCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := EncodeRequest(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, "encode_"+tc.name+".json", out)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func userText(s string) format.Message {
	return format.Message{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: s}}}
}

type encodeCase struct {
	name string
	req  *format.Request
}

func encodeRequestCases() []encodeCase {
	call := func(id, name, args string) format.Part {
		return format.Part{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: id, Name: name, Arguments: args}}
	}
	result := func(id, text string) format.Part {
		return format.Part{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: id, Content: []format.Part{{Type: format.PartText, Text: text}}}}
	}
	return []encodeCase{
		{
			// An OpenAI client: effort instead of budget, no max_tokens,
			// temperature and top_p both set, a data: URL image, an empty
			// tools parameter schema.
			name: "from_openai_effort",
			req: &format.Request{
				Model:  "claude-sonnet-4-5",
				System: []format.Part{{Type: format.PartText, Text: "Be brief."}},
				Messages: []format.Message{{Role: format.RoleUser, Parts: []format.Part{
					{Type: format.PartText, Text: "What is in this image?"},
					{Type: format.PartImage, Image: &format.Image{URL: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", Detail: "high"}},
				}}},
				Tools:       []format.Tool{{Name: "noop", Parameters: json.RawMessage(`{}`)}},
				ToolChoice:  &format.ToolChoice{Mode: format.ToolChoiceAuto, DisableParallel: true},
				Temperature: ptr(0.7),
				TopP:        ptr(0.5),
				TopK:        ptr(5),
				Thinking:    &format.Thinking{Effort: "high"},
				User:        "user-1234",
				Stream:      true,
			},
		},
		{
			// Without thinking, temperature above Anthropic's 1 is capped
			// and top_p dropped because Claude 4.5 refuses both.
			name: "sampling_no_thinking",
			req: &format.Request{
				Model: "claude-haiku-4-5", Messages: []format.Message{userText("hi")},
				Temperature: ptr(1.5), TopP: ptr(0.9), Stop: []string{"END"},
				Thinking:       &format.Thinking{Effort: "minimal"},
				ResponseFormat: &format.ResponseFormat{Type: "json_object"},
			},
		},
		{
			// A forced tool disables thinking (the API refuses both).
			name: "forced_tool_drops_thinking",
			req: &format.Request{
				Model: "claude-sonnet-4-5", Messages: []format.Message{userText("weather?")},
				Tools:      []format.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
				ToolChoice: &format.ToolChoice{Mode: format.ToolChoiceTool, Name: "get_weather"},
				Thinking:   &format.Thinking{Enabled: true, BudgetTokens: 2048},
			},
		},
		{
			// An OpenAI tool loop: the final assistant turn calls tools
			// with no signed thinking, so thinking is dropped; unsigned
			// reasoning is dropped; tool results arrive split and after
			// text, and are merged and moved first; odd ids are sanitized.
			name: "openai_tool_loop",
			req: &format.Request{
				Model:     "claude-sonnet-4-5",
				MaxTokens: 2000,
				Messages: []format.Message{
					userText("weather in Paris and Rome?"),
					{Role: format.RoleAssistant, Parts: []format.Part{
						{Type: format.PartThinking, Text: "OpenAI reasoning summary without signature"},
						call("functions.get_weather:0", "get_weather", `{"city":"Paris"}`),
						call("call_2", "get_weather", ""),
					}},
					{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "(results below)"}, result("functions.get_weather:0", "18C")}},
					{Role: format.RoleUser, Parts: []format.Part{result("call_2", "")}},
				},
				Tools:    []format.Tool{{Name: "get_weather", Description: "Weather by city"}},
				Thinking: &format.Thinking{Enabled: true, Effort: "medium"},
			},
		},
		{
			// The client's max_tokens is below the budget: the budget
			// shrinks to fit instead of raising the client's cap.
			name: "budget_shrinks_to_max_tokens",
			req: &format.Request{
				Model: "claude-sonnet-4-5", MaxTokens: 3000, Messages: []format.Message{userText("think")},
				Thinking: &format.Thinking{Enabled: true, BudgetTokens: 8000}, TopP: ptr(0.97), Temperature: ptr(0.3),
			},
		},
		{
			// Signed thinking first in the final tool-calling turn keeps
			// thinking on; an empty assistant turn is dropped.
			name: "signed_thinking_tool_loop",
			req: &format.Request{
				Model: "claude-sonnet-4-5",
				Messages: []format.Message{
					userText("weather?"),
					{Role: format.RoleAssistant},
					{Role: format.RoleAssistant, Parts: []format.Part{
						{Type: format.PartThinking, Text: "call it", Signature: "c2ln"},
						call("toolu_1", "get_weather", `{"city":"Oslo"}`),
					}},
					{Role: format.RoleUser, Parts: []format.Part{result("toolu_1", "-3C")}},
				},
				Tools:    []format.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
				Thinking: &format.Thinking{Enabled: true},
			},
		},
	}
}

func TestEncodeRequestRejectsBadArguments(t *testing.T) {
	t.Parallel()
	r := &format.Request{Model: "m", Messages: []format.Message{{Role: format.RoleAssistant, Parts: []format.Part{
		{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "a", Name: "f", Arguments: `[1,2]`}},
	}}}}
	_, err := EncodeRequest(r)
	if !errors.Is(err, format.ErrInvalid) || !strings.Contains(err.Error(), "messages[0]: tool call a: arguments are not a JSON object") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, want string
	}{
		{"not json", `{`, "body: not valid JSON"},
		{"not object", `[]`, "body: must be a JSON object"},
		{"too deep", `{"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, "nested deeper than"},
		{"no model", `{` + msgs + `}`, "model: required"},
		{"model type", `{"model":3,` + msgs + `}`, "model: must be a non-empty string"},
		{"no messages", `{"model":"m"}`, "messages: required"},
		{"messages type", `{"model":"m","messages":{}}`, "messages: must be an array"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages: must contain at least one message"},
		{"role", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, `messages[0].role: must be "user" or "assistant"`},
		{"content type", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content: must be a string or an array of content blocks"},
		{"block type", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"text":"b"}]}]}`, "messages[0].content[1].type: must be a string"},
		{"document", `{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, `messages[0].content[0].type: content blocks of type "document" are not supported`},
		{"image source", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"gif"}}]}]}`, `messages[0].content[0].source.type: must be "base64" or "url"`},
		{"file source", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "source.type: file sources"},
		{"tool input", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":[1]}]}]}`, "messages[0].content[0].input: must be an object"},
		{"tool result inner", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"search_result"}]}]}]}`, "messages[0].content[0].content[0].type: tool result blocks"},
		{"max_tokens", `{"model":"m","max_tokens":1.5,` + msgs + `}`, "max_tokens: must be an integer of at least 1"},
		{"temperature", `{"model":"m","temperature":"hot",` + msgs + `}`, "temperature: must be a finite number"},
		{"top_p overflow", `{"model":"m","top_p":1e400,` + msgs + `}`, "top_p: must be a finite number"},
		{"stop", `{"model":"m","stop_sequences":[1],` + msgs + `}`, "stop_sequences[0]: must be a string"},
		{"thinking", `{"model":"m","thinking":{"type":"enabled"},` + msgs + `}`, "thinking.budget_tokens: must be an integer"},
		{"tool_choice", `{"model":"m","tool_choice":{"type":"tool"},` + msgs + `}`, "tool_choice.name: must be a non-empty string"},
		{"tools", `{"model":"m","tools":[{"name":"a","input_schema":"x"}],` + msgs + `}`, "tools[0].input_schema: must be an object"},
		{"cache_control", `{"model":"m","system":[{"type":"text","text":"s","cache_control":"x"}],` + msgs + `}`, "system[0].cache_control: must be an object"},
		{"stream", `{"model":"m","stream":"yes",` + msgs + `}`, "stream: must be a boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tc.body))
			if !errors.Is(err, format.ErrInvalid) {
				t.Fatalf("got %v, want an error wrapping format.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRequestLenient(t *testing.T) {
	t.Parallel()
	// Null means unset; server-tool blocks in the history are dropped.
	body := `{"model":"m","temperature":null,"metadata":{"user_id":null},"messages":[
		{"role":"user","content":"search"},
		{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}},
			{"type":"web_search_tool_result","tool_use_id":"s","content":[]},{"type":"text","text":"found"}]}]}`
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Temperature != nil || len(r.Messages[1].Parts) != 1 {
		t.Errorf("got %+v", r)
	}
}
