package e2e

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// TestRetry checks failover between channels: a failed attempt is retried
// on the next channel, a channel whose key the upstream rejects is
// auto-disabled, and RetryTimes 0 turns failover off. The subtests run in
// order: the last one changes a global option.
func TestRetry(t *testing.T) {
	t.Parallel()
	s := startSluice(t, options{})
	s.setPrices(t, "retry-model", "retry-stream-model", "ban-model", "noretry-model")
	const budget = 1_000_000
	ctx := context.Background()

	t.Run("5xxFailsOverToLowerPriority", func(t *testing.T) {
		failing, healthy := newUpstream(t, behaviour{Status: http.StatusInternalServerError}), newUpstream(t, behaviour{})
		idA := s.createChannel(t, channelSpec{Name: "A", BaseURL: failing.URL, Models: "retry-model", Priority: 10})
		idB := s.createChannel(t, channelSpec{Name: "B", BaseURL: healthy.URL, Models: "retry-model", Priority: 0})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		resp, err := s.client(key.Secret).Chat.Completions.New(ctx, hello("retry-model"))
		if err != nil {
			t.Fatalf("the client saw the failed attempt: %v", err)
		}
		if resp.Choices[0].Message.Content == "" {
			t.Errorf("empty answer: %s", resp.RawJSON())
		}
		if a, b := len(failing.Calls()), len(healthy.Calls()); a != 1 || b != 1 {
			t.Errorf("calls: A (priority 10) %d, B %d; want 1 each", a, b)
		}
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
			CompletionTokens: chatUsage.Completion, Channel: idB, ModelName: "retry-model"})
		if st := s.channelStatus(t, idA); st != 1 {
			t.Errorf("a channel answering 500 was disabled (status %d): only credential failures should do that", st)
		}
	})

	t.Run("5xxFailsOverBeforeAStreamStarts", func(t *testing.T) {
		failing, healthy := newUpstream(t, behaviour{Status: http.StatusServiceUnavailable}), newUpstream(t, behaviour{})
		s.createChannel(t, channelSpec{Name: "A2", BaseURL: failing.URL, Models: "retry-stream-model", Priority: 10})
		idB := s.createChannel(t, channelSpec{Name: "B2", BaseURL: healthy.URL, Models: "retry-stream-model", Priority: 0})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		stream := s.client(key.Secret).Chat.Completions.NewStreaming(ctx, hello("retry-stream-model"))
		var text strings.Builder
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				text.WriteString(c.Delta.Content)
			}
		}
		if err := stream.Err(); err != nil || text.String() != streamText(3) {
			t.Fatalf("stream: %q, %v; want %q from the second channel", text.String(), err, streamText(3))
		}
		if a, b := len(failing.Calls()), len(healthy.Calls()); a != 1 || b != 1 {
			t.Errorf("calls: A2 %d, B2 %d; want 1 each", a, b)
		}
		if l := s.waitConsumeLogs(t, key.Name, 1)[0]; l.Channel != idB || l.Quota != cost(chatUsage) {
			t.Errorf("consume log = %+v, want %d on channel %d", l, cost(chatUsage), idB)
		}
	})

	t.Run("401AutoDisablesTheChannel", func(t *testing.T) {
		rejecting, healthy := newUpstream(t, behaviour{Status: http.StatusUnauthorized}), newUpstream(t, behaviour{})
		idC := s.createChannel(t, channelSpec{Name: "C", BaseURL: rejecting.URL, Models: "ban-model", Priority: 10})
		idD := s.createChannel(t, channelSpec{Name: "D", BaseURL: healthy.URL, Models: "ban-model", Priority: 0})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		c := s.client(key.Secret)
		if _, err := c.Chat.Completions.New(ctx, hello("ban-model")); err != nil {
			t.Fatalf("the client saw the rejected attempt: %v", err)
		}
		var status int
		eventually(t, 5*time.Second, func() bool {
			status = s.channelStatus(t, idC)
			return status == 3
		}, func() string {
			return "channel C's status is still " + strconv.Itoa(status) + ", want 3 (auto-disabled)"
		})
		// Disabled, C is no longer tried.
		if _, err := c.Chat.Completions.New(ctx, hello("ban-model")); err != nil {
			t.Fatal(err)
		}
		if n := len(rejecting.Calls()); n != 1 {
			t.Errorf("the auto-disabled channel was called %d times, want 1", n)
		}
		for _, l := range s.waitConsumeLogs(t, key.Name, 2) {
			if l.Channel != idD {
				t.Errorf("consume log on channel %d, want %d", l.Channel, idD)
			}
		}
	})

	t.Run("RetryTimes0", func(t *testing.T) {
		failing, healthy := newUpstream(t, behaviour{Status: http.StatusInternalServerError}), newUpstream(t, behaviour{})
		s.createChannel(t, channelSpec{Name: "E", BaseURL: failing.URL, Models: "noretry-model", Priority: 10})
		s.createChannel(t, channelSpec{Name: "F", BaseURL: healthy.URL, Models: "noretry-model", Priority: 0})
		s.setOption(t, "RetryTimes", "0")
		t.Cleanup(func() { s.setOption(t, "RetryTimes", "2") })
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		_, err := s.client(key.Secret).Chat.Completions.New(ctx, hello("noretry-model"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
			t.Fatalf("err = %v, want a 502", err)
		}
		checkOpenAIError(t, []byte(`{"error":`+apiErr.RawJSON()+`}`), "upstream_error", failing)
		if n := len(healthy.Calls()); n != 0 {
			t.Errorf("with RetryTimes 0 the second channel was still called %d times", n)
		}
		if kb := s.keyBalance(t, key.ID); kb.RemainQuota != budget || kb.UsedQuota != 0 {
			t.Errorf("a failed request changed the key's balance: %+v", kb)
		}
		if ub := s.userBalance(t); ub != before {
			t.Errorf("a failed request changed the user's balance from %+v to %+v", before, ub)
		}
	})
}
