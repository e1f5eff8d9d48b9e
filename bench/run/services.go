package main

import (
	"context"
	"fmt"
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
	if _, err := benchenv.LoopbackOnly("-redis-url", redisURL); err != nil {
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
	return env, []func() error{drop, flush}, nil
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
