package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func FuzzReader(f *testing.F) {
	f.Add(mustRead(f, "testdata/openai_chat_stream.sse"), "")
	f.Add(mustRead(f, "testdata/anthropic_messages_stream.sse"), "content_block_delta")
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n: comment\nevent: x\ndata:\n\ndata: tail"), "ping")
	f.Add([]byte("\xEF\xBB\xBFid: 1\nretry: 5\ndata\n\n\n\nevent\n"), " spaced")
	f.Add([]byte("data: [DONE]\n\n"), "")
	f.Fuzz(func(t *testing.T, in []byte, name string) {
		// Parse arbitrary input, with the default bound and a tiny one so
		// the too-long path is fuzzed too.
		for _, maxLine := range []int{0, 16} {
			r := NewReader(bytes.NewReader(in), maxLine)
			for i := 0; ; i++ {
				e, err := r.Next()
				if err != nil {
					break
				}
				if len(e.Data) > len(in) {
					t.Fatalf("Data longer (%d) than input (%d)", len(e.Data), len(in))
				}
				if maxLine > 0 && (len(e.Data) > maxLine || len(e.Name) > maxLine) {
					t.Fatalf("event exceeds maxLine %d: name %d, data %d", maxLine, len(e.Name), len(e.Data))
				}
				if i > len(in) {
					t.Fatalf("more events (%d) than input bytes (%d)", i, len(in))
				}
			}
			r.Release()
		}

		// Round trip: any data without '\r' reads back byte for byte.
		data := bytes.ReplaceAll(in, []byte("\r"), nil)
		var buf bytes.Buffer
		err := WriteEvent(&buf, []byte(name), data)
		if strings.ContainsAny(name, "\r\n") {
			if err != ErrNameHasNewline {
				t.Fatalf("name %q: err = %v, want ErrNameHasNewline", name, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(&buf, 0)
		defer r.Release()
		e, err := r.Next()
		if err != nil {
			t.Fatalf("reading back: %v (wire %q)", err, buf.Bytes())
		}
		if !bytes.Equal(e.Data, data) {
			t.Fatalf("data round trip: got %q, want %q", e.Data, data)
		}
		if string(e.Name) != name {
			t.Fatalf("name round trip: got %q, want %q", e.Name, name)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("after the event: err = %v, want io.EOF", err)
		}
	})
}

// FuzzIndexLineBreak pins the vectorised scan to bytes.IndexAny, which it
// replaced in AppendEvent.
func FuzzIndexLineBreak(f *testing.F) {
	for _, s := range []string{"", "a", "\n", "\r", "a\r\nb", "ab\nc\rd", "abc\rd\ne", strings.Repeat("x", 100) + "\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := indexLineBreak(b), bytes.IndexAny(b, "\r\n"); got != want {
			t.Fatalf("indexLineBreak(%q) = %d, want %d", b, got, want)
		}
	})
}
