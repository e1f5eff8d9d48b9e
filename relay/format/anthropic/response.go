package anthropic

import (
	"crypto/rand"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
)

// DecodeResponse reads an upstream Messages API response. Content blocks
// the IR has no place for (server-tool blocks, types added after this
// code) are skipped: the answer is still usable without them. An error
// object instead of a message wraps format.ErrInvalid with the upstream's
// sanitized message.
func DecodeResponse(body []byte) (*format.Response, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	switch t := root.Get("type").Str; t {
	case "message", "":
	case "error":
		return nil, invalidf("upstream error: %s", relayerr.Sanitize(root.Get("error.message").Str))
	default:
		return nil, invalidf(`type: must be "message"`)
	}
	c := root.Get("content")
	if !c.IsArray() {
		return nil, invalidf("content: must be an array")
	}
	r := &format.Response{
		ID:           root.Get("id").Str,
		Model:        root.Get("model").Str,
		StopReason:   decodeStop(root.Get("stop_reason").Str),
		StopSequence: root.Get("stop_sequence").Str,
		Usage:        usageFrom(root.Get("usage"), format.Usage{}),
	}
	c.ForEach(func(_, b gjson.Result) bool {
		if p, ok := responseBlock(b); ok {
			r.Content = append(r.Content, p)
		}
		return true
	})
	return r, nil
}

func responseBlock(b gjson.Result) (format.Part, bool) {
	switch b.Get("type").Str {
	case "text":
		return format.Part{Type: format.PartText, Text: b.Get("text").Str}, true
	case "thinking":
		return format.Part{Type: format.PartThinking, Text: b.Get("thinking").Str, Signature: b.Get("signature").Str}, true
	case "redacted_thinking":
		return format.Part{Type: format.PartRedactedThinking, Data: b.Get("data").Str}, true
	case "tool_use":
		args := "{}"
		if in := b.Get("input"); in.IsObject() {
			args = in.Raw
		}
		return format.Part{Type: format.PartToolCall, ToolCall: &format.ToolCall{
			ID: b.Get("id").Str, Name: b.Get("name").Str, Arguments: args,
		}}, true
	}
	return format.Part{}, false
}

type wireResponse struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []any     `json:"content"`
	StopReason   string    `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        wireUsage `json:"usage"`
}

// EncodeResponse renders the IR answer as a Messages API response for the
// client. Parts a Messages response cannot hold (images, tool results) are
// dropped; a tool call whose arguments are not a JSON object fails with
// format.ErrInvalid, because the client could not parse the block.
func EncodeResponse(r *format.Response) ([]byte, error) {
	w := wireResponse{
		ID:      r.ID,
		Type:    "message",
		Role:    "assistant",
		Model:   r.Model,
		Content: make([]any, 0, len(r.Content)),
		Usage:   toWireUsage(r.Usage),
	}
	if w.ID == "" {
		w.ID = newID("msg_")
	}
	sawTool := false
	for i, p := range r.Content {
		b, err := encodePart(p, false)
		if err != nil {
			return nil, invalidf("content[%d]: %v", i, err)
		}
		if b != nil {
			_, isTool := b.(toolUseOut)
			sawTool = sawTool || isTool
			w.Content = append(w.Content, b)
		}
	}
	w.StopReason = encodeStop(r.StopReason, sawTool)
	if w.StopReason == "stop_sequence" {
		seq := r.StopSequence
		w.StopSequence = &seq
	}
	return marshal(w)
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix and 24 random base62 characters, the shape of
// Anthropic's ids, for answers whose upstream gave none.
func newID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	out := make([]byte, len(prefix), len(prefix)+len(b))
	copy(out, prefix)
	for _, c := range b {
		out = append(out, idAlphabet[int(c)%len(idAlphabet)])
	}
	return string(out)
}
