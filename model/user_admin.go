package model

import (
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Info returns the immutable view of u that the cache and the role rules
// use.
func (u *User) Info() *UserInfo { return userInfoOf(u) }

// UserSearch narrows SearchUsers.
type UserSearch struct {
	// Keyword matches username, display name or email (case-insensitive
	// substring), or an exact numeric id.
	Keyword string
	// Group, when set, keeps only users of that group.
	Group    string
	Page     int
	PageSize int
}

// likeEscaper makes a search keyword match literally inside LIKE … ESCAPE
// '!' (an escape character all three dialects accept without quoting
// trouble, unlike the backslash).
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// SearchUsers returns one page of live users matching f (newest first) and
// the total.
func (s *Store) SearchUsers(f UserSearch) ([]User, int64, error) {
	q := s.DB.Model(&User{})
	if kw := strings.TrimSpace(f.Keyword); kw != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(kw)) + "%"
		cond := "LOWER(username) LIKE ? ESCAPE '!' OR LOWER(display_name) LIKE ? ESCAPE '!' OR LOWER(email) LIKE ? ESCAPE '!'"
		args := []any{like, like, like}
		if id, err := strconv.Atoi(kw); err == nil && id > 0 {
			cond = "id = ? OR " + cond
			args = append([]any{id}, args...)
		}
		q = q.Where("("+cond+")", args...)
	}
	if f.Group != "" {
		q = q.Where(quoteCol(s.DB, "group")+" = ?", f.Group)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var users []User
	err := q.Order("id desc").Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&users).Error
	return users, total, err
}

// UsernameTaken reports whether any row, soft-deleted ones included, holds
// name (other than the user exceptID), since the unique index covers them
// all.
func (s *Store) UsernameTaken(name string, exceptID int) (bool, error) {
	var n int64
	err := s.DB.Unscoped().Model(&User{}).Where("username = ? AND id <> ?", name, exceptID).Count(&n).Error
	return n > 0, err
}

// SoftDeleteUser marks a user deleted, renames it to renamed so its
// username can be registered again (the unique index also covers
// soft-deleted rows), drops its admin access token and deletes its API
// keys, all in one transaction. It returns the deleted keys' ids so the
// caller can evict them from the cache.
func (s *Store) SoftDeleteUser(id int, renamed string) ([]int, error) {
	var tokenIDs []int
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		var u User
		if err := lockingRead(tx).First(&u, id).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&Token{}).Where("user_id = ?", id).Pluck("id", &tokenIDs).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&Token{}).Error; err != nil {
			return err
		}
		return tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{
			"username":          renamed,
			"access_token_hash": nil,
			"deleted_at":        time.Now(),
		}).Error
	})
	return tokenIDs, err
}

// GroupsInUse lists the groups that live users or channels name, unsorted
// and without duplicates. A channel's group field is a comma-separated list.
func (s *Store) GroupsInUse() ([]string, error) {
	var userGroups, chanGroups []string
	if err := s.DB.Model(&User{}).Distinct().Pluck("group", &userGroups).Error; err != nil {
		return nil, err
	}
	if err := s.DB.Model(&Channel{}).Distinct().Pluck("group", &chanGroups).Error; err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(g string) {
		if g = strings.TrimSpace(g); g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	for _, g := range userGroups {
		add(g)
	}
	for _, list := range chanGroups {
		for _, g := range SplitList(list) {
			add(g)
		}
	}
	return out, nil
}
