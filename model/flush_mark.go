package model

import (
	"context"
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// FlushMark names one batch of the batch writer (a flush's counters, or one
// chunk of its logs) in the same transaction that writes it. A database
// server can commit a transaction and lose the answer on its way back (a
// dropped connection, a failover, a proxy restarting): the writer then
// cannot know whether the batch landed, and writing it again would charge
// every request in it twice. Retried under the same mark, the batch either
// lands (the first try did not) or meets its own mark and is refused
// whole (ErrAlreadyWritten). The primary key makes the check safe even
// while the first try's commit is still under way on the server: the
// retry's insert waits for it.
//
// Only database servers get marks: SQLite runs in this process and reports
// a commit's outcome as it is.
type FlushMark struct {
	Owner     string `gorm:"primaryKey;size:32"` // one batch writer (one process)
	Seq       int64  `gorm:"primaryKey;autoIncrement:false"`
	CreatedAt int64  `gorm:"autoCreateTime:false"`
}

// ErrAlreadyWritten is returned for a batch whose mark is already in the
// database: an earlier try committed it.
var ErrAlreadyWritten = errors.New("batch already written by an earlier try")

// marked reports whether batches written to db carry marks.
func marked(db *gorm.DB) bool { return dialectOf(db) != DialectSQLite }

// insertMark writes m in tx, unless m is nil or tx is SQLite's; a mark
// that is already there means the batch was written before.
func insertMark(tx *gorm.DB, m *FlushMark) error {
	if m == nil || !marked(tx) {
		return nil
	}
	err := tx.Exec("INSERT INTO flush_marks (owner, seq, created_at) VALUES (?, ?, ?)",
		m.Owner, m.Seq, time.Now().Unix()).Error
	if isDuplicateKey(err) {
		return ErrAlreadyWritten
	}
	return err
}

// isDuplicateKey reports a unique-key violation from PostgreSQL or MySQL.
func isDuplicateKey(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && myErr.Number == 1062
}

// ForgetFlushMarks deletes owner's marks up to seq in both databases, once
// every batch they name is known to be written or refused: none can be
// retried any more.
func (s *Store) ForgetFlushMarks(ctx context.Context, owner string, seq int64) error {
	return s.deleteMarks(ctx, "owner = ? AND seq <= ?", owner, seq)
}

// PruneFlushMarks deletes the marks older than age, whichever writer made
// them: a process that stopped without forgetting its own (killed, or with
// the database away) leaves its last flush's behind.
func (s *Store) PruneFlushMarks(ctx context.Context, age time.Duration) error {
	return s.deleteMarks(ctx, "created_at < ?", time.Now().Add(-age).Unix())
}

// deleteMarks deletes the marks that match where in every database that
// holds marks.
func (s *Store) deleteMarks(ctx context.Context, where string, args ...any) error {
	var errs []error
	for _, db := range s.databases() {
		if marked(db) {
			errs = append(errs, db.WithContext(ctx).Where(where, args...).Delete(&FlushMark{}).Error)
		}
	}
	return errors.Join(errs...)
}
