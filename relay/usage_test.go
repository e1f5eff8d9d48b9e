package relay

import (
	"strconv"
	"testing"

	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/relayerr"
)

// The hand-written log detail must be exactly what encoding/json makes of
// the same map (the media path still uses the map), for every branch and
// for floats and strings that need care.
func TestLogOtherMatchesTheMapEncoding(t *testing.T) {
	prices := []helper.PriceData{
		{ModelRatio: 1.25, CompletionRatio: 4, CacheRatio: 0.5, CreateCacheRatio: 1.25, GroupRatio: 1},
		{UsePrice: true, ModelPrice: 0.04, ModelRatio: 0, CompletionRatio: 1, CacheRatio: 1, CreateCacheRatio: 1, GroupRatio: 0.8},
		{ModelRatio: 1e-7, CompletionRatio: 3e21, CacheRatio: 0.1 + 0.2, CreateCacheRatio: 1, GroupRatio: 0},
	}
	outs := []*outcome{
		{info: &relaycommon.RelayInfo{UpstreamModel: "gpt-4o"}, usage: relaycommon.Usage{CachedTokens: 3, CacheWriteTokens: 4, ReasoningTokens: 5}},
		{info: &relaycommon.RelayInfo{UpstreamModel: `we<ird> "model" & \ ünïcode`}, estimated: true,
			streamErr: relayerr.New(relayerr.KindUpstream, "cut \n mid-way <b>")},
	}
	for i, p := range prices {
		for j, out := range outs {
			for _, unpaid := range []int64{0, 7} {
				got := logOther(p, out, 123, unpaid)
				want := logOtherMap(p, out, 123, unpaid)
				if got != want {
					t.Errorf("price %d outcome %d unpaid %d:\n got %s\nwant %s", i, j, unpaid, got, want)
				}
			}
		}
	}
}

// The log's pricing summary reads as operators and scripts know it: each
// ratio as its shortest decimal, never in exponent form.
func TestLogContentSpellsEachRatio(t *testing.T) {
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, p := range []helper.PriceData{
		{ModelRatio: 1.25, CompletionRatio: 4, CacheRatio: 0.5, GroupRatio: 1},
		{ModelRatio: 1e-7, CompletionRatio: 3e21, CacheRatio: 0.1 + 0.2, GroupRatio: 0},
		{ModelRatio: 123456.789, CompletionRatio: 1.0 / 3, CacheRatio: 1e300, GroupRatio: 2.5e-300},
		{UsePrice: true, ModelPrice: 0.04, GroupRatio: 0.8},
		{UsePrice: true, ModelPrice: 1e22, GroupRatio: 1.0 / 3},
	} {
		want := "model ratio " + ff(p.ModelRatio) + ", completion ratio " + ff(p.CompletionRatio) +
			", cache ratio " + ff(p.CacheRatio) + ", group ratio " + ff(p.GroupRatio)
		if p.UsePrice {
			want = "model price " + ff(p.ModelPrice) + ", group ratio " + ff(p.GroupRatio)
		}
		if got := logContent(p); got != want {
			t.Errorf("logContent(%+v)\n got %q\nwant %q", p, got, want)
		}
	}
	if got := logContent(helper.PriceData{ModelRatio: 2.5, CompletionRatio: 4, CacheRatio: 0.1, GroupRatio: 1}); got !=
		"model ratio 2.5, completion ratio 4, cache ratio 0.1, group ratio 1" {
		t.Errorf("logContent = %q", got)
	}
}

func BenchmarkLogContent(b *testing.B) {
	p := helper.PriceData{ModelRatio: 1.25, CompletionRatio: 4, CacheRatio: 0.5, GroupRatio: 1}
	b.ReportAllocs()
	for b.Loop() {
		_ = logContent(p)
	}
}

func BenchmarkLogOther(b *testing.B) {
	p := helper.PriceData{ModelRatio: 1.25, CompletionRatio: 4, CacheRatio: 0.5, CreateCacheRatio: 1.25, GroupRatio: 1}
	out := &outcome{info: &relaycommon.RelayInfo{UpstreamModel: "gpt-4o"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = logOther(p, out, 1234, 0)
	}
}
