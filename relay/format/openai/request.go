package openai

import (
	"encoding/json"

	"sluice/relay/format"
)

// DecodeRequest decodes a Chat Completions request body into the IR.
// System and developer messages become the IR system prompt; consecutive
// tool messages become one user message of tool results.
func DecodeRequest(body []byte) (*format.Request, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, JSONError(err, "request")
	}
	if in.Model == "" {
		return nil, Invalidf("model: is required")
	}
	if len(in.Messages) == 0 {
		return nil, Invalidf("messages: must be a non-empty array")
	}
	r := &format.Request{
		Model:       in.Model,
		MaxTokens:   in.MaxCompletionTokens,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		TopK:        in.TopK,
		Stream:      in.Stream,
		Thinking:    ThinkingForEffort(in.ReasoningEffort),
		User:        in.User,
	}
	if r.MaxTokens == 0 {
		r.MaxTokens = in.MaxTokens
	}
	if r.User == "" {
		r.User = in.SafetyIdentifier
	}
	var err error
	if r.Stop, err = decodeStop(in.Stop); err != nil {
		return nil, err
	}
	if err = decodeMessages(in.Messages, r); err != nil {
		return nil, err
	}
	if r.Tools, err = decodeTools(in.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	DisableParallel(r, in.ParallelToolCalls)
	if r.ResponseFormat, err = decodeResponseFormat(in.ResponseFormat); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	if format.IsNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, Invalidf("stop: must be a string or an array of strings")
	}
	return many, nil
}

// decodeMessages fills r.System and r.Messages.
func decodeMessages(msgs []chatMessage, r *format.Request) error {
	// callNames finds the tool name for a result (Gemini needs it).
	callNames := map[string]string{}
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "system", "developer":
			if format.IsNull(m.Content) {
				return Invalidf("messages[%d].content: is required", i)
			}
			parts, err := decodeContent(m.Content, i, false)
			if err != nil {
				return err
			}
			r.System = append(r.System, parts...)
		case "user":
			if format.IsNull(m.Content) {
				return Invalidf("messages[%d].content: is required", i)
			}
			parts, err := decodeContent(m.Content, i, true)
			if err != nil {
				return err
			}
			r.Messages = append(r.Messages, format.Message{Role: format.RoleUser, Parts: parts})
		case "assistant":
			msg, err := decodeAssistant(m, i)
			if err != nil {
				return err
			}
			for _, p := range msg.Parts {
				if p.Type == format.PartToolCall {
					callNames[p.ToolCall.ID] = p.ToolCall.Name
				}
			}
			r.Messages = append(r.Messages, msg)
		case "tool":
			part, err := decodeToolMessage(m, i, callNames)
			if err != nil {
				return err
			}
			AppendToolResult(r, part)
		default:
			return Invalidf("messages[%d].role: unsupported role %q", i, m.Role)
		}
	}
	if len(r.Messages) == 0 && len(r.System) == 0 {
		return Invalidf("messages: no message has any content")
	}
	return nil
}

// AppendToolResult adds a tool result to r. Consecutive results answer
// one assistant turn: they become one user message, as Anthropic and
// Gemini require (Chat's tool messages and Responses' function_call_output
// items alike).
func AppendToolResult(r *format.Request, part format.Part) {
	if n := len(r.Messages); n > 0 && isToolResults(r.Messages[n-1]) {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, part)
	} else {
		r.Messages = append(r.Messages, format.Message{Role: format.RoleUser, Parts: []format.Part{part}})
	}
}

// isToolResults reports a user message made only of tool results (one
// AppendToolResult built).
func isToolResults(m format.Message) bool {
	if m.Role != format.RoleUser || len(m.Parts) == 0 {
		return false
	}
	for _, p := range m.Parts {
		if p.Type != format.PartToolResult {
			return false
		}
	}
	return true
}

// decodeContent decodes a message's content: a string or an array of
// parts. Images are allowed only where OpenAI allows them (user content).
func decodeContent(raw json.RawMessage, msg int, images bool) ([]format.Part, error) {
	if format.IsNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []format.Part{{Type: format.PartText, Text: s}}, nil
	}
	var parts []chatContentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, Invalidf("messages[%d].content: must be a string or an array of content parts", msg)
	}
	out := make([]format.Part, 0, len(parts))
	for j, p := range parts {
		switch {
		case p.Type == "text":
			out = append(out, format.Part{Type: format.PartText, Text: p.Text})
		case p.Type == "refusal":
			out = append(out, format.Part{Type: format.PartText, Text: p.Refusal})
		case p.Type == "image_url" && images:
			img, err := decodeImagePart(p.ImageURL)
			if err != nil {
				return nil, Invalidf("messages[%d].content[%d].%s", msg, j, err.Error())
			}
			out = append(out, format.Part{Type: format.PartImage, Image: img})
		default:
			return nil, Invalidf("messages[%d].content[%d]: unsupported content part type %q", msg, j, p.Type)
		}
	}
	return out, nil
}

// decodeImagePart reads image_url as the standard object or, as some
// clients send it, a bare URL string.
func decodeImagePart(raw json.RawMessage) (*format.Image, error) {
	var u imageURL
	if err := json.Unmarshal(raw, &u); err != nil {
		if json.Unmarshal(raw, &u.URL) != nil {
			return nil, Invalidf("image_url: must be an object with a url")
		}
	}
	return ParseImageURL(u.URL, u.Detail)
}

func decodeAssistant(m *chatMessage, i int) (format.Message, error) {
	msg := format.Message{Role: format.RoleAssistant}
	msg.Parts = decodeReasoning(m.ReasoningDetails, m.ReasoningContent, m.Reasoning)
	content, err := decodeContent(m.Content, i, false)
	if err != nil {
		return msg, err
	}
	for _, p := range content {
		// An empty content string sits next to tool calls in most
		// clients' history; it carries nothing.
		if p.Text != "" {
			msg.Parts = append(msg.Parts, p)
		}
	}
	if m.Refusal != "" && len(content) == 0 {
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartText, Text: m.Refusal})
	}
	for j, tc := range m.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			return msg, Invalidf("messages[%d].tool_calls[%d].type: unsupported tool call type %q", i, j, tc.Type)
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return msg, Invalidf("messages[%d].tool_calls[%d]: id and function.name are required", i, j)
		}
		args := tc.Function.Arguments
		if args == "" {
			args = "{}"
		}
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartToolCall,
			ToolCall: &format.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
	}
	return msg, nil
}

// decodeReasoning builds the thinking parts of an assistant message.
// reasoning_details wins when present, since only it carries signatures;
// pieces of one streamed block (same index) are merged. A client that
// kept the signature in reasoning_details but the text only in
// reasoning_content (as this gateway streams it to naive clients) gets
// the text put back on the signed block.
func decodeReasoning(details []reasoningDetail, content, alt string) []format.Part {
	if content == "" {
		content = alt
	}
	var parts []format.Part
	lastIndex := -1
	hasText := false
	for _, d := range details {
		switch d.Type {
		case "reasoning.text", "reasoning.summary":
			text := d.Text + d.Summary
			hasText = hasText || text != ""
			if n := len(parts); n > 0 && d.Index != nil && *d.Index == lastIndex && parts[n-1].Type == format.PartThinking {
				parts[n-1].Text += text
				if d.Signature != "" {
					parts[n-1].Signature = d.Signature
				}
				continue
			}
			parts = append(parts, format.Part{Type: format.PartThinking, Text: text, Signature: d.Signature})
		case "reasoning.encrypted":
			parts = append(parts, format.Part{Type: format.PartRedactedThinking, Data: d.Data})
		default:
			continue
		}
		lastIndex = -1
		if d.Index != nil {
			lastIndex = *d.Index
		}
	}
	if content == "" || hasText {
		return parts
	}
	for i := range parts {
		if parts[i].Type == format.PartThinking {
			parts[i].Text = content
			return parts
		}
	}
	return append([]format.Part{{Type: format.PartThinking, Text: content}}, parts...)
}

func decodeToolMessage(m *chatMessage, i int, callNames map[string]string) (format.Part, error) {
	if m.ToolCallID == "" {
		return format.Part{}, Invalidf("messages[%d].tool_call_id: is required", i)
	}
	content, err := decodeContent(m.Content, i, true)
	if err != nil {
		return format.Part{}, err
	}
	return format.Part{Type: format.PartToolResult, ToolResult: &format.ToolResult{
		CallID: m.ToolCallID, Name: callNames[m.ToolCallID], Content: content,
	}}, nil
}

func decodeTools(tools []chatTool) ([]format.Tool, error) {
	out := make([]format.Tool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" {
			return nil, Invalidf("tools[%d].type: unsupported tool type %q (only \"function\" can be converted)", i, t.Type)
		}
		if t.Function.Name == "" {
			return nil, Invalidf("tools[%d].function.name: is required", i)
		}
		params := t.Function.Parameters
		if format.IsNull(params) {
			params = nil
		}
		out = append(out, format.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: params})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func decodeToolChoice(raw json.RawMessage) (*format.ToolChoice, error) {
	if format.IsNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ToolChoiceMode(s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" || obj.Function.Name == "" {
		return nil, Invalidf(`tool_choice: must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`)
	}
	return &format.ToolChoice{Mode: format.ToolChoiceTool, Name: obj.Function.Name}, nil
}

// ToolChoiceMode decodes tool_choice given as a string, a form Chat and
// Responses share: "auto", "none" or "required".
func ToolChoiceMode(s string) (*format.ToolChoice, error) {
	switch s {
	case "auto":
		return &format.ToolChoice{Mode: format.ToolChoiceAuto}, nil
	case "none":
		return &format.ToolChoice{Mode: format.ToolChoiceNone}, nil
	case "required":
		return &format.ToolChoice{Mode: format.ToolChoiceRequired}, nil
	}
	return nil, Invalidf("tool_choice: unsupported value %q", s)
}

// DisableParallel applies parallel_tool_calls, which Chat and Responses
// share: false (with tools) asks for one call at a time, which the IR
// says on the tool choice (auto when the client gave none).
func DisableParallel(r *format.Request, parallel *bool) {
	if parallel != nil && !*parallel && len(r.Tools) > 0 {
		if r.ToolChoice == nil {
			r.ToolChoice = &format.ToolChoice{Mode: format.ToolChoiceAuto}
		}
		r.ToolChoice.DisableParallel = true
	}
}

func decodeResponseFormat(rf *responseFormat) (*format.ResponseFormat, error) {
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "text", "json_object":
		return &format.ResponseFormat{Type: rf.Type}, nil
	case "json_schema":
		if rf.JSONSchema == nil {
			return nil, Invalidf("response_format.json_schema: is required for type json_schema")
		}
		return &format.ResponseFormat{Type: rf.Type, Name: rf.JSONSchema.Name,
			Schema: rf.JSONSchema.Schema, Strict: rf.JSONSchema.Strict}, nil
	}
	return nil, Invalidf("response_format.type: unsupported value %q", rf.Type)
}
