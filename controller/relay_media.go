package controller

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
)

// RelayMedia is the gin entry point of the media routes (images, audio,
// moderations, rerank): Relay plus the fields the media distributor read.
func (h *Handlers) RelayMedia(mode relaycommon.Mode) gin.HandlerFunc {
	return func(c *gin.Context) {
		req := h.relayRequest(c, mode)
		req.Body = c.MustGet(constant.CtxBody).([]byte)
		if f, ok := c.Get(middleware.CtxMediaForm); ok {
			req.Form = f.(*peek.Form)
		}
		req.ClientHeaders = middleware.MediaHeaders(c)
		if err := h.Engine.Relay(c.Request.Context(), c.Writer, req); err != nil {
			middleware.AbortRelay(c, err)
		}
	}
}

// Realtime is the gin entry point of GET /v1/realtime: the engine upgrades
// the connection itself once the upstream session is open; an error before
// that is answered over HTTP.
func (h *Handlers) Realtime(c *gin.Context) {
	req := h.relayRequest(c, relaycommon.ModeRealtime)
	if beta := realtimeBeta(c); beta != "" {
		req.ClientHeaders = map[string]string{"OpenAI-Beta": beta}
	}
	if err := h.Engine.Realtime(c.Request.Context(), c.Writer, c.Request, req); err != nil {
		middleware.AbortRelay(c, err)
		return
	}
	c.Abort() // the connection is hijacked: nothing more may be written
}

// relayRequest is the part of a relay.Request every route fills the same way.
func (h *Handlers) relayRequest(c *gin.Context, mode relaycommon.Mode) *relay.Request {
	token := c.MustGet(constant.CtxToken).(*model.TokenEntry)
	user := c.MustGet(constant.CtxUser).(*model.UserEntry)
	_, pinned := c.Get(constant.CtxPinnedChan)
	return &relay.Request{
		RequestID: c.GetString(constant.CtxRequestID),
		Mode:      mode,
		Peek:      c.MustGet(constant.CtxPeek).(peek.Fields),
		User:      user,
		Token:     token,
		Group:     middleware.GroupOf(token.Info(), user.Info()),
		First:     c.MustGet(constant.CtxChannel).(*model.ChannelView),
		Pinned:    pinned,
		Format:    middleware.FormatOf(c.Request.URL.Path),
		Start:     time.Now(),
	}
}

// realtimeBeta is the client's OpenAI-Beta header, or the one a browser
// asked for in a subprotocol ("openai-beta.realtime-v1" → "realtime=v1").
func realtimeBeta(c *gin.Context) string {
	if v := c.GetHeader("OpenAI-Beta"); v != "" {
		return v
	}
	for _, p := range websocket.Subprotocols(c.Request) {
		if rest, ok := strings.CutPrefix(p, "openai-beta."); ok {
			if name, version, ok := strings.Cut(rest, "-"); ok {
				return name + "=" + version
			}
		}
	}
	return ""
}
