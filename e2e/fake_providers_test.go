package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProviders is one server speaking four provider dialects, told apart
// by path as the real APIs are: Anthropic Messages (POST /v1/messages),
// Gemini (POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent?alt=sse), OpenAI Chat Completions
// (POST /v1/chat/completions) and OpenAI Responses (POST /v1/responses).
// Shapes follow the providers' API references: Anthropic's message and
// its SSE sequence (message_start, content_block_start, ping,
// content_block_delta with text_delta / thinking_delta / signature_delta /
// input_json_delta, content_block_stop, message_delta, message_stop, usage
// with cache_creation_input_tokens and cache_read_input_tokens), Gemini's
// GenerateContentResponse and its alt=sse chunks (usageMetadata with
// cachedContentTokenCount and thoughtsTokenCount), OpenAI's chat
// completion and chunks (tool-call argument deltas, the include_usage
// chunk) and the Responses API's response object and named events.
//
// Every dialect plays the same scripted model, chosen by the conversation:
//
//   - no tools offered: it says "Hi from <dialect>" (turnText);
//   - tools offered and no tool result yet: it says "Let me check." and
//     calls the first tool offered, its arguments streamed in two pieces
//     (turnTool);
//   - the last message is a tool result: it says "Tool said: <result>"
//     (turnAnswer).
//
// Like the real APIs, each dialect refuses (400, in its own error shape) a
// tool result that answers no call of the previous assistant turn, and
// Anthropic refuses a tool-use turn sent back without its signed thinking
// block when thinking is on. The usage each dialect reports for a turn is
// providerUsageFor's, so tests price their expectations from it.
type fakeProviders struct {
	URL string

	mu    sync.Mutex
	calls []upstreamCall
}

func newFakeProviders(t *testing.T) *fakeProviders {
	t.Helper()
	f := &fakeProviders{}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = srv.URL
	t.Cleanup(srv.Close)
	return f
}

// callsTo returns the calls whose path (with query) starts with prefix.
func (f *fakeProviders) callsTo(prefix string) []upstreamCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []upstreamCall
	for _, c := range f.calls {
		if strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// lastCallTo is the most recent call to prefix, failing the test if none.
func (f *fakeProviders) lastCallTo(t *testing.T, prefix string) upstreamCall {
	t.Helper()
	calls := f.callsTo(prefix)
	if len(calls) == 0 {
		t.Fatalf("the fake provider received no call to %s", prefix)
	}
	return calls[len(calls)-1]
}

// dialect names the provider wire formats the fake speaks.
type wireDialect string

const (
	dAnthropic wireDialect = "anthropic"
	dGemini    wireDialect = "gemini"
	dChat      wireDialect = "openai"
	dResponses wireDialect = "responses"
)

// turn is what the scripted model does in one call.
type fakeTurn int

const (
	turnText fakeTurn = iota
	turnTool
	turnAnswer
)

// billed is a usage in the gateway's terms (CONTRACT.md): Prompt counts
// every input token, cached and cache-written ones included; Completion
// counts every output token, reasoning included.
type billed struct {
	Prompt, Completion, Cached, CacheWrite, Reasoning int
}

// providerUsageFor is what dialect d reports for a turn, in the gateway's
// terms; each dialect's writer spells it natively (Anthropic's
// input_tokens leaves out the cache reads and writes, Gemini counts the
// thoughts apart from the candidates).
func providerUsageFor(d wireDialect, k fakeTurn) billed {
	n := int(k)
	switch d {
	case dAnthropic:
		return billed{Prompt: 21 + 10*n + 300 + 40, Completion: 9 + 5*n, Cached: 300, CacheWrite: 40}
	case dGemini:
		return billed{Prompt: 57 + 10*n, Completion: 11 + 5*n + 7, Cached: 16, Reasoning: 7}
	case dChat:
		return billed{Prompt: 33 + 10*n, Completion: 13 + 5*n, Cached: 8, Reasoning: 4}
	default:
		return billed{Prompt: 45 + 10*n, Completion: 17 + 5*n, Cached: 12, Reasoning: 6}
	}
}

// The scripted model's words.
const (
	toolTurnText = "Let me check."
	answerPrefix = "Tool said: "
	// anthropicThinking is the reasoning the fake Anthropic shows when
	// thinking is on; its signature is anthropicSignature(turn).
	anthropicThinking = "The user wants something I need a tool for."
)

func fakeGreeting(d wireDialect) []string { return []string{"Hi", " from ", string(d)} }

func anthropicSignature(k fakeTurn) string { return fmt.Sprintf("EqQBCgIYAhIMfakeSig%d", k) }

// geminiSignature is a base64 thoughtSignature, as Gemini 2.5+ puts on a
// function call part.
const geminiSignature = "Q2lRQmNzamFmR2sy"

// toolArgs are the argument pieces the model streams for a tool: one key
// per known tool, the JSON split mid-object.
func fakeToolArgs(name string) []string {
	key, value := "input", "x"
	switch name {
	case "get_weather":
		key, value = "city", "Paris"
	case "Bash":
		key, value = "command", "ls -la"
	}
	return []string{`{"` + key + `":`, ` "` + value + `"}`}
}

// script is one answer of the scripted model, before any dialect spells it.
type fakeScript struct {
	kind     fakeTurn
	thinking []string // shown reasoning pieces (Anthropic, thinking on)
	text     []string
	tool     string // the tool called ("" when none)
	args     []string
	usage    billed
}

func newFakeScript(d wireDialect, tools []string, toolResult *string) fakeScript {
	s := fakeScript{kind: turnText}
	switch {
	case toolResult != nil:
		s.kind = turnAnswer
		s.text = []string{answerPrefix, *toolResult}
	case len(tools) > 0:
		s.kind = turnTool
		s.text = []string{toolTurnText}
		s.tool, s.args = tools[0], fakeToolArgs(tools[0])
	default:
		s.text = fakeGreeting(d)
	}
	s.usage = providerUsageFor(d, s.kind)
	return s
}

func (s fakeScript) fullText() string { return strings.Join(s.text, "") }
func (s fakeScript) fullArgs() string { return strings.Join(s.args, "") }

func (f *fakeProviders) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, upstreamCall{Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/v1/messages":
		f.anthropic(w, r, body)
	case strings.HasPrefix(r.URL.Path, "/v1beta/models/"):
		f.gemini(w, r, body)
	case r.URL.Path == "/v1/chat/completions":
		f.chat(w, r, body)
	case r.URL.Path == "/v1/responses":
		f.responses(w, r, body)
	default:
		writeOpenAIError(w, http.StatusNotFound, "Invalid URL (POST "+r.URL.Path+")", "invalid_request_error", "")
	}
}

// sseOut writes server-sent events, flushing each.
type sseOut struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startFakeSSE(w http.ResponseWriter) *sseOut {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sseOut{w: w, rc: http.NewResponseController(w)}
}

// send writes one event named name (no event line when empty) with v as
// its JSON data.
func (s *sseOut) send(name string, v any) {
	data, _ := json.Marshal(v)
	if name != "" {
		fmt.Fprintf(s.w, "event: %s\n", name)
	}
	fmt.Fprintf(s.w, "data: %s\n\n", data)
	_ = s.rc.Flush()
}

func (s *sseOut) raw(text string) {
	_, _ = io.WriteString(s.w, text)
	_ = s.rc.Flush()
}

// ---- Anthropic Messages ----

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
}

// anthropicBlocks reads a content that is a string or an array of blocks.
func anthropicBlocks(raw json.RawMessage) []anthropicBlock {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anthropicBlock{{Type: "text", Text: s}}
	}
	var out []anthropicBlock
	_ = json.Unmarshal(raw, &out)
	return out
}

// textOf reads a tool result content: a string or text parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var sb strings.Builder
	for _, p := range parts {
		sb.WriteString(p.Text)
	}
	return sb.String()
}

func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"type": "error",
		"error": map[string]any{"type": typ, "message": msg}, "request_id": "req_fake"})
}

func (f *fakeProviders) anthropic(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model     string `json:"model"`
		MaxTokens int    `json:"max_tokens"`
		Stream    bool   `json:"stream"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		Thinking *struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		} `json:"thinking"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeAnthropicError(w, 400, "invalid_request_error", "invalid JSON: "+err.Error())
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		writeAnthropicError(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	if req.MaxTokens <= 0 || len(req.Messages) == 0 {
		writeAnthropicError(w, 400, "invalid_request_error", "max_tokens: Field required")
		return
	}
	thinking := req.Thinking != nil && req.Thinking.Type == "enabled"
	if thinking && (req.Thinking.BudgetTokens < 1024 || req.Thinking.BudgetTokens >= req.MaxTokens) {
		writeAnthropicError(w, 400, "invalid_request_error", "thinking.budget_tokens: must be ≥ 1024 and less than max_tokens")
		return
	}
	var result *string
	last := len(req.Messages) - 1
	for _, b := range anthropicBlocks(req.Messages[last].Content) {
		if b.Type != "tool_result" {
			continue
		}
		// The result must answer a tool_use of the previous assistant turn.
		known := false
		if last > 0 && req.Messages[last-1].Role == "assistant" {
			prev := anthropicBlocks(req.Messages[last-1].Content)
			for _, p := range prev {
				known = known || (p.Type == "tool_use" && p.ID == b.ToolUseID)
			}
			if thinking && (len(prev) == 0 || prev[0].Type != "thinking" || prev[0].Signature != anthropicSignature(turnTool)) {
				writeAnthropicError(w, 400, "invalid_request_error", fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).", last-1, firstBlockType(prev)))
				return
			}
		}
		if !known {
			writeAnthropicError(w, 400, "invalid_request_error", fmt.Sprintf("messages.%d.content.0: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", last, b.ToolUseID))
			return
		}
		text := contentText(b.Content)
		result = &text
		break
	}
	var tools []string
	for _, t := range req.Tools {
		tools = append(tools, t.Name)
	}
	s := newFakeScript(dAnthropic, tools, result)
	if thinking {
		s.thinking = []string{anthropicThinking[:20], anthropicThinking[20:]}
	}
	u := s.usage
	usage := map[string]any{"input_tokens": u.Prompt - u.Cached - u.CacheWrite, "cache_creation_input_tokens": u.CacheWrite,
		"cache_read_input_tokens": u.Cached, "output_tokens": u.Completion, "service_tier": "standard"}
	stop := "end_turn"
	if s.tool != "" {
		stop = "tool_use"
	}
	id := fmt.Sprintf("msg_fake%d", s.kind)
	toolID := fmt.Sprintf("toolu_fake%d", s.kind)
	if !req.Stream {
		var content []any
		if len(s.thinking) > 0 {
			content = append(content, map[string]any{"type": "thinking", "thinking": strings.Join(s.thinking, ""), "signature": anthropicSignature(s.kind)})
		}
		content = append(content, map[string]any{"type": "text", "text": s.fullText()})
		if s.tool != "" {
			content = append(content, map[string]any{"type": "tool_use", "id": toolID, "name": s.tool, "input": json.RawMessage(s.fullArgs())})
		}
		writeJSON(w, 200, map[string]any{"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": usage})
		return
	}
	out := startFakeSSE(w)
	startUsage := map[string]any{}
	for k, v := range usage {
		startUsage[k] = v
	}
	startUsage["output_tokens"] = 1
	out.send("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": id, "type": "message",
		"role": "assistant", "model": req.Model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": startUsage}})
	index := 0
	block := func(start map[string]any, deltas []map[string]any) {
		out.send("content_block_start", map[string]any{"type": "content_block_start", "index": index, "content_block": start})
		if index == 0 {
			out.raw("event: ping\ndata: {\"type\": \"ping\"}\n\n")
		}
		for _, d := range deltas {
			out.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index, "delta": d})
		}
		out.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		index++
	}
	if len(s.thinking) > 0 {
		var deltas []map[string]any
		for _, p := range s.thinking {
			deltas = append(deltas, map[string]any{"type": "thinking_delta", "thinking": p})
		}
		deltas = append(deltas, map[string]any{"type": "signature_delta", "signature": anthropicSignature(s.kind)})
		block(map[string]any{"type": "thinking", "thinking": "", "signature": ""}, deltas)
	}
	var deltas []map[string]any
	for _, p := range s.text {
		deltas = append(deltas, map[string]any{"type": "text_delta", "text": p})
	}
	block(map[string]any{"type": "text", "text": ""}, deltas)
	if s.tool != "" {
		deltas = []map[string]any{{"type": "input_json_delta", "partial_json": ""}}
		for _, p := range s.args {
			deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": p})
		}
		block(map[string]any{"type": "tool_use", "id": toolID, "name": s.tool, "input": map[string]any{}}, deltas)
	}
	delete(usage, "service_tier")
	out.send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": usage})
	out.send("message_stop", map[string]any{"type": "message_stop"})
}

func firstBlockType(blocks []anthropicBlock) string {
	if len(blocks) == 0 {
		return "nothing"
	}
	return blocks[0].Type
}

// ---- Gemini ----

func writeGeminiError(w http.ResponseWriter, status int, st, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st}})
}

func (f *fakeProviders) gemini(w http.ResponseWriter, r *http.Request, body []byte) {
	model, action, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":")
	stream := action == "streamGenerateContent"
	if !stream && action != "generateContent" {
		writeGeminiError(w, 404, "NOT_FOUND", "unknown method "+action)
		return
	}
	if stream && r.URL.Query().Get("alt") != "sse" {
		writeGeminiError(w, 400, "INVALID_ARGUMENT", "this fake streams only with alt=sse")
		return
	}
	type part struct {
		Text         *string `json:"text"`
		FunctionCall *struct {
			Name string `json:"name"`
		} `json:"functionCall"`
		FunctionResponse *struct {
			Name     string         `json:"name"`
			Response map[string]any `json:"response"`
		} `json:"functionResponse"`
	}
	var req struct {
		Contents []struct {
			Role  string `json:"role"`
			Parts []part `json:"parts"`
		} `json:"contents"`
		Tools []struct {
			FunctionDeclarations []struct {
				Name string `json:"name"`
			} `json:"functionDeclarations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Contents) == 0 {
		writeGeminiError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid JSON payload received. %v", err))
		return
	}
	var result *string
	last := len(req.Contents) - 1
	for _, p := range req.Contents[last].Parts {
		if p.FunctionResponse == nil {
			continue
		}
		called := false
		if last > 0 && req.Contents[last-1].Role == "model" {
			for _, q := range req.Contents[last-1].Parts {
				called = called || (q.FunctionCall != nil && q.FunctionCall.Name == p.FunctionResponse.Name)
			}
		}
		if !called {
			writeGeminiError(w, 400, "INVALID_ARGUMENT", "Please ensure that function response turn comes immediately after a function call turn, and names match.")
			return
		}
		text := functionResponseText(p.FunctionResponse.Response)
		result = &text
		break
	}
	var tools []string
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			tools = append(tools, d.Name)
		}
	}
	s := newFakeScript(dGemini, tools, result)
	u := s.usage
	usage := map[string]any{"promptTokenCount": u.Prompt, "candidatesTokenCount": u.Completion - u.Reasoning,
		"totalTokenCount": u.Prompt + u.Completion, "cachedContentTokenCount": u.Cached, "thoughtsTokenCount": u.Reasoning,
		"promptTokensDetails":     []any{map[string]any{"modality": "TEXT", "tokenCount": u.Prompt}},
		"cacheTokensDetails":      []any{map[string]any{"modality": "TEXT", "tokenCount": u.Cached}},
		"candidatesTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": u.Completion - u.Reasoning}}}
	callPart := func() map[string]any {
		var args map[string]any
		_ = json.Unmarshal([]byte(s.fullArgs()), &args)
		return map[string]any{"functionCall": map[string]any{"name": s.tool, "args": args}, "thoughtSignature": geminiSignature}
	}
	chunk := func(parts []any, finish bool, usage map[string]any) map[string]any {
		cand := map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "index": 0}
		if finish {
			cand["finishReason"] = "STOP"
		}
		return map[string]any{"candidates": []any{cand}, "usageMetadata": usage, "modelVersion": model,
			"responseId": fmt.Sprintf("fakeResp%d", s.kind)}
	}
	if !stream {
		parts := []any{map[string]any{"text": s.fullText()}}
		if s.tool != "" {
			parts = append(parts, callPart())
		}
		writeJSON(w, 200, chunk(parts, true, usage))
		return
	}
	out := startFakeSSE(w)
	partial := map[string]any{"promptTokenCount": u.Prompt, "totalTokenCount": u.Prompt}
	for i, p := range s.text {
		final := i == len(s.text)-1 && s.tool == ""
		if final {
			out.send("", chunk([]any{map[string]any{"text": p}}, true, usage))
		} else {
			out.send("", chunk([]any{map[string]any{"text": p}}, false, partial))
		}
	}
	if s.tool != "" {
		out.send("", chunk([]any{callPart()}, true, usage))
	}
}

// responseText reads a functionResponse's response: its one string member
// when there is one (SDKs send {"output": …} or {"result": …}), else its
// JSON.
func functionResponseText(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// ---- OpenAI Chat Completions ----

// Models that make the fake OpenAI fail: an HTTP 500 before anything, or a
// stream that drops its connection after the first words.
const (
	modelFail500 = "gpt-fail500"
	modelFailCut = "gpt-failcut"
)

func (f *fakeProviders) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		writeOpenAIError(w, 400, "We could not parse the JSON body of your request.", "invalid_request_error", "")
		return
	}
	if req.Model == modelFail500 {
		writeOpenAIError(w, 500, "The server had an error while processing your request. Sorry about that!", "server_error", "")
		return
	}
	var result *string
	last := len(req.Messages) - 1
	if req.Messages[last].Role == "tool" {
		// Every trailing tool message must answer a call of the assistant
		// message before them.
		first := last
		for first > 0 && req.Messages[first-1].Role == "tool" {
			first--
		}
		ids := map[string]bool{}
		if first > 0 && req.Messages[first-1].Role == "assistant" {
			for _, c := range req.Messages[first-1].ToolCalls {
				ids[c.ID] = true
			}
		}
		for _, m := range req.Messages[first:] {
			if !ids[m.ToolCallID] {
				writeOpenAIError(w, 400, "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", "invalid_request_error", "")
				return
			}
		}
		text := contentText(req.Messages[last].Content)
		result = &text
	}
	var tools []string
	for _, t := range req.Tools {
		tools = append(tools, t.Function.Name)
	}
	s := newFakeScript(dChat, tools, result)
	u := s.usage
	usage := map[string]any{"prompt_tokens": u.Prompt, "completion_tokens": u.Completion, "total_tokens": u.Prompt + u.Completion,
		"prompt_tokens_details":     map[string]any{"cached_tokens": u.Cached, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
	finish := "stop"
	if s.tool != "" {
		finish = "tool_calls"
	}
	const callID = "call_fake1"
	created := time.Now().Unix()
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": s.fullText(), "refusal": nil, "annotations": []any{}}
		if s.tool != "" {
			msg["tool_calls"] = []any{map[string]any{"id": callID, "type": "function",
				"function": map[string]any{"name": s.tool, "arguments": s.fullArgs()}}}
		}
		writeJSON(w, 200, map[string]any{"id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"usage":   usage, "service_tier": "default", "system_fingerprint": "fp_fake"})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	out := startFakeSSE(w)
	send := func(delta map[string]any, finish any) {
		c := map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"service_tier": "default", "system_fingerprint": "fp_fake",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
		if includeUsage {
			c["usage"] = nil
		}
		out.send("", c)
	}
	send(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil)
	for i, p := range s.text {
		send(map[string]any{"content": p}, nil)
		if req.Model == modelFailCut && i == 0 {
			if conn, _, err := out.rc.Hijack(); err == nil {
				conn.Close()
			}
			return
		}
	}
	if s.tool != "" {
		send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": callID, "type": "function",
			"function": map[string]any{"name": s.tool, "arguments": ""}}}}, nil)
		for _, p := range s.args {
			send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": p}}}}, nil)
		}
	}
	send(map[string]any{}, finish)
	if includeUsage {
		out.send("", map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"service_tier": "default", "system_fingerprint": "fp_fake", "choices": []any{}, "usage": usage})
	}
	out.raw("data: [DONE]\n\n")
}

// ---- OpenAI Responses ----

func (f *fakeProviders) responses(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model  string          `json:"model"`
		Stream bool            `json:"stream"`
		Input  json.RawMessage `json:"input"`
		Tools  []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeOpenAIError(w, 400, "We could not parse the JSON body of your request.", "invalid_request_error", "")
		return
	}
	var items []struct {
		Type   string          `json:"type"`
		CallID string          `json:"call_id"`
		Output json.RawMessage `json:"output"`
	}
	var str string
	if json.Unmarshal(req.Input, &str) != nil {
		if err := json.Unmarshal(req.Input, &items); err != nil {
			writeOpenAIError(w, 400, "Invalid type for 'input'.", "invalid_request_error", "invalid_type")
			return
		}
	}
	var result *string
	if n := len(items); n > 0 && items[n-1].Type == "function_call_output" {
		called := false
		for _, it := range items[:n-1] {
			called = called || (it.Type == "function_call" && it.CallID == items[n-1].CallID)
		}
		if !called {
			writeOpenAIError(w, 400, "No tool call found for function call output with call_id "+items[n-1].CallID+".", "invalid_request_error", "")
			return
		}
		text := contentText(items[n-1].Output)
		result = &text
	}
	var tools []string
	for _, t := range req.Tools {
		if t.Type == "function" {
			tools = append(tools, t.Name)
		}
	}
	s := newFakeScript(dResponses, tools, result)
	u := s.usage
	usage := map[string]any{"input_tokens": u.Prompt, "input_tokens_details": map[string]any{"cached_tokens": u.Cached},
		"output_tokens": u.Completion, "output_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning},
		"total_tokens": u.Prompt + u.Completion}
	msgID, fcID, callID := fmt.Sprintf("msg_fake%d", s.kind), fmt.Sprintf("fc_fake%d", s.kind), "call_fakeR1"
	textPart := map[string]any{"type": "output_text", "text": s.fullText(), "annotations": []any{}, "logprobs": []any{}}
	message := map[string]any{"id": msgID, "type": "message", "status": "completed", "role": "assistant", "content": []any{textPart}}
	call := map[string]any{"id": fcID, "type": "function_call", "status": "completed", "arguments": s.fullArgs(), "call_id": callID, "name": s.tool}
	output := []any{message}
	if s.tool != "" {
		output = append(output, call)
	}
	response := func(status string, output []any, usage any) map[string]any {
		return map[string]any{"id": fmt.Sprintf("resp_fake%d", s.kind), "object": "response", "created_at": time.Now().Unix(),
			"status": status, "background": false, "error": nil, "incomplete_details": nil, "instructions": nil,
			"max_output_tokens": nil, "model": req.Model, "output": output, "parallel_tool_calls": true,
			"previous_response_id": nil, "reasoning": map[string]any{"effort": nil, "summary": nil}, "store": false,
			"temperature": 1.0, "text": map[string]any{"format": map[string]any{"type": "text"}}, "tool_choice": "auto",
			"tools": []any{}, "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": nil, "metadata": map[string]any{}}
	}
	if !req.Stream {
		writeJSON(w, 200, response("completed", output, usage))
		return
	}
	out := startFakeSSE(w)
	seq := 0
	send := func(typ string, fields map[string]any) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		out.send(typ, fields)
	}
	send("response.created", map[string]any{"response": response("in_progress", []any{}, nil)})
	send("response.in_progress", map[string]any{"response": response("in_progress", []any{}, nil)})
	send("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{"id": msgID, "type": "message",
		"status": "in_progress", "role": "assistant", "content": []any{}}})
	send("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0,
		"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}}})
	for _, p := range s.text {
		send("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "delta": p, "logprobs": []any{}})
	}
	send("response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "text": s.fullText(), "logprobs": []any{}})
	send("response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": textPart})
	send("response.output_item.done", map[string]any{"output_index": 0, "item": message})
	if s.tool != "" {
		send("response.output_item.added", map[string]any{"output_index": 1, "item": map[string]any{"id": fcID, "type": "function_call",
			"status": "in_progress", "arguments": "", "call_id": callID, "name": s.tool}})
		for _, p := range s.args {
			send("response.function_call_arguments.delta", map[string]any{"item_id": fcID, "output_index": 1, "delta": p})
		}
		send("response.function_call_arguments.done", map[string]any{"item_id": fcID, "output_index": 1, "arguments": s.fullArgs()})
		send("response.output_item.done", map[string]any{"output_index": 1, "item": call})
	}
	send("response.completed", map[string]any{"response": response("completed", output, usage)})
}
