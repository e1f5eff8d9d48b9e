package openai

import (
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

type streamDecoder struct {
	info  *relaycommon.RelayInfo
	usage *relaycommon.Usage
	text  strings.Builder
}

// NewStreamDecoder implements channel.Adaptor.
func (Adaptor) NewStreamDecoder(info *relaycommon.RelayInfo) channel.StreamDecoder {
	return &streamDecoder{info: info}
}

var chunkPaths = []string{"usage", "choices", "error"}

// Decode forwards each chunk untouched, except the usage-only chunk the
// gateway asked for on the client's behalf, which is hidden from a client
// that did not ask for it.
func (d *streamDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	if sse.IsDone(ev.Data) {
		return ev.Data, true, nil
	}
	r := gjson.GetManyBytes(ev.Data, chunkPaths...)
	usage, choices, upErr := r[0], r[1], r[2]
	if upErr.Exists() {
		msg := upErr.Get("message").String()
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(msg))
	}
	for _, c := range choices.Array() {
		if t := c.Get("delta.content"); t.Exists() {
			d.text.WriteString(t.String())
		} else if t := c.Get("text"); t.Exists() {
			d.text.WriteString(t.String())
		}
		if rc := c.Get("delta.reasoning_content"); rc.Exists() {
			d.text.WriteString(rc.String())
		}
		for _, tc := range c.Get("delta.tool_calls").Array() {
			d.text.WriteString(tc.Get("function.arguments").String())
		}
	}
	if usage.IsObject() {
		u := UsageOf(usage)
		d.usage = &u
		if !d.info.ClientWantsUsage && len(choices.Array()) == 0 {
			return nil, false, nil
		}
	}
	return ev.Data, false, nil
}

func (d *streamDecoder) Usage() *relaycommon.Usage { return d.usage }
func (d *streamDecoder) Text() string              { return d.text.String() }
