package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

var streamFixtures = []string{"stream_text", "stream_tool_use", "stream_redacted_server_tool", "stream_error"}

// decodedStream is what a stream decodes to, as dumped in golden files.
type decodedStream struct {
	Events []format.Event
	Done   bool
	// Error is the in-stream error's kind and client message (the whole
	// relayerr.Error would tie the golden file to that type's fields).
	Error string `json:",omitempty"`
	err   *relayerr.Error
}

// decodeStream replays an SSE body through the shared reader and the
// decoder, stopping at the end marker or the first error.
func decodeStream(tb testing.TB, body []byte) decodedStream {
	tb.Helper()
	rd := sse.NewReader(bytes.NewReader(body), 0)
	defer rd.Release()
	dec := NewStreamDecoder()
	var out decodedStream
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("sse: %v", err)
		}
		var rerr *relayerr.Error
		out.Events, out.Done, rerr = dec.Decode(ev, out.Events)
		if rerr != nil {
			out.err = rerr
			out.Error = fmt.Sprintf("kind %d: %s", rerr.Kind, rerr.Message)
			return out
		}
		if out.Done {
			return out
		}
	}
}

// encodeStream runs this dialect's encoder over IR events and finishes
// the stream.
func encodeStream(opts format.StreamOptions, events []format.Event) []byte {
	return formattest.EncodeStream(NewStreamEncoder(opts), events)
}

func TestStreamDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, name := range streamFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := decodeStream(t, formattest.Fixture(t, name+".sse"))
			formattest.Golden(t, "decode_"+name+".json", formattest.MustJSON(t, got))
		})
	}
}

func TestStreamDecodeError(t *testing.T) {
	t.Parallel()
	got := decodeStream(t, formattest.Fixture(t, "stream_error.sse"))
	if got.err == nil || got.err.Kind != relayerr.KindUpstream || got.err.Message != "Overloaded" {
		t.Fatalf("got %+v, want the upstream's overloaded_error", got.err)
	}
}

func TestStreamDecodeMalformed(t *testing.T) {
	t.Parallel()
	dec := NewStreamDecoder()
	_, _, err := dec.Decode(sse.Event{Name: []byte("content_block_delta"), Data: []byte(`{"type":`)}, nil)
	if err == nil || err.Kind != relayerr.KindUpstream {
		t.Fatalf("got %v, want a KindUpstream error", err)
	}
	// An event with only a name (no type in data) is classified by name.
	evs, done, err := dec.Decode(sse.Event{Name: []byte("message_stop"), Data: []byte(`{}`)}, nil)
	if err != nil || !done || len(evs) != 0 {
		t.Fatalf("got %v %v %v", evs, done, err)
	}
}

// Each re-encoded fixture must come out in the API's own shape.
func TestStreamReencodeGolden(t *testing.T) {
	t.Parallel()
	for _, name := range streamFixtures[:3] {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dec := decodeStream(t, formattest.Fixture(t, name+".sse"))
			out := encodeStream(format.StreamOptions{}, dec.Events)
			checkSequence(t, out)
			formattest.Golden(t, "reencode_"+name+".sse", out)
		})
	}
}

func usage(in, out, read, write int) *format.Usage {
	return &format.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: read, CacheWriteTokens: write}
}

// Event orders other dialects' decoders produce.
func TestStreamEncodeGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   format.StreamOptions
		events []format.Event
	}{
		{
			// OpenAI Chat: text, then two tool calls whose arguments
			// stream after each start, usage after finish.
			name: "openai_parallel_tools",
			opts: format.StreamOptions{Model: "gpt-4o", ID: "msg_fallback"},
			events: []format.Event{
				{Type: format.EventStart, ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Model: "gpt-4o-2024-08-06"},
				{Type: format.EventTextDelta, Text: "Let me check."},
				{Type: format.EventToolCallStart, Index: 0, ID: "call_abc", Name: "get_weather"},
				{Type: format.EventToolArgsDelta, Index: 0, Text: `{"city":`},
				{Type: format.EventToolArgsDelta, Index: 0, Text: `"Paris"}`},
				{Type: format.EventToolCallStart, Index: 1, ID: "call_def", Name: "get_time"},
				{Type: format.EventToolCallStart, Index: 1, ID: "call_def", Name: "get_time"},
				{Type: format.EventToolArgsDelta, Index: 1, Text: `{}`},
				{Type: format.EventFinish, StopReason: format.StopToolUse},
				{Type: format.EventUsage, Usage: usage(120, 40, 64, 0)},
			},
		},
		{
			// No EventStart and no EventFinish: the id and model come from
			// the options and the stop reason defaults to end_turn. Usage
			// before any content lands in message_start.
			name: "no_start_no_finish",
			opts: format.StreamOptions{Model: "claude-proxy", ID: "msg_opts"},
			events: []format.Event{
				{Type: format.EventUsage, Usage: usage(30, 0, 0, 0)},
				{Type: format.EventThinkingDelta, Text: "Reasoning "},
				{Type: format.EventThinkingDelta, Text: "in two parts."},
				{Type: format.EventSignature, Signature: "c2lnbmF0dXJl"},
				{Type: format.EventTextDelta, Text: "Answer with \"quotes\"\n and <html> \u2028."},
				{Type: format.EventUsage, Usage: usage(30, 12, 0, 0)},
			},
		},
		{
			// Gemini: a signature riding on a function call, and STOP
			// although a function was called.
			name: "gemini_signature_on_call",
			opts: format.StreamOptions{Model: "gemini-2.5-flash"},
			events: []format.Event{
				{Type: format.EventStart, ID: "resp-1"},
				{Type: format.EventToolCallStart, Index: 0, ID: "", Name: "lookup"},
				{Type: format.EventToolArgsDelta, Index: 0, Text: `{"q":"go"}`},
				{Type: format.EventSignature, Signature: "Z2VtaW5p"},
				{Type: format.EventFinish, StopReason: format.StopEnd},
				{Type: format.EventUsage, Usage: usage(10, 5, 0, 0)},
			},
		},
		{
			name: "redacted_stop_sequence",
			opts: format.StreamOptions{Model: "m", ID: "msg_x"},
			events: []format.Event{
				{Type: format.EventRedactedThinking, Text: "EmwKAhgB"},
				{Type: format.EventTextDelta, Text: "1, 2, 3"},
				{Type: format.EventFinish, StopReason: format.StopSequence, StopSequence: "4"},
			},
		},
		{
			// Arguments for a call whose block was closed by the next
			// call are sent at its own index (the SDKs accumulate by
			// index); arguments for a call never started get a block.
			name: "late_and_orphan_args",
			opts: format.StreamOptions{Model: "m", ID: "msg_y"},
			events: []format.Event{
				{Type: format.EventToolCallStart, Index: 0, ID: "call_0", Name: "a"},
				{Type: format.EventToolCallStart, Index: 1, ID: "call_1", Name: "b"},
				{Type: format.EventToolArgsDelta, Index: 0, Text: `{"late":true}`},
				{Type: format.EventToolArgsDelta, Index: 7, Text: `{}`},
				{Type: format.EventFinish, StopReason: format.StopLength},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := encodeStream(tc.opts, tc.events)
			if err := sequenceError(out, tc.name == "late_and_orphan_args"); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
			formattest.Golden(t, "encode_"+tc.name+".sse", out)
			// Whatever the encoder writes, an Anthropic decoder reads.
			if got := decodeStream(t, out); !got.Done || got.err != nil {
				t.Errorf("re-decode: done=%v err=%v", got.Done, got.Error)
			}
		})
	}
}

func TestStreamEncoderFinishOnce(t *testing.T) {
	t.Parallel()
	enc := NewStreamEncoder(format.StreamOptions{ID: "msg_1", Model: "m"})
	out := enc.Finish(nil)
	if again := enc.Finish(nil); len(again) != 0 {
		t.Errorf("second Finish wrote %q", again)
	}
	if after := enc.Encode(nil, format.Event{Type: format.EventTextDelta, Text: "x"}); len(after) != 0 {
		t.Errorf("Encode after Finish wrote %q", after)
	}
	checkSequence(t, out)
}

// checkSequence verifies the framing rules the official SDKs rely on:
// event names match data types, message_start comes first, blocks open
// and close in index order with deltas only inside an open block, and the
// stream ends with message_delta then message_stop. lateArgs also accepts
// input_json_delta for an already closed block (see toolArgs).
func checkSequence(tb testing.TB, body []byte) {
	tb.Helper()
	if err := sequenceError(body, false); err != nil {
		tb.Errorf("%v\n%s", err, body)
	}
}

func sequenceError(body []byte, lateArgs bool) error {
	rd := sse.NewReader(bytes.NewReader(body), 0)
	defer rd.Release()
	var names []string
	open, next := -1, 0
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !json.Valid(ev.Data) {
			return fmt.Errorf("invalid JSON %q", ev.Data)
		}
		root := gjson.ParseBytes(ev.Data)
		name := string(ev.Name)
		if root.Get("type").Str != name {
			return fmt.Errorf("event %q carries type %q", name, root.Get("type").Str)
		}
		if len(names) == 0 && name != "message_start" {
			return fmt.Errorf("first event is %q", name)
		}
		idx := int(root.Get("index").Int())
		switch name {
		case "content_block_start":
			if open >= 0 || idx != next {
				return fmt.Errorf("block %d starts while %d is open (next %d)", idx, open, next)
			}
			open, next = idx, next+1
		case "content_block_delta":
			late := lateArgs && idx < next && root.Get("delta.type").Str == "input_json_delta"
			if idx != open && !late {
				return fmt.Errorf("delta for %d while %d is open", idx, open)
			}
		case "content_block_stop":
			if idx != open {
				return fmt.Errorf("stop for %d while %d is open", idx, open)
			}
			open = -1
		case "message_delta", "message_stop":
			if open >= 0 {
				return fmt.Errorf("%s with block %d open", name, open)
			}
		}
		names = append(names, name)
	}
	n := len(names)
	if n < 3 || names[n-2] != "message_delta" || names[n-1] != "message_stop" {
		return fmt.Errorf("stream ends with %v", names)
	}
	return nil
}

func TestStreamDecodeEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []string
		want   []format.Event
	}{
		{
			// Some Anthropic-compatible servers send the whole input in
			// content_block_start and no deltas.
			name: "input in block start",
			events: []string{
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}}`,
			},
			want: []format.Event{
				{Type: format.EventToolCallStart, ID: "t1", Name: "f"},
				{Type: format.EventToolArgsDelta, Text: `{"a":1}`},
			},
		},
		{
			// A delta for a block never started carries no tool index.
			name:   "orphan input delta",
			events: []string{`{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{}"}}`},
		},
		{
			// message_delta without stop_reason is usage only.
			name:   "usage only delta",
			events: []string{`{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":3}}`},
			want:   []format.Event{{Type: format.EventUsage, Usage: &format.Usage{OutputTokens: 3}}},
		},
		{
			name:   "unknown and ping",
			events: []string{`{"type":"ping"}`, `{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}`, `{"type":"future_event"}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dec := NewStreamDecoder()
			var got []format.Event
			for _, data := range tc.events {
				var err *relayerr.Error
				if got, _, err = dec.Decode(sse.Event{Data: []byte(data)}, got); err != nil {
					t.Fatal(err)
				}
			}
			if g, w := string(formattest.MustJSON(t, got)), string(formattest.MustJSON(t, tc.want)); g != w {
				t.Errorf("got %s\nwant %s", g, w)
			}
		})
	}
}

func TestStreamDecodeBoundsOpenBlocks(t *testing.T) {
	t.Parallel()
	dec := NewStreamDecoder()
	for i := 0; ; i++ {
		data := fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`, i)
		if _, _, err := dec.Decode(sse.Event{Data: []byte(data)}, nil); err != nil {
			if i != maxOpenToolBlocks {
				t.Fatalf("refused at %d, want %d", i, maxOpenToolBlocks)
			}
			return
		}
	}
}
