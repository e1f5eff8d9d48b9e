package sse

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// ev is an Event copied out of the Reader's buffers, with Name as a string
// so "absent" (nil) and table rows compare simply.
type ev struct {
	name string
	data string
}

// readAll drains r, copying each event, and returns the terminating error.
func readAll(t testing.TB, r *Reader) ([]ev, error) {
	t.Helper()
	var out []ev
	for i := 0; ; i++ {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		if i > 1<<20 {
			t.Fatal("reader does not terminate")
		}
		out = append(out, ev{string(e.Name), string(e.Data)})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		maxLine int
		want    []ev
		wantErr error
	}{
		{name: "empty stream", in: "", wantErr: io.EOF},
		{name: "single event", in: "data: hello\n\n", want: []ev{{"", "hello"}}, wantErr: io.EOF},
		{name: "no space after colon", in: "data:hello\n\n", want: []ev{{"", "hello"}}, wantErr: io.EOF},
		{
			// Spec: only one leading space is stripped.
			name: "two spaces keep one", in: "data:  hello\n\n",
			want: []ev{{"", " hello"}}, wantErr: io.EOF,
		},
		{name: "CRLF", in: "event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n", want: []ev{{"a", "x"}, {"", "y"}}, wantErr: io.EOF},
		{name: "mixed CRLF and LF", in: "data: x\r\n\ndata: y\n\r\n", want: []ev{{"", "x"}, {"", "y"}}, wantErr: io.EOF},
		{
			name: "comments ignored", in: ": keep-alive\n\n:another\ndata: x\n: mid-event\n\n",
			want: []ev{{"", "x"}}, wantErr: io.EOF,
		},
		{
			name: "multi-line data joined with LF", in: "data: a\ndata: b\ndata:c\n\n",
			want: []ev{{"", "a\nb\nc"}}, wantErr: io.EOF,
		},
		{
			name: "event names", in: "event: message_start\ndata: {}\n\nevent:ping\ndata: p\n\ndata: plain\n\n",
			want: []ev{{"message_start", "{}"}, {"ping", "p"}, {"", "plain"}}, wantErr: io.EOF,
		},
		{
			// The last event field wins.
			name: "repeated event field", in: "event: a\nevent: b\ndata: x\n\n",
			want: []ev{{"b", "x"}}, wantErr: io.EOF,
		},
		{
			// Spec: an event without data is not dispatched and its type is
			// reset, so the name must not leak into the next event.
			name: "event without data is dropped", in: "event: orphan\n\ndata: x\n\n",
			want: []ev{{"", "x"}}, wantErr: io.EOF,
		},
		{
			name: "empty data lines", in: "data:\n\ndata\n\ndata:\ndata:\n\n",
			want: []ev{{"", ""}, {"", ""}, {"", "\n"}}, wantErr: io.EOF,
		},
		{
			name: "id and retry ignored", in: "id: 7\nretry: 1000\ndata: x\nid\n\n",
			want: []ev{{"", "x"}}, wantErr: io.EOF,
		},
		{name: "unknown field ignored", in: "foo: bar\ndata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
		{
			name: "field name is case sensitive", in: "Data: no\nDATA: no\ndata: yes\n\n",
			want: []ev{{"", "yes"}}, wantErr: io.EOF,
		},
		{name: "colon in value kept", in: "data: a: b\n\n", want: []ev{{"", "a: b"}}, wantErr: io.EOF},
		{name: "leading BOM stripped", in: "\xEF\xBB\xBFdata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
		{
			// Many upstreams close right after the last data line.
			name: "missing trailing blank line", in: "data: a\n\ndata: last\n",
			want: []ev{{"", "a"}, {"", "last"}}, wantErr: io.EOF,
		},
		{
			name: "missing final newline", in: "data: a\n\nevent: e\ndata: last",
			want: []ev{{"", "a"}, {"e", "last"}}, wantErr: io.EOF,
		},
		{name: "trailing comment only", in: "data: a\n\n: bye", want: []ev{{"", "a"}}, wantErr: io.EOF},
		{name: "blank lines only", in: "\n\n\r\n\n", wantErr: io.EOF},
		{name: "line too long", in: "data: " + strings.Repeat("x", 100) + "\n\n", maxLine: 50, wantErr: ErrLineTooLong},
		{
			name: "line at the limit", in: "data: " + strings.Repeat("x", 44) + "\r\n\r\n", maxLine: 50,
			want: []ev{{"", strings.Repeat("x", 44)}}, wantErr: io.EOF,
		},
		{
			name: "event data over the limit", in: strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 3) + "\n", maxLine: 50,
			wantErr: ErrLineTooLong,
		},
		{
			name: "too long after good events", in: "data: ok\n\n" + "data: " + strings.Repeat("y", 60) + "\n\n", maxLine: 50,
			want: []ev{{"", "ok"}}, wantErr: ErrLineTooLong,
		},
		{
			name: "openai chunks and DONE",
			in: `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

`,
			want: []ev{
				{"", `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`},
				{"", `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`},
				{"", `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`},
				{"", "[DONE]"},
			},
			wantErr: io.EOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Byte-at-a-time reads exercise the same paths as a slow
			// upstream; the whole-input read exercises the fast path.
			for _, mode := range []string{"whole", "onebyte"} {
				var src io.Reader = strings.NewReader(tt.in)
				if mode == "onebyte" {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src, tt.maxLine)
				got, err := readAll(t, r)
				r.Release()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s: err = %v, want %v", mode, err, tt.wantErr)
				}
				if !equalEvents(got, tt.want) {
					t.Fatalf("%s: events = %q, want %q", mode, got, tt.want)
				}
			}
		})
	}
}

func equalEvents(a, b []ev) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderNameNilWhenAbsent(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("data: x\n\nevent:\ndata: y\n\ndata:\n\n"), 0)
	defer r.Release()
	for i := 0; i < 3; i++ {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Name != nil {
			t.Errorf("event %d: Name = %q, want nil", i, e.Name)
		}
		if e.Data == nil {
			t.Errorf("event %d: Data is nil, want non-nil", i)
		}
	}
}

func TestReaderLongLineAcrossBuffer(t *testing.T) {
	t.Parallel()
	// Longer than the 32 KiB bufio buffer, so the accumulate path is used.
	big := strings.Repeat("z", 3*bufSize+17)
	r := NewReader(strings.NewReader("data: "+big+"\r\n\r\ndata: next\n\n"), 0)
	defer r.Release()
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	if want := []ev{{"", big}, {"", "next"}}; !equalEvents(got, want) {
		t.Fatalf("got %d events, first len %d", len(got), len(got[0].data))
	}
}

func TestReaderLongLineBounded(t *testing.T) {
	t.Parallel()
	// An endless line must fail once past the limit, not buffer forever.
	endless := io.MultiReader(strings.NewReader("data: "), infiniteX{})
	r := NewReader(endless, 100<<10)
	defer r.Release()
	if _, err := r.Next(); err != ErrLineTooLong {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	if _, err := r.Next(); err != ErrLineTooLong {
		t.Fatalf("second Next err = %v, want sticky ErrLineTooLong", err)
	}
}

// infiniteX is an endless stream of 'x' without a newline.
type infiniteX struct{}

func (infiniteX) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestReaderReadErrorDropsPartialEvent(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: ok\n\ndata: {\"partial"), iotest.ErrReader(boom))
	r := NewReader(src, 0)
	defer r.Release()
	got, err := readAll(t, r)
	if err != boom {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if want := []ev{{"", "ok"}}; !equalEvents(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestReaderUseAfterRelease(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("data: x\n\n"), 0)
	r.Release()
	r.Release() // idempotent
	if _, err := r.Next(); err != ErrReleased {
		t.Fatalf("err = %v, want ErrReleased", err)
	}
}

func TestIsDone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"[DONE]", true},
		{" [DONE] ", true},
		{"[DONE]\n", true},
		{"[done]", false},
		{"DONE", false},
		{`{"done":true}`, false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsDone([]byte(tt.in)); got != tt.want {
			t.Errorf("IsDone(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWriteEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, evName, data, want string
	}{
		{"plain", "", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"named", "message_start", "{}", "event: message_start\ndata: {}\n\n"},
		{"multi-line", "", "a\nb", "data: a\ndata: b\n\n"},
		{"CRLF and CR split lines", "", "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n"},
		{"empty data", "", "", "data: \n\n"},
		{"trailing newline", "", "a\n", "data: a\ndata: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteEvent(&buf, []byte(tt.evName), []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestWriteEventRejectsNameInjection(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	for _, name := range []string{"a\nb", "a\r", "x\r\ndata: injected"} {
		if err := WriteEvent(&buf, []byte(name), []byte("d")); err != ErrNameHasNewline {
			t.Errorf("name %q: err = %v, want ErrNameHasNewline", name, err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q on error", buf.String())
	}
}

func TestWriteEventRoundTrip(t *testing.T) {
	t.Parallel()
	in := []ev{
		{"", `{"choices":[{"delta":{"content":"hi"}}]}`},
		{"content_block_delta", "line one\nline two\n\nafter blank"},
		{"", ""},
		{"", " leading space"},
		{"ping", ":looks like a comment"},
		{"", "data: nested"},
		{"", "[DONE]"},
	}
	var buf bytes.Buffer
	for _, e := range in {
		if err := WriteEvent(&buf, []byte(e.name), []byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf, 0)
	defer r.Release()
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	if !equalEvents(got, in) {
		t.Fatalf("round trip:\n got %q\nwant %q", got, in)
	}
}

func TestWriteEventAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	name, data := []byte("content_block_delta"), []byte(`{"type":"content_block_delta","index":0}`)
	allocs := testing.AllocsPerRun(100, func() {
		_ = WriteEvent(io.Discard, name, data)
	})
	if allocs > 0 {
		t.Errorf("WriteEvent allocates %.1f times per call, want 0", allocs)
	}
}

func TestReaderAllocsPerEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	stream := mustRead(t, "testdata/openai_chat_stream.sse")
	src := bytes.NewReader(stream)
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(stream)
		r := NewReader(src, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		r.Release()
	})
	// One allocation for the Reader itself; none per event.
	if allocs > 1 {
		t.Errorf("reading a 200-chunk stream allocates %.1f times, want <= 1", allocs)
	}
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		wantEvents int
		wantFirst  string
		wantLast   string
	}{
		// 1 role chunk + 200 content + 1 finish + 1 usage + [DONE].
		{"testdata/openai_chat_stream.sse", 204, "", "[DONE]"},
		{"testdata/anthropic_messages_stream.sse", 53, "message_start", `{"type":"message_stop"}`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r := NewReader(bytes.NewReader(mustRead(t, tt.file)), 0)
			defer r.Release()
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatal(err)
			}
			if len(got) != tt.wantEvents {
				t.Fatalf("got %d events, want %d", len(got), tt.wantEvents)
			}
			if got[0].name != tt.wantFirst {
				t.Errorf("first event name = %q, want %q", got[0].name, tt.wantFirst)
			}
			if got[len(got)-1].data != tt.wantLast {
				t.Errorf("last data = %q, want %q", got[len(got)-1].data, tt.wantLast)
			}
		})
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkReader(b *testing.B) {
	stream := mustRead(b, "testdata/openai_chat_stream.sse")
	src := bytes.NewReader(stream)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		src.Reset(stream)
		r := NewReader(src, 0)
		for {
			e, err := r.Next()
			if err != nil {
				break
			}
			if IsDone(e.Data) {
				continue
			}
		}
		r.Release()
	}
}

func BenchmarkWriteEvent(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = WriteEvent(io.Discard, nil, data)
	}
}

func TestHasEventSeesOnlyCompleteEvents(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("data: a\n\ndata: b\n\ndata: c"), 0)
	defer r.Release()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.HasEvent() {
		t.Fatal("a complete second event is buffered but HasEvent is false")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.HasEvent() {
		t.Fatal("only a partial event is buffered but HasEvent is true")
	}
}
