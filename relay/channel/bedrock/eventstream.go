package bedrock

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"sluice/relay/channel"
	"sluice/relay/sse"
)

// MaxFrame bounds one event-stream message (prelude, headers, payload and
// checksums). Bedrock's chunks are a few hundred bytes; a large tool-call
// argument or a long text delta stays far below this. The SDK's decoder
// trusts the prelude's 32-bit length, so the reader checks it before the
// decoder reads a byte of the frame.
const MaxFrame = 16 << 20

// Frame layout (https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html):
// total length (4), headers length (4), prelude CRC (4), headers, payload,
// message CRC (4).
const (
	preludeLen  = 8
	frameFixed  = preludeLen + 4 + 4
	bufSize     = 4 << 10
	maxPooledBf = 64 << 10
)

var (
	// ErrFrameTooLarge is returned when a frame's declared length exceeds
	// MaxFrame. Like every decode error it is sticky: the stream cannot be
	// resynchronised.
	ErrFrameTooLarge = errors.New("bedrock: event-stream frame larger than the limit")
	// ErrBadFrame is returned for a frame whose prelude, checksums or chunk
	// payload are malformed.
	ErrBadFrame = errors.New("bedrock: malformed event-stream frame")
)

type buffers struct {
	br      *bufio.Reader
	payload []byte // the decoder's payload buffer
	data    []byte // one decoded Anthropic event
	name    []byte
}

var pool = sync.Pool{New: func() any { return &buffers{br: bufio.NewReaderSize(nil, bufSize)} }}

// decoder is stateless; one serves every stream.
var decoder = eventstream.NewDecoder()

// eventReader turns Bedrock's binary event stream into the Anthropic
// events it carries, as the SSE events the Anthropic stream decoder reads.
type eventReader struct {
	b   *buffers
	err error
}

var _ channel.EventReader = (*eventReader)(nil)

// NewEventReader implements channel.EventSource: Bedrock streams are AWS
// event streams (application/vnd.amazon.eventstream), not SSE.
func (Adaptor) NewEventReader(body io.Reader) channel.EventReader {
	b := pool.Get().(*buffers)
	b.br.Reset(body)
	return &eventReader{b: b}
}

// Next returns the next Anthropic event. A "chunk" event yields the event
// in its base64 "bytes" field, named by its "type"; an exception message
// yields an Anthropic error event, which the stream decoder reports as an
// in-stream error. Other events are skipped. The returned slices are valid
// until the next call.
func (r *eventReader) Next() (sse.Event, error) {
	for r.err == nil {
		ev, ok, err := r.frame()
		if err != nil {
			r.err = err
			break
		}
		if ok {
			return ev, nil
		}
	}
	return sse.Event{}, r.err
}

// frame reads one message; ok is false for a message that carries no
// Anthropic event.
func (r *eventReader) frame() (sse.Event, bool, error) {
	b := r.b
	p, err := b.br.Peek(preludeLen)
	if err != nil {
		if errors.Is(err, io.EOF) && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return sse.Event{}, false, err
	}
	total := binary.BigEndian.Uint32(p)
	headers := binary.BigEndian.Uint32(p[4:])
	if total > MaxFrame {
		return sse.Event{}, false, ErrFrameTooLarge
	}
	if total < frameFixed || headers > total-frameFixed {
		return sse.Event{}, false, ErrBadFrame
	}
	// The limit keeps the decoder inside this frame whatever its headers
	// claim, so memory stays bounded by MaxFrame.
	msg, err := decoder.Decode(io.LimitReader(b.br, int64(total)), b.payload[:0])
	if cap(msg.Payload) > cap(b.payload) {
		b.payload = msg.Payload[:0]
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return sse.Event{}, false, io.ErrUnexpectedEOF
		}
		return sse.Event{}, false, errors.Join(ErrBadFrame, err)
	}
	switch header(msg.Headers, ":message-type") {
	case "event":
		if header(msg.Headers, ":event-type") != "chunk" {
			return sse.Event{}, false, nil
		}
		return r.chunk(msg.Payload)
	case "exception":
		// The payload is {"message":"..."}; modelStreamErrorException adds
		// originalStatusCode and originalMessage.
		msgText := gjson.GetBytes(msg.Payload, "message").String()
		if msgText == "" {
			msgText = gjson.GetBytes(msg.Payload, "originalMessage").String()
		}
		return r.errorEvent(header(msg.Headers, ":exception-type"), msgText), true, nil
	case "error":
		return r.errorEvent(header(msg.Headers, ":error-code"), header(msg.Headers, ":error-message")), true, nil
	}
	return sse.Event{}, false, nil
}

// chunk decodes a PayloadPart, {"bytes":"<base64 of one Anthropic event>"}
// (plus Bedrock's "p" padding field, ignored).
func (r *eventReader) chunk(payload []byte) (sse.Event, bool, error) {
	b := r.b
	f := gjson.GetBytes(payload, "bytes")
	if f.Type != gjson.String {
		return sse.Event{}, false, ErrBadFrame
	}
	// Base64 needs no JSON escapes, but a "\/" is legal JSON: decode the
	// raw text in place unless it has one.
	var src []byte
	if strings.IndexByte(f.Raw, '\\') < 0 && f.Index > 0 && f.Index+len(f.Raw) <= len(payload) {
		src = payload[f.Index+1 : f.Index+len(f.Raw)-1]
	} else {
		src = []byte(f.String())
	}
	var err error
	if b.data, err = base64.StdEncoding.AppendDecode(b.data[:0], src); err != nil {
		return sse.Event{}, false, errors.Join(ErrBadFrame, err)
	}
	if !gjson.ValidBytes(b.data) {
		return sse.Event{}, false, ErrBadFrame
	}
	b.name = append(b.name[:0], gjson.GetBytes(b.data, "type").String()...)
	return sse.Event{Name: b.name, Data: b.data}, true, nil
}

// errorEvent builds the Anthropic error event for a stream exception.
func (r *eventReader) errorEvent(typ, msg string) sse.Event {
	b := r.b
	if typ == "" {
		typ = "exception"
	}
	if msg == "" {
		msg = "the upstream provider reported " + typ + " mid-stream"
	}
	b.data = append(b.data[:0], `{"type":"error","error":{"type":"","message":""}}`...)
	b.data, _ = sjson.SetBytesOptions(b.data, "error.type", typ, &sjson.Options{ReplaceInPlace: true})
	b.data, _ = sjson.SetBytesOptions(b.data, "error.message", msg, &sjson.Options{ReplaceInPlace: true})
	b.name = append(b.name[:0], "error"...)
	return sse.Event{Name: b.name, Data: b.data}
}

// header returns a string header's value, or "".
func header(hs eventstream.Headers, name string) string {
	if v, ok := hs.Get(name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
}

// HasEvent implements channel.EventReader: a whole frame is already
// buffered. (A buffered frame that turns out to carry no event, which
// Bedrock does not send today, at worst delays one flush until the next
// frame arrives.)
func (r *eventReader) HasEvent() bool {
	if r.b == nil || r.err != nil {
		return false
	}
	n := r.b.br.Buffered()
	if n < preludeLen {
		return false
	}
	p, err := r.b.br.Peek(preludeLen)
	if err != nil {
		return false
	}
	return int(binary.BigEndian.Uint32(p)) <= n
}

// Release implements channel.EventReader. It is idempotent; Next fails
// with sse.ErrReleased afterwards.
func (r *eventReader) Release() {
	b := r.b
	if b == nil {
		return
	}
	r.b = nil
	r.err = sse.ErrReleased
	b.br.Reset(nil)
	if cap(b.payload) > maxPooledBf {
		b.payload = nil
	}
	if cap(b.data) > maxPooledBf {
		b.data = nil
	}
	if cap(b.name) > maxPooledBf {
		b.name = nil
	}
	pool.Put(b)
}
