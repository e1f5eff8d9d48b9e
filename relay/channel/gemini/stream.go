package gemini

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// streamDecoder relays Gemini's SSE chunks untouched. Each chunk carries
// the usage so far; the stream has no end marker, so it is complete once a
// candidate reported a finishReason.
type streamDecoder struct {
	usage    *relaycommon.Usage
	text     channel.TextKeeper
	finished bool
}

var (
	_ channel.EndsAtEOF    = (*streamDecoder)(nil)
	_ channel.TextOverflow = (*streamDecoder)(nil)
	_ channel.Releaser     = (*streamDecoder)(nil)
)

// NewStreamDecoder implements channel.Adaptor.
func (Adaptor) NewStreamDecoder(*relaycommon.RelayInfo) channel.StreamDecoder {
	return &streamDecoder{}
}

// Decode implements channel.StreamDecoder.
func (d *streamDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	root := gjson.Parse(s)
	if e := root.Get("error"); e.Exists() {
		msg := e.Get("message").String()
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
	}
	root.Get("candidates").ForEach(func(_, c gjson.Result) bool {
		c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			if t := p.Get("text"); t.Exists() {
				d.text.Add(t.String())
			} else if fc := p.Get("functionCall"); fc.Exists() {
				d.text.Add(fc.Raw)
			}
			return true
		})
		if c.Get("finishReason").String() != "" {
			d.finished = true
		}
		return true
	})
	if u := root.Get("usageMetadata"); u.IsObject() {
		v := UsageOf(u)
		d.usage = &v
	}
	return ev.Data, false, nil
}

func (d *streamDecoder) CompleteAtEOF() bool       { return d.finished }
func (d *streamDecoder) Usage() *relaycommon.Usage { return d.usage }
func (d *streamDecoder) Text() string              { return d.text.String() }
func (d *streamDecoder) ExtraBytes() int           { return d.text.ExtraBytes() }

// Release implements channel.Releaser.
func (d *streamDecoder) Release() { d.text.Release() }
