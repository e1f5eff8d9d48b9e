package openai

import (
	"strings"

	"sluice/relay/format"
)

// encMessage is a message as EncodeRequest writes it: content is a
// string, an array of parts, or absent.
type encMessage struct {
	Role             string            `json:"role"`
	Content          any               `json:"content,omitempty"`
	ToolCalls        []chatToolCall    `json:"tool_calls,omitempty"`
	ToolCallID       string            `json:"tool_call_id,omitempty"`
	ReasoningContent string            `json:"reasoning_content,omitempty"`
	ReasoningDetails []reasoningDetail `json:"reasoning_details,omitempty"`
}

type encPart struct {
	Type     string    `json:"type"`
	Text     *string   `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type encRequest struct {
	Model             string          `json:"model"`
	Messages          []encMessage    `json:"messages"`
	Tools             []chatTool      `json:"tools,omitempty"`
	ToolChoice        any             `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	MaxTokens         int             `json:"max_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	Stop              []string        `json:"stop,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *streamOptions  `json:"stream_options,omitempty"`
	ReasoningEffort   string          `json:"reasoning_effort,omitempty"`
	ResponseFormat    *responseFormat `json:"response_format,omitempty"`
	User              string          `json:"user,omitempty"`
}

// EncodeRequest encodes an IR request as a Chat Completions body. The
// token limit is sent as max_tokens, which every OpenAI-compatible server
// understands. A stream always asks for the usage chunk: the gateway
// bills from it. Top-k and cache control have no Chat equivalent and are
// dropped.
func EncodeRequest(r *format.Request) ([]byte, error) {
	out := encRequest{
		Model:           r.Model,
		MaxTokens:       r.MaxTokens,
		Temperature:     r.Temperature,
		TopP:            r.TopP,
		Stop:            r.Stop,
		Stream:          r.Stream,
		ReasoningEffort: Effort(r.Thinking),
		User:            r.User,
	}
	if r.Stream {
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if len(r.System) > 0 {
		out.Messages = append(out.Messages, encMessage{Role: "system", Content: encodeTextContent(r.System)})
	}
	for _, m := range r.Messages {
		if m.Role == format.RoleAssistant {
			out.Messages = append(out.Messages, encodeAssistant(m.Parts))
		} else {
			out.Messages = appendUser(out.Messages, m.Parts)
		}
	}
	for _, t := range r.Tools {
		out.Tools = append(out.Tools, chatTool{Type: "function", Function: toolFunction{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	out.ToolChoice, out.ParallelToolCalls = encodeToolChoice(r.ToolChoice, len(r.Tools) > 0)
	out.ResponseFormat = encodeResponseFormat(r.ResponseFormat)
	return format.Marshal(out)
}

// encodeTextContent writes text parts as a plain string when there is
// one (what every compatible server accepts) and as text parts otherwise,
// so part boundaries survive.
func encodeTextContent(parts []format.Part) any {
	if len(parts) == 1 {
		return parts[0].Text
	}
	out := make([]encPart, 0, len(parts))
	for i := range parts {
		out = append(out, encPart{Type: "text", Text: &parts[i].Text})
	}
	return out
}

// encodeUserContent writes text and image parts (anything else is
// skipped).
func encodeUserContent(parts []format.Part) any {
	onlyText := true
	for _, p := range parts {
		onlyText = onlyText && p.Type == format.PartText
	}
	if onlyText {
		return encodeTextContent(parts)
	}
	out := make([]encPart, 0, len(parts))
	for i, p := range parts {
		switch p.Type {
		case format.PartText:
			out = append(out, encPart{Type: "text", Text: &parts[i].Text})
		case format.PartImage:
			out = append(out, encPart{Type: "image_url",
				ImageURL: &imageURL{URL: ImageURL(p.Image), Detail: p.Image.Detail}})
		}
	}
	return out
}

// appendUser writes an IR user message: its tool results first, as one
// tool message each (Chat wants them right after the assistant's calls),
// then its text and images as a user message. Chat tool messages carry
// text only, so images a tool returned join that user message.
func appendUser(dst []encMessage, parts []format.Part) []encMessage {
	var rest []format.Part
	for _, p := range parts {
		switch p.Type {
		case format.PartToolResult:
			var text []format.Part
			for _, c := range p.ToolResult.Content {
				if c.Type == format.PartImage {
					rest = append(rest, c)
				} else if c.Type == format.PartText {
					text = append(text, c)
				}
			}
			var content any = ""
			if len(text) > 0 {
				content = encodeTextContent(text)
			}
			dst = append(dst, encMessage{Role: "tool", ToolCallID: p.ToolResult.CallID, Content: content})
		case format.PartText, format.PartImage:
			rest = append(rest, p)
		}
	}
	if len(rest) > 0 || len(parts) == 0 {
		var content any = ""
		if len(rest) > 0 {
			content = encodeUserContent(rest)
		}
		dst = append(dst, encMessage{Role: "user", Content: content})
	}
	return dst
}

// encodeAssistant writes an assistant turn: reasoning as both DeepSeek's
// reasoning_content and OpenRouter's reasoning_details (which keeps the
// signatures), text as content, tool calls.
func encodeAssistant(parts []format.Part) encMessage {
	m := encMessage{Role: "assistant"}
	var reasoning strings.Builder
	var text []format.Part
	for _, p := range parts {
		switch p.Type {
		case format.PartThinking:
			reasoning.WriteString(p.Text)
			m.ReasoningDetails = append(m.ReasoningDetails,
				reasoningDetail{Type: "reasoning.text", Text: p.Text, Signature: p.Signature})
		case format.PartRedactedThinking:
			m.ReasoningDetails = append(m.ReasoningDetails, reasoningDetail{Type: "reasoning.encrypted", Data: p.Data})
		case format.PartText:
			text = append(text, p)
		case format.PartToolCall:
			args := p.ToolCall.Arguments
			if args == "" {
				args = "{}"
			}
			m.ToolCalls = append(m.ToolCalls, chatToolCall{ID: p.ToolCall.ID, Type: "function",
				Function: chatFunction{Name: p.ToolCall.Name, Arguments: args}})
		}
	}
	m.ReasoningContent = reasoning.String()
	switch {
	case len(text) > 0:
		m.Content = encodeTextContent(text)
	case len(m.ToolCalls) == 0:
		// Content may be omitted only when there are tool calls.
		m.Content = ""
	}
	return m
}

func encodeToolChoice(tc *format.ToolChoice, hasTools bool) (any, *bool) {
	if tc == nil || !hasTools {
		// OpenAI rejects tool_choice and parallel_tool_calls without tools.
		return nil, nil
	}
	var parallel *bool
	if tc.DisableParallel {
		parallel = new(bool)
	}
	switch tc.Mode {
	case format.ToolChoiceNone:
		return "none", parallel
	case format.ToolChoiceRequired:
		return "required", parallel
	case format.ToolChoiceTool:
		return map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}}, parallel
	case format.ToolChoiceAuto:
		return "auto", parallel
	}
	return nil, parallel
}

func encodeResponseFormat(rf *format.ResponseFormat) *responseFormat {
	if rf == nil || rf.Type == "" {
		return nil
	}
	out := &responseFormat{Type: rf.Type}
	if rf.Type == "json_schema" {
		name := rf.Name
		if name == "" {
			// OpenAI requires a name; Gemini's responseSchema has none.
			name = "response"
		}
		out.JSONSchema = &jsonSchema{Name: name, Schema: rf.Schema, Strict: rf.Strict}
	}
	return out
}
