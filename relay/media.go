package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"sluice/model"
	"sluice/relay/channel"
	"sluice/relay/channel/openai"
	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

// attemptFunc makes one upstream attempt on one channel; attempts calls it
// once per channel it tries. committed reports that bytes reached the
// client.
type attemptFunc func(ctx context.Context, w http.ResponseWriter, req *Request, ch *model.ChannelView, tr *trace) (*outcome, bool, *relayerr.Error)

// attemptFor is the attempt of a mode: the media routes pass bodies and
// answers through untouched (multipart uploads, binary audio), the chat-like
// ones go through attempt (nil).
func (e *Engine) attemptFor(m relaycommon.Mode) attemptFunc {
	if isMedia(m) {
		return e.mediaAttempt
	}
	return nil // attempt, called directly: a method value would allocate per request
}

// isMedia reports the modes mediaAttempt serves.
func isMedia(m relaycommon.Mode) bool {
	switch m {
	case relaycommon.ModeImageGenerations, relaycommon.ModeImageEdits, relaycommon.ModeAudioSpeech,
		relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations, relaycommon.ModeModerations,
		relaycommon.ModeRerank:
		return true
	}
	return false
}

// IsMultipart reports the modes whose requests are multipart/form-data
// uploads.
func IsMultipart(m relaycommon.Mode) bool {
	switch m {
	case relaycommon.ModeImageEdits, relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations:
		return true
	}
	return false
}

// ServesMedia reports whether channels of type t serve the media routes and
// Realtime: the OpenAI-dialect providers. Anthropic, Gemini, Bedrock and
// Azure (whose deployments use other paths) do not.
func ServesMedia(channelType int) bool {
	_, ok := AdaptorFor(channelType).(openai.Adaptor)
	return ok
}

// Byte rates that turn an upload's size into seconds of audio when nothing
// better is known. The reservation assumes 32 kbit/s (low-bitrate speech),
// so it rarely undershoots; the last-resort charge assumes 128 kbit/s, the
// usual MP3 rate.
const (
	reserveAudioBytesPerSecond = 4000
	chargeAudioBytesPerSecond  = 16000
)

// maxMediaEvent bounds one event of a media stream (a partial image in
// base64 is a few MB).
const maxMediaEvent = 32 << 20

// mediaBill is how a media call is billed beyond its token usage.
type mediaBill struct {
	// images returned, priced per image with size and quality multipliers
	// when the model has a fixed price.
	images        int
	size, quality string
	// audio splits the usage into text and audio tokens.
	audio *helper.AudioUsage
	// seconds of audio the charge was derived from.
	seconds float64
	// source says where the usage came from, for the log.
	source string
}

// annotate adds the bill's detail to a log's other.
func (b *mediaBill) annotate(m map[string]any) {
	if b.source != "" {
		m["usage_source"] = b.source
	}
	if b.images > 0 {
		m["images"], m["image_size"], m["image_quality"] = b.images, b.size, b.quality
		m["image_ratio"] = helper.ImageMultiplier(b.size, b.quality)
	}
	if b.seconds > 0 {
		m["audio_seconds"] = b.seconds
	}
	if a := b.audio; a != nil {
		m["text_input_tokens"], m["audio_input_tokens"] = a.TextIn, a.AudioIn
		m["text_output_tokens"], m["audio_output_tokens"] = a.TextOut, a.AudioOut
		m["cached_audio_tokens"] = a.CachedAudio
	}
}

// costOf is a settled request's cost: a media bill's rule, else the
// per-call price (× n) or the token formula.
func costOf(req *Request, price helper.PriceData, out *outcome, u helper.Usage) int64 {
	b := out.media
	switch {
	case b == nil && price.UsePrice:
		return price.PerCallQuota(req.Peek.N)
	case b == nil:
		return price.Quota(u)
	case b.images > 0 && price.UsePrice:
		return price.ImageQuota(b.images, b.size, b.quality)
	case b.audio != nil:
		return price.AudioQuota(*b.audio)
	case price.UsePrice:
		return price.PerCallQuota(1)
	}
	return price.Quota(u)
}

// form is the request's media fields: set by the distributor, or read from
// a JSON body.
func (req *Request) form() *peek.Form {
	if req.Form == nil {
		f := peek.MediaJSON(req.Body, req.Peek)
		req.Form = &f
	}
	return req.Form
}

// mediaEstimate is a media call's reservation (docs/media.md): the exact
// per-image price, or tokens bounded from what the request carries.
func mediaEstimate(req *Request, price helper.PriceData) int64 {
	f := req.form()
	switch req.Mode {
	case relaycommon.ModeImageGenerations, relaycommon.ModeImageEdits:
		if price.UsePrice {
			return price.ImageQuota(f.N, f.Size, f.Quality)
		}
		prompt := len(f.Text)/3 + 1 + f.Files*imageTokenAllowance
		return price.Estimate(prompt, helper.ImageTokens(f.N, f.Size, f.Quality))
	case relaycommon.ModeAudioSpeech:
		if price.UsePrice {
			return price.PerCallQuota(1)
		}
		// Characters are the prompt; the allowance covers the audio tokens
		// of models that report them (gpt-4o-mini-tts).
		return price.Estimate(utf8.RuneCountInString(f.Text), 0)
	case relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations:
		if price.UsePrice {
			return price.PerCallQuota(1)
		}
		ar, _ := price.AudioRatios()
		secs := float64(f.FileBytes) / reserveAudioBytesPerSecond
		return price.Estimate(int(math.Ceil(float64(helper.DurationTokens(secs))*max(ar, 1))), 0)
	}
	if price.UsePrice {
		return price.PerCallQuota(1)
	}
	return price.Quota(helper.Usage{PromptTokens: promptEstimate(req.Body)})
}

// mediaAttempt makes one media call on ch: the client's body goes upstream
// as is (the model patched when mapped), and the answer comes back with
// the upstream's content type — JSON, text, subtitles, binary audio (copied
// as it arrives) or server-sent events (relayed event by event).
func (e *Engine) mediaAttempt(ctx context.Context, w http.ResponseWriter, req *Request, ch *model.ChannelView, tr *trace) (*outcome, bool, *relayerr.Error) {
	if !ServesMedia(ch.Type) {
		return nil, false, relayerr.New(relayerr.KindNoChannel,
			"no available channel serves "+req.Mode.Path()+" for model "+req.Peek.Model).Retry()
	}
	ad := AdaptorFor(ch.Type)
	f := req.form()
	info := &relaycommon.RelayInfo{
		RequestID: req.RequestID, Mode: req.Mode, OriginModel: req.Peek.Model, UpstreamModel: ch.MapModel(req.Peek.Model),
		IsStream: f.Stream, Dialect: relaycommon.DialectOpenAI, Channel: ch, UserID: req.User.Info().ID,
		TokenID: req.Token.Info().ID, Group: req.Group, StartTime: req.Start,
	}
	c := e.upstreamCall(ctx, ch)
	defer c.release()
	upCtx, cancel := c.ctx, c.cancel
	upReq, err := mediaRequest(upCtx, req, info)
	if err != nil {
		return nil, false, relayerr.Wrap(relayerr.KindInternal, "failed to build the upstream request", err)
	}
	streamed := f.Stream || req.Mode == relaycommon.ModeAudioSpeech
	if e.RelayTimeout > 0 && !streamed {
		timer := time.AfterFunc(e.RelayTimeout, func() { cancel(context.DeadlineExceeded) })
		defer timer.Stop()
	}
	var idle *time.Timer
	if streamed {
		// STREAMING_TIMEOUT covers the wait for the first byte too.
		idle = time.AfterFunc(e.StreamingTimeout, func() { cancel(errIdle) })
		defer idle.Stop()
	}
	sent := time.Now()
	resp, err := e.send(upReq)
	tr.upstream += time.Since(sent)
	if err != nil {
		return nil, false, e.transportError(upCtx, err)
	}
	c.body = resp.Body // closed or drained by c.release
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, false, upstreamError(ad, resp, body)
	}
	ctype := resp.Header.Get("Content-Type")
	if idle == nil {
		idle = time.AfterFunc(time.Hour, func() {})
		defer idle.Stop()
	}
	s := &mediaStream{e: e, clientCtx: ctx, upCtx: upCtx, cancel: cancel, idle: idle, w: w, req: req, info: info, tr: tr}
	switch {
	case strings.HasPrefix(ctype, "text/event-stream"):
		out, committed, rerr := s.events(resp.Body)
		if s.ended {
			c.streamEnded(resp)
		}
		return out, committed, rerr
	case req.Mode == relaycommon.ModeAudioSpeech:
		return s.binary(resp.Body, ctype)
	}
	headersAt := time.Now()
	body, err := readBody(resp, e.MaxResponseBytes)
	tr.upstream += time.Since(headersAt)
	if err != nil {
		return nil, false, e.transportError(upCtx, err)
	}
	if int64(len(body)) > e.MaxResponseBytes {
		return nil, false, relayerr.New(relayerr.KindUpstream, "the upstream response is too large")
	}
	isJSON := ctype == "" || strings.Contains(ctype, "json")
	if isJSON {
		if err := channel.CheckJSON(body); err != nil {
			return nil, false, relayerr.As(err)
		}
	}
	out := &outcome{channel: ch, info: info}
	out.usage, out.media, out.estimated = mediaUsage(req, info, body, isJSON)
	if ctype == "" {
		ctype = "application/json"
	}
	writeAnswer(w, ctype, body, req, tr)
	return out, true, nil
}

// mediaRequest builds the upstream request: the body streams from the bytes
// read once, with a mapped model spliced in (multipart) or patched (JSON).
func mediaRequest(ctx context.Context, req *Request, info *relaycommon.RelayInfo) (*http.Request, error) {
	var (
		body   io.Reader
		length int64
		ctype  = "application/json"
	)
	if IsMultipart(req.Mode) {
		ctype = req.ClientHeaders["Content-Type"]
		body, length = bytes.NewReader(req.Body), int64(len(req.Body))
		if info.UpstreamModel != info.OriginModel {
			boundary, _ := peek.Boundary(ctype)
			from, to, ok := peek.MultipartModelSpan(req.Body, boundary)
			if !ok {
				return nil, errors.New("the upload's model field was not found for mapping")
			}
			body = io.MultiReader(bytes.NewReader(req.Body[:from]), strings.NewReader(info.UpstreamModel),
				bytes.NewReader(req.Body[to:]))
			length = int64(from + len(info.UpstreamModel) + len(req.Body) - to)
		}
	} else {
		b := req.Body
		if info.UpstreamModel != info.OriginModel {
			var err error
			if b, err = peek.SetModel(b, info.UpstreamModel); err != nil {
				return nil, err
			}
		}
		body, length = bytes.NewReader(b), int64(len(b))
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, openai.URL(info, req.Mode.Path()), body)
	if err != nil {
		return nil, err
	}
	r.ContentLength = length
	r.Header.Set("Content-Type", ctype)
	switch {
	case info.IsStream:
		r.Header.Set("Accept", "text/event-stream")
	case req.Mode == relaycommon.ModeAudioSpeech || IsMultipart(req.Mode):
		r.Header.Set("Accept", "*/*")
	default:
		r.Header.Set("Accept", "application/json")
	}
	if info.Channel.Key != "" {
		r.Header.Set("Authorization", "Bearer "+info.Channel.Key)
	}
	// The channel's own headers come last: they may override
	// Authorization for providers with another scheme.
	channel.ApplyChannelHeaders(r, info)
	return r, nil
}

// mediaStream relays one streamed media answer.
type mediaStream struct {
	e         *Engine
	clientCtx context.Context
	upCtx     context.Context
	cancel    context.CancelCauseFunc
	idle      *time.Timer
	w         http.ResponseWriter
	req       *Request
	info      *relaycommon.RelayInfo
	tr        *trace
	// ended is set once the upstream's [DONE] came (see call.streamEnded).
	ended bool
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// binary copies an audio answer to the client as it arrives, flushing each
// read. Speech is billed by its input characters once the upstream has sent
// the audio; an upstream failure mid-way costs nothing (the client sees the
// audio cut short: a binary body has no error frame).
func (s *mediaStream) binary(body io.Reader, ctype string) (*outcome, bool, *relayerr.Error) {
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	s.w.Header().Set("Content-Type", ctype)
	s.w.Header().Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(s.w)
	clientGone := rc.Flush() != nil
	s.tr.ttfb = time.Since(s.req.Start)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var readErr error
	for !clientGone {
		s.idle.Reset(s.e.StreamingTimeout)
		n, err := body.Read(buf)
		s.idle.Stop()
		if n > 0 && (s.clientCtx.Err() != nil || writeAll(s.w, buf[:n]) != nil || rc.Flush() != nil) {
			// The audio was produced and paid upstream: charged.
			clientGone = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if readErr != nil && !clientGone {
		return nil, true, s.e.transportError(s.upCtx, readErr)
	}
	f := s.req.form()
	return &outcome{channel: s.info.Channel, info: s.info,
		usage: relaycommon.Usage{PromptTokens: utf8.RuneCountInString(f.Text), TotalTokens: utf8.RuneCountInString(f.Text)},
		media: &mediaBill{source: "characters"}}, true, nil
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

// events relays a streamed media answer (speech with stream_format "sse",
// streamed transcriptions, streamed images) event by event, reading the
// usage from the event that carries it.
func (s *mediaStream) events(body io.Reader) (*outcome, bool, *relayerr.Error) {
	startEvents(s.w)
	rc := http.NewResponseController(s.w)
	clientGone := rc.Flush() != nil
	s.tr.ttfb = time.Since(s.req.Start)
	r := sse.NewReader(body, maxMediaEvent)
	defer r.Release()
	var (
		usage     string
		images    int
		text      strings.Builder
		streamErr *relayerr.Error
		fromEvent bool
	)
	for {
		s.idle.Reset(s.e.StreamingTimeout)
		ev, err := r.Next()
		s.idle.Stop()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				streamErr = s.e.transportError(s.upCtx, err)
			}
			break
		}
		typ := gjson.GetBytes(ev.Data, "type").String()
		switch {
		case typ == "error":
			streamErr = relayerr.New(relayerr.KindUpstream, "the upstream provider reported an error in the stream")
			fromEvent = true
		case strings.HasSuffix(typ, ".completed") && strings.HasPrefix(typ, "image_"):
			images++
		case typ == "transcript.text.delta":
			text.WriteString(gjson.GetBytes(ev.Data, "delta").String())
		}
		if bytes.Contains(ev.Data, []byte(`"usage"`)) {
			if u := gjson.GetBytes(ev.Data, "usage"); u.IsObject() {
				usage = strings.Clone(u.Raw)
			}
		}
		if !clientGone && (s.clientCtx.Err() != nil || sse.WriteEvent(s.w, ev.Name, ev.Data) != nil ||
			(!r.HasEvent() && rc.Flush() != nil)) {
			clientGone = true
		}
		if streamErr != nil {
			break
		}
		if sse.IsDone(ev.Data) {
			s.ended = true
			break
		}
	}
	if streamErr != nil && !fromEvent && !clientGone && streamErr.Kind != relayerr.KindClientGone {
		// Never a silently truncated stream (an upstream error event
		// already went out as it came).
		_, _ = s.w.Write(streamErrorFrame(relaycommon.DialectOpenAI, streamErr))
		_ = rc.Flush()
	}
	if usage == "" && streamErr != nil {
		return nil, true, streamErr // nothing reported: a failed call costs nothing
	}
	out := &outcome{channel: s.info.Channel, info: s.info, streamErr: streamErr}
	out.usage, out.media, out.estimated = streamedUsage(s.req, s.info, gjson.Parse(usage), images, text.String())
	return out, true, nil
}
