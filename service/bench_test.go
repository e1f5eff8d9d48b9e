package service_test

import (
	"context"
	"testing"

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
