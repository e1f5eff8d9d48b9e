package responses

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// maxStreamCalls bounds the function calls one upstream stream may open.
const maxStreamCalls = 1024

// callState is a function call item seen in the stream.
type callState struct {
	outputIndex int64
	sawArgs     bool
}

type streamDecoder struct {
	started bool
	// calls is indexed by IR tool call index.
	calls []callState
}

// NewStreamDecoder returns a decoder of a Responses upstream's stream.
// The terminal response.completed / response.incomplete event ends it
// (the Responses stream has no [DONE]).
func NewStreamDecoder() format.StreamDecoder { return &streamDecoder{} }

func malformed() *relayerr.Error {
	return relayerr.New(relayerr.KindUpstream, "the upstream sent a malformed stream event")
}

// Decode turns one Responses event into IR events.
func (d *streamDecoder) Decode(ev sse.Event, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	if len(ev.Data) == 0 {
		return dst, false, nil
	}
	if sse.IsDone(ev.Data) {
		return dst, true, nil
	}
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	if !gjson.Valid(s) {
		return dst, false, malformed()
	}
	root := gjson.Parse(s)
	if !root.IsObject() {
		return dst, false, malformed()
	}
	typ := root.Get("type").Str
	switch typ {
	case "error":
		return dst, false, upstreamError(root.Get("message").Str)
	case "response.failed":
		return dst, false, upstreamError(root.Get("response.error.message").Str)
	case "response.created", "response.in_progress":
		return d.start(root.Get("response"), dst), false, nil
	}
	dst = d.start(gjson.Result{}, dst)
	switch typ {
	case "response.output_text.delta", "response.refusal.delta":
		if t := root.Get("delta").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventTextDelta, Text: strings.Clone(t)})
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		if t := root.Get("delta").Str; t != "" {
			dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: strings.Clone(t)})
		}
	case "response.output_item.added":
		return d.itemAdded(root, dst)
	case "response.function_call_arguments.delta":
		if i := d.call(root.Get("output_index").Int()); i >= 0 {
			if t := root.Get("delta").Str; t != "" {
				d.calls[i].sawArgs = true
				dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: i, Text: strings.Clone(t)})
			}
		}
	case "response.output_item.done":
		dst = d.itemDone(root, dst)
	case "response.completed", "response.incomplete":
		return d.finish(root.Get("response"), dst), true, nil
	}
	return dst, false, nil
}

func upstreamError(msg string) *relayerr.Error {
	if msg == "" {
		msg = "the upstream provider reported an error mid-stream"
	}
	return relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
}

func (d *streamDecoder) start(resp gjson.Result, dst []format.Event) []format.Event {
	if d.started {
		return dst
	}
	d.started = true
	return append(dst, format.Event{Type: format.EventStart,
		ID: strings.Clone(resp.Get("id").Str), Model: strings.Clone(resp.Get("model").Str)})
}

// call finds the IR index of the function call at an output index.
func (d *streamDecoder) call(outputIndex int64) int {
	for i := len(d.calls) - 1; i >= 0; i-- {
		if d.calls[i].outputIndex == outputIndex {
			return i
		}
	}
	return -1
}

func (d *streamDecoder) itemAdded(root gjson.Result, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	it := root.Get("item")
	if it.Get("type").Str != "function_call" {
		return dst, false, nil
	}
	if len(d.calls) >= maxStreamCalls {
		return dst, false, relayerr.New(relayerr.KindUpstream, "the upstream opened too many tool calls in one stream")
	}
	d.calls = append(d.calls, callState{outputIndex: root.Get("output_index").Int()})
	i := len(d.calls) - 1
	dst = append(dst, format.Event{Type: format.EventToolCallStart, Index: i,
		ID: strings.Clone(it.Get("call_id").Str), Name: strings.Clone(it.Get("name").Str)})
	if args := it.Get("arguments").Str; args != "" {
		d.calls[i].sawArgs = true
		dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: i, Text: strings.Clone(args)})
	}
	return dst, false, nil
}

// itemDone reads what only the finished item carries: a reasoning
// block's encrypted_content, and the arguments of a call whose deltas
// never came.
func (d *streamDecoder) itemDone(root gjson.Result, dst []format.Event) []format.Event {
	it := root.Get("item")
	switch it.Get("type").Str {
	case "reasoning":
		enc := it.Get("encrypted_content").Str
		if data, ok := strings.CutPrefix(enc, redactedPrefix); ok {
			dst = append(dst, format.Event{Type: format.EventRedactedThinking, Text: strings.Clone(data)})
		} else if enc != "" {
			dst = append(dst, format.Event{Type: format.EventSignature, Signature: strings.Clone(enc)})
		}
	case "function_call":
		i := d.call(root.Get("output_index").Int())
		if i >= 0 && !d.calls[i].sawArgs {
			if args := it.Get("arguments").Str; args != "" {
				d.calls[i].sawArgs = true
				dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: i, Text: strings.Clone(args)})
			}
		}
	}
	return dst
}

func (d *streamDecoder) finish(resp gjson.Result, dst []format.Event) []format.Event {
	var inc *incompleteDetails
	if r := resp.Get("incomplete_details.reason"); r.Exists() {
		inc = &incompleteDetails{Reason: r.Str}
	}
	dst = append(dst, format.Event{Type: format.EventFinish,
		StopReason: stopReason(resp.Get("status").Str, inc, len(d.calls) > 0)})
	if u := resp.Get("usage"); u.IsObject() {
		dst = append(dst, format.Event{Type: format.EventUsage, Usage: &format.Usage{
			InputTokens:     int(u.Get("input_tokens").Int()),
			OutputTokens:    int(u.Get("output_tokens").Int()),
			CacheReadTokens: int(u.Get("input_tokens_details.cached_tokens").Int()),
			ReasoningTokens: int(u.Get("output_tokens_details.reasoning_tokens").Int()),
		}})
	}
	return dst
}
