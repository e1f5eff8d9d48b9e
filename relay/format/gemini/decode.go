package gemini

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
)

// Decoding walks the body with gjson, one pass per object, instead of
// unmarshalling into structs: the REST API accepts both camelCase and
// snake_case field names (proto JSON), every object is visited once
// whatever its spelling, and errors can name the exact element
// ("contents[2].parts[0].inlineData: must be an object").
//
// gjson's validator recurses, so bodies are first checked with
// encoding/json's, whose depth limit keeps a hostile "[[[[…" from
// exhausting the stack.

// parseObject validates body and returns its top-level object.
func parseObject(body []byte) (gjson.Result, error) {
	if !json.Valid(body) {
		return gjson.Result{}, invalid("body", "must be valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return gjson.Result{}, invalid("body", "must be a JSON object")
	}
	return root, nil
}

// each calls fn for every element of an array. A single object is taken
// as a one-element array: Google's own curl examples send
// "parts": {"text": …}, and the API accepts it.
func each(v gjson.Result, where string, fn func(i int, el gjson.Result) error) error {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return nil
	case v.IsObject():
		return fn(0, v)
	case !v.IsArray():
		return invalid(where, "must be an array")
	}
	var err error
	i := 0
	v.ForEach(func(_, el gjson.Result) bool {
		err = fn(i, el)
		i++
		return err == nil
	})
	return err
}

// str returns a string field ("" when absent or null).
func str(v gjson.Result, where string) (string, error) {
	switch {
	case v.Type == gjson.String:
		return v.Str, nil
	case v.Type == gjson.Null:
		return "", nil
	}
	return "", invalid(where, "must be a string")
}

// boolean returns a boolean field (false when absent or null).
func boolean(v gjson.Result, where string) (bool, error) {
	switch v.Type {
	case gjson.True:
		return true, nil
	case gjson.False, gjson.Null:
		return false, nil
	}
	return false, invalid(where, "must be a boolean")
}

// integer returns an integer field within [lo, hi] (ok false when absent).
func integer(v gjson.Result, where string, lo, hi float64) (n int, ok bool, err error) {
	switch v.Type {
	case gjson.Null:
		return 0, false, nil
	case gjson.Number:
		if v.Num < lo || v.Num > hi || v.Num != float64(int64(v.Num)) {
			return 0, false, invalid(where, "must be an integer from %g to %g", lo, hi)
		}
		return int(v.Num), true, nil
	}
	return 0, false, invalid(where, "must be a number")
}

// number returns a float field (nil when absent).
func number(v gjson.Result, where string) (*float64, error) {
	switch v.Type {
	case gjson.Null:
		return nil, nil
	case gjson.Number:
		f := v.Num
		return &f, nil
	}
	return nil, invalid(where, "must be a number")
}

// object checks that v is an object when present.
func object(v gjson.Result, where string) error {
	if v.Exists() && v.Type != gjson.Null && !v.IsObject() {
		return invalid(where, "must be an object")
	}
	return nil
}

// callTracker gives function calls their ids and pairs function responses
// with them. Gemini ids are optional: a call without one gets a
// synthesized id, and a response without one answers the oldest
// unanswered call of the same name (else the oldest unanswered call) of
// the latest model turn, which is how Gemini itself pairs them.
type callTracker struct {
	respID  string // response id mixed into synthesized ids (responses only)
	n       int    // calls seen, for synthesized ids
	pending []pendingCall
	next    int // first possibly unanswered entry of pending
	byName  map[string][]int
	byID    map[string]int
}

type pendingCall struct {
	id, name string
	answered bool
}

// newTurn forgets the previous model turn's calls: responses answer the
// latest one.
func (t *callTracker) newTurn() {
	t.pending, t.next = t.pending[:0], 0
	clear(t.byName)
	clear(t.byID)
}

// call records a function call and returns its id.
func (t *callTracker) call(id, name string) string {
	if id == "" {
		if t.respID != "" {
			id = callID(t.respID, t.n)
		} else {
			id = "call_" + strconv.Itoa(t.n)
		}
	}
	t.n++
	if t.byName == nil {
		t.byName, t.byID = map[string][]int{}, map[string]int{}
	}
	i := len(t.pending)
	t.pending = append(t.pending, pendingCall{id: id, name: name})
	t.byName[name] = append(t.byName[name], i)
	t.byID[id] = i
	return id
}

// answer returns the id a function response refers to, marking its call
// answered.
func (t *callTracker) answer(id, name string) string {
	if id != "" {
		if i, ok := t.byID[id]; ok {
			t.pending[i].answered = true
		}
		return id
	}
	q := t.byName[name]
	for len(q) > 0 && t.pending[q[0]].answered {
		q = q[1:]
	}
	if t.byName != nil {
		t.byName[name] = q
	}
	i := -1
	if len(q) > 0 {
		i = q[0]
	} else {
		for t.next < len(t.pending) && t.pending[t.next].answered {
			t.next++
		}
		if t.next < len(t.pending) {
			i = t.next
		}
	}
	if i < 0 {
		// A response to no call we saw: give it an id of its own.
		id = "call_" + strconv.Itoa(t.n)
		t.n++
		return id
	}
	t.pending[i].answered = true
	return t.pending[i].id
}

// rawPart holds one part's fields, each looked up once whatever its
// spelling.
type rawPart struct {
	text, thought, sig, inline, file, call, resp gjson.Result
}

func scanPart(v gjson.Result) rawPart {
	var p rawPart
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "text":
			p.text = val
		case "thought":
			p.thought = val
		case "thoughtSignature", "thought_signature":
			p.sig = val
		case "inlineData", "inline_data":
			p.inline = val
		case "fileData", "file_data":
			p.file = val
		case "functionCall", "function_call":
			p.call = val
		case "functionResponse", "function_response":
			p.resp = val
		}
		return true
	})
	return p
}

// decodeParts appends the IR parts of a Gemini parts array to msg.
func decodeParts(v gjson.Result, where string, msg *format.Message, tr *callTracker) error {
	return each(v, where, func(i int, el gjson.Result) error {
		if !el.IsObject() {
			return invalid(where+"["+strconv.Itoa(i)+"]", "must be an object")
		}
		return decodePart(el, where+"["+strconv.Itoa(i)+"]", msg, tr)
	})
}

// decodePart appends the IR form of one part. Parts of kinds the IR has no
// place for (executableCode, codeExecutionResult, videoMetadata alone) are
// skipped.
func decodePart(v gjson.Result, where string, msg *format.Message, tr *callTracker) error {
	p := scanPart(v)
	sig, err := str(p.sig, where+".thoughtSignature")
	if err != nil {
		return err
	}
	switch {
	case p.call.Exists():
		tc, err := decodeCall(p.call, where+".functionCall")
		if err != nil {
			return err
		}
		tc.ID = tr.call(tc.ID, tc.Name)
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartToolCall, ToolCall: tc, Signature: sig})
		return nil
	case p.resp.Exists():
		tres, err := decodeFuncResponse(p.resp, where+".functionResponse", tr)
		if err != nil {
			return err
		}
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartToolResult, ToolResult: tres})
		return nil
	case p.inline.Exists():
		img, err := decodeBlob(p.inline, where+".inlineData")
		if err != nil {
			return err
		}
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartImage, Image: img})
		return nil
	case p.file.Exists():
		img, err := decodeFileData(p.file, where+".fileData")
		if err != nil {
			return err
		}
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartImage, Image: img})
		return nil
	}
	text, err := str(p.text, where+".text")
	if err != nil {
		return err
	}
	thought, err := boolean(p.thought, where+".thought")
	if err != nil {
		return err
	}
	appendText(msg, text, sig, thought)
	return nil
}

// appendText adds a text or thought part. Consecutive thought parts form
// one thinking block (a stream delivers a thought in pieces, the last one
// carrying the signature), so they are joined until one is signed. A
// signature on an empty non-thought part (Gemini ends some streams with
// {"text": "", "thoughtSignature": …}) becomes an empty thinking part: an
// empty text part is rejected by other dialects.
func appendText(msg *format.Message, text, sig string, thought bool) {
	if text == "" && sig == "" {
		return
	}
	if data, ok := strings.CutPrefix(sig, redactedPrefix); ok && text == "" {
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartRedactedThinking, Data: data})
		return
	}
	if thought || text == "" {
		if n := len(msg.Parts); thought && n > 0 {
			last := &msg.Parts[n-1]
			if last.Type == format.PartThinking && last.Signature == "" {
				last.Text += text
				last.Signature = sig
				return
			}
		}
		msg.Parts = append(msg.Parts, format.Part{Type: format.PartThinking, Text: text, Signature: sig})
		return
	}
	msg.Parts = append(msg.Parts, format.Part{Type: format.PartText, Text: text, Signature: sig})
}

// callIdentity reads the id and name of a functionCall or a
// functionResponse object v, handing every other member to other.
func callIdentity(v gjson.Result, where string, other func(key string, val gjson.Result)) (id, name string, err error) {
	if !v.IsObject() {
		return "", "", invalid(where, "must be an object")
	}
	var idV, nameV gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "id":
			idV = val
		case "name":
			nameV = val
		default:
			other(k.Str, val)
		}
		return true
	})
	if id, err = str(idV, where+".id"); err != nil {
		return "", "", err
	}
	if name, err = str(nameV, where+".name"); err != nil {
		return "", "", err
	}
	return id, name, nil
}

// decodeCall reads a functionCall; its ID is empty when Gemini gave none.
func decodeCall(v gjson.Result, where string) (*format.ToolCall, error) {
	var argsV gjson.Result
	id, name, err := callIdentity(v, where, func(key string, val gjson.Result) {
		if key == "args" {
			argsV = val
		}
	})
	if err != nil {
		return nil, err
	}
	args := "{}"
	switch {
	case argsV.IsObject():
		args = compactJSON(argsV.Raw)
	case argsV.Type != gjson.Null:
		return nil, invalid(where+".args", "must be an object")
	}
	return &format.ToolCall{ID: id, Name: name, Arguments: args}, nil
}

func decodeFuncResponse(v gjson.Result, where string, tr *callTracker) (*format.ToolResult, error) {
	var respV, partsV gjson.Result
	id, name, err := callIdentity(v, where, func(key string, val gjson.Result) {
		switch key {
		case "response":
			respV = val
		case "parts":
			partsV = val
		}
	})
	if err != nil {
		return nil, err
	}
	res := &format.ToolResult{CallID: tr.answer(id, name), Name: name}
	text, isErr := responseText(respV)
	res.IsError = isErr
	if text != "" {
		res.Content = append(res.Content, format.Part{Type: format.PartText, Text: text})
	}
	err = each(partsV, where+".parts", func(i int, el gjson.Result) error {
		w := where + ".parts[" + strconv.Itoa(i) + "]"
		if !el.IsObject() {
			return invalid(w, "must be an object")
		}
		var blob gjson.Result
		el.ForEach(func(k, val gjson.Result) bool {
			if k.Str == "inlineData" || k.Str == "inline_data" {
				blob = val
			}
			return true
		})
		if !blob.Exists() {
			return nil
		}
		img, err := decodeBlob(blob, w+".inlineData")
		if err == nil {
			res.Content = append(res.Content, format.Part{Type: format.PartImage, Image: img})
		}
		return err
	})
	return res, err
}

// responseText turns a functionResponse.response into tool result text.
// The encoders' own wrappers ({"content": text}, {"error": text}) and
// Google's documented conventions ({"output": …}, {"result": …}) give back
// the bare text; any other object is passed on as its JSON text.
func responseText(v gjson.Result) (text string, isErr bool) {
	switch {
	case v.Type == gjson.Null:
		return "", false
	case v.Type == gjson.String:
		return v.Str, false
	case !v.IsObject():
		return v.Raw, false
	}
	var key string
	var val gjson.Result
	n := 0
	v.ForEach(func(k, el gjson.Result) bool {
		key, val = k.Str, el
		n++
		return n < 2
	})
	if n == 0 {
		return "", false
	}
	if n == 1 && val.Type == gjson.String {
		switch key {
		case "content", "output", "result":
			return val.Str, false
		case "error":
			return val.Str, true
		}
	}
	return compactJSON(v.Raw), false
}

// compactJSON strips insignificant whitespace from valid JSON text.
func compactJSON(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	inStr, esc := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func decodeBlob(v gjson.Result, where string) (*format.Image, error) {
	if !v.IsObject() {
		return nil, invalid(where, "must be an object")
	}
	var mimeV, dataV gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "mimeType", "mime_type":
			mimeV = val
		case "data":
			dataV = val
		}
		return true
	})
	mime, err := str(mimeV, where+".mimeType")
	if err != nil {
		return nil, err
	}
	data, err := str(dataV, where+".data")
	if err != nil {
		return nil, err
	}
	return &format.Image{MediaType: mime, Data: data}, nil
}

func decodeFileData(v gjson.Result, where string) (*format.Image, error) {
	if !v.IsObject() {
		return nil, invalid(where, "must be an object")
	}
	var mimeV, uriV gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "mimeType", "mime_type":
			mimeV = val
		case "fileUri", "file_uri":
			uriV = val
		}
		return true
	})
	mime, err := str(mimeV, where+".mimeType")
	if err != nil {
		return nil, err
	}
	uri, err := str(uriV, where+".fileUri")
	if err != nil {
		return nil, err
	}
	return &format.Image{URL: uri, MediaType: mime}, nil
}

// DecodeResponse converts a generateContent response body into a
// format.Response. Only the first candidate is kept (the IR has one
// answer); a prompt blocked before any candidate is StopContentFilter;
// Gemini does not say which stop sequence matched, so StopSequence stays
// empty.
func DecodeResponse(body []byte) (*format.Response, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	c, err := scanChunk(root)
	if err != nil {
		return nil, err
	}
	if c.errMsg != "" {
		return nil, invalid("error", "%s", relayerr.Sanitize(c.errMsg))
	}
	resp := &format.Response{ID: c.responseID, Model: c.model}
	tr := &callTracker{respID: c.responseID}
	msg := format.Message{Role: format.RoleAssistant}
	if err := decodeParts(c.parts, "candidates[0].content.parts", &msg, tr); err != nil {
		return nil, err
	}
	// The IR's answer holds thinking, text and tool calls: generated images
	// (inlineData from image models) and function responses have no place
	// in it, as in the stream, where they have no event.
	resp.Content = slices.DeleteFunc(msg.Parts, func(p format.Part) bool {
		return p.Type == format.PartImage || p.Type == format.PartToolResult
	})
	resp.StopReason = finishReason(c.finish, tr.n > 0)
	if c.blocked {
		resp.StopReason = format.StopContentFilter
	}
	if c.usage != nil {
		resp.Usage = *c.usage
	}
	return resp, nil
}

// chunk is what one response body (or stream chunk) carries.
type chunk struct {
	responseID, model string
	parts             gjson.Result // first candidate's content.parts
	finish            string
	blocked           bool // promptFeedback.blockReason with no candidate
	usage             *format.Usage
	errMsg            string
}

// scanChunk reads the fields of a GenerateContentResponse.
func scanChunk(root gjson.Result) (chunk, error) {
	var c chunk
	var cands, usageV, feedback, errV gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "candidates":
			cands = v
		case "usageMetadata", "usage_metadata":
			usageV = v
		case "modelVersion", "model_version":
			c.model = v.String()
		case "responseId", "response_id":
			c.responseID = v.String()
		case "promptFeedback", "prompt_feedback":
			feedback = v
		case "error":
			errV = v
		}
		return true
	})
	if errV.Exists() {
		c.errMsg = errV.Get("message").String()
		if c.errMsg == "" {
			c.errMsg = "the upstream reported an error"
		}
		return c, nil
	}
	if err := object(usageV, "usageMetadata"); err != nil {
		return c, err
	}
	if usageV.IsObject() {
		u := scanUsage(usageV)
		c.usage = &u
	}
	if cands.Exists() && cands.Type != gjson.Null && !cands.IsArray() {
		return c, invalid("candidates", "must be an array")
	}
	first := cands.Get("0")
	if !first.Exists() {
		c.blocked = feedback.Get("blockReason").String() != "" || feedback.Get("block_reason").String() != ""
		return c, nil
	}
	if !first.IsObject() {
		return c, invalid("candidates[0]", "must be an object")
	}
	var content gjson.Result
	first.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content":
			content = v
		case "finishReason", "finish_reason":
			c.finish = v.String()
		}
		return true
	})
	if err := object(content, "candidates[0].content"); err != nil {
		return c, err
	}
	c.parts = content.Get("parts")
	return c, nil
}

func scanUsage(v gjson.Result) format.Usage {
	var prompt, cand, cached, thoughts int64
	v.ForEach(func(k, val gjson.Result) bool {
		n := clampCount(val)
		switch k.Str {
		case "promptTokenCount", "prompt_token_count":
			prompt = n
		case "candidatesTokenCount", "candidates_token_count":
			cand = n
		case "cachedContentTokenCount", "cached_content_token_count":
			cached = n
		case "thoughtsTokenCount", "thoughts_token_count":
			thoughts = n
		}
		return true
	})
	return usageFrom(prompt, cand, cached, thoughts)
}

// clampCount reads a token count, keeping hostile values in a range where
// sums cannot overflow.
func clampCount(v gjson.Result) int64 {
	n := v.Int()
	if n < 0 {
		return 0
	}
	if n > 1<<40 {
		return 1 << 40
	}
	return n
}
