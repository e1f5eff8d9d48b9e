package gemini

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/sse"
)

// decodedStep is one Decode call as the golden files record it.
type decodedStep struct {
	Events []format.Event
	Done   bool   `json:",omitempty"`
	Error  string `json:",omitempty"`
}

var eventNames = map[format.EventType]string{
	format.EventStart: "start", format.EventTextDelta: "text", format.EventThinkingDelta: "thinking",
	format.EventSignature: "signature", format.EventRedactedThinking: "redacted_thinking",
	format.EventToolCallStart: "tool_call_start", format.EventToolArgsDelta: "tool_args",
	format.EventFinish: "finish", format.EventUsage: "usage",
}

// eventView is an Event without its zero fields, for readable goldens.
type eventView struct {
	Type       string
	Index      int           `json:",omitempty"`
	ID         string        `json:",omitempty"`
	Model      string        `json:",omitempty"`
	Name       string        `json:",omitempty"`
	Text       string        `json:",omitempty"`
	Signature  string        `json:",omitempty"`
	StopReason int           `json:",omitempty"`
	Usage      *format.Usage `json:",omitempty"`
}

type stepView struct {
	Events []eventView
	Done   bool   `json:",omitempty"`
	Error  string `json:",omitempty"`
}

func viewSteps(steps []decodedStep) []stepView {
	out := make([]stepView, 0, len(steps))
	for _, st := range steps {
		v := stepView{Done: st.Done, Error: st.Error, Events: []eventView{}}
		for _, ev := range st.Events {
			v.Events = append(v.Events, eventView{
				Type: eventNames[ev.Type], Index: ev.Index, ID: ev.ID, Model: ev.Model, Name: ev.Name,
				Text: ev.Text, Signature: ev.Signature, StopReason: int(ev.StopReason), Usage: ev.Usage,
			})
		}
		out = append(out, v)
	}
	return out
}

// decodeStream feeds an SSE body through the shared reader and a fresh
// decoder, recording every step, and stops at the first error.
func decodeStream(t testing.TB, body []byte) []decodedStep {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body), 0)
	defer r.Release()
	dec := NewStreamDecoder()
	var steps []decodedStep
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return steps
		}
		if err != nil {
			t.Fatal(err)
		}
		out, done, derr := dec.Decode(ev, nil)
		st := decodedStep{Events: out, Done: done}
		if derr != nil {
			st.Error = derr.Message
		}
		steps = append(steps, st)
		if derr != nil {
			return steps
		}
	}
}

func TestStreamDecodeGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		wantDone  bool // the last step reports done
		wantError string
	}{
		{"stream_text", true, ""},
		{"stream_tools", true, ""},
		{"stream_late_usage", true, ""},
		{"stream_blocked", true, ""},
		// The message is sanitized: Google's troubleshooting URL goes.
		{"stream_error", false, "An internal error has occurred. Please retry or report in [redacted-url]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			steps := decodeStream(t, formattest.Fixture(t, tt.name+".sse"))
			formattest.Golden(t, tt.name+".events.json", formattest.MustJSON(t, viewSteps(steps)))
			last := steps[len(steps)-1]
			if last.Done != tt.wantDone || last.Error != tt.wantError {
				t.Errorf("last step done=%v error=%q, want %v %q", last.Done, last.Error, tt.wantDone, tt.wantError)
			}
			for _, st := range steps[:len(steps)-1] {
				if st.Done {
					t.Error("done reported before the last chunk")
				}
			}
		})
	}
}

// TestStreamDecodeDoneNeedsUsage pins the end-of-stream rule: Gemini has
// no end marker, so done waits until a finishReason and a usage have been
// seen; the usage chunk after a finish is not lost.
func TestStreamDecodeDoneNeedsUsage(t *testing.T) {
	t.Parallel()
	steps := decodeStream(t, formattest.Fixture(t, "stream_late_usage.sse"))
	if len(steps) != 2 || steps[0].Done || !steps[1].Done {
		t.Fatalf("steps = %+v", steps)
	}
	u := steps[1].Events[0].Usage
	if u == nil || u.InputTokens != 5 || u.OutputTokens != 2 {
		t.Errorf("late usage = %+v", u)
	}
}

func TestStreamDecodeMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, data string }{
		{"not json", `{"candidates": [`},
		{"array", `[{"candidates": []}]`},
		{"parts string", `{"candidates": [{"content": {"parts": "x"}}]}`},
		{"args array", `{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": []}}]}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := NewStreamDecoder().Decode(sse.Event{Data: []byte(tt.data)}, nil)
			if err == nil || err.Message != "the upstream sent a malformed stream event" {
				t.Errorf("err = %v", err)
			}
		})
	}
	// Keep-alive blanks are nothing; a [DONE] from a compatible server ends.
	out, done, err := NewStreamDecoder().Decode(sse.Event{Data: []byte(" ")}, nil)
	if len(out) != 0 || done || err != nil {
		t.Errorf("blank event: %v %v %v", out, done, err)
	}
	if _, done, _ := NewStreamDecoder().Decode(sse.Event{Data: []byte("[DONE]")}, nil); !done {
		t.Error("[DONE] not reported as done")
	}
}

var usage = &format.Usage{InputTokens: 120, OutputTokens: 80, CacheReadTokens: 100, ReasoningTokens: 30}

// Event sequences as the other dialects' decoders produce them.
var encodeCases = []struct {
	name   string
	opts   format.StreamOptions
	events []format.Event
}{
	{"stream_encode_openai", format.StreamOptions{Model: "gemini-2.5-flash", ID: "fallback-id"}, []format.Event{
		{Type: format.EventStart, ID: "chatcmpl-123", Model: "gpt-4o"},
		{Type: format.EventTextDelta, Text: "Checking "},
		{Type: format.EventTextDelta, Text: "both <cities>."},
		{Type: format.EventToolCallStart, Index: 0, ID: "call_a", Name: "get_weather"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `{"ci`},
		{Type: format.EventToolCallStart, Index: 1, ID: "call_b", Name: "get_weather"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `ty":"Paris"}`},
		{Type: format.EventToolArgsDelta, Index: 1, Text: `{"city":"London"}`},
		{Type: format.EventFinish, StopReason: format.StopToolUse},
		{Type: format.EventUsage, Usage: usage},
	}},
	{"stream_encode_anthropic", format.StreamOptions{Model: "gemini-2.5-pro"}, []format.Event{
		{Type: format.EventStart, ID: "msg_01", Model: "claude-sonnet-4-5"},
		{Type: format.EventUsage, Usage: &format.Usage{InputTokens: 120}},
		{Type: format.EventThinkingDelta, Text: "The user wants "},
		{Type: format.EventThinkingDelta, Text: "a haiku."},
		{Type: format.EventSignature, Signature: "EqQBCgIYAhIM"},
		{Type: format.EventRedactedThinking, Text: "EmwKAhgBEgy"},
		{Type: format.EventTextDelta, Text: "Autumn moonlight"},
		{Type: format.EventToolCallStart, Index: 0, ID: "toolu_01", Name: "save"},
		{Type: format.EventToolArgsDelta, Index: 0, Text: ""},
		{Type: format.EventToolArgsDelta, Index: 0, Text: `{"text": "done"}`},
		{Type: format.EventUsage, Usage: usage},
		{Type: format.EventFinish, StopReason: format.StopLength},
	}},
	// No EventStart, no EventFinish, no usage: the encoder still produces
	// a complete stream from its options.
	{"stream_encode_bare", format.StreamOptions{Model: "gemini-2.0-flash", ID: "gen-42"}, []format.Event{
		{Type: format.EventTextDelta, Text: "Hi"},
		{Type: format.EventToolCallStart, Index: 0, ID: "c1", Name: "noop"},
	}},
}

// encodeStream runs this dialect's encoder over IR events and finishes
// the stream.
func encodeStream(opts format.StreamOptions, events []format.Event) []byte {
	return formattest.EncodeStream(NewStreamEncoder(opts), events)
}

func TestStreamEncodeGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := encodeStream(tt.opts, tt.events)
			formattest.Golden(t, tt.name+".sse", out)
			// What we write must be a stream we read: same text, calls and
			// an end.
			steps := decodeStream(t, out)
			if !steps[len(steps)-1].Done {
				t.Error("encoded stream does not end")
			}
			var wantText, gotText strings.Builder
			wantCalls, gotCalls := 0, 0
			for _, ev := range tt.events {
				if ev.Type == format.EventTextDelta {
					wantText.WriteString(ev.Text)
				}
				if ev.Type == format.EventToolCallStart {
					wantCalls++
				}
			}
			for _, st := range steps {
				if st.Error != "" {
					t.Fatal(st.Error)
				}
				for _, ev := range st.Events {
					if ev.Type == format.EventTextDelta {
						gotText.WriteString(ev.Text)
					}
					if ev.Type == format.EventToolCallStart {
						gotCalls++
					}
				}
			}
			if gotText.String() != wantText.String() || gotCalls != wantCalls {
				t.Errorf("round trip: text %q calls %d, want %q %d", gotText.String(), gotCalls, wantText.String(), wantCalls)
			}
		})
	}
}

func TestStreamEncodeFinishOnce(t *testing.T) {
	t.Parallel()
	enc := NewStreamEncoder(format.StreamOptions{Model: "m"})
	first := enc.Finish(nil)
	if again := enc.Finish(nil); len(again) != 0 || len(first) == 0 {
		t.Errorf("Finish twice wrote %q then %q", first, again)
	}
}

// TestStreamEncodeArgsBound checks that a hostile upstream streaming
// endless arguments cannot grow the encoder past maxBufferedArgs.
func TestStreamEncodeArgsBound(t *testing.T) {
	t.Parallel()
	enc := NewStreamEncoder(format.StreamOptions{}).(*streamEncoder)
	enc.Encode(nil, format.Event{Type: format.EventToolCallStart, ID: "c", Name: "f"})
	piece := strings.Repeat("x", 1<<20)
	for range 40 {
		enc.Encode(nil, format.Event{Type: format.EventToolArgsDelta, Text: piece})
	}
	if enc.argBytes > maxBufferedArgs {
		t.Fatalf("buffered %d bytes", enc.argBytes)
	}
	out := string(enc.Finish(nil))
	if !strings.Contains(out, `"args":{}`) {
		t.Errorf("overflowed call = %.200s", out)
	}

	// Endless call starts are written out in groups, not hoarded.
	enc = NewStreamEncoder(format.StreamOptions{}).(*streamEncoder)
	var written []byte
	for i := range 1000 {
		written = enc.Encode(written, format.Event{Type: format.EventToolCallStart, Index: i, ID: "c", Name: "f"})
	}
	if len(enc.pending) > maxBufferedCalls || len(written) == 0 {
		t.Errorf("pending = %d, written = %d bytes", len(enc.pending), len(written))
	}
}
