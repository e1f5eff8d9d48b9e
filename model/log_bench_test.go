package model

import (
	"path/filepath"
	"strconv"
	"testing"

	"sluice/common"
	"sluice/internal/cputime"
)

// sqliteStore returns a migrated store on a fresh SQLite file.
func sqliteStore(tb testing.TB) *Store {
	tb.Helper()
	db, err := Open("", filepath.Join(tb.TempDir(), "s.db"), PoolConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	cipher, _ := common.NewCipher("x")
	store := NewStore(db, db, cipher)
	if err := store.Migrate(); err != nil {
		tb.Fatal(err)
	}
	return store
}

func BenchmarkInsertLogsSQLite(b *testing.B) {
	store := sqliteStore(b)
	logs := make([]Log, 200)
	b.ReportAllocs()
	cpu := cputime.Used()
	for b.Loop() {
		for i := range logs {
			logs[i] = Log{UserID: 1, Type: 2, ModelName: "m", Quota: 10, PromptTokens: 5, CompletionTokens: 5,
				CreatedAt: 1_700_000_000, Username: "u", TokenName: "k", Group: "default", Other: `{"a":1}`}
		}
		if err := store.InsertLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, cputime.Used()-cpu)
}

// BenchmarkInsertLogsSQLite100k inserts into a table that already holds
// 100,000 logs, with values that vary the way real ones do (many users and
// keys, a unique request id), so index inserts land all over deeper
// B-trees rather than appending to one small page.
func BenchmarkInsertLogsSQLite100k(b *testing.B) {
	store := sqliteStore(b)
	// One statement fills the table, so the set-up costs the same whatever
	// InsertLogs does; the columns are spelled out because the benchmark
	// also runs against older schemas.
	err := store.LogDB.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO logs (user_id, created_at, type, content, username, token_name, token_id, model_name, quota,
			prompt_tokens, completion_tokens, use_time, is_stream, channel_id, "group", request_id, other)
		SELECT i % 500 + 1, 1700000000 + i / 10, 2, '', 'user' || (i % 500), 'key-' || (i % 7), i % 2000 + 1,
			'model-' || (i % 30), i % 1000, i % 700, i % 300, i % 5000, i % 2, i % 40 + 1, 'default',
			'req-' || ((i * 2654435761) % 4294967296), '{"a":1}' FROM n`).Error
	if err != nil {
		b.Fatal(err)
	}
	names := func(prefix string, n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = prefix + strconv.Itoa(i)
		}
		return s
	}
	users, models, keys := names("user", 500), names("model-", 30), names("key-", 7)
	logs := make([]Log, 200)
	seq := 0
	b.ReportAllocs()
	cpu := cputime.Used()
	for b.Loop() {
		for i := range logs {
			seq++
			logs[i] = Log{UserID: seq%500 + 1, Type: 2, ModelName: models[seq%30], Quota: int64(seq % 1000),
				PromptTokens: seq % 700, CompletionTokens: seq % 300, UseTime: seq % 5000, IsStream: seq%2 == 0,
				CreatedAt: 1_700_010_000 + int64(seq/10), Username: users[seq%500], TokenName: keys[seq%7],
				TokenID: seq%2000 + 1, ChannelID: seq%40 + 1, Group: "default",
				RequestID: "req-" + strconv.FormatUint(uint64(seq)*2654435761%4294967296+1, 10), Other: `{"a":1}`}
		}
		if err := store.InsertLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, cputime.Used()-cpu)
}
