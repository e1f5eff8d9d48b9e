package ratio_setting

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

// restoreDefaults puts the compiled-in tables back after a test that changes the global snapshot.
func restoreDefaults(t testing.TB) {
	t.Cleanup(func() {
		publish(func(s *Snapshot) {
			v := s.version
			*s = *defaults
			s.version = v
		})
		SetExposeRatioEnabled(false)
	})
}

func testSnapshot() *Snapshot {
	return &Snapshot{
		ModelRatio: map[string]float64{
			"gpt-4o":            1.25,
			"gpt-4o-2024-05-13": 2.5,
			"claude-3-5-haiku":  0.4,
			"openai/special":    9,
			"free-model":        0,
		},
		CompletionRatio: map[string]float64{"gpt-4o": 4, "claude-3-5-haiku": 5},
		CacheRatio:      map[string]float64{"gpt-4o": 0.5},
		GroupRatio:      map[string]float64{"default": 1, "vip": 0.8},
		ModelPrice:      map[string]float64{"dall-e-3": 0.04, "gpt-4o-2024-11-20": 0.1},
	}
}

func TestModelLookups(t *testing.T) {
	t.Parallel()
	s := testSnapshot()
	tests := []struct {
		name      string
		model     string
		wantRatio float64
		wantOK    bool
	}{
		{"exact", "gpt-4o", 1.25, true},
		{"exact dated entry wins over its family", "gpt-4o-2024-05-13", 2.5, true},
		{"dashed date suffix falls back", "gpt-4o-2024-08-06", 1.25, true},
		{"compact date suffix falls back", "claude-3-5-haiku-20241022", 0.4, true},
		{"provider prefix stripped", "openai/gpt-4o", 1.25, true},
		{"provider prefix and date stripped", "openai/gpt-4o-2024-08-06", 1.25, true},
		{"exact name with a slash is found before stripping", "openai/special", 9, true},
		{"Gemini style models/ prefix", "models/claude-3-5-haiku", 0.4, true},
		// Not a calendar date, so it is part of the name, not a release suffix.
		{"month 13 is not a date", "gpt-4o-20241322", 0, false},
		{"year 19xx is not a release date", "gpt-4o-19990101", 0, false},
		{"short numeric suffix is kept", "gpt-4o-0613", 0, false},
		{"suffix alone is not a name", "-20240806", 0, false},
		{"unknown", "nope", 0, false},
		{"empty", "", 0, false},
		{"trailing slash", "openai/", 0, false},
		{"free model is found with ratio 0", "free-model", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := s.ModelRatioOf(tt.model)
			if got != tt.wantRatio || ok != tt.wantOK {
				t.Errorf("ModelRatioOf(%q) = %v, %v; want %v, %v", tt.model, got, ok, tt.wantRatio, tt.wantOK)
			}
		})
	}
}

func TestRatiosWithDefaults(t *testing.T) {
	t.Parallel()
	s := testSnapshot()
	if got := s.CompletionRatioOf("claude-3-5-haiku-20241022"); got != 5 {
		t.Errorf("CompletionRatioOf(dated haiku) = %v, want 5", got)
	}
	if got := s.CompletionRatioOf("unknown"); got != 1 {
		t.Errorf("CompletionRatioOf(unknown) = %v, want 1", got)
	}
	if got := s.CacheRatioOf("openai/gpt-4o"); got != 0.5 {
		t.Errorf("CacheRatioOf(openai/gpt-4o) = %v, want 0.5", got)
	}
	if got := s.CacheRatioOf("claude-3-5-haiku"); got != 1 {
		t.Errorf("CacheRatioOf(no cache entry) = %v, want 1 (cached tokens billed as normal)", got)
	}
	if got := s.GroupRatioOf("vip"); got != 0.8 {
		t.Errorf("GroupRatioOf(vip) = %v, want 0.8", got)
	}
	if got := s.GroupRatioOf("nobody"); got != 1 {
		t.Errorf("GroupRatioOf(nobody) = %v, want 1", got)
	}
	if got, ok := s.ModelPriceOf("openai/dall-e-3"); got != 0.04 || !ok {
		t.Errorf("ModelPriceOf(openai/dall-e-3) = %v, %v; want 0.04, true", got, ok)
	}
}

func TestPricingOf(t *testing.T) {
	t.Parallel()
	s := testSnapshot()
	tests := []struct {
		model string
		want  Pricing
		ok    bool
	}{
		{"gpt-4o", Pricing{Ratio: 1.25}, true},
		{"dall-e-3", Pricing{UsePrice: true, Price: 0.04}, true},
		// The dated name has its own price; it beats the family's ratio because it is more specific.
		{"gpt-4o-2024-11-20", Pricing{UsePrice: true, Price: 0.1}, true},
		// The dated name has no entry of its own, so the family's ratio applies.
		{"gpt-4o-2024-08-06", Pricing{Ratio: 1.25}, true},
		{"nope", Pricing{}, false},
	}
	for _, tt := range tests {
		got, ok := s.PricingOf(tt.model)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PricingOf(%q) = %+v, %v; want %+v, %v", tt.model, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	s := testSnapshot()
	for _, model := range []string{"gpt-4o", "gpt-4o-2024-08-06", "openai/gpt-4o-2024-08-06", "unknown/model"} {
		allocs := testing.AllocsPerRun(100, func() {
			s.ModelRatioOf(model)
			s.CompletionRatioOf(model)
			s.CacheRatioOf(model)
			s.PricingOf(model)
		})
		if allocs != 0 {
			t.Errorf("lookups of %q allocate %v times per run, want 0", model, allocs)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	d := Defaults()
	required := []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano",
		"o1", "o3", "o3-mini", "o4-mini", "gpt-3.5-turbo", "gpt-4-turbo", "text-embedding-3-small",
		"text-embedding-3-large", "text-embedding-ada-002", "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4",
		"claude-sonnet-4-5", "claude-3-5-haiku", "claude-haiku-4-5", "gemini-2.5-pro", "gemini-2.5-flash",
		"gemini-2.0-flash", "deepseek-chat", "deepseek-reasoner", "grok-4", "grok-3-mini", "mistral-large-latest",
		"mistral-small-latest",
		// Real dated API names resolve through the fallback.
		"claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14",
	}
	for _, m := range required {
		if r, ok := d.ModelRatioOf(m); !ok || r <= 0 {
			t.Errorf("default ModelRatio for %q = %v, %v; want a positive ratio", m, r, ok)
		}
	}
	// Spot checks against the published prices, in ratio units ($X per 1M input = ratio X/2).
	checks := []struct {
		model                    string
		ratio, completion, cache float64
	}{
		{"gpt-4o", 1.25, 4, 0.5},
		{"gpt-4o-mini", 0.075, 4, 0.5}, // 0.60/0.15 must come out as exactly 4, not 3.9999999999999996
		{"gpt-5", 0.625, 8, 0.1},
		{"claude-sonnet-4-5-20250929", 1.5, 5, 0.1},
		{"gemini-2.5-flash", 0.15, 8.33333333333, 0.1},
		{"text-embedding-3-small", 0.01, 1, 1},
		{"omni-moderation-latest", 0, 1, 1},
	}
	for _, c := range checks {
		r, _ := d.ModelRatioOf(c.model)
		if r != c.ratio || d.CompletionRatioOf(c.model) != c.completion || d.CacheRatioOf(c.model) != c.cache {
			t.Errorf("%s: ratio %v completion %v cache %v; want %v %v %v", c.model, r,
				d.CompletionRatioOf(c.model), d.CacheRatioOf(c.model), c.ratio, c.completion, c.cache)
		}
	}
	for name, m := range map[string]map[string]float64{
		"ModelRatio": d.ModelRatio, "CompletionRatio": d.CompletionRatio, "CacheRatio": d.CacheRatio,
		"GroupRatio": d.GroupRatio, "ModelPrice": d.ModelPrice,
	} {
		back, err := ParseRatioMap(EncodeRatioMap(m))
		if err != nil {
			t.Fatalf("default %s does not parse back: %v", name, err)
		}
		if len(back) != len(m) {
			t.Fatalf("default %s: %d entries, %d after a round trip", name, len(m), len(back))
		}
		for k, v := range m {
			if back[k] != v {
				t.Errorf("default %s[%q] = %v, %v after a round trip", name, k, v, back[k])
			}
		}
	}
	if p, ok := d.ModelPriceOf("gpt-image-1"); !ok || p != 0.04 {
		t.Errorf("default price for gpt-image-1 = %v, %v", p, ok)
	}
	if d.GroupRatioOf("default") != 1 || d.GroupRatioOf("vip") != 1 || d.GroupRatioOf("svip") != 1 {
		t.Errorf("default group ratios = %v", d.GroupRatio)
	}
}

func TestParseRatioMap(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want map[string]float64
	}{
		{`{}`, map[string]float64{}},
		{` {"gpt-4o": 1.25, "b": 0, "c": 1e2, "d": 0.0375} `, map[string]float64{"gpt-4o": 1.25, "b": 0, "c": 100, "d": 0.0375}},
		{`{"neg-zero": -0}`, map[string]float64{"neg-zero": 0}},
		{`{"openai/gpt-4o": 3}`, map[string]float64{"openai/gpt-4o": 3}},
	}
	for _, g := range good {
		got, err := ParseRatioMap(g.in)
		if err != nil {
			t.Errorf("ParseRatioMap(%s): %v", g.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(g.want) {
			t.Errorf("ParseRatioMap(%s) = %v, want %v", g.in, got, g.want)
		}
	}
	bad := []struct {
		in, wantInErr string
	}{
		{``, "empty value"},
		{`   `, "empty value"},
		{`null`, "got null"},
		{`[1,2]`, "got an array"},
		{`1.5`, "want a JSON object"},
		{`"x"`, "want a JSON object"},
		{`{"gpt-4o": -1}`, `"gpt-4o": must not be negative`},
		{`{"a": 1, "gpt-4o": "1.5"}`, `"gpt-4o": want a number, got the string "1.5"`},
		{`{"gpt-4o": true}`, `"gpt-4o": want a number, got a boolean`},
		{`{"gpt-4o": null}`, `"gpt-4o": want a number, got null`},
		{`{"gpt-4o": {"x": 1}}`, `"gpt-4o": want a number, got an object`},
		{`{"gpt-4o": [1]}`, `"gpt-4o": want a number, got an array`},
		{`{"gpt-4o": 1e999}`, `"gpt-4o": 1e999 is not a finite number`},
		{`{"gpt-4o": NaN}`, "invalid"},
		{`{"gpt-4o": Infinity}`, "invalid"},
		{`{"gpt-4o": 1, "gpt-4o": 2}`, `"gpt-4o" appears twice`},
		{`{"": 1}`, "empty key"},
		{`{" gpt-4o": 1}`, "leading or trailing spaces"},
		{`{"gpt-4o": 1,}`, "invalid JSON"},
		{`{"gpt-4o" 1}`, "invalid JSON"},
		{`{"gpt-4o": 1`, "invalid JSON"},
		{`{"gpt-4o": 1} {}`, "unexpected data after the object"},
		{`{"gpt-4o": 1} x`, "invalid JSON"},
		{`{1: 2}`, "invalid JSON"},
	}
	for _, b := range bad {
		_, err := ParseRatioMap(b.in)
		if err == nil {
			t.Errorf("ParseRatioMap(%s) accepted", b.in)
			continue
		}
		if !strings.Contains(err.Error(), b.wantInErr) {
			t.Errorf("ParseRatioMap(%s) = %q, want it to contain %q", b.in, err, b.wantInErr)
		}
	}
}

func TestSettersChangeNothingOnError(t *testing.T) {
	restoreDefaults(t)
	setters := map[string]func(string) error{
		"ModelRatio": SetModelRatio, "CompletionRatio": SetCompletionRatio, "CacheRatio": SetCacheRatio,
		"GroupRatio": SetGroupRatio, "ModelPrice": SetModelPrice,
	}
	for name, set := range setters {
		before := Current()
		if err := set(`{"ok": 1, "bad": -1}`); err == nil {
			t.Fatalf("%s accepted a negative value", name)
		}
		if Current() != before {
			t.Errorf("%s: a rejected value published a new snapshot", name)
		}
		if err := set(`{"x": 2}`); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if Current().Version() != before.Version()+1 || Version() != before.Version()+1 {
			t.Errorf("%s: version %d after one change from %d", name, Version(), before.Version())
		}
	}
	s := Current()
	for name, m := range map[string]map[string]float64{
		"ModelRatio": s.ModelRatio, "CompletionRatio": s.CompletionRatio, "CacheRatio": s.CacheRatio,
		"GroupRatio": s.GroupRatio, "ModelPrice": s.ModelPrice,
	} {
		if len(m) != 1 || m["x"] != 2 {
			t.Errorf("%s = %v, want {x: 2}", name, m)
		}
	}
	if got := ModelRatioJSON() + CompletionRatioJSON() + CacheRatioJSON() + GroupRatioJSON() + ModelPriceJSON(); got != strings.Repeat(`{"x":2}`, 5) {
		t.Errorf("JSON exports = %s", got)
	}
}

func TestExposeRatio(t *testing.T) {
	restoreDefaults(t)
	if ExposeRatioEnabled() {
		t.Fatal("ratio exposure is on by default")
	}
	SetExposeRatioEnabled(true)
	if !ExposeRatioEnabled() {
		t.Fatal("SetExposeRatioEnabled(true) did not stick")
	}
}

// TestConcurrentSwaps runs readers against writers of two different maps (run it with -race). Readers must see
// each published map whole; and since both writers build on the latest snapshot, neither may lose the other's
// change.
func TestConcurrentSwaps(t *testing.T) {
	restoreDefaults(t)
	const writes = 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var lastVersion uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := Current()
				if s.Version() < lastVersion {
					t.Errorf("version went back from %d to %d", lastVersion, s.Version())
					return
				}
				lastVersion = s.Version()
				a, _ := s.ModelRatioOf("a")
				b, _ := s.ModelRatioOf("b")
				if a != b {
					t.Errorf("half-published ModelRatio: a=%v b=%v", a, b)
					return
				}
				if c := s.CompletionRatioOf("a"); c != s.CompletionRatioOf("b") {
					t.Errorf("half-published CompletionRatio")
					return
				}
			}
		}()
	}
	start := Version()
	for _, set := range []func(string) error{SetModelRatio, SetCompletionRatio} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= writes; i++ {
				if err := set(fmt.Sprintf(`{"a": %d, "b": %d}`, i, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	s := Current()
	if r, _ := s.ModelRatioOf("a"); r != writes || s.CompletionRatioOf("a") != writes {
		t.Errorf("lost update: ModelRatio a=%v CompletionRatio a=%v, want both %d", r, s.CompletionRatioOf("a"), writes)
	}
	if got := Version() - start; got != 2*writes {
		t.Errorf("version grew by %d over %d swaps", got, 2*writes)
	}
}

func FuzzParseRatioMap(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1}`, `{"a":-1}`, `{"a":"1"}`, `{"a":1,"a":2}`, `[1]`, `{"a":1e400}`, `{"a":{"b":1}}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseRatioMap(in)
		if err != nil {
			return
		}
		for k, v := range m {
			if k == "" || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted %q: %q = %v", in, k, v)
			}
		}
		back, err := ParseRatioMap(EncodeRatioMap(m))
		if err != nil || len(back) != len(m) {
			t.Fatalf("round trip of %q failed: %v", in, err)
		}
		for k, v := range m {
			if back[k] != v {
				t.Fatalf("round trip of %q changed %q: %v → %v", in, k, v, back[k])
			}
		}
	})
}

func BenchmarkPricingOf(b *testing.B) {
	s := Defaults()
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4-5-20250929", "openai/gpt-4o-2024-08-06"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.PricingOf(model)
				s.CompletionRatioOf(model)
				s.CacheRatioOf(model)
			}
		})
	}
}
