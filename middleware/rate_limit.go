package middleware

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/model"
	"sluice/relay/relayerr"
	"sluice/setting/operation_setting"
)

// DefaultMaxKeys bounds how many clients a limiter remembers. Memory is
// O(clients), never O(limit): each client costs one small counter however
// large the configured limit (new-api kept a timestamp per request and ran
// out of memory with a large limit).
const DefaultMaxKeys = 200_000

// RateLimiter is a sliding-window counter per key (an IP or a user): the
// previous window's count, weighted by how much of it still overlaps, plus
// the current window's. That avoids the double burst a fixed window allows
// at its boundary, in constant memory per key.
type RateLimiter struct {
	limit   int
	window  time.Duration
	maxKeys int

	mu       sync.Mutex
	counters map[string]*counter
}

type counter struct {
	start     time.Time // start of the current window
	prev, cur int
}

// NewRateLimiter allows limit requests per window per key (limit ≤ 0
// disables it).
func NewRateLimiter(limit int, window time.Duration) *RateLimiter {
	return &RateLimiter{limit: limit, window: window, maxKeys: DefaultMaxKeys, counters: map[string]*counter{}}
}

// Len reports how many keys are tracked (for tests and metrics).
func (r *RateLimiter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counters)
}

// Allow records one request for key against the limiter's own limit.
func (r *RateLimiter) Allow(key string, now time.Time) (bool, time.Duration) {
	return r.AllowN(key, r.limit, r.window, now)
}

// AllowN records one request for key against limit per window and reports
// whether it is allowed and, if not, how long until it would be. A refused
// request is not counted, so a client hammering while limited does not
// extend its own penalty indefinitely.
func (r *RateLimiter) AllowN(key string, limit int, window time.Duration, now time.Time) (bool, time.Duration) {
	if limit <= 0 || window <= 0 {
		return true, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counters[key]
	if c == nil {
		if len(r.counters) >= r.maxKeys {
			r.evict(now, window)
		}
		c = &counter{start: now}
		r.counters[key] = c
	}
	if elapsed := now.Sub(c.start); elapsed >= window {
		if elapsed >= 2*window {
			c.prev = 0
		} else {
			c.prev = c.cur
		}
		c.cur = 0
		c.start = c.start.Add(elapsed.Truncate(window))
	}
	overlap := 1 - float64(now.Sub(c.start))/float64(window)
	used := float64(c.prev)*overlap + float64(c.cur)
	if used+1 > float64(limit) {
		retry := c.start.Add(window).Sub(now)
		if c.cur+1 > limit {
			// The current window alone is full: wait for the next one.
			return false, max(retry, time.Second)
		}
		// The previous window's tail still weighs; wait until enough of it
		// has slid out.
		need := (used + 1 - float64(limit)) / float64(max(c.prev, 1))
		wait := time.Duration(math.Ceil(need * float64(window)))
		return false, max(min(wait, retry), time.Second)
	}
	c.cur++
	return true, 0
}

// evict drops idle keys; if every key is active it drops the oldest half,
// so memory stays bounded even under a flood of distinct clients.
func (r *RateLimiter) evict(now time.Time, window time.Duration) {
	for k, c := range r.counters {
		if now.Sub(c.start) >= 2*window {
			delete(r.counters, k)
		}
	}
	if len(r.counters) < r.maxKeys {
		return
	}
	n := 0
	for k := range r.counters {
		delete(r.counters, k) // map order is random: a random half goes
		if n++; n >= r.maxKeys/2 {
			break
		}
	}
}

func tooMany(c *gin.Context, retry time.Duration) {
	c.Header("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
}

// Middleware refuses requests over the limit per client IP with 429 and a
// Retry-After header.
func (r *RateLimiter) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, retry := r.Allow(c.ClientIP(), time.Now()); !ok {
			tooMany(c, retry)
			AbortAPI(c, http.StatusTooManyRequests, "too many requests; retry in "+strconv.Itoa(int(math.Ceil(retry.Seconds())))+" s")
			return
		}
		c.Next()
	}
}

// CriticalPaths limits the routes an attacker would brute-force (login,
// setup, code redemption) more strictly than the rest of the API.
func (r *RateLimiter) CriticalPaths(paths ...string) gin.HandlerFunc {
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		set[p] = true
	}
	return func(c *gin.Context) {
		if c.Request.Method != http.MethodPost || !set[c.Request.URL.Path] {
			c.Next()
			return
		}
		r.Middleware()(c)
	}
}

// ModelRequestLimit enforces the per-user relay request limit from the
// ModelRequestRateLimit* options, read per request so a change applies at once.
func ModelRequestLimit(r *RateLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		op := operation_setting.Get()
		if !op.ModelRequestRateLimitEnabled {
			c.Next()
			return
		}
		user := c.MustGet(constant.CtxUser).(*model.UserEntry).Info()
		window := time.Duration(op.ModelRequestRateLimitDurationMinutes) * time.Minute
		if ok, retry := r.AllowN("u:"+strconv.Itoa(user.ID), op.ModelRequestRateLimitCount, window, time.Now()); !ok {
			tooMany(c, retry)
			AbortRelay(c, relayerr.New(relayerr.KindRateLimited, "request rate limit reached for this account; retry in "+
				strconv.Itoa(int(math.Ceil(retry.Seconds())))+" s"))
			return
		}
		c.Next()
	}
}
