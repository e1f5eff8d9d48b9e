package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sluice/common/metrics"
	"sluice/middleware"
)

func metricsEngine(cfg MetricsConfig) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(middleware.Cache())
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusOK, "<html>spa</html>") })
	MountMetrics(r, cfg)
	return r
}

func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	const token = "s3cret-scrape-token"
	tests := []struct {
		name       string
		cfg        MetricsConfig
		auth       string
		wantStatus int
	}{
		{"disabled is a 404, not the web UI", MetricsConfig{}, "", http.StatusNotFound},
		{"disabled ignores a token", MetricsConfig{Token: token}, "Bearer " + token, http.StatusNotFound},
		{"enabled without a token is open", MetricsConfig{Enabled: true}, "", http.StatusOK},
		{"token required: none sent", MetricsConfig{Enabled: true, Token: token}, "", http.StatusUnauthorized},
		{"token required: wrong one", MetricsConfig{Enabled: true, Token: token}, "Bearer nope", http.StatusUnauthorized},
		{"token required: prefix of it", MetricsConfig{Enabled: true, Token: token}, "Bearer s3cret", http.StatusUnauthorized},
		{"token required: not a bearer", MetricsConfig{Enabled: true, Token: token}, "Basic " + token, http.StatusUnauthorized},
		{"token required: bare token", MetricsConfig{Enabled: true, Token: token}, token, http.StatusUnauthorized},
		{"token required: right one", MetricsConfig{Enabled: true, Token: token}, "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", MetricsConfig{Enabled: true, Token: token}, "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			metricsEngine(tt.cfg).ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Cache-Control"); got != middleware.CacheNoStore {
				t.Errorf("Cache-Control = %q, want %q", got, middleware.CacheNoStore)
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestMetricsScrapeParses scrapes /metrics through gin and parses it with Prometheus's text parser.
func TestMetricsScrapeParses(t *testing.T) {
	t.Parallel()
	metrics.ObserveRelay("router-scrape-model", 3, 200, time.Second, 100*time.Millisecond, 800*time.Millisecond)
	metrics.CacheHit("router-scrape")

	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	metricsEngine(MetricsConfig{Enabled: true, Token: "t"}).ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range []string{"sluice_relay_requests_total", "sluice_relay_request_duration_seconds",
		"sluice_relay_time_to_first_byte_seconds", "sluice_relay_upstream_duration_seconds",
		"sluice_relay_streams_in_flight", "sluice_cache_hits_total", "sluice_batch_queue_depth",
		"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := families[name]; !ok {
			t.Errorf("family %s missing", name)
		}
	}
	found := false
	for _, m := range families["sluice_relay_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["model"] == "router-scrape-model" && labels["channel"] == "3" && labels["status"] == "200" &&
			m.GetCounter().GetValue() >= 1 {
			found = true
		}
	}
	if !found {
		t.Error("the ObserveRelay call does not show in sluice_relay_requests_total")
	}
}
