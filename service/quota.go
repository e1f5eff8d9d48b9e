// Package service holds the business rules that span several models: quota
// reservation and settlement, the batch writer for usage and logs, and
// channel health.
package service

import (
	"errors"
	"sync/atomic"

	"sluice/model"
)

// ErrKeyQuota means the API key's remaining quota cannot cover the request.
var ErrKeyQuota = errors.New("the API key's quota is exhausted")

// ErrUserQuota means the user's balance cannot cover the request.
var ErrUserQuota = errors.New("the user's quota is exhausted")

// takeExact subtracts n from a if that leaves it non-negative. The CAS loop
// is what keeps concurrent requests from overspending a balance.
func takeExact(a *atomic.Int64, n int64) bool {
	for {
		cur := a.Load()
		if cur < n {
			return false
		}
		if a.CompareAndSwap(cur, cur-n) {
			return true
		}
	}
}

// takeUpTo subtracts as much of n as the balance allows and reports how much.
func takeUpTo(a *atomic.Int64, n int64) int64 {
	for {
		cur := a.Load()
		take := min(n, cur)
		if take <= 0 {
			return 0
		}
		if a.CompareAndSwap(cur, cur-take) {
			return take
		}
	}
}

// Reservation is quota held for one in-flight request.
type Reservation struct {
	user      *model.UserEntry
	token     *model.TokenEntry
	unlimited bool
	amount    int64
	done      atomic.Bool
}

// Amount is the quota held.
func (r *Reservation) Amount() int64 { return r.amount }

// Reserve holds amount from the key (unless unlimited) and its user, or
// neither: a request is refused before any upstream call when either
// balance cannot cover its estimate.
func Reserve(user *model.UserEntry, token *model.TokenEntry, amount int64) (*Reservation, error) {
	unlimited := token.Info().Unlimited
	if amount < 0 {
		amount = 0
	}
	if !unlimited && !takeExact(&token.Remain, amount) {
		return nil, ErrKeyQuota
	}
	if !takeExact(&user.Quota, amount) {
		if !unlimited {
			token.Remain.Add(amount)
		}
		return nil, ErrUserQuota
	}
	return &Reservation{user: user, token: token, unlimited: unlimited, amount: amount}, nil
}

// Refund gives the whole reservation back (a failed request costs nothing).
// It is idempotent with Settle: only the first of the two takes effect.
func (r *Reservation) Refund() {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	r.user.Quota.Add(r.amount)
	if !r.unlimited {
		r.token.Remain.Add(r.amount)
	}
}

// Settle turns the reservation into the real cost. It returns what was
// charged and the part of cost no balance could cover (recorded as unpaid;
// balances never go below zero).
func (r *Reservation) Settle(cost int64) (charged, unpaid int64) {
	if !r.done.CompareAndSwap(false, true) {
		return 0, 0
	}
	if cost < 0 {
		cost = 0
	}
	delta := cost - r.amount
	if delta <= 0 {
		r.user.Quota.Add(-delta)
		if !r.unlimited {
			r.token.Remain.Add(-delta)
		}
		return cost, 0
	}
	extra := takeUpTo(&r.user.Quota, delta)
	if !r.unlimited {
		got := takeUpTo(&r.token.Remain, extra)
		if got < extra {
			r.user.Quota.Add(extra - got)
			extra = got
		}
	}
	charged = r.amount + extra
	return charged, cost - charged
}
