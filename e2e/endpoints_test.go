package e2e

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestEndpoints covers the other OpenAI routes: embeddings and legacy
// completions (both billed from the upstream's usage) and the model list.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	models := []string{"gpt-4o-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small"}
	s.setPrices(t, models...)
	chID := s.createChannel(t, channelSpec{Name: "all", BaseURL: up.URL, Models: "gpt-4o-mini,gpt-3.5-turbo-instruct,text-embedding-3-small"})
	const budget = 1_000_000
	ctx := context.Background()

	t.Run("Embeddings", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		resp, err := s.client(key.Secret).Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("The food was delicious and the waiter...")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != 4 || math.Abs(resp.Data[0].Embedding[0]-0.0023064255) > 1e-6 {
			t.Errorf("embeddings = %s", resp.RawJSON())
		}
		if resp.Usage.PromptTokens != int64(embedUsage.Prompt) {
			t.Errorf("usage.prompt_tokens = %d, want %d", resp.Usage.PromptTokens, embedUsage.Prompt)
		}
		checkForwarded(t, up.lastCall(t), "/v1/embeddings", "text-embedding-3-small")
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(embedUsage), PromptTokens: embedUsage.Prompt,
			Channel: chID, ModelName: "text-embedding-3-small"})
	})

	t.Run("Completions", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		resp, err := s.client(key.Secret).Completions.New(ctx, openai.CompletionNewParams{
			Model:     "gpt-3.5-turbo-instruct",
			Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")},
			MaxTokens: openai.Int(7),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].Text != "\n\nThis is indeed a test" {
			t.Errorf("completion = %s", resp.RawJSON())
		}
		checkForwarded(t, up.lastCall(t), "/v1/completions", "gpt-3.5-turbo-instruct")
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
			CompletionTokens: chatUsage.Completion, Channel: chID, ModelName: "gpt-3.5-turbo-instruct"})
	})

	t.Run("Models", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		c := s.client(key.Secret)
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(models))
		if !slices.Equal(got, want) {
			t.Errorf("GET /v1/models = %v, want exactly the channel's %v", got, want)
		}
		m, err := c.Models.Get(ctx, "gpt-4o-mini")
		if err != nil || m.ID != "gpt-4o-mini" {
			t.Errorf("GET /v1/models/gpt-4o-mini = %+v, %v", m, err)
		}
		_, err = c.Models.Get(ctx, "no-such-model")
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Message == "" {
			t.Errorf("GET /v1/models/no-such-model: %v, want a 404 OpenAI error", err)
		}
	})

	t.Run("ModelsRespectKeyLimits", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget, ModelLimitsEnabled: true, ModelLimits: "gpt-4o-mini"})
		page, err := s.client(key.Secret).Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "gpt-4o-mini" {
			t.Errorf("a key limited to gpt-4o-mini lists %s", page.RawJSON())
		}
	})
}
