// Package channel defines what a provider adaptor is. Each provider lives
// in its own folder below and is registered in relay's one table.
package channel

import (
	"context"
	"io"
	"net/http"

	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// Adaptor turns a client request into a provider request and the
// provider's answer back into the client's format, reporting usage. The
// shared mechanics (sending, retry, SSE scanning, usage fallback) are the
// relay's, not the adaptor's.
type Adaptor interface {
	// Dialect is the body format this channel takes for info's mode. When
	// it differs from the client's, the relay converts the request before
	// BuildRequest and the answer after ParseResponse / the stream decoder.
	Dialect(info *relaycommon.RelayInfo) relaycommon.Dialect
	// BuildRequest builds the upstream request for one attempt; body is
	// already in the adaptor's Dialect.
	BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error)
	// ParseResponse converts a successful non-stream body for the client
	// and reads its usage.
	ParseResponse(info *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error)
	// NewStreamDecoder returns the per-stream state machine.
	NewStreamDecoder(info *relaycommon.RelayInfo) StreamDecoder
	// ParseError normalises a non-2xx upstream answer.
	ParseError(status int, body []byte) *relayerr.Error
}

// StreamDecoder handles one upstream SSE stream, event by event.
type StreamDecoder interface {
	// Decode handles one event. out is what to send to the client (nil to
	// drop the event). done reports the provider's end-of-stream marker.
	// A non-nil err is an error the upstream reported inside the stream.
	Decode(ev sse.Event) (out []byte, done bool, err *relayerr.Error)
	// Usage returns the usage seen so far (nil if none was reported).
	Usage() *relaycommon.Usage
	// Text returns the generated text seen so far, for counting tokens
	// locally when the upstream reports no usage.
	Text() string
}

// TextOverflow is implemented by stream decoders that keep only a bounded
// prefix of the generated text: ExtraBytes is the length of the rest.
type TextOverflow interface {
	ExtraBytes() int
}

// Framed is implemented by stream decoders whose Decode output is complete
// SSE framing (with "event:" lines), written to the client as is; other
// decoders return one event's data, which the relay frames.
type Framed interface {
	Framed()
}

// EndsAtEOF is implemented by stream decoders of dialects without an end
// marker (Gemini, Responses): CompleteAtEOF reports whether the stream
// seen so far is a complete answer, so EOF then is a normal end.
type EndsAtEOF interface {
	CompleteAtEOF() bool
}

// Releaser is implemented by stream decoders holding pooled memory (the
// kept text's blocks). The relay calls Release once it has read the
// stream's usage and text; the decoder is not used afterwards.
type Releaser interface {
	Release()
}

// Finisher is implemented by stream decoders that have closing bytes to
// write after the upstream's end (a converted stream's final events).
type Finisher interface {
	Finish(dst []byte) []byte
}

// EventReader yields one upstream stream's events; sse.Reader is the one
// for SSE upstreams.
type EventReader interface {
	Next() (sse.Event, error)
	// HasEvent reports a complete event already buffered, so the relay
	// can delay a flush without delaying an event.
	HasEvent() bool
	Release()
}

// EventSource is implemented by adaptors whose streams are not SSE (AWS
// Bedrock's binary event stream).
type EventSource interface {
	NewEventReader(body io.Reader) EventReader
}

// ModelLister is implemented by adaptors whose upstream lists its models
// in a shape other than OpenAI's GET /v1/models.
type ModelLister interface {
	ModelsRequest(ctx context.Context, info *relaycommon.RelayInfo) (*http.Request, error)
	ParseModels(body []byte) ([]string, error)
}
