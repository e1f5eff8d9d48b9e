package ratio_setting

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// exposedClock is a settable clock for ExposedCache tests.
type exposedClock struct{ nanos atomic.Int64 }

func newExposedClock() *exposedClock {
	c := &exposedClock{}
	c.nanos.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *exposedClock) Now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *exposedClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }
func exposedDecode(t *testing.T, s string) exposedShape {
	t.Helper()
	var v exposedShape
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("exposed JSON %q: %v", s, err)
	}
	return v
}

type exposedShape struct {
	ModelRatio      map[string]float64 `json:"model_ratio"`
	CompletionRatio map[string]float64 `json:"completion_ratio"`
	CacheRatio      map[string]float64 `json:"cache_ratio"`
	ModelPrice      map[string]float64 `json:"model_price"`
}

// readConcurrently calls JSON from n goroutines released together and returns what each got.
func readConcurrently(c *ExposedCache, n int) []string {
	out := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = c.JSON()
		})
	}
	close(start)
	wg.Wait()
	return out
}

func TestExposedCacheShape(t *testing.T) {
	t.Parallel()
	c := NewExposedCache(time.Minute, newExposedClock().Now)
	got := exposedDecode(t, c.JSON())
	s := Current()
	if len(got.ModelRatio) != len(s.ModelRatio) || got.ModelRatio["gpt-4o"] != s.ModelRatio["gpt-4o"] {
		t.Errorf("model_ratio does not match the published snapshot: %d entries, gpt-4o=%v", len(got.ModelRatio), got.ModelRatio["gpt-4o"])
	}
	if got.CompletionRatio == nil || got.CacheRatio == nil || got.ModelPrice["dall-e-3"] != s.ModelPrice["dall-e-3"] {
		t.Errorf("missing tables in %+v", got)
	}
}

func TestExposedCacheTTL(t *testing.T) {
	t.Parallel() // reads the global ratios but changes none
	clock := newExposedClock()
	c := NewExposedCache(30*time.Second, clock.Now)
	first := c.JSON()
	if n := c.rebuilds.Load(); n != 1 {
		t.Fatalf("first read: %d rebuilds, want 1", n)
	}
	clock.Advance(29 * time.Second)
	if c.JSON() != first || c.rebuilds.Load() != 1 {
		t.Fatalf("rebuilt inside the TTL: %d rebuilds", c.rebuilds.Load())
	}
	clock.Advance(time.Second)
	if c.JSON() != first {
		t.Fatal("a rebuild of unchanged ratios changed the encoding")
	}
	if n := c.rebuilds.Load(); n != 2 {
		t.Fatalf("after the TTL: %d rebuilds, want 2", n)
	}
	if c.JSON(); c.rebuilds.Load() != 2 {
		t.Fatalf("the rebuild did not restart the TTL: %d rebuilds", c.rebuilds.Load())
	}
}

func TestExposedCacheInvalidatedOnChange(t *testing.T) {
	restoreDefaults(t) // changes the global ratios: not parallel
	c := NewExposedCache(time.Hour, newExposedClock().Now)
	if strings.Contains(c.JSON(), "exposed-test-model") {
		t.Fatal("unexpected model before the change")
	}
	if err := SetModelRatio(`{"exposed-test-model": 7}`); err != nil {
		t.Fatal(err)
	}
	// No clock advance: the version change alone must invalidate.
	got := exposedDecode(t, c.JSON())
	if got.ModelRatio["exposed-test-model"] != 7 || len(got.ModelRatio) != 1 {
		t.Fatalf("model_ratio after the change = %v", got.ModelRatio)
	}
	if n := c.rebuilds.Load(); n != 2 {
		t.Fatalf("%d rebuilds, want 2", n)
	}
	// The process-wide cache follows the change too.
	if !strings.Contains(ExposedRatioJSON(), `"exposed-test-model":7`) {
		t.Fatalf("ExposedRatioJSON() = %s", ExposedRatioJSON())
	}
}

// slowBuilds makes each rebuild take a while, so that concurrent readers really overlap with it.
func slowBuilds(c *ExposedCache) {
	c.beforeBuild = func() { time.Sleep(20 * time.Millisecond) }
}

func TestExposedCacheSingleRebuildUnderLoad(t *testing.T) {
	restoreDefaults(t) // changes the global ratios: not parallel
	clock := newExposedClock()
	c := NewExposedCache(30*time.Second, clock.Now)
	slowBuilds(c)

	check := func(phase string, wantRebuilds uint64, results []string, want string) {
		t.Helper()
		if n := c.rebuilds.Load(); n != wantRebuilds {
			t.Errorf("%s: %d rebuilds in total, want %d", phase, n, wantRebuilds)
		}
		for i, r := range results {
			if r != want {
				t.Fatalf("%s: reader %d got %q, want %q", phase, i, r, want)
			}
		}
	}

	// Cold: nothing built yet, so every reader waits for the one rebuild.
	res := readConcurrently(c, 100)
	check("cold", 1, res, c.JSON())

	// Invalidated by a change: the old encoding is wrong, so everyone waits for the one rebuild and gets the new one.
	if err := SetModelRatio(`{"herd-model": 3}`); err != nil {
		t.Fatal(err)
	}
	res = readConcurrently(c, 100)
	check("after a change", 2, res, c.JSON())
	if !strings.Contains(res[0], `"herd-model":3`) {
		t.Fatalf("after a change readers got %s", res[0])
	}

	// Expired TTL with unchanged ratios: one rebuild; the others may be served the previous (identical) encoding.
	clock.Advance(31 * time.Second)
	res = readConcurrently(c, 100)
	check("after the TTL", 3, res, c.JSON())
}

func TestExposedCacheResultsNotShared(t *testing.T) {
	t.Parallel()
	c := NewExposedCache(time.Hour, newExposedClock().Now)
	a := c.JSON()
	// A caller that decodes its result and scribbles on the maps, or on a byte copy of it...
	got := exposedDecode(t, a)
	got.ModelRatio["gpt-4o"] = 999
	got.ModelPrice["injected"] = 1
	raw := []byte(a)
	for i := range raw {
		raw[i] = 'x'
	}
	// ...changes nothing that the next caller receives.
	b := c.JSON()
	if b != a {
		t.Fatal("the second result differs from the first")
	}
	again := exposedDecode(t, b)
	if again.ModelRatio["gpt-4o"] == 999 {
		t.Fatal("a caller's change to its map reached another caller")
	}
	if _, ok := again.ModelPrice["injected"]; ok {
		t.Fatal("a caller's insertion reached another caller")
	}
	if c.rebuilds.Load() != 1 {
		t.Fatalf("%d rebuilds, want 1 (the second read must come from the cache)", c.rebuilds.Load())
	}
}
