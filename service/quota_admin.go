package service

import (
	"context"

	"sluice/model"
)

// SetTokenRemain sets a key's remaining quota to target as an operator
// sees it. The change is applied as a delta to both SQL and the live
// balance, after flushing queued charges, so charges in flight or queued
// are neither lost nor applied twice.
func SetTokenRemain(store *model.Store, cache *model.Cache, w *BatchWriter, id int, target int64) error {
	if err := w.Flush(); err != nil {
		return err
	}
	t, err := store.TokenByID(id)
	if err != nil {
		return err
	}
	delta := target - t.RemainQuota
	if delta == 0 {
		return nil
	}
	if err := store.AddTokenRemain(id, delta); err != nil {
		return err
	}
	cache.AddTokenRemain(context.Background(), id, delta)
	return nil
}

// AddUserQuota changes a user's balance by delta (top-ups, admin edits) in
// SQL and in the live balance alike. A negative delta never takes the live
// balance below zero: it is clamped and the applied delta returned.
func AddUserQuota(store *model.Store, cache *model.Cache, id int, delta int64) (int64, error) {
	ctx := context.Background()
	if delta < 0 && cache.UserEntry(id) != nil {
		took := cache.TakeUserQuotaUpTo(ctx, id, -delta)
		if err := store.AddUserQuota(id, -took); err != nil {
			cache.AddUserQuota(ctx, id, took)
			return 0, err
		}
		return -took, nil
	}
	if err := store.AddUserQuota(id, delta); err != nil {
		return 0, err
	}
	cache.AddUserQuota(ctx, id, delta)
	return delta, nil
}
