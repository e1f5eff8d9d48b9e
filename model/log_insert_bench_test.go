package model_test

import (
	"strconv"
	"testing"

	"sluice/internal/cputime"
	"sluice/internal/testdb"
	"sluice/model"
)

// BenchmarkInsertLogsServer inserts 200 logs per op (one InsertLogsMarked
// call, as the batch writer makes) into PostgreSQL and MySQL. cpu-ns/op is
// sluice's side only: building the statement, the drivers' encoding and
// their system calls; the server's work shows in ns/op.
func BenchmarkInsertLogsServer(b *testing.B) {
	for _, d := range []model.Dialect{model.DialectPostgres, model.DialectMySQL} {
		b.Run(string(d), func(b *testing.B) {
			store := testdb.Store(b, d)
			logs := make([]model.Log, 200)
			seq, mark := 0, int64(0)
			b.ReportAllocs()
			cpu := cputime.Used()
			for b.Loop() {
				for i := range logs {
					seq++
					logs[i] = model.Log{UserID: seq%500 + 1, Type: 2, ModelName: "model-" + strconv.Itoa(seq%30),
						Quota: int64(seq % 100_000), PromptTokens: seq % 7000, CompletionTokens: seq % 3000,
						UseTime: seq % 5000, IsStream: seq%2 == 0, CreatedAt: 1_700_010_000 + int64(seq/10),
						Username: "user" + strconv.Itoa(seq%500), TokenName: "key", TokenID: seq%2000 + 1,
						ChannelID: seq%40 + 1, Group: "default", RequestID: "req-" + strconv.Itoa(seq),
						Other: `{"cache_tokens":0,"model_ratio":1.5}`}
				}
				mark++
				if err := store.InsertLogsMarked(b.Context(), &model.FlushMark{Owner: "bench", Seq: mark}, logs, 0); err != nil {
					b.Fatal(err)
				}
			}
			cputime.Report(b, cputime.Used()-cpu)
		})
	}
}
