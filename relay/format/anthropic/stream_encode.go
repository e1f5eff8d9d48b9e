package anthropic

import (
	"strconv"

	"sluice/relay/format"
)

// maxTrackedTools bounds the encoder's tool-call map.
const maxTrackedTools = 4096

// blockKind is the kind of the content block the encoder has open.
type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

// NewStreamEncoder returns an encoder producing the Messages API event
// sequence the official SDKs expect: message_start, then for each block
// content_block_start, deltas and content_block_stop with indexes counting
// from 0, then message_delta (stop reason and usage) and message_stop.
//
// message_start is written lazily, with the first content or at Finish,
// so usage that arrives right after the upstream's start (Gemini sends it
// in every chunk) is already in it. message_delta waits for Finish because
// the IR may deliver usage after the finish reason. The state is a few
// scalars plus one map entry per tool call.
func NewStreamEncoder(opts format.StreamOptions) format.StreamEncoder {
	return &streamEncoder{opts: opts}
}

type streamEncoder struct {
	opts     format.StreamOptions
	id       string
	model    string
	started  bool
	finished bool

	open      blockKind
	openIndex int // Anthropic index of the open block
	next      int // Anthropic index of the next block
	// tools maps IR tool-call indexes to their Anthropic block indexes.
	tools   map[int]int
	sawTool bool

	usage    format.Usage
	stop     format.StopReason
	stopSeq  string
	haveStop bool
}

// Encode implements format.StreamEncoder.
func (e *streamEncoder) Encode(dst []byte, ev format.Event) []byte {
	if e.finished {
		return dst
	}
	switch ev.Type {
	case format.EventStart:
		if !e.started {
			e.id, e.model = ev.ID, ev.Model
		}
	case format.EventUsage:
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
	case format.EventFinish:
		e.stop, e.stopSeq, e.haveStop = ev.StopReason, ev.StopSequence, true
	case format.EventTextDelta:
		if ev.Text != "" {
			dst = e.ensureOpen(dst, blockText)
			dst = e.delta(dst, e.openIndex, "text_delta", "text", ev.Text)
		}
	case format.EventThinkingDelta:
		if ev.Text != "" {
			dst = e.ensureOpen(dst, blockThinking)
			dst = e.delta(dst, e.openIndex, "thinking_delta", "thinking", ev.Text)
		}
	case format.EventSignature:
		// A signature outside a thinking block (Gemini puts them on any
		// part) gets an empty thinking block of its own, so an Anthropic
		// client keeps it and sends it back.
		if ev.Signature != "" {
			dst = e.ensureOpen(dst, blockThinking)
			dst = e.delta(dst, e.openIndex, "signature_delta", "signature", ev.Signature)
		}
	case format.EventRedactedThinking:
		if ev.Text != "" {
			dst = e.redacted(dst, ev.Text)
		}
	case format.EventToolCallStart:
		if _, dup := e.tools[ev.Index]; !dup {
			dst = e.startTool(dst, ev.Index, ev.ID, ev.Name)
		}
	case format.EventToolArgsDelta:
		if ev.Text != "" {
			dst = e.toolArgs(dst, ev)
		}
	}
	return dst
}

// Finish implements format.StreamEncoder.
func (e *streamEncoder) Finish(dst []byte) []byte {
	if e.finished {
		return dst
	}
	dst = e.begin(dst)
	dst = e.closeOpen(dst)
	e.finished = true
	stop := encodeStop(e.stop, e.sawTool)
	if !e.haveStop {
		stop = encodeStop(format.StopEnd, e.sawTool)
	}
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"...)
	dst = appendKeyString(dst, "stop_reason", stop)
	if stop == "stop_sequence" {
		dst = append(dst, ',')
		dst = appendKeyString(dst, "stop_sequence", e.stopSeq)
	} else {
		dst = append(dst, `,"stop_sequence":null`...)
	}
	dst = append(dst, `},"usage":`...)
	dst = appendUsage(dst, e.usage)
	dst = append(dst, "}\n\n"...)
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// begin writes message_start once.
func (e *streamEncoder) begin(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	id := e.id
	if id == "" {
		id = e.opts.ID
	}
	if id == "" {
		id = newID("msg_")
	}
	e.id = id
	model := e.opts.Model
	if model == "" {
		model = e.model
	}
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"...)
	dst = appendKeyString(dst, "id", id)
	dst = append(dst, `,"type":"message","role":"assistant",`...)
	dst = appendKeyString(dst, "model", model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	dst = appendUsage(dst, e.usage)
	return append(dst, "}}\n\n"...)
}

// ensureOpen makes a block of kind the open one, closing another kind.
func (e *streamEncoder) ensureOpen(dst []byte, kind blockKind) []byte {
	dst = e.begin(dst)
	if e.open == kind {
		return dst
	}
	dst = e.closeOpen(dst)
	switch kind {
	case blockText:
		dst = e.startBlock(dst, `{"type":"text","text":""}`)
	case blockThinking:
		dst = e.startBlock(dst, `{"type":"thinking","thinking":"","signature":""}`)
	}
	e.open = kind
	return dst
}

// startBlock writes content_block_start for the next index with the
// given content_block JSON.
func (e *streamEncoder) startBlock(dst []byte, block string) []byte {
	e.openIndex = e.next
	e.next++
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\","...)
	dst = appendKeyInt(dst, "index", e.openIndex)
	dst = append(dst, `,"content_block":`...)
	dst = append(dst, block...)
	return append(dst, "}\n\n"...)
}

func (e *streamEncoder) closeOpen(dst []byte) []byte {
	if e.open == blockNone {
		return dst
	}
	e.open = blockNone
	return e.stopBlock(dst, e.openIndex)
}

func (e *streamEncoder) stopBlock(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","...)
	dst = appendKeyInt(dst, "index", index)
	return append(dst, "}\n\n"...)
}

// delta writes one content_block_delta whose delta is {"type":typ,key:value}.
func (e *streamEncoder) delta(dst []byte, index int, typ, key, value string) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","...)
	dst = appendKeyInt(dst, "index", index)
	dst = append(dst, `,"delta":{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `",`...)
	dst = appendKeyString(dst, key, value)
	return append(dst, "}}\n\n"...)
}

func (e *streamEncoder) redacted(dst []byte, data string) []byte {
	dst = e.begin(dst)
	dst = e.closeOpen(dst)
	block := appendKeyString([]byte(`{"type":"redacted_thinking",`), "data", data)
	dst = e.startBlock(dst, string(append(block, '}')))
	return e.stopBlock(dst, e.openIndex)
}

func (e *streamEncoder) startTool(dst []byte, irIndex int, id, name string) []byte {
	dst = e.begin(dst)
	dst = e.closeOpen(dst)
	if id == "" {
		// Derived from the message id, which is unique per answer, so the
		// ids stay unique across the conversation the client builds.
		id = sanitizeID("toolu_" + e.id + "_" + strconv.Itoa(irIndex))
	}
	block := []byte(`{"type":"tool_use",`)
	block = appendKeyString(block, "id", id)
	block = append(block, ',')
	block = appendKeyString(block, "name", name)
	block = append(block, `,"input":{}}`...)
	dst = e.startBlock(dst, string(block))
	if e.tools == nil {
		e.tools = make(map[int]int)
	}
	if len(e.tools) >= maxTrackedTools {
		// A runaway upstream must not grow the map without bound; only
		// late arguments for a forgotten call suffer (they get a block
		// of their own).
		clear(e.tools)
	}
	e.tools[irIndex] = e.openIndex
	e.open, e.sawTool = blockTool, true
	return dst
}

// toolArgs writes an argument fragment. A fragment for a call that was
// never started gets a block with a generated id. One for a call whose
// block is already closed (the IR allows interleaved calls, Anthropic's
// stream does not) is still sent at that block's index: the official SDKs
// accumulate deltas by index, so the arguments arrive whole.
func (e *streamEncoder) toolArgs(dst []byte, ev format.Event) []byte {
	index, ok := e.tools[ev.Index]
	if !ok {
		dst = e.startTool(dst, ev.Index, "", "")
		index = e.openIndex
	}
	return e.delta(dst, index, "input_json_delta", "partial_json", ev.Text)
}

// appendUsage appends Anthropic's usage object for u.
func appendUsage(dst []byte, u format.Usage) []byte {
	w := toWireUsage(u)
	dst = append(dst, '{')
	dst = appendKeyInt(dst, "input_tokens", w.InputTokens)
	dst = append(dst, ',')
	dst = appendKeyInt(dst, "cache_creation_input_tokens", w.CacheCreationInputTokens)
	dst = append(dst, ',')
	dst = appendKeyInt(dst, "cache_read_input_tokens", w.CacheReadInputTokens)
	dst = append(dst, ',')
	dst = appendKeyInt(dst, "output_tokens", w.OutputTokens)
	return append(dst, '}')
}
