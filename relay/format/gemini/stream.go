package gemini

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// streamDecoder turns streamGenerateContent?alt=sse events into IR
// events. Every data line is a whole GenerateContentResponse: text comes
// in pieces, function calls whole (Gemini does not stream arguments),
// usageMetadata cumulative on chunks, finishReason on the last.
type streamDecoder struct {
	started   bool
	respID    string
	calls     int // function calls so far: the IR tool index
	finished  bool
	usageSeen bool
	usage     format.Usage
}

// NewStreamDecoder returns a decoder for one Gemini SSE stream.
//
// Gemini has no end-of-stream marker: the connection closes after the
// chunk carrying finishReason. Decode reports done once a finishReason
// and a usageMetadata have both been seen (on the same chunk or the
// finish after an earlier usage), so a caller that stops at done never
// loses the final usage Gemini puts on the finishing chunk; a caller
// that reads on to EOF still gets any later usage-only chunk as
// EventUsage.
func NewStreamDecoder() format.StreamDecoder { return &streamDecoder{} }

// malformed is the error for an event that is not a Gemini chunk.
func malformed(cause error) *relayerr.Error {
	return relayerr.Wrap(relayerr.KindUpstream, "the upstream sent a malformed stream event", cause)
}

// Decode implements format.StreamDecoder.
func (d *streamDecoder) Decode(ev sse.Event, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return dst, false, nil
	}
	if sse.IsDone(data) {
		// Not Gemini's, but some Gemini-compatible servers end with it.
		return dst, true, nil
	}
	root, err := parseObject(data)
	if err != nil {
		return dst, false, malformed(err)
	}
	c, err := scanChunk(root)
	if err != nil {
		return dst, false, malformed(err)
	}
	if c.errMsg != "" {
		return dst, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(c.errMsg))
	}
	if !d.started {
		d.started, d.respID = true, c.responseID
		dst = append(dst, format.Event{Type: format.EventStart, ID: c.responseID, Model: c.model})
	}
	if dst, err = d.parts(c.parts, dst); err != nil {
		return dst, false, malformed(err)
	}
	if !d.finished && (c.finish != "" || c.blocked) {
		d.finished = true
		reason := finishReason(c.finish, d.calls > 0)
		if c.blocked {
			reason = format.StopContentFilter
		}
		dst = append(dst, format.Event{Type: format.EventFinish, StopReason: reason})
	}
	if c.usage != nil && (!d.usageSeen || *c.usage != d.usage) {
		d.usageSeen, d.usage = true, *c.usage
		u := *c.usage
		dst = append(dst, format.Event{Type: format.EventUsage, Usage: &u})
	}
	return dst, d.finished && d.usageSeen, nil
}

// parts appends the events of one chunk's parts. A signature announces
// the part it sits on (EventSignature before a text or function call
// part, as the other dialects put reasoning before what it led to) and
// closes a thought (after its text). Output images and other part kinds
// have no stream event and are skipped.
func (d *streamDecoder) parts(v gjson.Result, dst []format.Event) ([]format.Event, error) {
	if v.Exists() && v.Type != gjson.Null && !v.IsArray() {
		return dst, invalid("candidates[0].content.parts", "must be an array")
	}
	var err error
	v.ForEach(func(_, el gjson.Result) bool {
		if !el.IsObject() {
			err = invalid("candidates[0].content.parts[]", "must be an object")
			return false
		}
		dst, err = d.part(scanPart(el), dst)
		return err == nil
	})
	return dst, err
}

func (d *streamDecoder) part(p rawPart, dst []format.Event) ([]format.Event, error) {
	const where = "candidates[0].content.parts[]"
	sig, err := str(p.sig, where+".thoughtSignature")
	if err != nil {
		return dst, err
	}
	if p.call.Exists() {
		tc, err := decodeCall(p.call, where+".functionCall")
		if err != nil {
			return dst, err
		}
		if tc.ID == "" {
			tc.ID = callID(d.respID, d.calls)
		}
		if sig != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: sig})
		}
		dst = append(dst,
			format.Event{Type: format.EventToolCallStart, Index: d.calls, ID: tc.ID, Name: tc.Name},
			format.Event{Type: format.EventToolArgsDelta, Index: d.calls, Text: tc.Arguments})
		d.calls++
		return dst, nil
	}
	if p.resp.Exists() || p.inline.Exists() || p.file.Exists() {
		return dst, nil
	}
	text, err := str(p.text, where+".text")
	if err != nil {
		return dst, err
	}
	thought, err := boolean(p.thought, where+".thought")
	if err != nil {
		return dst, err
	}
	if data, ok := strings.CutPrefix(sig, redactedPrefix); ok && text == "" {
		return append(dst, format.Event{Type: format.EventRedactedThinking, Text: data}), nil
	}
	switch {
	case thought:
		if text != "" {
			dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: text})
		}
		if sig != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: sig})
		}
	default:
		if sig != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: sig})
		}
		if text != "" {
			dst = append(dst, format.Event{Type: format.EventTextDelta, Text: text})
		}
	}
	return dst, nil
}

// maxBufferedArgs bounds the tool call bytes (arguments, ids, names) the
// encoder holds at once. Gemini sends a function call whole, so arguments
// streamed by another dialect are buffered until complete; past this bound
// further deltas are dropped and the call's args degrade to {} rather than
// growing without limit.
const maxBufferedArgs = 16 << 20

// maxBufferedCalls bounds how many calls wait for their arguments: past
// it, the waiting ones are written first (one chunk of parallel calls is
// then split in two, which Gemini clients accept).
const maxBufferedCalls = 128

// streamEncoder writes IR events as Gemini alt=sse chunks.
type streamEncoder struct {
	id, model string
	pending   []bufferedCall
	argBytes  int
	stop      format.StopReason
	usage     format.Usage
	done      bool
}

// bufferedCall is a tool call whose arguments are still arriving.
type bufferedCall struct {
	index         int
	id, name, sig string
	args          []byte
	overflowed    bool
}

// NewStreamEncoder returns an encoder writing Gemini's streaming framing:
// one "data: <GenerateContentResponse>" event per text or thinking delta,
// one per group of function calls (buffered until their arguments are
// complete, at the next non-argument event or Finish; the buffer is
// bounded by the calls' size, at most maxBufferedArgs), and a last chunk
// with finishReason and usageMetadata. Every chunk carries modelVersion
// (opts.Model) and responseId.
func NewStreamEncoder(opts format.StreamOptions) format.StreamEncoder {
	return &streamEncoder{id: opts.ID, model: opts.Model, stop: format.StopEnd}
}

// Encode implements format.StreamEncoder.
func (e *streamEncoder) Encode(dst []byte, ev format.Event) []byte {
	switch ev.Type {
	case format.EventToolCallStart:
		size := len(ev.ID) + len(ev.Name) + len(ev.Signature)
		if len(e.pending) >= maxBufferedCalls || e.argBytes+size > maxBufferedArgs {
			dst = e.flushCalls(dst)
		}
		e.pending = append(e.pending, bufferedCall{index: ev.Index, id: ev.ID, name: ev.Name, sig: ev.Signature})
		e.argBytes += size
		return dst
	case format.EventToolArgsDelta:
		e.addArgs(ev.Index, ev.Text)
		return dst
	}
	dst = e.flushCalls(dst)
	switch ev.Type {
	case format.EventStart:
		if ev.ID != "" {
			e.id = ev.ID
		}
		if e.model == "" {
			e.model = ev.Model
		}
	case format.EventTextDelta:
		if ev.Text != "" {
			dst = e.chunk(dst, wirePart{Text: strPtr(ev.Text)})
		}
	case format.EventThinkingDelta:
		if ev.Text != "" {
			dst = e.chunk(dst, wirePart{Text: strPtr(ev.Text), Thought: true})
		}
	case format.EventSignature:
		if ev.Signature != "" {
			dst = e.chunk(dst, wirePart{Text: strPtr(""), Thought: true, ThoughtSignature: ev.Signature})
		}
	case format.EventRedactedThinking:
		dst = e.chunk(dst, redactedPart(ev.Text))
	case format.EventFinish:
		e.stop = ev.StopReason
	case format.EventUsage:
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
	}
	return dst
}

func (e *streamEncoder) addArgs(index int, text string) {
	for i := len(e.pending) - 1; i >= 0; i-- {
		pc := &e.pending[i]
		if pc.index != index {
			continue
		}
		if pc.overflowed || e.argBytes+len(text) > maxBufferedArgs {
			pc.overflowed = true
			return
		}
		pc.args = append(pc.args, text...)
		e.argBytes += len(text)
		return
	}
}

// flushCalls writes the buffered function calls as one chunk, the way
// Gemini delivers parallel calls.
func (e *streamEncoder) flushCalls(dst []byte) []byte {
	if len(e.pending) == 0 {
		return dst
	}
	parts := make([]wirePart, 0, len(e.pending))
	for _, pc := range e.pending {
		args := string(pc.args)
		if pc.overflowed {
			args = "{}"
		}
		tc := format.ToolCall{ID: pc.id, Name: pc.name, Arguments: args}
		parts = append(parts, wirePart{FunctionCall: clientCall(&tc), ThoughtSignature: pc.sig})
	}
	e.pending, e.argBytes = e.pending[:0], 0
	return e.chunk(dst, parts...)
}

// chunk appends one SSE event holding a chunk with parts.
func (e *streamEncoder) chunk(dst []byte, parts ...wirePart) []byte {
	return e.write(dst, wireResponse{
		Candidates:   []wireCandidate{{Content: &wireContent{Role: "model", Parts: parts}}},
		ModelVersion: e.model,
		ResponseID:   e.id,
	})
}

func (e *streamEncoder) write(dst []byte, w wireResponse) []byte {
	b, err := format.Marshal(w)
	if err != nil {
		// Unreachable: every field is a plain value or checked JSON.
		b, _ = json.Marshal(wireResponse{Candidates: []wireCandidate{}})
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

// Finish implements format.StreamEncoder: it writes the last chunk, with
// the finish reason (STOP when none came) and the usage (zeros when none
// came), and an empty text part as Gemini's own last chunk has.
func (e *streamEncoder) Finish(dst []byte) []byte {
	if e.done {
		return dst
	}
	e.done = true
	dst = e.flushCalls(dst)
	return e.write(dst, wireResponse{
		Candidates: []wireCandidate{{
			Content:      &wireContent{Role: "model", Parts: []wirePart{{Text: strPtr("")}}},
			FinishReason: encodeFinish(e.stop),
		}},
		UsageMetadata: usageTo(e.usage),
		ModelVersion:  e.model,
		ResponseID:    e.id,
	})
}
