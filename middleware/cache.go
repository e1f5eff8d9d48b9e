package middleware

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// Cache-Control values set by Cache.
const (
	// CacheNoStore is for API and relay responses: per-user, often secret (a key shown once, a balance), and
	// never valid for anyone else or later.
	CacheNoStore = "no-store"
	// CacheNoCache is for the SPA's HTML (index.html, "/" and every client-side route that falls back to it):
	// the browser may keep it but must revalidate, so a deploy is picked up on the next load and the page never
	// points at hashed assets that no longer exist.
	CacheNoCache = "no-cache"
	// CacheImmutable is for content-hashed assets: a changed file gets a new name, so a cached copy never goes
	// stale and need not even be revalidated.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheShort is for other static files (favicon, logo, robots.txt): their names do not change when their
	// content does, so a short lifetime bounds how long a deploy takes to reach browsers.
	CacheShort = "public, max-age=600"
)

// apiPrefixes are the paths whose responses are API answers rather than UI files.
var apiPrefixes = []string{"/api", "/v1", "/v1beta", "/metrics"}

// Cache sets Cache-Control by what the path serves (see CacheControlFor). It runs before the handler, so a
// handler that knows better (an SSE stream, a download) can still replace the header.
func Cache() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", CacheControlFor(c.Request.URL.Path))
		c.Next()
	}
}

// CacheControlFor returns the Cache-Control value for a request path:
//   - /api, /v1, /v1beta, /metrics and anything below them: CacheNoStore;
//   - "/", *.html and extension-less paths (client-side routes served index.html): CacheNoCache;
//   - a content-hashed file under /assets/ (Vite/Rollup's "name-<hash>.ext"): CacheImmutable;
//   - any other file: CacheShort.
func CacheControlFor(path string) string {
	for _, p := range apiPrefixes {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return CacheNoStore
		}
	}
	name := path[strings.LastIndexByte(path, '/')+1:]
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || strings.EqualFold(name[dot:], ".html") || strings.EqualFold(name[dot:], ".htm") {
		return CacheNoCache // "/", "/console/channel", "/index.html", ".hidden"
	}
	if strings.HasPrefix(path, "/assets/") && isContentHashed(name) {
		return CacheImmutable
	}
	return CacheShort
}

// isContentHashed reports whether a file name carries a content hash before its extension (or before its two
// extensions, as in "index-BfH0dc4N.js.map"). A false negative only costs a revalidation; a false positive would
// pin a changed file in browsers for a year, so the test is strict:
//   - Rollup/Vite/Rolldown's default "[name]-[hash]": exactly 8 URL-safe base64 characters after a '-' or '.',
//     at least one of them a digit or an upper-case letter (a plain word such as "sections" in
//     "button-sections.js" is not a hash);
//   - webpack's "[name].[contenthash]": 8 to 64 lower-case hex digits, at least one a decimal digit.
func isContentHashed(name string) bool {
	stem := name
	for range 2 {
		dot := strings.LastIndexByte(stem, '.')
		if dot <= 0 {
			return false
		}
		stem = stem[:dot]
		if hasHashSuffix(stem) {
			return true
		}
	}
	return false
}

func hasHashSuffix(stem string) bool {
	if n := len(stem); n > 8 && (stem[n-9] == '-' || stem[n-9] == '.') && isBase64Hash(stem[n-8:]) {
		return true
	}
	sep := strings.LastIndexAny(stem, "-.")
	return sep > 0 && isHexHash(stem[sep+1:])
}

func isBase64Hash(s string) bool {
	mixed := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
			mixed = true
		case c >= 'a' && c <= 'z', c == '-', c == '_':
		default:
			return false
		}
	}
	return mixed
}

func isHexHash(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return digit
}
