package model

import (
	"context"

	"gorm.io/gorm"
)

// LogDeleteBatch is how many logs one DELETE statement removes. Each batch
// is its own short statement, so deleting years of logs never holds a lock
// on the table (or SQLite's single writer) for more than a moment, and the
// batch writer's flushes slip in between.
const LogDeleteBatch = 5000

// DeleteLogsBefore deletes every log created before the unix time before,
// batch rows at a time (LogDeleteBatch when batch ≤ 0), and returns how
// many went. It stops early, returning what it deleted so far and ctx's
// error, when ctx ends between batches.
func (s *Store) DeleteLogsBefore(ctx context.Context, before int64, batch int) (int64, error) {
	if batch <= 0 {
		batch = LogDeleteBatch
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.deleteLogBatch(ctx, before, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

// deleteLogBatch deletes up to batch old logs. MySQL refuses LIMIT inside
// an IN subquery but takes DELETE … LIMIT; PostgreSQL has no DELETE … LIMIT
// and SQLite has it only in optional builds, so they select the ids.
func (s *Store) deleteLogBatch(ctx context.Context, before int64, batch int) (int64, error) {
	db := s.LogDB.WithContext(ctx)
	var res *gorm.DB
	if dialectOf(db) == DialectMySQL {
		res = db.Exec("DELETE FROM logs WHERE created_at < ? LIMIT ?", before, batch)
	} else {
		res = db.Exec("DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE created_at < ? LIMIT ?)", before, batch)
	}
	return res.RowsAffected, res.Error
}
