package ratio_setting

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ExposedTTL is how long GET /api/ratio_config may serve one encoding when the ratios do not change.
const ExposedTTL = 30 * time.Second

// ExposedCache holds the public ratio configuration, {model_ratio, completion_ratio, cache_ratio, model_price},
// encoded once as JSON.
//
// The endpoint is public, so it must stay cheap under any request rate: the encoding is rebuilt at most once per
// TTL, and exactly one caller rebuilds at a time; the others wait for that rebuild, or, when only the TTL ran out
// and the ratios are unchanged, are served the previous encoding at once. A change to any ratio (a new
// Version()) invalidates it immediately, so nobody is served prices older than the change they just made.
//
// The result is a string: immutable by the language, so no caller can alter what the next caller receives.
type ExposedCache struct {
	ttl time.Duration
	now func() time.Time

	entry   atomic.Pointer[exposedEntry]
	buildMu sync.Mutex // held by the one caller rebuilding

	rebuilds atomic.Uint64
	// beforeBuild, when set by a test, runs at the start of each rebuild (to count or slow it down).
	beforeBuild func()
}

type exposedEntry struct {
	json    string
	version uint64 // the Snapshot version the encoding was built from
	built   time.Time
}

// NewExposedCache returns an empty cache that rebuilds after ttl, reading the time from now.
func NewExposedCache(ttl time.Duration, now func() time.Time) *ExposedCache {
	if now == nil {
		now = time.Now
	}
	return &ExposedCache{ttl: ttl, now: now}
}

var exposed = NewExposedCache(ExposedTTL, time.Now)

// ExposedRatioJSON returns the public ratio configuration as a JSON object, from the process-wide cache. Callers
// check ExposeRatioEnabled first.
func ExposedRatioJSON() string { return exposed.JSON() }

// fresh reports whether e may be served as is.
func (c *ExposedCache) fresh(e *exposedEntry) bool {
	return e != nil && e.version == Version() && c.now().Sub(e.built) < c.ttl
}

// JSON returns the encoded configuration, rebuilding it when it is older than the TTL or the ratios changed.
func (c *ExposedCache) JSON() string {
	e := c.entry.Load()
	if c.fresh(e) {
		return e.json
	}
	if e != nil && e.version == Version() {
		// Only the TTL ran out, so the previous encoding still shows the current ratios: if someone is already
		// rebuilding, serve it rather than queue behind them.
		if !c.buildMu.TryLock() {
			return e.json
		}
	} else {
		// The ratios changed (or nothing was built yet): the previous encoding is wrong, so wait for the rebuild.
		c.buildMu.Lock()
	}
	defer c.buildMu.Unlock()
	if e := c.entry.Load(); c.fresh(e) {
		return e.json // rebuilt by the caller we waited for
	}
	return c.rebuild().json
}

// rebuild encodes the published snapshot; buildMu is held. The version stored is the one of the snapshot read, so
// a change published during the rebuild makes the result stale at once rather than labelling old data as new.
func (c *ExposedCache) rebuild() *exposedEntry {
	if c.beforeBuild != nil {
		c.beforeBuild()
	}
	c.rebuilds.Add(1)
	s := Current()
	var b strings.Builder
	b.WriteString(`{"model_ratio":`)
	b.WriteString(EncodeRatioMap(s.ModelRatio))
	b.WriteString(`,"completion_ratio":`)
	b.WriteString(EncodeRatioMap(s.CompletionRatio))
	b.WriteString(`,"cache_ratio":`)
	b.WriteString(EncodeRatioMap(s.CacheRatio))
	b.WriteString(`,"model_price":`)
	b.WriteString(EncodeRatioMap(s.ModelPrice))
	b.WriteByte('}')
	e := &exposedEntry{json: b.String(), version: s.Version(), built: c.now()}
	c.entry.Store(e)
	return e
}
