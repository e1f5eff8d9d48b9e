package common

import (
	"context"
	"math"
	"testing"
	"time"

	"sluice/internal/testenv"
)

type allKinds struct {
	S   string  `redis:"s"`
	I   int     `redis:"i"`
	I8  int8    `redis:"i8"`
	I64 int64   `redis:"i64"`
	U   uint    `redis:"u"`
	U32 uint32  `redis:"u32"`
	F32 float32 `redis:"f32"`
	F64 float64 `redis:"f64"`
	B   bool    `redis:"b"`
	F   bool    `redis:"f"`
}

func TestRedisHashRoundTrip(t *testing.T) {
	rdb, err := NewRedis(testenv.Lookup(t, testenv.Redis), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	key := "sluice-test:" + RandomString(12) + ":obj"
	t.Cleanup(func() { rdb.Del(ctx, key) })
	in := allKinds{S: "héllo, world", I: -42, I8: -128, I64: math.MinInt64, U: 42, U32: math.MaxUint32,
		F32: 1.5, F64: -0.000123456789, B: true, F: false}
	if err := RedisHSetObj(ctx, rdb, key, &in, time.Minute); err != nil {
		t.Fatal(err)
	}
	var out allKinds
	if err := RedisHGetObj(ctx, rdb, key, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	// Overwriting replaces every field, including ones now at zero value.
	in2 := allKinds{S: "x"}
	if err := RedisHSetObj(ctx, rdb, key, &in2, 0); err != nil {
		t.Fatal(err)
	}
	out = allKinds{}
	if err := RedisHGetObj(ctx, rdb, key, &out); err != nil || out != in2 {
		t.Fatalf("overwrite: %+v %v", out, err)
	}
	if err := RedisHGetObj(ctx, rdb, key+":missing", &out); !IsRedisNil(err) {
		t.Fatalf("missing key: %v", err)
	}
}
