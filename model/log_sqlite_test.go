package model

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The pinned driver's connection is the one sqliteConnHandle knows: if a
// driver upgrade changes it, SQLite's log inserts would fall back to plain
// statements (parsed on every exec) without a word, so this fails instead.
func TestSQLiteConnHandleReadsThePinnedDriver(t *testing.T) {
	s := sqliteStore(t)
	sqlDB, err := s.LogDB.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		if _, _, ok := sqliteConnHandle(dc); !ok {
			return errNoSQLiteHandle
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the driver's connection (%v): %v", conn, err)
	}
	// Anything else is refused, not read.
	type conn2 struct {
		db  uintptr
		tls *int
	}
	for _, v := range []any{nil, 7, &struct{ db uintptr }{1}, &conn2{db: 1}} {
		if _, _, ok := sqliteConnHandle(v); ok {
			t.Errorf("sqliteConnHandle accepted %T", v)
		}
	}
}

// sqliteLogHead is InsertLogs' statement head on SQLite.
var sqliteLogHead = newLogInsert(DialectSQLite).head

// Logs written through the engine's API land whole, in order, and a batch
// the database refuses part of leaves nothing and the connection usable
// (the rest of the contract runs on every database in log_test.go).
func TestInsertLogsSQLiteThroughTheEngine(t *testing.T) {
	s := sqliteStore(t)
	logs := make([]Log, 3*sqliteLogRows+5) // several yields
	for i := range logs {
		logs[i] = Log{UserID: i + 1, CreatedAt: int64(1_700_000_000 + i), Type: 2, Quota: int64(i) * 3,
			IsStream: i%2 == 0, ChannelID: 4, Username: "u", ModelName: "m", Group: "default",
			RequestID: "r" + strings.Repeat("x", i), Other: `{"i":1}`, Content: strings.Repeat("é", i*50)}
	}
	if err := s.insertLogsSQLite(sqliteLogHead, logs); err != nil {
		t.Fatalf("insertLogsSQLite: %v", err)
	}
	var got []Log
	if err := s.LogDB.Order("id").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != len(logs) {
		t.Fatalf("%d rows, want %d", len(got), len(logs))
	}
	for i := range got {
		want := logs[i]
		want.ID = got[i].ID
		if got[i] != want {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}

	// A trigger refuses the last log: none of the batch stays.
	if err := s.LogDB.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON logs WHEN NEW.content = 'refused'
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`).Error; err != nil {
		t.Fatal(err)
	}
	bad := append(append([]Log(nil), logs...), Log{Content: "refused"})
	err := s.insertLogsSQLite(sqliteLogHead, bad)
	if err == nil || !strings.Contains(err.Error(), "refused by the test") || errors.Is(err, errNoSQLiteHandle) {
		t.Fatalf("a refused log: err %v", err)
	}
	var n int64
	if err := s.LogDB.Model(&Log{}).Count(&n).Error; err != nil || n != int64(len(logs)) {
		t.Fatalf("%d rows after a refused batch (err %v), want the %d before it", n, err, len(logs))
	}
	// The connection is back in autocommit: a plain write and a new batch work.
	if err := s.LogDB.Exec("DROP TRIGGER refuse").Error; err != nil {
		t.Fatalf("after the refused batch: %v", err)
	}
	if err := s.insertLogsSQLite(sqliteLogHead, logs[:2]); err != nil {
		t.Fatalf("the next batch: %v", err)
	}
}
