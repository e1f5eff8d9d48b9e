package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

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

// CORS lets browser clients call the relay API from other origins.
func CORS() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, X-Goog-Api-Key, Anthropic-Version, New-Api-User, OpenAI-Beta")
		h.Set("Access-Control-Max-Age", "86400")
		if c.Request.Method == http.MethodOptions {
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}
