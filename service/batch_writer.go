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

	// quietNow (Flush: SQLite's logs aside, a server's paced) and
	// starvedCheck (insertLogsAside) are idleQuiet and threadStarvedCheck
	// but in tests.
	quietNow     func() bool
	starvedCheck func() func() bool
	// checkpointWAL is store.CheckpointWAL but in tests.
	checkpointWAL func() error
	// logPause is quietLogPause but in tests.
	logPause time.Duration
	idle     common.IdleMeter
	// closing is set by Close: the last flushes stay on the scheduler's
	// threads, so a shutdown never waits on a niced one.
	closing atomic.Bool

	// pending counts logs accepted and not yet written, queued or in a
	// flush; maxPending bounds it (0: unbounded).
	pending    atomic.Int64
	maxPending int64

	// owner and seq name this writer's batches (model.FlushMark); seq is
	// the last mark used, under flushMu.
	owner string
	seq   int64
	// unsureDeltas and unsureLogs are batches whose write failed in a way
	// that may have committed all the same (the answer to a commit can be
	// lost); the next flush retries each alone, under its mark, before it
	// writes anything new. unsureDeltas is read under mu (Pending).
	unsureDeltas *markedDeltas
	unsureLogs   *markedLogs
	unsureUsage  *markedUsage
	// forget is set once marks were used that the database still holds.
	forget bool
	// batchTimeout bounds each of a flush's transactions.
	batchTimeout time.Duration
}

type markedDeltas struct {
	mark model.FlushMark
	d    model.Deltas
}

type markedUsage struct {
	mark  model.FlushMark
	usage map[model.QuotaDataKey]model.QuotaDataDelta
}

type markedLogs struct {
	mark model.FlushMark
	logs []model.Log // their own copy: the queue's is reused
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
	b := &BatchWriter{store: store, immediate: immediate, maxPending: DefaultMaxPending, checkpointEvery: walCheckpointEvery,
		logPause: quietLogPause, owner: common.RandomString(16), batchTimeout: flushBatchTimeout}
	b.quietNow, b.starvedCheck = b.idleQuiet, threadStarvedCheck
	b.checkpointWAL = store.CheckpointWAL
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

	if err := b.retryUnsure(); err != nil {
		b.requeue(d, usage)
		b.requeueLogs(&logs, 0)
		return err
	}
	mark := b.nextMark()
	if err := b.bounded(func(ctx context.Context) error { return b.store.ApplyDeltasMarked(ctx, mark, d) }); err != nil {
		b.mu.Lock()
		b.unsureDeltas = &markedDeltas{mark: *mark, d: d}
		b.mu.Unlock()
		b.requeue(model.Deltas{}, usage)
		b.requeueLogs(&logs, 0)
		return err
	}
	var errs []error
	wrote := logs.len() > 0 || len(usage) > 0 || len(d.Users)+len(d.Tokens)+len(d.Channels) > 0
	// Decided once, for the logs and the checkpoint alike, and only by a
	// flush with something to write (an idle one reads no CPU times);
	// quietNow last, so its meter measures the time since the previous
	// flush that asked. With the CPUs idle enough, SQLite's logs go on the
	// background thread and a database server's are paced.
	quiet := wrote && !b.closing.Load() && b.quietNow()
	aside := quiet && b.store.LogsInProcess()
	var pause time.Duration
	if quiet && !aside {
		pause = b.logPause
	}
	written, err := b.insertLogsAside(&logs, aside, pause)
	b.pending.Add(-int64(written))
	if err != nil {
		// The chunk that failed is the unsure one; the rest was not sent.
		end := min(written+logChunk, logs.len())
		b.unsureLogs = &markedLogs{mark: b.mark(), logs: logs.logs(written, end, nil)}
		b.requeueLogs(&logs, end)
		errs = append(errs, err)
	} else {
		b.recycle(logs)
	}
	// The aggregates are written even when the logs failed: they are
	// independent, and a dashboard should not lag behind a broken log DB.
	if len(usage) > 0 {
		usageMark := b.nextMark()
		if err := b.bounded(func(ctx context.Context) error { return b.store.AddQuotaData(ctx, usageMark, usage) }); err != nil {
			b.unsureUsage = &markedUsage{mark: *usageMark, usage: usage}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && b.forget {
		// Every batch marked so far is written: its mark guards nothing.
		if b.bounded(func(ctx context.Context) error { return b.store.ForgetFlushMarks(ctx, b.owner, b.seq) }) == nil {
			b.forget = false
		}
	}
	if wrote && time.Since(b.checkpointed) >= b.checkpointEvery {
		// Nothing is lost if it fails: the WAL keeps what it holds.
		if err := b.checkpointAside(aside); err != nil {
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
	if recs, text := logs.capacity(); recs == 0 || recs > maxSpareLogs || text > maxSpareText {
		return
	}
	logs.reset()
	b.mu.Lock()
	if len(b.spareLogs.recs) == 0 {
		b.spareLogs = logs
	}
	b.mu.Unlock()
}

// logChunk is how many logs one InsertLogs call (one transaction, fully
// written or not at all) gets: a failure costs at most one chunk's retry,
// and a kill during a flush leaves whole chunks.
const logChunk = 200

// insertLogsAside is insertLogs, on a background thread if aside (Flush
// decides: SQLite writes the logs in this process and its CPUs sat idle
// for at least quietAbove of the time since the last flush): requests
// then get the core the moment they need it, not when the flush next
// yields (at c=1 on one core a request could wait for a whole statement).
// Under load the flush stays on the scheduler's threads, with its fair
// share. Should the thread starve all the same (the cores filled up
// since), it hands the chunks it has not written back to the scheduler's
// threads. pause goes to a database server's inserts (InsertLogsMarked);
// the two never meet, aside being SQLite's.
func (b *BatchWriter) insertLogsAside(logs *logQueue, aside bool, pause time.Duration) (written int, err error) {
	if logs.len() == 0 || !aside {
		return b.insertLogs(logs, 0, nil, pause)
	}
	common.OnBackgroundThread(func() {
		written, err = b.insertLogs(logs, 0, b.starvedCheck(), 0)
	})
	if err != nil || written == logs.len() {
		return written, err
	}
	rest, err := b.insertLogs(logs, written, nil, 0)
	return written + rest, err
}

// quietLogPause is the pause between the statements of a flush's log
// batch on PostgreSQL while the gateway's CPUs have time to spare
// (model.Store.InsertLogsMarked): 1 ms after each 50-row statement spreads
// the server's work over about 5 ms per 200 logs, 100 ms a second at
// c=1, instead of 2 ms bursts. In the bench, where PostgreSQL shares the
// load generator's core, three alternated pairs: sluice's own non-stream
// c=1 p99 881 / 1069 / 981 → 773 / 851 / 835 µs, stream 1315 / 1537 /
// 1282 → 1153 / 1207 / 1055; c=16 CPU ×floor alike. Under load (no idle
// time) the batch goes out in one pipeline, one round trip per 200 logs.
const quietLogPause = time.Millisecond

// checkpointAside checkpoints SQLite's WAL, on the background thread if
// aside. Most of a checkpoint is the kernel's: reading the WAL, writing
// the database file and the fsyncs' writeback, 6-8 ms of the core a
// second at c=1 in the bench, in stretches that a kernel without
// preemption (PREEMPT_NONE) does not interrupt for a request's thread of
// the same priority: in loopback captures each checkpoint held one
// request 2.5-3.9 ms. A niced thread with a short slice gives the core up
// at the kernel's next chance. The checkpoint is one call, so a thread
// that starves cannot hand it back, but it is bounded: milliseconds of
// work, and a PASSIVE checkpoint waits for nobody.
func (b *BatchWriter) checkpointAside(aside bool) error {
	if !aside {
		return b.checkpointWAL()
	}
	var err error
	common.OnBackgroundThread(func() { err = b.checkpointWAL() })
	return err
}

// quietAbove is the idle share of the process's CPUs above which a flush
// counts as quiet: it writes SQLite's logs on a background thread, or
// paces a database server's (quietLogPause). The niced thread
// gets the idle time plus what the flush itself used (its CPU is not idle
// either way), so a margin suffices, and short of it - a saturated core,
// or one a busy neighbour fills - it would starve. At c=1 on one core
// sluice leaves 20-40 % idle; from c=16 on, next to none.
const quietAbove = 0.1

func (b *BatchWriter) idleQuiet() bool { return b.idle.Share() >= quietAbove }

// starvedBelow is the share of a chunk's wall time under which the
// background thread counts as starved: at c=1 it gets 30-40 %, behind a
// busy thread of normal priority about 1.5 %.
const starvedBelow = 0.1

// threadStarvedCheck starts a clock on the calling (background) thread
// and returns a check that reports, once per chunk, whether the thread got
// less than starvedBelow of the wall time since the previous check.
func threadStarvedCheck() func() bool {
	clock := common.StartThreadClock()
	return func() bool { return clock.Share() < starvedBelow }
}

// insertLogs writes logs chunk by chunk from index from and returns how
// many it wrote, all of them unless it failed or starved reported true
// after a chunk. The chunks before a failure are committed, so requeuing
// them would write them twice.
func (b *BatchWriter) insertLogs(logs *logQueue, from int, starved func() bool, pause time.Duration) (int, error) {
	for i := from; i < logs.len(); i += logChunk {
		end := min(i+logChunk, logs.len())
		b.chunk = logs.logs(i, end, b.chunk)
		mark := b.nextMark()
		err := b.bounded(func(ctx context.Context) error { return b.store.InsertLogsMarked(ctx, mark, b.chunk, pause) })
		clear(b.chunk) // let this chunk's text go
		if err != nil {
			return i - from, err
		}
		if end < logs.len() && starved != nil && starved() {
			return end - from, nil
		}
	}
	return logs.len() - from, nil
}

// flushBatchTimeout bounds each transaction of a flush on a database
// server. A connection whose server vanished without a reset (a failover,
// a network cut) would otherwise hold the flush until TCP gives up,
// minutes, while the logs pile up towards refusing requests; cut short,
// the batch is retried on a new connection, under its mark (FlushMark),
// so one whose commit did land is not written twice. Generous: a batch of
// 200 logs takes milliseconds, and waiting on another instance's row
// locks should never take this long.
const flushBatchTimeout = 30 * time.Second

// SetBatchTimeout bounds each transaction of a flush (default
// flushBatchTimeout).
func (b *BatchWriter) SetBatchTimeout(d time.Duration) { b.batchTimeout = d }

// bounded runs one of a flush's store calls with a context that ends
// after the batch timeout.
func (b *BatchWriter) bounded(call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.batchTimeout)
	defer cancel()
	return call(ctx)
}

// flushMarkAge is how long a mark is kept when its writer did not forget
// it (the process stopped first). A mark guards a batch only while the
// process that wrote it holds the batch, unsure, for a retry: a day is
// far longer than any retry waits.
const flushMarkAge = 24 * time.Hour

// nextMark names the next batch written.
func (b *BatchWriter) nextMark() *model.FlushMark {
	b.seq++
	b.forget = true
	m := b.mark()
	return &m
}

// mark is the mark of the batch written last.
func (b *BatchWriter) mark() model.FlushMark {
	return model.FlushMark{Owner: b.owner, Seq: b.seq}
}

// retryUnsure writes the batches whose earlier write may or may not have
// committed, each under its mark, so each lands once: a batch the
// database already holds is refused whole and dropped here. It returns
// the first error, leaving what it could not settle for the next flush.
func (b *BatchWriter) retryUnsure() error {
	// retry writes one batch again; a batch already written is settled too.
	retry := func(call func(ctx context.Context) error) error {
		if err := b.bounded(call); !errors.Is(err, model.ErrAlreadyWritten) {
			return err
		}
		return nil
	}
	if u := b.unsureDeltas; u != nil {
		if err := retry(func(ctx context.Context) error { return b.store.ApplyDeltasMarked(ctx, &u.mark, u.d) }); err != nil {
			return err
		}
		b.mu.Lock()
		b.unsureDeltas = nil
		b.mu.Unlock()
	}
	if u := b.unsureLogs; u != nil {
		if err := retry(func(ctx context.Context) error { return b.store.InsertLogsMarked(ctx, &u.mark, u.logs, 0) }); err != nil {
			return err
		}
		b.unsureLogs = nil
		b.pending.Add(-int64(len(u.logs)))
	}
	if u := b.unsureUsage; u != nil {
		if err := retry(func(ctx context.Context) error { return b.store.AddQuotaData(ctx, &u.mark, u.usage) }); err != nil {
			return err
		}
		b.unsureUsage = nil
	}
	return nil
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
	if err := b.bounded(func(ctx context.Context) error { return b.store.PruneFlushMarks(ctx, flushMarkAge) }); err != nil {
		slog.Warn("could not prune old flush marks", "err", err)
	}
	common.Every(ctx, every, func() {
		if err := b.Flush(); err != nil {
			slog.Error("batch flush failed; will retry", "err", err)
		}
	})
}

// Close flushes what is left, retrying a few times so a brief database
// hiccup at shutdown does not lose charges.
func (b *BatchWriter) Close() error {
	b.closing.Store(true)
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
