package model

import (
	"errors"

	"sluice/common"
)

// CheckpointWAL copies what SQLite's write-ahead log holds into the
// database file, for the main and the log database; on MySQL and
// PostgreSQL it does nothing. A checkpoint is two fsyncs, tens of
// milliseconds on a loaded disk, that SQLite would otherwise run inside
// whichever commit grew the log past its limit, while that goroutine's
// system call held the scheduler's P: on one core, traces showed requests
// waiting 14-19 ms. Run here, with a spare P (common.WithSpareProc), the
// requests go on meanwhile. PASSIVE: it neither waits for nor blocks
// readers and writers, and copies what they allow.
func (s *Store) CheckpointWAL() error {
	var errs []error
	for _, db := range s.databases() {
		if dialectOf(db) != DialectSQLite {
			continue
		}
		common.WithSpareProc(func() {
			errs = append(errs, db.Exec("PRAGMA wal_checkpoint(PASSIVE)").Error)
		})
	}
	return errors.Join(errs...)
}
