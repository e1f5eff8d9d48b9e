// Package gemini converts between the Google Gemini API's generateContent
// dialect (v1beta, https://ai.google.dev/api/generate-content) and the
// provider-neutral format.Request / format.Response / format.Event.
//
// The model and the stream flag live in the URL, not in the body
// (/v1beta/models/{model}:generateContent or
// :streamGenerateContent?alt=sse): DecodeRequest leaves Request.Model and
// Request.Stream for the caller to set from the path, and EncodeRequest
// ignores them (the Gemini adaptor, relay/channel/gemini, builds the URL).
//
// Choices forced by the dialect, each explained where it is made:
//   - tools are sent as parametersJsonSchema (full JSON Schema) rather than
//     the OpenAPI-subset parameters, so schemas written for OpenAI or
//     Anthropic (additionalProperties, $defs, const…) pass unchanged;
//   - Gemini function calls may carry no id: decoders synthesize stable ids
//     and pair id-less function responses with calls by name, in order;
//   - a thoughtSignature can sit on any part; it is kept on the part it came
//     with and, in a stream, announced by EventSignature before that part;
//   - Gemini has no tool_use finish reason (STOP with function calls is
//     StopToolUse) and reports thinking tokens beside candidatesTokenCount
//     (the IR counts them inside OutputTokens);
//   - Anthropic's redacted thinking reaches a Gemini client as a thought
//     part whose thoughtSignature is "redacted_thinking:<data>" (see
//     redactedPrefix);
//   - googleSearch, codeExecution and other built-in tools, safetySettings,
//     cachedContent and candidateCount are ignored: the IR has no place for
//     them.
package gemini

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"sluice/relay/format"
)

// skipSignature is the placeholder Google documents for function calls
// whose thought signature was not produced by Gemini (history from another
// model): Gemini 3 rejects a step whose first functionCall has none.
const skipSignature = "skip_thought_signature_validator"

// redactedPrefix marks a thoughtSignature that carries Anthropic's
// redacted thinking to a Gemini client. Gemini has no redacted thinking,
// but a Gemini client sends every signature back untouched, so the block
// survives the round trip and reaches the Anthropic upstream again. The
// prefix cannot begin a real signature (base64 has no '_' or ':'), and
// EncodeRequest drops such parts, as a Gemini upstream could not use them.
const redactedPrefix = "redacted_thinking:"

// effortBudget translates an effort level into a thinking budget, using
// the IR's documented equivalence; "minimal" has no IR figure, 512 is the
// smallest budget every thinking Gemini model accepts.
var effortBudget = map[string]int{"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

// invalid wraps format.ErrInvalid with a client-facing message.
func invalid(where, format_ string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", format.ErrInvalid, where, fmt.Sprintf(format_, args...))
}

// finishReason maps Gemini's finishReason to the IR. toolCalls says the
// candidate called functions: Gemini ends those turns with STOP.
func finishReason(s string, toolCalls bool) format.StopReason {
	switch s {
	case "STOP":
		if toolCalls {
			return format.StopToolUse
		}
		return format.StopEnd
	case "MAX_TOKENS":
		return format.StopLength
	case "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
		"LANGUAGE", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return format.StopContentFilter
	case "":
		return format.StopUnknown
	}
	// OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL and future
	// values: no IR reason says "failed for another cause".
	return format.StopUnknown
}

// encodeFinish maps an IR stop reason to Gemini's finishReason. StopToolUse
// and StopSequence are STOP in Gemini; an unknown reason is reported as a
// normal end rather than FINISH_REASON_UNSPECIFIED, which SDKs treat as odd.
func encodeFinish(r format.StopReason) string {
	switch r {
	case format.StopLength:
		return "MAX_TOKENS"
	case format.StopContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

// usageFrom converts Gemini's usageMetadata to the IR. promptTokenCount
// already includes cachedContentTokenCount (the IR's convention);
// thoughtsTokenCount is reported beside candidatesTokenCount.
func usageFrom(prompt, candidates, cached, thoughts int64) format.Usage {
	return format.Usage{
		InputTokens:     int(prompt),
		OutputTokens:    int(candidates + thoughts),
		CacheReadTokens: int(cached),
		ReasoningTokens: int(thoughts),
	}
}

// wireUsage is Gemini's usageMetadata. The three counts are always
// written, zero included, so a client always finds them.
type wireUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
}

// usageTo converts IR usage to Gemini's usageMetadata. CacheWriteTokens
// has no Gemini field and is dropped.
func usageTo(u format.Usage) *wireUsage {
	cand := u.OutputTokens - u.ReasoningTokens
	if cand < 0 {
		cand = 0
	}
	return &wireUsage{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    cand,
		TotalTokenCount:         u.InputTokens + u.OutputTokens,
		CachedContentTokenCount: u.CacheReadTokens,
		ThoughtsTokenCount:      u.ReasoningTokens,
	}
}

// callID synthesizes the id of the n-th function call of a response that
// gave none. The response id makes it unique across the turns of a
// conversation (Anthropic rejects repeated tool_use ids); only
// [A-Za-z0-9_-] is kept, the character set every dialect accepts.
func callID(responseID string, n int) string {
	var b strings.Builder
	b.WriteString("call_")
	kept := 0
	for i := 0; i < len(responseID) && kept < 40; i++ {
		c := responseID[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			kept++
		}
	}
	if kept > 0 {
		b.WriteByte('_')
	}
	b.WriteString(strconv.Itoa(n))
	return b.String()
}

// guessMime guesses an image URL's media type from its extension: Gemini's
// fileData wants a mimeType and the IR's URL images usually carry none.
func guessMime(u string) string {
	p := u
	if parsed, err := url.Parse(u); err == nil && parsed.Path != "" {
		p = parsed.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	case ".pdf":
		return "application/pdf"
	}
	return "image/jpeg"
}

// parseDataURL splits "data:<mime>;base64,<data>". Some clients put inline
// images in the URL field; Gemini's fileData cannot take them.
func parseDataURL(u string) (mime, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mime, isB64 := strings.CutSuffix(meta, ";base64")
	if !isB64 {
		return "", "", false
	}
	return mime, data, true
}
