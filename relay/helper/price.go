// Package helper holds small, HTTP-free pieces of the relay; price.go prices one request.
package helper

import (
	"errors"
	"math"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// ErrModelNotPriced is matched (errors.Is) by the error ModelPriceHelper returns for a model with neither a ratio
// nor a price: serving it would bill nothing, so it is refused unless the operator runs in self-use mode.
var ErrModelNotPriced = errors.New("model has no price or ratio configured")

// notPricedError names the model, since the client sees the message (400) and must learn which name to fix.
type notPricedError struct{ model string }

// Error names the model, without quotes, as the contract shows it.
func (e *notPricedError) Error() string {
	return "model " + e.model + " has no price or ratio configured"
}

// Unwrap lets callers match the sentinel with errors.Is.
func (e *notPricedError) Unwrap() error { return ErrModelNotPriced }

// PriceData is how one request is priced; built once per request.
type PriceData struct {
	// ModelName is the model name the request was priced by.
	ModelName string
	// UsePrice says the model costs a fixed ModelPrice per call (per image) instead of ratios per token.
	UsePrice bool
	// ModelPrice is USD per call (per image) when UsePrice.
	ModelPrice float64
	// ModelRatio is the input price in ratio units (1 = $0.002 per 1K tokens).
	ModelRatio float64
	// CompletionRatio is the output price relative to the input price.
	CompletionRatio float64
	// CacheRatio is the cached-input price relative to the input price.
	CacheRatio float64
	// CreateCacheRatio is the cache-write price relative to the input price.
	CreateCacheRatio float64
	// GroupRatio is the caller's group multiplier.
	GroupRatio float64
	// QuotaPerUnit is quota per USD at pricing time, so a change mid-request cannot split one bill in two units.
	QuotaPerUnit float64
	// CompletionAllowance is the completion tokens Estimate reserves when the request sets no max_tokens
	// (operation_setting PreConsumeCompletionTokens at pricing time).
	CompletionAllowance int
	// Free is set for ratio 0, price 0, group ratio 0 or an unpriced model in self-use mode: no minimum charge.
	Free bool
}

// Usage is what one request consumed, from the upstream's usage fields.
type Usage struct {
	// PromptTokens is every input token, cached ones included.
	PromptTokens int
	// CompletionTokens is every output token (reasoning included).
	CompletionTokens int
	// CachedTokens is the part of PromptTokens served from the provider's prompt cache.
	CachedTokens int
	// CacheWriteTokens is the part of PromptTokens written to the provider's prompt cache.
	CacheWriteTokens int
}

// ModelPriceHelper prices a request for model by a user of group from the current settings. It returns an error
// wrapping ErrModelNotPriced for a model with neither a price nor a ratio, unless self-use mode is on, in which
// case the model is free. It runs on every request and does not allocate on success.
func ModelPriceHelper(model, group string) (PriceData, error) {
	snap := ratio_setting.Current()
	op := operation_setting.Get()
	p := PriceData{
		ModelName:           model,
		CompletionRatio:     1,
		CacheRatio:          1,
		CreateCacheRatio:    1,
		GroupRatio:          snap.GroupRatioOf(group),
		QuotaPerUnit:        op.QuotaPerUnit,
		CompletionAllowance: op.PreConsumeCompletionTokens,
	}
	pricing, ok := snap.PricingOf(model)
	switch {
	case !ok && !op.SelfUseModeEnabled:
		return PriceData{}, &notPricedError{model: model}
	case !ok:
		p.Free = true // ModelRatio stays 0
	case pricing.UsePrice:
		p.UsePrice = true
		p.ModelPrice = pricing.Price
		p.Free = pricing.Price == 0
	default:
		p.ModelRatio = pricing.Ratio
		p.CompletionRatio = snap.CompletionRatioOf(model)
		p.CacheRatio = snap.CacheRatioOf(model)
		p.CreateCacheRatio = snap.CreateCacheRatioOf(model)
		p.Free = pricing.Ratio == 0
	}
	if p.GroupRatio == 0 {
		p.Free = true // the operator made the whole group free; charging 1 per call would contradict that
	}
	return p, nil
}

// Quota is the final charge for a request that consumed u:
// round((prompt − cached − cache_write + cached × cache_ratio + cache_write × create_cache_ratio
// + completion × completion_ratio) × model_ratio × group_ratio), half up, at least 1 unless Free. A fixed-price
// model costs PerCallQuota(1) whatever the tokens; callers billing n images use PerCallQuota(n).
func (p PriceData) Quota(u Usage) int64 {
	if p.UsePrice {
		return p.PerCallQuota(1)
	}
	prompt := max(u.PromptTokens, 0)
	cached := min(max(u.CachedTokens, 0), prompt) // a provider cannot have cached more than was sent
	written := min(max(u.CacheWriteTokens, 0), prompt-cached)
	completion := max(u.CompletionTokens, 0)
	tokens := float64(prompt-cached-written) + float64(cached)*p.CacheRatio + float64(written)*p.CreateCacheRatio +
		float64(completion)*p.CompletionRatio
	return p.atLeastOne(roundHalfUp(tokens * p.ModelRatio * p.GroupRatio))
}

// PerCallQuota is the charge for n calls (images) of a fixed-price model: price × QuotaPerUnit × group_ratio ×
// max(n, 1), rounded half up, at least 1 unless Free. n below 1 counts as one call, the least a request makes.
func (p PriceData) PerCallQuota(n int) int64 {
	x := p.ModelPrice * p.QuotaPerUnit * p.GroupRatio * float64(max(n, 1))
	return p.atLeastOne(roundHalfUp(x))
}

// Estimate is the reservation taken before the upstream call: the same formula as Quota for promptTokens plus
// maxCompletion completion tokens, without any cache discount (the cache hit is not known yet, and a reservation
// must not undershoot). maxCompletion ≤ 0 means the request set no max_tokens, and CompletionAllowance is used.
func (p PriceData) Estimate(promptTokens, maxCompletion int) int64 {
	if p.UsePrice {
		return p.PerCallQuota(1)
	}
	if maxCompletion <= 0 {
		maxCompletion = p.CompletionAllowance
	}
	tokens := float64(max(promptTokens, 0)) + float64(max(maxCompletion, 0))*p.CompletionRatio
	return p.atLeastOne(roundHalfUp(tokens * p.ModelRatio * p.GroupRatio))
}

// atLeastOne applies the minimum charge: a priced request is never free, however small, so nobody can
// drain a paid model in calls that each round down to nothing.
func (p PriceData) atLeastOne(q int64) int64 {
	if q < 1 && !p.Free {
		return 1
	}
	return q
}

// roundHalfUp rounds a non-negative amount to the nearest integer, halves up.
//
// Prices and token counts are decimals, but they are multiplied in binary floating point, so an exact decimal
// 2.5 can arrive as 2.4999999999999996 and an exact 3 as 2.9999999999999996. A value within a tiny tolerance
// below a half is therefore taken to be that half. The tolerance (1e-9 absolute, or 1e-13 relative for large
// amounts) is far above float64 noise (~1e-16 relative per operation) and far below any real price step, so the
// worst a genuine value that close to a half can suffer is one quota unit ($0.000002 at the default unit).
func roundHalfUp(x float64) int64 {
	if !(x > 0) { // also catches NaN, which validated settings cannot produce
		return 0
	}
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	whole := math.Floor(x)
	tol := max(1e-9, x*1e-13)
	if x-whole >= 0.5-tol {
		whole++
	}
	return int64(whole)
}
