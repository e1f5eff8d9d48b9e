package middleware

import (
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// RateLimiter counts requests per client IP in fixed windows. It protects
// the admin API and web UI from brute force; the relay has its own limits.
type RateLimiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	start time.Time
	n     int
}

// NewRateLimiter allows limit requests per window per IP (0 disables it).
func NewRateLimiter(limit int, window time.Duration) *RateLimiter {
	return &RateLimiter{limit: limit, window: window, buckets: map[string]*bucket{}}
}

// Allow records one request from ip and reports whether it is within limit.
func (r *RateLimiter) Allow(ip string, now time.Time) bool {
	if r.limit <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.sweep) > r.window {
		for k, b := range r.buckets {
			if now.Sub(b.start) > r.window {
				delete(r.buckets, k)
			}
		}
		r.sweep = now
	}
	b := r.buckets[ip]
	if b == nil || now.Sub(b.start) >= r.window {
		b = &bucket{start: now}
		r.buckets[ip] = b
	}
	b.n++
	return b.n <= r.limit
}

// Middleware refuses requests over the limit with 429.
func (r *RateLimiter) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !r.Allow(c.ClientIP(), time.Now()) {
			AbortAPI(c, http.StatusTooManyRequests, "too many requests; slow down")
			return
		}
		c.Next()
	}
}
