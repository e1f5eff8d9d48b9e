package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/genai"
)

// These tests drive sluice with the providers' official SDKs — openai-go
// (Chat and Responses), anthropic-sdk-go and Google's GenAI SDK — over a
// channel of the client's own dialect (passed through byte for byte) and
// over channels of other dialects (converted), against fakeProviders. Each
// checks what the SDK parsed (text, tool calls with their streamed
// arguments, stop reason, usage) and that the consume log charged exactly
// CONTRACT.md's formula for the usage the fake reported.

// fmtRatio prices one model. Binary fractions keep the expected charges
// exact in floating point.
type fmtRatio struct{ Model, Completion, Cache, CreateCache float64 }

// fmtPrices are the ratios these tests configure. CreateCache is not
// configured: it is sluice's default, 1.25 for Claude names and 1 else.
var fmtPrices = map[string]fmtRatio{
	"claude-fmt":      {1.5, 5, 0.125, 1.25},
	"claude-code-fmt": {1.5, 5, 0.125, 1.25},
	"claude-code-oai": {1.5, 5, 0.125, 1.25},
	"gemini-fmt":      {0.5, 4, 0.25, 1},
	"gpt-fmt":         {1.25, 4, 0.5, 1},
	"chat-only-fmt":   {1, 2, 0.5, 1},
	modelFail500:      {1, 1, 1, 1},
	modelFailCut:      {1, 1, 1, 1},
}

// quotaFor is CONTRACT.md's charge for u on model, computed here apart
// from sluice: round half up of (prompt − cached − cache_write + cached ×
// cache_ratio + cache_write × create_cache_ratio + completion ×
// completion_ratio) × model_ratio × group_ratio (1), at least 1.
func quotaFor(t *testing.T, model string, u billed) int64 {
	t.Helper()
	r, ok := fmtPrices[model]
	if !ok {
		t.Fatalf("no test price for %q", model)
	}
	tokens := float64(u.Prompt-u.Cached-u.CacheWrite) + float64(u.Cached)*r.Cache +
		float64(u.CacheWrite)*r.CreateCache + float64(u.Completion)*r.Completion
	return max(int64(math.Floor(tokens*r.Model+0.5)), 1)
}

// formatsEnv is a sluice with one channel of each dialect on fakeProviders.
type formatsEnv struct {
	s  *sluice
	up *fakeProviders
	// Channel ids: Anthropic (14), Gemini (24), OpenAI (1, Chat and
	// Responses), custom OpenAI-compatible (8, Chat only).
	anth, gem, oai, custom int
}

func newFormatsEnv(t *testing.T) *formatsEnv {
	t.Helper()
	e := &formatsEnv{up: newFakeProviders(t)}
	e.s = startSluice(t, options{})
	ratio, completion, cache := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for m, r := range fmtPrices {
		ratio[m], completion[m], cache[m] = r.Model, r.Completion, r.Cache
	}
	e.s.setOption(t, "ModelRatio", mustJSON(t, ratio))
	e.s.setOption(t, "CompletionRatio", mustJSON(t, completion))
	e.s.setOption(t, "CacheRatio", mustJSON(t, cache))
	e.anth = e.s.createChannel(t, channelSpec{Name: "anthropic", Type: 14, BaseURL: e.up.URL, Models: "claude-fmt,claude-code-fmt"})
	e.gem = e.s.createChannel(t, channelSpec{Name: "gemini", Type: 24, BaseURL: e.up.URL, Models: "gemini-fmt"})
	e.oai = e.s.createChannel(t, channelSpec{Name: "openai", Type: 1, BaseURL: e.up.URL, Models: "gpt-fmt,claude-code-oai",
		ModelMapping: `{"claude-code-oai":"gpt-fmt"}`})
	e.custom = e.s.createChannel(t, channelSpec{Name: "chat-only", Type: 8, BaseURL: e.up.URL, Models: "chat-only-fmt"})
	return e
}

// fmtBudget is every test key's quota: far above any reservation here.
const fmtBudget = 10_000_000

// wantLog is one expected consume log: the model billed, the channel,
// whether it streamed, and the usage the fake reported.
type wantLog struct {
	Model   string
	Channel int
	Stream  bool
	Usage   billed
}

// roundTripLogs are the two logs of a tools round trip on a channel of
// dialect d: the tool call, then the answer.
func roundTripLogs(model string, ch int, d wireDialect, stream bool) []wantLog {
	return []wantLog{{model, ch, stream, providerUsageFor(d, turnTool)}, {model, ch, stream, providerUsageFor(d, turnAnswer)}}
}

// checkFormatLogs waits for key's consume logs and compares them, in any
// order, with want: tokens, channel, model, stream flag and the charge the
// formula gives; the key's used quota must be their sum.
func checkFormatLogs(t *testing.T, s *sluice, key apiKey, want []wantLog) {
	t.Helper()
	logs := s.waitConsumeLogs(t, key.Name, len(want))
	format := func(l consumeLog) string {
		return fmt.Sprintf("model %s channel %d stream %v tokens %d/%d quota %d", l.ModelName, l.Channel, l.IsStream,
			l.PromptTokens, l.CompletionTokens, l.Quota)
	}
	var got, exp []string
	var sum int64
	for _, l := range logs {
		got = append(got, format(l))
	}
	for _, w := range want {
		q := quotaFor(t, w.Model, w.Usage)
		sum += q
		exp = append(exp, format(consumeLog{ModelName: w.Model, Channel: w.Channel, IsStream: w.Stream,
			PromptTokens: w.Usage.Prompt, CompletionTokens: w.Usage.Completion, Quota: q}))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("consume logs:\n  %s\nwant:\n  %s\n(raw: %+v)", strings.Join(got, "\n  "), strings.Join(exp, "\n  "), logs)
	}
	eventually(t, 10*time.Second, func() bool { return s.keyBalance(t, key.ID).UsedQuota == sum },
		func() string {
			return fmt.Sprintf("key used_quota %d, want %d", s.keyBalance(t, key.ID).UsedQuota, sum)
		})
}

// sdkRecorder is an http.RoundTripper that keeps the body of every request
// an SDK sends, so a passthrough can be compared byte for byte.
type sdkRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *sdkRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *sdkRecorder) last(t *testing.T) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("the SDK sent nothing")
	}
	return r.bodies[len(r.bodies)-1]
}

func (r *sdkRecorder) client() *http.Client {
	return &http.Client{Transport: r, Timeout: 30 * time.Second}
}

// checkPassthrough asserts the upstream received the client's bytes.
func checkPassthrough(t *testing.T, rec *sdkRecorder, call upstreamCall) {
	t.Helper()
	if sent := rec.last(t); !bytes.Equal(sent, call.Body) {
		t.Errorf("same-dialect body not passed through byte for byte:\nclient sent %s\nupstream got %s", sent, call.Body)
	}
}

const (
	weatherQuestion = "What's the weather in Paris?"
	weatherResult   = "sunny, 22C"
	weatherArgs     = `{"city": "Paris"}`
	weatherAnswer   = answerPrefix + weatherResult
)

var weatherSchema = map[string]any{
	"type":       "object",
	"properties": map[string]any{"city": map[string]any{"type": "string", "description": "City name"}},
	"required":   []string{"city"},
}

// sameJSON compares two JSON texts semantically.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	cx, _ := json.Marshal(x)
	cy, _ := json.Marshal(y)
	return bytes.Equal(cx, cy)
}

// checkArgDeltas asserts a tool call's streamed arguments add up to the
// whole, arriving in as many pieces as the upstream sent: several, except
// from Gemini, which streams a function call whole.
func checkArgDeltas(t *testing.T, d wireDialect, deltas []string, whole string) {
	t.Helper()
	var nonEmpty []string
	for _, piece := range deltas {
		if piece != "" {
			nonEmpty = append(nonEmpty, piece)
		}
	}
	pieces := len(nonEmpty) >= 2
	if d == dGemini {
		pieces = len(nonEmpty) == 1
	}
	if !pieces || !sameJSON(strings.Join(nonEmpty, ""), whole) {
		t.Errorf("tool arguments streamed as %q from a %s channel, want them adding up to %s in the upstream's pieces", nonEmpty, d, whole)
	}
}

// ---- Anthropic SDK ----

func (e *formatsEnv) anthropicClient(key string, rec *sdkRecorder, opts ...aoption.RequestOption) anthropic.Client {
	base := []aoption.RequestOption{aoption.WithBaseURL(e.s.URL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0),
		aoption.WithHTTPClient(rec.client())}
	return anthropic.NewClient(append(base, opts...)...)
}

// anthropicTurn sends params, streamed or not, and returns the message
// the SDK built and, when streamed, the input_json_delta pieces.
func anthropicTurn(t *testing.T, c anthropic.Client, params anthropic.MessageNewParams, stream bool, opts ...aoption.RequestOption) (anthropic.Message, []string) {
	t.Helper()
	ctx := context.Background()
	if !stream {
		msg, err := c.Messages.New(ctx, params, opts...)
		if err != nil {
			t.Fatalf("Messages.New: %v", err)
		}
		return *msg, nil
	}
	s := c.Messages.NewStreaming(ctx, params, opts...)
	defer s.Close()
	var msg anthropic.Message
	var deltas []string
	for s.Next() {
		ev := s.Current()
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("the SDK cannot accumulate event %s: %v", ev.RawJSON(), err)
		}
		if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" {
			deltas = append(deltas, ev.Delta.PartialJSON)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Messages stream: %v", err)
	}
	return msg, deltas
}

// anthropicParts splits a message into its text, thinking blocks and
// tool calls.
func anthropicParts(msg anthropic.Message) (text string, thinking []anthropic.ContentBlockUnion, tools []anthropic.ContentBlockUnion) {
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text += b.Text
		case "thinking":
			thinking = append(thinking, b)
		case "tool_use":
			tools = append(tools, b)
		}
	}
	return text, thinking, tools
}

// checkAnthropicUsage asserts the usage as the Anthropic SDK parsed it:
// input_tokens leaves out the cache reads and writes.
func checkAnthropicUsage(t *testing.T, got anthropic.Usage, u billed) {
	t.Helper()
	if got.InputTokens != int64(u.Prompt-u.Cached-u.CacheWrite) || got.CacheReadInputTokens != int64(u.Cached) ||
		got.CacheCreationInputTokens != int64(u.CacheWrite) || got.OutputTokens != int64(u.Completion) {
		t.Errorf("usage = input %d, cache read %d, cache write %d, output %d; want %d, %d, %d, %d (upstream %+v)",
			got.InputTokens, got.CacheReadInputTokens, got.CacheCreationInputTokens, got.OutputTokens,
			u.Prompt-u.Cached-u.CacheWrite, u.Cached, u.CacheWrite, u.Completion, u)
	}
}

// anthropicRoundTrip: the model calls get_weather, the client sends the
// result, the model answers. It returns the logs the two calls must write.
func (e *formatsEnv) anthropicRoundTrip(t *testing.T, c anthropic.Client, rec *sdkRecorder, model string, ch int, d wireDialect, stream bool) []wantLog {
	t.Helper()
	params := anthropic.MessageNewParams{
		Model: anthropic.Model(model), MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(weatherQuestion))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			Description: anthropic.String("Current weather for a city"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherSchema["properties"], Required: []string{"city"}}}}},
	}
	msg, deltas := anthropicTurn(t, c, params, stream)
	text, _, tools := anthropicParts(msg)
	if text != toolTurnText || msg.StopReason != anthropic.StopReasonToolUse || len(tools) != 1 ||
		tools[0].Name != "get_weather" || !sameJSON(string(tools[0].Input), weatherArgs) || tools[0].ID == "" {
		t.Fatalf("tool turn: text %q, stop %q, tool calls %s; want %q, tool_use, get_weather%s", text, msg.StopReason, msg.RawJSON(), toolTurnText, weatherArgs)
	}
	if stream {
		checkArgDeltas(t, d, deltas, weatherArgs)
	}
	checkAnthropicUsage(t, msg.Usage, providerUsageFor(d, turnTool))
	if d == dAnthropic {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1/messages"))
	}

	params.Messages = append(params.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(tools[0].ID, weatherResult, false)))
	msg, _ = anthropicTurn(t, c, params, stream)
	text, _, tools = anthropicParts(msg)
	if !strings.HasPrefix(text, answerPrefix) || !strings.Contains(text, weatherResult) || len(tools) != 0 ||
		msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("answer turn: text %q, stop %q, %d tool calls; want %q, end_turn", text, msg.StopReason, len(tools), weatherAnswer)
	}
	checkAnthropicUsage(t, msg.Usage, providerUsageFor(d, turnAnswer))
	if d == dAnthropic {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1/messages"))
	}
	return roundTripLogs(model, ch, d, stream)
}

// TestFormatAnthropicSDK: the Anthropic SDK on an Anthropic channel
// (passthrough) and on an OpenAI channel (converted), streamed and not.
func TestFormatAnthropicSDK(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	for _, tc := range []struct {
		name, model string
		ch          int
		d           wireDialect
	}{
		{"AnthropicChannel", "claude-fmt", e.anth, dAnthropic},
		{"OpenAIChannel", "gpt-fmt", e.oai, dChat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
			rec := &sdkRecorder{}
			c := e.anthropicClient(key.Secret, rec)
			var want []wantLog
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
					want = append(want, e.anthropicRoundTrip(t, c, rec, tc.model, tc.ch, tc.d, stream)...)
				})
			}
			checkFormatLogs(t, e.s, key, want)
		})
	}
}

// ---- Claude Code ----

// claudeCodeBeta is what Claude Code sends as anthropic-beta.
const claudeCodeBeta = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"

// TestFormatClaudeCode relays a Claude-Code-shaped session (cached system
// prompt, tools, thinking with a budget, cache_control on the last user
// message, anthropic-beta, streaming) through the Anthropic SDK to an
// Anthropic channel and to an OpenAI channel: a tool call, its result, the
// answer; exact usage and charges, cache reads and writes priced by the
// cache ratios on the Anthropic channel.
func TestFormatClaudeCode(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "formats", "claude_code_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	headers := []aoption.RequestOption{aoption.WithHeader("anthropic-beta", claudeCodeBeta), aoption.WithHeader("x-app", "cli"),
		aoption.WithHeader("User-Agent", "claude-cli/2.0.14 (external, cli)")}
	for _, tc := range []struct {
		name, model string
		ch          int
		d           wireDialect
	}{
		{"AnthropicChannel", "claude-code-fmt", e.anth, dAnthropic},
		{"OpenAIChannel", "claude-code-oai", e.oai, dChat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
			rec := &sdkRecorder{}
			c := e.anthropicClient(key.Secret, rec, headers...)
			var params anthropic.MessageNewParams
			if err := json.Unmarshal(raw, &params); err != nil {
				t.Fatal(err)
			}
			params.Model = anthropic.Model(tc.model)

			// Turn 1: the model thinks, says a word and runs Bash.
			msg, deltas := anthropicTurn(t, c, params, true)
			text, thinking, tools := anthropicParts(msg)
			if text != toolTurnText || msg.StopReason != anthropic.StopReasonToolUse || len(tools) != 1 ||
				tools[0].Name != "Bash" || !sameJSON(string(tools[0].Input), `{"command": "ls -la"}`) {
				t.Fatalf("tool turn: text %q, stop %q, message %s", text, msg.StopReason, msg.RawJSON())
			}
			checkArgDeltas(t, tc.d, deltas, `{"command": "ls -la"}`)
			checkAnthropicUsage(t, msg.Usage, providerUsageFor(tc.d, turnTool))
			if tc.d == dAnthropic {
				if len(thinking) != 1 || thinking[0].Thinking != anthropicThinking || thinking[0].Signature != anthropicSignature(turnTool) {
					t.Errorf("thinking blocks = %+v, want the upstream's signed thinking", thinking)
				}
			}
			e.checkClaudeCodeUpstream(t, rec, tc.d, 1)

			// Turn 2: the tool result goes back (after the signed thinking,
			// as Claude Code sends it) with cache_control on the last block.
			result := anthropic.NewToolResultBlock(tools[0].ID, "a.go\nb.go", false)
			result.OfToolResult.CacheControl = anthropic.NewCacheControlEphemeralParam()
			params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(result))
			msg, _ = anthropicTurn(t, c, params, true)
			text, _, tools = anthropicParts(msg)
			if text != answerPrefix+"a.go\nb.go" || len(tools) != 0 || msg.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("answer turn: text %q, stop %q, %d tool calls", text, msg.StopReason, len(tools))
			}
			checkAnthropicUsage(t, msg.Usage, providerUsageFor(tc.d, turnAnswer))
			e.checkClaudeCodeUpstream(t, rec, tc.d, 2)
			checkFormatLogs(t, e.s, key, roundTripLogs(tc.model, tc.ch, tc.d, true))
		})
	}
}

// checkClaudeCodeUpstream asserts what the channel received for turn n.
func (e *formatsEnv) checkClaudeCodeUpstream(t *testing.T, rec *sdkRecorder, d wireDialect, n int) {
	t.Helper()
	if d == dAnthropic {
		call := e.up.lastCallTo(t, "/v1/messages")
		checkPassthrough(t, rec, call)
		if got := call.Header.Get("anthropic-beta"); got != claudeCodeBeta {
			t.Errorf("upstream anthropic-beta = %q, want the client's %q", got, claudeCodeBeta)
		}
		if got := call.Header.Get("x-api-key"); got != upstreamKey {
			t.Errorf("upstream x-api-key = %q, want the channel key", got)
		}
		return
	}
	call := e.up.lastCallTo(t, "/v1/chat/completions")
	var body struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(call.Body, &body); err != nil {
		t.Fatalf("upstream body: %v: %s", err, call.Body)
	}
	var tools []string
	for _, tl := range body.Tools {
		tools = append(tools, tl.Function.Name)
	}
	switch {
	case body.Model != "gpt-fmt" || !body.Stream || !body.StreamOptions.IncludeUsage:
		t.Errorf("upstream model %q stream %v include_usage %v; want the mapped gpt-fmt, streamed with usage", body.Model, body.Stream, body.StreamOptions.IncludeUsage)
	case !slices.Equal(tools, []string{"Bash", "Read"}):
		t.Errorf("upstream tools = %v", tools)
	case len(body.Messages) == 0 || body.Messages[0].Role != "system" || !strings.Contains(string(body.Messages[0].Content), "You are Claude Code"):
		t.Errorf("upstream messages do not open with the system prompt: %s", call.Body)
	case call.Header.Get("Authorization") != "Bearer "+upstreamKey:
		t.Errorf("upstream Authorization = %q", call.Header.Get("Authorization"))
	}
	if n == 2 {
		last := body.Messages[len(body.Messages)-1]
		if last.Role != "tool" || last.ToolCallID != "call_fake1" || !strings.Contains(string(last.Content), `a.go\nb.go`) {
			t.Errorf("upstream last message = %+v, want the tool result for call_fake1", last)
		}
	}
}

// ---- Google GenAI SDK ----

func (e *formatsEnv) genaiClient(t *testing.T, key string, rec *sdkRecorder) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPClient: rec.client(), HTTPOptions: genai.HTTPOptions{BaseURL: e.s.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// genaiTurn sends contents, streamed or not, and returns the model's
// content (every part, in order), the finish reason and the last usage.
func genaiTurn(t *testing.T, c *genai.Client, model string, contents []*genai.Content, cfg *genai.GenerateContentConfig, stream bool) (*genai.Content, genai.FinishReason, *genai.GenerateContentResponseUsageMetadata) {
	t.Helper()
	ctx := context.Background()
	if !stream {
		resp, err := c.Models.GenerateContent(ctx, model, contents, cfg)
		if err != nil {
			t.Fatalf("GenerateContent: %v", err)
		}
		if len(resp.Candidates) != 1 || resp.Candidates[0].Content == nil {
			t.Fatalf("GenerateContent: %d candidates", len(resp.Candidates))
		}
		return resp.Candidates[0].Content, resp.Candidates[0].FinishReason, resp.UsageMetadata
	}
	out := &genai.Content{Role: genai.RoleModel}
	var finish genai.FinishReason
	var usage *genai.GenerateContentResponseUsageMetadata
	for resp, err := range c.Models.GenerateContentStream(ctx, model, contents, cfg) {
		if err != nil {
			t.Fatalf("GenerateContentStream: %v", err)
		}
		for _, cand := range resp.Candidates {
			if cand.Content != nil {
				out.Parts = append(out.Parts, cand.Content.Parts...)
			}
			if cand.FinishReason != "" {
				finish = cand.FinishReason
			}
		}
		if resp.UsageMetadata != nil {
			usage = resp.UsageMetadata
		}
	}
	return out, finish, usage
}

func genaiParts(c *genai.Content) (text string, calls []*genai.FunctionCall) {
	for _, p := range c.Parts {
		if p.Thought {
			continue
		}
		text += p.Text
		if p.FunctionCall != nil {
			calls = append(calls, p.FunctionCall)
		}
	}
	return text, calls
}

// checkGenAIUsage asserts usageMetadata as the SDK parsed it: the prompt
// count includes the cached tokens, the thoughts are apart from the
// candidates.
func checkGenAIUsage(t *testing.T, got *genai.GenerateContentResponseUsageMetadata, u billed) {
	t.Helper()
	if got == nil {
		t.Errorf("no usageMetadata, want %+v", u)
		return
	}
	if got.PromptTokenCount != int32(u.Prompt) || got.CachedContentTokenCount != int32(u.Cached) ||
		got.CandidatesTokenCount != int32(u.Completion-u.Reasoning) || got.ThoughtsTokenCount != int32(u.Reasoning) {
		t.Errorf("usageMetadata = prompt %d, cached %d, candidates %d, thoughts %d; want %d, %d, %d, %d (upstream %+v)",
			got.PromptTokenCount, got.CachedContentTokenCount, got.CandidatesTokenCount, got.ThoughtsTokenCount,
			u.Prompt, u.Cached, u.Completion-u.Reasoning, u.Reasoning, u)
	}
}

func (e *formatsEnv) genaiRoundTrip(t *testing.T, c *genai.Client, rec *sdkRecorder, model string, ch int, d wireDialect, stream bool) []wantLog {
	t.Helper()
	cfg := &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("You are a weather bot.", genai.RoleUser),
		Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: "get_weather", Description: "Current weather for a city",
			Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}, Required: []string{"city"}}}}}},
	}
	contents := []*genai.Content{genai.NewContentFromText(weatherQuestion, genai.RoleUser)}
	content, finish, usage := genaiTurn(t, c, model, contents, cfg, stream)
	text, calls := genaiParts(content)
	if len(calls) != 1 {
		t.Fatalf("tool turn: %d function calls in %s", len(calls), mustJSON(t, content))
	}
	args, _ := json.Marshal(calls[0].Args)
	if text != toolTurnText || calls[0].Name != "get_weather" || !sameJSON(string(args), weatherArgs) || finish != genai.FinishReasonStop {
		t.Fatalf("tool turn: text %q, call %s(%s), finish %q; want %q, get_weather%s, STOP", text, calls[0].Name, args, finish, toolTurnText, weatherArgs)
	}
	checkGenAIUsage(t, usage, providerUsageFor(d, turnTool))
	if d == dGemini {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1beta/models/"+model))
	}

	content.Role = genai.RoleModel
	resp := genai.NewPartFromFunctionResponse("get_weather", map[string]any{"output": weatherResult})
	resp.FunctionResponse.ID = calls[0].ID
	contents = append(contents, content, genai.NewContentFromParts([]*genai.Part{resp}, genai.RoleUser))
	content, finish, usage = genaiTurn(t, c, model, contents, cfg, stream)
	text, calls = genaiParts(content)
	if !strings.HasPrefix(text, answerPrefix) || !strings.Contains(text, weatherResult) || len(calls) != 0 || finish != genai.FinishReasonStop {
		t.Errorf("answer turn: text %q, %d calls, finish %q; want %q, STOP", text, len(calls), finish, weatherAnswer)
	}
	checkGenAIUsage(t, usage, providerUsageFor(d, turnAnswer))
	if d == dGemini {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1beta/models/"+model))
	}
	return roundTripLogs(model, ch, d, stream)
}

// TestFormatGenAISDK: Google's GenAI SDK on a Gemini channel (passthrough)
// and on OpenAI and Anthropic channels (converted), streamed and not.
func TestFormatGenAISDK(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	for _, tc := range []struct {
		name, model string
		ch          int
		d           wireDialect
	}{
		{"GeminiChannel", "gemini-fmt", e.gem, dGemini},
		{"OpenAIChannel", "gpt-fmt", e.oai, dChat},
		{"AnthropicChannel", "claude-fmt", e.anth, dAnthropic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
			rec := &sdkRecorder{}
			c := e.genaiClient(t, key.Secret, rec)
			var want []wantLog
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
					want = append(want, e.genaiRoundTrip(t, c, rec, tc.model, tc.ch, tc.d, stream)...)
				})
			}
			checkFormatLogs(t, e.s, key, want)
		})
	}
}

// ---- openai-go Chat Completions ----

func checkChatUsage(t *testing.T, got openai.CompletionUsage, u billed) {
	t.Helper()
	if got.PromptTokens != int64(u.Prompt) || got.CompletionTokens != int64(u.Completion) ||
		got.PromptTokensDetails.CachedTokens != int64(u.Cached) || got.CompletionTokensDetails.ReasoningTokens != int64(u.Reasoning) {
		t.Errorf("usage = prompt %d (cached %d), completion %d (reasoning %d); want %d (%d), %d (%d)",
			got.PromptTokens, got.PromptTokensDetails.CachedTokens, got.CompletionTokens, got.CompletionTokensDetails.ReasoningTokens,
			u.Prompt, u.Cached, u.Completion, u.Reasoning)
	}
}

// chatTurn sends params, streamed (with include_usage) or not, and returns
// the assistant message, finish reason, usage and streamed argument pieces.
func chatTurn(t *testing.T, c *openai.Client, params openai.ChatCompletionNewParams, stream bool) (openai.ChatCompletionMessage, string, openai.CompletionUsage, []string) {
	t.Helper()
	ctx := context.Background()
	if !stream {
		resp, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("Chat.Completions.New: %v", err)
		}
		if len(resp.Choices) != 1 {
			t.Fatalf("%d choices", len(resp.Choices))
		}
		return resp.Choices[0].Message, resp.Choices[0].FinishReason, resp.Usage, nil
	}
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	s := c.Chat.Completions.NewStreaming(ctx, params)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	var deltas []string
	for s.Next() {
		chunk := s.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("the accumulator refused chunk %s", chunk.RawJSON())
		}
		for _, ch := range chunk.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				deltas = append(deltas, tc.Function.Arguments)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("chat stream: %v", err)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("%d choices", len(acc.Choices))
	}
	return acc.Choices[0].Message, acc.Choices[0].FinishReason, acc.Usage, deltas
}

func chatRoundTrip(t *testing.T, c *openai.Client, model string, ch int, d wireDialect, stream bool) []wantLog {
	t.Helper()
	params := openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are a weather bot."),
			openai.UserMessage(weatherQuestion)},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Current weather for a city"), Parameters: weatherSchema})},
	}
	msg, finish, usage, deltas := chatTurn(t, c, params, stream)
	if msg.Content != toolTurnText || finish != "tool_calls" || len(msg.ToolCalls) != 1 ||
		msg.ToolCalls[0].Function.Name != "get_weather" || !sameJSON(msg.ToolCalls[0].Function.Arguments, weatherArgs) || msg.ToolCalls[0].ID == "" {
		t.Fatalf("tool turn: content %q, finish %q, message %s; want %q, tool_calls, get_weather%s", msg.Content, finish, msg.RawJSON(), toolTurnText, weatherArgs)
	}
	if stream {
		checkArgDeltas(t, d, deltas, weatherArgs)
	}
	checkChatUsage(t, usage, providerUsageFor(d, turnTool))

	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(weatherResult, msg.ToolCalls[0].ID))
	msg, finish, usage, _ = chatTurn(t, c, params, stream)
	if msg.Content != weatherAnswer || finish != "stop" || len(msg.ToolCalls) != 0 {
		t.Errorf("answer turn: content %q, finish %q, %d tool calls; want %q, stop", msg.Content, finish, len(msg.ToolCalls), weatherAnswer)
	}
	checkChatUsage(t, usage, providerUsageFor(d, turnAnswer))
	return roundTripLogs(model, ch, d, stream)
}

// TestFormatOpenAIChatSDK: openai-go Chat Completions on an Anthropic and
// a Gemini channel (converted), streamed and not.
func TestFormatOpenAIChatSDK(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	for _, tc := range []struct {
		name, model string
		ch          int
		d           wireDialect
	}{
		{"AnthropicChannel", "claude-fmt", e.anth, dAnthropic},
		{"GeminiChannel", "gemini-fmt", e.gem, dGemini},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
			c := e.s.client(key.Secret)
			var want []wantLog
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
					want = append(want, chatRoundTrip(t, c, tc.model, tc.ch, tc.d, stream)...)
				})
			}
			checkFormatLogs(t, e.s, key, want)
		})
	}
}

// ---- openai-go Responses ----

// responsesCodecRegistered reports whether this tree converts the
// Responses dialect (relay/format/responses wired into relay/codecs.go).
func responsesCodecRegistered() bool {
	src, err := os.ReadFile(filepath.Join("..", "relay", "codecs.go"))
	return err == nil && bytes.Contains(src, []byte("DialectResponses"))
}

func checkResponsesUsage(t *testing.T, got responses.ResponseUsage, u billed) {
	t.Helper()
	if got.InputTokens != int64(u.Prompt) || got.InputTokensDetails.CachedTokens != int64(u.Cached) ||
		got.OutputTokens != int64(u.Completion) || got.OutputTokensDetails.ReasoningTokens != int64(u.Reasoning) {
		t.Errorf("usage = input %d (cached %d), output %d (reasoning %d); want %d (%d), %d (%d)",
			got.InputTokens, got.InputTokensDetails.CachedTokens, got.OutputTokens, got.OutputTokensDetails.ReasoningTokens,
			u.Prompt, u.Cached, u.Completion, u.Reasoning)
	}
}

// responsesTurn sends params, streamed or not, and returns the response
// (from response.completed when streamed), the streamed text and the
// streamed argument pieces.
func responsesTurn(t *testing.T, c *openai.Client, params responses.ResponseNewParams, stream bool) (*responses.Response, string, []string) {
	t.Helper()
	ctx := context.Background()
	if !stream {
		resp, err := c.Responses.New(ctx, params)
		if err != nil {
			t.Fatalf("Responses.New: %v", err)
		}
		return resp, resp.OutputText(), nil
	}
	s := c.Responses.NewStreaming(ctx, params)
	defer s.Close()
	var text strings.Builder
	var deltas []string
	var final *responses.Response
	for s.Next() {
		ev := s.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			deltas = append(deltas, ev.Delta)
		case "response.completed":
			r := ev.Response
			final = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("responses stream: %v", err)
	}
	if final == nil {
		t.Fatal("the stream had no response.completed event")
	}
	return final, text.String(), deltas
}

func (e *formatsEnv) responsesRoundTrip(t *testing.T, c *openai.Client, rec *sdkRecorder, model string, ch int, d wireDialect, stream bool) []wantLog {
	t.Helper()
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(weatherQuestion, responses.EasyInputMessageRoleUser)}
	params := responses.ResponseNewParams{
		Model: model, Instructions: openai.String("You are a weather bot."),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		Tools: []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather", weatherSchema, false)},
	}
	resp, streamed, deltas := responsesTurn(t, c, params, stream)
	var calls []responses.ResponseOutputItemUnion
	for _, item := range resp.Output {
		if item.Type == "function_call" {
			calls = append(calls, item)
		}
	}
	if resp.OutputText() != toolTurnText || resp.Status != "completed" || len(calls) != 1 || calls[0].Name != "get_weather" ||
		!sameJSON(calls[0].Arguments.OfString, weatherArgs) || calls[0].CallID == "" {
		t.Fatalf("tool turn: text %q, status %q, response %s; want %q, completed, get_weather%s", resp.OutputText(), resp.Status, resp.RawJSON(), toolTurnText, weatherArgs)
	}
	if stream {
		if streamed != toolTurnText {
			t.Errorf("streamed text %q, want %q", streamed, toolTurnText)
		}
		checkArgDeltas(t, d, deltas, weatherArgs)
	}
	checkResponsesUsage(t, resp.Usage, providerUsageFor(d, turnTool))
	if d == dResponses {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1/responses"))
	}

	output := responses.ResponseInputItemParamOfFunctionCallOutput(weatherResult)
	output.OfFunctionCallOutput.CallID = openai.String(calls[0].CallID)
	params.Input.OfInputItemList = append(input,
		responses.ResponseInputItemParamOfFunctionCall(calls[0].Arguments.OfString, calls[0].CallID, calls[0].Name), output)
	resp, streamed, _ = responsesTurn(t, c, params, stream)
	calls = calls[:0]
	for _, item := range resp.Output {
		if item.Type == "function_call" {
			calls = append(calls, item)
		}
	}
	if resp.OutputText() != weatherAnswer || resp.Status != "completed" || len(calls) != 0 || (stream && streamed != weatherAnswer) {
		t.Errorf("answer turn: text %q (streamed %q), status %q, %d calls; want %q, completed", resp.OutputText(), streamed, resp.Status, len(calls), weatherAnswer)
	}
	checkResponsesUsage(t, resp.Usage, providerUsageFor(d, turnAnswer))
	if d == dResponses {
		checkPassthrough(t, rec, e.up.lastCallTo(t, "/v1/responses"))
	}
	return roundTripLogs(model, ch, d, stream)
}

// TestFormatOpenAIResponsesSDK: openai-go Responses on an OpenAI channel
// (type 1, passthrough to /v1/responses) and on a Chat-only channel (type
// 8, converted to Chat Completions), streamed and not.
func TestFormatOpenAIResponsesSDK(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	for _, tc := range []struct {
		name, model string
		ch          int
		d           wireDialect
	}{
		{"OpenAIChannel", "gpt-fmt", e.oai, dResponses},
		{"ChatOnlyChannel", "chat-only-fmt", e.custom, dChat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.d != dResponses && !responsesCodecRegistered() {
				t.Skip("responses codec not registered yet")
			}
			key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
			rec := &sdkRecorder{}
			c := openai.NewClient(option.WithBaseURL(e.s.URL+"/v1/"), option.WithAPIKey(key.Secret),
				option.WithMaxRetries(0), option.WithHTTPClient(rec.client()))
			var want []wantLog
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
					want = append(want, e.responsesRoundTrip(t, &c, rec, tc.model, tc.ch, tc.d, stream)...)
				})
			}
			checkFormatLogs(t, e.s, key, want)
		})
	}
}

// ---- errors in each client's format ----

// TestFormatErrors: a bad key gets Anthropic's error shape on /v1/messages
// and Gemini's on /v1beta (both 401, as the SDKs parse them); an upstream
// 500 behind a converted Anthropic stream, and a converted stream cut
// mid-way, surface as errors in the Anthropic SDK, never as a silently
// short answer.
func TestFormatErrors(t *testing.T) {
	t.Parallel()
	e := newFormatsEnv(t)
	failCh := e.s.createChannel(t, channelSpec{Name: "failing", Type: 1, BaseURL: e.up.URL, Models: modelFail500 + "," + modelFailCut})
	const badKey = "sk-this-key-does-not-exist-0000000000000000"
	ctx := context.Background()

	t.Run("AnthropicBadKey", func(t *testing.T) {
		body := `{"model":"claude-fmt","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
		for _, header := range [][]string{{"x-api-key", badKey}, {"Authorization", "Bearer " + badKey}, {"x-api-key", ""}} {
			resp := e.s.post(t, ctx, "/v1/messages", "", strings.NewReader(body), header[0], header[1], "anthropic-version", "2023-06-01")
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(raw, &got) != nil || got.Type != "error" ||
				got.Error.Type != "authentication_error" || got.Error.Message == "" {
				t.Errorf("%s %q: status %d, body %s; want 401 {type:error, error:{type:authentication_error}}", header[0], header[1], resp.StatusCode, raw)
			}
		}
		c := e.anthropicClient(badKey, &sdkRecorder{})
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-fmt", MaxTokens: 16,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || !strings.Contains(apiErr.RawJSON(), `"authentication_error"`) {
			t.Errorf("the Anthropic SDK got %v, want a 401 authentication_error", err)
		}
		if n := len(e.up.callsTo("/v1/messages")); n != 0 {
			t.Errorf("a bad key reached the upstream %d times", n)
		}
	})

	t.Run("GeminiBadKey", func(t *testing.T) {
		body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
		for _, tc := range []struct{ path, header string }{
			{"/v1beta/models/gemini-fmt:generateContent", "x-goog-api-key"},
			{"/v1beta/models/gemini-fmt:generateContent?key=" + badKey, ""},
			{"/v1beta/models/gemini-fmt:streamGenerateContent?alt=sse&key=" + badKey, ""},
		} {
			var hdr []string
			if tc.header != "" {
				hdr = []string{tc.header, badKey}
			}
			resp := e.s.post(t, ctx, tc.path, "", strings.NewReader(body), hdr...)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(raw, &got) != nil || got.Error.Code != 401 ||
				got.Error.Status != "UNAUTHENTICATED" || got.Error.Message == "" {
				t.Errorf("%s (%s): status %d, body %s; want 401 {error:{code:401,status:UNAUTHENTICATED}}", tc.path, tc.header, resp.StatusCode, raw)
			}
		}
		c := e.genaiClient(t, badKey, &sdkRecorder{})
		_, err := c.Models.GenerateContent(ctx, "gemini-fmt", genai.Text("hi"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnauthorized || apiErr.Status != "UNAUTHENTICATED" {
			t.Errorf("the GenAI SDK got %v, want APIError 401 UNAUTHENTICATED", err)
		}
		if n := len(e.up.callsTo("/v1beta/")); n != 0 {
			t.Errorf("a bad key reached the upstream %d times", n)
		}
	})

	t.Run("UpstreamErrorInConvertedAnthropicStream", func(t *testing.T) {
		key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
		c := e.anthropicClient(key.Secret, &sdkRecorder{})
		params := anthropic.MessageNewParams{Model: modelFail500, MaxTokens: 64,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
		s := c.Messages.NewStreaming(ctx, params)
		var events []string
		for s.Next() {
			events = append(events, s.Current().Type)
		}
		err := s.Err()
		s.Close()
		var apiErr *anthropic.Error
		switch {
		case err == nil:
			t.Fatalf("the SDK saw events %v and no error, want the upstream failure", events)
		case !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway:
			t.Errorf("the SDK got %v, want an Anthropic API error with status 502", err)
		case !strings.Contains(apiErr.RawJSON(), `"type":"error"`):
			t.Errorf("error body %s is not Anthropic's shape", apiErr.RawJSON())
		}
		if err != nil && (strings.Contains(err.Error(), e.up.URL) || strings.Contains(err.Error(), upstreamKey)) {
			t.Errorf("the error leaks the upstream: %v", err)
		}
		if calls := e.up.callsTo("/v1/chat/completions"); len(calls) == 0 {
			t.Errorf("the upstream was never called")
		}
		// A failed request is refunded in full.
		eventually(t, 5*time.Second, func() bool {
			b := e.s.keyBalance(t, key.ID)
			return b.UsedQuota == 0 && b.RemainQuota == fmtBudget
		}, func() string { return fmt.Sprintf("key balance %+v after a failed request", e.s.keyBalance(t, key.ID)) })
	})

	t.Run("ConvertedAnthropicStreamCut", func(t *testing.T) {
		key := e.s.createKey(t, keySpec{RemainQuota: fmtBudget})
		c := e.anthropicClient(key.Secret, &sdkRecorder{})
		params := anthropic.MessageNewParams{Model: modelFailCut, MaxTokens: 64,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
		s := c.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		var types []string
		for s.Next() {
			types = append(types, s.Current().Type)
			_ = msg.Accumulate(s.Current())
		}
		err := s.Err()
		s.Close()
		if err == nil {
			t.Fatalf("a stream cut upstream ended without an error; the SDK saw %v", types)
		}
		if slices.Contains(types, "message_stop") {
			t.Errorf("a cut stream ended with message_stop: %v", types)
		}
		t.Logf("the SDK saw %v, then: %v", types, err)
	})
	_ = failCh
}
