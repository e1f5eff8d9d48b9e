package model

import (
	"strings"
	"time"
)

// Token is an API key. Only the SHA-256 of the secret is stored; the secret
// itself is shown once, when the key is created.
type Token struct {
	ID                 int    `json:"id" gorm:"primaryKey"`
	UserID             int    `json:"user_id" gorm:"index;not null"`
	Name               string `json:"name" gorm:"size:128;index"`
	KeyHash            string `json:"-" gorm:"column:key_hash;size:64;uniqueIndex;not null"`
	MaskedKey          string `json:"key" gorm:"column:masked_key;size:32"`
	Status             int    `json:"status" gorm:"not null;default:1"`
	CreatedTime        int64  `json:"created_time"`
	AccessedTime       int64  `json:"accessed_time"`
	ExpiredTime        int64  `json:"expired_time" gorm:"not null;default:-1"`
	RemainQuota        int64  `json:"remain_quota" gorm:"not null;default:0"`
	UnlimitedQuota     bool   `json:"unlimited_quota"`
	UsedQuota          int64  `json:"used_quota" gorm:"not null;default:0"`
	ModelLimitsEnabled bool   `json:"model_limits_enabled"`
	ModelLimits        string `json:"model_limits" gorm:"type:text"`
	AllowIps           string `json:"allow_ips" gorm:"type:text"`
	Group              string `json:"group" gorm:"column:group;size:64"`
}

// CreateToken inserts a key.
func (s *Store) CreateToken(t *Token) error {
	if t.CreatedTime == 0 {
		t.CreatedTime = time.Now().Unix()
	}
	return s.DB.Create(t).Error
}

// TokenByID loads one key.
func (s *Store) TokenByID(id int) (*Token, error) {
	var t Token
	if err := s.DB.First(&t, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// AllTokens loads every key (for the cache).
func (s *Store) AllTokens() ([]Token, error) {
	var ts []Token
	err := s.DB.Find(&ts).Error
	return ts, err
}

// TokenFilter narrows ListTokens.
type TokenFilter struct {
	UserID   int
	Keyword  string
	Page     int
	PageSize int
}

// ListTokens returns one page of a user's keys and the total.
func (s *Store) ListTokens(f TokenFilter) ([]Token, int64, error) {
	q := s.DB.Model(&Token{}).Where("user_id = ?", f.UserID)
	if kw := strings.TrimSpace(f.Keyword); kw != "" {
		q = q.Where("LOWER(name) LIKE ? ESCAPE '!'", "%"+likeEscaper.Replace(strings.ToLower(kw))+"%")
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var ts []Token
	err := q.Order("id desc").Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&ts).Error
	return ts, total, err
}

// UpdateTokenFields writes the given columns of one key.
func (s *Store) UpdateTokenFields(id int, fields map[string]any) error {
	return s.DB.Model(&Token{}).Where("id = ?", id).Updates(fields).Error
}

// DeleteToken removes a key owned by userID.
func (s *Store) DeleteToken(id, userID int) (bool, error) {
	res := s.DB.Where("id = ? AND user_id = ?", id, userID).Delete(&Token{})
	return res.RowsAffected > 0, res.Error
}
