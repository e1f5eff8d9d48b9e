package service_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"sluice/internal/cputime"
	"sluice/internal/testdb"
	"sluice/model"
	"sluice/service"
)

func BenchmarkReserveSettle(b *testing.B) {
	cache, u, tok := entries(1<<50, 1<<50, false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := service.Reserve(ctx, cache, u, tok, 1000)
		if err != nil {
			b.Fatal(err)
		}
		r.Settle(ctx, 700)
	}
}

func BenchmarkBatchWriterRecordCharge(b *testing.B) {
	store := testdb.Store(b, model.DialectSQLite)
	w := service.NewBatchWriter(store, false)
	log := &model.Log{UserID: 1, Type: 2, ModelName: "m", Quota: 10, PromptTokens: 5, CompletionTokens: 5, CreatedAt: 1_700_000_000}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.RecordCharge(service.Charge{UserID: 1 + i%50, TokenID: 1 + i%100, ChannelID: 1, Quota: 10, Log: log})
		if i%10000 == 9999 {
			b.StopTimer()
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkCollectWithQueuedLogs times one garbage collection while the
// writer holds 50,000 consume logs (ten seconds of a busy gateway at the
// default interval), each with its own strings as the relay makes them:
// the collector marks whatever the queue leaves it to trace, every cycle.
func BenchmarkCollectWithQueuedLogs(b *testing.B) {
	store := testdb.Store(b, model.DialectSQLite)
	w := service.NewBatchWriter(store, false)
	for i := range 50_000 {
		id := strconv.Itoa(i)
		w.RecordCharge(service.Charge{UserID: 1 + i%50, TokenID: 1 + i%100, ChannelID: 1, Quota: 10, Log: &model.Log{
			UserID: 1 + i%50, Type: 2, ModelName: "gpt-4o-mini", Quota: 10, PromptTokens: 24, CompletionTokens: 20,
			CreatedAt: 1_700_000_000, Username: "user" + id, TokenName: "key" + id, Group: "default",
			RequestID: "20261126160000" + id, Content: "model ratio 1.00, completion ratio 4.00, group ratio 1.00 #" + id,
			Other: `{"cache_ratio":1,"cached_tokens":0,"completion_ratio":4,"cost":` + id + `,"group_ratio":1,` +
				`"model_ratio":1,"upstream_model":"gpt-4o-mini","usage_source":"upstream"}`}})
	}
	runtime.GC()
	b.ReportAllocs()
	cpu := cputime.Used()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	// The collector marks on every core: its CPU, not its wall time, is
	// what a busy gateway pays.
	cputime.Report(b, cputime.Used()-cpu)
	if n := w.PendingLogs(); n != 50_000 {
		b.Fatalf("%d logs queued, want 50000", n)
	}
}

// BenchmarkFlushLogsSQLite is one flush of 2,000 consume logs from 500
// users, 40 channels and 2,000 keys into a SQLite table that already holds
// 100,000 such logs, so each transaction's index inserts land on many leaf
// pages, as on a gateway serving many customers. cpu-ns/op is what the
// gateway pays; ns/op includes the flush's parks for the requests.
func BenchmarkFlushLogsSQLite(b *testing.B) {
	store := testdb.Store(b, model.DialectSQLite)
	err := store.LogDB.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO logs (user_id, created_at, type, content, username, token_name, token_id, model_name, quota,
			prompt_tokens, completion_tokens, use_time, is_stream, channel_id, "group", request_id, other)
		SELECT i % 500 + 1, 1700000000 + i / 10, 2, '', 'user' || (i % 500), 'key-' || (i % 7), i % 2000 + 1,
			'model-' || (i % 30), i % 1000, i % 700, i % 300, i % 5000, i % 2, i % 40 + 1, 'default',
			'req-' || i, '{"a":1}' FROM n`).Error
	if err != nil {
		b.Fatal(err)
	}
	w := service.NewBatchWriter(store, false)
	seq := 0
	queue := func() {
		for range 2000 {
			seq++
			id := strconv.Itoa(seq)
			w.AddLog(model.Log{UserID: seq%500 + 1, Type: 2, ModelName: "model-" + strconv.Itoa(seq%30), Quota: 10,
				PromptTokens: 24, CompletionTokens: 20, CreatedAt: 1_700_010_000 + int64(seq/10),
				Username: "user" + strconv.Itoa(seq%500), TokenName: "key-" + strconv.Itoa(seq%7), TokenID: seq%2000 + 1,
				ChannelID: seq%40 + 1, Group: "default", RequestID: "req-" + id, Other: `{"a":1}`})
		}
	}
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		queue()
		start := cputime.Used()
		b.StartTimer()
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Used() - start
	}
	cputime.Report(b, cpu)
}
