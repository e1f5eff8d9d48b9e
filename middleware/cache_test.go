package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestCacheControlFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want string
	}{
		// The SPA's HTML: always revalidated.
		{"/", CacheNoCache},
		{"/index.html", CacheNoCache},
		{"/INDEX.HTML", CacheNoCache},
		{"/legacy/page.htm", CacheNoCache},
		{"/console/channel", CacheNoCache}, // client-side route: the fallback serves index.html
		{"/login", CacheNoCache},
		{"/api-docs", CacheNoCache},    // only /api and below are the API
		{"/v1x", CacheNoCache},         // nor is a path that merely starts with "v1"
		{"/assets/", CacheNoCache},     // a directory listing, not a file
		{"/.well-known", CacheNoCache}, // a dot-file has no extension
		{"/assets/index.html", CacheNoCache},

		// Content-hashed assets: cached for a year, never revalidated.
		{"/assets/index-BfH0dc4N.js", CacheImmutable},
		{"/assets/index-DiwrgTda.css", CacheImmutable},
		{"/assets/vendor-a1b2c3d4.js", CacheImmutable},
		{"/assets/Inter-Regular-Cw9-Qk_2.woff2", CacheImmutable}, // the hash itself contains '-' and '_'
		{"/assets/logo-9Xz_aQ-1.svg", CacheImmutable},
		{"/assets/index-BfH0dc4N.js.map", CacheImmutable},
		{"/assets/main.3f2a9c81d0e4b7a6c5f1.js", CacheImmutable}, // webpack [name].[contenthash]
		{"/assets/chunk.0123abcd.css", CacheImmutable},

		// Anything else static: a short lifetime, because its name does not change with its content.
		{"/favicon.ico", CacheShort},
		{"/robots.txt", CacheShort},
		{"/logo.png", CacheShort},
		{"/index-BfH0dc4N.js", CacheShort},           // hashed, but outside /assets/: not the build's output
		{"/assets/button-sections.js", CacheShort},   // "sections" is a word, not a hash
		{"/assets/my-component.js", CacheShort},      // too short to be a hash
		{"/assets/logo.png", CacheShort},             // no hash at all
		{"/assets/index-BfH0dc4.js", CacheShort},     // 7 characters: not the 8 Rollup writes
		{"/assets/index-BfH0dc4N$.js", CacheShort},   // '$' is not URL-safe base64
		{"/assets/main.deadbeef.js", CacheShort},     // hex-looking word without a digit
		{"/assets/main.3F2A9C81.js", CacheImmutable}, // upper-case: read as base64, which it also is

		// API and relay answers: never stored.
		{"/api", CacheNoStore},
		{"/api/status", CacheNoStore},
		{"/api/user/self", CacheNoStore},
		{"/api/files/report.html", CacheNoStore}, // the API prefix wins over the extension
		{"/v1", CacheNoStore},
		{"/v1/chat/completions", CacheNoStore},
		{"/v1/models", CacheNoStore},
		{"/v1beta/models/gemini-pro:generateContent", CacheNoStore},
		{"/metrics", CacheNoStore},
	}
	for _, tt := range tests {
		if got := CacheControlFor(tt.path); got != tt.want {
			t.Errorf("CacheControlFor(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestCacheMiddleware(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Cache())
	r.GET("/api/status", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/v1/stream", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache") // a handler that knows better wins
		c.String(http.StatusOK, "data: x\n\n")
	})
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusOK, "static") })

	tests := []struct{ path, want string }{
		{"/api/status", CacheNoStore},
		{"/v1/stream", "no-cache"},
		{"/", CacheNoCache},
		{"/assets/index-BfH0dc4N.js", CacheImmutable},
		{"/favicon.ico", CacheShort},
		{"/v1/unknown", CacheNoStore}, // a 404 under the API is still not cached
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if got := w.Header().Values("Cache-Control"); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("Cache-Control = %q, want [%q]", got, tt.want)
			}
		})
	}
}

func BenchmarkCacheControlFor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = CacheControlFor("/v1/chat/completions")
		_ = CacheControlFor("/assets/index-BfH0dc4N.js")
	}
}
