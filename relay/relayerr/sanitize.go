package relayerr

import (
	"regexp"
	"strings"
)

// Upstream messages can echo the channel's base URL, part of its key, or
// an internal host; none of that may reach a client.
var (
	urlPattern = regexp.MustCompile(`(?i)\b(?:https?|wss?)://[^\s"'<>()\[\],]+`)
	keyPattern = regexp.MustCompile(`\b(?:sk|key|AIza|xai|gsk|pk)[-_][A-Za-z0-9_\-\*\.]{6,}`)
	ipPattern  = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b`)
)

// Sanitize strips URLs, key-like strings and IP addresses from an upstream
// message and bounds its length.
func Sanitize(msg string) string {
	msg = urlPattern.ReplaceAllString(msg, "[redacted-url]")
	msg = keyPattern.ReplaceAllString(msg, "[redacted-key]")
	msg = ipPattern.ReplaceAllString(msg, "[redacted-host]")
	msg = strings.TrimSpace(msg)
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// Redact removes each secret (the channel's key, its base URL and host)
// verbatim from the client-facing message. Sanitize catches secrets by
// shape; this catches the ones whose shape nobody could guess.
func (e *Error) Redact(secrets ...string) *Error {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(e.Message, sec) {
			e.Message = strings.ReplaceAll(e.Message, sec, "[redacted]")
		}
	}
	return e
}
