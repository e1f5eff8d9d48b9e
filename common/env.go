// Package common holds process-wide infrastructure: configuration from the
// environment, crypto helpers, logging and the background goroutine pool.
package common

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything sluice reads from its environment (CONTRACT.md's
// table). It is parsed once at start-up and then only read.
type Config struct {
	Port                string
	SQLDSN              string
	SQLitePath          string
	LogSQLDSN           string
	RedisConnString     string
	RedisPoolSize       int
	RedisKeyPrefix      string
	SQLMaxIdleConns     int
	SQLMaxOpenConns     int
	SQLMaxLifetime      time.Duration
	SessionSecret       string
	CryptoSecret        string
	InitialRootPassword string
	InitialRootAccess   string
	InitialRootToken    string
	StreamingTimeout    time.Duration
	RelayTimeout        time.Duration
	MemoryCacheEnabled  bool
	SyncFrequency       time.Duration
	BatchUpdateEnabled  bool
	BatchUpdateInterval time.Duration
	GlobalAPIRateLimit  int
	GlobalWebRateLimit  int
	EnablePprof         bool
	PprofAddr           string
	ErrorLogEnabled     bool
	MaxRequestBodyBytes int64
	DataDir             string
	// MetricsEnabled serves Prometheus metrics at /metrics (METRICS_ENABLED, default off).
	MetricsEnabled bool
	// MetricsToken, when set, is required as "Authorization: Bearer <token>" on /metrics (METRICS_TOKEN).
	MetricsToken string
	// TrustedProxies are the CIDRs or IPs whose X-Forwarded-For is
	// believed (TRUSTED_PROXIES, comma-separated); empty trusts none, so a
	// client cannot forge its address past an IP allow list or rate limit.
	TrustedProxies []string
}

// LoadConfig reads the environment. A malformed number is an error rather
// than a silent default: an operator who typed PORT=30o0 wants to know.
func LoadConfig() (*Config, error) {
	p := envParser{}
	c := &Config{
		Port:                p.str("PORT", "3000"),
		SQLDSN:              p.str("SQL_DSN", ""),
		SQLitePath:          p.str("SQLITE_PATH", "./data/sluice.db"),
		LogSQLDSN:           p.str("LOG_SQL_DSN", ""),
		RedisConnString:     p.str("REDIS_CONN_STRING", ""),
		RedisPoolSize:       p.int("REDIS_POOL_SIZE", 10),
		RedisKeyPrefix:      p.str("REDIS_KEY_PREFIX", ""),
		SQLMaxIdleConns:     p.int("SQL_MAX_IDLE_CONNS", 100),
		SQLMaxOpenConns:     p.int("SQL_MAX_OPEN_CONNS", 1000),
		SQLMaxLifetime:      p.seconds("SQL_MAX_LIFETIME", 60),
		SessionSecret:       p.str("SESSION_SECRET", ""),
		CryptoSecret:        p.str("CRYPTO_SECRET", ""),
		InitialRootPassword: p.str("INITIAL_ROOT_PASSWORD", ""),
		InitialRootAccess:   p.str("INITIAL_ROOT_ACCESS_TOKEN", ""),
		InitialRootToken:    p.str("INITIAL_ROOT_TOKEN", ""),
		StreamingTimeout:    p.seconds("STREAMING_TIMEOUT", 120),
		RelayTimeout:        p.seconds("RELAY_TIMEOUT", 0),
		MemoryCacheEnabled:  p.bool("MEMORY_CACHE_ENABLED", true),
		SyncFrequency:       p.seconds("SYNC_FREQUENCY", 60),
		BatchUpdateEnabled:  p.bool("BATCH_UPDATE_ENABLED", true),
		BatchUpdateInterval: p.seconds("BATCH_UPDATE_INTERVAL", 5),
		GlobalAPIRateLimit:  p.int("GLOBAL_API_RATE_LIMIT", 180),
		GlobalWebRateLimit:  p.int("GLOBAL_WEB_RATE_LIMIT", 60),
		EnablePprof:         p.bool("ENABLE_PPROF", false),
		PprofAddr:           p.str("PPROF_ADDR", "127.0.0.1:8005"),
		ErrorLogEnabled:     p.bool("ERROR_LOG_ENABLED", false),
		MaxRequestBodyBytes: int64(p.int("MAX_REQUEST_BODY_MB", 32)) << 20,
		DataDir:             p.str("SLUICE_DATA_DIR", "./data"),
		MetricsEnabled:      p.bool("METRICS_ENABLED", false),
		MetricsToken:        p.str("METRICS_TOKEN", ""),
		TrustedProxies:      strings.FieldsFunc(p.str("TRUSTED_PROXIES", ""), func(r rune) bool { return r == ',' || r == ' ' }),
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("configuration: %s", strings.Join(p.errs, "; "))
	}
	if c.StreamingTimeout <= 0 {
		c.StreamingTimeout = 120 * time.Second
	}
	if c.SyncFrequency <= 0 {
		c.SyncFrequency = 60 * time.Second
	}
	if c.BatchUpdateInterval <= 0 {
		c.BatchUpdateInterval = 5 * time.Second
	}
	return c, nil
}

type envParser struct{ errs []string }

func (p *envParser) str(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (p *envParser) int(key string, def int) int {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.errs = append(p.errs, fmt.Sprintf("%s=%q is not a non-negative integer", key, v))
		return def
	}
	return n
}

func (p *envParser) seconds(key string, def int) time.Duration {
	return time.Duration(p.int(key, def)) * time.Second
}

func (p *envParser) bool(key string, def bool) bool {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Sprintf("%s=%q is not a boolean", key, v))
		return def
	}
	return b
}
