// Package vertex is the adaptor for Google Vertex AI (channel type 41):
// Gemini models in Gemini's dialect and Anthropic's Claude models in the
// Messages dialect, both behind a service account's OAuth token. Bodies,
// responses and streams are the Gemini or Anthropic adaptor's; what is
// Vertex's own is the URL, the token (token.go) and the Claude body's
// anthropic_version.
package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"sluice/relay/channel"
	"sluice/relay/channel/anthropic"
	"sluice/relay/channel/gemini"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
)

// AnthropicVersion is the anthropic_version Vertex requires in the body of
// a Claude call.
const AnthropicVersion = "vertex-2023-10-16"

// DefaultRegion is used when the channel's setting names none.
const DefaultRegion = "us-central1"

// Adaptor relays to Vertex AI.
type Adaptor struct{}

var _ channel.Adaptor = Adaptor{}

// IsClaude reports whether a Vertex model is Anthropic's (published under
// publishers/anthropic, spoken to in the Messages dialect).
func IsClaude(model string) bool {
	return len(model) >= 6 && strings.EqualFold(model[:6], "claude")
}

// Dialect implements channel.Adaptor.
func (Adaptor) Dialect(info *relaycommon.RelayInfo) relaycommon.Dialect {
	if IsClaude(info.UpstreamModel) {
		return relaycommon.DialectAnthropic
	}
	return relaycommon.DialectGemini
}

// serviceAccount is what the adaptor reads of a service-account key; raw
// is the key's text, handed to the OAuth library as is.
type serviceAccount struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	PrivateKey  string `json:"private_key"`
	ClientEmail string `json:"client_email"`
	TokenURI    string `json:"token_uri"`
	raw         []byte
}

// parseKey validates a channel key holding a Google service-account JSON
// key, so a wrong paste fails with a message naming what is missing
// rather than at the token endpoint.
func parseKey(key string) (*serviceAccount, error) {
	raw := []byte(strings.TrimSpace(key))
	sa := &serviceAccount{raw: raw}
	if err := json.Unmarshal(raw, sa); err != nil {
		return nil, errors.New("vertex: the channel key must be a service-account JSON key (it is not valid JSON)")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"project_id", sa.ProjectID}, {"private_key", sa.PrivateKey}, {"client_email", sa.ClientEmail}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	switch {
	case sa.Type != "service_account":
		return nil, errors.New(`vertex: the channel key must be a service-account JSON key ("type": "service_account")`)
	case len(missing) > 0:
		return nil, errors.New("vertex: the service-account key lacks " + strings.Join(missing, ", "))
	}
	if sa.TokenURI != "" {
		if u, err := url.Parse(sa.TokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("vertex: the service-account key's token_uri is not an http(s) URL")
		}
	}
	return sa, nil
}

// Region is the channel's region, DefaultRegion when unset.
func Region(info *relaycommon.RelayInfo) (string, error) {
	r := strings.TrimSpace(info.Channel.Settings.Region)
	if r == "" {
		return DefaultRegion, nil
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			// The region becomes part of the host name.
			return "", errors.New("vertex: the region must look like us-central1 or global")
		}
	}
	return r, nil
}

// URL is the model call URL for info. The host is the regional endpoint
// (the global one for region "global") unless the channel's base URL
// replaces it.
func URL(info *relaycommon.RelayInfo, project, region string) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	if base == "" {
		if region == "global" {
			base = "https://aiplatform.googleapis.com"
		} else {
			base = "https://" + region + "-aiplatform.googleapis.com"
		}
	}
	publisher, method := "google", ":generateContent"
	switch {
	case IsClaude(info.UpstreamModel) && info.IsStream:
		publisher, method = "anthropic", ":streamRawPredict"
	case IsClaude(info.UpstreamModel):
		publisher, method = "anthropic", ":rawPredict"
	case info.IsStream:
		method = ":streamGenerateContent?alt=sse"
	}
	return base + "/v1/projects/" + url.PathEscape(project) + "/locations/" + region +
		"/publishers/" + publisher + "/models/" + url.PathEscape(info.UpstreamModel) + method
}

// BuildRequest implements channel.Adaptor.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	sa, err := parseKey(info.Channel.Key)
	if err != nil {
		return nil, err
	}
	region, err := Region(info)
	if err != nil {
		return nil, err
	}
	claude := IsClaude(info.UpstreamModel)
	if claude {
		body, err = claudeBody(body)
	} else {
		body, err = geminiBody(body)
	}
	if err != nil {
		return nil, err
	}
	token, err := accessToken(info.Channel.ID, sa)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(info, sa.ProjectID, region), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if info.IsStream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if beta := info.ClientHeaders["anthropic-beta"]; claude && beta != "" {
		req.Header.Set("anthropic-beta", beta)
	}
	for k, v := range info.Channel.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}

// claudeBody turns an Anthropic Messages body into Vertex's: the model is
// in the URL and anthropic_version is Vertex's. stream stays: it is what
// makes streamRawPredict stream.
func claudeBody(body []byte) ([]byte, error) {
	var err error
	if gjson.GetBytes(body, "model").Exists() {
		if body, err = sjson.DeleteBytes(body, "model"); err != nil {
			return nil, err
		}
	}
	return sjson.SetBytes(body, "anthropic_version", AnthropicVersion)
}

// geminiBody passes a Gemini body through, giving a role to contents that
// lack one: AI Studio reads a missing role as "user", Vertex refuses it.
func geminiBody(body []byte) ([]byte, error) {
	var err error
	i := 0
	gjson.GetBytes(body, "contents").ForEach(func(_, c gjson.Result) bool {
		if c.IsObject() && !c.Get("role").Exists() {
			body, err = sjson.SetBytes(body, "contents."+strconv.Itoa(i)+".role", "user")
		}
		i++
		return err == nil
	})
	return body, err
}

// ParseResponse implements channel.Adaptor: Anthropic's message JSON for
// Claude, Gemini's response otherwise.
func (Adaptor) ParseResponse(info *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error) {
	if IsClaude(info.UpstreamModel) {
		return anthropic.Adaptor{}.ParseResponse(info, body)
	}
	return gemini.Adaptor{}.ParseResponse(info, body)
}

// NewStreamDecoder implements channel.Adaptor: both publishers stream SSE,
// each in its own dialect.
func (Adaptor) NewStreamDecoder(info *relaycommon.RelayInfo) channel.StreamDecoder {
	if IsClaude(info.UpstreamModel) {
		return anthropic.Adaptor{}.NewStreamDecoder(info)
	}
	return gemini.Adaptor{}.NewStreamDecoder(info)
}

// ParseError implements channel.Adaptor.
func (Adaptor) ParseError(status int, body []byte) *relayerr.Error {
	return ErrorFrom(status, body)
}

// ErrorFrom normalises a Vertex error. Claude's own errors come in
// Anthropic's shape ({"type":"error","error":{"type","message"}}); the
// rest, including everything Google's front end refuses for Claude too
// (credentials, quota, unknown model), in Google's
// ({"error":{"code","message","status"}}), sometimes wrapped in a
// one-element array.
func ErrorFrom(status int, body []byte) *relayerr.Error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if first := gjson.GetBytes(trimmed, "0"); first.IsObject() {
			trimmed = []byte(first.Raw)
		}
	}
	root := gjson.ParseBytes(trimmed)
	var e *relayerr.Error
	if root.Get("type").String() == "error" && root.Get("error.type").Type == gjson.String {
		e = anthropic.ErrorFrom(status, trimmed)
	} else {
		e = gemini.ErrorFrom(status, trimmed)
	}
	e.Message = Redact(e.Message)
	return e
}

var (
	projectPattern = regexp.MustCompile(`\bprojects/[^/\s"'` + "`" + `]+`)
	accountPattern = regexp.MustCompile(`[\w.+-]+@[\w-]+\.iam\.gserviceaccount\.com`)
)

// Redact hides the channel's Google project and service account in a
// message a client may see: Vertex names resources by their full path
// ("Publisher Model projects/<id>/locations/... not found").
func Redact(msg string) string {
	msg = projectPattern.ReplaceAllString(msg, "projects/[redacted]")
	return accountPattern.ReplaceAllString(msg, "[redacted-account]")
}
