package bedrock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// chunkFrame encodes one Anthropic event the way Bedrock does: a "chunk"
// event whose JSON payload holds the event base64-encoded in "bytes", with
// Bedrock's random-length "p" padding.
func chunkFrame(t testing.TB, event []byte) []byte {
	t.Helper()
	payload := `{"bytes":"` + base64.StdEncoding.EncodeToString(event) + `","p":"abcdefghijklmnopqrstuvwxyzABCDEFGH"}`
	return encodeFrame(t, eventstream.Headers{
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("event")},
	}, []byte(payload))
}

func exceptionFrame(t testing.TB, typ, msg string) []byte {
	t.Helper()
	return encodeFrame(t, eventstream.Headers{
		{Name: ":exception-type", Value: eventstream.StringValue(typ)},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("exception")},
	}, []byte(`{"message":"`+msg+`"}`))
}

func encodeFrame(t testing.TB, hs eventstream.Headers, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{Headers: hs, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recordedStream is testdata/stream_events.jsonl framed as Bedrock sends it.
func recordedStream(t testing.TB) []byte {
	t.Helper()
	var out []byte
	for _, line := range bytes.Split(bytes.TrimSpace(readTestdata(t, "stream_events.jsonl")), []byte("\n")) {
		out = append(out, chunkFrame(t, line)...)
	}
	return out
}

// relayStream plays the relay's part: reader → Anthropic stream decoder.
type relayed struct {
	out   []byte
	names []string
	done  bool
	err   *relayerr.Error
	rerr  error
	usage *relaycommon.Usage
	text  string
}

func relayStream(body io.Reader) relayed {
	ad := Adaptor{}
	info := testInfo("", "AK|SK", true)
	r := ad.NewEventReader(body)
	defer r.Release()
	dec := ad.NewStreamDecoder(info)
	var res relayed
	for {
		ev, err := r.Next()
		if err != nil {
			res.rerr = err
			break
		}
		res.names = append(res.names, string(ev.Name))
		out, done, derr := dec.Decode(ev)
		if derr != nil {
			res.err = derr
			break
		}
		res.out = append(res.out, out...)
		if done {
			res.done = true
			break
		}
	}
	res.usage, res.text = dec.Usage(), dec.Text()
	return res
}

func TestStreamOverHTTP(t *testing.T) {
	t.Parallel()
	stream := recordedStream(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/invoke-with-response-stream") {
			http.Error(w, `{"message":"wrong path"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		// Frame by frame, split across writes, the way a network delivers.
		f := w.(http.Flusher)
		for len(stream) > 0 {
			n := min(37, len(stream))
			_, _ = w.Write(stream[:n])
			f.Flush()
			stream = stream[n:]
		}
	}))
	defer srv.Close()
	info := testInfo(srv.URL, testAK+"|"+testSK, true)
	req, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(messagesBody))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	res := relayStream(resp.Body)
	if res.err != nil || res.rerr != nil || !res.done {
		t.Fatalf("err %v, read err %v, done %v", res.err, res.rerr, res.done)
	}
	wantNames := []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if strings.Join(res.names, ",") != strings.Join(wantNames, ",") {
		t.Fatalf("events %v", res.names)
	}
	want := relaycommon.Usage{PromptTokens: 15, CompletionTokens: 5, TotalTokens: 20}
	if res.usage == nil || *res.usage != want {
		t.Fatalf("usage %+v, want %+v", res.usage, want)
	}
	if res.text != "Hello there!" {
		t.Fatalf("text %q", res.text)
	}
	// What the client gets is Anthropic's own SSE: named events whose data
	// is the original event JSON.
	sr := sse.NewReader(bytes.NewReader(res.out), 0)
	defer sr.Release()
	lines := bytes.Split(bytes.TrimSpace(readTestdata(t, "stream_events.jsonl")), []byte("\n"))
	for i, line := range lines {
		ev, err := sr.Next()
		if err != nil {
			t.Fatalf("client event %d: %v", i, err)
		}
		if string(ev.Name) != wantNames[i] || !bytes.Equal(ev.Data, line) {
			t.Fatalf("client event %d: %s %s", i, ev.Name, ev.Data)
		}
	}
	if _, err := sr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("extra client output: %v", err)
	}
}

func TestStreamException(t *testing.T) {
	t.Parallel()
	lines := bytes.Split(bytes.TrimSpace(readTestdata(t, "stream_events.jsonl")), []byte("\n"))
	var stream []byte
	for _, line := range lines[:3] {
		stream = append(stream, chunkFrame(t, line)...)
	}
	stream = append(stream, exceptionFrame(t, "modelStreamErrorException", "Model stream error: upstream reset")...)
	stream = append(stream, chunkFrame(t, lines[3])...) // never read
	res := relayStream(bytes.NewReader(stream))
	if res.err == nil {
		t.Fatalf("no in-stream error; read err %v", res.rerr)
	}
	if res.err.Kind != relayerr.KindUpstream || !strings.Contains(res.err.Message, "Model stream error") {
		t.Fatalf("error %+v", res.err)
	}
	if res.usage == nil || res.usage.PromptTokens != 15 || res.text != "Hello" {
		t.Fatalf("usage %+v, text %q", res.usage, res.text)
	}
}

func TestStreamErrorMessage(t *testing.T) {
	t.Parallel()
	// The generic event-stream error message type (":error-code" headers).
	frame := encodeFrame(t, eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("error")},
		{Name: ":error-code", Value: eventstream.StringValue("InternalFailure")},
		{Name: ":error-message", Value: eventstream.StringValue(`internal "failure"`)},
	}, nil)
	r := Adaptor{}.NewEventReader(bytes.NewReader(frame))
	defer r.Release()
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Name) != "error" || gjson.GetBytes(ev.Data, "error.type").String() != "InternalFailure" ||
		gjson.GetBytes(ev.Data, "error.message").String() != `internal "failure"` {
		t.Fatalf("event %s %s", ev.Name, ev.Data)
	}
}

func TestStreamSkipsOtherEvents(t *testing.T) {
	t.Parallel()
	other := encodeFrame(t, eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: ":event-type", Value: eventstream.StringValue("initial-response")},
	}, []byte(`{}`))
	stream := append(other, chunkFrame(t, []byte(`{"type":"ping"}`))...)
	r := Adaptor{}.NewEventReader(bytes.NewReader(stream))
	defer r.Release()
	ev, err := r.Next()
	if err != nil || string(ev.Name) != "ping" {
		t.Fatalf("ev %s, err %v", ev.Name, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	good := chunkFrame(t, []byte(`{"type":"ping"}`))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-10] ^= 0xff // payload byte: message CRC mismatch
	badPrelude := bytes.Clone(good)
	badPrelude[9] ^= 0xff // prelude CRC
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	tiny := bytes.Clone(good)
	binary.BigEndian.PutUint32(tiny, 3)
	headersPastEnd := bytes.Clone(good)
	binary.BigEndian.PutUint32(headersPastEnd[4:], uint32(len(good)))
	notBase64 := encodeFrame(t, eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
	}, []byte(`{"bytes":"!!!not base64!!!"}`))
	notJSON := encodeFrame(t, eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
	}, []byte(`{"bytes":"`+base64.StdEncoding.EncodeToString([]byte("{nope"))+`"}`))
	noBytes := encodeFrame(t, eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
	}, []byte(`{"bytes":42}`))

	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"message crc", corrupt, ErrBadFrame},
		{"prelude crc", badPrelude, ErrBadFrame},
		{"over the frame limit", huge, ErrFrameTooLarge},
		{"shorter than a prelude", tiny, ErrBadFrame},
		{"headers longer than the frame", headersPastEnd, ErrBadFrame},
		{"bytes not base64", notBase64, ErrBadFrame},
		{"bytes not JSON", notJSON, ErrBadFrame},
		{"bytes not a string", noBytes, ErrBadFrame},
		{"cut mid-frame", good[:len(good)-5], io.ErrUnexpectedEOF},
		{"cut mid-prelude", good[:5], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Adaptor{}.NewEventReader(bytes.NewReader(append(bytes.Clone(good), tt.stream...)))
			defer r.Release()
			if ev, err := r.Next(); err != nil || string(ev.Name) != "ping" {
				t.Fatalf("first frame: %s %v", ev.Name, err)
			}
			_, err := r.Next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// Sticky: the stream cannot be resynchronised.
			if _, err2 := r.Next(); !errors.Is(err2, tt.want) {
				t.Fatalf("second err = %v", err2)
			}
		})
	}
}

func TestHasEventAndRelease(t *testing.T) {
	t.Parallel()
	two := append(chunkFrame(t, []byte(`{"type":"ping"}`)), chunkFrame(t, []byte(`{"type":"ping"}`))...)
	// A bufio.Reader over the whole stream delivers both frames in one read.
	r := Adaptor{}.NewEventReader(bufio.NewReader(bytes.NewReader(two)))
	if r.HasEvent() {
		t.Fatal("HasEvent before any read")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.HasEvent() {
		t.Fatal("second frame buffered but HasEvent is false")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.HasEvent() {
		t.Fatal("HasEvent at the end")
	}
	r.Release()
	r.Release()
	if _, err := r.Next(); !errors.Is(err, sse.ErrReleased) {
		t.Fatalf("after Release: %v", err)
	}
	if r.HasEvent() {
		t.Fatal("HasEvent after Release")
	}
}

func BenchmarkEventReader(b *testing.B) {
	stream := recordedStream(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		r := Adaptor{}.NewEventReader(bytes.NewReader(stream))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		r.Release()
	}
}

func FuzzEventReader(f *testing.F) {
	f.Add(recordedStream(f))
	f.Add(append(chunkFrame(f, []byte(`{"type":"ping"}`)), exceptionFrame(f, "throttlingException", "slow down")...))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Adaptor{}.NewEventReader(bytes.NewReader(data)).(*eventReader)
		defer r.Release()
		dec := Adaptor{}.NewStreamDecoder(testInfo("", "AK|SK", true))
		for i := 0; ; i++ {
			_ = r.HasEvent()
			ev, err := r.Next()
			if err != nil {
				break
			}
			if i > len(data) {
				t.Fatal("more events than input bytes")
			}
			if len(ev.Data) > MaxFrame || cap(r.b.payload) > MaxFrame {
				t.Fatalf("buffer past the frame limit: %d", cap(r.b.payload))
			}
			_, _, _ = dec.Decode(ev)
		}
	})
}

var _ channel.EventSource = Adaptor{}
