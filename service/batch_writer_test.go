package service_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"sluice/internal/testdb"
	"sluice/model"
	"sluice/service"
)

// charge is what the relay records after settling one request.
func (a *account) charge(key *model.Token, quota int64) service.Charge {
	return service.Charge{UserID: a.user.ID, TokenID: key.ID, ChannelID: a.channel.ID, Quota: quota, Unlimited: key.UnlimitedQuota,
		Log: &model.Log{UserID: a.user.ID, Type: 2, Username: a.user.Username, TokenName: key.Name, TokenID: key.ID,
			ModelName: "m", Quota: quota, ChannelID: a.channel.ID, Group: "default", PromptTokens: 3, CompletionTokens: 4}}
}

// tally is what a test charged, to compare with SQL afterwards.
type tally struct {
	mu                 sync.Mutex
	limited, unlimited int64
	requests           int64
}

func (t *tally) add(unlimited bool, q int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if unlimited {
		t.unlimited += q
	} else {
		t.limited += q
	}
	t.requests++
}

// spend runs n requests through Reserve/Settle (two on the limited key,
// one on the unlimited) and records each charge in w and in sum.
func (a *account) spend(t *testing.T, w *service.BatchWriter, n int, sum *tally) {
	t.Helper()
	ue := a.cache.UserEntry(a.user.ID)
	for i := range n {
		key := a.key
		if i%3 == 2 {
			key = a.unlimited
		}
		r, err := service.Reserve(t.Context(), a.cache, ue, a.cache.TokenEntryByID(key.ID), 100)
		if err != nil {
			t.Errorf("Reserve: %v", err) // may run off the test goroutine: no Fatal
			return
		}
		c, _ := r.Settle(t.Context(), int64(rand.IntN(201)))
		w.RecordCharge(a.charge(key, c))
		sum.add(key.UnlimitedQuota, c)
	}
}

// expect compares SQL with the account's start and what was charged.
func (a *account) expect(t *testing.T, quota, remain int64, sum *tally) {
	t.Helper()
	total := sum.limited + sum.unlimited
	want := sqlState{
		UserQuota: quota - total, UserUsed: total, Requests: sum.requests,
		KeyRemain: remain - sum.limited, KeyUsed: sum.limited,
		UnlimitedRemain: 0, UnlimitedUsed: sum.unlimited,
		ChannelUsed: total, Logs: sum.requests, LogQuota: total,
	}
	if got := a.sql(t); got != want {
		t.Errorf("SQL state\n got %+v\nwant %+v", got, want)
	}
}

// statements counts the UPDATE statements per table and the INSERT
// statements on logs.
type statements struct {
	mu     sync.Mutex
	counts map[string]int
}

// countStatements counts the statements s issues from now on: the updates
// through gorm's callbacks, the log inserts where they reach database/sql
// (the store writes them past gorm's callbacks, straight to the
// transaction).
func countStatements(t *testing.T, s *model.Store) *statements {
	t.Helper()
	st := &statements{counts: map[string]int{}}
	hook := func(kind string) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			st.add(kind + " " + tx.Statement.Table)
		}
	}
	if err := s.DB.Callback().Update().After("gorm:update").Register("test:count_update", hook("update")); err != nil {
		t.Fatal(err)
	}
	// A new session, so the original *gorm.DB is left as it was.
	db := s.LogDB.Session(&gorm.Session{NewDB: true, Context: context.Background()})
	db.Statement.ConnPool = countingPool{ConnPool: db.Statement.ConnPool, st: st}
	if s.DB == s.LogDB {
		s.DB = db
	}
	s.LogDB = db
	return st
}

func (st *statements) add(kind string) {
	st.mu.Lock()
	st.counts[kind]++
	st.mu.Unlock()
}

// countingPool passes every statement on to the pool or transaction it
// wraps, counting those that insert into logs.
type countingPool struct {
	gorm.ConnPool
	st *statements
}

func (p countingPool) see(query string) {
	q := strings.NewReplacer(`"`, "", "`", "").Replace(strings.TrimSpace(query))
	if strings.HasPrefix(strings.ToUpper(q), "INSERT INTO LOGS ") {
		p.st.add("insert logs")
	}
}

func (p countingPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	p.see(query)
	return p.ConnPool.ExecContext(ctx, query, args...)
}

func (p countingPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	p.see(query)
	return p.ConnPool.QueryContext(ctx, query, args...)
}

func (p countingPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	p.see(query)
	return p.ConnPool.QueryRowContext(ctx, query, args...)
}

// BeginTx starts a transaction whose statements are counted too.
func (p countingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.ConnPool.(gorm.TxBeginner).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{countingPool{ConnPool: tx, st: p.st}}, nil
}

// GetDBConn lets gorm's DB() reach the *sql.DB underneath.
func (p countingPool) GetDBConn() (*sql.DB, error) {
	db, ok := p.ConnPool.(*sql.DB)
	if !ok {
		return nil, errors.New("countingPool: not a *sql.DB")
	}
	return db, nil
}

// countingTx is a pointer, as gorm checks a transaction for nil by
// reflection.
type countingTx struct{ countingPool }

func (t *countingTx) Commit() error   { return t.ConnPool.(*sql.Tx).Commit() }
func (t *countingTx) Rollback() error { return t.ConnPool.(*sql.Tx).Rollback() }

// take returns and resets the counts for the tables the charge path must
// touch (users, tokens, channels, logs); other tables (aggregates) are
// not this test's concern.
func (st *statements) take() map[string]int {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := map[string]int{}
	for k, n := range st.counts {
		switch k {
		case "update users", "update tokens", "update channels", "insert logs":
			c[k] = n
		}
	}
	st.counts = map[string]int{}
	return c
}

func TestBatchWriterCoalescesAndFlushes(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 50_000)
		w := service.NewBatchWriter(s, false)
		stmts := countStatements(t, s)
		var sum tally
		a.spend(t, w, 60, &sum)

		// Nothing reaches SQL before the flush.
		if got := a.sql(t); got.UserQuota != 100_000 || got.Logs != 0 || got.Requests != 0 {
			t.Fatalf("SQL written before Flush: %+v", got)
		}
		if n := stmts.take(); len(n) != 0 {
			t.Fatalf("statements before Flush: %v", n)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// 60 charges coalesce into one update per row and multi-row log
		// inserts: one of 200 rows at most on MySQL. SQLite's go through
		// the engine's own prepared statement and PostgreSQL's are
		// pipelined, both below database/sql, out of the counting pool's
		// sight; on PostgreSQL the rows' xmin (the transaction that
		// inserted them) shows they went in as one.
		want := map[string]int{"update users": 1, "update tokens": 2, "update channels": 1}
		switch testdb.DialectOf(s.DB) {
		case model.DialectMySQL:
			want["insert logs"] = 1
		case model.DialectPostgres:
			var txs int64
			if err := s.LogDB.Raw("SELECT COUNT(DISTINCT xmin::text) FROM logs WHERE user_id = ?", a.user.ID).Scan(&txs).Error; err != nil || txs != 1 {
				t.Errorf("the flush's logs were inserted by %d transactions (%v), want 1", txs, err)
			}
		}
		if n := stmts.take(); !equalCounts(n, want) {
			t.Errorf("statements for one flush = %v, want %v", n, want)
		}
		a.expect(t, 100_000, 50_000, &sum)

		// The live balances and SQL agree once everything is flushed.
		got := a.sql(t)
		if live := a.cache.UserEntry(a.user.ID).Quota.Load(); live != got.UserQuota {
			t.Errorf("live user balance %d, SQL %d", live, got.UserQuota)
		}
		if live := a.cache.TokenEntryByID(a.key.ID).Remain.Load(); live != got.KeyRemain {
			t.Errorf("live key balance %d, SQL %d", live, got.KeyRemain)
		}
		st, err := s.SumLogs(model.LogFilter{UserID: a.user.ID}, time.Now().Unix())
		if err != nil || st.Quota != sum.limited+sum.unlimited || st.RPM != 60 || st.TPM != 60*7 {
			t.Errorf("SumLogs = %+v, %v; want quota %d, rpm 60, tpm 420", st, err, sum.limited+sum.unlimited)
		}
		var accessed int64
		s.DB.Raw("SELECT accessed_time FROM tokens WHERE id = ?", a.key.ID).Scan(&accessed)
		if now := time.Now().Unix(); accessed < now-60 || accessed > now {
			t.Errorf("accessed_time = %d, want about %d", accessed, now)
		}

		// An empty flush writes nothing.
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := stmts.take(); len(n) != 0 {
			t.Errorf("statements for an empty flush: %v", n)
		}
		a.expect(t, 100_000, 50_000, &sum)
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The log insert fails after the deltas committed: the logs are kept and
// written by a later flush, and the deltas are not applied twice.
func TestBatchWriterLogFailureKeepsLogs(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 50_000)
		w := service.NewBatchWriter(s, false)
		var sum tally
		a.spend(t, w, 10, &sum)
		if err := s.LogDB.Migrator().DropTable(&model.Log{}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err == nil {
			t.Fatal("Flush succeeded without a logs table")
		}
		a.spend(t, w, 5, &sum)
		if err := w.Flush(); err == nil {
			t.Fatal("second Flush succeeded without a logs table")
		}
		if err := model.MigrateLogs(s.LogDB); err != nil {
			t.Fatal(err)
		}
		a.spend(t, w, 3, &sum)
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush after restoring the table: %v", err)
		}
		a.expect(t, 100_000, 50_000, &sum)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		a.expect(t, 100_000, 50_000, &sum)
	})
}

// The delta transaction fails part-way: nothing of it is committed, and
// the retry writes all of it once.
func TestBatchWriterDeltaFailureIsRetriedWhole(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 50_000)
		w := service.NewBatchWriter(s, false)
		var broken atomic.Bool
		broken.Store(true)
		err := s.DB.Callback().Update().Before("gorm:update").Register("test:fail_channels", func(tx *gorm.DB) {
			if broken.Load() && tx.Statement.Table == "channels" {
				_ = tx.AddError(errors.New("injected failure"))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var sum tally
		a.spend(t, w, 10, &sum)
		if err := w.Flush(); err == nil {
			t.Fatal("Flush succeeded despite the injected failure")
		}
		if got := a.sql(t); got != (sqlState{UserQuota: 100_000, KeyRemain: 50_000}) {
			t.Fatalf("a failed flush left changes behind: %+v", got)
		}
		a.spend(t, w, 4, &sum)
		broken.Store(false)
		if err := w.Flush(); err != nil {
			t.Fatalf("retry: %v", err)
		}
		a.expect(t, 100_000, 50_000, &sum)
	})
}

// The database goes away (here: the pool is closed) and comes back on a
// new connection: nothing queued is lost or doubled.
func TestBatchWriterSurvivesLostConnection(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testdb.Create(t, d)
			s := testdb.StoreOn(t, db.Open(t))
			a := newAccount(t, s, 100_000, 50_000)
			w := service.NewBatchWriter(s, false)
			var sum tally
			a.spend(t, w, 7, &sum)
			sqlDB, err := s.DB.DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := sqlDB.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err == nil {
				t.Fatal("Flush succeeded on a closed database")
			}
			a.spend(t, w, 3, &sum)
			fresh := db.Open(t)
			s.DB, s.LogDB = fresh, fresh
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush after reconnecting: %v", err)
			}
			a.expect(t, 100_000, 50_000, &sum)
		})
	}
}

func TestBatchWriterCloseFlushes(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 50_000)
		w := service.NewBatchWriter(s, false)
		var sum tally
		a.spend(t, w, 12, &sum)
		w.AddLog(model.Log{UserID: a.user.ID, Type: 4, Content: "system note"})
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		a.expect(t, 100_000, 50_000, &sum)
		var n int64
		s.LogDB.Raw("SELECT COUNT(*) FROM logs WHERE type = 4 AND user_id = ? AND created_at > 0", a.user.ID).Scan(&n)
		if n != 1 {
			t.Errorf("%d system logs after Close, want 1", n)
		}
	})
}

// Requests settle while the periodic flush runs: every charge is written
// exactly once.
func TestBatchWriterConcurrentRecordAndFlush(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 10_000_000, 5_000_000)
		w := service.NewBatchWriter(s, false)
		ctx, cancel := context.WithCancel(context.Background())
		var run sync.WaitGroup
		run.Go(func() { w.Run(ctx, 2*time.Millisecond) })

		var sum tally
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 60 {
					a.spend(t, w, 1, &sum)
					if rand.IntN(10) == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		cancel()
		run.Wait()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		a.expect(t, 10_000_000, 5_000_000, &sum)
	})
}

func TestBatchWriterImmediate(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 1000, 1000)
		w := service.NewBatchWriter(s, true)
		w.RecordCharge(a.charge(a.key, 25))
		got := a.sql(t)
		if got.UserQuota != 975 || got.KeyRemain != 975 || got.Logs != 1 || got.LogQuota != 25 {
			t.Errorf("immediate mode did not write at once: %+v", got)
		}
		w.RecordCharge(a.charge(a.unlimited, 5))
		got = a.sql(t)
		if got.UserQuota != 970 || got.KeyRemain != 975 || got.UnlimitedRemain != 0 || got.UnlimitedUsed != 5 {
			t.Errorf("unlimited charge: %+v", got)
		}
	})
}

// More logs than one InsertLogs call takes (200), and the second call
// fails: the database rejects a log in it. The retry must write every log
// exactly once. The first call's logs are already in the table at that
// point (each call commits on its own), so putting all of them back would
// duplicate them; and the failed call must have left nothing behind.
func TestBatchWriterPartialLogFailureWritesEachLogOnce(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 10_000_000, 5_000_000)
		w := service.NewBatchWriter(s, false)
		var sum tally
		a.spend(t, w, 300, &sum)
		// Log 301: in the second call (on SQLite, not in its first statement).
		poison := a.charge(a.key, 0)
		poison.Log.Content = "poison"
		w.RecordCharge(poison)
		sum.add(false, 0)
		a.spend(t, w, 149, &sum)

		restore := testdb.RejectLogContent(t, s.LogDB, "poison")
		if err := w.Flush(); err == nil {
			t.Fatal("Flush succeeded despite the rejected log")
		}
		if got := a.sql(t).Logs; got != 200 {
			t.Fatalf("%d logs after the failed flush, want the first call's 200", got)
		}
		if w.PendingLogs() != 250 {
			t.Fatalf("%d logs pending after the failed flush, want 250", w.PendingLogs())
		}
		restore()
		if err := w.Flush(); err != nil {
			t.Errorf("retry flush: %v", err)
		}
		a.expect(t, 10_000_000, 5_000_000, &sum)
		if n := w.PendingLogs(); n != 0 {
			t.Errorf("%d logs pending after the retry", n)
		}
	})
}

// The writer reuses a written flush's slice for the next interval's logs:
// each log must still be written once with its own content, across failed
// flushes (whose logs are requeued, so their slice must not be reused) and
// flushes of different sizes.
func TestBatchWriterReusedSliceKeepsEveryLog(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 10_000_000, 5_000_000)
		w := service.NewBatchWriter(s, false)
		want := map[string]bool{}
		record := func(round, n int) {
			for i := range n {
				c := a.charge(a.key, int64(i))
				c.Log.Content = fmt.Sprintf("r%d-%d", round, i)
				w.RecordCharge(c)
				want[c.Log.Content] = true
			}
		}
		check := func(round int) {
			t.Helper()
			var got []string
			if err := s.LogDB.Raw("SELECT content FROM logs WHERE user_id = ?", a.user.ID).Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c] || !want[c] {
					t.Fatalf("round %d: log %q written twice or never recorded", round, c)
				}
				seen[c] = true
			}
			if len(seen) != len(want) {
				t.Fatalf("round %d: %d logs written, want %d", round, len(seen), len(want))
			}
		}
		for round, n := range []int{5, 40, 3, 250, 1} {
			record(round, n)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			check(round)
		}
		restore := testdb.RejectLogContent(t, s.LogDB, "r5-2")
		record(5, 7)
		if err := w.Flush(); err == nil {
			t.Fatal("Flush succeeded despite the rejected log")
		}
		record(6, 4)
		restore()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		check(6)
		record(7, 2)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		check(7)
	})
}

// While the database is away the queue grows to its bound; the writer then
// reports saturation (so the relay refuses new requests) but still accepts
// the charges of requests already in flight, and drains when it returns.
func TestBatchWriterSaturatesAndDrains(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a := newAccount(t, s, 100_000, 50_000)
		w := service.NewBatchWriter(s, false)
		w.SetMaxPending(5)
		var sum tally
		a.spend(t, w, 3, &sum)
		if w.Saturated() {
			t.Fatal("saturated below the bound")
		}
		if err := s.LogDB.Migrator().DropTable(&model.Log{}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err == nil {
			t.Fatal("Flush succeeded without a logs table")
		}
		a.spend(t, w, 4, &sum) // in flight when the bound is reached: accepted, not dropped
		if !w.Saturated() || w.PendingLogs() != 7 {
			t.Fatalf("Saturated = %v with %d pending, want true with 7", w.Saturated(), w.PendingLogs())
		}
		if err := model.MigrateLogs(s.LogDB); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush after the database came back: %v", err)
		}
		if w.Saturated() || w.PendingLogs() != 0 {
			t.Fatalf("Saturated = %v with %d pending after the drain", w.Saturated(), w.PendingLogs())
		}
		a.expect(t, 100_000, 50_000, &sum)
	})
}

// On SQLite the flush checkpoints the WAL itself (with a spare P, so its
// fsyncs do not stall requests), at most once per walCheckpointEvery.
func TestBatchWriterCheckpointsTheSQLiteWAL(t *testing.T) {
	t.Parallel()
	db := testdb.Create(t, model.DialectSQLite)
	s := testdb.StoreOn(t, db.Open(t))
	w := service.NewBatchWriter(s, false)
	// However slow the machine, the second flush comes "at once".
	service.SetCheckpointEvery(w, time.Hour)

	w.AddLog(model.Log{UserID: 1, Content: "first"})
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := testdb.RowsInFileAlone(t, db.Path, "logs"); got != 1 {
		t.Fatalf("logs in the database file after the first flush = %d, want 1 (checkpointed)", got)
	}

	w.AddLog(model.Log{UserID: 1, Content: "second"})
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := testdb.RowsInFileAlone(t, db.Path, "logs"); got != 1 {
		t.Errorf("logs in the database file after a second flush at once = %d, want 1 (the next checkpoint is not due)", got)
	}
	// Both logs are there all the same.
	var n int64
	if err := s.LogDB.Table("logs").Count(&n).Error; err != nil || n != 2 {
		t.Errorf("logs = %d (err %v), want 2", n, err)
	}
}

// The database server commits a flush's batch and its answer is lost (the
// connection drops between the COMMIT and its reply): the writer cannot
// tell that from a batch that failed, retries it, and must not write it
// twice. Once with the counters' transaction, once with the logs'.
func TestBatchWriterLostCommitAnswerWritesOnce(t *testing.T) {
	t.Parallel()
	for _, d := range []model.Dialect{model.DialectPostgres, model.DialectMySQL} {
		for _, batch := range []struct {
			name string
			nth  int // which commit of the flush loses its answer
		}{{"counters", 1}, {"logs", 2}, {"aggregates", 3}} {
			t.Run(string(d)+"/"+batch.name, func(t *testing.T) {
				t.Parallel()
				g, link := testdb.Create(t, d).OpenThroughLink(t)
				s := testdb.StoreOn(t, g)
				a := newAccount(t, s, 100_000, 50_000)
				w := service.NewBatchWriter(s, false)
				var sum tally
				a.spend(t, w, 10, &sum)
				queued := w.Pending(true, a.user.ID)
				link.LoseCommitAck(batch.nth)
				if err := w.Flush(); err == nil {
					t.Fatal("Flush succeeded though the answer to its commit was lost")
				}
				if link.Lost() != 1 {
					t.Fatalf("%d answers lost, want 1", link.Lost())
				}
				// Counters that may not have landed still count as queued
				// (a balance seeded from SQL meanwhile is then too low,
				// never too high); once the counters landed, nothing does.
				want := int64(0)
				if batch.name == "counters" {
					want = queued
				}
				if p := w.Pending(true, a.user.ID); p != want {
					t.Errorf("pending for the user after the lost answer: %d, want %d", p, want)
				}
				a.spend(t, w, 4, &sum)
				if err := w.Flush(); err != nil {
					t.Fatalf("retry: %v", err)
				}
				if p := w.Pending(true, a.user.ID); p != 0 {
					t.Errorf("pending for the user after the retry: %d, want 0", p)
				}
				a.expect(t, 100_000, 50_000, &sum)
				if n := w.PendingLogs(); n != 0 {
					t.Errorf("%d logs still pending", n)
				}
				var count, quota int64
				if err := s.DB.Raw("SELECT COALESCE(SUM(count), 0), COALESCE(SUM(quota), 0) FROM quota_data WHERE user_id = ?", a.user.ID).
					Row().Scan(&count, &quota); err != nil {
					t.Fatal(err)
				}
				if total := sum.limited + sum.unlimited; count != sum.requests || quota != total {
					t.Errorf("hourly aggregates hold %d requests and %d quota, want %d and %d", count, quota, sum.requests, total)
				}
				var marks int64
				if err := s.DB.Raw("SELECT COUNT(*) FROM flush_marks").Row().Scan(&marks); err != nil {
					t.Fatal(err)
				}
				if marks != 0 {
					t.Errorf("%d flush marks left after every batch was written", marks)
				}
			})
		}
	}
}

// The database server stops answering without closing anything (a
// network cut, a failover): a flush gives up on each transaction after
// the batch timeout instead of waiting for TCP, and once the server is
// back the next flush writes everything, once.
func TestBatchWriterGivesUpOnAHungDatabase(t *testing.T) {
	t.Parallel()
	for _, d := range []model.Dialect{model.DialectPostgres, model.DialectMySQL} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			g, link := testdb.Create(t, d).OpenThroughLink(t)
			s := testdb.StoreOn(t, g)
			a := newAccount(t, s, 100_000, 50_000)
			w := service.NewBatchWriter(s, false)
			w.SetBatchTimeout(300 * time.Millisecond)
			var sum tally
			a.spend(t, w, 10, &sum)
			link.Hang()
			start := time.Now()
			if err := w.Flush(); err == nil {
				t.Fatal("Flush succeeded while the database hung")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("Flush took %v against a hung database, with a 300 ms batch timeout", took)
			}
			link.Resume()
			a.spend(t, w, 4, &sum)
			if err := w.Flush(); err != nil {
				t.Fatalf("flush after the database came back: %v", err)
			}
			a.expect(t, 100_000, 50_000, &sum)
			if n := w.PendingLogs(); n != 0 {
				t.Errorf("%d logs still pending", n)
			}
		})
	}
}
