package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tidwall/gjson"

	"sluice/common"
	"sluice/common/metrics"
	"sluice/constant"
	"sluice/model"
	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/format"
	"sluice/relay/helper"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
	"sluice/service"
	"sluice/setting/operation_setting"
)

// Engine holds what every relayed request shares.
type Engine struct {
	Cache  *model.Cache
	Writer *service.BatchWriter
	Health *service.ChannelHealth
	Tasks  *service.Tasks
	Client *http.Client
	// StreamingTimeout cuts a stream after this long without an upstream byte.
	StreamingTimeout time.Duration
	// RelayTimeout bounds a non-stream upstream call (0: none).
	RelayTimeout time.Duration
	// DrainTimeout bounds how long the upstream is still read after the
	// client left, to learn the usage that must be charged.
	DrainTimeout    time.Duration
	ErrorLogEnabled bool
	// MaxResponseBytes bounds a non-stream upstream body held in memory.
	MaxResponseBytes int64

	// sessions are the open Realtime sessions, which http.Server.Shutdown
	// does not wait for (their connections are hijacked).
	sessions sessionGroup
}

// Request is one client call as the middleware chain prepared it.
type Request struct {
	RequestID string
	Mode      relaycommon.Mode
	Body      []byte
	Peek      peek.Fields
	User      *model.UserEntry
	Token     *model.TokenEntry
	Group     string
	// First is the channel the distributor picked; Pinned, when set, is
	// the only channel allowed (an admin's sk-…-<id> key).
	First  *model.ChannelView
	Pinned bool
	Format relayerr.Format
	Start  time.Time
	// ClientHeaders are provider-feature headers forwarded to a channel of
	// the client's own dialect (anthropic-version, anthropic-beta).
	ClientHeaders map[string]string
	// Form holds what the media routes bill on (nil on other routes).
	Form *peek.Form

	// neutral is the body decoded for conversion, once per request.
	neutral    *format.Request
	neutralErr *relayerr.Error
}

// outcome is what a successful attempt produced.
type outcome struct {
	channel   *model.ChannelView
	info      *relaycommon.RelayInfo
	usage     relaycommon.Usage
	estimated bool // usage counted locally
	streamErr *relayerr.Error
	media     *mediaBill // how a media call is billed (nil: by usage)
}

// trace collects one request's timings for the metrics.
type trace struct {
	channel  int
	upstream time.Duration // waiting for upstream answers, all attempts
	ttfb     time.Duration // arrival to the first byte sent to the client
	answered time.Duration // arrival to the whole answer sent (0: not yet)
}

// Relay serves one request. It returns nil once a response (possibly an
// in-stream error event) was written, or the error the caller must render
// when nothing was written yet.
func (e *Engine) Relay(ctx context.Context, w http.ResponseWriter, req *Request) *relayerr.Error {
	tr := &trace{}
	rerr := e.relay(ctx, w, req, tr)
	status := http.StatusOK
	if rerr != nil {
		status = rerr.Status
	}
	took := tr.answered
	if took == 0 {
		took = time.Since(req.Start)
	}
	metrics.ObserveRelay(req.Peek.Model, tr.channel, status, took, tr.ttfb, tr.upstream)
	return rerr
}

// relay prices and reserves, makes the attempts, then settles or refunds.
// Its steps are functions of their own so that its frame, which a stream's
// handler goroutine holds while the stream is open, stays small (see
// attempt).
func (e *Engine) relay(ctx context.Context, w http.ResponseWriter, req *Request, tr *trace) *relayerr.Error {
	price, res, rerr := e.reserve(ctx, req)
	if rerr != nil {
		return rerr
	}
	out, committed, rerr := e.attempts(ctx, w, req, tr, e.attemptFor(req.Mode))
	if rerr != nil {
		return e.refund(ctx, req, res, rerr, committed)
	}
	// The answer goes out before settlement, which is memory work plus a
	// queue append and runs here, on the handler's goroutine: on the pool
	// each settlement started a goroutine whose stack then grew and was
	// copied (a CPU profile at c=1: 3 % of the process). The server's
	// shutdown waits for a handler, so a charge is never lost to it.
	_ = http.NewResponseController(w).Flush()
	tr.answered = time.Since(req.Start)
	e.settle(req, price, res, out)
	return nil
}

// reserve prices the request and reserves its estimated cost.
func (e *Engine) reserve(ctx context.Context, req *Request) (helper.PriceData, *service.Reservation, *relayerr.Error) {
	if e.Writer.Saturated() {
		// The database has been away long enough to fill the charge
		// queue: serving more would mean dropping charges.
		return helper.PriceData{}, nil, relayerr.New(relayerr.KindUnavailable, "the gateway cannot record usage right now; retry shortly")
	}
	price, err := helper.ModelPriceHelper(req.Peek.Model, req.Group)
	if err != nil {
		return price, nil, relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err).WithCode("model_price_not_configured")
	}
	res, err := service.Reserve(ctx, e.Cache, req.User, req.Token, e.estimate(req, price))
	if err != nil {
		return price, nil, relayerr.Wrap(relayerr.KindQuotaExceeded, err.Error(), err)
	}
	return price, res, nil
}

// refund returns a failed request's reservation and logs the failure; the
// error is for the caller to render unless it went out inside the stream.
func (e *Engine) refund(ctx context.Context, req *Request, res *service.Reservation, rerr *relayerr.Error, committed bool) *relayerr.Error {
	res.Refund(context.WithoutCancel(ctx))
	e.logError(req, rerr)
	if committed {
		return nil // the error already went out inside the stream
	}
	return rerr
}

// estimate is the reservation: prompt tokens bounded from the body size
// (never tokenised) plus the completion allowance.
func (e *Engine) estimate(req *Request, price helper.PriceData) int64 {
	if isMedia(req.Mode) {
		return mediaEstimate(req, price)
	}
	if price.UsePrice {
		return price.PerCallQuota(req.Peek.N)
	}
	prompt := promptEstimate(req.Body)
	completion := req.Peek.MaxTokens
	if req.Mode == relaycommon.ModeEmbeddings {
		completion = 0
	} else if completion == 0 {
		completion = operation_setting.Get().PreConsumeCompletionTokens
	}
	if n := req.Peek.N; n > 1 {
		completion *= n
	}
	return price.Estimate(prompt, completion)
}

// attempts tries channels until one answers, following the retry rules:
// another channel only on a retryable failure, never the same channel
// twice, never after the first byte reached the client. try makes one
// attempt on one channel (a media or realtime variant; nil: attempt).
func (e *Engine) attempts(ctx context.Context, w http.ResponseWriter, req *Request, tr *trace, try attemptFunc) (*outcome, bool, *relayerr.Error) {
	retries := operation_setting.Get().RetryTimes
	if req.Pinned {
		retries = 0
	}
	ch := req.First
	var tried []int
	var last *relayerr.Error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			next, err := e.Cache.SelectChannel(req.Group, req.Peek.Model, tried)
			if err != nil {
				break
			}
			ch = next
		}
		tried = append(tried, ch.ID)
		tr.channel = ch.ID
		var out *outcome
		var committed bool
		var rerr *relayerr.Error
		if try == nil {
			out, committed, rerr = e.attempt(ctx, w, req, ch, tr)
		} else {
			out, committed, rerr = try(ctx, w, req, ch, tr)
		}
		if rerr == nil {
			return out, true, nil
		}
		e.failed(ctx, req, ch, attempt, rerr)
		last = rerr
		if committed {
			return nil, true, rerr
		}
		if !rerr.Retryable || ctx.Err() != nil {
			break
		}
	}
	return nil, false, last
}

// failed records a failed attempt on ch: logged, the channel cooled or
// marked as failing as the error says.
func (e *Engine) failed(ctx context.Context, req *Request, ch *model.ChannelView, attempt int, rerr *relayerr.Error) {
	rerr.Redact(secretsOf(ch)...)
	slog.Warn("relay attempt failed", "request_id", req.RequestID, "channel_id", ch.ID,
		"attempt", attempt+1, "status", rerr.Status, "err", rerr.Error())
	if rerr.RetryAfter > 0 {
		e.Cache.CoolChannel(ch.ID, time.Now().Add(rerr.RetryAfter))
	}
	switch {
	case rerr.DisableChannel:
		e.Tasks.Go(context.WithoutCancel(ctx), func() { e.Health.AutoDisable(ch, rerr.Message) })
	case rerr.Kind == relayerr.KindUpstream || rerr.Kind == relayerr.KindUpstreamTimeout:
		// Not proof of a dead channel on its own; a run of them is.
		e.Tasks.Go(context.WithoutCancel(ctx), func() { e.Health.RecordFailure(ch, time.Now()) })
	}
}

// attempt makes one upstream call on ch. committed reports that bytes
// reached the client, after which no retry is possible.
//
// A stream's handler goroutine sits in this call for the stream's whole
// life, so the frames from here down are kept small: a handler stack that
// stays under 8 KB is not doubled to 16 KB, 8 KB per held stream (finding 6
// in docs/performance.md). The work of building the call and of a
// non-stream answer lives in functions of its own, off that path.
func (e *Engine) attempt(ctx context.Context, w http.ResponseWriter, req *Request, ch *model.ChannelView, tr *trace) (*outcome, bool, *relayerr.Error) {
	var c call
	if rerr := e.prepare(ctx, req, ch, &c); rerr != nil {
		return nil, false, rerr
	}
	defer c.release()
	if c.info.IsStream {
		return e.stream(ctx, &c, w, tr)
	}
	return e.plain(&c, w, req, tr)
}

// call is one attempt's upstream request, with what built it.
type call struct {
	ad     channel.Adaptor
	info   *relaycommon.RelayInfo
	client relaycommon.Dialect // the client's, which info.Dialect may differ from
	req    *http.Request
	// ctx is the upstream call's context: it outlives a departed client by
	// DrainTimeout, so the tokens produced can still be counted and charged.
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func() bool
	// body is the upstream response body, closed on release; drain says
	// what follows its end event is drained for the connection's reuse
	// instead (streamEnded).
	body  io.ReadCloser
	drain bool
}

// streamEnded records that the stream in resp reached its end event. Over
// HTTP/1.x the rest of the body is then drained for the connection's reuse
// (drainForReuse); HTTP/2 keeps the connection of a stream closed early
// (it is reset), so there is nothing to gain, and 10,000 held streams
// ending together would start 10,000 drains.
func (c *call) streamEnded(resp *http.Response) { c.drain = resp.ProtoMajor == 1 }

func (c *call) release() {
	c.stopWatch()
	if c.body != nil && c.drain {
		go drainForReuse(c.body, c.cancel, drainWait) // it cancels when done
		return
	}
	if c.body != nil {
		c.body.Close()
	}
	c.cancel(nil)
}

// prepare builds the upstream request for ch into c. On success the caller
// must release c.
func (e *Engine) prepare(ctx context.Context, req *Request, ch *model.ChannelView, c *call) *relayerr.Error {
	ad := AdaptorFor(ch.Type)
	if ad == nil {
		return relayerr.New(relayerr.KindNoChannel, "this channel type is not supported yet").Retry()
	}
	info := &relaycommon.RelayInfo{
		RequestID: req.RequestID, Mode: req.Mode, OriginModel: req.Peek.Model, UpstreamModel: ch.MapModel(req.Peek.Model),
		IsStream: req.Peek.Stream && req.Mode != relaycommon.ModeEmbeddings, ClientWantsUsage: req.Peek.IncludeUsage,
		Channel: ch, UserID: req.User.Info().ID, TokenID: req.Token.Info().ID, Group: req.Group, StartTime: req.Start,
	}
	info.Dialect = ad.Dialect(info)
	client := req.Mode.Dialect()
	upBody := req.Body
	if info.Dialect != client {
		var rerr *relayerr.Error
		if upBody, rerr = convertRequest(req, info); rerr != nil {
			return rerr
		}
	} else {
		info.ClientHeaders = req.ClientHeaders
	}
	if len(ch.ParamOverride) > 0 {
		var err error
		if upBody, err = applyParamOverride(upBody, ch.ParamOverride); err != nil {
			return relayerr.Wrap(relayerr.KindInternal, "the channel's param_override cannot be applied", err).Retry()
		}
	}
	up := e.upstreamCall(ctx, ch)
	upReq, err := ad.BuildRequest(up.ctx, info, upBody)
	if err != nil {
		up.release()
		var rerr *relayerr.Error
		if errors.As(err, &rerr) {
			// The adaptor classified it (a malformed channel key, a token
			// fetch that failed): another channel may serve.
			return rerr
		}
		return relayerr.Wrap(relayerr.KindInternal, "failed to build the upstream request", err)
	}
	up.ad, up.info, up.client, up.req = ad, info, client, upReq
	*c = up
	return nil
}

// upstreamCall starts an upstream call's lifetime: its context outlives a
// departed client by DrainTimeout, so the work already paid upstream can
// still be read and charged. The caller must release the call.
func (e *Engine) upstreamCall(ctx context.Context, ch *model.ChannelView) call {
	upCtx, cancel := context.WithCancelCause(withChannelProxy(context.WithoutCancel(ctx), ch.Settings.Proxy))
	stopWatch := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.DrainTimeout, func() { cancel(errClientGone) })
		context.AfterFunc(upCtx, func() { t.Stop() })
	})
	return call{ctx: upCtx, cancel: cancel, stopWatch: stopWatch}
}

// plain makes a non-stream call and writes its answer.
func (e *Engine) plain(c *call, w http.ResponseWriter, req *Request, tr *trace) (*outcome, bool, *relayerr.Error) {
	if e.RelayTimeout > 0 {
		cancel := c.cancel // c stays on the caller's stack
		timer := time.AfterFunc(e.RelayTimeout, func() { cancel(context.DeadlineExceeded) })
		defer timer.Stop()
	}
	sent := time.Now()
	resp, err := e.send(c.req)
	if err != nil {
		tr.upstream += time.Since(sent)
		return nil, false, e.transportError(c.ctx, err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp, e.MaxResponseBytes)
	tr.upstream += time.Since(sent)
	if err != nil {
		return nil, false, e.transportError(c.ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, false, upstreamError(c.ad, resp, body)
	}
	if int64(len(body)) > e.MaxResponseBytes {
		return nil, false, relayerr.New(relayerr.KindUpstream, "the upstream response is too large")
	}
	info := c.info
	out, usage, err := c.ad.ParseResponse(info, body)
	if err != nil {
		return nil, false, relayerr.As(err)
	}
	if info.Dialect != c.client {
		var rerr *relayerr.Error
		if out, usage, rerr = convertResponse(c.client, info, out); rerr != nil {
			return nil, false, rerr
		}
	}
	res := &outcome{channel: info.Channel, info: info, usage: usage}
	if !usage.Known() {
		res.usage, res.estimated = countLocally(info, req.Body, gjsonText(out)), true
	}
	writeAnswer(w, "application/json", out, req, tr)
	return res, true, nil
}

// writeAnswer writes a whole non-stream answer. Its length is declared so
// that the flush before settlement (relay) sends it as it is, not chunked.
func writeAnswer(w http.ResponseWriter, contentType string, body []byte, req *Request, tr *trace) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	tr.ttfb = time.Since(req.Start)
	_, _ = w.Write(body) // a client gone now is still charged: the upstream did the work
}

func (e *Engine) settle(req *Request, price helper.PriceData, res *service.Reservation, out *outcome) {
	u := helper.Usage{PromptTokens: out.usage.PromptTokens, CompletionTokens: out.usage.CompletionTokens,
		CachedTokens: out.usage.CachedTokens, CacheWriteTokens: out.usage.CacheWriteTokens}
	cost := costOf(req, price, out, u)
	charged, unpaid := res.Settle(context.Background(), cost)
	metrics.AddTokens(req.Peek.Model, u.PromptTokens, u.CompletionTokens)
	metrics.AddQuota(req.Peek.Model, charged)
	user := req.User.Info()
	token := req.Token.Info()
	l := &model.Log{
		UserID: user.ID, Type: constant.LogTypeConsume, Username: user.Username, TokenName: token.Name, TokenID: token.ID,
		ModelName: req.Peek.Model, Quota: charged, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		UseTime: int(time.Since(req.Start).Seconds()), IsStream: out.info.IsStream, ChannelID: out.channel.ID,
		Group: req.Group, RequestID: req.RequestID, Content: logContent(price),
		Other: logOther(price, out, cost, unpaid),
	}
	e.Writer.RecordCharge(service.Charge{UserID: user.ID, TokenID: token.ID, ChannelID: out.channel.ID,
		Quota: charged, Unlimited: token.Unlimited, Log: l})
}

func (e *Engine) logError(req *Request, rerr *relayerr.Error) {
	if !e.ErrorLogEnabled || rerr.Kind == relayerr.KindClientGone {
		return
	}
	user, token := req.User.Info(), req.Token.Info()
	e.Writer.AddLog(model.Log{UserID: user.ID, Type: constant.LogTypeError, Username: user.Username,
		TokenName: token.Name, TokenID: token.ID, ModelName: req.Peek.Model, Group: req.Group,
		RequestID: req.RequestID, IsStream: req.Peek.Stream, Content: rerr.Message,
		UseTime: int(time.Since(req.Start).Seconds())})
}

// secretsOf lists what of a channel must never reach a client verbatim:
// its key(s), base URL and host.
func secretsOf(ch *model.ChannelView) []string {
	// Keys are one secret, several separated by whitespace, a Bedrock
	// "AK|SK|region" triple, or a service-account JSON whose private key
	// is the secret.
	out := strings.FieldsFunc(ch.Key, func(r rune) bool { return r == '|' || unicode.IsSpace(r) })
	if strings.HasPrefix(strings.TrimSpace(ch.Key), "{") {
		out = out[:0]
		for _, f := range []string{"private_key", "private_key_id", "client_email"} {
			if v := gjson.Get(ch.Key, f).String(); v != "" {
				out = append(out, v)
			}
		}
	}
	if ch.BaseURL != "" {
		out = append(out, strings.TrimRight(ch.BaseURL, "/"))
		if u, err := url.Parse(ch.BaseURL); err == nil && u.Host != "" {
			out = append(out, u.Host, u.Hostname())
		}
	}
	return out
}

// imageTokenAllowance is what the reservation counts per inline image: more
// than a high-detail image costs at OpenAI or Anthropic today.
const imageTokenAllowance = 2000

var base64Marker = []byte(";base64,")

// promptEstimate bounds a prompt's tokens from the body's size without
// tokenising: JSON text averages well over 3 bytes per token, so bytes/3
// stays above the real count. Inline base64 images are counted at a flat
// allowance instead of by their size, or a vision request's reservation
// would be hundreds of times its cost.
func promptEstimate(body []byte) int {
	n, images := len(body), 0
	for rest := body; ; {
		i := bytes.Index(rest, base64Marker)
		if i < 0 {
			break
		}
		rest = rest[i+len(base64Marker):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			break
		}
		n -= j
		images++
		rest = rest[j:]
	}
	return n/3 + 1 + images*imageTokenAllowance
}

// readBody reads a non-stream upstream body; longer than limit means too
// large.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	return common.ReadSized(resp.Body, resp.ContentLength, limit)
}

// maxRetryAfter bounds how long one upstream answer can keep a channel out
// of rotation: a typo'd or hostile header must not park it for a day.
const maxRetryAfter = 10 * time.Minute

// upstreamError normalises a non-2xx answer and notes its Retry-After
// (seconds or an HTTP date) on 429 and 503, where the header means "wait".
func upstreamError(ad channel.Adaptor, resp *http.Response, body []byte) *relayerr.Error {
	rerr := ad.ParseError(resp.StatusCode, body)
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return rerr
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return rerr
	}
	var wait time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		wait = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		wait = time.Until(at)
	}
	if wait > 0 {
		rerr.RetryAfter = min(wait, maxRetryAfter)
	}
	return rerr
}
