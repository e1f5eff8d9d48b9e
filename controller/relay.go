package controller

import (
	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/relay"
	relaycommon "sluice/relay/common"
)

// Relay is the relay's single gin entry point: it hands the engine plain
// values and the response writer.
func (h *Handlers) Relay(mode relaycommon.Mode) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Built apart: a stream's handler goroutine holds this frame while
		// the stream is open (see relay.Engine.attempt).
		req := h.chatRequest(c, mode)
		if err := h.Engine.Relay(c.Request.Context(), c.Writer, req); err != nil {
			middleware.AbortRelay(c, err)
		}
	}
}

// chatRequest is relayRequest with the body and, for Anthropic clients,
// their feature headers.
func (h *Handlers) chatRequest(c *gin.Context, mode relaycommon.Mode) *relay.Request {
	req := h.relayRequest(c, mode)
	req.Body = c.MustGet(constant.CtxBody).([]byte)
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
