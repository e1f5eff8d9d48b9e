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
	ctx := context.Background()
	if delta < 0 && cache.TokenEntryByID(id) != nil {
		// Lowering never drives the live balance below zero, even with
		// reservations in flight: take what is there, at most -delta.
		took := cache.TakeTokenRemainUpTo(ctx, id, -delta)
		if err := store.AddTokenRemain(id, -took); err != nil {
			cache.AddTokenRemain(ctx, id, took)
			return err
		}
		return nil
	}
	if err := store.AddTokenRemain(id, delta); err != nil {
		return err
	}
	cache.AddTokenRemain(ctx, id, delta)
	return nil
}

// AddUserQuota changes a user's balance by delta (top-ups, admin edits) in
// SQL and in the live balance alike. A negative delta never takes the live
// balance below zero: it is clamped and the applied delta returned.
func AddUserQuota(store *model.Store, cache *model.Cache, id int, delta int64) (int64, error) {
	ctx := context.Background()
	if delta < 0 && cache.UserEntry(id) == nil {
		// Load the user so the clamp below applies: SQL alone cannot
		// see reservations, and must never go negative either.
		u, err := store.UserByID(id)
		if err != nil {
			return 0, err
		}
		cache.PutUser(u)
	}
	if delta < 0 {
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
