package openai

import (
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
}

var (
	_ channel.Framed    = (*responsesDecoder)(nil)
	_ channel.EndsAtEOF = (*responsesDecoder)(nil)
)

// Decode implements channel.StreamDecoder. Output is framed: the
// Responses API names every event, and clients dispatch on the name.
func (d *responsesDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	typ := gjson.GetBytes(ev.Data, "type").String()
	switch typ {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
		d.text.Add(gjson.GetBytes(ev.Data, "delta").String())
	case "response.completed", "response.incomplete":
		u := ResponsesUsageOf(gjson.GetBytes(ev.Data, "response.usage"))
		d.usage = &u
		d.complete = true
	case "response.failed", "error":
		msg := gjson.GetBytes(ev.Data, "response.error.message").String()
		if msg == "" {
			msg = gjson.GetBytes(ev.Data, "message").String()
		}
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(msg))
	}
	name := ev.Name
	if len(name) == 0 && typ != "" {
		name = []byte(typ)
	}
	out := sse.AppendEvent(make([]byte, 0, len(name)+len(ev.Data)+24), name, ev.Data)
	return out, false, nil
}

func (d *responsesDecoder) Framed()                   {}
func (d *responsesDecoder) CompleteAtEOF() bool       { return d.complete }
func (d *responsesDecoder) Usage() *relaycommon.Usage { return d.usage }
func (d *responsesDecoder) Text() string              { return d.text.String() }
func (d *responsesDecoder) ExtraTokens() int          { return d.text.ExtraTokens() }
