package model

import (
	"context"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"sluice/common"
)

// Store is the SQL side of sluice: the main database and the (possibly
// separate) log database, plus the cipher for channel keys.
type Store struct {
	DB     *gorm.DB
	LogDB  *gorm.DB
	cipher *common.Cipher
}

// NewStore wraps open connections. logDB may be the same as db.
func NewStore(db, logDB *gorm.DB, cipher *common.Cipher) *Store {
	if logDB == nil {
		logDB = db
	}
	return &Store{DB: db, LogDB: logDB, cipher: cipher}
}

// databases lists the main database, and the log database when it is
// another one.
func (s *Store) databases() []*gorm.DB {
	if s.LogDB == s.DB {
		return []*gorm.DB{s.DB}
	}
	return []*gorm.DB{s.DB, s.LogDB}
}

// Migrate brings every table up to date.
func (s *Store) Migrate() error {
	if err := Migrate(s.DB); err != nil {
		return err
	}
	return MigrateLogs(s.LogDB)
}

// UserDelta is a coalesced change to one user's counters.
type UserDelta struct {
	Quota        int64 // subtracted from quota
	UsedQuota    int64
	RequestCount int64
}

// TokenDelta is a coalesced change to one key's counters.
type TokenDelta struct {
	RemainQuota  int64 // subtracted from remain_quota
	UsedQuota    int64
	AccessedTime int64
}

// Deltas is one flush of the batch writer.
type Deltas struct {
	Users    map[int]UserDelta
	Tokens   map[int]TokenDelta
	Channels map[int]int64 // used_quota added
}

// ApplyDeltas writes one batch of counter changes in a single transaction,
// as relative updates so concurrent admin edits are not overwritten.
func (s *Store) ApplyDeltas(d Deltas) error { return s.ApplyDeltasMarked(context.Background(), nil, d) }

// ApplyDeltasMarked is ApplyDeltas with the batch's mark (nil: none) in the
// same transaction, on a database server: ErrAlreadyWritten, and nothing
// changed, when an earlier try under that mark committed. ctx bounds the
// transaction.
func (s *Store) ApplyDeltasMarked(ctx context.Context, m *FlushMark, d Deltas) error {
	if len(d.Users)+len(d.Tokens)+len(d.Channels) == 0 {
		return nil
	}
	return s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := insertMark(tx, m); err != nil {
			return err
		}
		for id, u := range d.Users {
			err := tx.Model(&User{}).Unscoped().Where("id = ?", id).Updates(map[string]any{
				"quota":         gorm.Expr("quota - ?", u.Quota),
				"used_quota":    gorm.Expr("used_quota + ?", u.UsedQuota),
				"request_count": gorm.Expr("request_count + ?", u.RequestCount),
			}).Error
			if err != nil {
				return err
			}
		}
		for id, t := range d.Tokens {
			fields := map[string]any{
				"remain_quota": gorm.Expr("remain_quota - ?", t.RemainQuota),
				"used_quota":   gorm.Expr("used_quota + ?", t.UsedQuota),
			}
			if t.AccessedTime != 0 {
				fields["accessed_time"] = gorm.Expr("CASE WHEN accessed_time < ? THEN ? ELSE accessed_time END", t.AccessedTime, t.AccessedTime)
			}
			if err := tx.Model(&Token{}).Where("id = ?", id).Updates(fields).Error; err != nil {
				return err
			}
		}
		for id, q := range d.Channels {
			if err := tx.Model(&Channel{}).Where("id = ?", id).Update("used_quota", gorm.Expr("used_quota + ?", q)).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// lockingRead is used where a read must see the latest committed row inside
// a transaction on MySQL/PostgreSQL (SQLite serialises anyway).
func lockingRead(tx *gorm.DB) *gorm.DB {
	if dialectOf(tx) == DialectSQLite {
		return tx
	}
	return tx.Clauses(clause.Locking{Strength: "UPDATE"})
}

// AddTokenRemain adds delta to a key's remaining quota.
func (s *Store) AddTokenRemain(id int, delta int64) error {
	return s.DB.Model(&Token{}).Where("id = ?", id).Update("remain_quota", gorm.Expr("remain_quota + ?", delta)).Error
}

// AddUserQuota adds delta to a user's quota.
func (s *Store) AddUserQuota(id int, delta int64) error {
	return s.DB.Model(&User{}).Where("id = ?", id).Update("quota", gorm.Expr("quota + ?", delta)).Error
}
