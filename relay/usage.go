package relay

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/tokenizer"
)

// countLocally is the fallback when an upstream reports no usage: the
// embedded tokenizer counts the prompt and the generated text.
func countLocally(info *relaycommon.RelayInfo, body []byte, text string) relaycommon.Usage {
	var prompt int
	switch info.Mode {
	case relaycommon.ModeCompletions:
		prompt = tokenizer.CountCompletionsPrompt(info.UpstreamModel, body)
	case relaycommon.ModeEmbeddings:
		prompt = tokenizer.CountEmbeddingInput(info.UpstreamModel, body)
	default:
		prompt = tokenizer.CountChatPrompt(info.UpstreamModel, body)
	}
	completion := 0
	if text != "" {
		completion = tokenizer.CountText(info.UpstreamModel, text)
	}
	return relaycommon.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// gjsonText collects the generated text of a non-stream OpenAI response.
func gjsonText(body []byte) string {
	var sb strings.Builder
	for _, c := range gjson.GetBytes(body, "choices").Array() {
		sb.WriteString(c.Get("message.content").String())
		sb.WriteString(c.Get("text").String())
		for _, tc := range c.Get("message.tool_calls").Array() {
			sb.WriteString(tc.Get("function.arguments").String())
		}
	}
	return sb.String()
}

// logContent is the human summary of how a request was priced. It runs
// once per request, so it is written into one buffer: concatenating
// strconv.FormatFloat's strings made three allocations.
func logContent(p helper.PriceData) string {
	b := make([]byte, 0, 128)
	if p.UsePrice {
		b = appendRatio(append(b, "model price "...), p.ModelPrice)
		b = appendRatio(append(b, ", group ratio "...), p.GroupRatio)
		return string(b)
	}
	b = appendRatio(append(b, "model ratio "...), p.ModelRatio)
	b = appendRatio(append(b, ", completion ratio "...), p.CompletionRatio)
	b = appendRatio(append(b, ", cache ratio "...), p.CacheRatio)
	b = appendRatio(append(b, ", group ratio "...), p.GroupRatio)
	return string(b)
}

// appendRatio writes v as the shortest decimal that reads back as v,
// never in exponent form.
func appendRatio(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', -1, 64) }

// logOther is the machine-readable pricing detail kept in a log's other.
// It runs once per request, so the common (non-media) case is written
// directly rather than through a map and reflection (which cost about 30
// allocations a request); the output is byte-for-byte what json.Marshal
// of the map gives, keys sorted.
func logOther(p helper.PriceData, out *outcome, cost, unpaid int64) string {
	if out.media != nil {
		return logOtherMap(p, out, cost, unpaid)
	}
	source := "upstream"
	if out.estimated {
		source = "local_count"
	}
	b := make([]byte, 0, 320)
	b = appendFloatField(b, '{', "cache_ratio", p.CacheRatio)
	b = appendIntField(b, "cache_write_tokens", int64(out.usage.CacheWriteTokens))
	b = appendIntField(b, "cached_tokens", int64(out.usage.CachedTokens))
	b = appendFloatField(b, ',', "completion_ratio", p.CompletionRatio)
	b = appendIntField(b, "cost", cost)
	b = appendFloatField(b, ',', "create_cache_ratio", p.CreateCacheRatio)
	b = appendFloatField(b, ',', "group_ratio", p.GroupRatio)
	if p.UsePrice {
		b = appendFloatField(b, ',', "model_price", p.ModelPrice)
	}
	b = appendFloatField(b, ',', "model_ratio", p.ModelRatio)
	b = appendIntField(b, "reasoning_tokens", int64(out.usage.ReasoningTokens))
	if out.streamErr != nil {
		b = appendStringField(b, "stream_error", out.streamErr.Message)
	}
	if unpaid > 0 {
		b = appendIntField(b, "unpaid", unpaid)
	}
	b = appendStringField(b, "upstream_model", out.info.UpstreamModel)
	b = appendStringField(b, "usage_source", source)
	b = append(b, '}')
	return string(b)
}

func appendKey(b []byte, sep byte, k string) []byte {
	b = append(b, sep, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendIntField(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, ',', k), v, 10)
}

// appendFloatField writes v as encoding/json does: shortest decimal, with
// an exponent only below 1e-6 or from 1e21 up.
func appendFloatField(b []byte, sep byte, k string, v float64) []byte {
	b = appendKey(b, sep, k)
	f := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		f = 'e'
	}
	b = strconv.AppendFloat(b, v, f, -1, 64)
	if f == 'e' {
		// "1e-07" → "1e-7", as encoding/json prints it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendStringField quotes v with encoding/json's escaping (HTML-safe).
func appendStringField(b []byte, k, v string) []byte {
	b = appendKey(b, ',', k)
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(v)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}

// logOtherMap is logOther for media calls, whose bills add their own keys.
func logOtherMap(p helper.PriceData, out *outcome, cost, unpaid int64) string {
	m := map[string]any{
		"model_ratio": p.ModelRatio, "completion_ratio": p.CompletionRatio, "cache_ratio": p.CacheRatio,
		"group_ratio": p.GroupRatio, "cached_tokens": out.usage.CachedTokens, "cost": cost,
		"cache_write_tokens": out.usage.CacheWriteTokens, "create_cache_ratio": p.CreateCacheRatio,
		"reasoning_tokens": out.usage.ReasoningTokens,
		"upstream_model":   out.info.UpstreamModel, "usage_source": "upstream",
	}
	if p.UsePrice {
		m["model_price"] = p.ModelPrice
	}
	if out.estimated {
		m["usage_source"] = "local_count"
	}
	if out.media != nil {
		out.media.annotate(m)
	}
	if unpaid > 0 {
		m["unpaid"] = unpaid
	}
	if out.streamErr != nil {
		m["stream_error"] = out.streamErr.Message
	}
	b, _ := json.Marshal(m)
	return string(b)
}
