//go:build linux

package service

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sluice/constant"
	"sluice/internal/testdb"
	"sluice/model"
)

// asideWriter is a SQLite writer whose flushes always go to the
// background thread, with starvation reported by starvedAfter: it returns
// true once it has been asked that many times. It records the nice value
// of the thread it is asked on.
func asideWriter(t *testing.T, starvedAfter int) (*BatchWriter, *model.Store, *[]int) {
	t.Helper()
	store := testdb.Store(t, model.DialectSQLite)
	w := NewBatchWriter(store, false)
	var nices []int
	w.quietNow = func() bool { return true }
	w.starvedCheck = func() func() bool {
		asked := 0
		return func() bool {
			nices = append(nices, threadNiceNow(t))
			asked++
			return asked >= starvedAfter
		}
	}
	return w, store, &nices
}

// writeLogs queues n logs, writes them with flush (w.Flush or w.Close)
// and fails unless the table then holds exactly n.
func writeLogs(t *testing.T, w *BatchWriter, store *model.Store, n int, flush func() error) {
	t.Helper()
	for range n {
		w.RecordCharge(Charge{UserID: 1, Quota: 1, Log: &model.Log{UserID: 1, Type: constant.LogTypeConsume,
			ModelName: "m", CreatedAt: 1_700_000_000, Quota: 1, RequestID: "r"}})
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	var got int64
	if err := store.LogDB.Raw("SELECT COUNT(*) FROM logs").Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if got != int64(n) {
		t.Fatalf("%d logs written, want %d", got, n)
	}
}

// A background thread that starves hands the chunks it has not written
// back to the scheduler's threads: every log is written once, none twice.
func TestStarvedFlushThreadHandsTheRestBack(t *testing.T) {
	t.Parallel()
	w, store, nices := asideWriter(t, 1)
	writeLogs(t, w, store, 5*logChunk+17, w.Flush)
	if p := w.PendingLogs(); p != 0 {
		t.Fatalf("%d logs still pending", p)
	}
	// Asked once, after the first chunk, on the niced thread; the other
	// chunks were written without asking.
	if len(*nices) != 1 || (*nices)[0] != 19 {
		t.Fatalf("starvation checked at nice values %v, want once at 19", *nices)
	}
}

// A thread that never starves writes every chunk, asking after each but
// the last.
func TestUnstarvedFlushThreadWritesEveryChunk(t *testing.T) {
	t.Parallel()
	w, store, nices := asideWriter(t, 1<<30)
	writeLogs(t, w, store, 3*logChunk+1, w.Flush)
	if len(*nices) != 3 {
		t.Fatalf("starvation checked %d times, want 3 (after each chunk but the last)", len(*nices))
	}
}

// Close's flushes stay on the scheduler's threads: a shutdown must not
// wait on a thread the kernel may keep off the core.
func TestCloseFlushesOffTheBackgroundThread(t *testing.T) {
	t.Parallel()
	w, store, nices := asideWriter(t, 1<<30)
	writeLogs(t, w, store, 2*logChunk+5, w.Close)
	if len(*nices) != 0 {
		t.Fatalf("Close's flush ran on the background thread (checked at nice %v)", *nices)
	}
}

// threadNiceNow is the calling thread's nice value.
func threadNiceNow(t *testing.T) int {
	t.Helper()
	nice, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Error(err)
	}
	return 20 - nice // the raw syscall returns 20 - nice
}

// A flush that goes aside checkpoints the WAL on the niced thread too (its
// kernel work held requests for milliseconds); Close's stays on the
// scheduler's threads.
func TestCheckpointFollowsTheFlushAside(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		aside bool
		want  int
	}{{"aside", true, 19}, {"not aside", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			w, store, _ := asideWriter(t, 1<<30)
			w.quietNow = func() bool { return tc.aside }
			var nices []int
			w.checkpointWAL = func() error {
				nices = append(nices, threadNiceNow(t))
				return store.CheckpointWAL()
			}
			writeLogs(t, w, store, logChunk+1, w.Flush)
			if len(nices) != 1 || nices[0] != tc.want {
				t.Fatalf("checkpointed at nice values %v, want once at %d", nices, tc.want)
			}
		})
	}
}

// On PostgreSQL a flush made while the CPUs had time to spare paces its
// log statements (model.Store.InsertLogsMarked); a busy one sends each
// batch in one pipeline. Both write every log.
func TestQuietFlushPacesItsPostgresStatements(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		quiet bool
	}{{"quiet", true}, {"busy", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := testdb.Store(t, model.DialectPostgres)
			w := NewBatchWriter(store, false)
			w.quietNow = func() bool { return tc.quiet }
			w.logPause = 50 * time.Millisecond
			start := time.Now()
			// Two chunks of four 50-row statements: three pauses each.
			writeLogs(t, w, store, 2*logChunk, w.Flush)
			took := time.Since(start)
			if paced := took >= 6*w.logPause; paced != tc.quiet {
				t.Fatalf("the flush took %v: paced %v, want %v", took, paced, tc.quiet)
			}
		})
	}
}
