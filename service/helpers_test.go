package service_test

import (
	"testing"

	"sluice/common"
	"sluice/internal/testenv"
	"sluice/model"
)

// entries builds a live user and key the way the cache does, without SQL
// (and without Redis: the balances are the entries' atomics).
func entries(userQuota, tokenRemain int64, unlimited bool) (*model.Cache, *model.UserEntry, *model.TokenEntry) {
	c := model.NewCache(nil)
	u := c.PutUser(&model.User{ID: 1, Username: "u", Quota: userQuota, Status: 1})
	t := c.PutToken(&model.Token{ID: 1, UserID: 1, KeyHash: "h", RemainQuota: tokenRemain, UnlimitedQuota: unlimited, Status: 1})
	return c, u, t
}

// account is a user with one limited and one unlimited key in SQL and in a
// loaded cache.
type account struct {
	store     *model.Store
	cache     *model.Cache
	user      *model.User
	key       *model.Token
	unlimited *model.Token
	channel   *model.Channel
}

func newAccount(t *testing.T, s *model.Store, quota, remain int64) *account {
	t.Helper()
	u := &model.User{Username: testenv.Name("u-"), Password: "x", Quota: quota, Status: 1, Role: 1}
	if err := s.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	mk := func(remain int64, unlimited bool) *model.Token {
		secret := common.NewAPIKey()
		tok := &model.Token{UserID: u.ID, Name: testenv.Name("k-"), KeyHash: common.HashSecret(secret), Status: 1,
			ExpiredTime: -1, RemainQuota: remain, UnlimitedQuota: unlimited}
		if err := s.CreateToken(tok); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a := &account{store: s, user: u, key: mk(remain, false), unlimited: mk(0, true)}
	a.channel = &model.Channel{Name: testenv.Name("ch-"), Type: 1, Models: "m", Group: "default"}
	if err := s.CreateChannel(a.channel, "sk-up"); err != nil {
		t.Fatal(err)
	}
	a.cache = model.NewCache(s)
	if err := a.cache.Load(); err != nil {
		t.Fatal(err)
	}
	return a
}

type sqlState struct {
	UserQuota, UserUsed, Requests  int64
	KeyRemain, KeyUsed             int64
	UnlimitedRemain, UnlimitedUsed int64
	ChannelUsed                    int64
	Logs, LogQuota                 int64
}

// sql reads the account's counters and its consume logs with raw SQL.
func (a *account) sql(t *testing.T) sqlState {
	t.Helper()
	var st sqlState
	q := func(dst *int64, query string, args ...any) {
		if err := a.store.DB.Raw(query, args...).Row().Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(&st.UserQuota, "SELECT quota FROM users WHERE id = ?", a.user.ID)
	q(&st.UserUsed, "SELECT used_quota FROM users WHERE id = ?", a.user.ID)
	q(&st.Requests, "SELECT request_count FROM users WHERE id = ?", a.user.ID)
	q(&st.KeyRemain, "SELECT remain_quota FROM tokens WHERE id = ?", a.key.ID)
	q(&st.KeyUsed, "SELECT used_quota FROM tokens WHERE id = ?", a.key.ID)
	q(&st.UnlimitedRemain, "SELECT remain_quota FROM tokens WHERE id = ?", a.unlimited.ID)
	q(&st.UnlimitedUsed, "SELECT used_quota FROM tokens WHERE id = ?", a.unlimited.ID)
	q(&st.ChannelUsed, "SELECT used_quota FROM channels WHERE id = ?", a.channel.ID)
	q(&st.Logs, "SELECT COUNT(*) FROM logs WHERE user_id = ? AND type = 2", a.user.ID)
	q(&st.LogQuota, "SELECT COALESCE(SUM(quota), 0) FROM logs WHERE user_id = ? AND type = 2", a.user.ID)
	return st
}

type cacheEntries struct {
	cache              *model.Cache
	user               *model.UserEntry
	limited, unlimited *model.TokenEntry
}

// newCacheEntries builds one live user with a limited and an unlimited key.
func newCacheEntries(userQuota, keyRemain int64) cacheEntries {
	c := model.NewCache(nil)
	return cacheEntries{
		cache:     c,
		user:      c.PutUser(&model.User{ID: 1, Username: "u", Quota: userQuota, Status: 1}),
		limited:   c.PutToken(&model.Token{ID: 1, UserID: 1, KeyHash: "a", RemainQuota: keyRemain, Status: 1}),
		unlimited: c.PutToken(&model.Token{ID: 2, UserID: 1, KeyHash: "b", UnlimitedQuota: true, Status: 1}),
	}
}
