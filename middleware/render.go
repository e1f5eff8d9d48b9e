package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/relay/relayerr"
)

// FormatOf tells which client dialect a relay path speaks, so errors come
// back in a shape the client's SDK understands.
func FormatOf(path string) relayerr.Format {
	switch {
	case strings.HasPrefix(path, "/v1/messages"):
		return relayerr.FormatAnthropic
	case strings.HasPrefix(path, "/v1beta"):
		return relayerr.FormatGemini
	}
	return relayerr.FormatOpenAI
}

// AbortRelay ends a relay request with e rendered in the client's format.
func AbortRelay(c *gin.Context, e *relayerr.Error) {
	c.Data(e.Status, "application/json", e.Body(FormatOf(c.Request.URL.Path)))
	c.Abort()
}

// AbortAPI ends an admin API request with the envelope's failure shape.
func AbortAPI(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"success": false, "message": msg})
}

// Recover turns a panic into a 500 in the right shape instead of a dropped
// connection, and never shows the panic to the client.
func Recover() gin.HandlerFunc {
	return gin.CustomRecovery(func(c *gin.Context, _ any) {
		if strings.HasPrefix(c.Request.URL.Path, "/api") {
			AbortAPI(c, http.StatusInternalServerError, "internal error")
			return
		}
		AbortRelay(c, relayerr.New(relayerr.KindInternal, "internal error"))
	})
}

// CORS lets browser clients call the relay API from other origins. Only a
// browser's cross-origin request carries Origin, so only its response gets
// the header; SDKs and servers, nearly every caller, get none (four headers
// on every response were 230 bytes and four allocations to build, sort and
// write). The answer is the same for every origin, "*", and relay responses
// are not cacheable (Cache-Control: no-store), so nothing varies for a cache
// to mix up. Keys go in a header, never in cookies, so "*" exposes nothing a
// script could not already send.
func CORS() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Header.Get("Origin") != "" {
			h := c.Writer.Header()
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", constant.HeaderRequestID)
		}
		c.Next()
	}
}

// Preflight answers a browser's CORS preflight (OPTIONS) for any relay path,
// before authentication: the browser sends no key with it. The headers the
// page asked for are allowed back as asked, since SDKs send their own
// (OpenAI's: X-Stainless-*), and a list of names could only turn some away.
func Preflight(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if asked := c.Request.Header.Get("Access-Control-Request-Headers"); asked != "" {
		h.Set("Access-Control-Allow-Headers", asked)
	}
	h.Set("Access-Control-Max-Age", "86400")
	c.AbortWithStatus(http.StatusNoContent)
}
