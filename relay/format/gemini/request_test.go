package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

// TestDecodeRequestGolden decodes recorded-shape request bodies into the
// IR, then encodes that IR back into a Gemini body: both are golden.
func TestDecodeRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"request_basic", "request_tools", "request_parallel", "request_images", "request_snake"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, _ := formattest.GoldenCodec(t, name+".json", name+".ir.json", name+".reencoded.json", DecodeRequest, EncodeRequest)
			if r.Model != "" || r.Stream {
				t.Errorf("model/stream come from the URL, got %q/%v", r.Model, r.Stream)
			}
		})
	}
}

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// anthropicStyle is an IR conversation as the Anthropic decoder produces
// it: thinking blocks carrying the signature (of a Gemini answer that went
// through an Anthropic client), tool results without names, images by URL
// and inline, an error result, cache control.
func anthropicStyle() *format.Request {
	return &format.Request{
		Model:  "ignored-model",
		Stream: true,
		System: []format.Part{{Type: format.PartText, Text: "Be terse.", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}},
		Messages: []format.Message{
			{Role: format.RoleUser, Parts: []format.Part{
				{Type: format.PartText, Text: "What is in these images, and what's the weather in Paris?"},
				{Type: format.PartImage, Image: &format.Image{URL: "https://example.com/cat.png", Detail: "high"}},
				{Type: format.PartImage, Image: &format.Image{URL: "data:image/webp;base64,UklGRg=="}},
				{Type: format.PartImage, Image: &format.Image{MediaType: "image/gif", Data: "R0lGODlhAQABAA=="}},
			}},
			{Role: format.RoleAssistant, Parts: []format.Part{
				{Type: format.PartThinking, Text: "Two images; I need the weather tool.", Signature: "CiQBcsjafGk2"},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "toolu_02", Name: "get_time", Arguments: ``}},
			}},
			{Role: format.RoleUser, Parts: []format.Part{
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "toolu_01", Content: []format.Part{
					{Type: format.PartText, Text: "sunny"},
					{Type: format.PartText, Text: "24 C"},
					{Type: format.PartImage, Image: &format.Image{MediaType: "image/png", Data: "iVBORw0K"}},
					{Type: format.PartImage, Image: &format.Image{URL: "https://example.com/map.jpg"}},
				}}},
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "toolu_02", IsError: true, Content: []format.Part{
					{Type: format.PartText, Text: "clock unavailable"},
				}}},
			}},
			{Role: format.RoleAssistant, Parts: []format.Part{
				{Type: format.PartRedactedThinking, Data: "EmwKAhgBEgy"},
				{Type: format.PartText, Text: "Paris: sunny, 24 C."},
				{Type: format.PartThinking, Signature: "trailing-sig"},
			}},
			{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "Thanks!"}}},
		},
		Tools: []format.Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)},
			{Name: "get_time"},
		},
		ToolChoice:     &format.ToolChoice{Mode: format.ToolChoiceTool, Name: "get_weather", DisableParallel: true},
		MaxTokens:      4096,
		Temperature:    f64(0.2),
		TopP:           f64(0.9),
		TopK:           intp(20),
		Stop:           []string{"\n\nHuman:"},
		Thinking:       &format.Thinking{Enabled: true, BudgetTokens: 2048},
		ResponseFormat: &format.ResponseFormat{Type: "json_schema", Name: "answer", Strict: true, Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
		User:           "user-123",
	}
}

// openAIStyle is an IR request as the OpenAI decoder produces it: no
// signatures at all, effort-based reasoning, JSON mode.
func openAIStyle() *format.Request {
	return &format.Request{
		Messages: []format.Message{
			{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "Look up <b>cats</b> & dogs"}}},
			{Role: format.RoleAssistant, Parts: []format.Part{
				{Type: format.PartText, Text: "Looking."},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "call_abc", Name: "lookup", Arguments: `{"q":"cats"}`}},
				{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "call_def", Name: "lookup", Arguments: `{"q":"dogs"}`}},
			}},
			{Role: format.RoleUser, Parts: []format.Part{
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "call_abc", Content: []format.Part{{Type: format.PartText, Text: `{"count":3}`}}}},
				{Type: format.PartToolResult, ToolResult: &format.ToolResult{CallID: "call_def"}},
			}},
		},
		Tools:          []format.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
		ToolChoice:     &format.ToolChoice{Mode: format.ToolChoiceRequired},
		Thinking:       &format.Thinking{Enabled: true, Effort: "low"},
		ResponseFormat: &format.ResponseFormat{Type: "json_object"},
	}
}

func TestEncodeRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  *format.Request
	}{
		{"encode_anthropic_style", anthropicStyle()},
		{"encode_openai_style", openAIStyle()},
		{"encode_thinking_disabled", &format.Request{
			Messages:   []format.Message{{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "hi"}}}},
			Thinking:   &format.Thinking{Enabled: false},
			ToolChoice: &format.ToolChoice{Mode: format.ToolChoiceNone},
		}},
		{"encode_minimal", &format.Request{
			Messages: []format.Message{{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "hi"}}}},
			Thinking: &format.Thinking{Enabled: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := EncodeRequest(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			formattest.Golden(t, tt.name+".json", out)
			// What we send must be a body we accept.
			if _, err := DecodeRequest(out); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		})
	}
}

func TestEncodeRequestNoHTMLEscape(t *testing.T) {
	t.Parallel()
	out, err := EncodeRequest(openAIStyle())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "<b>cats</b> & dogs") {
		t.Errorf("text was escaped: %s", out)
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	t.Parallel()
	user := format.Message{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: "hi"}}}
	tests := []struct {
		name string
		req  *format.Request
		want string
	}{
		{"args not an object", &format.Request{Messages: []format.Message{user, {Role: format.RoleAssistant, Parts: []format.Part{
			{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "a", Name: "f", Arguments: `[1]`}},
		}}}}, "arguments must be a JSON object"},
		{"truncated args", &format.Request{Messages: []format.Message{user, {Role: format.RoleAssistant, Parts: []format.Part{
			{Type: format.PartToolCall, ToolCall: &format.ToolCall{ID: "a", Name: "f", Arguments: `{"x":`}},
		}}}}, "arguments must be a JSON object"},
		{"bad parameters", &format.Request{Messages: []format.Message{user}, Tools: []format.Tool{{Name: "f", Parameters: json.RawMessage(`"x"`)}}}, "tools[0].parameters"},
		{"bad schema", &format.Request{Messages: []format.Message{user}, ResponseFormat: &format.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{`)}}, "response_format.schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := EncodeRequest(tt.req)
			if !errors.Is(err, format.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"not json", `{"contents": [`, "body: must be valid JSON"},
		{"not an object", `[1,2]`, "body: must be a JSON object"},
		{"no contents", `{}`, "contents: is required"},
		{"contents string", `{"contents": "hi"}`, "contents: must be an array"},
		{"content not object", `{"contents": [1]}`, "contents[0]: must be an object"},
		{"bad role", `{"contents": [{"role": "system", "parts": [{"text": "x"}]}]}`, `contents[0].role: must be "user" or "model"`},
		{"text number", `{"contents": [{"role": "user", "parts": [{"text": 5}]}]}`, "contents[0].parts[0].text: must be a string"},
		{"parts string", `{"contents": [{"parts": "x"}]}`, "contents[0].parts: must be an array"},
		{"inline not object", `{"contents": [{"parts": [{"text": "a"}, {"inlineData": "x"}]}]}`, "contents[0].parts[1].inlineData: must be an object"},
		{"args array", `{"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}`, "contents[0].parts[0].functionCall.args: must be an object"},
		{"thought string", `{"contents": [{"parts": [{"text": "a", "thought": "yes"}]}]}`, "contents[0].parts[0].thought: must be a boolean"},
		{"system image", `{"contents": [], "systemInstruction": {"parts": [{"inlineData": {"data": "x"}}]}}`, "systemInstruction.parts[0]: only text parts"},
		{"tools object", `{"contents": [], "tools": [{"functionDeclarations": [{"name": "f", "parameters": []}]}]}`, "tools[0].functionDeclarations[0].parameters: must be an object"},
		{"mode", `{"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}`, "toolConfig.functionCallingConfig.mode"},
		{"max tokens", `{"contents": [], "generationConfig": {"maxOutputTokens": -1}}`, "generationConfig.maxOutputTokens: must be an integer"},
		{"max tokens frac", `{"contents": [], "generationConfig": {"maxOutputTokens": 1.5}}`, "generationConfig.maxOutputTokens: must be an integer"},
		{"temperature", `{"contents": [], "generationConfig": {"temperature": "hot"}}`, "generationConfig.temperature: must be a number"},
		{"budget", `{"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}}`, "thinkingBudget: must be an integer"},
		{"stop", `{"contents": [], "generationConfig": {"stopSequences": [1]}}`, "generationConfig.stopSequences[0]: must be a string"},
		{"deep nesting", `{"contents": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "body: must be valid JSON"},
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

// TestCallPairing pins how id-less function calls and responses are
// paired: by name in order, then the oldest unanswered call.
func TestCallPairing(t *testing.T) {
	t.Parallel()
	r, err := DecodeRequest(formattest.Fixture(t, "request_parallel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, p := range r.Messages[1].Parts {
		calls = append(calls, p.ToolCall.ID+"="+p.ToolCall.Name+p.ToolCall.Arguments)
	}
	wantCalls := []string{`call_0=get_weather{"city":"Paris"}`, `call_1=get_weather{"city":"London"}`, `call_2=get_time{"city":"Paris"}`}
	if strings.Join(calls, "|") != strings.Join(wantCalls, "|") {
		t.Errorf("calls = %v, want %v", calls, wantCalls)
	}
	var results []string
	for _, p := range r.Messages[2].Parts {
		results = append(results, p.ToolResult.CallID+"="+p.ToolResult.Content[0].Text)
	}
	wantResults := []string{"call_2=14:05", "call_0=sunny, 24 C", "call_1=rain, 15 C"}
	if strings.Join(results, "|") != strings.Join(wantResults, "|") {
		t.Errorf("results = %v, want %v", results, wantResults)
	}

	// A response naming no known call, and an extra one, still get ids.
	r, err = DecodeRequest([]byte(`{"contents": [
		{"role": "model", "parts": [{"functionCall": {"name": "a"}}]},
		{"role": "user", "parts": [{"functionResponse": {"name": "b", "response": {}}}, {"functionResponse": {"name": "c", "response": {}}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{r.Messages[0].Parts[0].ToolCall.ID, r.Messages[1].Parts[0].ToolResult.CallID, r.Messages[1].Parts[1].ToolResult.CallID}
	if strings.Join(got, ",") != "call_0,call_0,call_1" {
		t.Errorf("ids = %v, want call_0,call_0,call_1", got)
	}
}

// TestSignaturePlacement pins where thought signatures go on the way to
// Gemini: a thinking block's signature moves onto the part that follows
// it, the first call of a turn without one gets the documented
// placeholder, and a trailing signature stays as a signature-only part.
func TestSignaturePlacement(t *testing.T) {
	t.Parallel()
	out, err := EncodeRequest(anthropicStyle())
	if err != nil {
		t.Fatal(err)
	}
	var w wireRequest
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatal(err)
	}
	model := w.Contents[1].Parts
	if model[0].ThoughtSignature != "" || !model[0].Thought {
		t.Errorf("thought part = %+v, want unsigned thought", model[0])
	}
	if model[1].ThoughtSignature != "CiQBcsjafGk2" || model[2].ThoughtSignature != "" {
		t.Errorf("call signatures = %q, %q; want the thinking signature on the first call only", model[1].ThoughtSignature, model[2].ThoughtSignature)
	}
	last := w.Contents[3].Parts
	if len(last) != 2 || last[1].ThoughtSignature != "trailing-sig" || last[1].Text == nil || *last[1].Text != "" {
		t.Errorf("last turn = %s", formattest.MustJSON(t, last))
	}

	out, err = EncodeRequest(openAIStyle())
	if err != nil {
		t.Fatal(err)
	}
	w = wireRequest{}
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatal(err)
	}
	calls := w.Contents[1].Parts
	if calls[1].ThoughtSignature != skipSignature || calls[2].ThoughtSignature != "" {
		t.Errorf("placeholder signatures = %q, %q", calls[1].ThoughtSignature, calls[2].ThoughtSignature)
	}
}
