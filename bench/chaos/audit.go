package main

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// balances are every user's and key's balances at one moment, from SQL.
type balances struct {
	users  map[int]userRow
	tokens map[int]tokenRow
}

type userRow struct {
	ID        int
	Username  string
	Quota     int64
	UsedQuota int64
}

type tokenRow struct {
	ID             int
	Name           string
	UserID         int
	RemainQuota    int64
	UsedQuota      int64
	UnlimitedQuota bool
}

func snapshot(ctx context.Context, db *gorm.DB) (balances, error) {
	b := balances{users: map[int]userRow{}, tokens: map[int]tokenRow{}}
	var users []userRow
	if err := db.WithContext(ctx).Raw("SELECT id, username, quota, used_quota FROM users").Scan(&users).Error; err != nil {
		return b, err
	}
	for _, u := range users {
		b.users[u.ID] = u
	}
	var tokens []tokenRow
	if err := db.WithContext(ctx).Raw("SELECT id, name, user_id, remain_quota, used_quota, unlimited_quota FROM tokens").Scan(&tokens).Error; err != nil {
		return b, err
	}
	for _, t := range tokens {
		b.tokens[t.ID] = t
	}
	return b, nil
}

// account is one user's or key's audit line.
type account struct {
	name             string
	taken, used      int64 // quota taken (before − after) and used_quota's growth
	logged, logCount int64 // sum and count of its consume logs
	final            int64 // the balance after the run
	limited          bool  // a key with remain_quota (unlimited keys keep theirs)
}

// mismatch is how far the balance's movement is from the logs'.
func (a account) mismatch() int64 {
	d := a.used - a.logged
	if a.limited {
		if m := a.taken - a.logged; m != 0 {
			return m
		}
	}
	return d
}

// audit is the money after the run, from SQL.
type audit struct {
	users, keys    []account
	duplicates     int64 // request ids with more than one consume log
	consumeLogs    int64
	negativeUsers  int
	negativeKeys   int
	totalMismatch  int64 // Σ |mismatch| over users and keys
	loggedQuota    int64
	errorLogs      int64
	systemLogs     int64
	requestsServed int64 // Σ request_count growth of the users
}

func auditMoney(ctx context.Context, db *gorm.DB, before balances) (audit, error) {
	var a audit
	after, err := snapshot(ctx, db)
	if err != nil {
		return a, err
	}
	type sumRow struct {
		ID       int
		Sum, Cnt int64
	}
	sums := func(col string) (map[int]sumRow, error) {
		var rows []sumRow
		err := db.WithContext(ctx).Raw("SELECT " + col + " AS id, COALESCE(SUM(quota), 0) AS sum, COUNT(*) AS cnt FROM logs WHERE type = 2 GROUP BY " + col).Scan(&rows).Error
		m := map[int]sumRow{}
		for _, r := range rows {
			m[r.ID] = r
		}
		return m, err
	}
	byUser, err := sums("user_id")
	if err != nil {
		return a, err
	}
	byToken, err := sums("token_id")
	if err != nil {
		return a, err
	}
	for id, u := range after.users {
		b := before.users[id]
		acc := account{name: fmt.Sprintf("user %d %s", id, u.Username), taken: b.Quota - u.Quota, used: u.UsedQuota - b.UsedQuota,
			logged: byUser[id].Sum, logCount: byUser[id].Cnt, final: u.Quota, limited: true}
		a.users = append(a.users, acc)
		if u.Quota < 0 {
			a.negativeUsers++
		}
		a.totalMismatch += abs(acc.mismatch())
		a.loggedQuota += acc.logged
		a.consumeLogs += acc.logCount
	}
	for id, t := range after.tokens {
		b := before.tokens[id]
		acc := account{name: fmt.Sprintf("key %d %s (user %d)", id, t.Name, t.UserID), taken: b.RemainQuota - t.RemainQuota,
			used: t.UsedQuota - b.UsedQuota, logged: byToken[id].Sum, logCount: byToken[id].Cnt, final: t.RemainQuota, limited: !t.UnlimitedQuota}
		a.keys = append(a.keys, acc)
		if acc.limited && t.RemainQuota < 0 {
			a.negativeKeys++
		}
		a.totalMismatch += abs(acc.mismatch())
	}
	q := db.WithContext(ctx)
	if err := q.Raw(`SELECT COUNT(*) FROM (SELECT request_id FROM logs WHERE type = 2 AND request_id <> ''
		GROUP BY request_id HAVING COUNT(*) > 1) d`).Scan(&a.duplicates).Error; err != nil {
		return a, err
	}
	_ = q.Raw("SELECT COUNT(*) FROM logs WHERE type = 5").Scan(&a.errorLogs).Error
	_ = q.Raw("SELECT COUNT(*) FROM logs WHERE type = 4").Scan(&a.systemLogs).Error
	return a, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
