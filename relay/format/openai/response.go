package openai

import (
	"encoding/json"
	"strings"

	"sluice/relay/format"
)

// DecodeResponse decodes a non-stream Chat Completions body. Only the
// first choice is read: the gateway never asks for n > 1 when converting.
func DecodeResponse(body []byte) (*format.Response, error) {
	var in chatResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, JSONError(err, "response")
	}
	if in.Error != nil && len(in.Choices) == 0 {
		// Some compatible servers answer 200 with an error object.
		return nil, Invalidf("upstream error: %s", in.Error.Message)
	}
	if len(in.Choices) == 0 {
		return nil, Invalidf("choices: must be a non-empty array")
	}
	c := &in.Choices[0]
	r := &format.Response{ID: in.ID, Model: in.Model, Created: in.Created}
	var fr string
	_ = json.Unmarshal(c.FinishReason, &fr) // null or absent: unknown
	r.StopReason = stopReason(fr)
	msg := &c.Message
	r.Content = decodeReasoning(msg.ReasoningDetails, msg.ReasoningContent, msg.Reasoning)
	switch {
	case msg.Content != nil && *msg.Content != "":
		r.Content = append(r.Content, format.Part{Type: format.PartText, Text: *msg.Content})
	case msg.Refusal != nil && *msg.Refusal != "":
		r.Content = append(r.Content, format.Part{Type: format.PartText, Text: *msg.Refusal})
	}
	for _, tc := range msg.ToolCalls {
		args := tc.Function.Arguments
		if args == "" {
			args = "{}"
		}
		r.Content = append(r.Content, format.Part{Type: format.PartToolCall,
			ToolCall: &format.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
	}
	if in.Usage != nil {
		r.Usage = usageOf(in.Usage)
	}
	return r, nil
}

// usageOf converts Chat usage; OpenAI's prompt_tokens already includes
// cached tokens, which is the IR's convention.
func usageOf(u *chatUsage) format.Usage {
	out := format.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens,
		CacheReadTokens: u.PromptCacheHitTokens}
	if d := u.PromptTokensDetails; d != nil && d.CachedTokens > 0 {
		out.CacheReadTokens = d.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// chatUsageOf is the Chat usage object for IR usage. Chat has no field
// for cache writes; they stay counted in prompt_tokens.
func chatUsageOf(u *format.Usage) *chatUsage {
	return &chatUsage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.InputTokens + u.OutputTokens,
		PromptTokensDetails:     &promptDetails{CachedTokens: u.CacheReadTokens},
		CompletionTokensDetails: &completionDets{ReasoningTokens: u.ReasoningTokens},
	}
}

// encChoice is a response choice with its finish reason as a string.
type encChoice struct {
	Index        int         `json:"index"`
	Message      respMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

type encResponse struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []encChoice `json:"choices"`
	Usage   *chatUsage  `json:"usage"`
}

// EncodeResponse encodes an IR response as a chat.completion object.
// Reasoning goes out as reasoning_content and, with its signatures, as
// reasoning_details, so a client can send it back in the next turn.
func EncodeResponse(r *format.Response) ([]byte, error) {
	created := r.Created
	if created == 0 {
		created = now().Unix()
	}
	msg := respMessage{Role: "assistant"}
	var text, reasoning strings.Builder
	hasText := false
	for _, p := range r.Content {
		switch p.Type {
		case format.PartThinking:
			reasoning.WriteString(p.Text)
			msg.ReasoningDetails = append(msg.ReasoningDetails,
				reasoningDetail{Type: "reasoning.text", Text: p.Text, Signature: p.Signature})
		case format.PartRedactedThinking:
			msg.ReasoningDetails = append(msg.ReasoningDetails, reasoningDetail{Type: "reasoning.encrypted", Data: p.Data})
		case format.PartText:
			text.WriteString(p.Text)
			hasText = true
		case format.PartToolCall:
			msg.ToolCalls = append(msg.ToolCalls, chatToolCall{ID: p.ToolCall.ID, Type: "function",
				Function: chatFunction{Name: p.ToolCall.Name, Arguments: p.ToolCall.Arguments}})
		}
	}
	msg.ReasoningContent = reasoning.String()
	if hasText || len(msg.ToolCalls) == 0 {
		// content is null only beside tool calls, as OpenAI sends it.
		s := text.String()
		msg.Content = &s
	}
	out := encResponse{
		ID: r.ID, Object: "chat.completion", Created: created, Model: r.Model,
		Choices: []encChoice{{Message: msg, FinishReason: finishReason(r.StopReason)}},
		Usage:   chatUsageOf(&r.Usage),
	}
	return format.Marshal(out)
}
