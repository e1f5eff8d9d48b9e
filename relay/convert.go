package relay

import (
	"errors"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/format"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// codec is one dialect's conversions to and from the neutral format.
type codec struct {
	decodeRequest    func([]byte) (*format.Request, error)
	encodeRequest    func(*format.Request) ([]byte, error)
	decodeResponse   func([]byte) (*format.Response, error)
	encodeResponse   func(*format.Response) ([]byte, error)
	newStreamDecoder func() format.StreamDecoder
	newStreamEncoder func(format.StreamOptions) format.StreamEncoder
}

// neutralRequest decodes the client's body once per request, however many
// channels are tried: the conversion to each channel's dialect starts from
// it.
func (r *Request) neutralRequest() (*format.Request, *relayerr.Error) {
	if r.neutral == nil && r.neutralErr == nil {
		c, ok := codecs[r.Mode.Dialect()]
		if !ok {
			r.neutralErr = relayerr.New(relayerr.KindInvalidRequest, "this endpoint cannot be served by the chosen channel")
			return nil, r.neutralErr
		}
		n, err := c.decodeRequest(r.Body)
		if err != nil {
			r.neutralErr = relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err)
			return nil, r.neutralErr
		}
		if n.Model == "" {
			n.Model = r.Peek.Model // Gemini puts the model in the URL
		}
		r.neutral = n
	}
	return r.neutral, r.neutralErr
}

// convertRequest turns the client's body into the channel's dialect.
func convertRequest(req *Request, info *relaycommon.RelayInfo) ([]byte, *relayerr.Error) {
	if !req.Mode.Convertible() {
		return nil, relayerr.New(relayerr.KindNoChannel, "this channel does not serve "+req.Mode.Path()).Retry()
	}
	n, rerr := req.neutralRequest()
	if rerr != nil {
		return nil, rerr
	}
	up, ok := codecs[info.Dialect]
	if !ok {
		return nil, relayerr.New(relayerr.KindNoChannel, "this channel's format cannot be converted to").Retry()
	}
	out := *n
	out.Model = info.UpstreamModel
	out.Stream = info.IsStream
	body, err := up.encodeRequest(&out)
	if err != nil {
		// The client's request decoded but cannot be said in the channel's
		// dialect (a feature it lacks): another channel may manage.
		return nil, relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err).Retry()
	}
	return body, nil
}

// convertResponse turns a channel's non-stream answer into the client's
// dialect, with the usage it reports.
func convertResponse(client relaycommon.Dialect, info *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, *relayerr.Error) {
	up, down := codecs[info.Dialect], codecs[client]
	resp, err := up.decodeResponse(body)
	if err != nil {
		return nil, relaycommon.Usage{}, relayerr.Wrap(relayerr.KindUpstream, "the upstream provider returned a malformed response", err).Retry()
	}
	resp.Model = info.OriginModel
	out, err := down.encodeResponse(resp)
	if err != nil {
		return nil, relaycommon.Usage{}, relayerr.Wrap(relayerr.KindInternal, "failed to convert the upstream response", err)
	}
	return out, usageOf(&resp.Usage), nil
}

func usageOf(u *format.Usage) relaycommon.Usage {
	return relaycommon.Usage{
		PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, CachedTokens: u.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens, ReasoningTokens: u.ReasoningTokens,
		TotalTokens: u.InputTokens + u.OutputTokens,
	}
}

// convertingDecoder relays a stream across dialects: the channel's own
// decoder still tracks usage, text and the end marker, while the neutral
// decoder and the client's encoder produce what the client sees.
type convertingDecoder struct {
	native channel.StreamDecoder
	dec    format.StreamDecoder
	enc    format.StreamEncoder
	events []format.Event
	out    []byte
	usage  *relaycommon.Usage
}

var (
	_ channel.Framed   = (*convertingDecoder)(nil)
	_ channel.Finisher = (*convertingDecoder)(nil)
	_ channel.Releaser = (*convertingDecoder)(nil)
)

func newConvertingDecoder(client relaycommon.Dialect, info *relaycommon.RelayInfo, native channel.StreamDecoder, requestID string) (*convertingDecoder, error) {
	up, ok1 := codecs[info.Dialect]
	down, ok2 := codecs[client]
	if !ok1 || !ok2 {
		return nil, errors.New("no stream conversion between these formats")
	}
	return &convertingDecoder{
		native: native,
		dec:    up.newStreamDecoder(),
		enc: down.newStreamEncoder(format.StreamOptions{Model: info.OriginModel, ID: requestID,
			IncludeUsage: info.ClientWantsUsage}),
	}, nil
}

// Decode implements channel.StreamDecoder.
func (d *convertingDecoder) Decode(ev sse.Event) ([]byte, bool, *relayerr.Error) {
	_, done, rerr := d.native.Decode(ev)
	if rerr != nil {
		return nil, false, rerr
	}
	var ferr *relayerr.Error
	d.events, _, ferr = d.dec.Decode(ev, d.events[:0])
	if ferr != nil {
		return nil, false, ferr
	}
	d.out = d.out[:0]
	for i := range d.events {
		if e := &d.events[i]; e.Type == format.EventUsage && e.Usage != nil {
			u := usageOf(e.Usage)
			d.usage = &u
		}
		d.out = d.enc.Encode(d.out, d.events[i])
	}
	if len(d.out) == 0 {
		return nil, done, nil
	}
	return d.out, done, nil
}

// Finish implements channel.Finisher: the client's closing events.
func (d *convertingDecoder) Finish(dst []byte) []byte { return d.enc.Finish(dst) }

func (d *convertingDecoder) Framed() {}

// Usage prefers the neutral decoder's figures, which carry cache writes
// and reasoning for every dialect, over the channel decoder's.
func (d *convertingDecoder) Usage() *relaycommon.Usage {
	if d.usage.Known() {
		return d.usage
	}
	return d.native.Usage()
}

func (d *convertingDecoder) Text() string { return d.native.Text() }

// CompleteAtEOF forwards the channel decoder's answer, if it has one.
func (d *convertingDecoder) CompleteAtEOF() bool {
	if e, ok := d.native.(channel.EndsAtEOF); ok {
		return e.CompleteAtEOF()
	}
	return false
}

// Release forwards to the channel decoder, if it holds pooled memory.
func (d *convertingDecoder) Release() {
	if r, ok := d.native.(channel.Releaser); ok {
		r.Release()
	}
}

// ExtraBytes forwards the channel decoder's text overflow, if any.
func (d *convertingDecoder) ExtraBytes() int {
	if o, ok := d.native.(channel.TextOverflow); ok {
		return o.ExtraBytes()
	}
	return 0
}

// streamErrorFrame is the error event that ends a failed stream, in the
// client's dialect.
func streamErrorFrame(client relaycommon.Dialect, rerr *relayerr.Error) []byte {
	switch client {
	case relaycommon.DialectAnthropic:
		return frame("error", rerr.Body(relayerr.FormatAnthropic))
	case relaycommon.DialectGemini:
		return frame("", rerr.Body(relayerr.FormatGemini))
	case relaycommon.DialectResponses:
		return frame("error", rerr.ResponsesEvent())
	default:
		return frame("", rerr.Body(relayerr.FormatOpenAI))
	}
}

func frame(name string, data []byte) []byte {
	return sse.AppendEvent(nil, []byte(name), data)
}
