package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

func hello(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello!")},
	}
}

// checkForwarded asserts what every call sluice makes upstream carries: the
// channel's key (never the client's) and the model after mapping.
func checkForwarded(t *testing.T, call upstreamCall, path, model string) {
	t.Helper()
	if call.Path != path {
		t.Errorf("upstream path = %q, want %q", call.Path, path)
	}
	if got := call.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
		t.Errorf("upstream Authorization = %q, want the channel key", got)
	}
	var got string
	if err := json.Unmarshal(call.field(t, "model"), &got); err != nil || got != model {
		t.Errorf("upstream model = %s, want %q", call.field(t, "model"), model)
	}
}

// checkCharged asserts the request's one consume log and that the key and
// the user paid exactly its quota. userBefore is root's balance before.
func checkCharged(t *testing.T, s *sluice, key apiKey, keyBudget int64, userBefore userBalance, want consumeLog) {
	t.Helper()
	logs := s.waitConsumeLogs(t, key.Name, 1)
	if len(logs) != 1 {
		t.Fatalf("%d consume logs, want 1: %+v", len(logs), logs)
	}
	got := logs[0]
	if got.Quota != want.Quota || got.PromptTokens != want.PromptTokens || got.CompletionTokens != want.CompletionTokens ||
		got.Channel != want.Channel || got.ModelName != want.ModelName || got.IsStream != want.IsStream {
		t.Errorf("consume log = %+v,\nwant quota %d, tokens %d/%d, channel %d, model %q, stream %v", got,
			want.Quota, want.PromptTokens, want.CompletionTokens, want.Channel, want.ModelName, want.IsStream)
	}
	kb := s.keyBalance(t, key.ID)
	if kb.RemainQuota != keyBudget-want.Quota || kb.UsedQuota != want.Quota {
		t.Errorf("key remain/used = %d/%d, want %d/%d", kb.RemainQuota, kb.UsedQuota, keyBudget-want.Quota, want.Quota)
	}
	ub := s.userBalance(t)
	if paid := userBefore.Quota - ub.Quota; paid != want.Quota {
		t.Errorf("the user paid %d, want %d", paid, want.Quota)
	}
}

// TestChat covers chat completions end to end: plain, streamed with and
// without usage, tools, model mapping and the admin channel pin. The
// subtests share one sluice and run in order, since each checks the
// user's balance.
func TestChat(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "gpt-4o-mini", "alias", "real", "pin-model")
	chID := s.createChannel(t, channelSpec{Name: "main", BaseURL: up.URL, Models: "gpt-4o-mini"})
	const budget = 1_000_000
	ctx := context.Background()

	t.Run("NonStream", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		resp, err := s.client(key.Secret).Chat.Completions.New(ctx, hello("gpt-4o-mini"))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Hello! How can I assist you today?" {
			t.Errorf("content = %q", got)
		}
		if resp.Usage.PromptTokens != int64(chatUsage.Prompt) || resp.Usage.CompletionTokens != int64(chatUsage.Completion) {
			t.Errorf("usage = %d/%d, want the upstream's %+v", resp.Usage.PromptTokens, resp.Usage.CompletionTokens, chatUsage)
		}
		checkForwarded(t, up.lastCall(t), "/v1/chat/completions", "gpt-4o-mini")
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
			CompletionTokens: chatUsage.Completion, Channel: chID, ModelName: "gpt-4o-mini"})
	})

	for _, clientWantsUsage := range []bool{false, true} {
		t.Run("Stream/include_usage="+strconv.FormatBool(clientWantsUsage), func(t *testing.T) {
			key := s.createKey(t, keySpec{RemainQuota: budget})
			before := s.userBalance(t)
			params := hello("gpt-4o-mini")
			if clientWantsUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			stream := s.client(key.Secret).Chat.Completions.NewStreaming(ctx, params)
			var text strings.Builder
			var usageChunks []openai.ChatCompletionChunk
			for stream.Next() {
				chunk := stream.Current()
				if len(chunk.Choices) == 0 || chunk.Usage.TotalTokens > 0 {
					usageChunks = append(usageChunks, chunk)
				}
				for _, c := range chunk.Choices {
					text.WriteString(c.Delta.Content)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if text.String() != streamText(3) {
				t.Errorf("streamed text = %q, want %q", text.String(), streamText(3))
			}
			switch {
			case !clientWantsUsage && len(usageChunks) > 0:
				t.Errorf("a client that did not ask for usage received a usage chunk: %s", usageChunks[0].RawJSON())
			case clientWantsUsage && len(usageChunks) != 1:
				t.Errorf("the client asked for usage and received %d usage chunks, want 1", len(usageChunks))
			case clientWantsUsage:
				u := usageChunks[0]
				if len(u.Choices) != 0 || u.Usage.PromptTokens != int64(chatUsage.Prompt) || u.Usage.CompletionTokens != int64(chatUsage.Completion) {
					t.Errorf("usage chunk = %s, want choices [] and the upstream's usage %+v", u.RawJSON(), chatUsage)
				}
			}
			call := up.lastCall(t)
			checkForwarded(t, call, "/v1/chat/completions", "gpt-4o-mini")
			var opts struct {
				IncludeUsage bool `json:"include_usage"`
			}
			if err := json.Unmarshal(call.field(t, "stream_options"), &opts); err != nil || !opts.IncludeUsage {
				t.Errorf("upstream stream_options = %s, want include_usage true", call.field(t, "stream_options"))
			}
			checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
				CompletionTokens: chatUsage.Completion, Channel: chID, ModelName: "gpt-4o-mini", IsStream: true})
		})
	}

	t.Run("Tools", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		params := hello("gpt-4o-mini")
		params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather like in Boston today?")}
		params.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:        "get_current_weather",
			Description: openai.String("Get the current weather in a given location"),
			Parameters: openai.FunctionParameters{
				"type": "object",
				"properties": map[string]any{
					"location": map[string]any{"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
					"unit":     map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
				},
				"required": []string{"location"},
			},
		})}
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")}
		params.SetExtraFields(map[string]any{"x_custom": map[string]any{"a": 1}})
		resp, err := s.client(key.Secret).Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		choice := resp.Choices[0]
		if choice.FinishReason != "tool_calls" || len(choice.Message.ToolCalls) != 1 {
			t.Fatalf("finish_reason %q with %d tool calls, want tool_calls with 1", choice.FinishReason, len(choice.Message.ToolCalls))
		}
		call := choice.Message.ToolCalls[0]
		if call.ID != "call_abc123" || call.Function.Name != "get_current_weather" || !strings.Contains(call.Function.Arguments, "Boston, MA") {
			t.Errorf("tool call = %s", call.RawJSON())
		}

		sent, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		var client map[string]json.RawMessage
		if err := json.Unmarshal(sent, &client); err != nil {
			t.Fatal(err)
		}
		got := up.lastCall(t)
		checkForwarded(t, got, "/v1/chat/completions", "gpt-4o-mini")
		for _, f := range []string{"tools", "tool_choice", "messages"} {
			if !jsonEqual(t, got.field(t, f), client[f]) {
				t.Errorf("upstream %s = %s,\nclient sent %s", f, got.field(t, f), client[f])
			}
		}
		if x := got.field(t, "x_custom"); x == nil || !jsonEqual(t, x, []byte(`{"a":1}`)) {
			t.Errorf("upstream x_custom = %s, want the client's {\"a\":1}", x)
		}
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
			CompletionTokens: chatUsage.Completion, Channel: chID, ModelName: "gpt-4o-mini"})
	})

	t.Run("ModelMapping", func(t *testing.T) {
		mapped := newUpstream(t, behaviour{})
		mapID := s.createChannel(t, channelSpec{Name: "mapped", BaseURL: mapped.URL, Models: "alias",
			ModelMapping: `{"alias":"real"}`})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		before := s.userBalance(t)
		if _, err := s.client(key.Secret).Chat.Completions.New(ctx, hello("alias")); err != nil {
			t.Fatal(err)
		}
		checkForwarded(t, mapped.lastCall(t), "/v1/chat/completions", "real")
		checkCharged(t, s, key, budget, before, consumeLog{Quota: cost(chatUsage), PromptTokens: chatUsage.Prompt,
			CompletionTokens: chatUsage.Completion, Channel: mapID, ModelName: "alias"})
	})

	t.Run("ChannelPin", func(t *testing.T) {
		upA, upB := newUpstream(t, behaviour{}), newUpstream(t, behaviour{})
		idA := s.createChannel(t, channelSpec{Name: "pin-a", BaseURL: upA.URL, Models: "pin-model"})
		idB := s.createChannel(t, channelSpec{Name: "pin-b", BaseURL: upB.URL, Models: "pin-model"})
		key := s.createKey(t, keySpec{RemainQuota: budget})
		// Both channels have the same priority and weight: unpinned, each
		// would get about half the calls.
		const n = 6
		pinned := s.client(key.Secret + "-" + strconv.Itoa(idB))
		for range n {
			if _, err := pinned.Chat.Completions.New(ctx, hello("pin-model")); err != nil {
				t.Fatal(err)
			}
		}
		if a, b := len(upA.Calls()), len(upB.Calls()); a != 0 || b != n {
			t.Errorf("pinned to channel B: A got %d calls, B %d; want 0 and %d", a, b, n)
		}
		if _, err := s.client(key.Secret+"-"+strconv.Itoa(idA)).Chat.Completions.New(ctx, hello("pin-model")); err != nil {
			t.Fatal(err)
		}
		if a := len(upA.Calls()); a != 1 {
			t.Errorf("pinned to channel A: A got %d calls, want 1", a)
		}
		logs := s.waitConsumeLogs(t, key.Name, n+1)
		byChannel := map[int]int{}
		for _, l := range logs {
			byChannel[l.Channel]++
		}
		if byChannel[idB] != n || byChannel[idA] != 1 {
			t.Errorf("consume logs per channel = %v, want %d on %d and 1 on %d", byChannel, n, idB, idA)
		}
	})

	t.Run("DisablingAKeyTakesEffectAtOnce", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		c := s.client(key.Secret)
		if _, err := c.Chat.Completions.New(ctx, hello("gpt-4o-mini")); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			status int
			want   int
		}{{2, http.StatusForbidden}, {1, http.StatusOK}} {
			s.admin(t, http.MethodPut, "/api/token/?status_only=true", map[string]int{"id": key.ID, "status": step.status}, nil)
			resp := s.post(t, ctx, "/v1/chat/completions", key.Secret, bytes.NewReader(chatBody("gpt-4o-mini", false)))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != step.want {
				t.Errorf("right after setting the key's status to %d: %d %s, want %d", step.status, resp.StatusCode, body, step.want)
			}
		}
	})

	t.Run("ChannelPinToUnknownChannel", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: budget})
		resp := s.post(t, ctx, "/v1/chat/completions", key.Secret+"-99999", strings.NewReader(`{"model":"pin-model","messages":[]}`))
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("a pin to a channel that does not exist was served")
		}
	})
}
