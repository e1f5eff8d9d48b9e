package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gorm.io/gorm"

	"sluice/constant"
)

// This file holds the store queries and cache reads behind the admin's
// channel extras: tests, tag operations and model lists.

// channelViewOf builds the relay's view of a stored channel from its
// decrypted key. It mirrors the view loadChannels builds for the routing
// table, so a channel tested from the admin API is called exactly the way
// the relay would call it.
func channelViewOf(ch *Channel, key string) *ChannelView {
	v := &ChannelView{ID: ch.ID, Type: ch.Type, Name: ch.Name, BaseURL: ch.BaseURL, Key: key,
		Priority: ch.Priority, Weight: ch.Weight, Status: ch.Status, AutoBan: ch.AutoBan != 0,
		Group: ch.Group, Models: SplitList(ch.Models), Tag: ch.Tag}
	if ch.ModelMapping != "" {
		_ = json.Unmarshal([]byte(ch.ModelMapping), &v.ModelMapping)
	}
	if ch.Headers != "" {
		_ = json.Unmarshal([]byte(ch.Headers), &v.Headers)
	}
	if ch.ParamOverride != "" {
		v.ParamOverride = []byte(ch.ParamOverride)
	}
	if ch.Setting != "" {
		_ = json.Unmarshal([]byte(ch.Setting), &v.Settings)
	}
	return v
}

// ChannelViewByID loads one channel from SQL, the source of truth, with its
// key decrypted. Admin tests use it rather than the routing cache so that
// a channel just saved on another instance, or one that is disabled, can
// still be tested.
func (s *Store) ChannelViewByID(id int) (*ChannelView, error) {
	ch, err := s.ChannelByID(id)
	if err != nil {
		return nil, err
	}
	key, err := s.ChannelKey(ch)
	if err != nil {
		return nil, fmt.Errorf("channel %d: key unreadable: %w", id, err)
	}
	return channelViewOf(ch, key), nil
}

// EnabledChannelViews loads every enabled channel with its key decrypted,
// in id order. A channel whose key cannot be decrypted is left out (and
// logged), as the routing table leaves it out.
func (s *Store) EnabledChannelViews() ([]*ChannelView, error) {
	return s.ChannelViewsWithStatus(constant.ChannelStatusEnabled)
}

// ChannelViewsWithStatus is EnabledChannelViews for any status.
func (s *Store) ChannelViewsWithStatus(status int) ([]*ChannelView, error) {
	var cs []Channel
	if err := s.DB.Where("status = ?", status).Order("id").Find(&cs).Error; err != nil {
		return nil, err
	}
	out := make([]*ChannelView, 0, len(cs))
	for i := range cs {
		key, err := s.ChannelKey(&cs[i])
		if err != nil {
			slog.Error("channel key unreadable; channel skipped", "channel_id", cs[i].ID, "err", err)
			continue
		}
		out = append(out, channelViewOf(&cs[i], key))
	}
	return out, nil
}

// ChannelModelIndex maps every model that any channel lists, enabled or
// not, to the ids of those channels (ascending).
func (s *Store) ChannelModelIndex() (map[string][]int, error) {
	var cs []Channel
	if err := s.DB.Select("id", "models").Order("id").Find(&cs).Error; err != nil {
		return nil, err
	}
	idx := map[string][]int{}
	for _, ch := range cs {
		for _, m := range SplitList(ch.Models) {
			idx[m] = append(idx[m], ch.ID)
		}
	}
	return idx, nil
}

// channelIDsByTag returns the ids of the channels carrying tag, inside tx.
func channelIDsByTag(tx *gorm.DB, tag string) ([]int, error) {
	var ids []int
	err := tx.Model(&Channel{}).Where("tag = ?", tag).Order("id").Pluck("id", &ids).Error
	return ids, err
}

// SetChannelStatusByTag switches every channel carrying tag to status, and
// their abilities with them, in one transaction. It returns how many
// channels it changed, or ErrNotFound when no channel has the tag.
func (s *Store) SetChannelStatusByTag(tag string, status int) (int, error) {
	if tag == "" {
		return 0, errors.New("tag is required")
	}
	var n int
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		ids, err := channelIDsByTag(tx, tag)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return ErrNotFound
		}
		n = len(ids)
		if err := tx.Model(&Channel{}).Where("id IN ?", ids).Update("status", status).Error; err != nil {
			return err
		}
		return tx.Model(&Ability{}).Where("channel_id IN ?", ids).Update("enabled", status == 1).Error
	})
	return n, err
}

// TagEdit is a change applied to every channel carrying a tag. A nil field
// (or, as in new-api, an empty string) leaves that field alone.
type TagEdit struct {
	NewTag       *string
	Priority     *int64
	Weight       *uint
	Models       *string
	Groups       *string
	ModelMapping *string
}

// given reports whether an optional string field was given (new-api treats
// "" as not given).
func given(p *string) bool { return p != nil && *p != "" }

// Empty reports whether the edit changes nothing.
func (e TagEdit) Empty() bool {
	return !given(e.NewTag) && e.Priority == nil && e.Weight == nil && !given(e.Models) && !given(e.Groups) &&
		!given(e.ModelMapping)
}

// Validate checks the edit's fields the way ValidateChannel checks a
// channel, so a bad mapping is refused before any row is touched.
func (e TagEdit) Validate() error {
	if e.Empty() {
		return errors.New("nothing to change: set new_tag, priority, weight, models, groups or model_mapping")
	}
	if given(e.NewTag) && len(*e.NewTag) > 64 {
		return errors.New("new_tag is longer than 64 characters")
	}
	if given(e.Models) && len(SplitList(*e.Models)) == 0 {
		return errors.New("models must list at least one model")
	}
	if given(e.Groups) && len(SplitList(*e.Groups)) == 0 {
		return errors.New("groups must list at least one group")
	}
	if given(e.ModelMapping) {
		var m map[string]string
		if err := json.Unmarshal([]byte(*e.ModelMapping), &m); err != nil {
			return fmt.Errorf("model_mapping must be a JSON object of strings: %v", err)
		}
	}
	return nil
}

// EditChannelsByTag applies e to every channel carrying tag and rewrites
// their abilities (models, groups, priority, weight and tag all live in
// them), in one transaction. It returns how many channels it changed, or
// ErrNotFound when no channel has the tag.
func (s *Store) EditChannelsByTag(tag string, e TagEdit) (int, error) {
	if tag == "" {
		return 0, errors.New("tag is required")
	}
	if err := e.Validate(); err != nil {
		return 0, err
	}
	fields := map[string]any{}
	if given(e.NewTag) {
		fields["tag"] = *e.NewTag
	}
	if e.Priority != nil {
		fields["priority"] = *e.Priority
	}
	if e.Weight != nil {
		fields["weight"] = *e.Weight
	}
	if given(e.Models) {
		fields["models"] = strings.Join(SplitList(*e.Models), ",")
	}
	if given(e.Groups) {
		fields["group"] = strings.Join(SplitList(*e.Groups), ",")
	}
	if given(e.ModelMapping) {
		fields["model_mapping"] = *e.ModelMapping
	}
	var n int
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		var cs []Channel
		if err := tx.Where("tag = ?", tag).Order("id").Find(&cs).Error; err != nil {
			return err
		}
		if len(cs) == 0 {
			return ErrNotFound
		}
		n = len(cs)
		ids := make([]int, len(cs))
		for i := range cs {
			ids[i] = cs[i].ID
			applyTagEdit(&cs[i], fields)
		}
		if err := tx.Model(&Channel{}).Where("id IN ?", ids).Updates(fields).Error; err != nil {
			return err
		}
		for i := range cs {
			if err := replaceAbilities(tx, &cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// applyTagEdit mirrors the column updates on the loaded channel so its
// abilities are rebuilt from the new values.
func applyTagEdit(ch *Channel, fields map[string]any) {
	for k, v := range fields {
		switch k {
		case "tag":
			ch.Tag = v.(string)
		case "priority":
			ch.Priority = v.(int64)
		case "weight":
			ch.Weight = v.(uint)
		case "models":
			ch.Models = v.(string)
		case "group":
			ch.Group = v.(string)
		case "model_mapping":
			ch.ModelMapping = v.(string)
		}
	}
}
