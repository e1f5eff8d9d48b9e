package relay

import (
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

func BenchmarkLogOther(b *testing.B) {
	p := helper.PriceData{ModelRatio: 1.25, CompletionRatio: 4, CacheRatio: 0.5, CreateCacheRatio: 1.25, GroupRatio: 1}
	out := &outcome{info: &relaycommon.RelayInfo{UpstreamModel: "gpt-4o"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = logOther(p, out, 1234, 0)
	}
}
