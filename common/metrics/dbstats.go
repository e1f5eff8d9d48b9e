package metrics

import (
	"database/sql"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterDBStats exports the connection-pool statistics of one database under the label db=name (e.g. "main",
// "log"). stats is called at every scrape, so pass a cheap function such as (*sql.DB).Stats of the pool behind
// gorm. Registering a name again replaces its function; a nil stats removes it.
func RegisterDBStats(name string, stats func() sql.DBStats) {
	dbStats.mu.Lock()
	defer dbStats.mu.Unlock()
	if stats == nil {
		delete(dbStats.sources, name)
		return
	}
	dbStats.sources[name] = stats
}

// dbStatsCollector reads sql.DBStats from every registered database at scrape time. It follows the metric names
// of client_golang's collectors.NewDBStatsCollector (go_sql_*), which needs a *sql.DB rather than a function and
// one registration per database.
type dbStatsCollector struct {
	mu      sync.Mutex
	sources map[string]func() sql.DBStats

	maxOpen, open, inUse, idle                          *prometheus.Desc
	waitCount, waitDuration                             *prometheus.Desc
	maxIdleClosed, maxIdleTimeClosed, maxLifetimeClosed *prometheus.Desc
}

func newDBStatsCollector() *dbStatsCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("go_sql_"+name, help, []string{"db_name"}, nil)
	}
	return &dbStatsCollector{
		sources:           map[string]func() sql.DBStats{},
		maxOpen:           desc("max_open_connections", "Maximum number of open connections to the database."),
		open:              desc("open_connections", "The number of established connections both in use and idle."),
		inUse:             desc("in_use_connections", "The number of connections currently in use."),
		idle:              desc("idle_connections", "The number of idle connections."),
		waitCount:         desc("wait_count_total", "The total number of connections waited for."),
		waitDuration:      desc("wait_duration_seconds_total", "The total time blocked waiting for a new connection."),
		maxIdleClosed:     desc("max_idle_closed_total", "The total number of connections closed due to SetMaxIdleConns."),
		maxIdleTimeClosed: desc("max_idle_time_closed_total", "The total number of connections closed due to SetConnMaxIdleTime."),
		maxLifetimeClosed: desc("max_lifetime_closed_total", "The total number of connections closed due to SetConnMaxLifetime."),
	}
}

// Describe implements prometheus.Collector.
func (c *dbStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount, c.waitDuration,
		c.maxIdleClosed, c.maxIdleTimeClosed, c.maxLifetimeClosed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dbStatsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	names := make([]string, 0, len(c.sources))
	funcs := make(map[string]func() sql.DBStats, len(c.sources))
	for n, f := range c.sources {
		names = append(names, n)
		funcs[n] = f
	}
	c.mu.Unlock() // the stats functions run unlocked: a slow one must not block RegisterDBStats
	sort.Strings(names)
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, n := range names {
		s := funcs[n]()
		ch <- prometheus.MustNewConstMetric(c.maxOpen, gauge, float64(s.MaxOpenConnections), n)
		ch <- prometheus.MustNewConstMetric(c.open, gauge, float64(s.OpenConnections), n)
		ch <- prometheus.MustNewConstMetric(c.inUse, gauge, float64(s.InUse), n)
		ch <- prometheus.MustNewConstMetric(c.idle, gauge, float64(s.Idle), n)
		ch <- prometheus.MustNewConstMetric(c.waitCount, counter, float64(s.WaitCount), n)
		ch <- prometheus.MustNewConstMetric(c.waitDuration, counter, s.WaitDuration.Seconds(), n)
		ch <- prometheus.MustNewConstMetric(c.maxIdleClosed, counter, float64(s.MaxIdleClosed), n)
		ch <- prometheus.MustNewConstMetric(c.maxIdleTimeClosed, counter, float64(s.MaxIdleTimeClosed), n)
		ch <- prometheus.MustNewConstMetric(c.maxLifetimeClosed, counter, float64(s.MaxLifetimeClosed), n)
	}
}
