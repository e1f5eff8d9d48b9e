package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"sluice/bench/internal/benchenv"
)

// postgresEnv creates a fresh database for this run (dropped by the
// returned cleanup) and a unique Redis key prefix (its keys deleted by
// cleanup), and returns sluice's environment for them.
func postgresEnv(ctx context.Context, adminDSN, redisURL string) ([]string, []func() error, error) {
	pg, err := benchenv.LoopbackOnly("-pg-dsn", adminDSN)
	if err != nil {
		return nil, nil, err
	}
	rd, err := benchenv.LoopbackOnly("-redis-url", redisURL)
	if err != nil {
		return nil, nil, err
	}
	admin, err := gorm.Open(postgres.Open(adminDSN), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, nil, fmt.Errorf("PostgreSQL at %s: %w", pg.Host, err)
	}
	sqlDB, err := admin.DB()
	if err != nil {
		return nil, nil, err
	}
	name := "sluice_bench_" + benchenv.RandomHex(6)
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("create database: %w", err)
	}
	dsn := *pg
	dsn.Path = "/" + name
	prefix := "sluicebench" + benchenv.RandomHex(4) + ":"
	drop := func() error {
		defer sqlDB.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return admin.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error
	}
	flush := func() error { return deletePrefix(redisURL, prefix) }
	env := []string{"SQL_DSN=" + dsn.String(), "REDIS_CONN_STRING=" + redisURL, "REDIS_KEY_PREFIX=" + prefix}
	cleanup := []func() error{drop, flush}
	if restore := pinServicesForRun(portOf(pg, 5432), portOf(rd, 6379)); restore != nil {
		cleanup = append(cleanup, restore)
	}
	return env, cleanup, nil
}

// servicesPinned says in the report where PostgreSQL and Redis ran.
var servicesPinned string

// pinServicesForRun pins PostgreSQL and Redis to the load CPU
// (pinServices) when processes are pinned at all. If that fails they run
// where the kernel puts them, the report says so, and the run goes on.
func pinServicesForRun(ports ...int) (restore func() error) {
	if !pinning {
		return nil
	}
	restore, pids, err := pinServices(loadCPU, ports...)
	if err != nil {
		servicesPinned = "PostgreSQL and Redis not pinned (" + err.Error() + ")"
		fmt.Fprintln(os.Stderr, "bench:", servicesPinned)
		return nil
	}
	servicesPinned = fmt.Sprintf("PostgreSQL and Redis (%d processes) pinned to CPU %s", len(pids), loadCPU)
	return restore
}

func portOf(u *url.URL, fallback int) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	return fallback
}

// deletePrefix removes every Redis key the run wrote (benchenv.DeletePrefix
// on a client of its own).
func deletePrefix(redisURL, prefix string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return benchenv.DeletePrefix(ctx, rdb, prefix)
}
