package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"sluice/relay/format"
)

// Defaults for max_tokens, which Anthropic requires. With thinking on,
// max_tokens must exceed budget_tokens, so the answer gets its own 4096 on
// top of the budget.
const (
	defaultMaxTokens = 4096
	minThinkBudget   = 1024 // the API's minimum budget_tokens
	maxThinkBudget   = 1 << 30
)

// Thinking budgets for the IR's effort levels (see format.Thinking).
var effortBudget = map[string]int{"low": 1024, "medium": 8192, "high": 24576}

type wireRequest struct {
	Model         string            `json:"model"`
	MaxTokens     int               `json:"max_tokens"`
	System        any               `json:"system,omitempty"`
	Messages      []wireMessage     `json:"messages"`
	Tools         []wireTool        `json:"tools,omitempty"`
	ToolChoice    *wireToolChoice   `json:"tool_choice,omitempty"`
	Thinking      *wireThinking     `json:"thinking,omitempty"`
	Temperature   *float64          `json:"temperature,omitempty"`
	TopP          *float64          `json:"top_p,omitempty"`
	TopK          *int              `json:"top_k,omitempty"`
	StopSequences []string          `json:"stop_sequences,omitempty"`
	Stream        bool              `json:"stream,omitempty"`
	Metadata      *wireMetadata     `json:"metadata,omitempty"`
	OutputConfig  *wireOutputConfig `json:"output_config,omitempty"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type wireTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type wireThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens"`
}

type wireMetadata struct {
	UserID string `json:"user_id"`
}

type wireOutputConfig struct {
	Format wireOutputFormat `json:"format"`
}

type wireOutputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// EncodeRequest builds the upstream Messages API body. Beyond a direct
// mapping it applies the API's constraints so a request converted from
// another dialect is not refused:
//   - max_tokens is always set (4096, or budget+4096 with thinking);
//   - thinking from an effort level becomes a budget; it is dropped when a
//     tool is forced, when the client's max_tokens leaves no room for the
//     1024-token minimum, and when the final assistant turn calls tools
//     without the signed thinking block the API then demands;
//   - with thinking on, temperature and top_k are dropped and top_p kept
//     only in the allowed 0.95–1 range;
//   - temperature is capped at 1, and top_p is dropped when temperature is
//     also set (Claude 4.5 and later refuse both);
//   - thinking parts without a signature (another provider's reasoning) are
//     dropped, consecutive same-role messages merged and tool results moved
//     to the front of their user turn;
//   - tool ids are reduced to the characters the API accepts.
//
// A JSON-object response format (no schema) has no Anthropic equivalent
// and is dropped.
func EncodeRequest(r *format.Request) ([]byte, error) {
	msgs, err := encodeMessages(r.Messages)
	if err != nil {
		return nil, err
	}
	w := wireRequest{
		Model:         r.Model,
		System:        encodeSystem(r.System),
		Messages:      msgs,
		StopSequences: r.Stop,
		Stream:        r.Stream,
	}
	if w.Tools, err = encodeTools(r.Tools); err != nil {
		return nil, err
	}
	w.ToolChoice = encodeToolChoice(r.ToolChoice, len(w.Tools) > 0)
	applySampling(&w, r)
	if r.User != "" {
		w.Metadata = &wireMetadata{UserID: r.User}
	}
	if rf := r.ResponseFormat; rf != nil && rf.Type == "json_schema" && len(rf.Schema) > 0 {
		if !json.Valid(rf.Schema) {
			return nil, invalidf("response_format: schema is not valid JSON")
		}
		w.OutputConfig = &wireOutputConfig{Format: wireOutputFormat{Type: "json_schema", Schema: rf.Schema}}
	}
	return marshal(w)
}

// applySampling sets max_tokens, thinking and the sampling parameters,
// which constrain one another (see EncodeRequest).
func applySampling(w *wireRequest, r *format.Request) {
	budget := thinkingBudget(r.Thinking)
	if tc := w.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
		budget = 0 // "Thinking may not be enabled when tool_choice forces tool use."
	}
	if budget > 0 && finalTurnLacksThinking(w.Messages) {
		budget = 0
	}
	w.MaxTokens = r.MaxTokens
	if budget > 0 {
		switch {
		case w.MaxTokens == 0:
			w.MaxTokens = budget + defaultMaxTokens
		case w.MaxTokens <= budget:
			// The client's cap covers thinking and answer together (as
			// OpenAI's max_completion_tokens does): shrink the budget.
			budget = w.MaxTokens - 1
			if budget < minThinkBudget {
				budget = 0
			}
		}
	}
	if w.MaxTokens == 0 {
		w.MaxTokens = defaultMaxTokens
	}
	w.Temperature, w.TopP, w.TopK = r.Temperature, r.TopP, r.TopK
	if budget > 0 {
		w.Thinking = &wireThinking{Type: "enabled", BudgetTokens: budget}
		w.Temperature, w.TopK = nil, nil
		if w.TopP != nil && *w.TopP < 0.95 {
			w.TopP = nil
		}
		return
	}
	if t := w.Temperature; t != nil && *t > 1 {
		one := 1.0
		w.Temperature = &one
	}
	if w.Temperature != nil {
		w.TopP = nil
	}
}

// thinkingBudget returns the budget_tokens to ask for, 0 for none.
func thinkingBudget(t *format.Thinking) int {
	if t == nil {
		return 0
	}
	off := t.Effort == "minimal" || t.Effort == "none"
	if !t.Enabled && (t.Effort == "" || off) {
		return 0
	}
	b := t.BudgetTokens
	if b <= 0 {
		if off {
			return 0
		}
		var ok bool
		if b, ok = effortBudget[t.Effort]; !ok {
			b = effortBudget["medium"]
		}
	}
	// The cap keeps budget+defaultMaxTokens an int32, as max_tokens is.
	return min(max(b, minThinkBudget), maxThinkBudget)
}

// finalTurnLacksThinking reports whether the last assistant message calls
// tools without starting with a thinking block. With thinking enabled the
// API refuses such a history ("a final assistant message must start with
// a thinking block"); it arises whenever the history came from a client
// of another dialect, which had no signed thinking to send back.
func finalTurnLacksThinking(msgs []wireMessage) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role != "assistant" {
			continue
		}
		calls := false
		for _, b := range m.Content {
			if _, ok := b.(toolUseOut); ok {
				calls = true
				break
			}
		}
		if !calls {
			return false
		}
		switch m.Content[0].(type) {
		case thinkingOut, redactedOut:
			return false
		}
		return true
	}
	return false
}

func encodeSystem(parts []format.Part) any {
	var blocks []textOut
	for _, p := range parts {
		if p.Type == format.PartText && p.Text != "" {
			blocks = append(blocks, textOut{Type: "text", Text: p.Text, CacheControl: rawObject(p.CacheControl)})
		}
	}
	switch {
	case len(blocks) == 0:
		return nil
	case len(blocks) == 1 && blocks[0].CacheControl == nil:
		return blocks[0].Text
	}
	return blocks
}

// encodeMessages converts the turns, dropping those left empty, merging
// consecutive same-role turns and putting tool results first in each user
// turn, as the API requires them to come before any other content.
func encodeMessages(msgs []format.Message) ([]wireMessage, error) {
	out := make([]wireMessage, 0, len(msgs))
	for i, m := range msgs {
		role := "user"
		if m.Role == format.RoleAssistant {
			role = "assistant"
		}
		blocks := make([]any, 0, len(m.Parts))
		for _, p := range m.Parts {
			b, err := encodePart(p, true)
			if err != nil {
				return nil, invalidf("messages[%d]: %v", i, err)
			}
			if b != nil {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
		} else {
			out = append(out, wireMessage{Role: role, Content: blocks})
		}
	}
	for _, m := range out {
		if m.Role == "user" {
			toolResultsFirst(m.Content)
		}
	}
	return out, nil
}

// toolResultsFirst stably moves tool_result blocks to the front.
func toolResultsFirst(blocks []any) {
	n := 0
	for i, b := range blocks {
		if _, ok := b.(toolResultOut); ok {
			copy(blocks[n+1:i+1], blocks[n:i])
			blocks[n] = b
			n++
		}
	}
}

func encodeTools(tools []format.Tool) ([]wireTool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]wireTool, 0, len(tools))
	for i, t := range tools {
		schema, err := inputSchema(t.Parameters)
		if err != nil {
			return nil, invalidf("tools[%d]: %v", i, err)
		}
		out = append(out, wireTool{
			Name:         t.Name,
			Description:  t.Description,
			InputSchema:  schema,
			CacheControl: rawObject(t.CacheControl),
		})
	}
	return out, nil
}

// inputSchema returns a schema the API accepts: an object schema with a
// "type" (OpenAI allows {} or no parameters at all).
func inputSchema(p json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(p)) == 0 || bytes.Equal(bytes.TrimSpace(p), []byte("null")) {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	if tooDeep(p, maxDepth) || !gjson.ValidBytes(p) || !gjson.ParseBytes(p).IsObject() {
		return nil, errAt("parameters: must be a JSON Schema object")
	}
	if !gjson.GetBytes(p, "type").Exists() {
		fixed, err := sjson.SetBytes(append([]byte(nil), p...), "type", "object")
		if err != nil {
			return nil, errAt("parameters: must be a JSON Schema object")
		}
		return fixed, nil
	}
	return p, nil
}

// encodeToolChoice maps the choice; the API refuses a tool_choice without
// tools, so it is dropped then.
func encodeToolChoice(tc *format.ToolChoice, haveTools bool) *wireToolChoice {
	if tc == nil || !haveTools {
		return nil
	}
	w := &wireToolChoice{Type: "auto"}
	switch tc.Mode {
	case format.ToolChoiceNone:
		// disable_parallel_tool_use is not allowed with "none".
		return &wireToolChoice{Type: "none"}
	case format.ToolChoiceRequired:
		w.Type = "any"
	case format.ToolChoiceTool:
		w.Type, w.Name = "tool", tc.Name
	}
	w.DisableParallelToolUse = tc.DisableParallel
	if w.Type == "auto" && !w.DisableParallelToolUse && tc.Mode == 0 {
		return nil // nothing was actually asked for
	}
	return w
}

// rawObject returns cc when it is a JSON object, nil otherwise: a cache
// hint that cannot be sent is better lost than failing the request.
func rawObject(cc json.RawMessage) json.RawMessage {
	if len(cc) == 0 || tooDeep(cc, maxDepth) || !gjson.ValidBytes(cc) || !gjson.ParseBytes(cc).IsObject() {
		return nil
	}
	return cc
}

// sanitizeID keeps tool ids within the API's ^[a-zA-Z0-9_-]+$ by turning
// any other byte into '_' (some OpenAI-compatible upstreams issue ids like
// "functions.get_weather:0"). tool_use and tool_result ids go through the
// same function, so they still pair up.
func sanitizeID(id string) string {
	if id == "" {
		return "toolu_"
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !idByte(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// marshal is format.Marshal, its failure reported as ErrInvalid.
func marshal(v any) ([]byte, error) {
	b, err := format.Marshal(v)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return b, nil
}

// mediaTypeOf guesses an image's media type from the first bytes of its
// base64 data, for inline images that arrived without one (the API
// requires media_type).
func mediaTypeOf(data string) string {
	switch {
	case strings.HasPrefix(data, "iVBORw0KGgo"):
		return "image/png"
	case strings.HasPrefix(data, "/9j/"):
		return "image/jpeg"
	case strings.HasPrefix(data, "R0lGOD"):
		return "image/gif"
	case strings.HasPrefix(data, "UklGR"):
		return "image/webp"
	}
	return "image/png"
}
