package gemini

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"sluice/relay/format"
)

// Wire types for encoding: camelCase, as the API documents and emits.

type wireRequest struct {
	Contents          []wireContent   `json:"contents"`
	SystemInstruction *wireContent    `json:"systemInstruction,omitempty"`
	Tools             []wireTool      `json:"tools,omitempty"`
	ToolConfig        *wireToolConfig `json:"toolConfig,omitempty"`
	GenerationConfig  *wireGenConfig  `json:"generationConfig,omitempty"`
}

type wireContent struct {
	Role  string     `json:"role,omitempty"`
	Parts []wirePart `json:"parts,omitempty"`
}

// wirePart is one part. Text is a pointer because an empty text part
// holding only a thoughtSignature must still say "text": "".
type wirePart struct {
	Text             *string           `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	InlineData       *wireBlob         `json:"inlineData,omitempty"`
	FileData         *wireFile         `json:"fileData,omitempty"`
	FunctionCall     *wireCall         `json:"functionCall,omitempty"`
	FunctionResponse *wireFuncResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
}

type wireBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type wireFile struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type wireCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type wireFuncResponse struct {
	ID       string             `json:"id,omitempty"`
	Name     string             `json:"name"`
	Response json.RawMessage    `json:"response"`
	Parts    []wireFuncRespPart `json:"parts,omitempty"`
}

type wireFuncRespPart struct {
	InlineData *wireBlob `json:"inlineData,omitempty"`
}

type wireTool struct {
	FunctionDeclarations []wireFuncDecl `json:"functionDeclarations"`
}

// wireFuncDecl sends parameters as parametersJsonSchema: the API accepts
// full JSON Schema there, whereas "parameters" is an OpenAPI subset that
// rejects what OpenAI and Anthropic tools routinely contain
// (additionalProperties, $defs, const, type arrays).
type wireFuncDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type wireToolConfig struct {
	FunctionCallingConfig wireFuncCallingConfig `json:"functionCallingConfig"`
}

type wireFuncCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type wireGenConfig struct {
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	ThinkingConfig     *wireThinking   `json:"thinkingConfig,omitempty"`
}

type wireThinking struct {
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int `json:"thinkingBudget,omitempty"`
}

type wireResponse struct {
	Candidates    []wireCandidate `json:"candidates"`
	UsageMetadata *wireUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string          `json:"modelVersion,omitempty"`
	ResponseID    string          `json:"responseId,omitempty"`
}

type wireCandidate struct {
	Content      *wireContent `json:"content,omitempty"`
	FinishReason string       `json:"finishReason,omitempty"`
	Index        int          `json:"index"`
}

func strPtr(s string) *string { return &s }

// argsObject returns tool call arguments as the JSON object Gemini's args
// must be ("" is no arguments); ok is false for anything else.
func argsObject(s string) (json.RawMessage, bool) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 {
		return json.RawMessage("{}"), true
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	return json.RawMessage(b), true
}

// imagePart encodes an image: inline data as inlineData, a data: URL
// likewise, any other URL as fileData with a media type guessed from its
// extension. Detail has no Gemini equivalent.
func imagePart(img *format.Image) wirePart {
	if img.Data != "" {
		return wirePart{InlineData: &wireBlob{MimeType: orDefault(img.MediaType, "image/jpeg"), Data: img.Data}}
	}
	if mime, data, ok := parseDataURL(img.URL); ok {
		return wirePart{InlineData: &wireBlob{MimeType: orDefault(mime, "image/jpeg"), Data: data}}
	}
	return wirePart{FileData: &wireFile{MimeType: orDefault(img.MediaType, guessMime(img.URL)), FileURI: img.URL}}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// EncodeRequest converts a format.Request into a generateContent body.
// Model and Stream are not written: they belong in the URL (the adaptor builds it).
// Lost on the way, for want of a Gemini field: User, CacheControl,
// DisableParallel, image Detail, redacted thinking (Anthropic's, which a
// Gemini model could not read), ResponseFormat's Name and Strict.
func EncodeRequest(r *format.Request) ([]byte, error) {
	w := wireRequest{Contents: make([]wireContent, 0, len(r.Messages))}
	names := resultNames(r.Messages)
	for i := range r.Messages {
		c, err := encodeMessage(&r.Messages[i], i, names)
		if err != nil {
			return nil, err
		}
		if len(c.Parts) > 0 {
			w.Contents = append(w.Contents, c)
		}
	}
	w.SystemInstruction = encodeSystem(r.System)
	for i, t := range r.Tools {
		d := wireFuncDecl{Name: t.Name, Description: t.Description}
		if len(t.Parameters) > 0 {
			if !json.Valid(t.Parameters) || bytes.TrimSpace(t.Parameters)[0] != '{' {
				return nil, invalid("tools["+strconv.Itoa(i)+"].parameters", "must be a JSON object")
			}
			d.ParametersJSONSchema = t.Parameters
		}
		if len(w.Tools) == 0 {
			w.Tools = []wireTool{{}}
		}
		w.Tools[0].FunctionDeclarations = append(w.Tools[0].FunctionDeclarations, d)
	}
	w.ToolConfig = encodeToolChoice(r.ToolChoice)
	gc, err := encodeGenConfig(r)
	if err != nil {
		return nil, err
	}
	w.GenerationConfig = gc
	return format.Marshal(w)
}

// resultNames maps call ids to tool names, for tool results whose Name
// the client's dialect did not carry: Gemini requires it.
func resultNames(msgs []format.Message) map[string]string {
	var names map[string]string
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type == format.PartToolCall && p.ToolCall != nil {
				if names == nil {
					names = map[string]string{}
				}
				names[p.ToolCall.ID] = p.ToolCall.Name
			}
		}
	}
	return names
}

func encodeSystem(parts []format.Part) *wireContent {
	var c wireContent
	for _, p := range parts {
		if p.Type == format.PartText && p.Text != "" {
			c.Parts = append(c.Parts, wirePart{Text: strPtr(p.Text)})
		}
	}
	if len(c.Parts) == 0 {
		return nil
	}
	return &c
}

// encodeMessage converts one IR message into a Gemini content.
//
// Thought signatures: Gemini wants a signature on the part it followed
// (the first functionCall of a step, or a text part), while the other
// dialects keep it on a thinking block before that part. A thinking
// part's signature therefore moves onto the next part when that part has
// none of its own. The first functionCall of a model turn that still has
// no signature gets Google's documented placeholder, so history from
// another model does not fail Gemini 3's validation.
func encodeMessage(m *format.Message, mi int, names map[string]string) (wireContent, error) {
	c := wireContent{Role: "user", Parts: make([]wirePart, 0, len(m.Parts))}
	model := m.Role == format.RoleAssistant
	if model {
		c.Role = "model"
	}
	carry := "" // signature moved from a thinking part onto the next part
	firstCall := true
	for i := range m.Parts {
		p := &m.Parts[i]
		sig := p.Signature
		if sig == "" {
			sig = carry
		}
		carry = ""
		switch p.Type {
		case format.PartThinking:
			if sig != "" && takesSignature(m.Parts, i+1) {
				carry, sig = sig, ""
			}
			switch {
			case p.Text != "":
				c.Parts = append(c.Parts, wirePart{Text: strPtr(p.Text), Thought: true, ThoughtSignature: sig})
			case sig != "":
				c.Parts = append(c.Parts, wirePart{Text: strPtr(""), ThoughtSignature: sig})
			}
		case format.PartText:
			if p.Text != "" || sig != "" {
				c.Parts = append(c.Parts, wirePart{Text: strPtr(p.Text), ThoughtSignature: sig})
			}
		case format.PartImage:
			if p.Image != nil {
				c.Parts = append(c.Parts, imagePart(p.Image))
			}
		case format.PartToolCall:
			if p.ToolCall == nil {
				continue
			}
			args, ok := argsObject(p.ToolCall.Arguments)
			if !ok {
				return c, invalid("messages["+strconv.Itoa(mi)+"] tool call "+strconv.Quote(p.ToolCall.Name), "arguments must be a JSON object")
			}
			if model && firstCall && sig == "" {
				sig = skipSignature
			}
			firstCall = false
			c.Parts = append(c.Parts, wirePart{
				FunctionCall:     &wireCall{ID: p.ToolCall.ID, Name: p.ToolCall.Name, Args: args},
				ThoughtSignature: sig,
			})
		case format.PartToolResult:
			if p.ToolResult != nil {
				c.Parts = appendToolResult(c.Parts, p.ToolResult, names)
			}
		}
	}
	return c, nil
}

// takesSignature reports whether parts[i] is a text or tool call part
// without a signature of its own.
func takesSignature(parts []format.Part, i int) bool {
	if i >= len(parts) || parts[i].Signature != "" {
		return false
	}
	t := parts[i].Type
	return t == format.PartToolCall || t == format.PartText
}

// appendToolResult encodes a tool result as a functionResponse. Its text
// is wrapped as {"content": text} ({"error": text} when IsError): Gemini's
// response must be an object. Inline images ride in functionResponse.parts
// (the API's multimodal function responses); URL images cannot (fileData
// is not accepted there by the Gemini API), so they follow as fileData
// parts of the same turn.
func appendToolResult(dst []wirePart, tr *format.ToolResult, names map[string]string) []wirePart {
	name := tr.Name
	if name == "" {
		name = names[tr.CallID]
	}
	var text strings.Builder
	var nested []wireFuncRespPart
	var after []wirePart
	for _, c := range tr.Content {
		switch {
		case c.Type == format.PartText:
			if text.Len() > 0 && c.Text != "" {
				text.WriteByte('\n')
			}
			text.WriteString(c.Text)
		case c.Type == format.PartImage && c.Image != nil:
			ip := imagePart(c.Image)
			if ip.InlineData != nil {
				nested = append(nested, wireFuncRespPart{InlineData: ip.InlineData})
			} else {
				after = append(after, ip)
			}
		}
	}
	key := "content"
	if tr.IsError {
		key = "error"
	}
	resp, _ := format.Marshal(map[string]string{key: text.String()})
	dst = append(dst, wirePart{FunctionResponse: &wireFuncResponse{
		ID: tr.CallID, Name: name, Response: resp, Parts: nested,
	}})
	return append(dst, after...)
}

func encodeToolChoice(tc *format.ToolChoice) *wireToolConfig {
	if tc == nil {
		return nil
	}
	var f wireFuncCallingConfig
	switch tc.Mode {
	case format.ToolChoiceAuto:
		f.Mode = "AUTO"
	case format.ToolChoiceNone:
		f.Mode = "NONE"
	case format.ToolChoiceRequired:
		f.Mode = "ANY"
	case format.ToolChoiceTool:
		f.Mode, f.AllowedFunctionNames = "ANY", []string{tc.Name}
	default:
		return nil
	}
	return &wireToolConfig{FunctionCallingConfig: f}
}

func encodeGenConfig(r *format.Request) (*wireGenConfig, error) {
	g := wireGenConfig{
		StopSequences:   r.Stop,
		MaxOutputTokens: r.MaxTokens,
		Temperature:     r.Temperature,
		TopP:            r.TopP,
		TopK:            r.TopK,
		ThinkingConfig:  encodeThinking(r.Thinking),
	}
	if rf := r.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		g.ResponseMimeType = "application/json"
		if rf.Type == "json_schema" && len(rf.Schema) > 0 {
			if !json.Valid(rf.Schema) {
				return nil, invalid("response_format.schema", "must be valid JSON")
			}
			// responseJsonSchema takes full JSON Schema, like the tools'
			// parametersJsonSchema.
			g.ResponseJSONSchema = rf.Schema
		}
	}
	if g.StopSequences == nil && g.MaxOutputTokens == 0 && g.Temperature == nil && g.TopP == nil &&
		g.TopK == nil && g.ThinkingConfig == nil && g.ResponseMimeType == "" {
		return nil, nil
	}
	return &g, nil
}

// encodeThinking maps the IR's thinking request. Disabled is a budget of
// 0 (which Gemini's Pro models refuse: they cannot stop thinking); an
// effort becomes a budget through the IR's table rather than Gemini 3's
// thinkingLevel, which Gemini 2.5 rejects, while every thinking model
// accepts a budget; neither given is -1, Gemini's dynamic budget.
// Thoughts are asked for whenever thinking is on, as every other dialect
// shows them.
func encodeThinking(t *format.Thinking) *wireThinking {
	if t == nil {
		return nil
	}
	budget := 0
	if !t.Enabled {
		return &wireThinking{ThinkingBudget: &budget}
	}
	switch {
	case t.BudgetTokens > 0:
		budget = t.BudgetTokens
	case effortBudget[t.Effort] > 0:
		budget = effortBudget[t.Effort]
	default:
		budget = -1
	}
	return &wireThinking{IncludeThoughts: true, ThinkingBudget: &budget}
}

// EncodeResponse converts a format.Response into a generateContent body.
// Thought signatures stay on the part that carried them in the IR (a
// thinking part keeps its own, so a Gemini client sends it back where the
// upstream dialect needs it); redacted thinking travels in a marked
// signature (redactedPrefix).
func EncodeResponse(r *format.Response) ([]byte, error) {
	c := &wireContent{Role: "model"}
	for i := range r.Content {
		if p, ok := responsePart(&r.Content[i]); ok {
			c.Parts = append(c.Parts, p)
		}
	}
	w := wireResponse{
		Candidates:    []wireCandidate{{Content: c, FinishReason: encodeFinish(r.StopReason)}},
		UsageMetadata: usageTo(r.Usage),
		ModelVersion:  r.Model,
		ResponseID:    r.ID,
	}
	return format.Marshal(w)
}

// responsePart encodes one answer part for a Gemini client.
func responsePart(p *format.Part) (wirePart, bool) {
	switch p.Type {
	case format.PartThinking:
		if p.Text == "" && p.Signature == "" {
			return wirePart{}, false
		}
		return wirePart{Text: strPtr(p.Text), Thought: true, ThoughtSignature: p.Signature}, true
	case format.PartText:
		if p.Text == "" && p.Signature == "" {
			return wirePart{}, false
		}
		return wirePart{Text: strPtr(p.Text), ThoughtSignature: p.Signature}, true
	case format.PartRedactedThinking:
		return redactedPart(p.Data), true
	case format.PartImage:
		if p.Image != nil {
			return imagePart(p.Image), true
		}
	case format.PartToolCall:
		if p.ToolCall != nil {
			return wirePart{FunctionCall: clientCall(p.ToolCall), ThoughtSignature: p.Signature}, true
		}
	}
	return wirePart{}, false
}

// redactedPart carries a redacted thinking block to a Gemini client.
func redactedPart(data string) wirePart {
	return wirePart{Text: strPtr(""), Thought: true, ThoughtSignature: redactedPrefix + data}
}

// clientCall encodes a tool call for a Gemini client. Arguments that are
// not a JSON object (only a truncated upstream stream produces them)
// become {}: Gemini's args is an object and SDKs parse it as one.
func clientCall(tc *format.ToolCall) *wireCall {
	args, ok := argsObject(tc.Arguments)
	if !ok {
		args = json.RawMessage("{}")
	}
	return &wireCall{ID: tc.ID, Name: tc.Name, Args: args}
}
