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
)

// Path is the OpenAI path of a mode, relative to the API root.
func (m Mode) Path() string {
	switch m {
	case ModeCompletions:
		return "/completions"
	case ModeEmbeddings:
		return "/embeddings"
	default:
		return "/chat/completions"
	}
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
	Channel          *model.ChannelView
	UserID           int
	TokenID          int
	Group            string
	StartTime        time.Time
}

// Usage is token usage as reported by an upstream (or counted locally).
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int
	TotalTokens      int
}

// Known reports whether the usage carries any figure.
func (u *Usage) Known() bool {
	return u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0 || u.TotalTokens > 0)
}
