package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sluice/common"
	"sluice/common/metrics"
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
	logs     logQueue
	// spareLogs is the last flush's written queue, emptied, for the next
	// interval's logs: growing fresh arrays to thousands of logs every
	// interval cost more CPU than the appends themselves.
	spareLogs logQueue
	// usage holds the hourly aggregates (QuotaData) of the queued charges.
	usage map[model.QuotaDataKey]model.QuotaDataDelta

	flushMu sync.Mutex
	// chunk holds the logs of one InsertLogs call during a flush.
	chunk []model.Log
	// checkpointed is when the last flush checkpointed SQLite's WAL;
	// checkpointEvery is walCheckpointEvery but in tests.
	checkpointed    time.Time
	checkpointEvery time.Duration

	// cpu measures the process's CPU between flushes (insertLogs).
	cpu common.CPUMeter

	// pending counts logs accepted and not yet written, queued or in a
	// flush; maxPending bounds it (0: unbounded).
	pending    atomic.Int64
	maxPending int64
}

// DefaultMaxPending bounds the logs held while the database is away: about
// 100 MB at a few hundred bytes per log, and at 1,000 requests/s over a
// minute and a half of outage.
const DefaultMaxPending = 100_000

// SetMaxPending bounds the unwritten logs Saturated measures against.
func (b *BatchWriter) SetMaxPending(n int) { b.maxPending = int64(n) }

// Saturated reports that the writer holds as many unwritten logs as it
// may: the database has been unreachable for a while. New requests must
// then be refused (charges already made are still accepted, so the queue
// can pass the bound by the requests in flight, never drop one).
func (b *BatchWriter) Saturated() bool {
	return b.maxPending > 0 && b.pending.Load() >= b.maxPending
}

// PendingLogs is the number of logs accepted and not yet written.
func (b *BatchWriter) PendingLogs() int { return int(b.pending.Load()) }

// NewBatchWriter returns a writer over store. With immediate set
// (BATCH_UPDATE_ENABLED=false) every record is flushed as it arrives.
func NewBatchWriter(store *model.Store, immediate bool) *BatchWriter {
	b := &BatchWriter{store: store, immediate: immediate, maxPending: DefaultMaxPending, checkpointEvery: walCheckpointEvery}
	b.reset()
	return b
}

func (b *BatchWriter) reset() {
	b.users = map[int]model.UserDelta{}
	b.tokens = map[int]model.TokenDelta{}
	b.channels = map[int]int64{}
	b.logs, b.spareLogs = b.spareLogs, logQueue{}
	b.usage = map[model.QuotaDataKey]model.QuotaDataDelta{}
}

// RecordCharge queues one request's charge, its consume log and its share
// of the hourly usage aggregates.
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
		b.logs.push(&l)
		b.pending.Add(1)
		k, d := quotaDataOf(c.UserID, &l, c.Quota)
		cur := b.usage[k]
		cur.Add(d)
		b.usage[k] = cur
	}
	b.mu.Unlock()
	b.maybeFlushNow()
}

// AddLog queues a log that moves no quota (errors, system events).
func (b *BatchWriter) AddLog(l model.Log) {
	stamp(&l)
	b.mu.Lock()
	b.logs.push(&l)
	b.pending.Add(1)
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
// put back so the next flush retries it; nothing is dropped. Each part
// (counters, logs, hourly aggregates) is written all or nothing, so only
// the parts that failed are requeued and nothing is counted twice.
func (b *BatchWriter) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	d := model.Deltas{Users: b.users, Tokens: b.tokens, Channels: b.channels}
	logs := b.logs
	usage := b.usage
	b.reset()
	b.mu.Unlock()
	metrics.SetQueueDepth(logs.len())
	start := time.Now()
	defer func() { metrics.ObserveFlush(time.Since(start)) }()

	if err := b.store.ApplyDeltas(d); err != nil {
		b.requeue(d, usage)
		b.requeueLogs(&logs, 0)
		return err
	}
	var errs []error
	written, err := b.insertLogsAside(&logs)
	b.pending.Add(-int64(written))
	if err != nil {
		b.requeueLogs(&logs, written)
		errs = append(errs, err)
	} else {
		b.recycle(logs)
	}
	// The aggregates are written even when the logs failed: they are
	// independent, and a dashboard should not lag behind a broken log DB.
	if err := b.store.AddQuotaData(usage); err != nil {
		b.requeue(model.Deltas{}, usage)
		errs = append(errs, err)
	}
	if wrote := logs.len() > 0 || len(usage) > 0 || len(d.Users)+len(d.Tokens)+len(d.Channels) > 0; wrote &&
		time.Since(b.checkpointed) >= b.checkpointEvery {
		// Nothing is lost if it fails: the WAL keeps what it holds.
		if err := b.store.CheckpointWAL(); err != nil {
			slog.Warn("WAL checkpoint failed; SQLite will checkpoint by itself", "err", err)
		}
		b.checkpointed = time.Now()
	}
	return errors.Join(errs...)
}

// walCheckpointEvery spaces the flushes' WAL checkpoints (SQLite only):
// every flush that wrote checkpoints, unless the last one is this recent,
// which bounds them to one per second when every charge is flushed at once
// (BATCH_UPDATE_ENABLED=false). 8,000 logs fill some 1,850 pages of WAL, so
// at the default five-second interval the WAL stays well below SQLite's
// own checkpoint (model.Open), whose fsyncs would stall the requests.
const walCheckpointEvery = time.Second

// maxSpareLogs and maxSpareText bound the queue kept for reuse (about
// 3 MB of records, 16 MB of text): one that grew during an outage is
// dropped, not held for good.
const (
	maxSpareLogs = 1 << 15
	maxSpareText = 16 << 20
)

// recycle keeps logs' arrays, all written, for the next interval.
func (b *BatchWriter) recycle(logs logQueue) {
	if cap(logs.recs) == 0 || cap(logs.recs) > maxSpareLogs || cap(logs.text) > maxSpareText {
		return
	}
	logs.reset()
	b.mu.Lock()
	if b.spareLogs.recs == nil {
		b.spareLogs = logs
	}
	b.mu.Unlock()
}

// logChunk is how many logs one InsertLogs call (one transaction, fully
// written or not at all) gets: a failure costs at most one chunk's retry,
// and a kill during a flush leaves whole chunks.
const logChunk = 200

// insertLogsAside is insertLogs, on a background thread when SQLite
// writes the logs in this process and the process used less than
// asideBelow of its CPU since the last flush: requests then get the core
// the moment they need it, not when the flush next yields (at c=1 on one
// core a request could wait for a whole statement). Under load the flush
// stays on the scheduler's threads, with its fair share.
func (b *BatchWriter) insertLogsAside(logs *logQueue) (written int, err error) {
	busy := b.cpu.Busy() // every flush, so each measures one interval
	if logs.len() == 0 || !b.store.LogsInProcess() || busy >= asideBelow {
		return b.insertLogs(logs)
	}
	common.OnBackgroundThread(func() { written, err = b.insertLogs(logs) })
	return written, err
}

// asideBelow is the share of its CPU under which the process writes its
// SQLite logs on a background thread: enough left over that the niced
// thread runs within a request's cycle, and well below saturation, where
// it would starve.
const asideBelow = 0.7

// insertLogs writes logs chunk by chunk and returns how many it wrote,
// all of them unless it failed. The chunks before a failure are committed,
// so requeuing them would write them twice.
func (b *BatchWriter) insertLogs(logs *logQueue) (int, error) {
	for i := 0; i < logs.len(); i += logChunk {
		b.chunk = logs.logs(i, min(i+logChunk, logs.len()), b.chunk)
		err := b.store.InsertLogs(b.chunk)
		clear(b.chunk) // let this chunk's text go
		if err != nil {
			return i, err
		}
	}
	return logs.len(), nil
}

// requeueLogs puts logs from index from on back ahead of those queued
// since, so the next flush writes them first.
func (b *BatchWriter) requeueLogs(logs *logQueue, from int) {
	if from >= logs.len() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var q logQueue
	q.appendFrom(logs, from)
	q.appendFrom(&b.logs, 0)
	b.logs = q
}

func (b *BatchWriter) requeue(d model.Deltas, usage map[model.QuotaDataKey]model.QuotaDataDelta) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, u := range usage {
		cur := b.usage[k]
		// Requeued data is older than anything queued since: the newer
		// username wins.
		u.Add(cur)
		b.usage[k] = u
	}
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
}

// Run flushes every interval until ctx ends. The final flush belongs to
// the caller (Close), after the in-flight requests have settled.
func (b *BatchWriter) Run(ctx context.Context, every time.Duration) {
	common.Every(ctx, every, func() {
		if err := b.Flush(); err != nil {
			slog.Error("batch flush failed; will retry", "err", err)
		}
	})
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
