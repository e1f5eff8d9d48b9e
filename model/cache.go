package model

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
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
	gen atomic.Uint64
}

// NewCache builds an empty cache over store; call Load before serving.
func NewCache(store *Store) *Cache {
	c := &Cache{store: store}
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

// ReloadChannels rebuilds the routing table after a channel change.
func (c *Cache) ReloadChannels() error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	return c.loadChannels()
}

// Run refreshes the cache every interval until ctx ends.
func (c *Cache) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Load(); err != nil {
				slog.Error("cache refresh failed; serving the previous view", "err", err)
			}
		}
	}
}
