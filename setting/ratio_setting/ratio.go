// Package ratio_setting holds what the gateway bills by: per-model ratios and fixed prices, completion and cache
// ratios, and per-group multipliers.
//
// They are read on every relayed request and changed rarely by an operator, so they live in one immutable
// Snapshot published through an atomic pointer: readers never lock, and a reader always sees one whole,
// consistent set of maps, never half of an update.
package ratio_setting

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Snapshot is one published, immutable set of pricing tables.
//
// The maps are shared by every reader and by later snapshots that did not change them, so nothing may write to
// them after publication: a change builds a new map and publishes a new Snapshot.
type Snapshot struct {
	// ModelRatio is a model's input price in ratio units, where 1 means $0.002 per 1K tokens.
	ModelRatio map[string]float64
	// CompletionRatio is a model's output price divided by its input price.
	CompletionRatio map[string]float64
	// CacheRatio is a model's cached-input price divided by its input price.
	CacheRatio map[string]float64
	// CreateCacheRatio is a model's cache-write price divided by its input price (Anthropic bills writing a
	// prompt-cache entry above normal input: 1.25× for the 5-minute cache).
	CreateCacheRatio map[string]float64
	// GroupRatio multiplies every charge of a user group.
	GroupRatio map[string]float64
	// ModelPrice is a fixed USD price per call (per image for image generation); it wins over ModelRatio.
	ModelPrice map[string]float64

	// version identifies this publication, so a derived cache can tell whether it was built from it.
	version uint64
}

var (
	current atomic.Pointer[Snapshot]
	// writeMu serialises writers: each builds its snapshot from the one before, so two concurrent changes to
	// different maps must not both start from the same old snapshot and lose one of them.
	writeMu sync.Mutex
)

func init() {
	s := *defaults
	s.version = 1 // 0 is left for "never built" in caches that compare versions
	current.Store(&s)
}

// Current returns the published snapshot. It never returns nil; callers must treat it as read-only.
func Current() *Snapshot { return current.Load() }

// Version returns the version of the published snapshot. It grows by one on every change, so a cache built from
// version v is stale as soon as Version() != v.
func Version() uint64 { return current.Load().version }

// Version returns the publication number of this snapshot; pair it with the data read from the same snapshot so a
// cache can never label old data with a new version.
func (s *Snapshot) Version() uint64 { return s.version }

// publish builds the next snapshot from the current one with change applied and makes it current.
func publish(change func(*Snapshot)) {
	writeMu.Lock()
	defer writeMu.Unlock()
	next := *current.Load() // copies the map headers only; unchanged maps stay shared, which is safe as none is mutated
	change(&next)
	next.version++
	current.Store(&next)
}

// ModelRatioOf returns the model's ratio, following the name fallbacks described at lookup.
func (s *Snapshot) ModelRatioOf(model string) (float64, bool) { return lookup(s.ModelRatio, model) }

// CompletionRatioOf returns the model's completion ratio, or 1 (output priced like input) when none is set.
func (s *Snapshot) CompletionRatioOf(model string) float64 {
	return lookupOr(s.CompletionRatio, model, 1)
}

// CacheRatioOf returns the model's cache ratio, or 1 when none is set: without a listed discount, cached tokens
// are billed as normal input rather than given away.
func (s *Snapshot) CacheRatioOf(model string) float64 { return lookupOr(s.CacheRatio, model, 1) }

// CreateCacheRatioOf returns the model's cache-write ratio: the configured one, else 1.25 for Claude models
// (Anthropic's published 5-minute cache-write premium), else 1.
func (s *Snapshot) CreateCacheRatioOf(model string) float64 {
	if r, ok := lookup(s.CreateCacheRatio, model); ok {
		return r
	}
	if strings.Contains(model, "claude") {
		return 1.25
	}
	return 1
}

// GroupRatioOf returns the group's multiplier, or 1 for a group the operator has not priced.
func (s *Snapshot) GroupRatioOf(group string) float64 {
	if v, ok := s.GroupRatio[group]; ok {
		return v
	}
	return 1
}

// ModelPriceOf returns the model's fixed per-call price in USD, following the name fallbacks.
func (s *Snapshot) ModelPriceOf(model string) (float64, bool) { return lookup(s.ModelPrice, model) }

// Pricing is how a model is priced: either a fixed price per call or a ratio per token.
type Pricing struct {
	// UsePrice says Price applies instead of Ratio.
	UsePrice bool
	// Price is USD per call when UsePrice.
	Price float64
	// Ratio is the model ratio when not UsePrice.
	Ratio float64
}

// PricingOf finds how model is priced. Each candidate name (see lookup) is tried in turn and, for one name, a
// fixed price wins over a ratio; so the most specific name that is priced at all decides, and an operator's
// entry for a dated model is never overridden by a price set on its undated family.
func (s *Snapshot) PricingOf(model string) (Pricing, bool) {
	if p, ok := s.pricingAt(model); ok {
		return p, true
	}
	names, n := fallbacks(model)
	for _, name := range names[:n] {
		if p, ok := s.pricingAt(name); ok {
			return p, true
		}
	}
	return Pricing{}, false
}

func (s *Snapshot) pricingAt(name string) (Pricing, bool) {
	if v, ok := s.ModelPrice[name]; ok {
		return Pricing{UsePrice: true, Price: v}, true
	}
	if v, ok := s.ModelRatio[name]; ok {
		return Pricing{Ratio: v}, true
	}
	return Pricing{}, false
}

// lookup finds model in m: the exact name first; then, for a dated snapshot name such as gpt-4o-2024-08-06 or
// claude-3-5-haiku-20241022, its undated family; then the name without a leading "provider/" (OpenRouter and
// Gemini style: openai/gpt-4o, models/gemini-2.5-pro), exact and undated. Providers publish one price per
// family, so this keeps operators from listing every dated release. It runs per request, so it only re-slices
// the name and never allocates.
func lookup(m map[string]float64, model string) (float64, bool) {
	if v, ok := m[model]; ok {
		return v, true
	}
	names, n := fallbacks(model)
	for _, name := range names[:n] {
		if v, ok := m[name]; ok {
			return v, true
		}
	}
	return 0, false
}

func lookupOr(m map[string]float64, model string, def float64) float64 {
	if v, ok := lookup(m, model); ok {
		return v
	}
	return def
}

// fallbacks returns the names to try after the exact one, most specific first. The array is returned by value
// so nothing escapes to the heap.
func fallbacks(model string) (names [3]string, n int) {
	if base, ok := trimDateSuffix(model); ok {
		names[n] = base
		n++
	}
	if i := strings.IndexByte(model, '/'); i >= 0 && i+1 < len(model) {
		bare := model[i+1:]
		names[n] = bare
		n++
		if base, ok := trimDateSuffix(bare); ok {
			names[n] = base
			n++
		}
	}
	return names, n
}

// trimDateSuffix removes a trailing release date, "-2024-08-06" (OpenAI) or "-20241022" (Anthropic), and reports
// whether there was one. The date must look like a real 20xx calendar date so that version numbers such as
// "-12345678" are left alone.
func trimDateSuffix(s string) (string, bool) {
	n := len(s)
	if n > 11 && s[n-11] == '-' && s[n-6] == '-' && s[n-3] == '-' && isDate(s[n-10:n-6], s[n-5:n-3], s[n-2:]) {
		return s[:n-11], true
	}
	if n > 9 && s[n-9] == '-' && isDate(s[n-8:n-4], s[n-4:n-2], s[n-2:]) {
		return s[:n-9], true
	}
	return s, false
}

func isDate(year, month, day string) bool {
	if !allDigits(year) || !allDigits(month) || !allDigits(day) || year[:2] != "20" {
		return false
	}
	m := int(month[0]-'0')*10 + int(month[1]-'0')
	d := int(day[0]-'0')*10 + int(day[1]-'0')
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
