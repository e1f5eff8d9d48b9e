package model

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
