package model

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// UserInfo is the immutable part of a cached user; a change replaces it.
type UserInfo struct {
	ID           int
	Username     string
	Role         int
	Status       int
	Group        string
	SessionEpoch int64
}

// UserEntry is a user as the hot path sees it. Quota is the live balance:
// reservations take from it atomically and the batch writer brings SQL up
// to date, so it is never overwritten by a periodic refresh.
type UserEntry struct {
	info    atomic.Pointer[UserInfo]
	touched atomic.Uint64 // cache generation of the last admin change
	Quota   atomic.Int64
}

// Info returns the current immutable user fields.
func (e *UserEntry) Info() *UserInfo { return e.info.Load() }

// TokenInfo is the immutable part of a cached API key.
type TokenInfo struct {
	ID                 int
	UserID             int
	Name               string
	Status             int
	ExpiredTime        int64
	Unlimited          bool
	ModelLimitsEnabled bool
	ModelLimits        map[string]struct{}
	AllowIPs           []netip.Prefix
	// DenyAll is set when the stored allow list cannot be parsed.
	DenyAll bool
	Group   string
}

// AllowsModel reports whether the key's model limits let it call model.
func (t *TokenInfo) AllowsModel(model string) bool {
	if !t.ModelLimitsEnabled {
		return true
	}
	_, ok := t.ModelLimits[model]
	return ok
}

// AllowsIP reports whether the key may be used from ip (an empty list
// allows every address).
func (t *TokenInfo) AllowsIP(ip netip.Addr) bool {
	if t.DenyAll {
		return false
	}
	if len(t.AllowIPs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range t.AllowIPs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Expired reports whether the key's expiry has passed at now.
func (t *TokenInfo) Expired(now time.Time) bool {
	return t.ExpiredTime != -1 && t.ExpiredTime != 0 && now.Unix() >= t.ExpiredTime
}

// TokenEntry is an API key as the hot path sees it; Remain is its live
// balance (ignored for unlimited keys).
type TokenEntry struct {
	info    atomic.Pointer[TokenInfo]
	touched atomic.Uint64 // cache generation of the last admin change
	Remain  atomic.Int64
	lease   lease // with Redis: quota taken ahead for this key (lease.go)
}

// Info returns the current immutable key fields.
func (e *TokenEntry) Info() *TokenInfo { return e.info.Load() }

// ParseAllowIPs turns the admin's "ip or CIDR per line" (commas also
// accepted) into prefixes; an invalid entry is an error naming it.
func ParseAllowIPs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' || r == ' ' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, &InvalidIPError{Entry: f}
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				// "::ffff:192.0.2.0/120" means 192.0.2.0/24.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, &InvalidIPError{Entry: f}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// InvalidIPError names an allow-list entry that is neither an IP nor a CIDR.
type InvalidIPError struct{ Entry string }

func (e *InvalidIPError) Error() string {
	return "allow_ips: " + e.Entry + " is not an IP address or CIDR"
}

func tokenInfoOf(t *Token) *TokenInfo {
	info := &TokenInfo{ID: t.ID, UserID: t.UserID, Name: t.Name, Status: t.Status, ExpiredTime: t.ExpiredTime,
		Unlimited: t.UnlimitedQuota, ModelLimitsEnabled: t.ModelLimitsEnabled, Group: t.Group}
	if t.ModelLimitsEnabled {
		info.ModelLimits = make(map[string]struct{})
		for _, m := range SplitList(t.ModelLimits) {
			info.ModelLimits[m] = struct{}{}
		}
	}
	// Stored values were validated on save; an unparsable legacy value
	// fails closed: nobody may use the key until an admin fixes it.
	ips, err := ParseAllowIPs(t.AllowIps)
	if err != nil {
		info.DenyAll = true
	}
	info.AllowIPs = ips
	return info
}

func userInfoOf(u *User) *UserInfo {
	return &UserInfo{ID: u.ID, Username: u.Username, Role: u.Role, Status: u.Status, Group: u.Group, SessionEpoch: u.SessionEpoch}
}

// accountCache holds users and keys. Lookups take a read lock on a map; the
// entries themselves are lock-free.
type accountCache struct {
	mu         sync.RWMutex
	users      map[int]*UserEntry
	tokens     map[string]*TokenEntry // by key hash
	tokensByID map[int]*TokenEntry
	hashByID   map[int]string
	// Tombstones: the generation at which an admin removed a user or key,
	// so a refresh that read the row earlier cannot bring it back.
	removedUsers  map[int]uint64
	removedTokens map[int]uint64
}

// UserEntry returns the cached user, looking in Redis when this instance
// has not seen it, or nil.
func (c *Cache) UserEntry(id int) *UserEntry {
	c.acc.mu.RLock()
	e := c.acc.users[id]
	c.acc.mu.RUnlock()
	if e == nil {
		e = c.userFromRedis(id)
	}
	return e
}

// TokenByHash returns the cached key for a secret's hash, looking in Redis
// when this instance has not seen it, or nil.
func (c *Cache) TokenByHash(hash string) *TokenEntry {
	c.acc.mu.RLock()
	e := c.acc.tokens[hash]
	c.acc.mu.RUnlock()
	if e == nil {
		e = c.tokenFromRedis(hash)
	}
	return e
}

// TokenEntryByID returns the cached key or nil.
func (c *Cache) TokenEntryByID(id int) *TokenEntry {
	c.acc.mu.RLock()
	defer c.acc.mu.RUnlock()
	return c.acc.tokensByID[id]
}

// PutUser inserts a new user or replaces the immutable fields of a cached
// one. The balance is only set for a user the cache has not seen: for a
// known user the live balance wins over SQL, which lags by one batch.
func (c *Cache) PutUser(u *User) *UserEntry {
	e := c.putUser(u, 0)
	c.publishUser(u)
	c.changed(KindUser, u.ID)
	return e
}

// putUser is PutUser for the periodic refresh: a row read before the
// refresh began (since) must not undo an admin change made meanwhile.
func (c *Cache) putUser(u *User, since uint64) *UserEntry {
	c.acc.mu.Lock()
	defer c.acc.mu.Unlock()
	if since != 0 && c.acc.removedUsers[u.ID] > since {
		return nil
	}
	e := c.acc.users[u.ID]
	if e == nil {
		e = &UserEntry{}
		e.Quota.Store(u.Quota)
		c.acc.users[u.ID] = e
	}
	if since == 0 {
		e.touched.Store(c.gen.Add(1))
	} else if e.touched.Load() > since {
		return e
	}
	e.info.Store(userInfoOf(u))
	return e
}

// RemoveUser drops a user and refuses their keys from now on.
func (c *Cache) RemoveUser(id int) {
	c.removeUser(id)
	c.unpublish(c.userKey(id))
	c.changed(KindUser, id)
}

func (c *Cache) removeUser(id int) {
	c.acc.mu.Lock()
	defer c.acc.mu.Unlock()
	delete(c.acc.users, id)
	c.acc.removedUsers[id] = c.gen.Add(1)
}

// PutToken inserts or updates a cached key (balance rule as PutUser).
func (c *Cache) PutToken(t *Token) *TokenEntry {
	e := c.putToken(t, 0)
	c.publishToken(t)
	c.changed(KindToken, t.ID)
	return e
}

func (c *Cache) putToken(t *Token, since uint64) *TokenEntry {
	c.acc.mu.Lock()
	defer c.acc.mu.Unlock()
	if since != 0 && c.acc.removedTokens[t.ID] > since {
		return nil
	}
	e := c.acc.tokensByID[t.ID]
	if e == nil {
		e = &TokenEntry{}
		e.Remain.Store(t.RemainQuota)
		c.acc.tokensByID[t.ID] = e
	}
	if since == 0 {
		e.touched.Store(c.gen.Add(1))
	} else if e.touched.Load() > since {
		return e
	}
	e.info.Store(tokenInfoOf(t))
	c.acc.tokens[t.KeyHash] = e
	c.acc.hashByID[t.ID] = t.KeyHash
	return e
}

// RemoveToken drops a key so it is refused at once.
func (c *Cache) RemoveToken(id int) {
	c.acc.mu.RLock()
	hash, known := c.acc.hashByID[id]
	c.acc.mu.RUnlock()
	c.removeToken(id)
	if known {
		c.unpublish(c.tokenKey(hash))
	}
	c.changed(KindToken, id)
}

func (c *Cache) removeToken(id int) {
	c.acc.mu.Lock()
	defer c.acc.mu.Unlock()
	if h, ok := c.acc.hashByID[id]; ok {
		delete(c.acc.tokens, h)
	}
	delete(c.acc.tokensByID, id)
	delete(c.acc.hashByID, id)
	c.acc.removedTokens[id] = c.gen.Add(1)
}

func (c *Cache) loadAccounts() error {
	// Rows are read after this point; any admin change stamped later wins.
	since := c.gen.Add(1)
	users, err := c.store.AllUsers()
	if err != nil {
		return err
	}
	tokens, err := c.store.AllTokens()
	if err != nil {
		return err
	}
	liveUsers := make(map[int]bool, len(users))
	for i := range users {
		c.putUser(&users[i], since)
		liveUsers[users[i].ID] = true
	}
	liveTokens := make(map[int]bool, len(tokens))
	for i := range tokens {
		c.putToken(&tokens[i], since)
		liveTokens[tokens[i].ID] = true
	}
	c.acc.mu.Lock()
	defer c.acc.mu.Unlock()
	// Tombstones older than this refresh did their job: the rows read
	// now no longer contain what they guard against.
	for id, g := range c.acc.removedUsers {
		if g <= since {
			delete(c.acc.removedUsers, id)
		}
	}
	for id, g := range c.acc.removedTokens {
		if g <= since {
			delete(c.acc.removedTokens, id)
		}
	}
	for id, e := range c.acc.users {
		if !liveUsers[id] && e.touched.Load() <= since {
			delete(c.acc.users, id)
		}
	}
	for id, h := range c.acc.hashByID {
		if !liveTokens[id] && c.acc.tokensByID[id].touched.Load() <= since {
			delete(c.acc.tokens, h)
			delete(c.acc.tokensByID, id)
			delete(c.acc.hashByID, id)
		}
	}
	return nil
}
