package model_test

import (
	"testing"

	"sluice/internal/testdb"
	"sluice/model"
)

func TestCheckpointWALCopiesTheLogIntoTheDatabaseFile(t *testing.T) {
	t.Parallel()
	db := testdb.Create(t, model.DialectSQLite)
	s := testdb.StoreOn(t, db.Open(t))
	const n = 500
	if err := s.InsertLogs(logFixture(n)); err != nil {
		t.Fatalf("InsertLogs: %v", err)
	}
	// SQLite checkpoints by itself only past 40,000 pages: the logs are
	// in the WAL, not yet in the file.
	if got := testdb.RowsInFileAlone(t, db.Path, "logs"); got == n {
		t.Fatalf("the database file already holds all %d logs before the checkpoint", n)
	}
	if err := s.CheckpointWAL(); err != nil {
		t.Fatalf("CheckpointWAL: %v", err)
	}
	if got := testdb.RowsInFileAlone(t, db.Path, "logs"); got != n {
		t.Errorf("logs in the database file after CheckpointWAL = %d, want %d", got, n)
	}
}

// With a separate log database both files are checkpointed.
func TestCheckpointWALSeparateLogDatabase(t *testing.T) {
	t.Parallel()
	main := testdb.Create(t, model.DialectSQLite)
	logs := testdb.Create(t, model.DialectSQLite)
	s := model.NewStore(main.Open(t), logs.Open(t), testdb.Cipher(t))
	if err := s.Migrate(); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.InsertLogs(logFixture(50)); err != nil {
		t.Fatalf("InsertLogs: %v", err)
	}
	if err := s.CheckpointWAL(); err != nil {
		t.Fatalf("CheckpointWAL: %v", err)
	}
	if got := testdb.RowsInFileAlone(t, logs.Path, "logs"); got != 50 {
		t.Errorf("logs in the log database's file = %d, want 50", got)
	}
	if got := testdb.RowsInFileAlone(t, main.Path, "users"); got != 0 {
		t.Errorf("users in the main database's file = %d, want 0 (the table, migrated, and empty)", got)
	}
}

// On MySQL and PostgreSQL there is nothing to checkpoint, and no error.
func TestCheckpointWALOnEveryDatabase(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		if err := s.InsertLogs(logFixture(10)); err != nil {
			t.Fatalf("InsertLogs: %v", err)
		}
		if err := s.CheckpointWAL(); err != nil {
			t.Errorf("CheckpointWAL: %v", err)
		}
	})
}
