// Package middleware holds the per-request gates: request id, recovery,
// CORS, body limits, rate limits, API-key auth, session auth and the
// distributor that picks the first channel.
package middleware

import (
	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
)

// requestIDLength characters make an id: 119 bits, so ids do not repeat
// across a gateway's lifetime.
const requestIDLength = 20

// RequestID tags each request with an id, echoed in a response header and
// carried into logs, so an operator can find a client's complaint.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := common.RandomID(requestIDLength)
		c.Set(constant.CtxRequestID, id)
		c.Header(constant.HeaderRequestID, id)
		c.Next()
	}
}
