package model

import (
	"context"
	"testing"

	"sluice/common"
	"sluice/internal/testenv"
)

func BenchmarkTokenLookup(b *testing.B) {
	c, _, _ := ledgerFixtureB(b)
	secret := "sk-bench-secret-value-000000000000000000000000000"
	tok := &Token{UserID: 1, Name: "b", KeyHash: common.HashSecret(secret), Status: 1, ExpiredTime: -1}
	if err := c.store.CreateToken(tok); err != nil {
		b.Fatal(err)
	}
	c.PutToken(tok)
	b.ReportAllocs()
	for b.Loop() {
		if c.TokenByHash(common.HashSecret(secret)) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkSelectChannel(b *testing.B) {
	c, _, _ := ledgerFixtureB(b)
	for i := range 8 {
		ch := &Channel{Type: 1, Name: "c", Models: "m", Group: "default", Status: 1, Weight: uint(i + 1), Priority: int64(i % 2)}
		if err := c.store.CreateChannel(ch, "k"); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.ReloadChannels(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SelectChannel("default", "m", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTakeAndGiveQuotaLocal(b *testing.B) {
	c, u, tok := ledgerFixtureB(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.TakeQuota(ctx, u, tok, 10); err != nil {
			b.Fatal(err)
		}
		c.GiveQuota(ctx, u, tok, 10)
	}
}

// BenchmarkTakeAndGiveQuotaRedis is a busy key's reservation and its
// refund with Redis, each request charged half its reservation: served
// from the key's lease, which is topped up when it runs low. Time per op is
// wall time, so a reservation that waits for a script round trip shows.
func BenchmarkTakeAndGiveQuotaRedis(b *testing.B) {
	c, u, tok := ledgerFixtureB(b)
	attach(b, c, testenv.Lookup(b, testenv.Redis))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.TakeQuota(ctx, u, tok, 10); err != nil {
			b.Fatal(err)
		}
		c.GiveQuota(ctx, u, tok, 5)
	}
	b.StopTimer()
	c.FlushCredits(ctx)
}

func ledgerFixtureB(b *testing.B) (*Cache, *UserEntry, *TokenEntry) {
	return ledgerFixtureTB(b, 1<<40, 1<<40, false)
}
