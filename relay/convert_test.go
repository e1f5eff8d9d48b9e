package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"sluice/constant"
	"sluice/model"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
)

// addTypedChannel adds a channel of type typ serving model "m".
func (f *fixture) addTypedChannel(t testing.TB, typ constant.ChannelType, url string) {
	t.Helper()
	ch := &model.Channel{Type: int(typ), Name: "c", BaseURL: url, Models: "m", Group: "default", Weight: 1, Status: 1, AutoBan: 1}
	if err := f.store.CreateChannel(ch, "upstream-key"); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) requestIn(t testing.TB, mode relaycommon.Mode, body string, fields peek.Fields) *Request {
	t.Helper()
	first, err := f.cache.SelectChannel("default", fields.Model, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Request{RequestID: "r1", Mode: mode, Body: []byte(body), Peek: fields, User: f.user, Token: f.token,
		Group: "default", First: first, Start: time.Now()}
}

// captured records what an upstream received.
type captured struct {
	path, auth string
	body       []byte
}

func recording(c *captured, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.path = r.URL.Path + "?" + r.URL.RawQuery
		c.auth = r.Header.Get("Authorization") + r.Header.Get("x-api-key") + r.Header.Get("x-goog-api-key")
		c.body, _ = io.ReadAll(r.Body)
		h(w, r)
	}
}

const anthropicMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hello there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":20,"cache_read_input_tokens":80,"cache_creation_input_tokens":10,"output_tokens":5}}`

// An OpenAI client on an Anthropic channel: the request is converted to
// Messages, the answer back to a chat completion, and the charge counts
// the cache reads and writes Anthropic reported.
func TestOpenAIClientOnAnthropicChannel(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var got captured
	up := newUpstream(t, recording(&got, answer(200, anthropicMessage)))
	f.addTypedChannel(t, constant.ChannelTypeAnthropic, up.URL)
	f.load(t)
	body := `{"model":"m","max_tokens":64,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}`
	p, _ := peek.Peek([]byte(body))
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.requestIn(t, relaycommon.ModeChatCompletions, body, p)); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/messages?" || got.auth != "upstream-key" {
		t.Fatalf("upstream got path %q auth %q", got.path, got.auth)
	}
	if s := gjson.GetBytes(got.body, "system").Raw; !strings.Contains(s, "Be brief.") {
		t.Errorf("system prompt not converted: %s", got.body)
	}
	out := rec.Body.Bytes()
	if gjson.GetBytes(out, "object").String() != "chat.completion" ||
		gjson.GetBytes(out, "choices.0.message.content").String() != "Hello there" ||
		gjson.GetBytes(out, "choices.0.finish_reason").String() != "stop" ||
		gjson.GetBytes(out, "usage.prompt_tokens").Int() != 110 ||
		gjson.GetBytes(out, "usage.prompt_tokens_details.cached_tokens").Int() != 80 {
		t.Fatalf("client got %s", out)
	}
	if gjson.GetBytes(out, "model").String() != "m" {
		t.Errorf("model = %s, want the client's name", gjson.GetBytes(out, "model"))
	}
	f.engine.Tasks.Wait()
	logs := f.flushLogs(t)
	if len(logs) != 1 || logs[0].PromptTokens != 110 || logs[0].CompletionTokens != 5 {
		t.Fatalf("logs = %+v", logs)
	}
	// Ratio 1, completion 2, no cache ratios configured for "m": reads bill
	// at 1, writes at 1 (not a Claude name): 110 + 5×2.
	if logs[0].Quota != 120 {
		t.Errorf("charge = %d, want 120", logs[0].Quota)
	}
}

// An Anthropic client streaming from an OpenAI channel sees Anthropic's
// event sequence, and is charged from the upstream's usage chunk.
func TestAnthropicClientStreamsFromOpenAIChannel(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var got captured
	up := newUpstream(t, recording(&got, streamChunks(
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}`,
		`[DONE]`)))
	f.addTypedChannel(t, constant.ChannelTypeOpenAI, up.URL)
	f.load(t)
	body := `{"model":"m","max_tokens":64,"stream":true,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]}`
	p, err := peek.Peek([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.requestIn(t, relaycommon.ModeMessages, body, p)); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/chat/completions?" || !gjson.GetBytes(got.body, "stream_options.include_usage").Bool() {
		t.Fatalf("upstream got %s %s", got.path, got.body)
	}
	var names []string
	var text strings.Builder
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && gjson.Get(data, "delta.type").String() == "text_delta" {
			text.WriteString(gjson.Get(data, "delta.text").String())
		}
	}
	if len(names) < 5 || names[0] != "message_start" || names[len(names)-1] != "message_stop" || text.String() != "Hello" {
		t.Fatalf("events %v, text %q; body:\n%s", names, text.String(), rec.Body.String())
	}
	f.engine.Tasks.Wait()
	logs := f.flushLogs(t)
	if len(logs) != 1 || logs[0].PromptTokens != 12 || logs[0].CompletionTokens != 2 || logs[0].Quota != 16 {
		t.Fatalf("logs = %+v", logs)
	}
}

// A Gemini client on an OpenAI channel: the model comes from the URL, the
// answer is a GenerateContentResponse.
func TestGeminiClientOnOpenAIChannel(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var got captured
	up := newUpstream(t, recording(&got, answer(200, chatOK)))
	f.addTypedChannel(t, constant.ChannelTypeOpenAI, up.URL)
	f.load(t)
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":32}}`
	p, err := peek.PeekGemini([]byte(body), "m", false)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.requestIn(t, relaycommon.ModeGemini, body, p)); err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(got.body, "model").String() != "m" || gjson.GetBytes(got.body, "max_tokens").Int() != 32 {
		t.Fatalf("upstream got %s", got.body)
	}
	out := rec.Body.Bytes()
	if gjson.GetBytes(out, "candidates.0.content.parts.0.text").String() != "hi" ||
		gjson.GetBytes(out, "usageMetadata.promptTokenCount").Int() != 100 {
		t.Fatalf("client got %s", out)
	}
}

// Same-dialect traffic is never converted: the client's bytes reach the
// upstream as sent.
func TestSameDialectIsPassedThroughByteForByte(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var got captured
	up := newUpstream(t, recording(&got, answer(200, anthropicMessage)))
	f.addTypedChannel(t, constant.ChannelTypeAnthropic, up.URL)
	f.load(t)
	body := `{"model":"m","max_tokens":64,"x_unknown":{"kept":[1,2]},"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}`
	p, _ := peek.Peek([]byte(body))
	rec := httptest.NewRecorder()
	if err := f.engine.Relay(context.Background(), rec, f.requestIn(t, relaycommon.ModeMessages, body, p)); err != nil {
		t.Fatal(err)
	}
	if string(got.body) != body {
		t.Fatalf("upstream got\n%s\nwant\n%s", got.body, body)
	}
	if rec.Body.String() != anthropicMessage {
		t.Fatalf("client got %s", rec.Body.String())
	}
}

// A channel's param_override is merged into the upstream body.
func TestParamOverride(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var got captured
	up := newUpstream(t, recording(&got, answer(200, chatOK)))
	ch := &model.Channel{Type: int(constant.ChannelTypeOpenAI), Name: "c", BaseURL: up.URL, Models: "m", Group: "default",
		Weight: 1, Status: 1, ParamOverride: `{"temperature":0.1,"top.k":{"x":1}}`}
	if err := f.store.CreateChannel(ch, "k"); err != nil {
		t.Fatal(err)
	}
	f.load(t)
	if err := f.engine.Relay(context.Background(), httptest.NewRecorder(), f.request(t, chatBody)); err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(got.body, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["temperature"]) != "0.1" || string(m["top.k"]) != `{"x":1}` || m["messages"] == nil {
		t.Fatalf("upstream body %s", got.body)
	}
}

// flushLogs writes the queued charges and returns the consume logs.
func (f *fixture) flushLogs(t testing.TB) []model.Log {
	t.Helper()
	if err := f.engine.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	logs, _, err := f.store.ListLogs(model.LogFilter{Type: constant.LogTypeConsume, Page: 1, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return logs
}
