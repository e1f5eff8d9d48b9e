package anthropic

import (
	"bytes"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// maxOpenToolBlocks bounds the decoder's block map. The API streams one
// block at a time, so more than a handful open at once is a broken or
// hostile upstream.
const maxOpenToolBlocks = 1024

// NewStreamDecoder returns a decoder for an upstream Messages API stream
// (message_start, content_block_start/delta/stop, message_delta,
// message_stop, ping, error).
func NewStreamDecoder() format.StreamDecoder {
	return &streamDecoder{}
}

// streamDecoder keeps only what later events refer back to: the usage so
// far (message_delta may repeat only output_tokens) and the open tool
// blocks.
type streamDecoder struct {
	usage format.Usage
	// tools maps the index of each open tool_use block to its IR tool-call
	// index, or to -1 for a server_tool_use block, whose input deltas are
	// dropped with the block.
	tools    map[int]int
	nextTool int
}

const errMalformed = "the upstream sent a malformed stream event"

// Decode implements format.StreamDecoder.
func (d *streamDecoder) Decode(ev sse.Event, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return dst, false, nil
	}
	if tooDeep(data, maxDepth) || !gjson.ValidBytes(data) {
		return dst, false, relayerr.New(relayerr.KindUpstream, errMalformed)
	}
	// ParseBytes copies the data once: the reader reuses ev.Data, and the
	// strings put in the events must outlive this call.
	root := gjson.ParseBytes(data)
	typ := root.Get("type").Str
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case "message_start":
		return d.messageStart(root.Get("message"), dst), false, nil
	case "content_block_start":
		return d.blockStart(root, dst)
	case "content_block_delta":
		return d.blockDelta(root, dst), false, nil
	case "content_block_stop":
		delete(d.tools, int(root.Get("index").Int()))
	case "message_delta":
		return d.messageDelta(root, dst), false, nil
	case "message_stop":
		return dst, true, nil
	case "error":
		msg := root.Get("error.message").Str
		if msg == "" {
			msg = "the upstream reported an error: " + root.Get("error.type").Str
		}
		return dst, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(msg))
	}
	// ping and event types added after this code carry nothing for the IR.
	return dst, false, nil
}

func (d *streamDecoder) messageStart(m gjson.Result, dst []format.Event) []format.Event {
	dst = append(dst, format.Event{Type: format.EventStart, ID: m.Get("id").Str, Model: m.Get("model").Str})
	if u := m.Get("usage"); u.IsObject() {
		d.usage = usageFrom(u, format.Usage{})
		usage := d.usage
		dst = append(dst, format.Event{Type: format.EventUsage, Usage: &usage})
	}
	return dst
}

func (d *streamDecoder) blockStart(root gjson.Result, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	idx := int(root.Get("index").Int())
	cb := root.Get("content_block")
	switch cb.Get("type").Str {
	case "text":
		if t := cb.Get("text").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventTextDelta, Text: t})
		}
	case "thinking":
		if t := cb.Get("thinking").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: t})
		}
		if s := cb.Get("signature").Str; s != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: s})
		}
	case "redacted_thinking":
		dst = append(dst, format.Event{Type: format.EventRedactedThinking, Text: cb.Get("data").Str})
	case "tool_use":
		if !d.openTool(idx, d.nextTool) {
			return dst, false, relayerr.New(relayerr.KindUpstream, errMalformed)
		}
		n := d.nextTool
		d.nextTool++
		dst = append(dst, format.Event{Type: format.EventToolCallStart, Index: n, ID: cb.Get("id").Str, Name: cb.Get("name").Str})
		// The API starts tool blocks with "input":{} and streams the JSON
		// in deltas; some compatible servers put the whole input here
		// instead. Only a non-empty object is content.
		if in := cb.Get("input"); nonEmptyObject(in) {
			dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: n, Text: in.Raw})
		}
	case "server_tool_use", "mcp_tool_use":
		if !d.openTool(idx, -1) {
			return dst, false, relayerr.New(relayerr.KindUpstream, errMalformed)
		}
	}
	return dst, false, nil
}

// openTool records an open tool block, refusing past the bound.
func (d *streamDecoder) openTool(idx, irIndex int) bool {
	if d.tools == nil {
		d.tools = make(map[int]int)
	}
	if _, ok := d.tools[idx]; !ok && len(d.tools) >= maxOpenToolBlocks {
		return false
	}
	d.tools[idx] = irIndex
	return true
}

func (d *streamDecoder) blockDelta(root gjson.Result, dst []format.Event) []format.Event {
	delta := root.Get("delta")
	switch delta.Get("type").Str {
	case "text_delta":
		if t := delta.Get("text").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventTextDelta, Text: t})
		}
	case "thinking_delta":
		if t := delta.Get("thinking").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: t})
		}
	case "signature_delta":
		if s := delta.Get("signature").Str; s != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: s})
		}
	case "input_json_delta":
		n, ok := d.tools[int(root.Get("index").Int())]
		if t := delta.Get("partial_json").Str; ok && n >= 0 && t != "" {
			dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: n, Text: t})
		}
	}
	// citations_delta and newer delta types have no IR counterpart.
	return dst
}

func (d *streamDecoder) messageDelta(root gjson.Result, dst []format.Event) []format.Event {
	delta := root.Get("delta")
	if sr := delta.Get("stop_reason"); sr.Type == gjson.String {
		dst = append(dst, format.Event{
			Type:         format.EventFinish,
			StopReason:   decodeStop(sr.Str),
			StopSequence: delta.Get("stop_sequence").Str,
		})
	}
	// usage here is cumulative; newer API versions repeat the input and
	// cache counts, older ones send output_tokens alone.
	if u := root.Get("usage"); u.IsObject() {
		d.usage = usageFrom(u, d.usage)
		usage := d.usage
		dst = append(dst, format.Event{Type: format.EventUsage, Usage: &usage})
	}
	return dst
}

func nonEmptyObject(v gjson.Result) bool {
	if !v.IsObject() {
		return false
	}
	has := false
	v.ForEach(func(_, _ gjson.Result) bool {
		has = true
		return false
	})
	return has
}
