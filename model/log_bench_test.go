package model

import (
	"path/filepath"
	"testing"

	"sluice/common"
)

func BenchmarkInsertLogsSQLite(b *testing.B) {
	db, err := Open("", filepath.Join(b.TempDir(), "s.db"), PoolConfig{})
	if err != nil {
		b.Fatal(err)
	}
	cipher, _ := common.NewCipher("x")
	store := NewStore(db, db, cipher)
	if err := store.Migrate(); err != nil {
		b.Fatal(err)
	}
	logs := make([]Log, 200)
	b.ReportAllocs()
	for b.Loop() {
		for i := range logs {
			logs[i] = Log{UserID: 1, Type: 2, ModelName: "m", Quota: 10, PromptTokens: 5, CompletionTokens: 5,
				CreatedAt: 1_700_000_000, Username: "u", TokenName: "k", Group: "default", Other: `{"a":1}`}
		}
		if err := store.InsertLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
}
