package helper

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// usePrices installs a small, known price table (and the default operation rules, possibly changed) for one
// test, and puts the compiled-in defaults back afterwards.
func usePrices(t testing.TB, change func(*operation_setting.Operation)) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ratio_setting.SetModelRatio(`{"gpt-4o": 1.25, "gpt-4o-mini": 0.075, "cheap": 0.0001, "free-model": 0,
		"claude-3-5-haiku": 0.4, "quarter": 0.25}`))
	must(ratio_setting.SetCompletionRatio(`{"gpt-4o": 4, "gpt-4o-mini": 4, "claude-3-5-haiku": 5}`))
	must(ratio_setting.SetCacheRatio(`{"gpt-4o": 0.5, "claude-3-5-haiku": 0.1}`))
	must(ratio_setting.SetGroupRatio(`{"default": 1, "vip": 0.8, "seventy": 0.7, "free-group": 0}`))
	must(ratio_setting.SetModelPrice(`{"dall-e-3": 0.04, "free-image": 0, "micro": 0.0000001}`))
	op := operation_setting.Default()
	if change != nil {
		change(&op)
	}
	must(operation_setting.Set(op))
	t.Cleanup(func() {
		d := ratio_setting.Defaults()
		must(ratio_setting.SetModelRatio(ratio_setting.EncodeRatioMap(d.ModelRatio)))
		must(ratio_setting.SetCompletionRatio(ratio_setting.EncodeRatioMap(d.CompletionRatio)))
		must(ratio_setting.SetCacheRatio(ratio_setting.EncodeRatioMap(d.CacheRatio)))
		must(ratio_setting.SetGroupRatio(ratio_setting.EncodeRatioMap(d.GroupRatio)))
		must(ratio_setting.SetModelPrice(ratio_setting.EncodeRatioMap(d.ModelPrice)))
		must(operation_setting.Set(operation_setting.Default()))
	})
}

// TestQuota covers each billing rule of CONTRACT.md ("Billing (quota)").
func TestQuota(t *testing.T) {
	usePrices(t, nil)
	tests := []struct {
		name         string
		model, group string
		usage        Usage
		want         int64
	}{
		// 1000 tokens at ratio 1 cost 1000 quota, so at 1.25 they cost 1250.
		{"plain ratio", "gpt-4o", "default", Usage{PromptTokens: 1000}, 1250},
		{"completion ratio", "gpt-4o", "default", Usage{PromptTokens: 1000, CompletionTokens: 500}, (1000 + 500*4) * 1.25},
		{"cache ratio", "gpt-4o", "default", Usage{PromptTokens: 1000, CachedTokens: 400}, (600 + 400*0.5) * 1.25},
		{"cache and completion", "claude-3-5-haiku", "default",
			Usage{PromptTokens: 10000, CachedTokens: 8000, CompletionTokens: 1000}, (2000 + 8000*0.1 + 1000*5) * 0.4},
		{"no cache ratio: cached tokens bill as input", "gpt-4o-mini", "default",
			Usage{PromptTokens: 1000, CachedTokens: 1000}, 75},
		{"group ratio", "gpt-4o", "vip", Usage{PromptTokens: 1000, CompletionTokens: 500}, 3750 * 0.8},
		{"unknown group bills at 1", "gpt-4o", "nobody", Usage{PromptTokens: 1000}, 1250},
		{"fixed price with group ratio", "dall-e-3", "vip", Usage{PromptTokens: 5000, CompletionTokens: 5000},
			0.04 * 500000 * 0.8},
		{"minimum charge of 1", "cheap", "default", Usage{PromptTokens: 3, CompletionTokens: 2}, 1},
		{"minimum charge on an empty usage", "gpt-4o", "default", Usage{}, 1},
		{"minimum charge on a tiny fixed price", "micro", "default", Usage{}, 1},
		{"free model", "free-model", "default", Usage{PromptTokens: 100000, CompletionTokens: 100000}, 0},
		{"free fixed-price model", "free-image", "default", Usage{}, 0},
		{"free group", "gpt-4o", "free-group", Usage{PromptTokens: 1000}, 0},
		// 10 × 0.25 = 2.5 exactly → 3.
		{"half rounds up", "quarter", "default", Usage{PromptTokens: 10}, 3},
		{"below half rounds down", "gpt-4o-mini", "default", Usage{PromptTokens: 30}, 2}, // 2.25
		// 600 × 0.075 × 0.7 is exactly 31.5 but float64 gives 31.499999999999996; it must still round up.
		{"half up despite float noise", "gpt-4o-mini", "seventy", Usage{PromptTokens: 600}, 32},
		{"date-suffixed name falls back", "gpt-4o-2024-08-06", "default", Usage{PromptTokens: 1000, CompletionTokens: 1000}, 6250},
		{"compact date suffix falls back", "claude-3-5-haiku-20241022", "default", Usage{PromptTokens: 1000, CompletionTokens: 100}, 600},
		{"provider prefix falls back", "openai/gpt-4o", "default", Usage{PromptTokens: 1000}, 1250},
		{"cached above prompt is clamped", "gpt-4o", "default", Usage{PromptTokens: 1000, CachedTokens: 5000}, 625},
		{"negative counts are clamped", "gpt-4o", "default", Usage{PromptTokens: -5, CompletionTokens: -5, CachedTokens: -5}, 1},
		{"negative cached counts as none", "gpt-4o", "default", Usage{PromptTokens: 1000, CachedTokens: -400}, 1250},
		// Claude's cache writes cost 1.25× input by default: 1000 fresh + 2000 written (×1.25) + 7000 read
		// (×0.1) + 100 out (×5), at ratio 0.4.
		{"cache write priced with the create-cache ratio", "claude-3-5-haiku", "default",
			Usage{PromptTokens: 10000, CachedTokens: 7000, CacheWriteTokens: 2000, CompletionTokens: 100},
			(1000 + 2000*1.25 + 7000*0.1 + 100*5) * 0.4},
		// Without a configured or Claude default, writes bill as plain input.
		{"cache write on a non-Claude model bills as input", "gpt-4o", "default",
			Usage{PromptTokens: 1000, CacheWriteTokens: 1000}, 1250},
		{"cache write above what is left is clamped", "claude-3-5-haiku", "default",
			Usage{PromptTokens: 1000, CachedTokens: 800, CacheWriteTokens: 5000}, (800*0.1 + 200*1.25) * 0.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ModelPriceHelper(tt.model, tt.group)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Quota(tt.usage); got != tt.want {
				t.Errorf("Quota(%+v) = %d, want %d (price data %+v)", tt.usage, got, tt.want, p)
			}
		})
	}
}

func TestPerCallQuota(t *testing.T) {
	usePrices(t, nil)
	p, err := ModelPriceHelper("dall-e-3", "vip")
	if err != nil {
		t.Fatal(err)
	}
	if !p.UsePrice || p.ModelPrice != 0.04 || p.Free {
		t.Fatalf("price data %+v", p)
	}
	for n, want := range map[int]int64{-1: 16000, 0: 16000, 1: 16000, 4: 64000} {
		if got := p.PerCallQuota(n); got != want {
			t.Errorf("PerCallQuota(%d) = %d, want %d", n, got, want)
		}
	}
	if got := p.Estimate(100000, 100000); got != 16000 {
		t.Errorf("Estimate of a fixed-price call = %d, want the per-call price 16000", got)
	}
}

func TestEstimate(t *testing.T) {
	usePrices(t, func(o *operation_setting.Operation) { o.PreConsumeCompletionTokens = 512 })
	p, err := ModelPriceHelper("gpt-4o", "vip")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		prompt, maxCompletion int
		want                  int64
	}{
		{"prompt plus max_tokens", 1000, 500, 3000},             // (1000 + 500×4) × 1.25 × 0.8
		{"no max_tokens reserves the allowance", 1000, 0, 3048}, // (1000 + 512×4) × 1.25 × 0.8
		{"negative max_tokens reserves the allowance", 1000, -1, 3048},
		{"negative prompt is clamped", -10, 500, 2000},
		{"empty prompt still reserves the allowance", 0, 0, 2048},
	}
	for _, tt := range tests {
		if got := p.Estimate(tt.prompt, tt.maxCompletion); got != tt.want {
			t.Errorf("%s: Estimate(%d, %d) = %d, want %d", tt.name, tt.prompt, tt.maxCompletion, got, tt.want)
		}
	}
	// The reservation never takes the cache discount: the cache hit is not known before the call.
	if est, final := p.Estimate(1000, 500), p.Quota(Usage{PromptTokens: 1000, CachedTokens: 1000, CompletionTokens: 500}); est <= final {
		t.Errorf("Estimate %d is not above a fully cached final charge %d", est, final)
	}
	usePrices(t, func(o *operation_setting.Operation) { o.PreConsumeCompletionTokens = 0 })
	p, _ = ModelPriceHelper("cheap", "default")
	if got := p.Estimate(0, 0); got != 1 {
		t.Errorf("Estimate on a paid model = %d, want the minimum charge 1", got)
	}
}

func TestUnpricedModel(t *testing.T) {
	usePrices(t, nil)
	_, err := ModelPriceHelper("gpt-x", "default")
	if !errors.Is(err, ErrModelNotPriced) {
		t.Fatalf("ModelPriceHelper(unpriced) = %v, want ErrModelNotPriced", err)
	}
	if want := "model gpt-x has no price or ratio configured"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestUnpricedModelInSelfUseMode(t *testing.T) {
	usePrices(t, func(o *operation_setting.Operation) { o.SelfUseModeEnabled = true })
	p, err := ModelPriceHelper("my-local-llama", "vip")
	if err != nil {
		t.Fatalf("self-use mode refused an unpriced model: %v", err)
	}
	if !p.Free || p.UsePrice || p.ModelRatio != 0 || p.ModelName != "my-local-llama" {
		t.Fatalf("price data %+v, want free with ratio 0", p)
	}
	if q := p.Quota(Usage{PromptTokens: 1e6, CompletionTokens: 1e6}); q != 0 {
		t.Errorf("Quota = %d, want 0", q)
	}
	if q := p.Estimate(1e6, 0); q != 0 {
		t.Errorf("Estimate = %d, want 0", q)
	}
	// Self-use mode does not make priced models free.
	if p, _ := ModelPriceHelper("gpt-4o", "default"); p.Free || p.Quota(Usage{PromptTokens: 1000}) != 1250 {
		t.Errorf("a priced model in self-use mode: %+v", p)
	}
}

func TestPriceDataSnapshotsSettings(t *testing.T) {
	usePrices(t, func(o *operation_setting.Operation) { o.QuotaPerUnit = 1000 })
	p, err := ModelPriceHelper("dall-e-3", "default")
	if err != nil {
		t.Fatal(err)
	}
	if p.QuotaPerUnit != 1000 || p.PerCallQuota(1) != 40 {
		t.Fatalf("QuotaPerUnit not taken from the settings: %+v", p)
	}
	// A change after pricing must not change this request's bill.
	if err := ratio_setting.SetModelPrice(`{"dall-e-3": 1}`); err != nil {
		t.Fatal(err)
	}
	if p.PerCallQuota(1) != 40 {
		t.Error("a settings change repriced a request already priced")
	}
}

func TestRoundHalfUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want int64
	}{
		{0, 0},
		{-3, 0},
		{math.NaN(), 0},
		{0.4, 0},
		{0.5, 1},
		{1.5, 2},
		{2.5, 3},
		{2.4999999999999996, 3}, // the float image of an exact 2.5
		{2.4999999999, 3},       // still float noise of a half at this scale
		{2.4999, 2},             // a real value below a half
		{2.9999999999999996, 3},
		{3.0000000000000004, 3},
		{1e9 + 0.4999999999, 1e9 + 1}, // relative tolerance at large amounts
		{1e9 + 0.4, 1e9},
		{math.Inf(1), math.MaxInt64},
		{1e30, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := roundHalfUp(tt.in); got != tt.want {
			t.Errorf("roundHalfUp(%.17g) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestQuotaMatchesExactDecimal prices many random requests with decimal ratios and compares Quota with the same
// formula computed exactly in rational arithmetic, rounding half up. The ratios have few decimals, so every exact
// result is a multiple of 1e-6 and no genuine value falls inside the float-noise tolerance of a half.
func TestQuotaMatchesExactDecimal(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	decimal := func(maxUnits, scale int) (float64, *big.Rat) {
		s := strconv.FormatFloat(float64(rng.IntN(maxUnits))/float64(scale), 'f', -1, 64)
		f, _ := strconv.ParseFloat(s, 64)
		r, _ := new(big.Rat).SetString(s)
		return f, r
	}
	for i := range 50000 {
		mr, mrR := decimal(4000, 1000) // model ratio 0.000–3.999
		cr, crR := decimal(1000, 100)  // completion ratio 0.00–9.99
		ca, caR := decimal(100, 100)   // cache ratio 0.00–0.99
		gr, grR := decimal(20, 10)     // group ratio 0.0–1.9
		prompt, cached, completion := rng.IntN(20000), 0, rng.IntN(4000)
		if prompt > 0 {
			cached = rng.IntN(prompt + 1)
		}
		p := PriceData{ModelRatio: mr, CompletionRatio: cr, CacheRatio: ca, GroupRatio: gr, Free: mr == 0 || gr == 0}
		got := p.Quota(Usage{PromptTokens: prompt, CachedTokens: cached, CompletionTokens: completion})

		exact := new(big.Rat).SetInt64(int64(prompt - cached))
		exact.Add(exact, new(big.Rat).Mul(big.NewRat(int64(cached), 1), caR))
		exact.Add(exact, new(big.Rat).Mul(big.NewRat(int64(completion), 1), crR))
		exact.Mul(exact, mrR)
		exact.Mul(exact, grR)
		exact.Add(exact, big.NewRat(1, 2))
		want := new(big.Int).Quo(exact.Num(), exact.Denom()).Int64() // floor(x + 1/2), x ≥ 0
		if want < 1 && !p.Free {
			want = 1
		}
		if got != want {
			t.Fatalf("case %d: %+v prompt %d cached %d completion %d: Quota %d, exact %d",
				i, p, prompt, cached, completion, got, want)
		}
	}
}

func TestModelPriceHelperDoesNotAllocate(t *testing.T) {
	usePrices(t, nil)
	for _, model := range []string{"gpt-4o", "gpt-4o-2024-08-06", "openai/gpt-4o", "dall-e-3"} {
		allocs := testing.AllocsPerRun(100, func() {
			p, _ := ModelPriceHelper(model, "vip")
			p.Quota(Usage{PromptTokens: 100, CompletionTokens: 10})
			p.Estimate(100, 0)
		})
		if allocs != 0 {
			t.Errorf("pricing %q allocates %v times per request, want 0", model, allocs)
		}
	}
}

// benchSink keeps the compiler from discarding the benchmarked work.
var benchSink int64

func BenchmarkModelPriceHelper(b *testing.B) {
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4-5-20250929", "openai/gpt-4o-2024-08-06"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := ModelPriceHelper(model, "default")
				if err != nil {
					b.Fatal(err)
				}
				benchSink += p.Quota(Usage{PromptTokens: 1200, CompletionTokens: 300, CachedTokens: 1024})
			}
		})
	}
}
