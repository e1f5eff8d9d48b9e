package router

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/middleware"
)

// webFile is one file of the UI build, read into memory on its first
// request (not at start-up: most processes serve the API only, and reading
// the build early costs its size twice in idle RSS, the embedded copy
// touched and the heap copy), then served from memory with no fs or gzip
// work per request.
type webFile struct {
	fsys fs.FS
	name string

	loadOnce     sync.Once
	loadErr      error
	body         []byte
	contentType  string
	etag         string
	compressible bool

	// gzipped is compressed on the first request that wants it rather than
	// at start-up: every router.New (and so every API test) would otherwise
	// pay for compressing the whole build. nil when compression does not pay.
	gzipOnce sync.Once
	gzipped  []byte
}

// webUI serves the admin SPA: files of the build by path, and index.html for
// every other path, so client-side routes (/logs, /channels) survive a reload.
// Cache-Control comes from middleware.Cache, which ran before and knows the
// path rules (index revalidated, hashed assets immutable).
type webUI struct {
	files   map[string]*webFile // by path without the leading '/'
	index   *webFile
	limiter *middleware.RateLimiter
}

// webContentTypes pins the types of the files a Vite build emits, so the
// answer does not depend on the host's /etc/mime.types (which mime consults).
var webContentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".woff":        "font/woff",
	".txt":         "text/plain; charset=utf-8",
}

// newWebUI indexes the files of fsys (their contents are read on first
// request). A build without index.html is a packaging error that must not
// reach production unnoticed, hence the error rather than a blank page.
func newWebUI(fsys fs.FS, limiter *middleware.RateLimiter) (*webUI, error) {
	ui := &webUI{files: map[string]*webFile{}, limiter: limiter}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ui.files[p] = &webFile{fsys: fsys, name: p}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ui.index = ui.files["index.html"]
	if ui.index == nil {
		return nil, fs.ErrNotExist
	}
	return ui, nil
}

// load reads the file and derives its headers, once.
func (f *webFile) load() error {
	f.loadOnce.Do(func() {
		body, err := fs.ReadFile(f.fsys, f.name)
		if err != nil {
			f.loadErr = err
			return
		}
		ext := strings.ToLower(path.Ext(f.name))
		ct, ok := webContentTypes[ext]
		if !ok {
			if ct = mime.TypeByExtension(ext); ct == "" {
				ct = "application/octet-stream"
			}
		}
		sum := sha256.Sum256(body)
		f.body, f.contentType = body, ct
		f.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		f.compressible = len(body) > 1024 && (strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "svg"))
	})
	return f.loadErr
}

// gzipBody returns the gzipped body, or nil when the file is not worth
// compressing.
func (f *webFile) gzipBody() []byte {
	if !f.compressible {
		return nil
	}
	f.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(f.body)
		_ = zw.Close()
		if buf.Len() < len(f.body)*9/10 {
			f.gzipped = buf.Bytes()
		}
	})
	return f.gzipped
}

// serve answers a GET or HEAD for a path outside /api and /v1.
func (ui *webUI) serve(c *gin.Context) {
	if ok, retry := ui.limiter.Allow(c.ClientIP(), time.Now()); !ok {
		c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		c.String(http.StatusTooManyRequests, "too many requests")
		return
	}
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		c.Header("Allow", "GET, HEAD")
		c.String(http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+c.Request.URL.Path), "/")
	f := ui.files[name]
	if name == "" {
		f = ui.index
	}
	if f == nil {
		base := path.Base(name)
		if strings.Contains(base, ".") && !strings.HasSuffix(base, ".html") {
			// A missing file (an asset of an older deploy, a typo) is a 404,
			// never the index: HTML served as a script breaks the page in a
			// way that is hard to diagnose. The Cache middleware chose a
			// long lifetime for the path; a 404 must not be kept that long.
			c.Header("Cache-Control", middleware.CacheNoCache)
			c.String(http.StatusNotFound, "not found")
			return
		}
		f = ui.index
	}
	ui.write(c, f)
}

// write sends f, answering 304 to a matching If-None-Match (index.html is
// revalidated on every load) and the gzipped body to clients that take it.
func (ui *webUI) write(c *gin.Context, f *webFile) {
	if err := f.load(); err != nil {
		c.String(http.StatusInternalServerError, "the web UI build is unreadable")
		return
	}
	h := c.Writer.Header()
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if f.compressible {
		h.Set("Vary", "Accept-Encoding")
	}
	if match := c.GetHeader("If-None-Match"); match != "" && etagMatches(match, f.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := f.body
	if acceptsGzip(c.GetHeader("Accept-Encoding")) {
		if gz := f.gzipBody(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	c.Data(http.StatusOK, f.contentType, body)
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "W/"))
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding, honouring an explicit "gzip;q=0".
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
