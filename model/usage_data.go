package model

import (
	"cmp"
	"context"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// QuotaData is one hour of usage for one user and model, kept current by
// the batch writer so dashboards never scan the logs.
type QuotaData struct {
	ID        int    `json:"id" gorm:"primaryKey"`
	UserID    int    `json:"user_id" gorm:"uniqueIndex:idx_qd_user_model_hour;not null"`
	Username  string `json:"username" gorm:"size:64;index;default:''"`
	ModelName string `json:"model_name" gorm:"size:255;uniqueIndex:idx_qd_user_model_hour;not null"`
	CreatedAt int64  `json:"created_at" gorm:"uniqueIndex:idx_qd_user_model_hour;index;not null;autoCreateTime:false"` // the hour (unix, truncated)
	Count     int64  `json:"count" gorm:"not null;default:0"`
	Quota     int64  `json:"quota" gorm:"not null;default:0"`
	TokenUsed int64  `json:"token_used" gorm:"not null;default:0"`
}

// QuotaDataHour is the length of one QuotaData bucket in seconds.
const QuotaDataHour = 3600

// QuotaDataKey names one bucket: a user, a model and an hour (unix seconds,
// a multiple of QuotaDataHour).
type QuotaDataKey struct {
	UserID    int
	ModelName string
	Hour      int64
}

// QuotaDataDelta is what one flush adds to a bucket.
type QuotaDataDelta struct {
	Username  string // the latest name wins
	Count     int64
	Quota     int64
	TokenUsed int64
}

// Add folds o into d (the later username wins when o has one).
func (d *QuotaDataDelta) Add(o QuotaDataDelta) {
	if o.Username != "" {
		d.Username = o.Username
	}
	d.Count += o.Count
	d.Quota += o.Quota
	d.TokenUsed += o.TokenUsed
}

// AddQuotaData adds a batch of hourly aggregates to their rows, creating
// the rows that do not exist yet, with the batch's mark (nil: none) on a
// database server (ErrAlreadyWritten, and nothing added, when an earlier
// try under that mark committed). It is one transaction: either every
// bucket is added or none is.
func (s *Store) AddQuotaData(ctx context.Context, m *FlushMark, deltas map[QuotaDataKey]QuotaDataDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	rows := make([]QuotaData, 0, len(deltas))
	for k, d := range deltas {
		rows = append(rows, QuotaData{UserID: k.UserID, Username: d.Username, ModelName: k.ModelName,
			CreatedAt: k.Hour, Count: d.Count, Quota: d.Quota, TokenUsed: d.TokenUsed})
	}
	// A fixed order makes concurrent flushes from several instances lock
	// rows in the same order, so they queue instead of deadlocking.
	slices.SortFunc(rows, func(a, b QuotaData) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.ModelName, b.ModelName), cmp.Compare(a.CreatedAt, b.CreatedAt))
	})
	upsert := quotaDataUpsert(s.DB)
	return s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := insertMark(tx, m); err != nil {
			return err
		}
		return tx.Clauses(upsert).CreateInBatches(rows, 200).Error
	})
}

// quotaDataUpsert adds an incoming row to the existing one. PostgreSQL and
// SQLite name the incoming row "excluded" and need the conflict target;
// MySQL/MariaDB use ON DUPLICATE KEY UPDATE, where a bare column is the
// existing row and VALUES(col) the incoming one (MariaDB has no row alias
// syntax, and MySQL 8 still accepts VALUES()).
func quotaDataUpsert(db *gorm.DB) clause.OnConflict {
	add := func(col string) clause.Assignment {
		if dialectOf(db) == DialectMySQL {
			return clause.Assignment{Column: clause.Column{Name: col}, Value: gorm.Expr("`" + col + "` + VALUES(`" + col + "`)")}
		}
		return clause.Assignment{Column: clause.Column{Name: col}, Value: gorm.Expr(`"quota_data"."` + col + `" + excluded."` + col + `"`)}
	}
	username := clause.Assignment{Column: clause.Column{Name: "username"}, Value: gorm.Expr(`excluded."username"`)}
	if dialectOf(db) == DialectMySQL {
		username.Value = gorm.Expr("VALUES(`username`)")
	}
	return clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "model_name"}, {Name: "created_at"}},
		DoUpdates: clause.Set{add("count"), add("quota"), add("token_used"), username},
	}
}

// QuotaDataFilter narrows ListQuotaData. Start and End bound the bucket
// hours (inclusive); UserID or Username, when set, pick one user.
type QuotaDataFilter struct {
	UserID   int
	Username string
	Start    int64
	End      int64
}

// ListQuotaData returns the buckets in the window, oldest first.
func (s *Store) ListQuotaData(f QuotaDataFilter) ([]QuotaData, error) {
	q := s.DB.Model(&QuotaData{}).Where("created_at >= ? AND created_at <= ?", f.Start, f.End)
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Username != "" {
		q = q.Where("username = ?", f.Username)
	}
	var rows []QuotaData
	err := q.Order("created_at asc, id asc").Find(&rows).Error
	return rows, err
}
