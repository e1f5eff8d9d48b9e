package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sluice/constant"
	"sluice/internal/testdb"
	"sluice/model"
)

func TestUsageWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_003_000, 0) // 50 minutes into an hour
	day := int64(86400)
	tests := []struct {
		name             string
		start, end       int64
		wantStart, wantE int64
		wantErr          bool
	}{
		{name: "defaults: the 7 days before now", wantStart: hourOf(now.Unix() - 7*day), wantE: now.Unix()},
		{name: "end only: the 7 days before it", end: 1_600_000_000, wantStart: hourOf(1_600_000_000 - 7*day), wantE: 1_600_000_000},
		{name: "start only: until now", start: now.Unix() - day, wantStart: hourOf(now.Unix() - day), wantE: now.Unix()},
		// The bucket stamped 10:00 holds 10:00–10:59, so a window starting
		// at 10:30 must include it.
		{name: "start rounds down to its hour", start: 1_700_001_800, end: 1_700_005_000, wantStart: 1_699_999_200, wantE: 1_700_005_000},
		{name: "exactly a year is allowed", start: 1_600_000_000, end: 1_600_000_000 + 366*day, wantStart: hourOf(1_600_000_000), wantE: 1_600_000_000 + 366*day},
		{name: "over a year is refused", start: 1_600_000_000, end: 1_600_000_000 + 366*day + 1, wantErr: true},
		{name: "end before start is refused", start: 1_600_000_100, end: 1_600_000_000, wantErr: true},
		{name: "negative is refused", start: -5, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, e, err := UsageWindow(tt.start, tt.end, now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("UsageWindow(%d, %d) = %d, %d, want an error", tt.start, tt.end, s, e)
				}
				return
			}
			if err != nil || s != tt.wantStart || e != tt.wantE {
				t.Fatalf("UsageWindow(%d, %d) = %d, %d, %v; want %d, %d", tt.start, tt.end, s, e, err, tt.wantStart, tt.wantE)
			}
		})
	}
}

// usageHour is an hour boundary the fixtures are stamped around.
const usageHour = 1_700_002_800 // a multiple of 3600

type usageCharge struct {
	user      *model.User
	model     string
	at        int64
	quota     int64
	prompt    int
	complete  int
	usernameA string // overrides the log's username when set
}

func recordUsage(w *BatchWriter, cs []usageCharge) {
	for _, c := range cs {
		name := c.user.Username
		if c.usernameA != "" {
			name = c.usernameA
		}
		w.RecordCharge(Charge{UserID: c.user.ID, TokenID: 0, ChannelID: 0, Quota: c.quota,
			Log: &model.Log{UserID: c.user.ID, Username: name, Type: constant.LogTypeConsume, ModelName: c.model,
				CreatedAt: c.at, Quota: c.quota, PromptTokens: c.prompt, CompletionTokens: c.complete}})
	}
}

// usageRow is a QuotaData row without its id, for comparison.
type usageRow struct {
	UserID                  int
	Username, Model         string
	Hour                    int64
	Count, Quota, TokenUsed int64
}

func usageRows(t *testing.T, s *model.Store) []usageRow {
	t.Helper()
	rows, err := s.ListQuotaData(model.QuotaDataFilter{Start: 0, End: 1 << 40})
	if err != nil {
		t.Fatalf("ListQuotaData: %v", err)
	}
	out := make([]usageRow, len(rows))
	for i, r := range rows {
		out[i] = usageRow{r.UserID, r.Username, r.ModelName, r.CreatedAt, r.Count, r.Quota, r.TokenUsed}
	}
	slices.SortFunc(out, func(a, b usageRow) int {
		if a.Hour != b.Hour {
			return int(a.Hour - b.Hour)
		}
		if a.UserID != b.UserID {
			return a.UserID - b.UserID
		}
		return strings.Compare(a.Model, b.Model)
	})
	return out
}

func newUsageUser(t *testing.T, s *model.Store, name string) *model.User {
	t.Helper()
	u := &model.User{Username: name, Password: "x", Role: 1, Status: 1, Quota: 1_000_000}
	if err := s.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	return u
}

// usageFixture: two users, two models, two hours.
func usageFixture(a, b *model.User) []usageCharge {
	return []usageCharge{
		{user: a, model: "gpt-4o", at: usageHour, quota: 10, prompt: 3, complete: 4},
		{user: a, model: "gpt-4o", at: usageHour + 3599, quota: 20, prompt: 5, complete: 6},
		{user: a, model: "claude", at: usageHour + 10, quota: 7, prompt: 1, complete: 1},
		{user: a, model: "gpt-4o", at: usageHour + 3600, quota: 30, prompt: 10, complete: 0},
		{user: b, model: "claude", at: usageHour + 3600 + 59, quota: 5, prompt: 2, complete: 2},
		{user: b, model: "claude", at: usageHour + 7199, quota: 6, prompt: 0, complete: 9},
	}
}

func wantUsage(a, b *model.User, times int64) []usageRow {
	rows := []usageRow{
		{a.ID, a.Username, "claude", usageHour, 1, 7, 2},
		{a.ID, a.Username, "gpt-4o", usageHour, 2, 30, 18},
		{a.ID, a.Username, "gpt-4o", usageHour + 3600, 1, 30, 10},
		{b.ID, b.Username, "claude", usageHour + 3600, 2, 11, 13},
	}
	for i := range rows {
		rows[i].Count *= times
		rows[i].Quota *= times
		rows[i].TokenUsed *= times
	}
	if a.ID > b.ID { // usageRows sorts by user within an hour
		rows[2], rows[3] = rows[3], rows[2]
	}
	return rows
}

func TestBatchWriterAggregatesHourlyUsage(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a, b := newUsageUser(t, s, "alice"), newUsageUser(t, s, "bob")
		w := NewBatchWriter(s, false)

		recordUsage(w, usageFixture(a, b))
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got, want := usageRows(t, s), wantUsage(a, b, 1); !slices.Equal(got, want) {
			t.Fatalf("after one flush:\n got %+v\nwant %+v", got, want)
		}

		// Repeated flushes add to the rows; an empty flush changes nothing.
		recordUsage(w, usageFixture(a, b))
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		recordUsage(w, usageFixture(a, b))
		for range 2 {
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
		}
		if got, want := usageRows(t, s), wantUsage(a, b, 3); !slices.Equal(got, want) {
			t.Fatalf("after three rounds:\n got %+v\nwant %+v", got, want)
		}

		// A renamed user's row takes the new name.
		recordUsage(w, []usageCharge{{user: b, model: "claude", at: usageHour + 3600, quota: 1, usernameA: "bobby"}})
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rows, err := s.ListQuotaData(model.QuotaDataFilter{UserID: b.ID, Start: usageHour + 3600, End: usageHour + 3600})
		if err != nil || len(rows) != 1 || rows[0].Username != "bobby" || rows[0].Count != 7 || rows[0].Quota != 34 {
			t.Fatalf("renamed row = %+v, %v", rows, err)
		}
		byName, err := s.ListQuotaData(model.QuotaDataFilter{Username: "alice", Start: usageHour, End: usageHour + 3600})
		if err != nil || len(byName) != 3 {
			t.Fatalf("alice's rows = %+v, %v", byName, err)
		}
		for i := 1; i < len(byName); i++ {
			if byName[i].CreatedAt < byName[i-1].CreatedAt {
				t.Fatalf("rows not ordered by created_at: %+v", byName)
			}
		}
	})
}

func TestBatchWriterRequeuesHourlyUsage(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a, b := newUsageUser(t, s, "alice"), newUsageUser(t, s, "bob")
		w := NewBatchWriter(s, false)
		recordUsage(w, usageFixture(a, b))

		if err := s.DB.Migrator().DropTable(&model.QuotaData{}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err == nil {
			t.Fatal("Flush with the quota_data table gone succeeded")
		}
		// The counters and logs of that flush were written once and must
		// not be written again; only the aggregates wait.
		charged := int64(10 + 20 + 7 + 30)
		if q := usageUserQuota(t, s, a.ID); q != 1_000_000-charged {
			t.Fatalf("alice's quota after the failed flush = %d, want %d", q, 1_000_000-charged)
		}
		// More charges arrive while the table is missing.
		recordUsage(w, usageFixture(a, b))
		if err := w.Flush(); err == nil {
			t.Fatal("second Flush with the table gone succeeded")
		}

		if err := s.DB.AutoMigrate(&model.QuotaData{}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush after restoring the table: %v", err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := usageRows(t, s), wantUsage(a, b, 2); !slices.Equal(got, want) {
			t.Fatalf("after recovery:\n got %+v\nwant %+v", got, want)
		}
		if q := usageUserQuota(t, s, a.ID); q != 1_000_000-2*charged {
			t.Fatalf("alice's quota = %d, want %d", q, 1_000_000-2*charged)
		}
		var logs int64
		if err := s.LogDB.Model(&model.Log{}).Where("type = ?", constant.LogTypeConsume).Count(&logs).Error; err != nil || logs != 12 {
			t.Fatalf("consume logs = %d, %v; want 12", logs, err)
		}
	})
}

func usageUserQuota(t *testing.T, s *model.Store, id int) int64 {
	t.Helper()
	u, err := s.UserByID(id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Quota
}

func logAges(t *testing.T, s *model.Store, typ int) []int64 {
	t.Helper()
	var ts []int64
	if err := s.LogDB.Model(&model.Log{}).Where("type = ?", typ).Order("created_at").Pluck("created_at", &ts).Error; err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestPurgeOldLogs(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		// The pass's own system log is stamped with the real clock, so the
		// fixture is built around it too.
		now := time.Now()
		day := int64(86400)
		var logs []model.Log
		ages := []int64{400 * day, 40 * day, 30*day + 1, 30*day - 1, day, 0}
		for _, age := range ages {
			logs = append(logs, model.Log{Type: constant.LogTypeConsume, CreatedAt: now.Unix() - age, Content: "x"})
		}
		if err := s.InsertLogs(logs); err != nil {
			t.Fatal(err)
		}
		w := NewBatchWriter(s, false)

		if n, err := PurgeOldLogs(context.Background(), s, w, 0, now); n != 0 || err != nil {
			t.Fatalf("retention 0 days = %d, %v; want nothing deleted", n, err)
		}
		n, err := PurgeOldLogs(context.Background(), s, w, 30, now)
		if err != nil || n != 3 {
			t.Fatalf("PurgeOldLogs(30 days) = %d, %v; want 3", n, err)
		}
		want := []int64{now.Unix() - (30*day - 1), now.Unix() - day, now.Unix()}
		if got := logAges(t, s, constant.LogTypeConsume); !slices.Equal(got, want) {
			t.Fatalf("logs left = %v, want %v", got, want)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var sys []model.Log
		if err := s.LogDB.Where("type = ?", constant.LogTypeSystem).Find(&sys).Error; err != nil || len(sys) != 1 ||
			!strings.Contains(sys[0].Content, "3 logs") {
			t.Fatalf("system log = %+v, %v", sys, err)
		}
		// A second pass finds nothing and says nothing.
		if n, err := PurgeOldLogs(context.Background(), s, w, 30, now); n != 0 || err != nil {
			t.Fatalf("second pass = %d, %v", n, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := len(logAges(t, s, constant.LogTypeSystem)); got != 1 {
			t.Fatalf("%d system logs after an empty pass, want 1", got)
		}
	})
}

func TestDeleteLogsBeforeInBatches(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		var logs []model.Log
		for i := range 25 {
			logs = append(logs, model.Log{Type: constant.LogTypeConsume, CreatedAt: 1000 + int64(i)})
		}
		for i := range 5 {
			logs = append(logs, model.Log{Type: constant.LogTypeConsume, CreatedAt: 5000 + int64(i)})
		}
		if err := s.InsertLogs(logs); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if n, err := s.DeleteLogsBefore(ctx, 5000, 4); n != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled delete = %d, %v", n, err)
		}
		// 20 of the old logs in batches of 4 (an exact multiple: the loop
		// must stop on the empty batch that follows), then the other 5.
		if n, err := s.DeleteLogsBefore(context.Background(), 1020, 4); n != 20 || err != nil {
			t.Fatalf("DeleteLogsBefore(1020, 4) = %d, %v; want 20", n, err)
		}
		if n, err := s.DeleteLogsBefore(context.Background(), 5000, 5); n != 5 || err != nil {
			t.Fatalf("DeleteLogsBefore(5000, 5) = %d, %v; want 5", n, err)
		}
		want := []int64{5000, 5001, 5002, 5003, 5004}
		if got := logAges(t, s, constant.LogTypeConsume); !slices.Equal(got, want) {
			t.Fatalf("left = %v, want %v", got, want)
		}
	})
}

func TestRunLogRetentionLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var passes atomic.Int32
	done := make(chan struct{})
	go func() {
		runLogRetention(ctx, 5*time.Millisecond, 10*time.Millisecond, func() { passes.Add(1) })
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for passes.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("retention loop did not stop when its context ended")
	}
	if passes.Load() < 3 {
		t.Fatalf("%d passes, want a first one and then one per interval", passes.Load())
	}
}
