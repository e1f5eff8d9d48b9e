// Package anthropic converts the Anthropic Messages API dialect
// (POST /v1/messages, https://docs.anthropic.com/en/api/messages) to and
// from the provider-neutral format.Request, format.Response and stream
// Events.
//
// Decoding reads bodies with gjson after two cheap guards (a nesting-depth
// scan and gjson.ValidBytes), so hostile input costs one pass and never
// recurses deeply; encoding builds typed structs for whole bodies and
// appends stream events by hand, which keeps the per-event path free of
// reflection.
//
// What the IR cannot carry is handled explicitly rather than silently:
// server tools (web_search and the other typed tools) and their result
// blocks are dropped, documents, search results and file-id sources are
// rejected with a client-facing error.
package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
)

// maxDepth bounds JSON nesting. gjson's validator recurses once per level,
// so an unbounded "[[[[…" body would grow the goroutine stack with the
// body size; real requests (tool schemas included) stay far below this.
const maxDepth = 256

// invalidf returns an error wrapping format.ErrInvalid whose text after the
// "invalid body: " prefix is safe to show the client.
func invalidf(msg string, args ...any) error {
	return fmt.Errorf("%w: %s", format.ErrInvalid, fmt.Sprintf(msg, args...))
}

// parseObject checks that body is one JSON object of bounded depth and
// returns it parsed. ParseBytes copies the body into one string, so every
// Raw and Str taken from the result afterwards is a substring of it rather
// than a fresh copy.
func parseObject(body []byte) (gjson.Result, error) {
	if tooDeep(body, maxDepth) {
		return gjson.Result{}, invalidf("body: nested deeper than %d levels", maxDepth)
	}
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, invalidf("body: not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return gjson.Result{}, invalidf("body: must be a JSON object")
	}
	return root, nil
}

// tooDeep reports whether b nests arrays and objects deeper than max. It
// is a single non-recursive pass that only tracks string state, run before
// any recursive parser sees the bytes.
func tooDeep(b []byte, max int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// stopReasons maps Anthropic's stop_reason values to the IR.
// pause_turn (a long server-tool turn the client should resume) has no IR
// equivalent; it ends the turn like end_turn. model_context_window_exceeded
// is a length stop.
var stopReasons = map[string]format.StopReason{
	"end_turn":                      format.StopEnd,
	"max_tokens":                    format.StopLength,
	"stop_sequence":                 format.StopSequence,
	"tool_use":                      format.StopToolUse,
	"pause_turn":                    format.StopEnd,
	"refusal":                       format.StopContentFilter,
	"model_context_window_exceeded": format.StopLength,
}

// decodeStop maps an Anthropic stop_reason; unknown or null is StopUnknown.
func decodeStop(s string) format.StopReason {
	return stopReasons[s]
}

// encodeStop maps an IR stop reason to Anthropic's. sawTool turns an
// ordinary end into "tool_use": Gemini reports STOP even when it called
// functions, and Anthropic clients run tools on stop_reason "tool_use".
func encodeStop(r format.StopReason, sawTool bool) string {
	switch r {
	case format.StopLength:
		return "max_tokens"
	case format.StopSequence:
		return "stop_sequence"
	case format.StopToolUse:
		return "tool_use"
	case format.StopContentFilter:
		return "refusal"
	}
	if sawTool {
		return "tool_use"
	}
	return "end_turn"
}

// toolInput returns the tool_use input for IR arguments: Anthropic needs
// a JSON object, and an absent argument list is the empty object.
func toolInput(args string) (json.RawMessage, bool) {
	if isBlank(args) {
		return json.RawMessage("{}"), true
	}
	if tooDeep([]byte(args), maxDepth) || !gjson.Valid(args) || !gjson.Parse(args).IsObject() {
		return nil, false
	}
	return json.RawMessage(args), true
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// wireUsage is Anthropic's usage object. input_tokens excludes the cached
// tokens, which the IR counts in InputTokens (see format.Usage).
type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// toWireUsage subtracts the cached tokens back out of InputTokens.
func toWireUsage(u format.Usage) wireUsage {
	in := u.InputTokens - u.CacheReadTokens - u.CacheWriteTokens
	if in < 0 {
		in = 0
	}
	return wireUsage{
		InputTokens:              in,
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// usageFrom reads an Anthropic usage object into base, keeping the fields
// the object lacks (message_delta may carry only output_tokens).
func usageFrom(v gjson.Result, base format.Usage) format.Usage {
	u := base
	in := u.InputTokens - u.CacheReadTokens - u.CacheWriteTokens
	if f := v.Get("input_tokens"); f.Exists() {
		in = clampTokens(f)
	}
	if f := v.Get("cache_creation_input_tokens"); f.Exists() {
		u.CacheWriteTokens = clampTokens(f)
	}
	if f := v.Get("cache_read_input_tokens"); f.Exists() {
		u.CacheReadTokens = clampTokens(f)
	}
	if f := v.Get("output_tokens"); f.Exists() {
		u.OutputTokens = clampTokens(f)
	}
	if in < 0 {
		in = 0
	}
	u.InputTokens = in + u.CacheReadTokens + u.CacheWriteTokens
	return u
}

// clampTokens reads a token count, bounding garbage to [0, 1<<40] so sums
// never overflow.
func clampTokens(v gjson.Result) int {
	n := v.Int()
	if n < 0 {
		return 0
	}
	if n > 1<<40 {
		return 1 << 40
	}
	return int(n)
}
