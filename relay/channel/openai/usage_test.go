package openai

import (
	"testing"

	"github.com/tidwall/gjson"

	relaycommon "sluice/relay/common"
)

func TestUsageOfReadsEveryFieldOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want relaycommon.Usage
	}{
		{`{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":5}}`,
			relaycommon.Usage{PromptTokens: 24, CompletionTokens: 20, TotalTokens: 44, CachedTokens: 8, ReasoningTokens: 5}},
		// Of a repeated member the first counts, and of a nested field the
		// first member that holds it: what gjson's path lookups read.
		{`{"prompt_tokens":3,"prompt_tokens":9,"completion_tokens":1,"prompt_tokens_details":null,"prompt_tokens_details":{"cached_tokens":2}}`,
			relaycommon.Usage{PromptTokens: 3, CompletionTokens: 1, CachedTokens: 2}},
		// Embeddings report only a total: it is the prompt.
		{`{"total_tokens":12}`, relaycommon.Usage{PromptTokens: 12, TotalTokens: 12}},
		{`null`, relaycommon.Usage{}},
	} {
		if got := UsageOf(gjson.Parse(tt.in)); got != tt.want {
			t.Errorf("UsageOf(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func BenchmarkUsageOf(b *testing.B) {
	u := gjson.Parse(`{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44,` +
		`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	b.ReportAllocs()
	for b.Loop() {
		if UsageOf(u).PromptTokens != 24 {
			b.Fatal("wrong usage")
		}
	}
}
