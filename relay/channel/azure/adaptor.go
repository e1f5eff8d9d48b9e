// Package azure is the adaptor for Azure OpenAI (channel type 3): OpenAI's
// dialect at a deployment-shaped URL with an api-version and an api-key
// header. Bodies, responses and streams are OpenAI's, so everything but
// the request line is the OpenAI adaptor's.
package azure

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"

	"sluice/relay/channel"
	"sluice/relay/channel/openai"
	relaycommon "sluice/relay/common"
)

// DefaultAPIVersion is used when the channel's setting names none: the
// newest generally available data-plane version when this was written.
const DefaultAPIVersion = "2024-10-21"

// Adaptor relays to an Azure OpenAI resource.
type Adaptor struct{ openai.Adaptor }

var _ channel.Adaptor = Adaptor{}

// Dialect implements channel.Adaptor: Azure deployments are reached through
// Chat Completions, so Responses clients are converted.
func (Adaptor) Dialect(*relaycommon.RelayInfo) relaycommon.Dialect { return relaycommon.DialectOpenAI }

// URL is the deployment URL for info: the deployment is the (mapped)
// model name, as Azure deployments are usually named after their model.
func URL(info *relaycommon.RelayInfo) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	version := info.Channel.Settings.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	return base + "/openai/deployments/" + url.PathEscape(info.UpstreamModel) + openai.Path(info) +
		"?api-version=" + url.QueryEscape(version)
}

// BuildRequest implements channel.Adaptor.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	body, err := openai.PrepareBody(info, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(info), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The credential first: a channel's own headers may override it.
	if info.Channel.Key != "" {
		req.Header.Set("api-key", info.Channel.Key)
	}
	openai.SetHeaders(req, info)
	return req, nil
}
