package model

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
