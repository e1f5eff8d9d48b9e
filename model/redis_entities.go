package model

import (
	"context"
	"fmt"
	"time"

	"sluice/common"
	"sluice/constant"
)

// entityTTL bounds how long a key's or user's Redis copy outlives a change
// that failed to reach Redis.
const entityTTL = 10 * time.Minute

// tokenHash is a key as stored in its Redis hash. Another instance that
// has not heard of the key yet (it was created a moment ago, or the
// announcement was lost) finds it here instead of refusing it.
type tokenHash struct {
	ID                 int    `redis:"id"`
	UserID             int    `redis:"user_id"`
	Name               string `redis:"name"`
	Status             int    `redis:"status"`
	ExpiredTime        int64  `redis:"expired_time"`
	RemainQuota        int64  `redis:"remain_quota"`
	Unlimited          bool   `redis:"unlimited"`
	ModelLimitsEnabled bool   `redis:"model_limits_enabled"`
	ModelLimits        string `redis:"model_limits"`
	AllowIps           string `redis:"allow_ips"`
	Group              string `redis:"group"`
}

// userHash is a user as stored in its Redis hash.
type userHash struct {
	ID       int    `redis:"id"`
	Username string `redis:"username"`
	Role     int    `redis:"role"`
	Status   int    `redis:"status"`
	Group    string `redis:"group"`
	Quota    int64  `redis:"quota"`
}

func (c *Cache) tokenKey(hash string) string {
	return c.bal.prefix + fmt.Sprintf(constant.CacheKeyToken, hash)
}

func (c *Cache) userKey(id int) string { return c.bal.prefix + fmt.Sprintf(constant.CacheKeyUser, id) }

// publishToken writes a key's Redis copy after an admin change.
func (c *Cache) publishToken(t *Token) {
	if !c.bal.useRedis() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h := tokenHash{ID: t.ID, UserID: t.UserID, Name: t.Name, Status: t.Status, ExpiredTime: t.ExpiredTime,
		RemainQuota: t.RemainQuota, Unlimited: t.UnlimitedQuota, ModelLimitsEnabled: t.ModelLimitsEnabled,
		ModelLimits: t.ModelLimits, AllowIps: t.AllowIps, Group: t.Group}
	_ = common.RedisHSetObj(ctx, c.bal.rdb, c.tokenKey(t.KeyHash), &h, entityTTL)
}

// publishUser writes a user's Redis copy after an admin change.
func (c *Cache) publishUser(u *User) {
	if !c.bal.useRedis() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h := userHash{ID: u.ID, Username: u.Username, Role: u.Role, Status: u.Status, Group: u.Group, Quota: u.Quota}
	_ = common.RedisHSetObj(ctx, c.bal.rdb, c.userKey(u.ID), &h, entityTTL)
}

// unpublish drops a Redis copy so no instance can pick a removed entity up.
func (c *Cache) unpublish(key string) {
	if c.bal.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.bal.rdb.Del(ctx, key).Err()
}

// tokenFromRedis looks a key this instance does not know up in Redis.
func (c *Cache) tokenFromRedis(hash string) *TokenEntry {
	if !c.bal.useRedis() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var h tokenHash
	if err := common.RedisHGetObj(ctx, c.bal.rdb, c.tokenKey(hash), &h); err != nil || h.ID == 0 {
		return nil
	}
	return c.putToken(&Token{ID: h.ID, UserID: h.UserID, Name: h.Name, KeyHash: hash, Status: h.Status,
		ExpiredTime: h.ExpiredTime, RemainQuota: h.RemainQuota, UnlimitedQuota: h.Unlimited,
		ModelLimitsEnabled: h.ModelLimitsEnabled, ModelLimits: h.ModelLimits, AllowIps: h.AllowIps, Group: h.Group}, 0)
}

// userFromRedis looks a user this instance does not know up in Redis.
func (c *Cache) userFromRedis(id int) *UserEntry {
	if !c.bal.useRedis() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var h userHash
	if err := common.RedisHGetObj(ctx, c.bal.rdb, c.userKey(id), &h); err != nil || h.ID == 0 {
		return nil
	}
	return c.putUser(&User{ID: h.ID, Username: h.Username, Role: h.Role, Status: h.Status, Group: h.Group, Quota: h.Quota}, 0)
}
