// Package common holds the per-request relay value, RelayInfo, and the
// usage record adaptors report. It knows nothing of HTTP frameworks.
package common

import (
	"time"

	"sluice/model"
)

// Mode is the kind of call being relayed; it picks the upstream path and
// how usage is read.
type Mode int

// Relay modes.
const (
	ModeChatCompletions Mode = iota + 1
	ModeCompletions
	ModeEmbeddings
	// ModeMessages is Anthropic's POST /v1/messages.
	ModeMessages
	// ModeGemini is Gemini's generateContent / streamGenerateContent.
	ModeGemini
	// ModeResponses is OpenAI's POST /v1/responses.
	ModeResponses
	ModeImageGenerations
	ModeImageEdits
	ModeAudioSpeech
	ModeAudioTranscriptions
	ModeAudioTranslations
	ModeModerations
	ModeRerank
	ModeRealtime
)

// Path is the OpenAI path of a mode, relative to the API root.
func (m Mode) Path() string {
	switch m {
	case ModeCompletions:
		return "/completions"
	case ModeEmbeddings:
		return "/embeddings"
	case ModeResponses:
		return "/responses"
	case ModeImageGenerations:
		return "/images/generations"
	case ModeImageEdits:
		return "/images/edits"
	case ModeAudioSpeech:
		return "/audio/speech"
	case ModeAudioTranscriptions:
		return "/audio/transcriptions"
	case ModeAudioTranslations:
		return "/audio/translations"
	case ModeModerations:
		return "/moderations"
	case ModeRerank:
		return "/rerank"
	case ModeRealtime:
		return "/realtime"
	default:
		return "/chat/completions"
	}
}

// Dialect is the wire format of a chat-like call. A request whose client
// dialect differs from the channel's is converted (relay/format); one whose
// dialects match is passed through untouched.
type Dialect uint8

// Dialects.
const (
	DialectOpenAI Dialect = iota + 1 // Chat Completions (and the other OpenAI routes)
	DialectResponses
	DialectAnthropic
	DialectGemini
)

// Dialect is the client's dialect for a mode.
func (m Mode) Dialect() Dialect {
	switch m {
	case ModeMessages:
		return DialectAnthropic
	case ModeGemini:
		return DialectGemini
	case ModeResponses:
		return DialectResponses
	default:
		return DialectOpenAI
	}
}

// Convertible reports whether requests of this mode can be converted to
// another dialect: the chat-like ones. Completions, embeddings and the
// media routes exist only in OpenAI's dialect.
func (m Mode) Convertible() bool {
	return m == ModeChatCompletions || m == ModeMessages || m == ModeGemini || m == ModeResponses
}

// RelayInfo is what one attempt knows about its request. It is built once
// per attempt and not modified afterwards; stream state lives in the
// stream decoder.
type RelayInfo struct {
	RequestID     string
	Mode          Mode
	OriginModel   string // what the client asked for
	UpstreamModel string // after the channel's model mapping
	IsStream      bool
	// ClientWantsUsage: the client asked for stream usage itself, so the
	// usage chunk is forwarded rather than hidden.
	ClientWantsUsage bool
	// Dialect is the body's dialect as sent upstream (after conversion).
	Dialect Dialect
	// ClientHeaders are the client's provider-feature headers forwarded on
	// same-dialect calls (anthropic-version, anthropic-beta); nil if none.
	ClientHeaders map[string]string
	Channel       *model.ChannelView
	UserID        int
	TokenID       int
	Group         string
	StartTime     time.Time
}

// Usage is token usage as reported by an upstream (or counted locally).
type Usage struct {
	// PromptTokens counts every input token, cached ones included.
	PromptTokens     int
	CompletionTokens int
	// CachedTokens of the prompt were read from the provider's cache.
	CachedTokens int
	// CacheWriteTokens of the prompt were written to it (Anthropic).
	CacheWriteTokens int
	// ReasoningTokens are part of CompletionTokens.
	ReasoningTokens int
	TotalTokens     int
}

// Known reports whether the usage carries any figure.
func (u *Usage) Known() bool {
	return u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0 || u.TotalTokens > 0)
}
