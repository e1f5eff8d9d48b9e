package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// loopbackOnly refuses a service address off this machine: the harness
// sends load only to loopback.
func loopbackOnly(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s %q: only a loopback address (127.0.0.1, ::1, localhost) is allowed", what, host)
	}
	return u, nil
}

// postgresEnv creates a fresh database for this run (dropped by the
// returned cleanup) and a unique Redis key prefix (its keys deleted by
// cleanup), and returns sluice's environment for them.
func postgresEnv(ctx context.Context, adminDSN, redisURL string) ([]string, []func() error, error) {
	pg, err := loopbackOnly("-pg-dsn", adminDSN)
	if err != nil {
		return nil, nil, err
	}
	if _, err := loopbackOnly("-redis-url", redisURL); err != nil {
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
	name := "sluice_bench_" + randomHex(6)
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("create database: %w", err)
	}
	dsn := *pg
	dsn.Path = "/" + name
	prefix := "sluicebench" + randomHex(4) + ":"
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

// deletePrefix removes every Redis key the run wrote; the scan is bounded.
func deletePrefix(redisURL, prefix string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cursor uint64
	for i := 0; i < 100000; i++ {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
	return errors.New("redis scan did not finish")
}
