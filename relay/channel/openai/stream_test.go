package openai

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/sse"
)

const (
	contentChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"token "},"finish_reason":null}]}`
	usageChunk   = `{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":2}}}`
	toolChunk    = `{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`
	// nullUsageChunk is a content chunk as OpenAI sends it in a stream
	// asked for usage: with "usage":null.
	nullUsageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"token "},"finish_reason":null}],"usage":null}`
)

func TestStreamDecoder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		wantsUsage   bool
		events       []string
		forwarded    int
		text         string
		usage        *relaycommon.Usage
		done, hasErr bool
	}{
		{"content then hidden usage", false, []string{contentChunk, usageChunk, "[DONE]"}, 2, "token ",
			&relaycommon.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, CachedTokens: 2}, true, false},
		// A client that asked for usage gets the chunk.
		{"usage forwarded when asked", true, []string{contentChunk, usageChunk, "[DONE]"}, 3, "token ",
			&relaycommon.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, CachedTokens: 2}, true, false},
		{"tool call arguments counted", false, []string{toolChunk}, 1, `{"city":`, nil, false, false},
		{"legacy completions text", false, []string{`{"choices":[{"text":"abc","index":0}]}`}, 1, "abc", nil, false, false},
		{"error event", false, []string{`{"error":{"message":"overloaded","type":"server_error"}}`}, 0, "", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{ClientWantsUsage: tt.wantsUsage})
			forwarded, done, hasErr := 0, false, false
			for _, e := range tt.events {
				out, isDone, err := d.Decode(sse.Event{Data: []byte(e)})
				if err != nil {
					hasErr = true
					break
				}
				if out != nil {
					forwarded++
				}
				done = done || isDone
			}
			if forwarded != tt.forwarded || done != tt.done || hasErr != tt.hasErr || d.Text() != tt.text {
				t.Fatalf("forwarded=%d done=%v err=%v text=%q", forwarded, done, hasErr, d.Text())
			}
			if (tt.usage == nil) != (d.Usage() == nil) || (tt.usage != nil && *tt.usage != *d.Usage()) {
				t.Fatalf("usage %+v, want %+v", d.Usage(), tt.usage)
			}
		})
	}
}

func FuzzStreamDecoder(f *testing.F) {
	for _, s := range []string{contentChunk, usageChunk, toolChunk, "[DONE]", `{"error":{}}`, `{"choices":[{}]}`, "not json"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{})
		out, _, _ := d.Decode(sse.Event{Data: data})
		if out != nil && len(out) > len(data) {
			t.Fatalf("decoder grew an event: %d > %d", len(out), len(data))
		}
		if u := d.Usage(); u != nil && (u.PromptTokens < 0 && u.CompletionTokens < 0) {
			t.Fatal("nonsense usage")
		}
		_ = strings.Clone(d.Text())
	})
}

func BenchmarkStreamDecodeContentChunk(b *testing.B) {
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{})
	ev := sse.Event{Data: []byte(contentChunk)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStreamDecoderKeepsBoundedText(t *testing.T) {
	t.Parallel()
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{}).(*streamDecoder)
	chunk := []byte(`{"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("x", 1000) + `"}}]}`)
	for range 1000 { // 1 MB of output
		if _, _, err := d.Decode(sse.Event{Data: chunk}); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.Text()) != channel.MaxKeptText {
		t.Fatalf("kept %d bytes, want the cap %d", len(d.Text()), channel.MaxKeptText)
	}
	if want := 1_000_000 - channel.MaxKeptText; d.ExtraBytes() != want {
		t.Fatalf("extra bytes %d, want %d", d.ExtraBytes(), want)
	}
}

func TestStreamDecoderReadsTextOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{ClientWantsUsage: true}).(*streamDecoder)
	for range 20 {
		if out, _, err := d.Decode(sse.Event{Data: []byte(contentChunk)}); err != nil || string(out) != contentChunk {
			t.Fatalf("content chunk: %q %v", out, err)
		}
	}
	if out, _, err := d.Decode(sse.Event{Data: []byte(usageChunk)}); err != nil || string(out) != usageChunk {
		t.Fatalf("usage chunk: %q %v", out, err)
	}
	if !d.Usage().Known() {
		t.Fatal("usage not read")
	}
	// The usage came: the content chunks were never parsed.
	perChunk := len(binary.AppendUvarint(nil, uint64(len(contentChunk)))) + len(contentChunk)
	if d.text.String() != "" || len(d.unread) != 20*perChunk {
		t.Fatalf("text read before it was asked for: %q, %d bytes unread", d.text.String(), len(d.unread))
	}
	if got := d.Text(); got != strings.Repeat("token ", 20) {
		t.Fatalf("text %q", got)
	}
}

// Chunks whose usage is null are kept unread like chunks without one; a
// "usage" that is not a null key's is read in full.
func TestStreamDecoderKeepsNullUsageChunksUnread(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		data     string
		onlyNull bool
	}{
		{contentChunk, true},
		{nullUsageChunk, true},
		{`{"choices":[],"usage" :  null, "x":{"usage":null}}`, true},
		{"{\"usage\":\n\tnull}", true},
		{usageChunk, false},
		{`{"usage":{}}`, false},
		{`{"choices":[{"index":0,"delta":{"content":"usage"}}]}`, false},
		{`{"usage":nul`, false},
		{`{"usage"`, false},
	} {
		if got := onlyNullUsage([]byte(tt.data)); got != tt.onlyNull {
			t.Errorf("onlyNullUsage(%s) = %v, want %v", tt.data, got, tt.onlyNull)
		}
	}
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{}).(*streamDecoder)
	for range 20 {
		if out, _, err := d.Decode(sse.Event{Data: []byte(nullUsageChunk)}); err != nil || string(out) != nullUsageChunk {
			t.Fatalf("content chunk: %q %v", out, err)
		}
	}
	perChunk := len(binary.AppendUvarint(nil, uint64(len(nullUsageChunk)))) + len(nullUsageChunk)
	if d.text.String() != "" || len(d.unread) != 20*perChunk || d.Usage() != nil {
		t.Fatalf("null-usage chunks read: text %q, %d bytes unread, usage %+v", d.text.String(), len(d.unread), d.Usage())
	}
	// The usage chunk, hidden from a client that did not ask for it.
	if out, _, err := d.Decode(sse.Event{Data: []byte(usageChunk)}); err != nil || out != nil {
		t.Fatalf("usage chunk: %q %v", out, err)
	}
	if u := d.Usage(); u == nil || u.PromptTokens != 7 || u.CompletionTokens != 3 {
		t.Fatalf("usage %+v", u)
	}
	if got := d.Text(); got != strings.Repeat("token ", 20) {
		t.Fatalf("text %q", got)
	}
}

func TestStreamDecoderKeepsTextInOrderPastTheUnreadBound(t *testing.T) {
	t.Parallel()
	d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{}).(*streamDecoder)
	var want strings.Builder
	for i := range 400 { // about 60 KB of small chunks and 160 KB of large ones
		var chunk string
		switch i % 50 {
		case 7:
			// The word as a whole value takes the full parse.
			chunk = `{"choices":[{"index":0,"delta":{"content":"usage"}}]}`
			want.WriteString("usage")
		case 8:
			chunk = toolChunk
			want.WriteString(`{"city":`)
		case 9:
			// Larger than half the bound: read at once, after what waits.
			big := strings.Repeat("b", 20_000)
			chunk = `{"choices":[{"index":0,"delta":{"content":"` + big + `"}}]}`
			want.WriteString(big)
		default:
			chunk = strings.Replace(contentChunk, "token ", "t"+strconv.Itoa(i)+" ", 1)
			want.WriteString("t" + strconv.Itoa(i) + " ")
		}
		if _, _, err := d.Decode(sse.Event{Data: []byte(chunk)}); err != nil {
			t.Fatal(err)
		}
		if len(d.unread) > unreadBound {
			t.Fatalf("%d bytes unread, bound %d", len(d.unread), unreadBound)
		}
	}
	if d.Usage() != nil {
		t.Fatal("usage from nowhere")
	}
	// The cap cuts the text inside the fourth large chunk.
	all := want.String()
	kept := all[:min(len(all), channel.MaxKeptText)]
	if got := d.Text(); got != kept {
		t.Fatalf("text out of order or incomplete:\n got %.200q\nwant %.200q", got, kept)
	}
	if d.ExtraBytes() != len(all)-len(kept) {
		t.Fatalf("extra bytes %d, want %d", d.ExtraBytes(), len(all)-len(kept))
	}
}

// BenchmarkStreamDecodeWithUsage is a whole short stream as providers send
// it when asked for usage: 20 content chunks, the usage chunk, [DONE].
func BenchmarkStreamDecodeWithUsage(b *testing.B) { benchmarkStreamWithUsage(b, contentChunk) }

// BenchmarkStreamDecodeWithNullUsage is the same stream as OpenAI sends
// it: every chunk but the last with "usage":null.
func BenchmarkStreamDecodeWithNullUsage(b *testing.B) { benchmarkStreamWithUsage(b, nullUsageChunk) }

func benchmarkStreamWithUsage(b *testing.B, chunk string) {
	events := make([]sse.Event, 0, 22)
	for range 20 {
		events = append(events, sse.Event{Data: []byte(chunk)})
	}
	events = append(events, sse.Event{Data: []byte(usageChunk)}, sse.Event{Data: []byte("[DONE]")})
	b.ReportAllocs()
	for b.Loop() {
		d := Adaptor{}.NewStreamDecoder(&relaycommon.RelayInfo{ClientWantsUsage: true})
		for _, ev := range events {
			if _, _, err := d.Decode(ev); err != nil {
				b.Fatal(err)
			}
		}
		if !d.Usage().Known() {
			b.Fatal("no usage")
		}
		d.(channel.Releaser).Release()
	}
}
