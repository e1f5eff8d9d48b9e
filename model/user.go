package model

import (
	"time"

	"gorm.io/gorm"
)

// User is an account: an operator or a customer whose keys spend its quota.
type User struct {
	ID              int     `json:"id" gorm:"primaryKey"`
	Username        string  `json:"username" gorm:"uniqueIndex;size:64;not null"`
	Password        string  `json:"-" gorm:"size:255;not null"`
	DisplayName     string  `json:"display_name" gorm:"size:64"`
	Email           string  `json:"email" gorm:"size:128;index"`
	Role            int     `json:"role" gorm:"not null;default:1"`
	Status          int     `json:"status" gorm:"not null;default:1"`
	Group           string  `json:"group" gorm:"column:group;size:64;not null;default:default"`
	Quota           int64   `json:"quota" gorm:"not null;default:0"`
	UsedQuota       int64   `json:"used_quota" gorm:"not null;default:0"`
	RequestCount    int64   `json:"request_count" gorm:"not null;default:0"`
	AccessTokenHash *string `json:"-" gorm:"column:access_token_hash;size:64;uniqueIndex"`
	// SessionEpoch is signed into session cookies; bumping it (logout,
	// password change) ends every session issued before.
	SessionEpoch int64          `json:"-" gorm:"not null;default:0"`
	CreatedTime  int64          `json:"created_time"`
	DeletedAt    gorm.DeletedAt `json:"-" gorm:"index"`
}

// CreateUser inserts a user.
func (s *Store) CreateUser(u *User) error {
	if u.CreatedTime == 0 {
		u.CreatedTime = time.Now().Unix()
	}
	if u.Group == "" {
		u.Group = "default"
	}
	return s.DB.Create(u).Error
}

// UserByID loads one user.
func (s *Store) UserByID(id int) (*User, error) {
	var u User
	if err := s.DB.First(&u, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UserByUsername loads one user by login name.
func (s *Store) UserByUsername(name string) (*User, error) {
	var u User
	if err := s.DB.Where("username = ?", name).First(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UserByAccessTokenHash finds the owner of an admin access token.
func (s *Store) UserByAccessTokenHash(hash string) (*User, error) {
	var u User
	if err := s.DB.Where("access_token_hash = ?", hash).First(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// CountUsers counts accounts (used by the first-run bootstrap).
func (s *Store) CountUsers() (int64, error) {
	var n int64
	err := s.DB.Model(&User{}).Unscoped().Count(&n).Error
	return n, err
}

// UpdateUserFields writes the given columns of one user.
func (s *Store) UpdateUserFields(id int, fields map[string]any) error {
	return s.DB.Model(&User{}).Where("id = ?", id).Updates(fields).Error
}

// BumpSessionEpoch ends every session of a user and returns the user as
// now stored.
func (s *Store) BumpSessionEpoch(id int) (*User, error) {
	if err := s.DB.Model(&User{}).Where("id = ?", id).Update("session_epoch", gorm.Expr("session_epoch + 1")).Error; err != nil {
		return nil, err
	}
	return s.UserByID(id)
}

// SetAccessTokenHash stores (or rotates) a user's admin access token.
func (s *Store) SetAccessTokenHash(id int, hash string) error {
	return s.DB.Model(&User{}).Where("id = ?", id).Update("access_token_hash", hash).Error
}

// AllUsers loads every live user (for the cache).
func (s *Store) AllUsers() ([]User, error) {
	var users []User
	err := s.DB.Find(&users).Error
	return users, err
}
