package common

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedis connects to REDIS_CONN_STRING with the configured pool size and
// short timeouts: a slow Redis must degrade to the in-process path quickly,
// not hold requests. It returns the client even when the first ping fails,
// so sluice can start while Redis is down and use it once it returns.
func NewRedis(url string, poolSize int) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_CONN_STRING: %w", err)
	}
	if poolSize > 0 {
		opt.PoolSize = poolSize
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = time.Second
	// No automatic retries: the balance scripts are not idempotent, and a
	// command that timed out may still run (Redis executes what it
	// received, e.g. after a CLIENT PAUSE), so a retry could apply a
	// charge or refund twice. The callers fall back and reconcile instead.
	opt.MaxRetries = -1
	return redis.NewClient(opt), nil
}

// ErrRedisNil means the key does not exist.
var ErrRedisNil = redis.Nil

// RedisHSetObj stores obj (a pointer to a struct whose fields carry
// `redis:"name"` tags) as the fields of a Redis hash, with ttl (0: none).
// Supported field kinds are those go-redis encodes: strings, integers,
// unsigned integers, floats and booleans.
func RedisHSetObj(ctx context.Context, rdb redis.Cmdable, key string, obj any, ttl time.Duration) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, obj)
		if ttl > 0 {
			p.Expire(ctx, key, ttl)
		}
		return nil
	})
	return err
}

// RedisHGetObj reads a hash written by RedisHSetObj into obj. A missing
// key returns ErrRedisNil.
func RedisHGetObj(ctx context.Context, rdb redis.Cmdable, key string, obj any) error {
	res := rdb.HGetAll(ctx, key)
	if err := res.Err(); err != nil {
		return err
	}
	if len(res.Val()) == 0 {
		return ErrRedisNil
	}
	return res.Scan(obj)
}

// IsRedisNil reports a missing key.
func IsRedisNil(err error) bool { return errors.Is(err, redis.Nil) }
