package openai

import (
	"bytes"
	"encoding/binary"
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
	// unread holds the chunks whose text is not in text yet. The text is
	// only wanted if no usage comes, and reading it was a full parse of
	// every chunk, 12 % of the CPU of a 20-chunk stream at c=64; a chunk
	// that cannot hold usage or an error is kept as it came instead, and
	// read only when the text is asked for or unreadBound bytes wait.
	// Each chunk is stored as its length (a uvarint) and its bytes.
	unread []byte
}

// unreadBound is the most a stream keeps unread, one block of the kept
// text's pool (16 KiB); past it the chunks are read into the kept text, so
// a long stream without usage costs what it did (and holds no more), and
// one with usage is read all but its last unreadBound bytes. Past
// smallUnread the chunks go into a pooled block rather than a buffer
// regrown by append; below it, a stream held open after its first chunks
// holds only what they take. So a stream being served holds at most one
// block more than before: about a hundred chunks, most answers whole.
const (
	unreadBound = len(channel.Block{})
	smallUnread = 1 << 10
)

var (
	usageKey  = []byte(`"usage"`)
	errorKey  = []byte(`"error"`)
	nullValue = []byte("null")
)

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
	// A key is written "usage" or "error", quotes included; inside a JSON
	// string a quote is escaped, so only a string whose whole value is
	// that word also matches, and is then read in full, as every chunk was.
	// A usage that is null carries nothing: OpenAI sends "usage":null in
	// every chunk of a stream asked for usage (as the gateway asks) but the
	// last, so without this test every chunk was read in full.
	if !bytes.Contains(ev.Data, errorKey) && onlyNullUsage(ev.Data) {
		d.keepUnread(ev.Data)
		return ev.Data, false, nil
	}
	return d.decodeRead(ev)
}

// onlyNullUsage reports whether every "usage" in data (none included) is a
// key whose value is null.
func onlyNullUsage(data []byte) bool {
	for {
		i := bytes.Index(data, usageKey)
		if i < 0 {
			return true
		}
		data = bytes.TrimLeft(data[i+len(usageKey):], " \t\r\n")
		if len(data) == 0 || data[0] != ':' {
			return false
		}
		data = bytes.TrimLeft(data[1:], " \t\r\n")
		if !bytes.HasPrefix(data, nullValue) {
			return false
		}
		data = data[len(nullValue):]
	}
}

// decodeRead decodes an event that is read in full: one with usage or an
// error. Apart from Decode, whose frame the relay's read loop holds for
// the whole stream, so that frame stays small.
func (d *streamDecoder) decodeRead(ev sse.Event) ([]byte, bool, *relayerr.Error) {
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
		if nChoices == 0 {
			d.readUnread() // the text stays in stream order
		}
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

// keepUnread keeps a copy of chunk (the reader reuses its buffer) to read
// later, reading what waits first once unreadBound is passed.
func (d *streamDecoder) keepUnread(chunk []byte) {
	need := binary.MaxVarintLen64 + len(chunk)
	if need > unreadBound/2 {
		d.readUnread()
		d.readChunk(chunk)
		return
	}
	if len(d.unread)+need > unreadBound {
		d.readUnread()
	}
	if len(d.unread)+need > cap(d.unread) && len(d.unread)+need > smallUnread {
		d.unread = append(channel.TakeBlock()[:0], d.unread...)
	}
	d.unread = binary.AppendUvarint(d.unread, uint64(len(chunk)))
	d.unread = append(d.unread, chunk...)
}

// readUnread adds the text of the chunks kept unread, in order, and
// empties the store (keeping its arrays for the rest of the stream).
func (d *streamDecoder) readUnread() {
	for rest := d.unread; len(rest) > 0; {
		n, w := binary.Uvarint(rest)
		d.readChunk(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	d.unread = d.unread[:0]
}

// readChunk adds the text of one chunk that holds neither usage nor an
// error.
func (d *streamDecoder) readChunk(chunk []byte) {
	gjson.Get(unsafe.String(unsafe.SliceData(chunk), len(chunk)), "choices").ForEach(func(_, c gjson.Result) bool {
		d.addChoiceText(c)
		return true
	})
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
// MaxKeptText bytes; ExtraBytes measures the rest).
func (d *streamDecoder) Text() string {
	d.readUnread()
	return d.text.String()
}

// ExtraBytes is the length of the text beyond the kept cap.
func (d *streamDecoder) ExtraBytes() int {
	d.readUnread()
	return d.text.ExtraBytes()
}

// Release implements channel.Releaser.
func (d *streamDecoder) Release() {
	d.text.Release()
	if cap(d.unread) == unreadBound {
		channel.GiveBlock((*channel.Block)(d.unread[:unreadBound]))
	}
	d.unread = nil
}

var (
	_ channel.TextOverflow = (*streamDecoder)(nil)
	_ channel.Releaser     = (*streamDecoder)(nil)
)
