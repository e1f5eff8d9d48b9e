package metrics

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves Handler once and parses the answer with Prometheus's own text parser.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return families
}

// value returns the value of the one series of family name whose labels include want, or fails.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := families[name]
	if !ok {
		t.Fatalf("family %s missing", name)
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("family %s has unexpected type %v", name, mf.GetType())
		}
	}
	t.Fatalf("no series of %s with labels %v", name, want)
	return 0
}

func TestScrapeShowsEveryFamilyAndHelperCalls(t *testing.T) {
	// Values are read as differences, so other tests in this package may run before or after this one.
	const mdl = "scrape-test-model"
	before := scrape(t)
	streamsBefore := value(t, before, "sluice_relay_streams_in_flight", nil)
	queueWas := value(t, before, "sluice_batch_queue_depth", nil)
	flushesBefore := value(t, before, "sluice_batch_flush_duration_seconds", nil)
	t.Cleanup(func() { SetQueueDepth(int(queueWas)) })

	ObserveRelay(mdl, 7, 200, 1500*time.Millisecond, 200*time.Millisecond, time.Second)
	ObserveRelay(mdl, 7, 200, time.Second, 0, 0) // nothing sent, no upstream: only the total is observed
	ObserveRelay(mdl, 9, 429, 10*time.Millisecond, 0, 5*time.Millisecond)
	AddTokens(mdl, 120, 30)
	AddTokens(mdl, -5, 0) // ignored
	AddQuota(mdl, 4500)
	AddQuota(mdl, -1) // ignored
	StreamStarted()
	StreamStarted()
	StreamEnded()
	defer StreamEnded()
	CacheHit("scrape-test")
	CacheHit("scrape-test")
	CacheMiss("scrape-test")
	SetQueueDepth(42)
	ObserveFlush(25 * time.Millisecond)
	RegisterDBStats("scrape-test", func() sql.DBStats {
		return sql.DBStats{MaxOpenConnections: 100, OpenConnections: 5, InUse: 3, Idle: 2, WaitCount: 11,
			WaitDuration: 1500 * time.Millisecond}
	})
	t.Cleanup(func() { RegisterDBStats("scrape-test", nil) })

	f := scrape(t)
	tests := []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"sluice_relay_requests_total", map[string]string{"model": mdl, "channel": "7", "status": "200"}, 2},
		{"sluice_relay_requests_total", map[string]string{"model": mdl, "channel": "9", "status": "429"}, 1},
		{"sluice_relay_request_duration_seconds", map[string]string{"model": mdl}, 3},
		{"sluice_relay_time_to_first_byte_seconds", map[string]string{"model": mdl}, 1},
		{"sluice_relay_upstream_duration_seconds", map[string]string{"model": mdl}, 2},
		{"sluice_relay_tokens_total", map[string]string{"model": mdl, "type": "prompt"}, 120},
		{"sluice_relay_tokens_total", map[string]string{"model": mdl, "type": "completion"}, 30},
		{"sluice_relay_quota_total", map[string]string{"model": mdl}, 4500},
		{"sluice_relay_streams_in_flight", nil, streamsBefore + 1},
		{"sluice_cache_hits_total", map[string]string{"cache": "scrape-test"}, 2},
		{"sluice_cache_misses_total", map[string]string{"cache": "scrape-test"}, 1},
		{"sluice_batch_queue_depth", nil, 42},
		{"sluice_batch_flush_duration_seconds", nil, flushesBefore + 1},
		{"go_sql_max_open_connections", map[string]string{"db_name": "scrape-test"}, 100},
		{"go_sql_open_connections", map[string]string{"db_name": "scrape-test"}, 5},
		{"go_sql_in_use_connections", map[string]string{"db_name": "scrape-test"}, 3},
		{"go_sql_idle_connections", map[string]string{"db_name": "scrape-test"}, 2},
		{"go_sql_wait_count_total", map[string]string{"db_name": "scrape-test"}, 11},
		{"go_sql_wait_duration_seconds_total", map[string]string{"db_name": "scrape-test"}, 1.5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.family, tt.labels), func(t *testing.T) {
			if got := value(t, f, tt.family, tt.labels); got != tt.want {
				t.Fatalf("%s%v = %v, want %v", tt.family, tt.labels, got, tt.want)
			}
		})
	}
	// The histogram's sum is in seconds.
	for _, m := range f["sluice_relay_time_to_first_byte_seconds"].GetMetric() {
		if m.GetLabel()[0].GetValue() == mdl && m.GetHistogram().GetSampleSum() != 0.2 {
			t.Errorf("ttfb sum = %v s, want 0.2", m.GetHistogram().GetSampleSum())
		}
	}
	// The runtime and process collectors are registered too.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes"} {
		if _, ok := f[name]; !ok {
			t.Errorf("family %s missing", name)
		}
	}
}

func TestRegisterDBStatsReplacesAndRemoves(t *testing.T) {
	RegisterDBStats("replace-test", func() sql.DBStats { return sql.DBStats{OpenConnections: 1} })
	RegisterDBStats("replace-test", func() sql.DBStats { return sql.DBStats{OpenConnections: 2} })
	if got := value(t, scrape(t), "go_sql_open_connections", map[string]string{"db_name": "replace-test"}); got != 2 {
		t.Fatalf("after re-registering, open connections = %v, want 2", got)
	}
	RegisterDBStats("replace-test", nil)
	for _, m := range scrape(t)["go_sql_open_connections"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetValue() == "replace-test" {
				t.Fatal("a removed database is still exported")
			}
		}
	}
}

func TestModelLabelIsBounded(t *testing.T) {
	t.Cleanup(func() {
		models.Clear()
		modelCount.Store(0)
	})
	models.Clear()
	modelCount.Store(0)
	tests := []struct{ in, want string }{
		{"", UnknownModel},
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o", "gpt-4o"},
		{strings.Repeat("x", maxModelLen+1), OtherModel},
	}
	for _, tt := range tests {
		if got := seriesOf(tt.in).label; got != tt.want {
			t.Errorf("label of %.20q = %q, want %q", tt.in, got, tt.want)
		}
	}
	for i := range maxModels * 2 {
		seriesOf(fmt.Sprintf("model-%d", i))
	}
	if n := modelCount.Load(); n != maxModels {
		t.Fatalf("%d model labels admitted, want the bound %d", n, maxModels)
	}
	if got := seriesOf("gpt-4o").label; got != "gpt-4o" {
		t.Errorf("a model admitted early lost its label: %q", got)
	}
	if got := seriesOf("brand-new-model").label; got != OtherModel {
		t.Errorf("a model past the bound got label %q, want %q", got, OtherModel)
	}
}

func BenchmarkObserveRelay(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ObserveRelay("bench-model", 3, 200, time.Second, 100*time.Millisecond, 900*time.Millisecond)
	}
}

// BenchmarkRequestCounters is the rest of what one relayed request
// records: its key's cache hit, tokens and quota.
func BenchmarkRequestCounters(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		CacheHit("token")
		AddTokens("bench-model", 24, 20)
		AddQuota("bench-model", 1320)
	}
}
