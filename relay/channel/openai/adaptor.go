// Package openai is the adaptor for every upstream that speaks OpenAI's
// dialect: OpenAI itself, custom OpenAI-compatible servers (vLLM, LM
// Studio…), Ollama, OpenRouter, Mistral, DeepSeek and xAI. They differ only
// in their default base URL, so they share this one implementation.
package openai

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"sluice/constant"
	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
)

// Adaptor relays OpenAI-dialect requests, passing the client's bytes
// through and patching only the model and stream_options.
type Adaptor struct{}

var _ channel.Adaptor = Adaptor{}

// DefaultBaseURL is the API root used when a channel leaves base_url empty.
func DefaultBaseURL(t constant.ChannelType) string {
	switch t {
	case constant.ChannelTypeOpenAI:
		return "https://api.openai.com"
	case constant.ChannelTypeOllama:
		return "http://localhost:11434"
	case constant.ChannelTypeOpenRouter:
		return "https://openrouter.ai/api"
	case constant.ChannelTypeMistral:
		return "https://api.mistral.ai"
	case constant.ChannelTypeDeepSeek:
		return "https://api.deepseek.com"
	case constant.ChannelTypeXAI:
		return "https://api.x.ai"
	}
	return ""
}

// URL joins a channel's base URL and an OpenAI path. A base already ending
// in /v1 is used as is, so both "https://host" and "https://host/v1" work.
func URL(info *relaycommon.RelayInfo, path string) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL(constant.ChannelType(info.Channel.Type))
	}
	if strings.HasSuffix(base, "/v1") {
		return base + path
	}
	return base + "/v1" + path
}

// Dialect implements channel.Adaptor: OpenAI itself serves the Responses
// API; the compatible servers are reached through Chat Completions, which
// they all speak.
func (Adaptor) Dialect(info *relaycommon.RelayInfo) relaycommon.Dialect {
	if info.Mode == relaycommon.ModeResponses && constant.ChannelType(info.Channel.Type) == constant.ChannelTypeOpenAI {
		return relaycommon.DialectResponses
	}
	return relaycommon.DialectOpenAI
}

// Path is the upstream path for info: a converted chat-like call goes to
// its dialect's endpoint, the other modes to their own.
func Path(info *relaycommon.RelayInfo) string {
	if !info.Mode.Convertible() {
		return info.Mode.Path()
	}
	if info.Dialect == relaycommon.DialectResponses {
		return "/responses"
	}
	return "/chat/completions"
}

// PrepareBody patches a same-dialect body for the upstream: the mapped
// model, and the usage chunk requested on Chat streams.
func PrepareBody(info *relaycommon.RelayInfo, body []byte) ([]byte, error) {
	var err error
	if info.UpstreamModel != info.OriginModel {
		if body, err = peek.SetModel(body, info.UpstreamModel); err != nil {
			return nil, err
		}
	}
	// Usage comes from the upstream's own figures: ask for the usage chunk
	// even when the client did not (it is hidden from such clients). The
	// Responses API always reports usage and refuses stream_options.
	if info.IsStream && info.Dialect != relaycommon.DialectResponses && info.Mode != relaycommon.ModeEmbeddings && !info.ClientWantsUsage {
		if body, err = peek.ForceIncludeUsage(body); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// BuildRequest implements channel.Adaptor.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	body, err := PrepareBody(info, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(info, Path(info)), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The credential first: a channel's own headers may override it.
	if info.Channel.Key != "" {
		req.Header.Set("Authorization", "Bearer "+info.Channel.Key)
	}
	SetHeaders(req, info)
	return req, nil
}

// SetHeaders sets the JSON and accept headers and the channel's own extra
// headers (which may override them).
func SetHeaders(req *http.Request, info *relaycommon.RelayInfo) {
	channel.SetJSONHeaders(req, info)
	channel.ApplyChannelHeaders(req, info)
}

// ParseResponse implements channel.Adaptor: the body passes through as is.
func (Adaptor) ParseResponse(info *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error) {
	if err := channel.CheckJSON(body); err != nil {
		return nil, relaycommon.Usage{}, err
	}
	// Read the usage in place (gjson.GetBytes would copy it): only
	// numbers are kept.
	usage := gjson.Get(unsafe.String(unsafe.SliceData(body), len(body)), "usage")
	if info.Dialect == relaycommon.DialectResponses {
		return body, ResponsesUsageOf(usage), nil
	}
	return body, UsageOf(usage), nil
}

// ResponsesUsageOf reads a Responses API usage object.
func ResponsesUsageOf(u gjson.Result) relaycommon.Usage {
	if !u.IsObject() {
		return relaycommon.Usage{}
	}
	return relaycommon.Usage{
		PromptTokens:     int(u.Get("input_tokens").Int()),
		CompletionTokens: int(u.Get("output_tokens").Int()),
		TotalTokens:      int(u.Get("total_tokens").Int()),
		CachedTokens:     int(u.Get("input_tokens_details.cached_tokens").Int()),
		ReasoningTokens:  int(u.Get("output_tokens_details.reasoning_tokens").Int()),
	}
}

// UsageOf reads an OpenAI usage object (chat, completions or embeddings).
func UsageOf(u gjson.Result) relaycommon.Usage {
	if !u.IsObject() {
		return relaycommon.Usage{}
	}
	// One pass over the object: a lookup per field rescanned it five times.
	// Like those lookups, the first member of a name counts, and for a
	// nested field the first member that holds it.
	var out relaycommon.Usage
	var seen [5]bool
	first := func(i int, dst *int, v gjson.Result) {
		if !seen[i] && v.Exists() {
			*dst, seen[i] = int(v.Int()), true
		}
	}
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			first(0, &out.PromptTokens, v)
		case "completion_tokens":
			first(1, &out.CompletionTokens, v)
		case "total_tokens":
			first(2, &out.TotalTokens, v)
		case "prompt_tokens_details":
			first(3, &out.CachedTokens, v.Get("cached_tokens"))
		case "completion_tokens_details":
			first(4, &out.ReasoningTokens, v.Get("reasoning_tokens"))
		}
		return true
	})
	if out.PromptTokens == 0 && out.CompletionTokens == 0 && out.TotalTokens > 0 {
		out.PromptTokens = out.TotalTokens
	}
	return out
}

// ParseError implements channel.Adaptor.
func (Adaptor) ParseError(status int, body []byte) *relayerr.Error {
	return ErrorFrom(status, body)
}

// ErrorFrom normalises an OpenAI-style error body
// ({"error":{"message","type","code"}}).
func ErrorFrom(status int, body []byte) *relayerr.Error {
	e := gjson.GetBytes(body, "error")
	msg := e.Get("message").String()
	if msg == "" && e.Type == gjson.String {
		msg = e.String()
	}
	code := e.Get("code").String()
	if code == "" {
		code = e.Get("type").String()
	}
	return relayerr.Upstream(status, relayerr.Sanitize(msg), code)
}
