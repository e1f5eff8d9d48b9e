package model

import (
	"errors"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// setupClaimKey is an options row whose primary key makes creating the
// first root a one-time act, even when two instances or two setup requests
// race: the second insert of the same key fails.
const setupClaimKey = "sluice.setup_claimed"

// ErrSetupClaimed means a root account was already created.
var ErrSetupClaimed = errors.New("setup has already been completed")

// CreateRoot creates the first root user, with an optional admin access
// token hash and API key, in one transaction guarded by the setup claim:
// either everything is written once, or nothing.
func (s *Store) CreateRoot(root *User, accessHash string, key *Token) error {
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		var users int64
		if err := tx.Model(&User{}).Unscoped().Count(&users).Error; err != nil {
			return err
		}
		if users > 0 {
			return ErrSetupClaimed
		}
		claim := Option{Key: setupClaimKey, Value: strconv.FormatInt(time.Now().Unix(), 10)}
		if err := tx.Create(&claim).Error; err != nil {
			return err
		}
		if root.CreatedTime == 0 {
			root.CreatedTime = time.Now().Unix()
		}
		if err := tx.Create(root).Error; err != nil {
			return err
		}
		if accessHash != "" {
			if err := tx.Model(&User{}).Where("id = ?", root.ID).Update("access_token_hash", accessHash).Error; err != nil {
				return err
			}
		}
		if key != nil {
			key.UserID = root.ID
			if key.CreatedTime == 0 {
				key.CreatedTime = time.Now().Unix()
			}
			if err := tx.Create(key).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrSetupClaimed) {
		// A lost race shows up as a duplicate claim: report it as such.
		var n int64
		if s.DB.Model(&Option{}).Where(&Option{Key: setupClaimKey}).Count(&n); n > 0 {
			return ErrSetupClaimed
		}
	}
	return err
}
