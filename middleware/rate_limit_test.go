package middleware

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestRateLimiterExactCounts(t *testing.T) {
	t.Parallel()
	r := NewRateLimiter(5, time.Minute)
	t0 := time.Unix(1_000_000, 0)
	for i := range 5 {
		if ok, _ := r.Allow("ip", t0.Add(time.Duration(i)*time.Second)); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, retry := r.Allow("ip", t0.Add(5*time.Second))
	if ok {
		t.Fatal("6th request allowed")
	}
	if retry != 55*time.Second {
		t.Fatalf("retry after %v, want 55s (the window's end)", retry)
	}
	if ok, _ := r.Allow("other", t0); !ok {
		t.Fatal("another client was limited")
	}
	// Just after the window, the previous window still weighs almost fully:
	// no double burst at the boundary.
	if ok, _ := r.Allow("ip", t0.Add(61*time.Second)); ok {
		t.Fatal("boundary burst allowed")
	}
	// Two windows later everything is forgotten.
	for i := range 5 {
		if ok, _ := r.Allow("ip", t0.Add(2*time.Minute+time.Duration(i)*time.Millisecond)); !ok {
			t.Fatalf("request %d refused in a fresh window", i+1)
		}
	}
}

func TestRateLimiterSlidingWindowAdmitsAsThePastSlidesOut(t *testing.T) {
	t.Parallel()
	r := NewRateLimiter(10, time.Minute)
	t0 := time.Unix(2_000_000, 0)
	for range 10 {
		r.Allow("k", t0)
	}
	// Half-way through the next window, half of the previous 10 still count.
	at := t0.Add(90 * time.Second)
	allowed := 0
	for range 10 {
		if ok, _ := r.Allow("k", at); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("allowed %d half-way through, want 5", allowed)
	}
}

func TestRateLimiterMemoryIsBoundedWithAHugeLimit(t *testing.T) {
	r := NewRateLimiter(1_000_000_000, 3*time.Minute)
	r.maxKeys = 10_000
	now := time.Now()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 200_000 {
		r.Allow("ip-"+strconv.Itoa(i%50_000), now)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := r.Len(); n > 10_000 {
		t.Fatalf("tracking %d keys, cap is 10000", n)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Fatalf("heap grew by %d bytes", grown)
	}
}

func TestMiddlewareSetsRetryAfter(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(NewRateLimiter(2, time.Minute).Middleware())
	r.GET("/x", func(c *gin.Context) { c.Status(http.StatusOK) })
	codes := []int{}
	var last *httptest.ResponseRecorder
	for range 3 {
		last = httptest.NewRecorder()
		r.ServeHTTP(last, httptest.NewRequest(http.MethodGet, "/x", nil))
		codes = append(codes, last.Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("codes %v", codes)
	}
	ra, err := strconv.Atoi(last.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", last.Header().Get("Retry-After"))
	}
}

func TestCriticalPathsOnlyLimitTheirRoutes(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(NewRateLimiter(1, time.Minute).CriticalPaths("/api/user/login"))
	r.POST("/api/user/login", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.POST("/api/other", func(c *gin.Context) { c.Status(http.StatusOK) })
	do := func(path string) int {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, nil))
		return w.Code
	}
	if do("/api/user/login") != 200 || do("/api/user/login") != 429 {
		t.Fatal("login not limited")
	}
	if do("/api/other") != 200 || do("/api/other") != 200 {
		t.Fatal("other route limited")
	}
}
