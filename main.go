// Command sluice is an OpenAI-compatible LLM API gateway. main only wires
// things together: configuration, stores, background loops, the router,
// and a graceful shutdown that loses no charge.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"sluice/common"
	"sluice/common/metrics"
	"sluice/controller"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay"
	"sluice/router"
	"sluice/service"
	"sluice/setting"
	"sluice/setting/operation_setting"
)

// criticalRateLimit is how many login, setup and redemption attempts one
// IP may make per 3 minutes.
const criticalRateLimit = 20

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// "sluice healthcheck" serves the container HEALTHCHECK: the image has
	// no shell or curl.
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	if err := run(); err != nil {
		slog.Error("sluice stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	common.SetupLogger()
	cfg, err := common.LoadConfig()
	if err != nil {
		return err
	}
	port := flag.String("port", cfg.Port, "listen port (PORT)")
	flag.Parse()
	cfg.Port = *port

	if cfg.SessionSecret == "" {
		if cfg.SessionSecret, err = common.LoadOrCreateSecret(filepath.Join(cfg.DataDir, "session_secret")); err != nil {
			return fmt.Errorf("session secret: %w", err)
		}
	}
	if cfg.CryptoSecret == "" {
		cfg.CryptoSecret = cfg.SessionSecret
	}
	cipher, err := common.NewCipher(cfg.CryptoSecret)
	if err != nil {
		return err
	}

	pool := model.PoolConfig{MaxIdle: cfg.SQLMaxIdleConns, MaxOpen: cfg.SQLMaxOpenConns, MaxLifetime: cfg.SQLMaxLifetime}
	db, err := model.Open(cfg.SQLDSN, cfg.SQLitePath, pool)
	if err != nil {
		return err
	}
	logDB := db
	if cfg.LogSQLDSN != "" {
		if logDB, err = model.Open(cfg.LogSQLDSN, cfg.SQLitePath+".logs", pool); err != nil {
			return fmt.Errorf("log database: %w", err)
		}
	}
	store := model.NewStore(db, logDB, cipher)
	if err := store.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	stored, err := store.AllOptions()
	if err != nil {
		return err
	}
	for _, e := range setting.ApplyAll(stored) {
		slog.Error("stored option ignored", "err", e)
	}
	if err := service.EnsureRoot(store, service.Bootstrap{Password: cfg.InitialRootPassword,
		AccessToken: cfg.InitialRootAccess, APIKey: cfg.InitialRootToken}); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}

	cache := model.NewCache(store)
	if err := cache.Load(); err != nil {
		return fmt.Errorf("load cache: %w", err)
	}
	writer := service.NewBatchWriter(store, !cfg.BatchUpdateEnabled)
	tasks := &service.Tasks{}
	engine := &relay.Engine{
		Cache:  cache,
		Writer: writer,
		Health: &service.ChannelHealth{Store: store, Cache: cache, Writer: writer,
			Enabled: func() bool { return operation_setting.Get().AutomaticDisableChannelEnabled },
			FailureRule: func() (int, time.Duration) {
				op := operation_setting.Get()
				return op.ChannelFailureThreshold, time.Duration(op.ChannelFailureWindowSeconds) * time.Second
			}},
		Tasks:            tasks,
		Client:           relay.NewHTTPClient(),
		StreamingTimeout: cfg.StreamingTimeout,
		RelayTimeout:     cfg.RelayTimeout,
		DrainTimeout:     30 * time.Second,
		ErrorLogEnabled:  cfg.ErrorLogEnabled,
		MaxResponseBytes: 256 << 20,
	}
	handlers := &controller.Handlers{Store: store, Cache: cache, Engine: engine, Writer: writer, Version: version,
		BodyLimit: cfg.MaxRequestBodyBytes,
		Sessions:  &middleware.Sessions{Secret: []byte(cfg.SessionSecret), Store: store, Cache: cache},
		Redeemer:  &service.Redeemer{Store: store, Cache: cache, Writer: writer}}
	handler, err := router.New(handlers, router.Limits{APIPerWindow: cfg.GlobalAPIRateLimit,
		WebPerWindow: cfg.GlobalWebRateLimit, CriticalPerWindow: criticalRateLimit, Window: 3 * time.Minute,
		TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return err
	}
	router.MountMetrics(handler, router.MetricsConfig{Enabled: cfg.MetricsEnabled, Token: cfg.MetricsToken})
	if cfg.MetricsEnabled && cfg.MetricsToken == "" {
		slog.Warn("/metrics is served without METRICS_TOKEN: anyone who reaches the port can scrape it")
	}
	if sqlDB, err := db.DB(); err == nil {
		metrics.RegisterDBStats("main", sqlDB.Stats)
	}
	if logSQL, err := logDB.DB(); err == nil && logDB != db {
		metrics.RegisterDBStats("log", logSQL.Stats)
	}

	loops, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	background, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	handlers.Background = background
	if cfg.RedisConnString != "" {
		rdb, err := common.NewRedis(cfg.RedisConnString, cfg.RedisPoolSize)
		if err != nil {
			return err
		}
		defer rdb.Close()
		cache.AttachRedis(rdb, cfg.RedisKeyPrefix, writer.Pending)
		// Refunds of settled requests travel to Redis together, once per
		// millisecond, instead of one round trip each (docs/scaling.md).
		cache.DeferCredits(time.Millisecond)
		handlers.Invalidator = service.NewInvalidator(rdb, cfg.RedisKeyPrefix, cache, store)
		go handlers.Invalidator.Run(loops)
		go cache.WatchRedis(loops)
	}
	go service.RunOptionSync(loops, store, cfg.SyncFrequency)
	go engine.RunHealthProbe(loops, store, func() time.Duration {
		return time.Duration(operation_setting.Get().ChannelProbeIntervalSeconds) * time.Second
	})
	if cfg.BatchUpdateEnabled {
		go writer.Run(loops, cfg.BatchUpdateInterval)
	}
	if cfg.MemoryCacheEnabled {
		go cache.Run(loops, cfg.SyncFrequency)
	}
	go service.RunLogRetention(loops, store, writer) // LogRetentionDays: shortly after start, then daily
	if cfg.EnablePprof {
		go servePprof(cfg.PprofAddr)
	}
	go common.RunCPUMonitor(loops, operation_setting.CurrentCPUMonitorConfig) // CPUMonitor* / CPUProfile* options

	// After start-up's one-off work, so its garbage is paced as before.
	common.TuneGC()
	// Start-up's garbage (migrations, cache loads, gorm's reflection) goes
	// back to the kernel now rather than minutes later by the scavenger:
	// about 0.4 MB of idle RSS, for one collection of a small heap.
	debug.FreeOSMemory()

	// ReadHeaderTimeout closes slowloris connections that trickle their
	// headers; IdleTimeout bounds keep-alive connections left open between
	// requests; MaxHeaderBytes (net/http's default, stated so it is not
	// lost) answers a header flood with 431. There is deliberately no
	// ReadTimeout or WriteTimeout: an upload may be slow, and a stream may
	// legitimately last many minutes, so bodies are bounded by
	// MAX_REQUEST_BODY_MB and streams by STREAMING_TIMEOUT instead.
	srv := &http.Server{Addr: ":" + cfg.Port, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 1 << 20}
	// Catch SIGTERM before the port answers: a supervisor that sees
	// /api/status succeed may stop us at once, and an uncaught SIGTERM
	// would kill the process without the final flush.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	slog.Info("sluice listening", "port", cfg.Port, "version", version, "database", string(model.DialectOf(cfg.SQLDSN)))

	select {
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case s := <-sig:
		slog.Info("shutting down: draining requests", "signal", s.String())
	}
	// Stop accepting, let in-flight requests and streams finish, then wait
	// for their settlements and flush every queued charge and log.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		slog.Warn("some requests did not finish within 30 s", "err", err)
	}
	// Realtime sessions are hijacked connections Shutdown does not wait
	// for: end them and bill their last responses.
	engine.DrainRealtime(ctx)
	stopBackground() // channel tests started by an admin stop here
	tasks.Wait()
	cache.FlushCredits(context.Background()) // the last settlements' refunds, while Redis is still open
	stopLoops()
	if err := writer.Close(); err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	slog.Info("sluice stopped cleanly")
	return nil
}

func servePprof(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := http.ListenAndServe(addr, mux); err != nil {
		slog.Error("pprof server stopped", "err", err)
	}
}

func healthcheck() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/api/status")
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
