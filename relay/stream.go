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
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

var (
	errClientGone = errors.New("client gone and drain time exhausted")
	errIdle       = errors.New("upstream stream idle")
)

// stream makes one streaming upstream call and relays it event by event:
// each event is written and flushed as it arrives, nothing is buffered.
func (e *Engine) stream(clientCtx, upCtx context.Context, cancel context.CancelCauseFunc, w http.ResponseWriter,
	ad channel.Adaptor, info *relaycommon.RelayInfo, upReq *http.Request, tr *trace, client relaycommon.Dialect) (*outcome, bool, *relayerr.Error) {
	// STREAMING_TIMEOUT covers the wait for the first byte too.
	idle := time.AfterFunc(e.StreamingTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	sent := time.Now()
	resp, err := e.send(upReq)
	tr.upstream += time.Since(sent)
	if err != nil {
		return nil, false, e.transportError(upCtx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, false, upstreamError(ad, resp, body)
	}
	idle.Reset(e.StreamingTimeout)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	clientGone := rc.Flush() != nil
	tr.ttfb = time.Since(info.StartTime)
	metrics.StreamStarted()
	defer metrics.StreamEnded()

	dec := ad.NewStreamDecoder(info)
	if info.Dialect != client {
		conv, err := newConvertingDecoder(client, info, dec, info.RequestID)
		if err != nil {
			return nil, false, relayerr.Wrap(relayerr.KindInternal, "no stream conversion for this channel", err)
		}
		dec = conv
	}
	if rel, ok := dec.(channel.Releaser); ok {
		// Runs after the usage and text are read below; nothing keeps dec
		// past this function.
		defer rel.Release()
	}
	_, framed := dec.(channel.Framed)
	r := eventReader(ad, resp.Body)
	defer r.Release()
	var streamErr *relayerr.Error
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if end, ok := dec.(channel.EndsAtEOF); ok && end.CompleteAtEOF() {
					finish(w, dec, clientGone)
					break
				}
				streamErr = relayerr.New(relayerr.KindUpstream, "the upstream stream ended before completion")
			} else {
				streamErr = e.transportError(upCtx, err)
			}
			break
		}
		// The idle clock measures the upstream, not a slow client: stop it
		// while writing.
		idle.Stop()
		out, done, derr := dec.Decode(ev)
		if derr != nil {
			streamErr = derr.Redact(secretsOf(info.Channel)...)
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
			break
		}
		idle.Reset(e.StreamingTimeout)
	}
	if streamErr != nil && !clientGone && streamErr.Kind != relayerr.KindClientGone {
		// Never a silently truncated stream: the client learns it failed.
		_, _ = w.Write(streamErrorFrame(client, streamErr))
		_ = rc.Flush()
	}
	res := &outcome{info: info, channel: info.Channel, streamErr: streamErr}
	if u := dec.Usage(); u.Known() {
		res.usage = *u
	} else {
		text := dec.Text()
		if streamErr != nil && text == "" {
			// Nothing was produced: a failed request costs nothing.
			return nil, true, streamErr
		}
		res.usage, res.estimated = countLocally(info, upReqBody(upReq), text), true
		if o, ok := dec.(channel.TextOverflow); ok {
			res.usage.CompletionTokens += o.ExtraTokens()
			res.usage.TotalTokens += o.ExtraTokens()
		}
	}
	return res, true, nil
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
