package model

import "gorm.io/gorm/clause"

// Option is one runtime setting, stored as a string and parsed by setting/.
type Option struct {
	Key   string `json:"key" gorm:"primaryKey;size:128"`
	Value string `json:"value" gorm:"type:text"`
}

// AllOptions loads every stored option.
func (s *Store) AllOptions() (map[string]string, error) {
	var rows []Option
	if err := s.DB.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out, nil
}

// SaveOption upserts one option.
func (s *Store) SaveOption(key, value string) error {
	return s.DB.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value"}),
	}).Create(&Option{Key: key, Value: value}).Error
}
