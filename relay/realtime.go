package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tidwall/gjson"

	"sluice/common/metrics"
	"sluice/model"
	"sluice/relay/channel/openai"
	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/relayerr"
	"sluice/service"
)

// Realtime session limits. They are variables so tests can shorten them.
var (
	// realtimePingInterval is how often both peers are pinged; a client
	// that answers no ping (nor sends anything) for twice as long is gone.
	realtimePingInterval = 30 * time.Second
	// realtimeIdleTimeout ends a session in which neither side sent an
	// event for this long.
	realtimeIdleTimeout = 10 * time.Minute
)

const (
	// realtimeClientReadLimit bounds one client event: OpenAI accepts
	// input_audio_buffer.append events up to 15 MiB.
	realtimeClientReadLimit = 16 << 20
	// realtimeUpstreamReadLimit bounds one upstream event.
	realtimeUpstreamReadLimit = 64 << 20
	realtimeDialTimeout       = 15 * time.Second
	realtimeWriteWait         = 10 * time.Second
	// realtimeCloseWait is how long the client may take to answer the
	// gateway's close frame before the connection is dropped.
	realtimeCloseWait = 2 * time.Second
)

// RealtimeSubprotocolKeyPrefix is the subprotocol browsers carry the API
// key in (they cannot set an Authorization header on a WebSocket).
const RealtimeSubprotocolKeyPrefix = "openai-insecure-api-key."

// Realtime serves one OpenAI Realtime session (GET /v1/realtime?model=…):
// the upstream WebSocket is dialled first (retrying other channels, like any
// request), then the client's connection is upgraded and every event is
// relayed in order in both directions. Each response.done is billed from
// its usage as it arrives, against a reservation held for the next
// response, so a session that drops never leaves a finished response
// unbilled, and one whose balance cannot cover another response is closed
// with an insufficient_quota error event. It returns an error only when
// nothing was upgraded yet; the caller renders it as an HTTP answer.
func (e *Engine) Realtime(ctx context.Context, w http.ResponseWriter, r *http.Request, req *Request) *relayerr.Error {
	tr := &trace{}
	rerr := e.realtime(ctx, w, r, req, tr)
	status := http.StatusSwitchingProtocols
	if rerr != nil {
		status = rerr.Status
	}
	metrics.ObserveRelay(req.Peek.Model, tr.channel, status, time.Since(req.Start), tr.ttfb, tr.upstream)
	return rerr
}

func (e *Engine) realtime(ctx context.Context, w http.ResponseWriter, r *http.Request, req *Request, tr *trace) *relayerr.Error {
	if e.Writer.Saturated() {
		return relayerr.New(relayerr.KindUnavailable, "the gateway cannot record usage right now; retry shortly")
	}
	price, err := helper.ModelPriceHelper(req.Peek.Model, req.Group)
	if err != nil {
		return relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err).WithCode("model_price_not_configured")
	}
	est := realtimeEstimate(price)
	res, err := service.Reserve(ctx, e.Cache, req.User, req.Token, est)
	if err != nil {
		return relayerr.Wrap(relayerr.KindQuotaExceeded, err.Error(), err)
	}
	try := func(ctx context.Context, w http.ResponseWriter, req *Request, ch *model.ChannelView, tr *trace) (*outcome, bool, *relayerr.Error) {
		return e.realtimeAttempt(ctx, w, r, req, ch, tr, price, est, res)
	}
	_, committed, rerr := e.attempts(ctx, w, req, tr, try)
	if rerr != nil {
		e.logError(req, rerr)
		if committed {
			return nil // the session ran (or the upgrade answered) and settled itself
		}
		res.Refund(context.WithoutCancel(ctx))
		return rerr
	}
	return nil
}

// realtimeEstimate is what is reserved for each response of a session: a
// completion allowance (PreConsumeCompletionTokens) of audio in and audio
// out, priced like the real thing.
func realtimeEstimate(p helper.PriceData) int64 {
	n := p.CompletionAllowance
	return p.AudioQuota(helper.AudioUsage{AudioIn: n, AudioOut: n})
}

// realtimeURL is the channel's Realtime endpoint for info's model.
func realtimeURL(info *relaycommon.RelayInfo) (string, error) {
	u, err := url.Parse(openai.URL(info, "/realtime"))
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	case "http", "ws":
		u.Scheme = "ws"
	default:
		return "", errors.New("unsupported base URL scheme " + u.Scheme)
	}
	q := u.Query()
	q.Set("model", info.UpstreamModel)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// wsDialer dials upstream WebSockets through the shared transport's dialer
// and proxy rules, so the SSRF guard and channel proxies apply as on HTTP.
func (e *Engine) wsDialer() *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: realtimeDialTimeout, ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10}
	if t, ok := e.Client.Transport.(*http.Transport); ok {
		d.NetDialContext = t.DialContext
		d.Proxy = t.Proxy
		d.TLSClientConfig = t.TLSClientConfig
	}
	return d
}

// realtimeAttempt dials ch's Realtime endpoint; once it answers, the
// client is upgraded (committed) and the session runs to its end.
func (e *Engine) realtimeAttempt(ctx context.Context, w http.ResponseWriter, r *http.Request, req *Request,
	ch *model.ChannelView, tr *trace, price helper.PriceData, est int64, res *service.Reservation) (*outcome, bool, *relayerr.Error) {
	if !ServesMedia(ch.Type) {
		return nil, false, relayerr.New(relayerr.KindNoChannel, "no available channel serves /realtime for model "+req.Peek.Model).Retry()
	}
	ad := AdaptorFor(ch.Type)
	info := &relaycommon.RelayInfo{
		RequestID: req.RequestID, Mode: relaycommon.ModeRealtime, OriginModel: req.Peek.Model,
		UpstreamModel: ch.MapModel(req.Peek.Model), IsStream: true, Dialect: relaycommon.DialectOpenAI, Channel: ch,
		UserID: req.User.Info().ID, TokenID: req.Token.Info().ID, Group: req.Group, StartTime: req.Start,
	}
	target, err := realtimeURL(info)
	if err != nil {
		return nil, false, relayerr.Wrap(relayerr.KindInternal, "the channel's base URL cannot be used for Realtime", err).Retry()
	}
	hdr := http.Header{}
	if ch.Key != "" {
		hdr.Set("Authorization", "Bearer "+ch.Key)
	}
	if beta := req.ClientHeaders["OpenAI-Beta"]; beta != "" {
		hdr.Set("OpenAI-Beta", beta)
	}
	for k, v := range ch.Headers {
		hdr.Set(k, v)
	}
	dctx, cancel := context.WithTimeout(withChannelProxy(ctx, ch.Settings.Proxy), realtimeDialTimeout)
	sent := time.Now()
	up, resp, err := e.wsDialer().DialContext(dctx, target, hdr)
	tr.upstream += time.Since(sent)
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			return nil, false, upstreamError(ad, resp, body)
		}
		if errors.Is(err, websocket.ErrBadHandshake) {
			return nil, false, relayerr.Wrap(relayerr.KindUpstream, "the upstream provider refused the Realtime session", err).Retry()
		}
		return nil, false, relayerr.FromTransport(err)
	}
	upgrader := websocket.Upgrader{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10,
		// The key, not the origin, authorises a call: browsers connect
		// from any page with the key in a subprotocol.
		CheckOrigin: func(*http.Request) bool { return true }}
	var respHdr http.Header
	if p := chooseSubprotocol(websocket.Subprotocols(r)); p != "" {
		respHdr = http.Header{"Sec-Websocket-Protocol": {p}}
	}
	client, err := upgrader.Upgrade(w, r, respHdr)
	if err != nil {
		// Upgrade already answered the client with an HTTP error.
		up.Close()
		return nil, true, relayerr.Wrap(relayerr.KindInvalidRequest, "the WebSocket upgrade failed", err)
	}
	tr.ttfb = time.Since(req.Start)
	metrics.StreamStarted()
	defer metrics.StreamEnded()
	s := &realtimeSession{e: e, req: req, info: info, price: price, est: est, res: res, client: client, up: up,
		done: make(chan struct{})}
	drain := e.sessions.join()
	defer e.sessions.leave()
	go func() {
		select {
		case <-drain:
			s.shutdown()
		case <-s.done:
		}
	}()
	s.run()
	return &outcome{channel: ch, info: info}, true, nil
}

// chooseSubprotocol picks the subprotocol to confirm to a client that
// offered some (a browser fails the handshake otherwise): "realtime" when
// offered, else the first that carries no key.
func chooseSubprotocol(offered []string) string {
	pick := ""
	for _, p := range offered {
		if p == "realtime" {
			return p
		}
		if pick == "" && !strings.HasPrefix(p, RealtimeSubprotocolKeyPrefix) {
			pick = p
		}
	}
	return pick
}

// realtimeSession is one proxied session. The client pump owns reads from
// the client and writes to the upstream; the upstream pump owns reads from
// the upstream, the billing (and so res) and, with clientMu, writes to the
// client.
type realtimeSession struct {
	e      *Engine
	req    *Request
	info   *relaycommon.RelayInfo
	price  helper.PriceData
	est    int64
	client *websocket.Conn
	up     *websocket.Conn

	res       *service.Reservation // held for the next response; upstream pump only
	respStart time.Time            // upstream pump only

	clientMu   sync.Mutex // serialises data writes to the client
	upMu       sync.Mutex // serialises data writes to the upstream
	lastActive atomic.Int64
	inFlight   atomic.Int32 // responses created and not yet done
	clientGone atomic.Bool
	ending     atomic.Bool // the gateway is closing the session
	done       chan struct{}
}

func (s *realtimeSession) touch() { s.lastActive.Store(time.Now().UnixNano()) }

func (s *realtimeSession) run() {
	pongWait := 2 * realtimePingInterval
	s.client.SetReadLimit(realtimeClientReadLimit)
	s.up.SetReadLimit(realtimeUpstreamReadLimit)
	_ = s.client.SetReadDeadline(time.Now().Add(pongWait))
	s.client.SetPongHandler(func(string) error { return s.client.SetReadDeadline(time.Now().Add(pongWait)) })
	s.touch()
	s.respStart = time.Now()

	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		s.upstreamPump()
	}()
	go s.keepAlive()
	s.clientPump()
	s.clientGone.Store(true)
	if !s.ending.Load() && s.inFlight.Load() > 0 {
		// The client left mid-response: stop the response and wait (a
		// bounded time) for its response.done, whose usage is billed.
		s.writeUp(websocket.TextMessage, []byte(`{"type":"response.cancel"}`))
		select {
		case <-upDone:
		case <-time.After(s.e.DrainTimeout):
		}
	}
	_ = s.up.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	_ = s.up.Close()
	<-upDone
	close(s.done)
	_ = s.client.Close()
	if s.res != nil {
		s.res.Refund(context.Background())
	}
}

// clientPump relays client events upstream until the client leaves or the
// gateway ends the session.
func (s *realtimeSession) clientPump() {
	for {
		mt, data, err := s.client.ReadMessage()
		if err != nil {
			return
		}
		_ = s.client.SetReadDeadline(time.Now().Add(2 * realtimePingInterval))
		s.touch()
		if s.ending.Load() {
			continue // waiting for the client's close answer
		}
		if s.writeUp(mt, data) != nil {
			return
		}
	}
}

func (s *realtimeSession) writeUp(mt int, data []byte) error {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	_ = s.up.SetWriteDeadline(time.Now().Add(realtimeWriteWait))
	return s.up.WriteMessage(mt, data)
}

// upstreamPump relays upstream events to the client and bills each
// response.done as it passes.
func (s *realtimeSession) upstreamPump() {
	for {
		mt, data, err := s.up.ReadMessage()
		if err != nil {
			s.upstreamGone(err)
			return
		}
		s.touch()
		typ := ""
		if mt == websocket.TextMessage {
			typ = gjson.GetBytes(data, "type").String()
		}
		switch typ {
		case "response.created":
			if s.inFlight.Add(1) == 1 {
				s.respStart = time.Now()
			}
		case "response.done":
			if s.inFlight.Add(-1) < 0 {
				s.inFlight.Store(0)
			}
		}
		if !s.clientGone.Load() {
			s.clientMu.Lock()
			_ = s.client.SetWriteDeadline(time.Now().Add(realtimeWriteWait))
			if s.client.WriteMessage(mt, data) != nil {
				s.clientGone.Store(true)
			}
			s.clientMu.Unlock()
		}
		if typ == "response.done" {
			if !s.bill(data) {
				s.end(realtimeErrorEvent("insufficient_quota", "insufficient_quota",
					"the API key's or user's quota is exhausted; the session is closed"),
					websocket.ClosePolicyViolation, "insufficient_quota")
				return
			}
			s.respStart = time.Now()
		}
		if s.clientGone.Load() && s.inFlight.Load() == 0 {
			return
		}
	}
}

// bill charges one response.done from its usage and reserves for the next
// response. It reports false when the balance can no longer cover one.
func (s *realtimeSession) bill(data []byte) bool {
	u := gjson.GetBytes(data, "response.usage")
	a := realtimeUsage(u)
	in, out := int(u.Get("input_tokens").Int()), int(u.Get("output_tokens").Int())
	if in == 0 && out == 0 && a == (helper.AudioUsage{}) {
		return true // nothing consumed (a response cancelled before it started)
	}
	req := *s.req
	req.Start = s.respStart
	o := &outcome{channel: s.info.Channel, info: s.info,
		usage: relaycommon.Usage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out,
			CachedTokens: a.CachedText + a.CachedAudio},
		media: &mediaBill{audio: &a, source: "upstream"}}
	s.e.settle(&req, s.price, s.res, o)
	s.res = nil
	next, err := service.Reserve(context.Background(), s.e.Cache, s.req.User, s.req.Token, s.est)
	if err != nil {
		return false
	}
	s.res = next
	return true
}

// realtimeUsage reads a Realtime response.usage: text and audio tokens in
// and out, and the cached part of the input. Without the details, all
// tokens count as text.
func realtimeUsage(u gjson.Result) helper.AudioUsage {
	var a helper.AudioUsage
	in, out := int(u.Get("input_tokens").Int()), int(u.Get("output_tokens").Int())
	if d := u.Get("input_token_details"); d.IsObject() {
		a.TextIn, a.AudioIn = int(d.Get("text_tokens").Int()), int(d.Get("audio_tokens").Int())
		cached := int(d.Get("cached_tokens").Int())
		if cd := d.Get("cached_tokens_details"); cd.IsObject() {
			a.CachedText, a.CachedAudio = int(cd.Get("text_tokens").Int()), int(cd.Get("audio_tokens").Int())
		} else {
			a.CachedText = min(cached, a.TextIn)
			a.CachedAudio = cached - a.CachedText
		}
	} else {
		a.TextIn = in
	}
	if d := u.Get("output_token_details"); d.IsObject() {
		a.TextOut, a.AudioOut = int(d.Get("text_tokens").Int()), int(d.Get("audio_tokens").Int())
	} else {
		a.TextOut = out
	}
	return a
}

// upstreamGone ends the session after the upstream connection ended: a
// close frame is passed on; a dropped connection is reported to the client
// as an error event before the close.
func (s *realtimeSession) upstreamGone(err error) {
	if s.ending.Load() || s.clientGone.Load() {
		return
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
		s.end(nil, ce.Code, "the upstream closed the session")
		return
	}
	s.end(realtimeErrorEvent("server_error", "upstream_disconnected", "the upstream connection was lost"),
		websocket.CloseInternalServerErr, "upstream disconnected")
}

// end closes the session from the gateway's side: an optional error event,
// then a close frame; the client has realtimeCloseWait to answer it.
func (s *realtimeSession) end(event []byte, code int, reason string) {
	if !s.ending.CompareAndSwap(false, true) {
		return
	}
	s.clientMu.Lock()
	if event != nil && !s.clientGone.Load() {
		_ = s.client.SetWriteDeadline(time.Now().Add(realtimeWriteWait))
		_ = s.client.WriteMessage(websocket.TextMessage, event)
	}
	s.clientMu.Unlock()
	_ = s.client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(realtimeWriteWait))
	_ = s.client.SetReadDeadline(time.Now().Add(realtimeCloseWait))
	_ = s.up.Close()
}

// keepAlive pings both peers and ends an idle session.
func (s *realtimeSession) keepAlive() {
	t := time.NewTicker(realtimePingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastActive.Load())) > realtimeIdleTimeout {
			s.end(realtimeErrorEvent("invalid_request_error", "session_idle_timeout",
				"the session was idle for too long"), websocket.CloseNormalClosure, "idle timeout")
			return
		}
		deadline := time.Now().Add(realtimeWriteWait)
		if err := s.client.WriteControl(websocket.PingMessage, nil, deadline); err != nil && !isClosed(err) {
			_ = s.client.Close()
		}
		_ = s.up.WriteControl(websocket.PingMessage, nil, deadline)
	}
}

func isClosed(err error) bool {
	return errors.Is(err, websocket.ErrCloseSent) || errors.Is(err, net.ErrClosed)
}

// realtimeErrorEvent is a Realtime error server event.
func realtimeErrorEvent(typ, code, msg string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":     "error",
		"event_id": "event_sluice_" + code,
		"error":    map[string]any{"type": typ, "code": code, "message": msg, "param": nil, "event_id": nil},
	})
	return b
}

// sessionGroup tracks open Realtime sessions so shutdown can end them
// cleanly: each gets a "going away" close, its response in progress is
// cancelled and its response.done billed before the final flush.
type sessionGroup struct {
	once  sync.Once
	drain chan struct{}
	wg    sync.WaitGroup
}

func (g *sessionGroup) ch() chan struct{} {
	g.once.Do(func() { g.drain = make(chan struct{}) })
	return g.drain
}

// join registers a session and returns the channel closed at shutdown.
func (g *sessionGroup) join() <-chan struct{} {
	g.wg.Add(1)
	return g.ch()
}

func (g *sessionGroup) leave() { g.wg.Done() }

// DrainRealtime ends every open Realtime session and waits, until ctx
// ends, for each to bill what it consumed. Shutdown calls it after the
// HTTP server stopped taking requests and before the final flush.
func (e *Engine) DrainRealtime(ctx context.Context) {
	close(e.sessions.ch())
	waited := make(chan struct{})
	go func() {
		e.sessions.wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
	}
}

// shutdown closes the client side as the server going away; run then
// takes its usual "client left" path: cancel the response in progress and
// wait (bounded) for its response.done, which is billed.
func (s *realtimeSession) shutdown() {
	// WriteControl may run beside a data write (gorilla allows it), so a
	// stuck writer cannot hold shutdown up.
	_ = s.client.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
	_ = s.client.Close()
}
