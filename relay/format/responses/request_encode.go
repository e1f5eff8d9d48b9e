package responses

import (
	"encoding/json"
	"strconv"

	"sluice/relay/format"
	"sluice/relay/format/openai"
)

func itoa(i int) string { return strconv.Itoa(i) }

// encRequest is a request as EncodeRequest writes it: input is a list of
// items of several shapes.
type encRequest struct {
	request
	Input []any `json:"input"`
}

type encMessage struct {
	Type    string        `json:"type"`
	Role    string        `json:"role"`
	Content []contentPart `json:"content"`
}

type encCall struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type encCallOutput struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Output any    `json:"output"`
}

// EncodeRequest encodes an IR request for a Responses upstream, with
// store false (the gateway never refers back to it). Not carried, as the
// Responses API has no place for them: stop sequences, top_k, cache
// control, and thinking blocks from earlier turns (a Responses upstream
// accepts only its own encrypted reasoning items, with their ids).
func EncodeRequest(r *format.Request) ([]byte, error) {
	no := false
	out := encRequest{request: request{
		Model:           r.Model,
		MaxOutputTokens: r.MaxTokens,
		Temperature:     r.Temperature,
		TopP:            r.TopP,
		Stream:          r.Stream,
		User:            r.User,
		Store:           &no,
	}}
	if e := openai.Effort(r.Thinking); e != "" {
		out.Reasoning = &reasoning{Effort: e}
	}
	switch len(r.System) {
	case 0:
	case 1:
		out.Instructions = r.System[0].Text
	default:
		// Several system parts keep their boundaries as one system message.
		out.Input = append(out.Input, encMessage{Type: "message", Role: "system", Content: textParts(r.System, "input_text")})
	}
	for _, m := range r.Messages {
		out.Input = appendMessage(out.Input, m)
	}
	for _, t := range r.Tools {
		// Responses function tools default to strict, which rejects most
		// schemas written for other dialects.
		out.Tools = append(out.Tools, tool{Type: "function", Name: t.Name, Description: t.Description,
			Parameters: t.Parameters, Strict: &no})
	}
	if len(r.Tools) > 0 && r.ToolChoice != nil {
		out.ToolChoice = encodeToolChoice(r.ToolChoice)
		if r.ToolChoice.DisableParallel {
			out.ParallelToolCalls = &no
		}
	}
	if f := r.ResponseFormat; f != nil && f.Type != "" {
		tf := &textFormat{Type: f.Type}
		if f.Type == "json_schema" {
			tf.Name, tf.Schema, tf.Strict = f.Name, f.Schema, &f.Strict
			if tf.Name == "" {
				tf.Name = "response"
			}
		}
		out.Text = &textConfig{Format: tf}
	}
	return format.Marshal(out)
}

func textParts(parts []format.Part, typ string) []contentPart {
	out := make([]contentPart, 0, len(parts))
	for _, p := range parts {
		if p.Type == format.PartText {
			out = append(out, contentPart{Type: typ, Text: p.Text})
		}
	}
	return out
}

// userParts writes text and images as input parts.
func userParts(parts []format.Part) []contentPart {
	out := make([]contentPart, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case format.PartText:
			out = append(out, contentPart{Type: "input_text", Text: p.Text})
		case format.PartImage:
			detail := p.Image.Detail
			if detail == "" {
				detail = "auto"
			}
			out = append(out, contentPart{Type: "input_image", ImageURL: openai.ImageURL(p.Image), Detail: detail})
		}
	}
	return out
}

// appendMessage writes one IR message as input items.
func appendMessage(dst []any, m format.Message) []any {
	if m.Role == format.RoleAssistant {
		var text []format.Part
		var calls []any
		for _, p := range m.Parts {
			switch p.Type {
			case format.PartText:
				text = append(text, p)
			case format.PartToolCall:
				calls = append(calls, encCall{Type: "function_call", CallID: p.ToolCall.ID, Name: p.ToolCall.Name, Arguments: p.ToolCall.Arguments})
			}
		}
		if len(text) > 0 || len(calls) == 0 {
			// A turn with nothing Responses can carry (only reasoning)
			// still takes its place in the conversation.
			if len(text) == 0 {
				text = []format.Part{{Type: format.PartText}}
			}
			dst = append(dst, encMessage{Type: "message", Role: "assistant", Content: textParts(text, "output_text")})
		}
		return append(dst, calls...)
	}
	var rest []format.Part
	for _, p := range m.Parts {
		switch p.Type {
		case format.PartToolResult:
			var output any = ""
			if c := p.ToolResult.Content; len(c) == 1 && c[0].Type == format.PartText {
				output = c[0].Text
			} else if len(c) > 0 {
				output = userParts(c)
			}
			dst = append(dst, encCallOutput{Type: "function_call_output", CallID: p.ToolResult.CallID, Output: output})
		case format.PartText, format.PartImage:
			rest = append(rest, p)
		}
	}
	if len(rest) > 0 || len(m.Parts) == 0 {
		dst = append(dst, encMessage{Type: "message", Role: "user", Content: userParts(rest)})
	}
	return dst
}

func encodeToolChoice(tc *format.ToolChoice) json.RawMessage {
	switch tc.Mode {
	case format.ToolChoiceNone:
		return json.RawMessage(`"none"`)
	case format.ToolChoiceRequired:
		return json.RawMessage(`"required"`)
	case format.ToolChoiceTool:
		b, _ := json.Marshal(map[string]string{"type": "function", "name": tc.Name})
		return b
	}
	return json.RawMessage(`"auto"`)
}
