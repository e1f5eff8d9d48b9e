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

// responsesDecoder relays a Responses API stream untouched, reading usage
// from its terminal event. The stream has no end marker: it is complete
// once response.completed (or .incomplete) has been seen.
type responsesDecoder struct {
	usage    *relaycommon.Usage
	text     channel.TextKeeper
	complete bool
	out      []byte // the framed event, reused: the relay writes it before the next Decode
}

var (
	_ channel.Framed    = (*responsesDecoder)(nil)
	_ channel.EndsAtEOF = (*responsesDecoder)(nil)
	_ channel.Releaser  = (*responsesDecoder)(nil)
)

// Decode implements channel.StreamDecoder. Output is framed: the
// Responses API names every event, and clients dispatch on the name.
func (d *responsesDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	// Read the event in place (gjson.GetBytes would copy every result):
	// strings kept past Decode are copied first.
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	typ := gjson.Get(s, "type").String()
	switch typ {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
		d.text.Add(gjson.Get(s, "delta").String())
	case "response.completed", "response.incomplete":
		u := ResponsesUsageOf(gjson.Get(s, "response.usage"))
		d.usage = &u
		d.complete = true
	case "response.failed", "error":
		msg := gjson.Get(s, "response.error.message").String()
		if msg == "" {
			msg = gjson.Get(s, "message").String()
		}
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
	}
	name := ev.Name
	if len(name) == 0 && typ != "" {
		name = []byte(typ)
	}
	if cap(d.out) > maxReusedOut {
		d.out = nil // grown by a large event: not held for the rest of the stream
	}
	d.out = sse.AppendEvent(d.out[:0], name, ev.Data)
	return d.out, false, nil
}

// maxReusedOut bounds the framing buffer a Responses stream keeps between
// events. Deltas are small; response.created and response.completed repeat
// the whole response (instructions, tools, output) and get a buffer of
// their own.
const maxReusedOut = 4 << 10

func (d *responsesDecoder) Framed()                   {}
func (d *responsesDecoder) CompleteAtEOF() bool       { return d.complete }
func (d *responsesDecoder) Usage() *relaycommon.Usage { return d.usage }
func (d *responsesDecoder) Text() string              { return d.text.String() }
func (d *responsesDecoder) ExtraBytes() int           { return d.text.ExtraBytes() }

// Release implements channel.Releaser.
func (d *responsesDecoder) Release() { d.text.Release() }
