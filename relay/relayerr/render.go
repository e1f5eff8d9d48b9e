package relayerr

import "encoding/json"

// Format is the client dialect an error is rendered in.
type Format int

// Client formats.
const (
	FormatOpenAI Format = iota
	FormatAnthropic
	FormatGemini
)

// openAIType is OpenAI's error.type for a kind.
func (e *Error) openAIType() string {
	switch e.Kind {
	case KindInvalidRequest, KindNotFound, KindBodyTooLarge:
		return "invalid_request_error"
	case KindUnauthorized:
		return "authentication_error"
	case KindForbidden:
		return "permission_error"
	case KindQuotaExceeded:
		return "insufficient_quota"
	case KindRateLimited:
		return "rate_limit_error"
	case KindInternal:
		return "server_error"
	default:
		return "upstream_error"
	}
}

func (e *Error) anthropicType() string {
	switch e.Kind {
	case KindInvalidRequest, KindBodyTooLarge:
		return "invalid_request_error"
	case KindUnauthorized:
		return "authentication_error"
	case KindForbidden, KindQuotaExceeded:
		return "permission_error"
	case KindNotFound, KindNoChannel:
		return "not_found_error"
	case KindRateLimited:
		return "rate_limit_error"
	case KindUpstreamTimeout, KindUpstream:
		return "api_error"
	case KindUnavailable:
		return "overloaded_error"
	default:
		return "api_error"
	}
}

func (e *Error) geminiStatus() string {
	switch e.Kind {
	case KindInvalidRequest, KindBodyTooLarge:
		return "INVALID_ARGUMENT"
	case KindUnauthorized:
		return "UNAUTHENTICATED"
	case KindForbidden:
		return "PERMISSION_DENIED"
	case KindQuotaExceeded, KindRateLimited:
		return "RESOURCE_EXHAUSTED"
	case KindNotFound:
		return "NOT_FOUND"
	case KindNoChannel, KindUpstream, KindUnavailable:
		return "UNAVAILABLE"
	case KindUpstreamTimeout:
		return "DEADLINE_EXCEEDED"
	default:
		return "INTERNAL"
	}
}

// Body renders the error in a client format.
func (e *Error) Body(f Format) []byte {
	var v any
	switch f {
	case FormatAnthropic:
		v = map[string]any{"type": "error", "error": map[string]any{"type": e.anthropicType(), "message": e.Message}}
	case FormatGemini:
		v = map[string]any{"error": map[string]any{"code": e.Status, "message": e.Message, "status": e.geminiStatus()}}
	default:
		v = map[string]any{"error": map[string]any{"message": e.Message, "type": e.openAIType(), "param": nil, "code": e.Code}}
	}
	b, _ := json.Marshal(v)
	return b
}

// ResponsesEvent renders the error as the Responses API's stream "error"
// event.
func (e *Error) ResponsesEvent() []byte {
	code := e.Code
	if code == "" {
		code = e.openAIType()
	}
	b, _ := json.Marshal(map[string]any{"type": "error", "code": code, "message": e.Message, "param": nil})
	return b
}
