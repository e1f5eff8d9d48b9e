package controller

import (
	"time"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
)

// Relay is the relay's single gin entry point: it hands the engine plain
// values and the response writer.
func (h *Handlers) Relay(mode relaycommon.Mode) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Built apart: a stream's handler goroutine holds this frame while
		// the stream is open (see relay.Engine.attempt).
		req := relayRequest(c, mode)
		if err := h.Engine.Relay(c.Request.Context(), c.Writer, req); err != nil {
			middleware.AbortRelay(c, err)
		}
	}
}

// relayRequest gathers what the middleware chain stored in c.
func relayRequest(c *gin.Context, mode relaycommon.Mode) *relay.Request {
	token := c.MustGet(constant.CtxToken).(*model.TokenEntry)
	user := c.MustGet(constant.CtxUser).(*model.UserEntry)
	_, pinned := c.Get(constant.CtxPinnedChan)
	req := &relay.Request{
		RequestID: c.GetString(constant.CtxRequestID),
		Mode:      mode,
		Body:      c.MustGet(constant.CtxBody).([]byte),
		Peek:      c.MustGet(constant.CtxPeek).(peek.Fields),
		User:      user,
		Token:     token,
		Group:     middleware.GroupOf(token.Info(), user.Info()),
		First:     c.MustGet(constant.CtxChannel).(*model.ChannelView),
		Pinned:    pinned,
		Format:    middleware.FormatOf(c.Request.URL.Path),
		Start:     time.Now(),
	}
	if mode == relaycommon.ModeMessages {
		req.ClientHeaders = anthropicHeaders(c)
	}
	return req
}

// anthropicHeaders are the Anthropic client's feature headers: a client
// that negotiated a beta (interleaved thinking, 1M context…) must keep it
// when its call is passed through to Anthropic.
func anthropicHeaders(c *gin.Context) map[string]string {
	version, beta := c.GetHeader("anthropic-version"), c.GetHeader("anthropic-beta")
	if version == "" && beta == "" {
		return nil
	}
	return map[string]string{"anthropic-version": version, "anthropic-beta": beta}
}
