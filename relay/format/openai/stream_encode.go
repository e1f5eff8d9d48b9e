package openai

import (
	"sluice/relay/format"
)

// chunk is one chat.completion.chunk as the encoder writes it.
type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *chatUsage    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role             string            `json:"role,omitempty"`
	Content          *string           `json:"content,omitempty"`
	ReasoningContent string            `json:"reasoning_content,omitempty"`
	ReasoningDetails []reasoningDetail `json:"reasoning_details,omitempty"`
	ToolCalls        []chatToolCall    `json:"tool_calls,omitempty"`
}

// streamEncoder writes IR events as Chat Completions chunks. Its state is
// a few flags and the last usage: nothing of the answer is kept.
type streamEncoder struct {
	opts     format.StreamOptions
	id       string
	model    string
	created  int64
	started  bool
	finished bool
	sawCalls bool
	// block numbers thinking blocks for reasoning_details' index, so a
	// client merging the pieces keeps each signature with its own text.
	block int
	// inBlock: thinking text of block has been written, its signature not.
	inBlock bool
	usage   *format.Usage
}

// NewStreamEncoder returns an encoder of Chat Completions chunks. The
// usage chunk is written at the end only when opts.IncludeUsage.
func NewStreamEncoder(opts format.StreamOptions) format.StreamEncoder {
	return &streamEncoder{opts: opts}
}

// Encode appends the chunk for ev (none for usage, which waits for the
// end of the stream as OpenAI sends it).
func (e *streamEncoder) Encode(dst []byte, ev format.Event) []byte {
	if ev.Type == format.EventStart {
		return e.start(dst, ev.ID, ev.Model)
	}
	dst = e.start(dst, "", "")
	var d delta
	if ev.Type != format.EventThinkingDelta && ev.Type != format.EventSignature {
		e.endBlock()
	}
	switch ev.Type {
	case format.EventTextDelta:
		if ev.Text == "" {
			return dst
		}
		d.Content = &ev.Text
	case format.EventThinkingDelta:
		if ev.Text == "" {
			return dst
		}
		d.ReasoningContent = ev.Text
		d.ReasoningDetails = []reasoningDetail{{Type: "reasoning.text", Text: ev.Text, Index: &e.block}}
		e.inBlock = true
	case format.EventSignature:
		d.ReasoningDetails = []reasoningDetail{{Type: "reasoning.text", Signature: ev.Signature, Index: &e.block}}
		dst = e.write(dst, chunkChoice{Delta: d}, nil)
		e.inBlock = true
		e.endBlock()
		return dst
	case format.EventRedactedThinking:
		d.ReasoningDetails = []reasoningDetail{{Type: "reasoning.encrypted", Data: ev.Text, Index: &e.block}}
		dst = e.write(dst, chunkChoice{Delta: d}, nil)
		e.inBlock = true
		e.endBlock()
		return dst
	case format.EventToolCallStart:
		e.sawCalls = true
		d.ToolCalls = []chatToolCall{{Index: &ev.Index, ID: ev.ID, Type: "function",
			Function: chatFunction{Name: ev.Name}}}
	case format.EventToolArgsDelta:
		if ev.Text == "" {
			return dst
		}
		d.ToolCalls = []chatToolCall{{Index: &ev.Index, Function: chatFunction{Arguments: ev.Text}}}
	case format.EventFinish:
		return e.finish(dst, ev.StopReason)
	case format.EventUsage:
		if ev.Usage != nil {
			u := *ev.Usage
			e.usage = &u
		}
		return dst
	default:
		return dst
	}
	return e.write(dst, chunkChoice{Delta: d}, nil)
}

// endBlock moves reasoning_details to a new index after a thinking block.
func (e *streamEncoder) endBlock() {
	if e.inBlock {
		e.block++
		e.inBlock = false
	}
}

// start writes the opening role chunk once, from EventStart or, when the
// upstream dialect has none, from the options.
func (e *streamEncoder) start(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	e.id, e.model, e.created = id, e.opts.Model, now().Unix()
	if e.id == "" {
		e.id = e.opts.ID
	}
	if e.model == "" {
		e.model = model
	}
	empty := ""
	return e.write(dst, chunkChoice{Delta: delta{Role: "assistant", Content: &empty}}, nil)
}

func (e *streamEncoder) finish(dst []byte, r format.StopReason) []byte {
	dst = e.start(dst, "", "")
	if e.finished {
		return dst
	}
	e.finished = true
	if r == format.StopUnknown && e.sawCalls {
		r = format.StopToolUse
	}
	fr := finishReason(r)
	return e.write(dst, chunkChoice{FinishReason: &fr}, nil)
}

// Finish writes the finish chunk if no EventFinish came, the usage chunk
// when the client asked for it, and the [DONE] sentinel.
func (e *streamEncoder) Finish(dst []byte) []byte {
	dst = e.finish(dst, format.StopUnknown)
	if e.opts.IncludeUsage && e.usage != nil {
		dst = e.write(dst, chunkChoice{}, chatUsageOf(e.usage))
	}
	return append(dst, "data: [DONE]\n\n"...)
}

// write appends one chunk; a usage chunk has an empty choices array.
func (e *streamEncoder) write(dst []byte, c chunkChoice, u *chatUsage) []byte {
	out := chunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: []chunkChoice{c}, Usage: u}
	if u != nil {
		out.Choices = []chunkChoice{}
	}
	b, err := format.Marshal(out)
	if err != nil {
		// Only invalid UTF-8 could get here, and json.Marshal replaces
		// that; a chunk that cannot be written is skipped.
		return dst
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}
