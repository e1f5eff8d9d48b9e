package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"sluice/common/metrics"
	"sluice/relay/channel"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

var (
	errClientGone = errors.New("client gone and drain time exhausted")
	errIdle       = errors.New("upstream stream idle")
)

// stream makes one streaming upstream call and relays it event by event:
// each event is written and flushed as it arrives, nothing is buffered.
// The handler waits in its read loop for the whole stream, so what runs
// once before or after the loop lives in functions of its own (see
// attempt).
func (e *Engine) stream(clientCtx context.Context, c *call, w http.ResponseWriter, tr *trace) (*outcome, bool, *relayerr.Error) {
	// STREAMING_TIMEOUT covers the wait for the first byte too.
	cancel := c.cancel // c stays on the caller's stack
	idle := time.AfterFunc(e.StreamingTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	resp, rerr := e.open(c, tr)
	if rerr != nil {
		return nil, false, rerr
	}
	c.body = resp.Body // closed or drained by c.release
	idle.Reset(e.StreamingTimeout)

	startEvents(w)
	clientGone := flushHeaders(w) != nil
	rc := http.NewResponseController(w)
	tr.ttfb = time.Since(c.info.StartTime)
	metrics.StreamStarted()
	defer metrics.StreamEnded()

	dec, rerr := c.decoder()
	if rerr != nil {
		return nil, false, rerr
	}
	if rel, ok := dec.(channel.Releaser); ok {
		// Runs after the usage and text are read below; nothing keeps dec
		// past this function.
		defer rel.Release()
	}
	_, framed := dec.(channel.Framed)
	r := eventReader(c.ad, resp.Body)
	defer r.Release()
	var streamErr *relayerr.Error
	for {
		ev, err := r.Next()
		if err != nil {
			streamErr = e.streamEnd(c, w, dec, err, clientGone)
			break
		}
		// The idle clock measures the upstream, not a slow client: stop it
		// while writing.
		idle.Stop()
		out, done, derr := dec.Decode(ev)
		if derr != nil {
			streamErr = derr.Redact(secretsOf(c.info.Channel)...)
			break
		}
		if out != nil && !clientGone {
			// Events that arrived together go out in one write; an event is
			// never held while the next read would wait on the upstream.
			if clientCtx.Err() != nil || writeOut(w, out, framed) != nil || (!r.HasEvent() && rc.Flush() != nil) {
				clientGone = true
			}
		}
		if done {
			finish(w, dec, clientGone)
			_ = rc.Flush()
			c.streamEnded(resp)
			break
		}
		idle.Reset(e.StreamingTimeout)
	}
	return streamOutcome(c, w, dec, streamErr, clientGone)
}

// open sends a stream's request and checks the upstream's answer.
func (e *Engine) open(c *call, tr *trace) (*http.Response, *relayerr.Error) {
	sent := time.Now()
	resp, err := e.send(c.req)
	tr.upstream += time.Since(sent)
	if err != nil {
		return nil, e.transportError(c.ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, upstreamError(c.ad, resp, body)
	}
	return resp, nil
}

// drainForReuse reads what follows a finished stream's end event and
// closes the body, so the transport keeps the upstream connection for the
// next call. net/http puts a connection back in its pool only once a
// response body was read to its end, and an HTTP/1.1 upstream sends that
// end (the last, empty chunk) just after its final event, usually in a
// packet of its own: a body closed on the event itself dropped the
// connection, and the next stream dialled a new one - a TCP handshake, on
// HTTPS a TLS one too - before its request could go out (151 connections
// for 200 streams, one at a time, to the bench mock; 270 µs of the time to
// first byte at p50). It runs on a goroutine of its own so the client's
// response ends at once, bounded in time and bytes: an upstream that keeps
// sending, or keeps the body open, loses the connection instead. HTTP/1.x
// only (call.streamEnded).
func drainForReuse(body io.ReadCloser, cancel context.CancelCauseFunc, wait time.Duration) {
	t := time.AfterFunc(wait, func() { cancel(errDrainTooLong) })
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	t.Stop()
	body.Close()
	cancel(nil)
}

// drainWait and maxDrain bound drainForReuse. What an upstream sends after
// its end event is a few bytes, at once; anything else is not worth a
// connection.
var drainWait = time.Second

const maxDrain = 4 << 10

var errDrainTooLong = errors.New("upstream body still open after the stream's end")

// startEvents writes an event stream's headers.
func startEvents(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

// flushHeaders sends the response's headers on a goroutine of its own,
// which ends at once. Writing them runs net/http's chunkWriter.writeHeader,
// whose frame alone is 2.8 KB: from the handler's depth that is the one
// call of a stream that needs more than an 8 KB stack, and a stack once
// doubled stays doubled for as long as the stream is held open (the
// collector halves a stack only when a quarter of it is in use). One
// goroutine hop per stream against 8 KB per held stream. A panic there is
// raised again here, where net/http's and gin's recovery see it.
func flushHeaders(w http.ResponseWriter) error {
	type result struct {
		err      error
		p        any
		panicked bool
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.p, r.panicked = p, true
			}
			done <- r
		}()
		r.err = http.NewResponseController(w).Flush()
	}()
	r := <-done
	if r.panicked {
		panic(r.p)
	}
	return r.err
}

// decoder reads the upstream's stream events into the client's dialect.
func (c *call) decoder() (channel.StreamDecoder, *relayerr.Error) {
	dec := c.ad.NewStreamDecoder(c.info)
	if c.info.Dialect == c.client {
		return dec, nil
	}
	conv, err := newConvertingDecoder(c.client, c.info, dec, c.info.RequestID)
	if err != nil {
		return nil, relayerr.Wrap(relayerr.KindInternal, "no stream conversion for this channel", err)
	}
	return conv, nil
}

// streamEnd is the error a stream ended with when its read failed: none
// for the end of a stream whose framing allows ending at EOF.
func (e *Engine) streamEnd(c *call, w http.ResponseWriter, dec channel.StreamDecoder, err error, clientGone bool) *relayerr.Error {
	if !errors.Is(err, io.EOF) {
		return e.transportError(c.ctx, err)
	}
	if end, ok := dec.(channel.EndsAtEOF); ok && end.CompleteAtEOF() {
		finish(w, dec, clientGone)
		return nil
	}
	return relayerr.New(relayerr.KindUpstream, "the upstream stream ended before completion")
}

// streamOutcome tells the client of a failure and reads what the stream
// produced.
func streamOutcome(c *call, w http.ResponseWriter, dec channel.StreamDecoder, streamErr *relayerr.Error, clientGone bool) (*outcome, bool, *relayerr.Error) {
	if streamErr != nil && !clientGone && streamErr.Kind != relayerr.KindClientGone {
		// Never a silently truncated stream: the client learns it failed.
		_, _ = w.Write(streamErrorFrame(c.client, streamErr))
		_ = http.NewResponseController(w).Flush()
	}
	res := &outcome{info: c.info, channel: c.info.Channel, streamErr: streamErr}
	if u := dec.Usage(); u.Known() {
		res.usage = *u
		return res, true, nil
	}
	text := dec.Text()
	if streamErr != nil && text == "" {
		// Nothing was produced: a failed request costs nothing.
		return nil, true, streamErr
	}
	res.usage, res.estimated = countLocally(c.info, upReqBody(c.req), text), true
	if o, ok := dec.(channel.TextOverflow); ok {
		extra := overflowTokens(o.ExtraBytes(), len(text), res.usage.CompletionTokens)
		res.usage.CompletionTokens += extra
		res.usage.TotalTokens += extra
	}
	return res, true, nil
}

// overflowTokens estimates the tokens of the extra bytes a stream produced
// past the kept text, at the rate the kept text (keptBytes long, counted as
// keptTokens) showed: a language's bytes per token vary from about 1.5 to
// over 4, so a fixed rate would undercharge some of them. Rounded up; 4
// bytes per token when nothing was kept to measure.
func overflowTokens(extra, keptBytes, keptTokens int) int {
	if extra <= 0 {
		return 0
	}
	if keptBytes <= 0 || keptTokens <= 0 {
		return (extra + 3) / 4
	}
	return int((int64(extra)*int64(keptTokens) + int64(keptBytes) - 1) / int64(keptBytes))
}

// transportError classifies a send or read failure, using the cause the
// relay itself attached to the upstream context when it cancelled it.
func (e *Engine) transportError(upCtx context.Context, err error) *relayerr.Error {
	switch context.Cause(upCtx) {
	case errIdle:
		return relayerr.Wrap(relayerr.KindUpstreamTimeout,
			"the upstream sent nothing for "+strconv.Itoa(int(e.StreamingTimeout.Seconds()))+" s", err).Retry()
	case errClientGone:
		return relayerr.Wrap(relayerr.KindClientGone, "the client closed the request", err)
	case context.DeadlineExceeded:
		return relayerr.Wrap(relayerr.KindUpstreamTimeout, "the upstream provider timed out", err).Retry()
	}
	return relayerr.FromTransport(err)
}

// upReqBody recovers the body sent upstream (for local prompt counting).
func upReqBody(r *http.Request) []byte {
	if r.GetBody == nil {
		return nil
	}
	rc, err := r.GetBody()
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// eventReader reads the upstream's stream events: SSE unless the adaptor
// brings its own framing.
func eventReader(ad channel.Adaptor, body io.Reader) channel.EventReader {
	if src, ok := ad.(channel.EventSource); ok {
		return src.NewEventReader(body)
	}
	return sse.NewReader(body, 0)
}

// writeOut writes one decoded event: framed output as is, event data
// framed as an SSE data event.
func writeOut(w io.Writer, out []byte, framed bool) error {
	if framed {
		_, err := w.Write(out)
		return err
	}
	return sse.WriteEvent(w, nil, out)
}

// finish writes a converted stream's closing events after a normal end.
func finish(w http.ResponseWriter, dec channel.StreamDecoder, clientGone bool) {
	if f, ok := dec.(channel.Finisher); ok && !clientGone {
		_, _ = w.Write(f.Finish(nil))
		_ = http.NewResponseController(w).Flush()
	}
}
