// Package sse is the gateway's one Server-Sent Events reader and writer.
//
// Every provider's stream goes through the same Reader, so the line bound,
// the buffer pooling and the spec corner cases are handled once; adaptors
// only decode the Data of each Event. The parsing rules follow the WHATWG
// HTML "event stream interpretation" section
// (https://html.spec.whatwg.org/multipage/server-sent-events.html), with the
// deviations documented on Reader.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// DefaultMaxLine is the line bound NewReader uses when given maxLine <= 0.
// Upstream chunks are usually under a kilobyte, but a single chunk can carry
// a whole base64 image or a large tool-call argument, so the default is
// generous while still stopping a misbehaving upstream from exhausting
// memory.
const DefaultMaxLine = 8 << 20

// bufSize is the size of the pooled bufio.Reader. 2 KiB holds an ordinary
// chunk (well under 1 KiB) in one read, and a few of a burst; rarer large
// chunks take the accumulate-across-reads path. Every open stream holds
// one, so with 10,000 streams open the size is a large share of the
// gateway's memory (32 KiB was 57 % of the heap in the load harness; 4 KiB
// left held streams at 67 KB each against the 60 KB target, 2 KiB at 62).
const bufSize = 2 << 10

// maxPooledData bounds the event buffers kept in the pool: a stream that once
// carried a huge event must not pin that memory for every later stream.
const maxPooledData = 64 << 10

// ErrLineTooLong is returned by Next when a line, or the joined data of one
// event, exceeds the Reader's limit. It is sticky: every later call returns
// it too, because the stream can no longer be resynchronised reliably.
var ErrLineTooLong = errors.New("sse: line too long")

// ErrReleased is returned by Next after Release, so a use-after-release bug
// fails loudly instead of reading another stream's pooled buffer.
var ErrReleased = errors.New("sse: reader used after Release")

// Event is one dispatched server-sent event.
type Event struct {
	// Name is the event type from the last "event:" field, or nil when the
	// event had none (or an empty one); the spec calls that type "message".
	Name []byte
	// Data is the event's data lines joined by "\n". It is empty, not nil,
	// for an event whose only data line was "data:".
	Data []byte
}

// buffers is what the pool holds: the bufio.Reader and the per-event
// scratch slices, so a new stream starts with warm buffers and the common
// case allocates nothing.
type buffers struct {
	br   *bufio.Reader
	data []byte
	name []byte
	line []byte
}

var pool = sync.Pool{
	New: func() any {
		return &buffers{br: bufio.NewReaderSize(nil, bufSize)}
	},
}

// Reader reads events from an SSE stream. It is not safe for concurrent use.
//
// Deviations from the WHATWG algorithm, chosen for upstream APIs rather than
// browsers:
//   - A lone "\r" is not a line terminator; only "\n" and "\r\n" are. No LLM
//     upstream sends bare CR, and supporting it would need a byte-at-a-time
//     scan.
//   - At io.EOF an event that has data but no terminating blank line is still
//     dispatched (the spec discards it), because several upstreams close the
//     connection right after their last "data:" line.
//   - "id" and "retry" fields are parsed and ignored: the gateway never
//     reconnects with Last-Event-ID.
type Reader struct {
	b       *buffers
	maxLine int
	started bool // the first line has been read (BOM check done)
	err     error
}

// NewReader returns a Reader over r whose lines and events are bounded by
// maxLine bytes (DefaultMaxLine if maxLine <= 0). Call Release when done so
// the buffers return to the pool.
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	b := pool.Get().(*buffers)
	b.br.Reset(r)
	return &Reader{b: b, maxLine: maxLine}
}

// Release returns the Reader's buffers to the pool. Slices from earlier
// Events must not be used afterwards; Next returns ErrReleased. Release is
// idempotent.
func (r *Reader) Release() {
	b := r.b
	if b == nil {
		return
	}
	r.b = nil
	r.err = ErrReleased
	// Drop the reference to the upstream body so the pool does not keep a
	// finished connection reachable.
	b.br.Reset(nil)
	if cap(b.data) > maxPooledData {
		b.data = nil
	}
	if cap(b.line) > maxPooledData {
		b.line = nil
	}
	if cap(b.name) > maxPooledData {
		b.name = nil
	}
	b.data, b.name, b.line = b.data[:0], b.name[:0], b.line[:0]
	pool.Put(b)
}

// Next returns the next complete event. The slices in the returned Event
// alias the Reader's internal buffers and are only valid until the next call
// to Next or Release; copy them to keep them.
//
// At the end of the stream Next returns io.EOF (after dispatching a final
// unterminated event, see Reader). Any other read error is returned as is and
// a pending partial event is dropped, since its data may be cut mid-JSON.
// Errors are sticky.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	b := r.b
	b.data, b.name = b.data[:0], b.name[:0]
	hasData, hasName := false, false
	for {
		line, err := r.readLine()
		if err != nil && err != io.EOF {
			r.err = err
			return Event{}, err
		}
		eof := err == io.EOF
		if len(line) == 0 {
			// A blank line dispatches; so does the end of the stream.
			if hasData {
				if eof {
					r.err = io.EOF
				}
				return r.event(hasName), nil
			}
			if eof {
				r.err = io.EOF
				return Event{}, io.EOF
			}
			// Spec: a blank line with an empty data buffer resets the
			// event type and dispatches nothing.
			b.name, hasName = b.name[:0], false
			continue
		}
		if err := r.field(line, &hasData, &hasName); err != nil {
			r.err = err
			return Event{}, err
		}
		if eof {
			// Unterminated last line: dispatch what we have (see Reader).
			r.err = io.EOF
			if hasData {
				return r.event(hasName), nil
			}
			return Event{}, io.EOF
		}
	}
}

// event builds the Event to return from the current buffers.
func (r *Reader) event(hasName bool) Event {
	ev := Event{Data: r.b.data}
	if ev.Data == nil {
		// Keep the documented "empty, not nil" promise for a lone "data:";
		// a zero-length slice literal does not allocate.
		ev.Data = []byte{}
	}
	if hasName && len(r.b.name) > 0 {
		ev.Name = r.b.name
	}
	return ev
}

// field processes one non-blank line.
func (r *Reader) field(line []byte, hasData, hasName *bool) error {
	if line[0] == ':' {
		return nil // comment, used by upstreams as keep-alive
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	b := r.b
	switch string(name) { // no allocation: the compiler optimises this form
	case "data":
		n := len(b.data) + len(value)
		if *hasData {
			n++
		}
		if n > r.maxLine {
			return ErrLineTooLong
		}
		if *hasData {
			b.data = append(b.data, '\n')
		}
		b.data = append(b.data, value...)
		*hasData = true
	case "event":
		b.name = append(b.name[:0], value...)
		*hasName = true
	}
	// "id", "retry" and unknown fields are ignored (see Reader).
	return nil
}

// readLine returns the next line without its terminator. The slice is valid
// until the next read. It returns io.EOF with the final unterminated line (or
// an empty line when the stream ended on a terminator).
func (r *Reader) readLine() ([]byte, error) {
	b := r.b
	line, err := b.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Slow path: the line spans several buffer fills. Accumulate it in
		// scratch, enforcing the bound as we go so growth stays limited.
		b.line = append(b.line[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(b.line) > r.maxLine+1 { // +1 for a possible '\r'
				return nil, ErrLineTooLong
			}
			line, err = b.br.ReadSlice('\n')
			b.line = append(b.line, line...)
		}
		line = b.line
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
		if n > 0 && line[n-1] == '\r' {
			n--
		}
	}
	line = line[:n]
	if !r.started {
		r.started = true
		// Spec: a UTF-8 byte order mark at the start of the stream is
		// ignored.
		line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	if len(line) > r.maxLine {
		return nil, ErrLineTooLong
	}
	return line, err
}

// IsDone reports whether data is OpenAI's "[DONE]" end-of-stream sentinel.
// Surrounding whitespace is ignored because some OpenAI-compatible servers
// pad it.
func IsDone(data []byte) bool {
	return bytes.Equal(bytes.TrimSpace(data), doneSentinel)
}

var doneSentinel = []byte("[DONE]")

// HasEvent reports whether a complete event is already buffered, so the
// caller can skip flushing the client between events that arrived
// together: the next Next will not block.
func (r *Reader) HasEvent() bool {
	if r.b == nil {
		return false
	}
	n := r.b.br.Buffered()
	if n == 0 {
		return false
	}
	buf, _ := r.b.br.Peek(n)
	return bytes.Contains(buf, lfLF) || bytes.Contains(buf, crlfCRLF)
}

var (
	lfLF     = []byte("\n\n")
	crlfCRLF = []byte("\r\n\r\n")
)
