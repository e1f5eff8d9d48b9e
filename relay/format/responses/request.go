// Package responses converts between OpenAI's Responses API
// (https://platform.openai.com/docs/api-reference/responses) and the
// gateway's provider-neutral format, so a client speaking Responses can be
// served by a channel that speaks another dialect (and, in the other
// direction, a Responses upstream can serve other clients).
//
// The gateway is stateless: requests that refer to server-side state
// (previous_response_id, conversation, prompt templates, item references,
// file ids) are refused with a clear error, and store is ignored.
package responses

import (
	"encoding/json"
	"strings"

	"sluice/relay/format"
	"sluice/relay/format/openai"
)

// DecodeRequest decodes a Responses API request body into the IR.
func DecodeRequest(body []byte) (*format.Request, error) {
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, openai.JSONError(err, "request")
	}
	switch {
	case in.Model == "":
		return nil, openai.Invalidf("model: is required")
	case in.PreviousResponseID != "":
		return nil, openai.Invalidf("previous_response_id: not supported by this gateway, which stores no responses; send the whole conversation in input")
	case !format.IsNull(in.Conversation):
		return nil, openai.Invalidf("conversation: not supported by this gateway, which stores no conversations; send the whole conversation in input")
	case !format.IsNull(in.Prompt):
		return nil, openai.Invalidf("prompt: stored prompt templates are not supported by this gateway")
	}
	r := &format.Request{
		Model:       in.Model,
		MaxTokens:   in.MaxOutputTokens,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		Stream:      in.Stream,
		User:        in.User,
	}
	if r.User == "" {
		r.User = in.SafetyIdentifier
	}
	if in.Reasoning != nil {
		r.Thinking = openai.ThinkingForEffort(in.Reasoning.Effort)
	}
	if in.Instructions != "" {
		r.System = append(r.System, format.Part{Type: format.PartText, Text: in.Instructions})
	}
	var err error
	if err = decodeInput(in.Input, r); err != nil {
		return nil, err
	}
	if r.Tools, err = decodeTools(in.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	openai.DisableParallel(r, in.ParallelToolCalls)
	if r.ResponseFormat, err = decodeTextFormat(in.Text); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeInput fills r.System and r.Messages from input: a string (one user
// message) or a list of items. Consecutive assistant-side items
// (reasoning, message, function_call) form one IR assistant message;
// consecutive function_call_output items form one user message.
func decodeInput(raw json.RawMessage, r *format.Request) error {
	if format.IsNull(raw) {
		return openai.Invalidf("input: is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		r.Messages = append(r.Messages, format.Message{Role: format.RoleUser, Parts: []format.Part{{Type: format.PartText, Text: s}}})
		return nil
	}
	var items []inputItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return openai.Invalidf("input: must be a string or an array of input items")
	}
	if len(items) == 0 {
		return openai.Invalidf("input: must not be empty")
	}
	callNames := map[string]string{}
	for i := range items {
		it := &items[i]
		switch it.Type {
		case "", "message":
			if err := decodeMessageItem(it, i, r); err != nil {
				return err
			}
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return openai.Invalidf("input[%d]: call_id and name are required", i)
			}
			args := it.Arguments
			if args == "" {
				args = "{}"
			}
			callNames[it.CallID] = it.Name
			addPart(r, format.RoleAssistant, format.Part{Type: format.PartToolCall,
				ToolCall: &format.ToolCall{ID: it.CallID, Name: it.Name, Arguments: args}})
		case "function_call_output":
			part, err := decodeCallOutput(it, i, callNames)
			if err != nil {
				return err
			}
			openai.AppendToolResult(r, part)
		case "reasoning":
			// A reasoning item with neither text nor encrypted content
			// (summaries off, store on) carries nothing to convert.
			if p := reasoningPart(it); p.Text != "" || p.Signature != "" || p.Data != "" {
				addPart(r, format.RoleAssistant, p)
			}
		case "item_reference":
			return openai.Invalidf("input[%d]: item_reference is not supported by this gateway, which stores no items; send the item itself", i)
		default:
			return openai.Invalidf("input[%d].type: unsupported input item type %q (only message, function_call, function_call_output and reasoning can be converted)", i, it.Type)
		}
	}
	if len(r.Messages) == 0 {
		return openai.Invalidf("input: has no user or assistant item to answer")
	}
	return nil
}

// addPart appends p to the last message when it has role, else opens one.
func addPart(r *format.Request, role format.Role, p format.Part) {
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role && role == format.RoleAssistant {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, p)
		return
	}
	r.Messages = append(r.Messages, format.Message{Role: role, Parts: []format.Part{p}})
}

func decodeMessageItem(it *inputItem, i int, r *format.Request) error {
	parts, err := decodeContent(it.Content, i, it.Role == "user")
	if err != nil {
		return err
	}
	switch it.Role {
	case "system", "developer":
		r.System = append(r.System, parts...)
	case "user":
		r.Messages = append(r.Messages, format.Message{Role: format.RoleUser, Parts: parts})
	case "assistant":
		for _, p := range parts {
			addPart(r, format.RoleAssistant, p)
		}
	default:
		return openai.Invalidf("input[%d].role: unsupported role %q", i, it.Role)
	}
	return nil
}

// decodeContent reads message content: a string or a list of parts.
func decodeContent(raw json.RawMessage, i int, images bool) ([]format.Part, error) {
	if format.IsNull(raw) {
		return nil, openai.Invalidf("input[%d].content: is required", i)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []format.Part{{Type: format.PartText, Text: s}}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, openai.Invalidf("input[%d].content: must be a string or an array of content parts", i)
	}
	return decodeParts(parts, "input["+itoa(i)+"].content", images)
}

func decodeParts(parts []contentPart, path string, images bool) ([]format.Part, error) {
	out := make([]format.Part, 0, len(parts))
	for j, p := range parts {
		switch {
		case p.Type == "input_text" || p.Type == "output_text" || p.Type == "text":
			out = append(out, format.Part{Type: format.PartText, Text: p.Text})
		case p.Type == "refusal":
			out = append(out, format.Part{Type: format.PartText, Text: p.Refusal})
		case p.Type == "input_image" && images:
			if p.FileID != "" {
				return nil, openai.Invalidf("%s[%d].file_id: uploaded files are not supported by this gateway; send the image as image_url (an https or data: URL)", path, j)
			}
			img, err := openai.ParseImageURL(p.ImageURL, p.Detail)
			if err != nil {
				return nil, openai.Invalidf("%s[%d].%s", path, j, err.Error())
			}
			out = append(out, format.Part{Type: format.PartImage, Image: img})
		default:
			return nil, openai.Invalidf("%s[%d]: unsupported content part type %q", path, j, p.Type)
		}
	}
	return out, nil
}

func decodeCallOutput(it *inputItem, i int, callNames map[string]string) (format.Part, error) {
	if it.CallID == "" {
		return format.Part{}, openai.Invalidf("input[%d].call_id: is required", i)
	}
	res := &format.ToolResult{CallID: it.CallID, Name: callNames[it.CallID]}
	var s string
	switch {
	case format.IsNull(it.Output):
		return format.Part{}, openai.Invalidf("input[%d].output: is required", i)
	case json.Unmarshal(it.Output, &s) == nil:
		res.Content = []format.Part{{Type: format.PartText, Text: s}}
	default:
		var parts []contentPart
		if json.Unmarshal(it.Output, &parts) != nil {
			return format.Part{}, openai.Invalidf("input[%d].output: must be a string or an array of content parts", i)
		}
		var err error
		if res.Content, err = decodeParts(parts, "input["+itoa(i)+"].output", true); err != nil {
			return format.Part{}, err
		}
	}
	return format.Part{Type: format.PartToolResult, ToolResult: res}, nil
}

// reasoningPart reads a reasoning item. The raw reasoning text
// (content[].reasoning_text) wins over the summary; encrypted_content is
// the block's signature, or a redacted block when it carries
// redactedPrefix (see there).
func reasoningPart(it *inputItem) format.Part {
	var text strings.Builder
	var parts []contentPart
	if json.Unmarshal(it.Content, &parts) == nil {
		for _, p := range parts {
			if p.Type == "reasoning_text" {
				text.WriteString(p.Text)
			}
		}
	}
	if text.Len() == 0 {
		for k, s := range it.Summary {
			if k > 0 {
				text.WriteString("\n\n")
			}
			text.WriteString(s.Text)
		}
	}
	if data, ok := strings.CutPrefix(it.EncryptedContent, redactedPrefix); ok && text.Len() == 0 {
		return format.Part{Type: format.PartRedactedThinking, Data: data}
	}
	return format.Part{Type: format.PartThinking, Text: text.String(), Signature: it.EncryptedContent}
}

func decodeTools(tools []tool) ([]format.Tool, error) {
	var out []format.Tool
	for i, t := range tools {
		if t.Type != "function" {
			return nil, openai.Invalidf("tools[%d].type: the %q tool is not supported on this model's channel (only \"function\" tools can be converted)", i, t.Type)
		}
		if t.Name == "" {
			return nil, openai.Invalidf("tools[%d].name: is required", i)
		}
		params := t.Parameters
		if format.IsNull(params) {
			params = nil
		}
		out = append(out, format.Tool{Name: t.Name, Description: t.Description, Parameters: params})
	}
	return out, nil
}

func decodeToolChoice(raw json.RawMessage) (*format.ToolChoice, error) {
	if format.IsNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return openai.ToolChoiceMode(s)
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" || obj.Name == "" {
		return nil, openai.Invalidf(`tool_choice: must be "auto", "none", "required" or {"type":"function","name":…}`)
	}
	return &format.ToolChoice{Mode: format.ToolChoiceTool, Name: obj.Name}, nil
}

func decodeTextFormat(t *textConfig) (*format.ResponseFormat, error) {
	if t == nil || t.Format == nil {
		return nil, nil
	}
	f := t.Format
	switch f.Type {
	case "text", "json_object":
		return &format.ResponseFormat{Type: f.Type}, nil
	case "json_schema":
		return &format.ResponseFormat{Type: f.Type, Name: f.Name, Schema: f.Schema, Strict: f.Strict != nil && *f.Strict}, nil
	}
	return nil, openai.Invalidf("text.format.type: unsupported value %q", f.Type)
}
