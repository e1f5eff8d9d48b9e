package anthropic

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
	usage relaycommon.Usage
	seen  bool
	text  channel.TextKeeper
	out   []byte
}

var (
	_ channel.Framed       = (*streamDecoder)(nil)
	_ channel.TextOverflow = (*streamDecoder)(nil)
	_ channel.Releaser     = (*streamDecoder)(nil)
)

// NewStreamDecoder implements channel.Adaptor.
func (Adaptor) NewStreamDecoder(*relaycommon.RelayInfo) channel.StreamDecoder {
	return &streamDecoder{}
}

// Decode relays each event with its name, reading usage from message_start
// (input side) and message_delta (output tokens, cumulative).
func (d *streamDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	// Strings taken from the event are copied before Decode returns.
	s := unsafe.String(unsafe.SliceData(ev.Data), len(ev.Data))
	root := gjson.Parse(s)
	typ := root.Get("type").String()
	if typ == "" {
		typ = string(ev.Name)
	}
	done := false
	switch typ {
	case "message_start":
		d.mergeUsage(root.Get("message.usage"))
	case "message_delta":
		d.mergeUsage(root.Get("usage"))
	case "content_block_delta":
		delta := root.Get("delta")
		switch delta.Get("type").String() {
		case "text_delta":
			d.addText(delta.Get("text").String())
		case "thinking_delta":
			d.addText(delta.Get("thinking").String())
		case "input_json_delta":
			d.addText(delta.Get("partial_json").String())
		}
	case "message_stop":
		done = true
	case "error":
		msg := root.Get("error.message").String()
		if msg == "" {
			msg = "the upstream provider reported an error mid-stream"
		}
		return nil, false, relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(strings.Clone(msg)))
	}
	name := ev.Name
	if len(name) == 0 {
		name = []byte(typ)
	}
	d.out = sse.AppendEvent(d.out[:0], name, ev.Data)
	return d.out, done, nil
}

// mergeUsage folds a usage object in: message_delta repeats or updates only
// some fields, so absent ones keep their earlier value.
func (d *streamDecoder) mergeUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	d.seen = true
	read, write := d.usage.CachedTokens, d.usage.CacheWriteTokens
	in := d.usage.PromptTokens - read - write
	if v := u.Get("input_tokens"); v.Exists() {
		in = int(v.Int())
	}
	if v := u.Get("cache_read_input_tokens"); v.Exists() {
		read = int(v.Int())
	}
	if v := u.Get("cache_creation_input_tokens"); v.Exists() {
		write = int(v.Int())
	}
	if v := u.Get("output_tokens"); v.Exists() {
		d.usage.CompletionTokens = int(v.Int())
	}
	d.usage.CachedTokens, d.usage.CacheWriteTokens = read, write
	d.usage.PromptTokens = in + read + write
	d.usage.TotalTokens = d.usage.PromptTokens + d.usage.CompletionTokens
}

func (d *streamDecoder) addText(s string) { d.text.Add(s) }

func (d *streamDecoder) Framed() {}

// Usage implements channel.StreamDecoder.
func (d *streamDecoder) Usage() *relaycommon.Usage {
	if !d.seen {
		return nil
	}
	return &d.usage
}

func (d *streamDecoder) Text() string    { return d.text.String() }
func (d *streamDecoder) ExtraBytes() int { return d.text.ExtraBytes() }

// Release implements channel.Releaser.
func (d *streamDecoder) Release() { d.text.Release() }
