// Package gemini is the adaptor for Google's Gemini API on AI Studio
// (channel type 24). Gemini-dialect clients are passed through untouched;
// others are converted by the relay (relay/format) before they get here.
package gemini

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
)

// DefaultBaseURL is the Gemini API's root on AI Studio.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// Adaptor relays to the Gemini API.
type Adaptor struct{}

var _ channel.Adaptor = Adaptor{}

// Dialect implements channel.Adaptor.
func (Adaptor) Dialect(*relaycommon.RelayInfo) relaycommon.Dialect { return relaycommon.DialectGemini }

// ModelPath is the path of a model's generate call below an API root:
// the stream variant asks for SSE, the framing the relay reads (without
// alt=sse the stream is one JSON array). A "models/" prefix, as Google's
// docs write model names, is accepted in a channel's model mapping.
func ModelPath(model string, stream bool) string {
	model = url.PathEscape(strings.TrimPrefix(model, "models/"))
	if stream {
		return "/models/" + model + ":streamGenerateContent?alt=sse"
	}
	return "/models/" + model + ":generateContent"
}

// BuildRequest implements channel.Adaptor. The model travels in the URL,
// so mapping it needs no body change.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiRoot(info)+ModelPath(info.UpstreamModel, info.IsStream),
		bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The credential first: a channel's own headers may override it.
	if info.Channel.Key != "" {
		req.Header.Set("x-goog-api-key", info.Channel.Key)
	}
	SetHeaders(req, info)
	return req, nil
}

// apiRoot is the channel's API root: a base_url already ending in /v1beta
// (or /v1) is used as is, a bare host gets /v1beta.
func apiRoot(info *relaycommon.RelayInfo) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/v1beta") && !strings.HasSuffix(base, "/v1") {
		base += "/v1beta"
	}
	return base
}

// SetHeaders sets the content headers and the channel's extra headers.
func SetHeaders(req *http.Request, info *relaycommon.RelayInfo) {
	channel.SetJSONHeaders(req, info)
	channel.ApplyChannelHeaders(req, info)
}

// ParseResponse implements channel.Adaptor: the body passes through.
func (Adaptor) ParseResponse(_ *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error) {
	if err := channel.CheckJSON(body); err != nil {
		return nil, relaycommon.Usage{}, err
	}
	return body, UsageOf(gjson.GetBytes(body, "usageMetadata")), nil
}

// UsageOf reads Gemini's usageMetadata. Gemini counts the model's thoughts
// apart from the answer; both are output, billed as completion.
func UsageOf(u gjson.Result) relaycommon.Usage {
	if !u.IsObject() {
		return relaycommon.Usage{}
	}
	thoughts := int(u.Get("thoughtsTokenCount").Int())
	in := int(u.Get("promptTokenCount").Int())
	out := int(u.Get("candidatesTokenCount").Int()) + thoughts
	return relaycommon.Usage{PromptTokens: in, CompletionTokens: out, CachedTokens: int(u.Get("cachedContentTokenCount").Int()),
		ReasoningTokens: thoughts, TotalTokens: in + out}
}

// ParseError implements channel.Adaptor.
func (Adaptor) ParseError(status int, body []byte) *relayerr.Error {
	return ErrorFrom(status, body)
}

// ErrorFrom normalises a Google API error
// ({"error":{"code","message","status","details":[{"reason"}]}}).
func ErrorFrom(status int, body []byte) *relayerr.Error {
	e := gjson.GetBytes(body, "error")
	reason := ""
	e.Get("details").ForEach(func(_, d gjson.Result) bool {
		reason = d.Get("reason").String()
		return reason == ""
	})
	if reason == "API_KEY_INVALID" || reason == "API_KEY_SERVICE_BLOCKED" {
		// Google answers a bad key with 400, not 401.
		return relayerr.Upstream(http.StatusUnauthorized, "", reason)
	}
	code := e.Get("status").String()
	return relayerr.Upstream(status, relayerr.Sanitize(e.Get("message").String()), code)
}
