package model

import (
	"errors"
	"strconv"

	"gorm.io/gorm"
)

// Redemption statuses.
const (
	RedemptionStatusUnused   = 1
	RedemptionStatusDisabled = 2
	RedemptionStatusUsed     = 3
)

// Redemption is a top-up code. Like API keys, only the code's SHA-256 is
// stored: a leaked database must not leak spendable codes.
type Redemption struct {
	ID           int    `json:"id" gorm:"primaryKey"`
	UserID       int    `json:"user_id" gorm:"index"` // the admin who created it
	Name         string `json:"name" gorm:"size:128;index"`
	KeyHash      string `json:"-" gorm:"column:key_hash;size:64;uniqueIndex;not null"`
	MaskedKey    string `json:"key" gorm:"column:masked_key;size:32"`
	Status       int    `json:"status" gorm:"not null;default:1;index"`
	Quota        int64  `json:"quota" gorm:"not null;default:0"`
	CreatedTime  int64  `json:"created_time"`
	RedeemedTime int64  `json:"redeemed_time"`
	UsedUserID   int    `json:"used_user_id"`
	ExpiredTime  int64  `json:"expired_time" gorm:"not null;default:0"` // 0: never
}

// ErrRedemptionUnavailable is returned for a code that does not exist, was
// used, is disabled or has expired. The four cases share one error on
// purpose: telling them apart would tell a guesser which codes exist.
var ErrRedemptionUnavailable = errors.New("invalid or already used redemption code")

// ErrRedemptionUsed refuses changes that would reopen or reprice a code that
// has already been redeemed.
var ErrRedemptionUsed = errors.New("this redemption code has already been used")

// CreateRedemptions inserts codes all or nothing, so a failure never leaves
// half a batch whose secrets nobody has seen.
func (s *Store) CreateRedemptions(rs []Redemption) error {
	if len(rs) == 0 {
		return nil
	}
	return s.DB.Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(rs, 100).Error
	})
}

// RedemptionByID loads one code.
func (s *Store) RedemptionByID(id int) (*Redemption, error) {
	var r Redemption
	if err := s.DB.First(&r, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &r, nil
}

// RedemptionFilter narrows ListRedemptions. Keyword matches a name
// containing it or, when it is a number, the code with that id.
type RedemptionFilter struct {
	Keyword  string
	Page     int
	PageSize int
}

// ListRedemptions returns one page of codes (newest first) and the total.
func (s *Store) ListRedemptions(f RedemptionFilter) ([]Redemption, int64, error) {
	q := s.DB.Model(&Redemption{})
	if f.Keyword != "" {
		like := "%" + f.Keyword + "%"
		if id, err := strconv.Atoi(f.Keyword); err == nil {
			q = q.Where("id = ? OR name LIKE ?", id, like)
		} else {
			q = q.Where("name LIKE ?", like)
		}
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rs []Redemption
	err := q.Order("id desc").Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&rs).Error
	return rs, total, err
}

// RedemptionEdit is what an operator may change on a code.
type RedemptionEdit struct {
	Name        string
	Quota       int64
	ExpiredTime int64
}

// UpdateRedemption changes a code's name, quota and expiry. A used code
// keeps its quota and expiry (its history must not change) and only its name
// may be edited; the condition is in the UPDATE itself, so a redemption
// racing the edit either sees the old quota or the edit is refused.
func (s *Store) UpdateRedemption(id int, e RedemptionEdit) (*Redemption, error) {
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Redemption{}).Where("id = ? AND status <> ?", id, RedemptionStatusUsed).
			Updates(map[string]any{"name": e.Name, "quota": e.Quota, "expired_time": e.ExpiredTime})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			return nil
		}
		// Nothing changed: no such code, a used code, or (MySQL counts only
		// changed rows) the same values again.
		var cur Redemption
		if err := lockingRead(tx).First(&cur, id).Error; err != nil {
			return notFound(err)
		}
		if cur.Status != RedemptionStatusUsed {
			return nil
		}
		if cur.Quota != e.Quota || cur.ExpiredTime != e.ExpiredTime {
			return ErrRedemptionUsed
		}
		return tx.Model(&Redemption{}).Where("id = ?", id).Update("name", e.Name).Error
	})
	if err != nil {
		return nil, err
	}
	return s.RedemptionByID(id)
}

// SetRedemptionStatus enables (1) or disables (2) a code. A used code stays
// used: re-enabling it would let it be redeemed twice.
func (s *Store) SetRedemptionStatus(id, status int) (*Redemption, error) {
	res := s.DB.Model(&Redemption{}).Where("id = ? AND status <> ?", id, RedemptionStatusUsed).Update("status", status)
	if res.Error != nil {
		return nil, res.Error
	}
	r, err := s.RedemptionByID(id)
	if err != nil {
		return nil, err
	}
	if res.RowsAffected == 0 && r.Status == RedemptionStatusUsed {
		return nil, ErrRedemptionUsed
	}
	return r, nil
}

// DeleteRedemption removes one code, reporting whether it existed.
func (s *Store) DeleteRedemption(id int) (bool, error) {
	res := s.DB.Where("id = ?", id).Delete(&Redemption{})
	return res.RowsAffected > 0, res.Error
}

// DeleteInvalidRedemptions removes every code that can no longer be
// redeemed at now (used, disabled, or expired) and returns how many went,
// like new-api's DELETE /api/redemption/invalid.
func (s *Store) DeleteInvalidRedemptions(now int64) (int64, error) {
	res := s.DB.Where("status IN ? OR (status = ? AND expired_time <> 0 AND expired_time <= ?)",
		[]int{RedemptionStatusUsed, RedemptionStatusDisabled}, RedemptionStatusUnused, now).Delete(&Redemption{})
	return res.RowsAffected, res.Error
}

// RedeemCode spends the code whose hash is keyHash for userID exactly once:
// in one transaction, a conditional UPDATE claims the code (only one of any
// number of concurrent callers can move it from unused to used) and the
// user's quota grows by the code's quota. Any other outcome changes nothing
// and returns ErrRedemptionUnavailable (or ErrNotFound for a missing user).
func (s *Store) RedeemCode(keyHash string, userID int, now int64) (*Redemption, error) {
	var r Redemption
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Redemption{}).
			Where("key_hash = ? AND status = ? AND quota > 0 AND (expired_time = 0 OR expired_time > ?)",
				keyHash, RedemptionStatusUnused, now).
			Updates(map[string]any{"status": RedemptionStatusUsed, "used_user_id": userID, "redeemed_time": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrRedemptionUnavailable
		}
		// The row is ours now (locked until commit), so this read sees the
		// quota the claim was made against.
		if err := lockingRead(tx).Where("key_hash = ?", keyHash).First(&r).Error; err != nil {
			return err
		}
		res = tx.Model(&User{}).Where("id = ?", userID).Update("quota", gorm.Expr("quota + ?", r.Quota))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}
