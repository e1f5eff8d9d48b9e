package main

import (
	"context"
	"fmt"
	"time"
)

// event is one store fault as it happened.
type event struct {
	at   time.Duration // since the load started
	what string
	err  error
}

// runFaults injects the store faults at fixed fractions of the load's
// duration and returns what it did:
//
//	20%  drop every Redis connection of the gateway (CLIENT KILL ID …), as a restart would
//	35%  CLIENT PAUSE ALL for -redis-pause (3 s): Redis answers nobody
//	50%  ACCESS EXCLUSIVE lock on users, tokens and logs for 4 s (pg_sleep in the locking transaction)
//	70%  rename users, tokens and logs away for 3 s: every flush fails
//	85%  drop the gateway's Redis connections again
func runFaults(ctx context.Context, o options, st *stores) []event {
	start := time.Now()
	var out []event
	at := func(frac float64) bool {
		d := time.Until(start.Add(time.Duration(frac * float64(o.duration))))
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// A fault runs to its end even if the load stopped meanwhile: tables
	// must come back, locks must be released.
	fctx := context.WithoutCancel(ctx)
	note := func(what string, err error) { out = append(out, event{at: time.Since(start), what: what, err: err}) }
	killRedis := func() {
		n, err := st.killGatewayRedisClients(fctx)
		note(fmt.Sprintf("Redis: CLIENT KILL of the gateway's %d connections", n), err)
	}

	if !at(0.20) {
		return out
	}
	killRedis()
	if !at(0.35) {
		return out
	}
	if o.noPause {
		note("Redis: CLIENT PAUSE skipped (-no-redis-pause)", nil)
	} else {
		note(fmt.Sprintf("Redis: CLIENT PAUSE %d ALL", o.redisWait.Milliseconds()), st.pauseRedis(fctx, o.redisWait))
	}
	if !at(0.50) {
		return out
	}
	lockFor := 4 * time.Second
	begin := time.Since(start)
	err := st.lockTables(fctx, lockFor)
	out = append(out, event{at: begin, what: fmt.Sprintf("PostgreSQL: ACCESS EXCLUSIVE lock on users, tokens, logs held %v", lockFor), err: err})
	if !at(0.70) {
		return out
	}
	err = st.renameTables(fctx, true)
	note("PostgreSQL: users, tokens, logs renamed away", err)
	time.Sleep(3 * time.Second)
	note("PostgreSQL: tables renamed back", st.renameTables(fctx, false))
	if !at(0.85) {
		return out
	}
	killRedis()
	return out
}
