// Package middleware holds the per-request gates: request id, recovery,
// CORS, body limits, rate limits, API-key auth, session auth and the
// distributor that picks the first channel.
package middleware

import (
	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
)

// RequestID tags each request with an id, echoed in a response header and
// carried into logs, so an operator can find a client's complaint.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := common.RandomString(20)
		c.Set(constant.CtxRequestID, id)
		c.Header(constant.HeaderRequestID, id)
		c.Next()
	}
}
