package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"sluice/bench/internal/benchenv"
)

// stores is the run's own PostgreSQL database and Redis namespace.
type stores struct {
	adminDSN string
	admin    *gorm.DB // the server's base database: CREATE/DROP DATABASE
	name     string
	dsn      string
	db       *gorm.DB // the run's database, for faults and the final audit
	redisURL string
	prefix   string
	// clientName tags the gateway's Redis connections (client_name in its
	// URL), so the faults drop only them, never another client's.
	clientName string
	rdb        *redis.Client
}

// openStores creates a fresh, randomly named database and picks a random
// Redis key prefix.
func openStores(ctx context.Context, adminDSN, redisURL string) (*stores, error) {
	pg, err := benchenv.LoopbackOnly("postgres DSN", adminDSN)
	if err != nil {
		return nil, err
	}
	if _, err := benchenv.LoopbackOnly("redis URL", redisURL); err != nil {
		return nil, err
	}
	admin, err := gorm.Open(postgres.Open(adminDSN), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", pg.Host, err)
	}
	s := &stores{adminDSN: adminDSN, admin: admin, name: "sluice_chaos_" + benchenv.RandomHex(6), redisURL: redisURL,
		prefix: "sluicechaos" + benchenv.RandomHex(4) + ":", clientName: "sluice-chaos-" + benchenv.RandomHex(4)}
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + s.name).Error; err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u := *pg
	u.Path = "/" + s.name
	s.dsn = u.String()
	if s.db, err = gorm.Open(postgres.Open(s.dsn), &gorm.Config{Logger: logger.Discard}); err != nil {
		return s, err
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return s, err
	}
	s.rdb = redis.NewClient(opt)
	return s, s.rdb.Ping(ctx).Err()
}

// gatewayRedisURL is the Redis URL the gateway gets: the configured one
// with this run's client name.
func (s *stores) gatewayRedisURL() string {
	u, _ := url.Parse(s.redisURL)
	q := u.Query()
	q.Set("client_name", s.clientName)
	u.RawQuery = q.Encode()
	return u.String()
}

// close drops the database and deletes the run's Redis keys.
func (s *stores) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.db != nil {
		if sqlDB, err := s.db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
	if s.admin != nil {
		errs = append(errs, s.admin.WithContext(ctx).Exec("DROP DATABASE IF EXISTS "+s.name+" WITH (FORCE)").Error)
		if sqlDB, err := s.admin.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
	if s.rdb != nil {
		errs = append(errs, benchenv.DeletePrefix(ctx, s.rdb, s.prefix))
		_ = s.rdb.Close()
	}
	return errors.Join(errs...)
}

// killGatewayRedisClients drops every connection the gateway holds to
// Redis (CLIENT KILL ID for each client named clientName), as a Redis
// restart would, and reports how many it dropped.
func (s *stores) killGatewayRedisClients(ctx context.Context) (int, error) {
	list, err := s.rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		var id, name string
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "name":
				name = v
			}
		}
		if name != s.clientName || id == "" {
			continue
		}
		if err := s.rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
			n++
		}
	}
	return n, nil
}

// pauseRedis stops Redis from serving any client for d (CLIENT PAUSE ALL):
// every client of this server waits, the gateway's commands time out.
func (s *stores) pauseRedis(ctx context.Context, d time.Duration) error {
	return s.rdb.Do(ctx, "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err()
}

// auditTables are the tables the database faults take away or lock: the
// ones every batch flush writes.
var auditTables = []string{"users", "tokens", "logs"}

// lockTables holds an ACCESS EXCLUSIVE lock on the flush's tables for d:
// the gateway's writes (and reads) of them wait, as on a stalled database.
func (s *stores) lockTables(ctx context.Context, d time.Duration) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("LOCK TABLE " + strings.Join(auditTables, ", ") + " IN ACCESS EXCLUSIVE MODE").Error; err != nil {
			return err
		}
		return tx.Exec("SELECT pg_sleep(?)", d.Seconds()).Error
	})
}

// renameTables takes the flush's tables away (away = true) or brings them
// back: while away, every statement on them fails at once, as on a
// database that refuses connections.
func (s *stores) renameTables(ctx context.Context, away bool) error {
	var errs []error
	for _, t := range auditTables {
		from, to := t, t+"_away"
		if !away {
			from, to = to, from
		}
		errs = append(errs, s.db.WithContext(ctx).Exec("ALTER TABLE "+from+" RENAME TO "+to).Error)
	}
	return errors.Join(errs...)
}
