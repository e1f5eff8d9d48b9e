package router_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"sluice/internal/apitest"
	"sluice/middleware"
)

// webGet fetches path from the test server without following redirects or
// letting the client decompress, so headers are seen as the browser would.
func webGet(t *testing.T, s *apitest.Server, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestWebUIServesTheEmbeddedBuild runs against the real embedded web/dist:
// the index is revalidated on every load, a hashed asset is cached forever
// with the right type, client-side routes fall back to the index, and the
// API and relay keep their JSON 404s.
func TestWebUIServesTheEmbeddedBuild(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})

	resp, index := webGet(t, s, "/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Cache-Control"); got != middleware.CacheNoCache {
		t.Fatalf("index Cache-Control = %q, want %q", got, middleware.CacheNoCache)
	}
	if !bytes.Contains(index, []byte(`<div id="root">`)) {
		t.Fatalf("/ is not the SPA's index:\n%s", index)
	}

	// A reload revalidates the index with its ETag and gets 304.
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("index has no ETag")
	}
	if resp, _ := webGet(t, s, "/", map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", resp.StatusCode)
	}

	m := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindSubmatch(index)
	if m == nil {
		t.Fatalf("index references no script under /assets/:\n%s", index)
	}
	asset := string(m[1])
	resp, body := webGet(t, s, asset, nil)
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("%s: %d, %d bytes", asset, resp.StatusCode, len(body))
	}
	if got := resp.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Fatalf("%s Content-Type = %q", asset, got)
	}
	if got := resp.Header.Get("Cache-Control"); got != middleware.CacheImmutable {
		t.Fatalf("%s Cache-Control = %q, want %q", asset, got, middleware.CacheImmutable)
	}

	// The same asset gzipped, for clients that accept it.
	resp, gz := webGet(t, s, asset, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("%s is not gzipped for a client that accepts it: %v", asset, resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, body) {
		t.Fatalf("gzipped %s does not decompress to the asset (err %v)", asset, err)
	}
	if resp, _ := webGet(t, s, asset, map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("gzip sent to a client that refused it")
	}

	// Client-side routes get the index, not a 404, so a reload works.
	for _, p := range []string{"/logs", "/channels", "/settings/ratios", "/index.html"} {
		resp, body := webGet(t, s, p, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, index) {
			t.Fatalf("%s: %d, index served: %v", p, resp.StatusCode, bytes.Equal(body, index))
		}
		if got := resp.Header.Get("Cache-Control"); got != middleware.CacheNoCache {
			t.Fatalf("%s Cache-Control = %q", p, got)
		}
	}

	// A missing file is a 404 that is not cached, never HTML in its place.
	resp, _ = webGet(t, s, "/assets/gone-AbCd1234.js", nil)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") == middleware.CacheImmutable {
		t.Fatalf("missing asset: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	// The API and the relay keep their JSON 404s.
	for _, p := range []string{"/api/unknown", "/api", "/v1/unknown", "/v1beta/unknown"} {
		resp, body := webGet(t, s, p, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !json.Valid(body) {
			t.Fatalf("%s: body is not JSON: %s", p, body)
		}
		if resp.Header.Get("Cache-Control") != middleware.CacheNoStore {
			t.Fatalf("%s Cache-Control = %q", p, resp.Header.Get("Cache-Control"))
		}
	}

	// Writes to UI paths are refused rather than answered with the index.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/logs", strings.NewReader("{}"))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /logs: %d", r2.StatusCode)
	}
}
