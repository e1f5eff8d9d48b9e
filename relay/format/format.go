// Package format is the provider-neutral shape of a chat call, the hub
// every conversion goes through: a client's request is decoded from its
// dialect (OpenAI Chat, OpenAI Responses, Anthropic Messages, Gemini) into
// a Request, encoded into the channel's dialect, and the answer comes back
// the same way as a Response or a sequence of stream Events. Each dialect
// lives in its own sub-package with the same small set of functions:
//
//	DecodeRequest(body []byte) (*format.Request, error)
//	EncodeRequest(r *format.Request) ([]byte, error)
//	DecodeResponse(body []byte) (*format.Response, error)
//	EncodeResponse(r *format.Response) ([]byte, error)
//	NewStreamDecoder() format.StreamDecoder
//	NewStreamEncoder(opts format.StreamOptions) format.StreamEncoder
//
// Same-dialect traffic never comes here: the relay passes it through.
// A conversion is always decode-once, encode-once, never a chain through a
// third dialect, so nothing one dialect lacks is lost on the way between
// two others that share it (thinking signatures, cache control).
package format

import (
	"encoding/json"
	"errors"

	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// ErrInvalid wraps every decode failure caused by the client's or the
// upstream's bytes (as opposed to a bug): callers map it to a 400 for a
// request and to an upstream error for a response.
var ErrInvalid = errors.New("invalid body")

// Role is who wrote a message. Tool results travel in user messages (as
// in Anthropic's and Gemini's dialects); the OpenAI codec splits them into
// role "tool" messages and merges them back.
type Role string

// Message roles.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// PartType is the kind of one piece of message content.
type PartType uint8

// Part types.
const (
	PartText PartType = iota + 1
	PartImage
	PartToolCall
	PartToolResult
	// PartThinking is reasoning the model showed; Signature (Anthropic's
	// signature, Gemini's thoughtSignature) must be sent back unchanged
	// in the next turn for tool use with thinking to continue.
	PartThinking
	// PartRedactedThinking carries Anthropic's encrypted reasoning in Data.
	PartRedactedThinking
)

// Part is one piece of content. Exactly the fields of its Type are set.
type Part struct {
	Type PartType
	// Text is the text of PartText and PartThinking.
	Text string
	// Signature belongs to PartThinking (and may ride on a PartToolCall
	// or PartText in Gemini, whose thoughtSignature can sit on any part).
	Signature string
	// Data is PartRedactedThinking's opaque payload.
	Data       string
	Image      *Image
	ToolCall   *ToolCall
	ToolResult *ToolResult
	// CacheControl is Anthropic's cache_control object, kept verbatim so
	// prompt caching survives a round trip (nil when absent).
	CacheControl json.RawMessage
}

// Image is an input image: a URL, or inline base64 Data with its MediaType.
type Image struct {
	URL       string
	MediaType string // e.g. "image/png"; set with Data
	Data      string // base64, without a "data:" prefix
	Detail    string // OpenAI's "low" / "high" / "auto", when given
}

// ToolCall is a model's request to call a tool.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object text ("{}" when the call has none).
	Arguments string
}

// ToolResult answers a ToolCall.
type ToolResult struct {
	CallID string
	// Name is the called tool's name; Gemini needs it, the other dialects
	// do not send it (decoders fill it from the matching call when they can).
	Name string
	// Content is text and image parts.
	Content []Part
	IsError bool
}

// Message is one turn of the conversation.
type Message struct {
	Role  Role
	Parts []Part
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema object text (nil: no parameters).
	Parameters   json.RawMessage
	CacheControl json.RawMessage
}

// ToolChoiceMode says whether and which tools the model must call.
type ToolChoiceMode uint8

// Tool choice modes.
const (
	ToolChoiceAuto ToolChoiceMode = iota + 1
	ToolChoiceNone
	ToolChoiceRequired // any tool
	ToolChoiceTool     // the tool named in ToolChoice.Name
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
	// DisableParallel is Anthropic's disable_parallel_tool_use and the
	// inverse of OpenAI's parallel_tool_calls.
	DisableParallel bool
}

// Thinking asks for extended reasoning. Dialects express it differently:
// Anthropic and Gemini by a token budget, OpenAI by an effort level;
// encoders translate one into the other (low ≈ 1024, medium ≈ 8192,
// high ≈ 24576 tokens).
type Thinking struct {
	Enabled      bool
	BudgetTokens int
	Effort       string // "minimal", "low", "medium", "high"
}

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	Type   string // "text", "json_object", "json_schema"
	Name   string
	Schema json.RawMessage
	Strict bool
}

// Request is a chat request in no dialect.
type Request struct {
	Model string
	// System is the system prompt as text parts (OpenAI system and
	// developer messages, Anthropic system, Gemini systemInstruction).
	System   []Part
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil when the client left it unset.
	ToolChoice     *ToolChoice
	MaxTokens      int // 0: unset
	Temperature    *float64
	TopP           *float64
	TopK           *int
	Stop           []string
	Stream         bool
	Thinking       *Thinking
	ResponseFormat *ResponseFormat
	// User identifies the end user (OpenAI user, Anthropic
	// metadata.user_id) for the provider's abuse tracking.
	User string
}

// StopReason is why generation ended.
type StopReason uint8

// Stop reasons.
const (
	StopUnknown       StopReason = iota
	StopEnd                      // natural end of turn
	StopLength                   // max tokens reached
	StopToolUse                  // the model called tools
	StopSequence                 // a stop sequence matched
	StopContentFilter            // refused or filtered
)

// Usage is token usage. InputTokens counts every prompt token including
// cached ones (OpenAI's convention); CacheReadTokens and CacheWriteTokens
// say how many of them were read from or written to the prompt cache.
// Anthropic reports input_tokens without the cached ones, so its codec
// adds them when decoding and subtracts them when encoding.
// ReasoningTokens are part of OutputTokens.
type Usage struct {
	InputTokens      int
	OutputTokens     int
	CacheReadTokens  int
	CacheWriteTokens int
	ReasoningTokens  int
}

// Response is a complete (non-stream) answer.
type Response struct {
	ID      string
	Model   string
	Created int64 // unix seconds; 0 lets the encoder use now
	// Content is the assistant's parts in order: thinking, text, tool calls.
	Content      []Part
	StopReason   StopReason
	StopSequence string
	Usage        Usage
}

// EventType is the kind of a stream event.
type EventType uint8

// Stream event types. A stream is: EventStart, then deltas, then
// EventFinish and EventUsage in either order (usage may also come earlier
// and be repeated: each carries the totals so far, the last one wins).
const (
	EventStart EventType = iota + 1
	// EventTextDelta appends Text to the answer's text.
	EventTextDelta
	// EventThinkingDelta appends Text to the reasoning.
	EventThinkingDelta
	// EventSignature sets the current thinking block's Signature.
	EventSignature
	// EventRedactedThinking is a whole redacted thinking block (in Text).
	EventRedactedThinking
	// EventToolCallStart opens tool call Index with its ID and Name.
	EventToolCallStart
	// EventToolArgsDelta appends Text (partial JSON) to tool call Index.
	EventToolArgsDelta
	// EventFinish carries the StopReason (and StopSequence).
	EventFinish
	// EventUsage carries the usage totals so far.
	EventUsage
)

// Event is one stream event in no dialect.
type Event struct {
	Type EventType
	// Index numbers tool calls from 0 in the order they started.
	Index        int
	ID           string // EventStart: message id; EventToolCallStart: call id
	Model        string // EventStart
	Name         string // EventToolCallStart
	Text         string
	Signature    string
	StopReason   StopReason
	StopSequence string
	Usage        *Usage
}

// StreamDecoder turns one upstream dialect's SSE events into Events.
type StreamDecoder interface {
	// Decode appends the events ev carries to dst. done reports the
	// dialect's end-of-stream marker; a non-nil error is one the upstream
	// reported inside the stream (already client-safe), or a malformed
	// event (KindUpstream).
	Decode(ev sse.Event, dst []Event) (out []Event, done bool, err *relayerr.Error)
}

// StreamOptions tunes a stream encoder.
type StreamOptions struct {
	// Model is the model name the client asked for, echoed in every chunk.
	Model string
	// ID is the response id to use when the upstream gave none.
	ID string
	// IncludeUsage: the OpenAI client asked for the usage chunk.
	IncludeUsage bool
}

// StreamEncoder turns Events into one client dialect's SSE bytes. Its
// output is complete SSE framing ("event: …\ndata: …\n\n"), appended to
// dst, ready to write.
type StreamEncoder interface {
	// Encode appends the framing of ev (possibly none, possibly several
	// events: opening a content block, for instance).
	Encode(dst []byte, ev Event) []byte
	// Finish appends what ends the stream in this dialect (closing blocks,
	// the final stop reason and usage, "[DONE]"). Called once, after the
	// upstream's end marker.
	Finish(dst []byte) []byte
}
