// Package openai converts between OpenAI's Chat Completions dialect
// (https://platform.openai.com/docs/api-reference/chat) and the gateway's
// provider-neutral format. It also accepts the two common extensions of
// OpenAI-compatible servers for reasoning: DeepSeek's reasoning_content
// string and OpenRouter's reasoning_details array, the latter being the
// only place a thinking signature can travel in this dialect.
//
// The codec is used only when the client and the channel speak different
// dialects; fields it does not know are dropped.
//
// A few helpers are exported for the sibling responses package (OpenAI's
// Responses API shares image URLs, reasoning efforts and error style with
// Chat): Invalidf, JSONError, ParseImageURL, ImageURL, Effort,
// ThinkingForEffort, ToolChoiceMode, DisableParallel and AppendToolResult.
package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"sluice/relay/format"
)

// invalidError is a decode failure whose message is safe to show the
// client; it unwraps to format.ErrInvalid so callers classify it.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return format.ErrInvalid }

// Invalidf returns an error wrapping format.ErrInvalid whose text is
// exactly the formatted message ("messages: must be an array"), so it can
// be shown to the client as is.
func Invalidf(msg string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(msg, args...)}
}

// JSONError turns an encoding/json failure on a body into an Invalidf
// error naming the offending field, e.g. "messages: must be an array".
// what names the body ("request", "response") for syntax errors.
func JSONError(err error, what string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = what
		}
		return Invalidf("%s: must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Invalidf("%s body is not valid JSON (offset %d)", what, se.Offset)
	}
	return Invalidf("%s body is not valid JSON", what)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "a number"
	}
	return "a different type"
}

// ParseImageURL turns an OpenAI image_url (an https URL or a base64 data
// URL) into an IR image.
func ParseImageURL(url, detail string) (*format.Image, error) {
	if url == "" {
		return nil, Invalidf("image_url: url is required")
	}
	img := &format.Image{Detail: detail}
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		img.URL = url
		return img, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	mime, isB64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isB64 || data == "" {
		return nil, Invalidf("image_url: a data URL must be data:<mime>;base64,<data>")
	}
	img.MediaType, img.Data = mime, data
	return img, nil
}

// ImageURL is the inverse of ParseImageURL: the URL, or a data URL built
// from inline base64 data.
func ImageURL(img *format.Image) string {
	if img.Data != "" {
		return "data:" + img.MediaType + ";base64," + img.Data
	}
	return img.URL
}

// Effort is the OpenAI reasoning effort for an IR thinking request ("" when
// thinking is off). A token budget maps to the nearest effort, with the
// boundaries between the format package's reference budgets (low ≈ 1024,
// medium ≈ 8192, high ≈ 24576).
func Effort(t *format.Thinking) string {
	switch {
	case t == nil || !t.Enabled:
		return ""
	case t.Effort != "":
		return t.Effort
	case t.BudgetTokens <= 0:
		// Enabled without a budget (Gemini's dynamic -1): the provider's
		// own default effort.
		return "medium"
	case t.BudgetTokens < 2048:
		return "low"
	case t.BudgetTokens < 16384:
		return "medium"
	}
	return "high"
}

// ThinkingForEffort is the IR thinking request for an OpenAI reasoning
// effort: nil for "" and "none" (reasoning off), otherwise enabled with the
// effort kept verbatim so newer levels ("xhigh") survive.
func ThinkingForEffort(effort string) *format.Thinking {
	if effort == "" || effort == "none" {
		return nil
	}
	return &format.Thinking{Enabled: true, Effort: effort}
}

// finishReason is the Chat finish_reason for an IR stop reason. A stop
// sequence is "stop" in Chat (it does not say which one matched), and an
// unknown reason defaults to the ordinary end of turn.
func finishReason(r format.StopReason) string {
	switch r {
	case format.StopLength:
		return "length"
	case format.StopToolUse:
		return "tool_calls"
	case format.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

// stopReason is the IR stop reason for a Chat finish_reason; the legacy
// "function_call" is a tool call too.
func stopReason(s string) format.StopReason {
	switch s {
	case "stop":
		return format.StopEnd
	case "length":
		return format.StopLength
	case "tool_calls", "function_call":
		return format.StopToolUse
	case "content_filter":
		return format.StopContentFilter
	}
	return format.StopUnknown
}

// now is the clock for "created" when the upstream gave none; tests pin it
// so golden files are stable.
var now = time.Now
