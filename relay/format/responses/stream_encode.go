package responses

import (
	"strings"

	"sluice/relay/format"
)

// maxBuffered bounds the answer text a stream encoder keeps. The Responses
// stream forces buffering: output_text.done, function_call_arguments.done,
// output_item.done and response.completed each repeat the full text. Past
// the bound the deltas still flow, but those summaries are truncated, so
// a runaway upstream cannot exhaust memory.
const maxBuffered = 16 << 20

// maxItems bounds the output items of one stream; past it new items are
// dropped (with their deltas) rather than grow the state without limit.
const maxItems = 10000

// Item kinds.
const (
	kindReasoning = iota + 1
	kindMessage
	kindCall
)

// item is one output item of the answer being streamed.
type item struct {
	kind      int
	idx       int // output_index
	id        string
	text      strings.Builder // text, summary or arguments
	callID    string
	name      string
	signature string // reasoning: encrypted_content
	open      bool
	// partOpen: the reasoning summary part has been announced (only once
	// there is text, so a signature-only block has an empty summary).
	partOpen bool
}

type streamEncoder struct {
	opts      format.StreamOptions
	id        string
	model     string
	created   int64
	seq       int
	started   bool
	finished  bool
	stop      format.StopReason
	sawFinish bool
	usage     *format.Usage
	items     []*item
	// cur is the open reasoning or message item deltas go to (nil: none).
	cur *item
	// calls maps an IR tool call index to its item.
	calls    map[int]*item
	buffered int
}

// NewStreamEncoder returns an encoder of the Responses streaming events
// (response.created … response.completed) with sequence numbers.
func NewStreamEncoder(opts format.StreamOptions) format.StreamEncoder {
	return &streamEncoder{opts: opts}
}

// Encode appends the events for ev.
func (e *streamEncoder) Encode(dst []byte, ev format.Event) []byte {
	if ev.Type == format.EventStart {
		return e.start(dst, ev.ID, ev.Model)
	}
	dst = e.start(dst, "", "")
	switch ev.Type {
	case format.EventTextDelta:
		if ev.Text == "" {
			return dst
		}
		if dst = e.open(dst, kindMessage); e.cur == nil {
			return dst
		}
		return e.textDelta(dst, e.cur, ev.Text, "response.output_text.delta")
	case format.EventThinkingDelta:
		if ev.Text == "" {
			return dst
		}
		if e.cur != nil && e.cur.kind == kindReasoning && e.cur.signature != "" {
			// A signed block is complete: more thinking is a new block.
			dst = e.closeCur(dst)
		}
		if dst = e.open(dst, kindReasoning); e.cur == nil {
			return dst
		}
		if !e.cur.partOpen {
			e.cur.partOpen = true
			dst = e.event(dst, "response.reasoning_summary_part.added", map[string]any{"item_id": e.cur.id,
				"output_index": e.cur.idx, "summary_index": 0, "part": summaryText{Type: "summary_text", Text: ""}})
		}
		return e.textDelta(dst, e.cur, ev.Text, "response.reasoning_summary_text.delta")
	case format.EventSignature:
		if dst = e.open(dst, kindReasoning); e.cur != nil {
			e.cur.signature = ev.Signature
		}
	case format.EventRedactedThinking:
		dst = e.closeCur(dst)
		if dst = e.open(dst, kindReasoning); e.cur != nil {
			e.cur.signature = redactedPrefix + ev.Text
			dst = e.closeCur(dst)
		}
	case format.EventToolCallStart:
		dst = e.closeCur(dst)
		dst = e.openCall(dst, ev)
	case format.EventToolArgsDelta:
		if it := e.calls[ev.Index]; it != nil && it.open && ev.Text != "" {
			dst = e.textDelta(dst, it, ev.Text, "response.function_call_arguments.delta")
		}
	case format.EventFinish:
		e.stop, e.sawFinish = ev.StopReason, true
		dst = e.closeAll(dst)
	case format.EventUsage:
		if ev.Usage != nil {
			u := *ev.Usage
			e.usage = &u
		}
	}
	return dst
}

// Finish closes what is open and writes response.completed (or
// response.incomplete) with the whole response and its usage.
func (e *streamEncoder) Finish(dst []byte) []byte {
	dst = e.start(dst, "", "")
	dst = e.closeAll(dst)
	if e.finished {
		return dst
	}
	e.finished = true
	resp := e.response("")
	name := "response.completed"
	if resp.Status == "incomplete" {
		name = "response.incomplete"
	}
	return e.event(dst, name, map[string]any{"response": resp})
}

// start writes response.created and response.in_progress once.
func (e *streamEncoder) start(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if id == "" {
		id = e.opts.ID
	}
	e.id = responseID(id)
	e.model = e.opts.Model
	if e.model == "" {
		e.model = model
	}
	e.created = now().Unix()
	dst = e.event(dst, "response.created", map[string]any{"response": e.response("in_progress")})
	return e.event(dst, "response.in_progress", map[string]any{"response": e.response("in_progress")})
}

// response is the response object as it stands; st "" means final.
func (e *streamEncoder) response(st string) response {
	r := response{ID: e.id, Object: "response", CreatedAt: e.created, Status: st, Model: e.model, Output: []any{}}
	if st != "" {
		return r
	}
	stop := e.stop
	if !e.sawFinish && len(e.calls) > 0 {
		stop = format.StopToolUse
	}
	r.Status, r.IncompleteDetails = status(stop)
	for _, it := range e.items {
		r.Output = append(r.Output, e.itemJSON(it))
	}
	u := format.Usage{}
	if e.usage != nil {
		u = *e.usage
	}
	r.Usage = usageOf(&u)
	return r
}

// itemJSON is an item as output_item.added/done and the final response
// show it.
func (e *streamEncoder) itemJSON(it *item) any {
	st := "completed"
	if it.open {
		st = "in_progress"
	}
	switch it.kind {
	case kindReasoning:
		if it.open {
			return newReasoning(it.id, "", "")
		}
		return newReasoning(it.id, it.text.String(), it.signature)
	case kindMessage:
		return newMessage(it.id, it.text.String(), st)
	}
	return newCall(it.id, &format.ToolCall{ID: it.callID, Name: it.name, Arguments: it.text.String()}, st)
}

// open makes sure the current item is of kind, closing another one. At
// the item bound e.cur is left nil and the caller drops the event.
func (e *streamEncoder) open(dst []byte, kind int) []byte {
	if e.cur != nil && e.cur.kind == kind {
		return dst
	}
	dst = e.closeCur(dst)
	prefix := "msg"
	if kind == kindReasoning {
		prefix = "rs"
	}
	it := e.newItem(kind, prefix)
	if it == nil {
		return dst
	}
	e.cur = it
	dst = e.event(dst, "response.output_item.added", map[string]any{"output_index": it.idx, "item": e.itemJSON(it)})
	if kind == kindMessage {
		return e.event(dst, "response.content_part.added", map[string]any{"item_id": it.id, "output_index": it.idx,
			"content_index": 0, "part": outputText{Type: "output_text", Text: "", Annotations: []any{}}})
	}
	return dst
}

// newItem appends an open item, or returns nil at the bound.
func (e *streamEncoder) newItem(kind int, prefix string) *item {
	if len(e.items) >= maxItems {
		return nil
	}
	n := len(e.items)
	it := &item{kind: kind, idx: n, id: itemID(prefix, e.id, n), open: true}
	e.items = append(e.items, it)
	return it
}

func (e *streamEncoder) openCall(dst []byte, ev format.Event) []byte {
	if e.calls == nil {
		e.calls = map[int]*item{}
	}
	if old := e.calls[ev.Index]; old != nil {
		dst = e.closeItem(dst, old)
	}
	it := e.newItem(kindCall, "fc")
	if it == nil {
		delete(e.calls, ev.Index)
		return dst
	}
	it.callID, it.name = ev.ID, ev.Name
	e.calls[ev.Index] = it
	return e.event(dst, "response.output_item.added", map[string]any{"output_index": it.idx, "item": e.itemJSON(it)})
}

// textDelta writes a delta event for it and keeps the text (within the
// bound) for the summaries.
func (e *streamEncoder) textDelta(dst []byte, it *item, text, name string) []byte {
	if e.buffered+len(text) <= maxBuffered {
		it.text.WriteString(text)
		e.buffered += len(text)
	}
	fields := map[string]any{"item_id": it.id, "output_index": it.idx, "delta": text}
	switch it.kind {
	case kindMessage:
		fields["content_index"] = 0
		fields["logprobs"] = []any{}
	case kindReasoning:
		fields["summary_index"] = 0
	}
	return e.event(dst, name, fields)
}

func (e *streamEncoder) closeCur(dst []byte) []byte {
	if e.cur == nil {
		return dst
	}
	dst = e.closeItem(dst, e.cur)
	e.cur = nil
	return dst
}

func (e *streamEncoder) closeAll(dst []byte) []byte {
	e.cur = nil
	for _, it := range e.items {
		dst = e.closeItem(dst, it)
	}
	return dst
}

// closeItem writes the done events of an open item.
func (e *streamEncoder) closeItem(dst []byte, it *item) []byte {
	if !it.open {
		return dst
	}
	it.open = false
	idx, text := it.idx, it.text.String()
	switch it.kind {
	case kindMessage:
		dst = e.event(dst, "response.output_text.done", map[string]any{"item_id": it.id, "output_index": idx,
			"content_index": 0, "text": text, "logprobs": []any{}})
		dst = e.event(dst, "response.content_part.done", map[string]any{"item_id": it.id, "output_index": idx,
			"content_index": 0, "part": outputText{Type: "output_text", Text: text, Annotations: []any{}}})
	case kindReasoning:
		if !it.partOpen {
			break
		}
		dst = e.event(dst, "response.reasoning_summary_text.done", map[string]any{"item_id": it.id, "output_index": idx,
			"summary_index": 0, "text": text})
		dst = e.event(dst, "response.reasoning_summary_part.done", map[string]any{"item_id": it.id, "output_index": idx,
			"summary_index": 0, "part": summaryText{Type: "summary_text", Text: text}})
	case kindCall:
		dst = e.event(dst, "response.function_call_arguments.done", map[string]any{"item_id": it.id, "output_index": idx,
			"arguments": text})
	}
	return e.event(dst, "response.output_item.done", map[string]any{"output_index": idx, "item": e.itemJSON(it)})
}

// event appends one SSE event: its name and a data object made of type,
// sequence_number and fields.
func (e *streamEncoder) event(dst []byte, name string, fields map[string]any) []byte {
	fields["type"] = name
	fields["sequence_number"] = e.seq
	e.seq++
	b, err := format.Marshal(fields)
	if err != nil {
		return dst
	}
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}
