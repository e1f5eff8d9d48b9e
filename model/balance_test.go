package model

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"sluice/common"
	"sluice/internal/testenv"
)

func redisURL(t *testing.T) string {
	t.Helper()
	return testenv.Lookup(t, testenv.Redis)
}

// ledgerFixture is one user (quota) and one key (remain, or unlimited)
// in a fresh SQLite store, with its cache loaded.
func ledgerFixture(t *testing.T, quota, remain int64, unlimited bool) (*Cache, *UserEntry, *TokenEntry) {
	t.Helper()
	return ledgerFixtureTB(t, quota, remain, unlimited)
}

func ledgerFixtureTB(t testing.TB, quota, remain int64, unlimited bool) (*Cache, *UserEntry, *TokenEntry) {
	t.Helper()
	store := sqliteStore(t)
	u := &User{Username: "u", Password: "x", Role: 1, Status: 1, Quota: quota}
	if err := store.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	tok := &Token{UserID: u.ID, Name: "k", KeyHash: common.HashSecret("sk-" + common.RandomString(8)), Status: 1,
		ExpiredTime: -1, RemainQuota: remain, UnlimitedQuota: unlimited}
	if err := store.CreateToken(tok); err != nil {
		t.Fatal(err)
	}
	c := NewCache(store)
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	return c, c.UserEntry(u.ID), c.TokenEntryByID(tok.ID)
}

func attach(t testing.TB, c *Cache, url string) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	prefix := "sluice-test:" + common.RandomString(10) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	c.AttachRedis(rdb, prefix, nil)
	return rdb, prefix
}

func TestRedisReservationUnderConcurrency(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 500, 1_000_000, false)
	rdb, prefix := attach(t, c, url)
	ctx := context.Background()
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.TakeQuota(ctx, u, tok, 10); err == nil {
				ok.Add(1)
			} else if err == ErrUserQuota {
				refused.Add(1)
			} else {
				t.Errorf("unexpected error %v", err)
			}
			if v, _ := rdb.Get(ctx, prefix+"user_quota:1").Int64(); v < 0 {
				t.Errorf("user balance went negative: %d", v)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || refused.Load() != 150 {
		t.Fatalf("ok=%d refused=%d, want 50/150", ok.Load(), refused.Load())
	}
	if v, _ := c.UserQuota(ctx, u.Info().ID); v != 0 {
		t.Fatalf("user balance %d", v)
	}
	if v, _ := c.TokenRemain(ctx, tok.Info().ID); v != 1_000_000-500 {
		t.Fatalf("key balance %d", v)
	}
	if c.bal.down.Load() {
		t.Fatal("marked down while Redis was up")
	}
}

func TestRedisTakeUpToAndGive(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 100, 60, false)
	attach(t, c, url)
	ctx := context.Background()
	if got := c.TakeQuotaUpTo(ctx, u, tok, 80); got != 60 {
		t.Fatalf("took %d, want 60 (the key's balance)", got)
	}
	if err := c.TakeQuota(ctx, u, tok, 1); err != ErrKeyQuota {
		t.Fatalf("err = %v, want ErrKeyQuota", err)
	}
	c.GiveQuota(ctx, u, tok, 15)
	uq, _ := c.UserQuota(ctx, u.Info().ID)
	tq, _ := c.TokenRemain(ctx, tok.Info().ID)
	if uq != 55 || tq != 15 {
		t.Fatalf("balances user=%d key=%d", uq, tq)
	}
	if got := c.TakeUserQuotaUpTo(ctx, u.Info().ID, 1000); got != 55 {
		t.Fatalf("took %d from the user", got)
	}
}

func TestRedisSeedsFromSQLMinusPendingCharges(t *testing.T) {
	url := redisURL(t)
	c, u, tok := ledgerFixture(t, 1000, 0, true)
	opt, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	prefix := "sluice-test:" + common.RandomString(10) + ":"
	defer rdb.Del(context.Background(), prefix+"user_quota:1")
	c.AttachRedis(rdb, prefix, func(user bool, id int) int64 {
		if user {
			return 300 // queued locally, not yet in SQL
		}
		return 0
	})
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 700); err != nil {
		t.Fatal(err)
	}
	if err := c.TakeQuota(ctx, u, tok, 1); err != ErrUserQuota {
		t.Fatalf("seeded balance ignored pending charges: %v", err)
	}
}

func TestRedisDownFallsBackToMemory(t *testing.T) {
	c, u, tok := ledgerFixture(t, 100, 100, false)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a guaranteed refusal
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	c.AttachRedis(rdb, "x:", nil)
	if !c.bal.down.Load() {
		t.Fatal("not marked down at attach")
	}
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 40); err != nil {
		t.Fatal(err)
	}
	if err := c.TakeQuota(ctx, u, tok, 70); err != ErrKeyQuota {
		t.Fatalf("err = %v", err)
	}
	if q, _ := c.UserQuota(ctx, u.Info().ID); q != 60 {
		t.Fatalf("local balance %d", q)
	}
	if c.bal.outUser[u.Info().ID] != -40 || c.bal.outToken[tok.Info().ID] != -40 {
		t.Fatalf("outage deltas not recorded: %v %v", c.bal.outUser, c.bal.outToken)
	}
}

// TestKeyCreatedElsewhereIsFoundInRedis: an instance that has not heard of
// a key yet (no announcement received) finds it in its Redis hash.
func TestKeyCreatedElsewhereIsFoundInRedis(t *testing.T) {
	url := redisURL(t)
	a, _, _ := ledgerFixture(t, 100, 100, false)
	opt, _ := redis.ParseURL(url)
	rdbA, rdbB := redis.NewClient(opt), redis.NewClient(opt)
	defer rdbA.Close()
	defer rdbB.Close()
	prefix := "sluice-test:" + common.RandomString(10) + ":"
	a.AttachRedis(rdbA, prefix, nil)
	b := NewCache(a.store)
	if err := b.Load(); err != nil {
		t.Fatal(err)
	}
	b.AttachRedis(rdbB, prefix, nil)

	secret := "sk-" + common.RandomString(20)
	tok := &Token{UserID: 1, Name: "fresh", KeyHash: common.HashSecret(secret), Status: 1, ExpiredTime: -1, RemainQuota: 5}
	if err := a.store.CreateToken(tok); err != nil {
		t.Fatal(err)
	}
	a.PutToken(tok)
	t.Cleanup(func() { rdbA.Del(context.Background(), prefix+"token:"+tok.KeyHash) })
	e := b.TokenByHash(tok.KeyHash)
	if e == nil || e.Info().Name != "fresh" || e.Info().UserID != 1 {
		t.Fatalf("B did not find the new key in Redis: %+v", e)
	}
	a.RemoveToken(tok.ID)
	if n, _ := rdbA.Exists(context.Background(), prefix+"token:"+tok.KeyHash).Result(); n != 0 {
		t.Fatal("removed key still in Redis")
	}
}

// replyDropper is a TCP proxy to Redis that can swallow Redis's replies:
// commands still run, the client never hears back (as in a CLIENT PAUSE
// or a connection cut after the write).
type replyDropper struct {
	ln   net.Listener
	drop atomic.Bool
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 && !p.drop.Load() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return p
}

// A refund that Redis applied but whose reply was lost must not be
// replayed when Redis returns: a second credit would let the balance be
// spent below zero.
func TestLostCreditReplyIsNotReplayed(t *testing.T) {
	url := redisURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newReplyDropper(t, opt.Addr)
	c, u, tok := ledgerFixture(t, 1000, 1000, false)
	viaProxy := *opt
	viaProxy.Addr = proxy.ln.Addr().String()
	viaProxy.ReadTimeout = time.Second // long enough for a loaded -race run; the lost reply costs one timeout
	viaProxy.MaxRetries = -1
	rdb := redis.NewClient(&viaProxy)
	defer rdb.Close()
	direct := redis.NewClient(opt)
	defer direct.Close()
	prefix := "sluice-test:" + common.RandomString(10) + ":"
	t.Cleanup(func() {
		if keys, err := direct.Keys(context.Background(), prefix+"*").Result(); err == nil && len(keys) > 0 {
			direct.Del(context.Background(), keys...)
		}
	})
	c.AttachRedis(rdb, prefix, nil)
	ctx := context.Background()
	if err := c.TakeQuota(ctx, u, tok, 300); err != nil {
		t.Fatal(err)
	}
	proxy.drop.Store(true)
	c.GiveQuota(ctx, u, tok, 100) // runs in Redis; the reply is lost
	if c.RedisHealthy() {
		t.Fatal("a lost reply did not switch to local balances")
	}
	proxy.drop.Store(false)
	if err := c.replayOutage(ctx); err != nil {
		t.Fatal(err)
	}
	c.bal.down.Store(false)
	got, err := direct.Get(ctx, c.bal.userKey(u.Info().ID)).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if got != 800 {
		t.Fatalf("user balance in Redis = %d, want 800 (1000 − 300 + 100 once)", got)
	}
}
