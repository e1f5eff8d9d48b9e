package relay

import (
	"encoding/json"
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

func ff(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// logContent is the human summary of how a request was priced.
func logContent(p helper.PriceData) string {
	if p.UsePrice {
		return "model price " + ff(p.ModelPrice) + ", group ratio " + ff(p.GroupRatio)
	}
	return "model ratio " + ff(p.ModelRatio) + ", completion ratio " + ff(p.CompletionRatio) +
		", cache ratio " + ff(p.CacheRatio) + ", group ratio " + ff(p.GroupRatio)
}

// logOther is the machine-readable pricing detail kept in a log's other.
func logOther(p helper.PriceData, out *outcome, cost, unpaid int64) string {
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
	if unpaid > 0 {
		m["unpaid"] = unpaid
	}
	if out.streamErr != nil {
		m["stream_error"] = out.streamErr.Message
	}
	b, _ := json.Marshal(m)
	return string(b)
}
