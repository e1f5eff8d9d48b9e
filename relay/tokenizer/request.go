package tokenizer

import "github.com/tidwall/gjson"

// Fixed costs of the chat format, from OpenAI's cookbook "How to count tokens
// with tiktoken" (num_tokens_from_messages): every message is wrapped in
// about three formatting tokens, a name costs one more, and the reply is
// primed with three.
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	tokensReplyPrime = 3
	// tokensPerImage is the flat charge for an image part. OpenAI bills a
	// low-detail image at 85 tokens; the real cost of a high-detail image
	// depends on its size, which the gateway does not fetch.
	tokensPerImage = 85
)

// CountChatPrompt estimates the prompt tokens of an OpenAI chat completions
// request body. Per message: 3 tokens, plus the role, the content (a string,
// or the text of each content part, with 85 per image part), the name (plus
// 1), and the names and arguments of any tool calls; then 3 for the reply
// priming, plus the raw JSON text of "tools" (and legacy "functions"). Audio
// and file parts count nothing: their size is not in the body in a form
// worth guessing at. The body is walked with gjson, never fully decoded.
func CountChatPrompt(model string, body []byte) int {
	return std.countChat(EncodingFor(model), body)
}

func (c *counter) countChat(enc string, body []byte) int {
	n := 0
	gjson.GetBytes(body, "messages").ForEach(func(_, msg gjson.Result) bool {
		n += tokensPerMessage
		n += c.countText(enc, msg.Get("role").String())
		n += c.countContent(enc, msg.Get("content"))
		if name := msg.Get("name"); name.Exists() {
			n += tokensPerName + c.countText(enc, name.String())
		}
		msg.Get("tool_calls").ForEach(func(_, call gjson.Result) bool {
			n += c.countFunction(enc, call.Get("function"))
			return true
		})
		n += c.countFunction(enc, msg.Get("function_call")) // legacy
		return true
	})
	n += tokensReplyPrime
	for _, key := range [...]string{"tools", "functions"} {
		if defs := gjson.GetBytes(body, key); defs.IsArray() {
			n += c.countText(enc, defs.Raw)
		}
	}
	return n
}

// countContent counts a message's content: a string, or an array of parts.
func (c *counter) countContent(enc string, content gjson.Result) int {
	if content.Type == gjson.String {
		return c.countText(enc, content.Str)
	}
	n := 0
	if !content.IsArray() {
		return 0
	}
	content.ForEach(func(_, part gjson.Result) bool {
		switch part.Get("type").String() {
		case "image_url", "input_image", "image":
			n += tokensPerImage
		default:
			if text := part.Get("text"); text.Type == gjson.String {
				n += c.countText(enc, text.Str)
			}
		}
		return true
	})
	return n
}

// countFunction counts a function call's name and arguments.
func (c *counter) countFunction(enc string, fn gjson.Result) int {
	if !fn.IsObject() {
		return 0
	}
	return c.countText(enc, fn.Get("name").String()) + c.countText(enc, fn.Get("arguments").String())
}

// CountCompletionsPrompt counts the "prompt" of a legacy completions request:
// a string, an array of strings, or token arrays (see CountEmbeddingInput).
func CountCompletionsPrompt(model string, body []byte) int {
	return std.countInput(EncodingFor(model), gjson.GetBytes(body, "prompt"))
}

// CountEmbeddingInput counts the "input" of an embeddings request: a string,
// an array of strings, an array of token IDs, or an array of token-ID
// arrays. Token arrays count their length: the client already tokenised
// them.
func CountEmbeddingInput(model string, body []byte) int {
	return std.countInput(EncodingFor(model), gjson.GetBytes(body, "input"))
}

func (c *counter) countInput(enc string, v gjson.Result) int {
	switch {
	case v.Type == gjson.String:
		return c.countText(enc, v.Str)
	case v.Type == gjson.Number:
		return 1 // a lone token inside a token array
	case v.IsArray():
		n := 0
		v.ForEach(func(_, item gjson.Result) bool {
			n += c.countInput(enc, item)
			return true
		})
		return n
	}
	return 0
}
