package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"sluice/model"
)

// Charge is one settled request as the batch writer records it.
type Charge struct {
	UserID    int
	TokenID   int
	ChannelID int
	Quota     int64 // what was charged
	Unlimited bool  // the key has no remain_quota to decrement
	Log       *model.Log
}

// BatchWriter coalesces quota deltas and logs in memory and writes them in
// one transaction per interval, so the request path never waits on SQL and
// SQLite never sees competing writers. A failed flush keeps its data for the
// next one; Close flushes whatever is left.
type BatchWriter struct {
	store     *model.Store
	immediate bool

	mu       sync.Mutex
	users    map[int]model.UserDelta
	tokens   map[int]model.TokenDelta
	channels map[int]int64
	logs     []model.Log

	flushMu sync.Mutex
}

// NewBatchWriter returns a writer over store. With immediate set
// (BATCH_UPDATE_ENABLED=false) every record is flushed as it arrives.
func NewBatchWriter(store *model.Store, immediate bool) *BatchWriter {
	b := &BatchWriter{store: store, immediate: immediate}
	b.reset()
	return b
}

func (b *BatchWriter) reset() {
	b.users = map[int]model.UserDelta{}
	b.tokens = map[int]model.TokenDelta{}
	b.channels = map[int]int64{}
	b.logs = nil
}

// RecordCharge queues one request's charge and its consume log.
func (b *BatchWriter) RecordCharge(c Charge) {
	b.mu.Lock()
	u := b.users[c.UserID]
	u.Quota += c.Quota
	u.UsedQuota += c.Quota
	u.RequestCount++
	b.users[c.UserID] = u
	if c.TokenID != 0 {
		t := b.tokens[c.TokenID]
		if !c.Unlimited {
			t.RemainQuota += c.Quota
		}
		t.UsedQuota += c.Quota
		t.AccessedTime = time.Now().Unix()
		b.tokens[c.TokenID] = t
	}
	if c.ChannelID != 0 {
		b.channels[c.ChannelID] += c.Quota
	}
	if c.Log != nil {
		l := *c.Log
		stamp(&l)
		b.logs = append(b.logs, l)
	}
	b.mu.Unlock()
	b.maybeFlushNow()
}

// AddLog queues a log that moves no quota (errors, system events).
func (b *BatchWriter) AddLog(l model.Log) {
	stamp(&l)
	b.mu.Lock()
	b.logs = append(b.logs, l)
	b.mu.Unlock()
	b.maybeFlushNow()
}

func (b *BatchWriter) maybeFlushNow() {
	if b.immediate {
		if err := b.Flush(); err != nil {
			slog.Error("flush failed; will retry", "err", err)
		}
	}
}

// Flush writes everything queued so far. On error the unwritten part is
// put back so the next flush retries it; nothing is dropped.
func (b *BatchWriter) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	d := model.Deltas{Users: b.users, Tokens: b.tokens, Channels: b.channels}
	logs := b.logs
	b.reset()
	b.mu.Unlock()

	if err := b.store.ApplyDeltas(d); err != nil {
		b.requeue(d, logs)
		return err
	}
	if err := b.store.InsertLogs(logs); err != nil {
		b.requeue(model.Deltas{}, logs)
		return err
	}
	return nil
}

func (b *BatchWriter) requeue(d model.Deltas, logs []model.Log) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, u := range d.Users {
		cur := b.users[id]
		cur.Quota += u.Quota
		cur.UsedQuota += u.UsedQuota
		cur.RequestCount += u.RequestCount
		b.users[id] = cur
	}
	for id, t := range d.Tokens {
		cur := b.tokens[id]
		cur.RemainQuota += t.RemainQuota
		cur.UsedQuota += t.UsedQuota
		cur.AccessedTime = max(cur.AccessedTime, t.AccessedTime)
		b.tokens[id] = cur
	}
	for id, q := range d.Channels {
		b.channels[id] += q
	}
	b.logs = append(logs, b.logs...)
}

// Run flushes every interval until ctx ends. The final flush belongs to
// the caller (Close), after the in-flight requests have settled.
func (b *BatchWriter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.Flush(); err != nil {
				slog.Error("batch flush failed; will retry", "err", err)
			}
		}
	}
}

// Close flushes what is left, retrying a few times so a brief database
// hiccup at shutdown does not lose charges.
func (b *BatchWriter) Close() error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = b.Flush(); err == nil {
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

func stamp(l *model.Log) {
	if l.CreatedAt == 0 {
		l.CreatedAt = time.Now().Unix()
	}
}
