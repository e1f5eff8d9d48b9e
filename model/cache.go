package model

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sluice/common"
)

// Cache is the in-memory view of users, keys, channels and abilities that
// the hot path reads instead of SQL. It is filled at start, refreshed every
// SYNC_FREQUENCY, and updated at once by the admin API on the instance that
// made a change.
type Cache struct {
	store *Store
	acc   accountCache
	chans atomic.Pointer[channelIndex]
	// loadMu serialises rebuilds so a slow, older rebuild can never
	// publish its view over a newer one.
	loadMu sync.Mutex
	// gen orders admin changes against periodic refreshes.
	gen      atomic.Uint64
	bal      balances
	onChange atomic.Pointer[func(kind string, id int)]
	cooling  coolingChannels
	credits  creditBuffer
}

// NewCache builds an empty cache over store; call Load before serving.
func NewCache(store *Store) *Cache {
	c := &Cache{store: store}
	c.bal.store = store
	c.acc.users = map[int]*UserEntry{}
	c.acc.tokens = map[string]*TokenEntry{}
	c.acc.tokensByID = map[int]*TokenEntry{}
	c.acc.hashByID = map[int]string{}
	c.acc.removedUsers = map[int]uint64{}
	c.acc.removedTokens = map[int]uint64{}
	c.chans.Store(&channelIndex{byID: map[int]*ChannelView{}, routes: map[string]map[string][]tier{}, byGroup: map[string][]string{}})
	return c
}

// Load (re)reads everything from SQL.
func (c *Cache) Load() error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if err := c.loadAccounts(); err != nil {
		return err
	}
	return c.loadChannels()
}

// ReloadChannels rebuilds the routing table after a channel change and
// tells the other instances.
func (c *Cache) ReloadChannels() error {
	if err := c.reloadChannels(); err != nil {
		return err
	}
	c.changed(KindChannels, 0)
	return nil
}

func (c *Cache) reloadChannels() error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	return c.loadChannels()
}

// Kinds of cached entity named in change notifications.
const (
	KindUser     = "user"
	KindToken    = "token"
	KindChannels = "channels"
)

// OnChange registers f to hear about every change made through this
// cache's admin-facing methods (Put*, Remove*, ReloadChannels), so it can
// tell the other instances. Changes applied with ApplyRemote are not
// reported again.
func (c *Cache) OnChange(f func(kind string, id int)) { c.onChange.Store(&f) }

func (c *Cache) changed(kind string, id int) {
	if f := c.onChange.Load(); f != nil {
		(*f)(kind, id)
	}
}

// ApplyRemote applies a change another instance announced, reading the
// entity fresh from SQL.
func (c *Cache) ApplyRemote(kind string, id int) error {
	switch kind {
	case KindUser:
		u, err := c.store.UserByID(id)
		if errors.Is(err, ErrNotFound) {
			c.removeUser(id)
			return nil
		}
		if err != nil {
			return err
		}
		c.putUser(u, 0)
	case KindToken:
		t, err := c.store.TokenByID(id)
		if errors.Is(err, ErrNotFound) {
			c.removeToken(id)
			return nil
		}
		if err != nil {
			return err
		}
		c.putToken(t, 0)
		// The key's balance may have been changed by the admin too.
		if c.bal.useRedis() {
			c.TokenRemain(context.Background(), id)
		}
	case KindChannels:
		return c.reloadChannels()
	}
	return nil
}

// Run refreshes the cache every interval until ctx ends.
func (c *Cache) Run(ctx context.Context, every time.Duration) {
	common.Every(ctx, every, func() {
		if err := c.Load(); err != nil {
			slog.Error("cache refresh failed; serving the previous view", "err", err)
		}
	})
}
