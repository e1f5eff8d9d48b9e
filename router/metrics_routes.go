package router

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"sluice/common/metrics"
)

// MetricsConfig says whether and for whom /metrics is served (METRICS_ENABLED, METRICS_TOKEN).
type MetricsConfig struct {
	// Enabled serves the Prometheus metrics; off by default, since they describe traffic and models.
	Enabled bool
	// Token, when set, is required as "Authorization: Bearer <token>". Without it anyone who reaches the port
	// can scrape, so leave it empty only behind a private network.
	Token string
}

// MountMetrics registers GET /metrics on r. When disabled the path answers 404, like any unknown path, rather
// than falling through to the web UI's HTML.
func MountMetrics(r *gin.Engine, cfg MetricsConfig) {
	if !cfg.Enabled {
		r.GET("/metrics", func(c *gin.Context) { c.AbortWithStatus(http.StatusNotFound) })
		return
	}
	h := metrics.Handler()
	r.GET("/metrics", bearerToken(cfg.Token), gin.WrapH(h))
}

// bearerToken refuses a request without "Authorization: Bearer <token>"; an empty token lets every request through.
func bearerToken(token string) gin.HandlerFunc {
	if token == "" {
		return func(c *gin.Context) { c.Next() }
	}
	// Compare digests so the comparison takes the same time whatever the length of the guess.
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		auth := c.GetHeader("Authorization")
		scheme, got, ok := strings.Cut(auth, " ")
		have := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(have[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="metrics"`)
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Next()
	}
}
