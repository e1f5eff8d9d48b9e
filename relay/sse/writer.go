package sse

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrNameHasNewline is returned by WriteEvent for an event name containing
// '\r' or '\n', which would otherwise let the name inject extra fields or end
// the event early on the client.
var ErrNameHasNewline = errors.New("sse: event name contains a line break")

// writeBufs pools the per-event scratch buffer so WriteEvent hands the
// writer one complete event per Write call without allocating: one Write per
// event means a flush never sends half an event.
var writeBufs = sync.Pool{
	New: func() any {
		b := make([]byte, 0, 4<<10)
		return &b
	},
}

// WriteEvent writes one event to w: an "event:" line when name is non-empty,
// then one "data:" line per line of data, then the blank line that ends the
// event. Line breaks in data ("\n", "\r\n" or a lone "\r") each start a new
// "data:" line, because SSE cannot carry a raw line break inside a field; a
// Reader therefore reads back data with every line break turned into "\n".
func WriteEvent(w io.Writer, name, data []byte) error {
	if bytes.ContainsAny(name, "\r\n") {
		return ErrNameHasNewline
	}
	bp := writeBufs.Get().(*[]byte)
	buf := AppendEvent((*bp)[:0], name, data)
	_, err := w.Write(buf)
	if cap(buf) <= maxPooledData {
		*bp = buf
		writeBufs.Put(bp)
	}
	return err
}

// AppendEvent appends the framing of one event to dst, as WriteEvent
// writes it. The caller must have checked name for line breaks (event
// names a program chooses never have them).
func AppendEvent(dst, name, data []byte) []byte {
	buf := dst
	if len(name) > 0 {
		buf = append(buf, "event: "...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	for {
		i := indexLineBreak(data)
		if i < 0 {
			break
		}
		buf = appendData(buf, data[:i])
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	buf = appendData(buf, data)
	return append(buf, '\n')
}

// indexLineBreak is bytes.IndexAny(b, "\r\n"). IndexAny tests the bytes
// one by one; two IndexByte scans are vectorised, and event data, which
// seldom has a line break, is scanned once for each at that speed.
func indexLineBreak(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	before := b
	if lf >= 0 {
		before = b[:lf]
	}
	if cr := bytes.IndexByte(before, '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// appendData appends one "data:" line.
func appendData(buf, line []byte) []byte {
	buf = append(buf, "data: "...)
	buf = append(buf, line...)
	return append(buf, '\n')
}
