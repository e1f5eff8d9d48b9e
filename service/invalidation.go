package service

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
	"sluice/setting"
)

// KindOptions names a change of runtime settings in notifications.
const KindOptions = "options"

// Invalidator spreads cache changes across instances over Redis pub/sub:
// a key or user disabled, a quota changed or a channel added on one
// instance is re-read from SQL by every other instance at once, instead of
// waiting for the next SYNC_FREQUENCY refresh.
type Invalidator struct {
	rdb   *redis.Client
	cache *model.Cache
	store *model.Store
	// self tags this instance's messages so it ignores its own echo.
	self string
	// topic is the pub/sub channel (prefixed in tests sharing one Redis).
	topic string
}

// NewInvalidator wires the cache's change hook to Redis.
func NewInvalidator(rdb *redis.Client, prefix string, cache *model.Cache, store *model.Store) *Invalidator {
	inv := &Invalidator{rdb: rdb, cache: cache, store: store, self: common.RandomString(12),
		topic: prefix + constant.CacheKeyInvalidate}
	cache.OnChange(inv.Publish)
	return inv
}

// Publish announces a change: "<instance> <kind> <id>".
func (i *Invalidator) Publish(kind string, id int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msg := i.self + " " + kind + " " + strconv.Itoa(id)
	if err := i.rdb.Publish(ctx, i.topic, msg).Err(); err != nil {
		// The periodic refresh still converges; say so rather than fail the
		// admin call that made the change.
		slog.Warn("could not announce a cache change; other instances catch up at the next refresh",
			"kind", kind, "id", id, "err", err)
	}
}

// Run listens for other instances' changes until ctx ends, resubscribing
// after Redis failures. After a reconnect it reloads everything, since
// messages sent while it was away are lost.
func (i *Invalidator) Run(ctx context.Context) {
	for ctx.Err() == nil {
		sub := i.rdb.Subscribe(ctx, i.topic)
		if _, err := sub.Receive(ctx); err != nil {
			_ = sub.Close()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if err := i.reloadAll(); err != nil {
			slog.Warn("reload after subscribing failed", "err", err)
		}
		ch := sub.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
	loop:
		for {
			select {
			case <-ctx.Done():
				_ = sub.Close()
				return
			case m, ok := <-ch:
				if !ok {
					break loop
				}
				i.handle(m.Payload)
			}
		}
		_ = sub.Close()
	}
}

func (i *Invalidator) handle(payload string) {
	parts := strings.Fields(payload)
	if len(parts) != 3 || parts[0] == i.self {
		return
	}
	id, _ := strconv.Atoi(parts[2])
	var err error
	if parts[1] == KindOptions {
		err = ReloadOptions(i.store)
	} else {
		err = i.cache.ApplyRemote(parts[1], id)
	}
	if err != nil {
		slog.Warn("applying another instance's change failed", "kind", parts[1], "id", id, "err", err)
	}
}

func (i *Invalidator) reloadAll() error {
	if err := i.cache.Load(); err != nil {
		return err
	}
	return ReloadOptions(i.store)
}

// ReloadOptions applies the options table to the running settings.
func ReloadOptions(store *model.Store) error {
	stored, err := store.AllOptions()
	if err != nil {
		return err
	}
	for _, e := range setting.ApplyAll(stored) {
		slog.Error("stored option ignored", "err", e)
	}
	return nil
}
