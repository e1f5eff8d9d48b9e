// Package metrics is sluice's Prometheus instrumentation: one private registry, the named collectors, and small
// typed helpers that the relay, the caches and the batch writer call. Handler serves the registry in the text
// exposition format; router mounts it at /metrics when METRICS_ENABLED is set.
//
// Labels are kept low-cardinality on purpose: model names (bounded, see maxModels), channel ids, HTTP status
// codes and cache names. Never pass user ids, key names or anything a client can vary freely as a label.
//
// Every helper is safe for concurrent use and cheap enough for the hot path (a label lookup and an atomic add).
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "sluice"

// Label values used when the real one is missing or over the bound.
const (
	// UnknownModel labels a call whose model is not known (an empty name).
	UnknownModel = "unknown"
	// OtherModel labels every model beyond the first maxModels seen, so a client cycling through invented model
	// names cannot make the series count grow without bound.
	OtherModel = "other"
	// maxModels bounds the distinct model label values; a gateway serves tens of models, rarely hundreds.
	maxModels = 500
	// maxModelLen bounds one model label value; real model names are far shorter.
	maxModelLen = 128
)

// latencyBuckets span a fast cached answer to a long generation: 5 ms … ~164 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.005, 2, 16)

// flushBuckets span a small batch on SQLite to a large one on a remote database: 1 ms … ~16 s.
var flushBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

var (
	registry = prometheus.NewRegistry()

	relayRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "relay", Name: "requests_total",
		Help: "Relay requests finished, by model, channel id and HTTP status returned to the client.",
	}, []string{"model", "channel", "status"})
	relayDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "relay", Name: "request_duration_seconds",
		Help: "Total time of a relay request, from arrival to the last byte sent, by model.", Buckets: latencyBuckets,
	}, []string{"model"})
	relayTTFB = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "relay", Name: "time_to_first_byte_seconds",
		Help:    "Time from a relay request's arrival to the first response byte sent to the client, by model.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	relayUpstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "relay", Name: "upstream_duration_seconds",
		Help:    "Time spent waiting on upstream calls for one relay request (all attempts), by model.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	relayTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "relay", Name: "tokens_total",
		Help: "Tokens billed, by model and type (prompt or completion).",
	}, []string{"model", "type"})
	relayQuota = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "relay", Name: "quota_total",
		Help: "Quota charged, by model.",
	}, []string{"model"})
	streamsInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "relay", Name: "streams_in_flight",
		Help: "Streaming relay responses currently open.",
	})
	cacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "cache", Name: "hits_total",
		Help: "Cache lookups answered from the cache, by cache name.",
	}, []string{"cache"})
	cacheMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "cache", Name: "misses_total",
		Help: "Cache lookups that fell through to the next layer, by cache name.",
	}, []string{"cache"})
	batchQueueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "batch", Name: "queue_depth",
		Help: "Items (usage deltas and logs) queued in the batch writer, waiting for the next flush.",
	})
	batchFlush = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "batch", Name: "flush_duration_seconds",
		Help: "Time one batch-writer flush took.", Buckets: flushBuckets,
	})
	dbStats = newDBStatsCollector()
)

func init() {
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		relayRequests, relayDuration, relayTTFB, relayUpstream, relayTokens, relayQuota, streamsInFlight,
		cacheHits, cacheMisses, batchQueueDepth, batchFlush, dbStats,
	)
}

// Handler serves every metric in the Prometheus exposition format. It does no access control: the caller
// (router) decides who may reach it.
func Handler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gatherer returns the registry, for tests and for embedding sluice's metrics in another exposition.
func Gatherer() prometheus.Gatherer { return registry }

// ObserveRelay records one finished relay request: it counts it under (model, channel, status) and observes its
// latencies by model. Call it once per client request, after the response is complete, with:
//   - model: the model the client asked for (after the distributor accepted it);
//   - channel: the id of the channel that served it last, 0 if none was chosen;
//   - status: the HTTP status sent to the client;
//   - total: arrival to the last byte sent;
//   - ttfb: arrival to the first byte sent, 0 if nothing was sent (then it is not observed);
//   - upstream: time spent waiting on upstreams across all attempts, 0 if no upstream was called (not observed).
func ObserveRelay(model string, channel int, status int, total, ttfb, upstream time.Duration) {
	m := seriesOf(model)
	m.requests(channel, status).Inc()
	m.duration.Observe(total.Seconds())
	if ttfb > 0 {
		m.ttfb.Observe(ttfb.Seconds())
	}
	if upstream > 0 {
		m.upstream.Observe(upstream.Seconds())
	}
}

// AddTokens adds the prompt and completion tokens billed for one request of model. Negative counts are ignored.
func AddTokens(model string, prompt, completion int) {
	m := seriesOf(model)
	if prompt > 0 {
		m.prompt.Add(float64(prompt))
	}
	if completion > 0 {
		m.completion.Add(float64(completion))
	}
}

// AddQuota adds the quota charged for one request of model (after settlement; a refund is not subtracted, since
// a counter only grows). Zero and negative amounts are ignored.
func AddQuota(model string, quota int64) {
	if quota > 0 {
		seriesOf(model).quota.Add(float64(quota))
	}
}

// StreamStarted counts a streaming response as open; pair every call with one StreamEnded (defer it).
func StreamStarted() { streamsInFlight.Inc() }

// StreamEnded counts a streaming response as closed, however it ended.
func StreamEnded() { streamsInFlight.Dec() }

// CacheHit counts a lookup answered by the named cache (e.g. "user", "token", "channel"). Use a fixed set of
// names, never one built from a key.
func CacheHit(name string) { cacheCounter(&cacheHitCounters, cacheHits, name).Inc() }

// CacheMiss counts a lookup the named cache could not answer.
func CacheMiss(name string) { cacheCounter(&cacheMissCounters, cacheMisses, name).Inc() }

// cacheHitCounters and cacheMissCounters hold each cache name's counter.
var cacheHitCounters, cacheMissCounters sync.Map // string → prometheus.Counter

func cacheCounter(known *sync.Map, vec *prometheus.CounterVec, name string) prometheus.Counter {
	if c, ok := known.Load(name); ok {
		return c.(prometheus.Counter)
	}
	c, _ := known.LoadOrStore(name, vec.WithLabelValues(name))
	return c.(prometheus.Counter)
}

// SetQueueDepth publishes how many items the batch writer holds; call it when items are queued and after a flush.
func SetQueueDepth(n int) { batchQueueDepth.Set(float64(n)) }

// ObserveFlush records how long one batch-writer flush took, successful or not.
func ObserveFlush(d time.Duration) { batchFlush.Observe(d.Seconds()) }

// models remembers the model label values in use, so that at most maxModels distinct values are ever exported,
// each with its series: a vector's WithLabelValues hashes the label values and looks the series up under a lock,
// six times per relayed request before, so each model's series are resolved once and kept here.
var (
	models     sync.Map // model name (or UnknownModel, OtherModel) → *modelSeries
	modelCount atomic.Int32
	modelMu    sync.Mutex // serialises admissions, so the bound is exact
)

// modelSeries are one model label value's series.
type modelSeries struct {
	label                     string
	duration, ttfb, upstream  prometheus.Observer
	prompt, completion, quota prometheus.Counter
	byOutcome                 sync.Map // outcome → prometheus.Counter of relayRequests
}

// outcome is where a request ended: relayRequests' channel and status labels.
type outcome struct{ channel, status int }

func newModelSeries(label string) *modelSeries {
	return &modelSeries{label: label,
		duration: relayDuration.WithLabelValues(label), ttfb: relayTTFB.WithLabelValues(label),
		upstream: relayUpstream.WithLabelValues(label), prompt: relayTokens.WithLabelValues(label, "prompt"),
		completion: relayTokens.WithLabelValues(label, "completion"), quota: relayQuota.WithLabelValues(label)}
}

// requests is the counter of this model's requests that ended on channel with status. Channel ids and statuses
// are few, as the labels they become already are.
func (m *modelSeries) requests(channel, status int) prometheus.Counter {
	k := outcome{channel, status}
	if c, ok := m.byOutcome.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.byOutcome.LoadOrStore(k, relayRequests.WithLabelValues(m.label, strconv.Itoa(channel), strconv.Itoa(status)))
	return c.(prometheus.Counter)
}

// seriesOf returns the series of model's label value: the model itself when already known or while fewer than
// maxModels are, else OtherModel (UnknownModel for an empty name). The common case is one lock-free map read.
func seriesOf(model string) *modelSeries {
	if model == "" {
		model = UnknownModel
	}
	if m, ok := models.Load(model); ok {
		return m.(*modelSeries)
	}
	if model == UnknownModel || len(model) > maxModelLen || modelCount.Load() >= maxModels {
		return fallbackSeries(model)
	}
	modelMu.Lock()
	defer modelMu.Unlock()
	if m, ok := models.Load(model); ok {
		return m.(*modelSeries)
	}
	if modelCount.Load() >= maxModels {
		return fallbackSeries(OtherModel)
	}
	m := newModelSeries(model)
	models.Store(model, m)
	modelCount.Add(1)
	return m
}

// unknownSeries and otherSeries label the calls with no model and those beyond the bound; neither counts
// towards it.
var unknownSeries, otherSeries = sync.OnceValue(func() *modelSeries { return newModelSeries(UnknownModel) }),
	sync.OnceValue(func() *modelSeries { return newModelSeries(OtherModel) })

func fallbackSeries(model string) *modelSeries {
	if model == UnknownModel {
		return unknownSeries()
	}
	return otherSeries()
}
