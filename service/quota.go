// Package service holds the business rules that span several models: quota
// reservation and settlement, the batch writer for usage and logs, and
// channel health.
package service

import (
	"context"
	"sync/atomic"

	"sluice/model"
)

// ErrKeyQuota means the API key's remaining quota cannot cover the request.
var ErrKeyQuota = model.ErrKeyQuota

// ErrUserQuota means the user's balance cannot cover the request.
var ErrUserQuota = model.ErrUserQuota

// Reservation is quota held for one in-flight request.
type Reservation struct {
	cache  *model.Cache
	user   *model.UserEntry
	token  *model.TokenEntry
	amount int64
	done   atomic.Bool
}

// Amount is the quota held.
func (r *Reservation) Amount() int64 { return r.amount }

// Reserve holds amount from the key (unless unlimited) and its user, or
// neither: a request is refused before any upstream call when either
// balance cannot cover its estimate. The balances are the cache's: atomics
// in memory, or one Lua script in Redis when several instances share them.
func Reserve(ctx context.Context, cache *model.Cache, user *model.UserEntry, token *model.TokenEntry, amount int64) (*Reservation, error) {
	if amount < 0 {
		amount = 0
	}
	if err := cache.TakeQuota(ctx, user, token, amount); err != nil {
		return nil, err
	}
	return &Reservation{cache: cache, user: user, token: token, amount: amount}, nil
}

// Refund gives the whole reservation back (a failed request costs nothing).
// It is idempotent with Settle: only the first of the two takes effect.
func (r *Reservation) Refund(ctx context.Context) {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	r.cache.GiveQuota(ctx, r.user, r.token, r.amount)
}

// Settle turns the reservation into the real cost. It returns what was
// charged and the part of cost no balance could cover (recorded as unpaid;
// balances never go below zero).
func (r *Reservation) Settle(ctx context.Context, cost int64) (charged, unpaid int64) {
	if !r.done.CompareAndSwap(false, true) {
		return 0, 0
	}
	if cost < 0 {
		cost = 0
	}
	delta := cost - r.amount
	if delta <= 0 {
		r.cache.GiveQuota(ctx, r.user, r.token, -delta)
		return cost, 0
	}
	charged = r.amount + r.cache.TakeQuotaUpTo(ctx, r.user, r.token, delta)
	return charged, cost - charged
}
