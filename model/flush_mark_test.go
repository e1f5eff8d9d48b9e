package model_test

import (
	"errors"
	"testing"
	"time"

	"sluice/internal/testdb"
	"sluice/model"
)

// A batch written under a mark is refused whole when it is written again
// under that mark (the retry of a batch whose commit's answer was lost),
// counters and logs alike, on both of the log insert's paths; a batch whose
// transaction failed leaves no mark, so its retry is written.
func TestMarkedBatchIsWrittenOnce(t *testing.T) {
	t.Parallel()
	for _, d := range []model.Dialect{model.DialectPostgres, model.DialectMySQL} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := testdb.Store(t, d)
			u := mustCreateUser(t, s, 1000)
			deltas := model.Deltas{Users: map[int]model.UserDelta{u.ID: {Quota: 10, UsedQuota: 10, RequestCount: 1}}}
			m := &model.FlushMark{Owner: "writer-a", Seq: 1}
			if err := s.ApplyDeltasMarked(t.Context(), m, deltas); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyDeltasMarked(t.Context(), m, deltas); !errors.Is(err, model.ErrAlreadyWritten) {
				t.Fatalf("second write under the same mark: %v, want ErrAlreadyWritten", err)
			}
			if q := scalar(t, s, "SELECT quota FROM users WHERE id = ?", u.ID); q != 990 {
				t.Fatalf("quota %d after a batch of 10 written once, want 990", q)
			}
			usage := map[model.QuotaDataKey]model.QuotaDataDelta{{UserID: u.ID, ModelName: "m", Hour: 1_700_000_400}: {Count: 1, Quota: 10}}
			um := &model.FlushMark{Owner: "writer-a", Seq: 2}
			if err := s.AddQuotaData(t.Context(), um, usage); err != nil {
				t.Fatal(err)
			}
			if err := s.AddQuotaData(t.Context(), um, usage); !errors.Is(err, model.ErrAlreadyWritten) {
				t.Fatalf("aggregates written again under their mark: %v, want ErrAlreadyWritten", err)
			}
			if n := scalar(t, s, "SELECT SUM(count) FROM quota_data WHERE user_id = ?", u.ID); n != 1 {
				t.Fatalf("aggregates count %d requests, want 1", n)
			}
			// Another writer's mark with the same sequence number is its own.
			if err := s.ApplyDeltasMarked(t.Context(), &model.FlushMark{Owner: "writer-b", Seq: 1}, deltas); err != nil {
				t.Fatal(err)
			}

			restore := testdb.RejectLogContent(t, s.LogDB, "poison")
			want := int64(0)
			for i, pause := range []time.Duration{0, time.Millisecond} {
				m := &model.FlushMark{Owner: "writer-a", Seq: int64(10 + i)}
				logs := logFixture(120)
				logs[70].Content = "poison"
				if err := s.InsertLogsMarked(t.Context(), m, logs, pause); err == nil || errors.Is(err, model.ErrAlreadyWritten) {
					t.Fatalf("pause %v: a batch with a rejected row: %v", pause, err)
				}
				logs[70].Content = "fine"
				if err := s.InsertLogsMarked(t.Context(), m, logs, pause); err != nil {
					t.Fatalf("pause %v: the failed batch's retry: %v", pause, err)
				}
				want += 120
				if err := s.InsertLogsMarked(t.Context(), m, logs, pause); !errors.Is(err, model.ErrAlreadyWritten) {
					t.Fatalf("pause %v: second write under the same mark: %v, want ErrAlreadyWritten", pause, err)
				}
				if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != want {
					t.Fatalf("pause %v: %d logs, want %d", pause, n, want)
				}
			}
			restore()
			// A batch of one statement: the mark's result is read last.
			small := &model.FlushMark{Owner: "writer-a", Seq: 12}
			if err := s.InsertLogsMarked(t.Context(), small, logFixture(5), 0); err != nil {
				t.Fatal(err)
			}
			if err := s.InsertLogsMarked(t.Context(), small, logFixture(5), 0); !errors.Is(err, model.ErrAlreadyWritten) {
				t.Fatalf("a one-statement batch written again under its mark: %v, want ErrAlreadyWritten", err)
			}
			if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != want+5 {
				t.Fatalf("%d logs, want %d", n, want+5)
			}

			if err := s.ForgetFlushMarks(t.Context(), "writer-a", 11); err != nil {
				t.Fatal(err)
			}
			if n := scalar(t, s, "SELECT COUNT(*) FROM flush_marks"); n != 2 { // writer-a 12, writer-b 1
				t.Fatalf("%d marks after forgetting writer-a's up to 11, want 2", n)
			}
			if err := s.PruneFlushMarks(t.Context(), time.Hour); err != nil {
				t.Fatal(err)
			}
			if n := scalar(t, s, "SELECT COUNT(*) FROM flush_marks"); n != 2 {
				t.Fatalf("pruning marks older than an hour removed fresh ones: %d left", n)
			}
			if err := s.PruneFlushMarks(t.Context(), -time.Minute); err != nil {
				t.Fatal(err)
			}
			if n := scalar(t, s, "SELECT COUNT(*) FROM flush_marks"); n != 0 {
				t.Fatalf("%d marks left after pruning all", n)
			}
		})
	}
}

// SQLite reports a commit's outcome as it is: its batches carry no mark.
func TestSQLiteBatchesCarryNoMark(t *testing.T) {
	t.Parallel()
	s := testdb.Store(t, model.DialectSQLite)
	u := mustCreateUser(t, s, 1000)
	m := &model.FlushMark{Owner: "writer-a", Seq: 1}
	if err := s.ApplyDeltasMarked(t.Context(), m, model.Deltas{Users: map[int]model.UserDelta{u.ID: {Quota: 10}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLogsMarked(t.Context(), m, logFixture(3), 0); err != nil {
		t.Fatal(err)
	}
	if n := scalar(t, s, "SELECT COUNT(*) FROM flush_marks"); n != 0 {
		t.Fatalf("%d marks on SQLite", n)
	}
}
