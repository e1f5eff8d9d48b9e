package responses

import (
	"encoding/json"
	"strings"
	"time"

	"sluice/relay/format"
	"sluice/relay/format/openai"
)

// now is the clock for created_at when the upstream gave none; tests pin
// it so golden files are stable.
var now = time.Now

// responseID is the Responses id for an upstream id: kept when it already
// is one, prefixed otherwise so clients that check the prefix are happy.
func responseID(id string) string {
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	return "resp_" + id
}

// itemID derives an output item's id from the response id and the item's
// output index, so ids are unique within a response and stable in tests.
func itemID(prefix, respID string, index int) string {
	return prefix + "_" + strings.TrimPrefix(respID, "resp_") + "_" + itoa(index)
}

// status is the Responses status and incomplete details for a stop reason.
func status(r format.StopReason) (string, *incompleteDetails) {
	switch r {
	case format.StopLength:
		return "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	case format.StopContentFilter:
		return "incomplete", &incompleteDetails{Reason: "content_filter"}
	}
	return "completed", nil
}

func usageOf(u *format.Usage) *usage {
	return &usage{
		InputTokens:         u.InputTokens,
		InputTokensDetails:  inputDetails{CachedTokens: u.CacheReadTokens},
		OutputTokens:        u.OutputTokens,
		OutputTokensDetails: outputDetails{ReasoningTokens: u.ReasoningTokens},
		TotalTokens:         u.InputTokens + u.OutputTokens,
	}
}

// redactedPrefix marks an encrypted_content this gateway wrote for a
// redacted thinking block (Anthropic's redacted_thinking data), to tell it
// from a signature on a block without text (Gemini's thoughtSignature
// beside a function call). Both are opaque to the client, which sends the
// item back unchanged; only this codec reads the mark.
const redactedPrefix = "sluice-redacted:"

func newReasoning(id, text, signature string) reasoningItem {
	it := reasoningItem{Type: "reasoning", ID: id, Summary: []summaryText{}, EncryptedContent: signature}
	if text != "" {
		it.Summary = append(it.Summary, summaryText{Type: "summary_text", Text: text})
	}
	return it
}

func newMessage(id, text, st string) messageItem {
	it := messageItem{Type: "message", ID: id, Status: st, Role: "assistant", Content: []outputText{}}
	if st == "completed" {
		it.Content = append(it.Content, outputText{Type: "output_text", Text: text, Annotations: []any{}})
	}
	return it
}

func newCall(id string, tc *format.ToolCall, st string) functionCallItem {
	return functionCallItem{Type: "function_call", ID: id, CallID: tc.ID, Name: tc.Name, Arguments: tc.Arguments, Status: st}
}

// EncodeResponse encodes an IR response as a Responses object. Thinking
// becomes a reasoning item whose summary is the thinking text and whose
// encrypted_content is its signature (redacted thinking: encrypted_content
// alone), so a stateless client sending the items back in the next turn
// returns the signatures DecodeRequest needs. Adjacent text parts form one
// message item.
func EncodeResponse(r *format.Response) ([]byte, error) {
	created := r.Created
	if created == 0 {
		created = now().Unix()
	}
	id := responseID(r.ID)
	out := response{ID: id, Object: "response", CreatedAt: created, Model: r.Model,
		Output: []any{}, Usage: usageOf(&r.Usage)}
	out.Status, out.IncompleteDetails = status(r.StopReason)
	var text strings.Builder
	inText := false
	flush := func() {
		if inText {
			out.Output = append(out.Output, newMessage(itemID("msg", id, len(out.Output)), text.String(), "completed"))
			text.Reset()
			inText = false
		}
	}
	for _, p := range r.Content {
		if p.Type == format.PartText {
			text.WriteString(p.Text)
			inText = true
			continue
		}
		flush()
		n := len(out.Output)
		switch p.Type {
		case format.PartThinking:
			out.Output = append(out.Output, newReasoning(itemID("rs", id, n), p.Text, p.Signature))
		case format.PartRedactedThinking:
			out.Output = append(out.Output, newReasoning(itemID("rs", id, n), "", redactedPrefix+p.Data))
		case format.PartToolCall:
			out.Output = append(out.Output, newCall(itemID("fc", id, n), p.ToolCall, "completed"))
		}
	}
	flush()
	return format.Marshal(out)
}

// outputItem is the union of output items DecodeResponse reads.
type outputItem struct {
	Type             string          `json:"type"`
	Content          json.RawMessage `json:"content"`
	Summary          []summaryText   `json:"summary"`
	EncryptedContent string          `json:"encrypted_content"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Arguments        string          `json:"arguments"`
}

type decResponse struct {
	ID                string             `json:"id"`
	CreatedAt         float64            `json:"created_at"`
	Status            string             `json:"status"`
	Error             *apiError          `json:"error"`
	IncompleteDetails *incompleteDetails `json:"incomplete_details"`
	Model             string             `json:"model"`
	Output            []outputItem       `json:"output"`
	Usage             *usage             `json:"usage"`
}

// DecodeResponse decodes a Responses object from an upstream. Output item
// types other than reasoning, message and function_call (hosted tools the
// gateway never asks for) are skipped.
func DecodeResponse(body []byte) (*format.Response, error) {
	var in decResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, openai.JSONError(err, "response")
	}
	if in.Error != nil && in.Error.Message != "" {
		return nil, openai.Invalidf("upstream error: %s", in.Error.Message)
	}
	if in.Status == "failed" {
		return nil, openai.Invalidf("upstream error: the response failed")
	}
	r := &format.Response{ID: in.ID, Model: in.Model, Created: int64(in.CreatedAt)}
	calls := false
	for i := range in.Output {
		it := &in.Output[i]
		switch it.Type {
		case "reasoning":
			p := reasoningPart(&inputItem{Content: it.Content, Summary: it.Summary, EncryptedContent: it.EncryptedContent})
			if p.Text != "" || p.Signature != "" || p.Data != "" {
				r.Content = append(r.Content, p)
			}
		case "message":
			var parts []contentPart
			if err := json.Unmarshal(it.Content, &parts); err != nil {
				return nil, openai.Invalidf("output[%d].content: must be an array of content parts", i)
			}
			for _, p := range parts {
				if t := p.Text + p.Refusal; t != "" {
					r.Content = append(r.Content, format.Part{Type: format.PartText, Text: t})
				}
			}
		case "function_call":
			calls = true
			args := it.Arguments
			if args == "" {
				args = "{}"
			}
			r.Content = append(r.Content, format.Part{Type: format.PartToolCall,
				ToolCall: &format.ToolCall{ID: it.CallID, Name: it.Name, Arguments: args}})
		}
	}
	r.StopReason = stopReason(in.Status, in.IncompleteDetails, calls)
	if in.Usage != nil {
		r.Usage = irUsage(in.Usage)
	}
	return r, nil
}

// stopReason is the inverse of status; a completed response with function
// calls stopped to use tools (Responses has no separate reason for it).
func stopReason(st string, d *incompleteDetails, calls bool) format.StopReason {
	switch {
	case st == "incomplete" && d != nil && d.Reason == "content_filter":
		return format.StopContentFilter
	case st == "incomplete":
		return format.StopLength
	case calls:
		return format.StopToolUse
	case st == "completed":
		return format.StopEnd
	}
	return format.StopUnknown
}

func irUsage(u *usage) format.Usage {
	return format.Usage{
		InputTokens:     u.InputTokens,
		OutputTokens:    u.OutputTokens,
		CacheReadTokens: u.InputTokensDetails.CachedTokens,
		ReasoningTokens: u.OutputTokensDetails.ReasoningTokens,
	}
}
