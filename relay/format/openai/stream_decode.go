package openai

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// maxStreamCalls bounds the tool calls one stream may open, so a hostile
// upstream cannot grow the decoder's state without limit.
const maxStreamCalls = 1024

// callSlot maps an upstream tool_calls index to the IR call index (its
// position in streamDecoder.calls).
type callSlot struct {
	up int64
	id string
}

type streamDecoder struct {
	started bool
	calls   []callSlot
}

// NewStreamDecoder returns a decoder of Chat Completions chunks.
func NewStreamDecoder() format.StreamDecoder { return &streamDecoder{} }

// Decode turns one chunk into IR events. Only choice 0 is read.
func (d *streamDecoder) Decode(ev sse.Event, dst []format.Event) ([]format.Event, bool, *relayerr.Error) {
	if sse.IsDone(ev.Data) {
		return dst, true, nil
	}
	if len(ev.Data) == 0 {
		return dst, false, nil
	}
	// Read in place: every string kept is cloned before Decode returns.
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	if !gjson.Valid(s) {
		return dst, false, relayerr.New(relayerr.KindUpstream, "the upstream sent a malformed stream chunk")
	}
	root := gjson.Parse(s)
	if !root.IsObject() {
		return dst, false, relayerr.New(relayerr.KindUpstream, "the upstream sent a malformed stream chunk")
	}
	var id, model, choices, usage, upErr gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "error":
			upErr = v
		}
		return true
	})
	if upErr.Exists() && upErr.Type != gjson.Null {
		msg := upErr.Get("message").String()
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return dst, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
	}
	if !d.started {
		d.started = true
		dst = append(dst, format.Event{Type: format.EventStart, ID: strings.Clone(id.String()), Model: strings.Clone(model.String())})
	}
	var err *relayerr.Error
	choices.ForEach(func(_, c gjson.Result) bool {
		if c.Get("index").Int() != 0 {
			return true
		}
		dst, err = d.choice(c, dst)
		return false
	})
	if err != nil {
		return dst, false, err
	}
	if usage.IsObject() {
		dst = append(dst, format.Event{Type: format.EventUsage, Usage: streamUsage(usage)})
	}
	return dst, false, nil
}

// choice decodes one choice's delta and finish reason.
func (d *streamDecoder) choice(c gjson.Result, dst []format.Event) ([]format.Event, *relayerr.Error) {
	delta := c.Get("delta")
	dst = reasoningEvents(delta, dst)
	if t := delta.Get("content"); t.Type == gjson.String && t.Str != "" {
		dst = append(dst, format.Event{Type: format.EventTextDelta, Text: strings.Clone(t.Str)})
	} else if t := delta.Get("refusal"); t.Type == gjson.String && t.Str != "" {
		dst = append(dst, format.Event{Type: format.EventTextDelta, Text: strings.Clone(t.Str)})
	}
	var err *relayerr.Error
	delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		dst, err = d.toolCall(tc, dst)
		return err == nil
	})
	if err != nil {
		return dst, err
	}
	if fr := c.Get("finish_reason"); fr.Type == gjson.String && fr.Str != "" {
		dst = append(dst, format.Event{Type: format.EventFinish, StopReason: stopReason(fr.Str)})
	}
	return dst, nil
}

// reasoningEvents reads a delta's reasoning. reasoning_details wins when
// present because OpenRouter sends the same text in it and in reasoning.
func reasoningEvents(delta gjson.Result, dst []format.Event) []format.Event {
	if details := delta.Get("reasoning_details"); details.IsArray() && details.Get("#").Int() > 0 {
		details.ForEach(func(_, d gjson.Result) bool {
			switch d.Get("type").Str {
			case "reasoning.text", "reasoning.summary":
				t := d.Get("text").Str + d.Get("summary").Str
				if t != "" {
					dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: strings.Clone(t)})
				}
				if sig := d.Get("signature").Str; sig != "" {
					dst = append(dst, format.Event{Type: format.EventSignature, Signature: strings.Clone(sig)})
				}
			case "reasoning.encrypted":
				dst = append(dst, format.Event{Type: format.EventRedactedThinking, Text: strings.Clone(d.Get("data").Str)})
			}
			return true
		})
		return dst
	}
	t := delta.Get("reasoning_content")
	if t.Type != gjson.String || t.Str == "" {
		t = delta.Get("reasoning")
	}
	if t.Type == gjson.String && t.Str != "" {
		dst = append(dst, format.Event{Type: format.EventThinkingDelta, Text: strings.Clone(t.Str)})
	}
	return dst
}

// toolCall decodes one tool_calls delta. A call starts when a new id (or,
// from servers that send none, a name) appears at an index; servers that
// put every call at index 0 are handled by the id change.
func (d *streamDecoder) toolCall(tc gjson.Result, dst []format.Event) ([]format.Event, *relayerr.Error) {
	up := tc.Get("index").Int()
	id := tc.Get("id").Str
	name := tc.Get("function.name").Str
	slot := -1
	for i := len(d.calls) - 1; i >= 0; i-- {
		if d.calls[i].up == up {
			slot = i
			break
		}
	}
	if slot < 0 || (id != "" && id != d.calls[slot].id) {
		if len(d.calls) >= maxStreamCalls {
			return dst, relayerr.New(relayerr.KindUpstream, "the upstream opened too many tool calls in one stream")
		}
		slot = len(d.calls)
		if id == "" {
			id = "call_" + strconv.Itoa(slot)
		}
		id = strings.Clone(id)
		d.calls = append(d.calls, callSlot{up: up, id: id})
		dst = append(dst, format.Event{Type: format.EventToolCallStart, Index: slot, ID: id, Name: strings.Clone(name)})
	}
	if args := tc.Get("function.arguments").Str; args != "" {
		dst = append(dst, format.Event{Type: format.EventToolArgsDelta, Index: slot, Text: strings.Clone(args)})
	}
	return dst, nil
}

func streamUsage(u gjson.Result) *format.Usage {
	out := &format.Usage{
		InputTokens:     int(u.Get("prompt_tokens").Int()),
		OutputTokens:    int(u.Get("completion_tokens").Int()),
		CacheReadTokens: int(u.Get("prompt_tokens_details.cached_tokens").Int()),
		ReasoningTokens: int(u.Get("completion_tokens_details.reasoning_tokens").Int()),
	}
	if out.CacheReadTokens == 0 {
		out.CacheReadTokens = int(u.Get("prompt_cache_hit_tokens").Int())
	}
	return out
}
