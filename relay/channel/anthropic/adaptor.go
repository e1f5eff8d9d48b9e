// Package anthropic is the adaptor for Anthropic's Messages API (channel
// type 14). Anthropic-dialect clients are passed through untouched; others
// are converted by the relay (relay/format) before they get here.
package anthropic

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
)

// DefaultBaseURL is Anthropic's API root.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultVersion is the anthropic-version sent when the client named none.
const DefaultVersion = "2023-06-01"

// Adaptor relays to Anthropic.
type Adaptor struct{}

var _ channel.Adaptor = Adaptor{}

// Dialect implements channel.Adaptor.
func (Adaptor) Dialect(*relaycommon.RelayInfo) relaycommon.Dialect {
	return relaycommon.DialectAnthropic
}

// BuildRequest implements channel.Adaptor.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	var err error
	if info.UpstreamModel != info.OriginModel {
		if body, err = peek.SetModel(body, info.UpstreamModel); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiRoot(info)+"/messages", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The credential first: a channel's own headers may override it.
	if info.Channel.Key != "" {
		req.Header.Set("x-api-key", info.Channel.Key)
	}
	SetHeaders(req, info)
	return req, nil
}

// apiRoot is the channel's API root ending in /v1: a base_url given with
// or without it works.
func apiRoot(info *relaycommon.RelayInfo) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	return base
}

// SetHeaders sets the content headers, the API version (the client's own
// on a same-dialect call, so beta features it negotiated keep working) and
// the channel's extra headers.
func SetHeaders(req *http.Request, info *relaycommon.RelayInfo) {
	channel.SetJSONHeaders(req, info)
	version := info.ClientHeaders["anthropic-version"]
	if version == "" {
		version = DefaultVersion
	}
	req.Header.Set("anthropic-version", version)
	if beta := info.ClientHeaders["anthropic-beta"]; beta != "" {
		req.Header.Set("anthropic-beta", beta)
	}
	channel.ApplyChannelHeaders(req, info)
}

// ParseResponse implements channel.Adaptor: the body passes through.
func (Adaptor) ParseResponse(_ *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error) {
	if err := channel.CheckJSON(body); err != nil {
		return nil, relaycommon.Usage{}, err
	}
	return body, UsageOf(gjson.GetBytes(body, "usage")), nil
}

// UsageOf reads an Anthropic usage object. Anthropic's input_tokens leaves
// out the tokens read from or written to the prompt cache; the gateway's
// prompt count includes them, with each part priced by its own ratio.
func UsageOf(u gjson.Result) relaycommon.Usage {
	if !u.IsObject() {
		return relaycommon.Usage{}
	}
	read := int(u.Get("cache_read_input_tokens").Int())
	write := int(u.Get("cache_creation_input_tokens").Int())
	in := int(u.Get("input_tokens").Int()) + read + write
	out := int(u.Get("output_tokens").Int())
	return relaycommon.Usage{PromptTokens: in, CompletionTokens: out, CachedTokens: read, CacheWriteTokens: write,
		TotalTokens: in + out}
}

// ParseError implements channel.Adaptor.
func (Adaptor) ParseError(status int, body []byte) *relayerr.Error {
	return ErrorFrom(status, body)
}

// ErrorFrom normalises an Anthropic error body
// ({"type":"error","error":{"type","message"}}).
func ErrorFrom(status int, body []byte) *relayerr.Error {
	typ := gjson.GetBytes(body, "error.type").String()
	msg := gjson.GetBytes(body, "error.message").String()
	switch {
	case status == 529 || typ == "overloaded_error":
		// Anthropic's own "overloaded" status: transient, another channel
		// may answer.
		return relayerr.New(relayerr.KindUpstream, "the upstream provider is overloaded").Retry()
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "credit balance"):
		// An exhausted account answers 400, not 402 or 429: the channel can
		// serve nobody until it is topped up.
		return relayerr.New(relayerr.KindUpstream, "the upstream account is out of credit").Retry().Disable()
	}
	return relayerr.Upstream(status, relayerr.Sanitize(msg), typ)
}
