package anthropic

import (
	"encoding/json"
	"strings"

	"sluice/relay/format"
)

// Content blocks as the API spells them, shared by requests and responses.
type (
	textOut struct {
		Type         string          `json:"type"`
		Text         string          `json:"text"`
		CacheControl json.RawMessage `json:"cache_control,omitempty"`
	}
	imageOut struct {
		Type         string          `json:"type"`
		Source       imageSourceOut  `json:"source"`
		CacheControl json.RawMessage `json:"cache_control,omitempty"`
	}
	imageSourceOut struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type,omitempty"`
		Data      string `json:"data,omitempty"`
		URL       string `json:"url,omitempty"`
	}
	toolUseOut struct {
		Type         string          `json:"type"`
		ID           string          `json:"id"`
		Name         string          `json:"name"`
		Input        json.RawMessage `json:"input"`
		CacheControl json.RawMessage `json:"cache_control,omitempty"`
	}
	toolResultOut struct {
		Type         string          `json:"type"`
		ToolUseID    string          `json:"tool_use_id"`
		Content      []any           `json:"content,omitempty"`
		IsError      bool            `json:"is_error,omitempty"`
		CacheControl json.RawMessage `json:"cache_control,omitempty"`
	}
	thinkingOut struct {
		Type      string `json:"type"`
		Thinking  string `json:"thinking"`
		Signature string `json:"signature"`
	}
	redactedOut struct {
		Type string `json:"type"`
		Data string `json:"data"`
	}
)

// encodePart returns the block for p, or nil for a part this side cannot
// or need not send. inRequest selects the request rules: tool ids are
// sanitized and unsigned thinking is dropped (the API verifies
// signatures); a response keeps unsigned thinking for the client to see
// and has no images or tool results.
func encodePart(p format.Part, inRequest bool) (any, error) {
	cc := rawObject(p.CacheControl)
	switch p.Type {
	case format.PartText:
		if p.Text != "" {
			return textOut{Type: "text", Text: p.Text, CacheControl: cc}, nil
		}
	case format.PartImage:
		if src, ok := irImageSource(p.Image); ok && inRequest {
			return imageOut{Type: "image", Source: src, CacheControl: cc}, nil
		}
	case format.PartToolCall:
		if p.ToolCall == nil {
			return nil, nil
		}
		return toolUse(p.ToolCall, cc, inRequest)
	case format.PartToolResult:
		if p.ToolResult != nil && inRequest {
			return toolResult(p.ToolResult, cc), nil
		}
	case format.PartThinking:
		if p.Signature != "" || !inRequest && p.Text != "" {
			return thinkingOut{Type: "thinking", Thinking: p.Text, Signature: p.Signature}, nil
		}
	case format.PartRedactedThinking:
		if p.Data != "" {
			return redactedOut{Type: "redacted_thinking", Data: p.Data}, nil
		}
	}
	return nil, nil
}

func toolUse(tc *format.ToolCall, cc json.RawMessage, inRequest bool) (any, error) {
	in, ok := toolInput(tc.Arguments)
	if !ok {
		return nil, errAt("tool call " + tc.ID + ": arguments are not a JSON object")
	}
	id := tc.ID
	if inRequest {
		id = sanitizeID(id)
	}
	return toolUseOut{Type: "tool_use", ID: id, Name: tc.Name, Input: in, CacheControl: cc}, nil
}

func toolResult(tr *format.ToolResult, cc json.RawMessage) toolResultOut {
	out := toolResultOut{Type: "tool_result", ToolUseID: sanitizeID(tr.CallID), IsError: tr.IsError, CacheControl: cc}
	for _, c := range tr.Content {
		switch c.Type {
		case format.PartText:
			if c.Text != "" {
				out.Content = append(out.Content, textOut{Type: "text", Text: c.Text, CacheControl: rawObject(c.CacheControl)})
			}
		case format.PartImage:
			if src, ok := irImageSource(c.Image); ok {
				out.Content = append(out.Content, imageOut{Type: "image", Source: src, CacheControl: rawObject(c.CacheControl)})
			}
		}
	}
	return out
}

// irImageSource converts an IR image, unpacking "data:" URLs (what OpenAI
// clients send for inline images) into base64 sources.
func irImageSource(img *format.Image) (imageSourceOut, bool) {
	switch {
	case img == nil:
		return imageSourceOut{}, false
	case img.Data != "":
		mt := img.MediaType
		if mt == "" {
			mt = mediaTypeOf(img.Data)
		}
		return imageSourceOut{Type: "base64", MediaType: mt, Data: img.Data}, true
	case strings.HasPrefix(img.URL, "data:"):
		meta, data, ok := strings.Cut(img.URL[len("data:"):], ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || data == "" {
			return imageSourceOut{}, false
		}
		if mt == "" {
			mt = mediaTypeOf(data)
		}
		return imageSourceOut{Type: "base64", MediaType: mt, Data: data}, true
	case img.URL != "":
		return imageSourceOut{Type: "url", URL: img.URL}, true
	}
	return imageSourceOut{}, false
}
