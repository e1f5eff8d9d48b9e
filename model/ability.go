package model

import "gorm.io/gorm"

// Ability says that a channel serves a model for a group. It is derived from
// the channel's models and group fields and rewritten whenever they change;
// selection reads it from memory, never from SQL.
type Ability struct {
	Group     string `json:"group" gorm:"column:group;primaryKey;size:64;autoIncrement:false"`
	Model     string `json:"model" gorm:"primaryKey;size:255;autoIncrement:false"`
	ChannelID int    `json:"channel_id" gorm:"primaryKey;autoIncrement:false;index"`
	Enabled   bool   `json:"enabled"`
	Priority  int64  `json:"priority" gorm:"default:0;index"`
	Weight    uint   `json:"weight" gorm:"default:0"`
	Tag       string `json:"tag" gorm:"size:64;index"`
}

func replaceAbilities(tx *gorm.DB, c *Channel) error {
	if err := tx.Where("channel_id = ?", c.ID).Delete(&Ability{}).Error; err != nil {
		return err
	}
	var rows []Ability
	for _, g := range SplitList(c.Group) {
		for _, m := range SplitList(c.Models) {
			rows = append(rows, Ability{Group: g, Model: m, ChannelID: c.ID, Enabled: c.Status == 1,
				Priority: c.Priority, Weight: c.Weight, Tag: c.Tag})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.CreateInBatches(rows, 200).Error
}

// AllAbilities loads every ability (for the cache).
func (s *Store) AllAbilities() ([]Ability, error) {
	var as []Ability
	err := s.DB.Find(&as).Error
	return as, err
}
