package anthropic

import (
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
)

// DecodeRequest reads a client's Messages API body into the IR. Errors
// wrap format.ErrInvalid and name the offending field the way the client
// wrote it ("messages[2].content[0].source.type: …").
//
// Server tools (web_search and every tool whose type is not "custom") and
// the server-tool blocks in the history are dropped: no other provider can
// run them. Blocks the IR cannot express (document, search_result,
// container_upload, file sources) are rejected instead of silently lost.
func DecodeRequest(body []byte) (*format.Request, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	d := requestDecoder{r: &format.Request{}}
	root.ForEach(func(k, v gjson.Result) bool {
		if v.Type == gjson.Null {
			return true // null means unset for every optional field
		}
		if field := requestFields[k.Str]; field != nil {
			err = prefix(field(&d, v), k.Str)
		}
		return err == nil
	})
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return d.finish()
}

// requestDecoder is the state of one DecodeRequest call.
type requestDecoder struct {
	r            *format.Request
	thinkingType string
	budget       int
	effort       string
	// toolNames maps tool_use ids to names so tool results can carry the
	// name Gemini needs.
	toolNames map[string]string
}

// requestFields dispatches top-level keys; unknown keys (service_tier,
// container, mcp_servers, …) are ignored.
var requestFields = map[string]func(*requestDecoder, gjson.Result) error{
	"model":          (*requestDecoder).model,
	"system":         (*requestDecoder).system,
	"messages":       (*requestDecoder).messages,
	"tools":          (*requestDecoder).tools,
	"tool_choice":    (*requestDecoder).toolChoice,
	"max_tokens":     (*requestDecoder).maxTokens,
	"temperature":    (*requestDecoder).temperature,
	"top_p":          (*requestDecoder).topP,
	"top_k":          (*requestDecoder).topK,
	"stop_sequences": (*requestDecoder).stopSequences,
	"stream":         (*requestDecoder).stream,
	"thinking":       (*requestDecoder).thinking,
	"metadata":       (*requestDecoder).metadata,
	"output_config":  (*requestDecoder).outputConfig,
	// output_format is the structured-outputs beta spelling of
	// output_config.format, still accepted by the API.
	"output_format": func(d *requestDecoder, v gjson.Result) error {
		return d.outputFormat(v)
	},
}

func (d *requestDecoder) finish() (*format.Request, error) {
	r := d.r
	if r.Model == "" {
		return nil, invalidf("model: required")
	}
	if r.Messages == nil {
		return nil, invalidf("messages: required")
	}
	if !hasSendableContent(r.Messages) {
		// Anthropic refuses empty turns too; checking here (with the
		// encoder's own rule) keeps every accepted body re-encodable.
		return nil, invalidf("messages: no message has any content")
	}
	switch d.thinkingType {
	case "enabled":
		r.Thinking = &format.Thinking{Enabled: true, BudgetTokens: d.budget}
	case "adaptive":
		// Adaptive thinking has no budget; its depth is output_config.effort.
		r.Thinking = &format.Thinking{Enabled: true, Effort: irEffort(d.effort)}
	case "disabled":
		r.Thinking = &format.Thinking{}
	}
	return r, nil
}

// hasSendableContent reports whether some part would survive
// EncodeRequest (empty text and unsigned thinking would not).
func hasSendableContent(msgs []format.Message) bool {
	for _, m := range msgs {
		for _, p := range m.Parts {
			if b, _ := encodePart(p, true); b != nil {
				return true
			}
		}
	}
	return false
}

// irEffort maps output_config.effort onto the IR's levels; "max" and
// "xhigh" exist only on Anthropic and become "high".
func irEffort(e string) string {
	switch e {
	case "low", "medium", "high":
		return e
	case "max", "xhigh":
		return "high"
	}
	return ""
}

func (d *requestDecoder) model(v gjson.Result) error {
	if v.Type != gjson.String || v.Str == "" {
		return errAt("must be a non-empty string")
	}
	d.r.Model = v.Str
	return nil
}

func (d *requestDecoder) system(v gjson.Result) error {
	d.r.System = nil
	if v.Type == gjson.String {
		if v.Str != "" {
			d.r.System = []format.Part{{Type: format.PartText, Text: v.Str}}
		}
		return nil
	}
	if !v.IsArray() {
		return errAt("must be a string or an array of text blocks")
	}
	return eachIndexed(v, func(b gjson.Result) error {
		if !b.IsObject() || b.Get("type").Str != "text" {
			return errAt(`must be a block of type "text"`)
		}
		p, err := textBlock(b)
		if err == nil {
			d.r.System = append(d.r.System, p)
		}
		return err
	})
}

func (d *requestDecoder) messages(v gjson.Result) error {
	if !v.IsArray() {
		return errAt("must be an array")
	}
	d.r.Messages = []format.Message{}
	err := eachIndexed(v, func(m gjson.Result) error {
		msg, err := d.message(m)
		if err == nil {
			d.r.Messages = append(d.r.Messages, msg)
		}
		return err
	})
	if err == nil && len(d.r.Messages) == 0 {
		return errAt("must contain at least one message")
	}
	return err
}

func (d *requestDecoder) message(m gjson.Result) (format.Message, error) {
	if !m.IsObject() {
		return format.Message{}, errAt("must be an object")
	}
	var msg format.Message
	switch role := m.Get("role"); role.Str {
	case "user":
		msg.Role = format.RoleUser
	case "assistant":
		msg.Role = format.RoleAssistant
	default:
		return msg, prefix(errAt(`must be "user" or "assistant"`), ".role")
	}
	c := m.Get("content")
	switch {
	case c.Type == gjson.String:
		if c.Str != "" {
			msg.Parts = []format.Part{{Type: format.PartText, Text: c.Str}}
		}
	case c.IsArray():
		err := eachIndexed(c, func(b gjson.Result) error {
			p, keep, err := d.block(b)
			if keep {
				msg.Parts = append(msg.Parts, p)
			}
			return err
		})
		if err != nil {
			return msg, prefix(err, ".content")
		}
	default:
		return msg, prefix(errAt("must be a string or an array of content blocks"), ".content")
	}
	return msg, nil
}

// block decodes one content block; keep is false for blocks dropped on
// purpose (server-tool blocks).
func (d *requestDecoder) block(b gjson.Result) (p format.Part, keep bool, err error) {
	if !b.IsObject() {
		return p, false, errAt("must be an object")
	}
	typ := b.Get("type")
	if typ.Type != gjson.String {
		return p, false, prefix(errAt("must be a string"), ".type")
	}
	switch typ.Str {
	case "text":
		p, err = textBlock(b)
	case "image":
		p, err = imageBlock(b)
	case "tool_use":
		p, err = d.toolUseBlock(b)
	case "tool_result":
		p, err = d.toolResultBlock(b)
	case "thinking":
		p, err = thinkingBlock(b)
	case "redacted_thinking":
		var data string
		if data, err = reqString(b, "data"); err == nil {
			p = format.Part{Type: format.PartRedactedThinking, Data: data}
		}
	default:
		if isServerToolBlock(typ.Str) {
			return p, false, nil
		}
		return p, false, prefix(errAt("content blocks of type "+strconv.Quote(typ.Str)+" are not supported by this gateway"), ".type")
	}
	return p, err == nil, err
}

// isServerToolBlock reports the blocks of Anthropic's server tools
// (server_tool_use, web_search_tool_result, code_execution_tool_result, …)
// and of the MCP connector: their tools are dropped, so are they.
func isServerToolBlock(t string) bool {
	switch t {
	case "server_tool_use", "mcp_tool_use", "mcp_tool_result":
		return true
	}
	return t != "tool_result" && strings.HasSuffix(t, "_tool_result")
}

func textBlock(b gjson.Result) (format.Part, error) {
	text, err := reqString(b, "text")
	if err != nil {
		return format.Part{}, err
	}
	cc, err := cacheControl(b)
	return format.Part{Type: format.PartText, Text: text, CacheControl: cc}, err
}

func imageBlock(b gjson.Result) (format.Part, error) {
	img, err := imageSource(b.Get("source"))
	if err != nil {
		return format.Part{}, prefix(err, ".source")
	}
	cc, err := cacheControl(b)
	return format.Part{Type: format.PartImage, Image: img, CacheControl: cc}, err
}

func imageSource(s gjson.Result) (*format.Image, error) {
	if !s.IsObject() {
		return nil, errAt("must be an object")
	}
	switch s.Get("type").Str {
	case "base64":
		mt, err := reqString(s, "media_type")
		if err != nil {
			return nil, err
		}
		data, err := reqString(s, "data")
		return &format.Image{MediaType: mt, Data: data}, err
	case "url":
		u, err := reqString(s, "url")
		return &format.Image{URL: u}, err
	case "file":
		return nil, prefix(errAt("file sources (Files API ids) cannot be sent to other providers"), ".type")
	}
	return nil, prefix(errAt(`must be "base64" or "url"`), ".type")
}

func (d *requestDecoder) toolUseBlock(b gjson.Result) (format.Part, error) {
	id, err := reqString(b, "id")
	if err != nil {
		return format.Part{}, err
	}
	name, err := reqString(b, "name")
	if err != nil {
		return format.Part{}, err
	}
	args := "{}"
	if in := b.Get("input"); in.Exists() && in.Type != gjson.Null {
		if !in.IsObject() {
			return format.Part{}, prefix(errAt("must be an object"), ".input")
		}
		args = in.Raw
	}
	cc, err := cacheControl(b)
	if d.toolNames == nil {
		d.toolNames = make(map[string]string)
	}
	d.toolNames[id] = name
	return format.Part{
		Type:         format.PartToolCall,
		ToolCall:     &format.ToolCall{ID: id, Name: name, Arguments: args},
		CacheControl: cc,
	}, err
}

func (d *requestDecoder) toolResultBlock(b gjson.Result) (format.Part, error) {
	id, err := reqString(b, "tool_use_id")
	if err != nil {
		return format.Part{}, err
	}
	tr := &format.ToolResult{CallID: id, Name: d.toolNames[id]}
	if e := b.Get("is_error"); e.Exists() && e.Type != gjson.Null {
		if e.Type != gjson.True && e.Type != gjson.False {
			return format.Part{}, prefix(errAt("must be a boolean"), ".is_error")
		}
		tr.IsError = e.Bool()
	}
	switch c := b.Get("content"); {
	case !c.Exists() || c.Type == gjson.Null:
	case c.Type == gjson.String:
		if c.Str != "" {
			tr.Content = []format.Part{{Type: format.PartText, Text: c.Str}}
		}
	case c.IsArray():
		err = eachIndexed(c, func(inner gjson.Result) error {
			p, err := toolResultContent(inner)
			if err == nil {
				tr.Content = append(tr.Content, p)
			}
			return err
		})
		if err != nil {
			return format.Part{}, prefix(err, ".content")
		}
	default:
		return format.Part{}, prefix(errAt("must be a string or an array of content blocks"), ".content")
	}
	cc, err := cacheControl(b)
	return format.Part{Type: format.PartToolResult, ToolResult: tr, CacheControl: cc}, err
}

// toolResultContent decodes one block of a tool result: text or image.
func toolResultContent(b gjson.Result) (format.Part, error) {
	if !b.IsObject() {
		return format.Part{}, errAt("must be an object")
	}
	switch t := b.Get("type").Str; t {
	case "text":
		return textBlock(b)
	case "image":
		return imageBlock(b)
	default:
		return format.Part{}, prefix(errAt("tool result blocks of type "+strconv.Quote(t)+" are not supported by this gateway"), ".type")
	}
}

func thinkingBlock(b gjson.Result) (format.Part, error) {
	text, err := reqString(b, "thinking")
	if err != nil {
		return format.Part{}, err
	}
	sig := b.Get("signature")
	if sig.Exists() && sig.Type != gjson.String && sig.Type != gjson.Null {
		return format.Part{}, prefix(errAt("must be a string"), ".signature")
	}
	return format.Part{Type: format.PartThinking, Text: text, Signature: sig.Str}, nil
}

// cacheControl returns the block's cache_control object verbatim.
func cacheControl(b gjson.Result) ([]byte, error) {
	cc := b.Get("cache_control")
	if !cc.Exists() || cc.Type == gjson.Null {
		return nil, nil
	}
	if !cc.IsObject() {
		return nil, prefix(errAt("must be an object"), ".cache_control")
	}
	return []byte(cc.Raw), nil
}

// reqString returns the string field key of obj, failing when it is
// missing or not a string.
func reqString(obj gjson.Result, key string) (string, error) {
	v := obj.Get(key)
	if v.Type != gjson.String {
		return "", prefix(errAt("must be a string"), "."+key)
	}
	return v.Str, nil
}

func (d *requestDecoder) maxTokens(v gjson.Result) error {
	n, err := intValue(v, 1)
	d.r.MaxTokens = n
	return err
}

func (d *requestDecoder) temperature(v gjson.Result) error {
	f, err := floatValue(v)
	d.r.Temperature = f
	return err
}

func (d *requestDecoder) topP(v gjson.Result) error {
	f, err := floatValue(v)
	d.r.TopP = f
	return err
}

func (d *requestDecoder) topK(v gjson.Result) error {
	n, err := intValue(v, 0)
	if err == nil {
		d.r.TopK = &n
	}
	return err
}

func (d *requestDecoder) stopSequences(v gjson.Result) error {
	if !v.IsArray() {
		return errAt("must be an array of strings")
	}
	d.r.Stop = []string{}
	return eachIndexed(v, func(s gjson.Result) error {
		if s.Type != gjson.String {
			return errAt("must be a string")
		}
		d.r.Stop = append(d.r.Stop, s.Str)
		return nil
	})
}

func (d *requestDecoder) stream(v gjson.Result) error {
	if v.Type != gjson.True && v.Type != gjson.False {
		return errAt("must be a boolean")
	}
	d.r.Stream = v.Bool()
	return nil
}

func (d *requestDecoder) thinking(v gjson.Result) error {
	if !v.IsObject() {
		return errAt("must be an object")
	}
	switch t := v.Get("type").Str; t {
	case "enabled":
		n, err := intValue(v.Get("budget_tokens"), 1)
		if err != nil {
			return prefix(err, ".budget_tokens")
		}
		d.thinkingType, d.budget = t, n
	case "disabled", "adaptive":
		d.thinkingType = t
	default:
		return prefix(errAt(`must be "enabled", "adaptive" or "disabled"`), ".type")
	}
	return nil
}

func (d *requestDecoder) metadata(v gjson.Result) error {
	if !v.IsObject() {
		return errAt("must be an object")
	}
	u := v.Get("user_id")
	if u.Exists() && u.Type != gjson.String && u.Type != gjson.Null {
		return prefix(errAt("must be a string"), ".user_id")
	}
	d.r.User = u.Str
	return nil
}

func (d *requestDecoder) outputConfig(v gjson.Result) error {
	if !v.IsObject() {
		return errAt("must be an object")
	}
	if e := v.Get("effort"); e.Type == gjson.String {
		d.effort = e.Str
	}
	if f := v.Get("format"); f.Exists() && f.Type != gjson.Null {
		return prefix(d.outputFormat(f), ".format")
	}
	return nil
}

// outputFormat reads {"type":"json_schema","schema":{…}}. Anthropic's
// structured output is always constrained decoding, hence Strict.
func (d *requestDecoder) outputFormat(v gjson.Result) error {
	if !v.IsObject() || v.Get("type").Str != "json_schema" {
		return errAt(`must be an object of type "json_schema"`)
	}
	s := v.Get("schema")
	if !s.IsObject() {
		return prefix(errAt("must be an object"), ".schema")
	}
	d.r.ResponseFormat = &format.ResponseFormat{Type: "json_schema", Schema: []byte(s.Raw), Strict: true}
	return nil
}

// intValue reads an integer in [min, MaxInt32].
func intValue(v gjson.Result, min int) (int, error) {
	f := v.Num
	if v.Type != gjson.Number || f != math.Trunc(f) || f < float64(min) || f > math.MaxInt32 {
		return 0, errAt("must be an integer of at least " + strconv.Itoa(min))
	}
	return int(f), nil
}

func floatValue(v gjson.Result) (*float64, error) {
	// 1e400 parses to +Inf, which no encoder can write back.
	f := v.Num
	if v.Type != gjson.Number || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errAt("must be a finite number")
	}
	return &f, nil
}

// fieldError is a decode failure at a JSON path built from the inside
// out: each level prepends its segment, so the path is only formatted
// when something fails.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func errAt(msg string) error { return &fieldError{msg: msg} }

// prefix prepends seg to err's path (err may be nil).
func prefix(err error, seg string) error {
	if fe, ok := err.(*fieldError); ok {
		fe.path = seg + fe.path
	}
	return err
}

// eachIndexed calls fn for every element of arr, prefixing a failure with
// the element's index.
func eachIndexed(arr gjson.Result, fn func(gjson.Result) error) error {
	var err error
	i := 0
	arr.ForEach(func(_, v gjson.Result) bool {
		if err = fn(v); err != nil {
			err = prefix(err, "["+strconv.Itoa(i)+"]")
			return false
		}
		i++
		return true
	})
	return err
}

// tools keeps the client ("custom") tools. Every other type is a server
// tool or an Anthropic-defined tool (web_search_…, bash_…, computer_…,
// text_editor_…) that only Anthropic can run or schema, so it is dropped.
func (d *requestDecoder) tools(v gjson.Result) error {
	if !v.IsArray() {
		return errAt("must be an array")
	}
	d.r.Tools = []format.Tool{}
	return eachIndexed(v, func(t gjson.Result) error {
		if !t.IsObject() {
			return errAt("must be an object")
		}
		if typ := t.Get("type"); typ.Exists() && typ.Type != gjson.Null && typ.Str != "custom" {
			return nil
		}
		name, err := reqString(t, "name")
		if err != nil {
			return err
		}
		tool := format.Tool{Name: name}
		if desc := t.Get("description"); desc.Exists() && desc.Type != gjson.Null {
			if desc.Type != gjson.String {
				return prefix(errAt("must be a string"), ".description")
			}
			tool.Description = desc.Str
		}
		if s := t.Get("input_schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				return prefix(errAt("must be an object"), ".input_schema")
			}
			tool.Parameters = []byte(s.Raw)
		}
		if tool.CacheControl, err = cacheControl(t); err != nil {
			return err
		}
		d.r.Tools = append(d.r.Tools, tool)
		return nil
	})
}

func (d *requestDecoder) toolChoice(v gjson.Result) error {
	if !v.IsObject() {
		return errAt("must be an object")
	}
	tc := &format.ToolChoice{}
	switch v.Get("type").Str {
	case "auto":
		tc.Mode = format.ToolChoiceAuto
	case "any":
		tc.Mode = format.ToolChoiceRequired
	case "none":
		tc.Mode = format.ToolChoiceNone
	case "tool":
		name := v.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return prefix(errAt("must be a non-empty string"), ".name")
		}
		tc.Mode, tc.Name = format.ToolChoiceTool, name.Str
	default:
		return prefix(errAt(`must be "auto", "any", "tool" or "none"`), ".type")
	}
	if p := v.Get("disable_parallel_tool_use"); p.Exists() && p.Type != gjson.Null {
		if p.Type != gjson.True && p.Type != gjson.False {
			return prefix(errAt("must be a boolean"), ".disable_parallel_tool_use")
		}
		tc.DisableParallel = p.Bool()
	}
	d.r.ToolChoice = tc
	return nil
}
