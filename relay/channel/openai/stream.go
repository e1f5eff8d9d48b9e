package openai

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

type streamDecoder struct {
	info  *relaycommon.RelayInfo
	usage relaycommon.Usage
	seen  bool // a usage object was read
	text  channel.TextKeeper
}

// NewStreamDecoder implements channel.Adaptor.
func (Adaptor) NewStreamDecoder(info *relaycommon.RelayInfo) channel.StreamDecoder {
	if info.Dialect == relaycommon.DialectResponses {
		return &responsesDecoder{}
	}
	return &streamDecoder{info: info}
}

func (d *streamDecoder) addText(s string) { d.text.Add(s) }

// Decode forwards each chunk untouched, except the usage-only chunk the
// gateway asked for on the client's behalf, which is hidden from a client
// that did not ask for it.
func (d *streamDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	if sse.IsDone(ev.Data) {
		return ev.Data, true, nil
	}
	// Read the event in place: every string taken from it is copied (into
	// the text builder) before Decode returns, and ev.Data outlives Decode.
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	// One pass over the top level instead of one lookup per member.
	var choices, usage, upErr gjson.Result
	gjson.Parse(s).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "error":
			upErr = v
		}
		return true
	})
	if upErr.Exists() {
		msg := upErr.Get("message").String()
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
	}
	nChoices := 0
	choices.ForEach(func(_, c gjson.Result) bool {
		nChoices++
		d.addChoiceText(c)
		return true
	})
	if usage.IsObject() {
		d.usage, d.seen = UsageOf(usage), true
		if !d.info.ClientWantsUsage && nChoices == 0 {
			return nil, false, nil
		}
	}
	return ev.Data, false, nil
}

// addChoiceText keeps one choice's generated text: its delta's content
// (or, failing that, the legacy completions "text"), reasoning and tool-call
// arguments. One pass over the choice and one over each delta replace a
// path lookup per field, each of which rescanned the choice; like those
// lookups, it takes the first match of each field, across every "delta"
// object in turn.
func (d *streamDecoder) addChoiceText(c gjson.Result) {
	var content, text, reasoning, tools gjson.Result
	c.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "delta":
			if v.IsObject() {
				v.ForEach(func(k, v gjson.Result) bool {
					switch k.Str {
					case "content":
						firstOf(&content, v)
					case "reasoning_content":
						firstOf(&reasoning, v)
					case "tool_calls":
						firstOf(&tools, v)
					}
					return true
				})
			}
		case "text":
			firstOf(&text, v)
		}
		return true
	})
	if content.Exists() {
		d.addText(content.String())
	} else if text.Exists() {
		d.addText(text.String())
	}
	if reasoning.Exists() {
		d.addText(reasoning.String())
	}
	tools.ForEach(func(_, tc gjson.Result) bool {
		d.addText(tc.Get("function.arguments").String())
		return true
	})
}

// firstOf sets *r to v unless an earlier member already set it.
func firstOf(r *gjson.Result, v gjson.Result) {
	if !r.Exists() {
		*r = v
	}
}

// Usage implements channel.StreamDecoder.
func (d *streamDecoder) Usage() *relaycommon.Usage {
	if !d.seen {
		return nil
	}
	return &d.usage
}

// Text returns the generated text kept for local counting (at most
// maxKeptText bytes; ExtraTokens covers the rest).
func (d *streamDecoder) Text() string { return d.text.String() }

// ExtraTokens estimates the tokens of text beyond the kept cap, at 4
// bytes per token.
func (d *streamDecoder) ExtraTokens() int { return d.text.ExtraTokens() }

// Release implements channel.Releaser.
func (d *streamDecoder) Release() { d.text.Release() }

var (
	_ channel.TextOverflow = (*streamDecoder)(nil)
	_ channel.Releaser     = (*streamDecoder)(nil)
)
