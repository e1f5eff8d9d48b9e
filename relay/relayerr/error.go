// Package relayerr is the one error type of the relay: what the client is
// told (status, safe message, machine code), and what the gateway does
// about it (try another channel, disable this one). It renders itself in
// each client format. Internal detail stays in the wrapped cause, which is
// logged and never rendered.
package relayerr

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Kind is the closed set of relay failure classes.
type Kind int

// Kinds of relay failure.
const (
	KindInvalidRequest Kind = iota + 1
	KindUnauthorized
	KindForbidden
	KindQuotaExceeded
	KindRateLimited
	KindNotFound
	KindBodyTooLarge
	KindNoChannel
	KindUpstreamTimeout
	KindUpstream
	KindClientGone
	KindInternal
	// KindUnavailable: the gateway itself cannot take the request now (its
	// charge queue is full while the database is away).
	KindUnavailable
)

// Error is a relay failure. It is a Go error: classify it with errors.As.
type Error struct {
	Kind    Kind
	Status  int    // HTTP status for the client
	Message string // safe to show to the client
	Code    string // machine-readable code (OpenAI's error.code)
	// Retryable says another channel may succeed where this attempt failed.
	Retryable bool
	// DisableChannel says the channel's credential or account is dead.
	DisableChannel bool
	// RetryAfter is how long the upstream asked not to be called again
	// (its Retry-After header); 0 when it did not say.
	RetryAfter time.Duration
	cause      error
}

// Error describes the failure for logs, including the internal cause.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

// Unwrap exposes the internal cause to errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

var defaultStatus = map[Kind]int{
	KindInvalidRequest:  http.StatusBadRequest,
	KindUnauthorized:    http.StatusUnauthorized,
	KindForbidden:       http.StatusForbidden,
	KindQuotaExceeded:   http.StatusTooManyRequests,
	KindRateLimited:     http.StatusTooManyRequests,
	KindNotFound:        http.StatusNotFound,
	KindBodyTooLarge:    http.StatusRequestEntityTooLarge,
	KindNoChannel:       http.StatusServiceUnavailable,
	KindUnavailable:     http.StatusServiceUnavailable,
	KindUpstreamTimeout: http.StatusGatewayTimeout,
	KindUpstream:        http.StatusBadGateway,
	KindClientGone:      499,
	KindInternal:        http.StatusInternalServerError,
}

var defaultCode = map[Kind]string{
	KindInvalidRequest:  "invalid_request",
	KindUnauthorized:    "invalid_api_key",
	KindForbidden:       "forbidden",
	KindQuotaExceeded:   "insufficient_quota",
	KindRateLimited:     "rate_limit_exceeded",
	KindNotFound:        "model_not_found",
	KindBodyTooLarge:    "request_too_large",
	KindNoChannel:       "no_available_channel",
	KindUnavailable:     "service_unavailable",
	KindUpstreamTimeout: "upstream_timeout",
	KindUpstream:        "upstream_error",
	KindClientGone:      "client_closed_request",
	KindInternal:        "internal_error",
}

// New returns an error of kind with a client-safe message.
func New(kind Kind, msg string) *Error {
	return &Error{Kind: kind, Status: defaultStatus[kind], Message: msg, Code: defaultCode[kind]}
}

// Wrap is New with an internal cause kept for logs.
func Wrap(kind Kind, msg string, cause error) *Error {
	e := New(kind, msg)
	e.cause = cause
	return e
}

// WithCode overrides the machine code.
func (e *Error) WithCode(code string) *Error { e.Code = code; return e }

// WithStatus overrides the client status.
func (e *Error) WithStatus(status int) *Error { e.Status = status; return e }

// Retry marks the error as worth another channel.
func (e *Error) Retry() *Error { e.Retryable = true; return e }

// Disable marks the channel as dead (bad key, exhausted account).
func (e *Error) Disable() *Error { e.DisableChannel = true; return e }

// FromTransport classifies a failure to reach or read the upstream: a
// timeout is 504, a cancelled context 499 (the client left), anything else
// (refused, reset, DNS) 502. All are worth another channel except the
// client leaving.
func FromTransport(err error) *Error {
	if errors.Is(err, context.Canceled) {
		return Wrap(KindClientGone, "the client closed the request", err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return Wrap(KindUpstreamTimeout, "the upstream provider timed out", err).Retry()
	}
	return Wrap(KindUpstream, "the upstream provider could not be reached", err).Retry()
}

// Upstream builds the error for an upstream's non-2xx answer. msg is the
// upstream's own message, already stripped of anything secret; it is shown
// only for request errors the client can fix.
func Upstream(status int, msg, code string) *Error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// The channel's credential is rejected: the client can do nothing
		// about it, and the upstream's text may echo part of the key.
		return New(KindUpstream, "the upstream provider rejected the channel's credentials").Retry().Disable()
	case status == http.StatusTooManyRequests:
		if code == "insufficient_quota" || code == "billing_hard_limit_reached" {
			return New(KindUpstream, "the upstream account is out of credit").Retry().Disable()
		}
		return New(KindRateLimited, "the upstream provider is rate limiting; retry later").Retry()
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return New(KindUpstreamTimeout, "the upstream provider timed out").Retry()
	case status >= 500:
		return New(KindUpstream, "the upstream provider failed (status "+strconv.Itoa(status)+")").Retry()
	case status == http.StatusNotFound:
		// Usually "model not found" on this channel; another may have it.
		return upstreamClientError(status, msg, code).Retry()
	default:
		return upstreamClientError(status, msg, code)
	}
}

func upstreamClientError(status int, msg, code string) *Error {
	if msg == "" {
		msg = "the upstream provider refused the request (status " + strconv.Itoa(status) + ")"
	}
	if code == "" {
		code = "upstream_" + strconv.Itoa(status)
	}
	e := New(KindInvalidRequest, msg).WithCode(code)
	e.Status = status
	return e
}

// As extracts a relay error from err, classifying unknown errors as
// internal (with a generic message: internal text never reaches a client).
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(KindInternal, "internal error", err)
}
