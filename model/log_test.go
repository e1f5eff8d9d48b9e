package model_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

// logNow is the "now" of the log fixture; SumLogs takes it as a parameter,
// so the test does not depend on the clock.
const logNow = 1_700_000_000

// logFixture builds n logs whose fields cycle at different periods, so
// every filter and every combination of two has hits and misses. Log i is
// i*7 s old: the first nine fall inside SumLogs' 60 s window.
func logFixture(n int) []model.Log {
	users := []string{"ann", "bob", "cyd"}
	tokens := []string{"key-a", "key-b"}
	models := []string{"gpt-4o", "gpt-4o-mini", "claude-three", "gemini"}
	groups := []string{"default", "vip"}
	types := []int{2, 2, 2, 5, 1, 2, 3}
	logs := make([]model.Log, n)
	for i := range logs {
		logs[i] = model.Log{
			UserID:           i%3 + 1,
			Username:         users[i%3],
			CreatedAt:        logNow - int64(i)*7,
			Type:             types[i%len(types)],
			TokenName:        tokens[i%2],
			TokenID:          i%2 + 1,
			ModelName:        models[i%4],
			Quota:            int64(i%50 + 1),
			PromptTokens:     i % 11,
			CompletionTokens: i % 13,
			ChannelID:        i%5 + 1,
			Group:            groups[i%2],
			RequestID:        "req-" + testenv.Name(""),
			Content:          "c",
		}
	}
	return logs
}

// matches is the reference implementation of LogFilter.
func matches(l model.Log, f model.LogFilter) bool {
	return (f.UserID == 0 || l.UserID == f.UserID) &&
		(f.Type == 0 || l.Type == f.Type) &&
		(f.Username == "" || l.Username == f.Username) &&
		(f.TokenName == "" || l.TokenName == f.TokenName) &&
		(f.ModelName == "" || strings.HasPrefix(l.ModelName, f.ModelName)) &&
		(f.ChannelID == 0 || l.ChannelID == f.ChannelID) &&
		(f.Group == "" || l.Group == f.Group) &&
		(f.StartTimestamp == 0 || l.CreatedAt >= f.StartTimestamp) &&
		(f.EndTimestamp == 0 || l.CreatedAt <= f.EndTimestamp)
}

func TestInsertAndListLogs(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		// More than one INSERT statement on every database (200 rows
		// each, 16 on SQLite), not a multiple of either.
		logs := logFixture(450)
		if err := s.InsertLogs(logs); err != nil {
			t.Fatalf("InsertLogs: %v", err)
		}
		if err := s.InsertLogs(nil); err != nil {
			t.Fatalf("InsertLogs(nil): %v", err)
		}
		// The rows come back in the order given, each with every field:
		// the ids grow with the slice's index. (InsertLogs does not fill
		// in the ids; the filters below need them.)
		stored := readLogs(t, s)
		if len(stored) != len(logs) {
			t.Fatalf("%d rows after inserting %d", len(stored), len(logs))
		}
		for i := range logs {
			if logs[i].ID != 0 {
				t.Fatalf("log %d: InsertLogs set the caller's id to %d", i, logs[i].ID)
			}
			logs[i].ID = stored[i].ID
			if stored[i] != logs[i] {
				t.Fatalf("row %d:\n got %+v\nwant %+v", i, stored[i], logs[i])
			}
			if i > 0 && stored[i].ID <= stored[i-1].ID {
				t.Fatalf("row %d has id %d after %d", i, stored[i].ID, stored[i-1].ID)
			}
		}

		filters := []struct {
			name string
			f    model.LogFilter
		}{
			{"none", model.LogFilter{}},
			{"user", model.LogFilter{UserID: 2}},
			{"type", model.LogFilter{Type: 5}},
			{"username", model.LogFilter{Username: "cyd"}},
			{"token name", model.LogFilter{TokenName: "key-b"}},
			{"model prefix", model.LogFilter{ModelName: "gpt-4o"}},
			{"model full", model.LogFilter{ModelName: "gpt-4o-mini"}},
			{"channel", model.LogFilter{ChannelID: 4}},
			{"group", model.LogFilter{Group: "vip"}},
			{"start", model.LogFilter{StartTimestamp: logNow - 700}},
			{"end", model.LogFilter{EndTimestamp: logNow - 2000}},
			{"window", model.LogFilter{StartTimestamp: logNow - 1400, EndTimestamp: logNow - 700}},
			{"user+type+group", model.LogFilter{UserID: 1, Type: 2, Group: "default"}},
			{"all at once", model.LogFilter{UserID: 1, Type: 2, Username: "ann", TokenName: "key-a", ModelName: "g",
				ChannelID: 1, Group: "default", StartTimestamp: logNow - 3000, EndTimestamp: logNow}},
			{"no match", model.LogFilter{Username: "nobody"}},
		}
		for _, tc := range filters {
			var want []int64
			for i := len(logs) - 1; i >= 0; i-- { // newest id first
				if matches(logs[i], tc.f) {
					want = append(want, logs[i].ID)
				}
			}
			if tc.name != "no match" && tc.name != "all at once" && len(want) == 0 {
				t.Fatalf("%s: fixture has no matching log", tc.name)
			}
			// Walk every page of 40.
			var got []int64
			for page := 1; ; page++ {
				f := tc.f
				f.Page, f.PageSize = page, 40
				rows, total, err := s.ListLogs(f)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if total != int64(len(want)) {
					t.Errorf("%s page %d: total %d, want %d", tc.name, page, total, len(want))
				}
				for _, r := range rows {
					got = append(got, r.ID)
				}
				if len(rows) < 40 {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %d ids, want %d (first got %v, want %v)", tc.name, len(got), len(want), head(got), head(want))
			}
		}

		// Every field round-trips, including the reserved-word column.
		rows, _, err := s.ListLogs(model.LogFilter{Page: 1, PageSize: 1})
		if err != nil || len(rows) != 1 {
			t.Fatalf("ListLogs: %v", err)
		}
		if w := logs[len(logs)-1]; rows[0] != w {
			t.Errorf("round trip:\n got %+v\nwant %+v", rows[0], w)
		}
	})
}

func head(ids []int64) []int64 { return ids[:min(5, len(ids))] }

// readLogs returns every stored log, oldest (lowest id) first, read with
// ListLogs (newest first) page by page.
func readLogs(t *testing.T, s *model.Store) []model.Log {
	t.Helper()
	var all []model.Log
	for page := 1; ; page++ {
		rows, _, err := s.ListLogs(model.LogFilter{Page: page, PageSize: 100})
		if err != nil {
			t.Fatalf("ListLogs: %v", err)
		}
		all = append(all, rows...)
		if len(rows) < 100 {
			break
		}
	}
	slices.Reverse(all)
	return all
}

// Every column takes what it is given, whatever the value: SQL's own
// quote and placeholder characters, non-ASCII text, the longest strings
// the sized columns hold, the int64 extremes. All but the integers are
// bound parameters; the integers are written into the statement.
func TestInsertLogsRoundTripsEdgeValues(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		sqlish := `it's "quoted" ` + "`back`" + ` \ ? ?? $1 @name :x %_ '); DROP TABLE logs; /* x */ --`
		unicode := "日本語 ünïcödé 🚀👩‍👩‍👧 \u200b\t\r\n"
		logs := []model.Log{
			{}, // every field zero: empty strings, false, 0
			{UserID: math.MaxInt32, CreatedAt: math.MaxInt64, Type: -1, TokenID: math.MaxInt32 + 1, Quota: math.MaxInt64,
				PromptTokens: math.MaxInt32, CompletionTokens: -7, UseTime: 1 << 40, IsStream: true, ChannelID: 2,
				Content: sqlish, Username: sqlish[:64], TokenName: sqlish, ModelName: sqlish, Group: sqlish[:64],
				RequestID: sqlish[:64], Other: sqlish},
			{UserID: -5, CreatedAt: math.MinInt64, Quota: math.MinInt64, Content: unicode, Username: "用户",
				TokenName: unicode, ModelName: unicode, Group: "组", RequestID: "请求", Other: `{"a":"ü","b":[1,2]}`},
			{Username: strings.Repeat("u", 64), TokenName: strings.Repeat("k", 128), ModelName: strings.Repeat("m", 255),
				Group: strings.Repeat("g", 64), RequestID: strings.Repeat("r", 64),
				// 60,000 bytes: MySQL's TEXT holds 65,535.
				Content: strings.Repeat("long text ", 6_000), Other: strings.Repeat("ö", 10_000)},
			{Username: strings.Repeat("é", 64), ModelName: strings.Repeat("模", 255), Content: " ", Other: "''"},
			// Text that looks like JSON or numbers stays text; control
			// characters and backslash escapes arrive unchanged.
			{Username: "123", TokenName: "null", ModelName: "true", Group: "[1]", RequestID: "-1.5e3",
				Content: "\x01\x1f\x7f \\u0000 \\\" \\n \b\f", Other: `{"a":1}]`},
			// What is special in SQL and array literals: quotes,
			// backslashes (one at the end), braces, commas, blanks, the
			// word NULL.
			{Username: "NULL", TokenName: `a\`, ModelName: `{"x","y"}`, Group: " , ", RequestID: `\\"`,
				Content: "}{,\"\\\n\t", Other: "null"},
			{Username: " ", TokenName: `"`, ModelName: `\`, Group: "{}", RequestID: ",", Content: `""`, Other: "{NULL}"},
		}
		// Then more, so the batch takes several statements everywhere.
		want := slices.Clone(logs)
		for range 200 {
			want = append(want, logs[1])
		}
		if err := s.InsertLogs(want); err != nil {
			t.Fatalf("InsertLogs: %v", err)
		}
		got := readLogs(t, s)
		if len(got) != len(want) {
			t.Fatalf("%d rows after inserting %d", len(got), len(want))
		}
		for i := range got {
			w := want[i]
			w.ID = got[i].ID
			if got[i] != w {
				t.Errorf("row %d:\n got %+v\nwant %+v", i, clip(got[i]), clip(w))
			}
		}
	})
}

// clip shortens a log's long strings for an error message.
// Values no column can hold are fitted, not refused: a refused log would
// fail its batch at every retry and hold back every log after it.
func TestInsertLogsFitsOversizedValues(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		in := model.Log{Type: 2, Quota: 7,
			ModelName: strings.Repeat("模", 300), Username: strings.Repeat("u", 65), TokenName: strings.Repeat("k", 200),
			Group: "g\x00g", RequestID: strings.Repeat("r", 100),
			Content: "bad \xff\xfe utf-8 and a NUL \x00 here", Other: strings.Repeat("ö", 40_000)}
		if err := s.InsertLogs([]model.Log{in}); err != nil {
			t.Fatalf("InsertLogs refused an oversized log: %v", err)
		}
		got := readLogs(t, s)
		if len(got) != 1 {
			t.Fatalf("%d rows", len(got))
		}
		g := got[0]
		if g.ModelName != strings.Repeat("模", 255) || g.Username != strings.Repeat("u", 64) ||
			g.TokenName != strings.Repeat("k", 128) || g.Group != "gg" || g.RequestID != strings.Repeat("r", 64) {
			t.Errorf("fitted columns: %+v", clip(g))
		}
		if g.Content != "bad \uFFFD utf-8 and a NUL  here" {
			t.Errorf("content %q", g.Content)
		}
		if len(g.Other) > 65_535 || !strings.HasPrefix(g.Other, "öö") || !utf8.ValidString(g.Other) || len(g.Other)%2 != 0 {
			t.Errorf("other: %d bytes, valid %v", len(g.Other), utf8.ValidString(g.Other))
		}
		if g.Quota != 7 {
			t.Errorf("quota %d", g.Quota)
		}
	})
}

func clip(l model.Log) model.Log {
	for _, f := range []*string{&l.Content, &l.Username, &l.TokenName, &l.ModelName, &l.Group, &l.RequestID, &l.Other} {
		if len(*f) > 80 {
			*f = (*f)[:80] + "…"
		}
	}
	return l
}

// A batch is written whole or not at all, also when it takes several
// statements and one fails: the database rejects one row (a trigger, the
// way a real constraint would) in the second statement or near the end,
// and none of the batch may remain, nor stop the next batch.
func TestInsertLogsAllOrNothing(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		restore := testdb.RejectLogContent(t, s.LogDB, "poison")
		for _, at := range []int{60, 440} {
			// Paced too: PostgreSQL then sends each statement once the
			// previous one is done, still in one transaction.
			for _, pause := range []time.Duration{0, time.Millisecond} {
				logs := logFixture(450)
				logs[at].Content = "poison"
				if err := s.InsertLogsMarked(t.Context(), nil, logs, pause); err == nil {
					t.Fatalf("InsertLogsMarked(pause %v) succeeded despite the rejected row %d", pause, at)
				}
				if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != 0 {
					t.Fatalf("%d rows left by a batch failed at row %d (pause %v)", n, at, pause)
				}
			}
		}
		logs := logFixture(450)
		if err := s.InsertLogs(logs[:10]); err != nil {
			t.Fatalf("InsertLogs after a failed batch: %v", err)
		}
		restore()
		if err := s.InsertLogsMarked(t.Context(), nil, logs[10:], time.Millisecond); err != nil {
			t.Fatalf("InsertLogsMarked once the row is accepted: %v", err)
		}
		if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != 450 {
			t.Fatalf("%d rows, want 450", n)
		}
	})
}

// A database created by an earlier version has the indexes this one
// dropped; MigrateLogs removes them, keeps the others, and running it
// again changes nothing.
func TestMigrateLogsDropsOldIndexes(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if err := db.AutoMigrate(&oldLog{}); err != nil {
			t.Fatal(err)
		}
		dropped := []string{"idx_logs_type", "idx_logs_group", "idx_logs_token_id", "idx_logs_request_id",
			"idx_logs_model_name", "idx_logs_token_name"}
		kept := []string{"idx_logs_user_id", "idx_logs_created_at", "idx_logs_username", "idx_logs_channel_id"}
		m := db.Migrator()
		for _, name := range append(slices.Clone(dropped), kept...) {
			if !m.HasIndex(&model.Log{}, name) {
				t.Fatalf("the old schema has no %s", name)
			}
		}
		for range 2 {
			if err := model.MigrateLogs(db); err != nil {
				t.Fatalf("MigrateLogs: %v", err)
			}
			for _, name := range dropped {
				if m.HasIndex(&model.Log{}, name) {
					t.Errorf("%s still there", name)
				}
			}
			for _, name := range kept {
				if !m.HasIndex(&model.Log{}, name) {
					t.Errorf("%s gone", name)
				}
			}
		}
		// The table still works, with the columns of the dropped indexes.
		s := model.NewStore(db, db, testdb.Cipher(t))
		want := logFixture(3)
		if err := s.InsertLogs(want); err != nil {
			t.Fatal(err)
		}
		got := readLogs(t, s)
		for i := range want {
			want[i].ID = got[i].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("after migrating:\n got %+v\nwant %+v", got, want)
		}
	})
}

// oldLog is the logs table as versions before the index clean-up created
// it: ten indexes.
type oldLog struct {
	ID               int64  `gorm:"primaryKey"`
	UserID           int    `gorm:"index"`
	CreatedAt        int64  `gorm:"index;autoCreateTime:false"`
	Type             int    `gorm:"index"`
	Content          string `gorm:"type:text"`
	Username         string `gorm:"size:64;index;default:''"`
	TokenName        string `gorm:"size:128;index;default:''"`
	TokenID          int    `gorm:"default:0;index"`
	ModelName        string `gorm:"size:255;index;default:''"`
	Quota            int64  `gorm:"default:0"`
	PromptTokens     int    `gorm:"default:0"`
	CompletionTokens int    `gorm:"default:0"`
	UseTime          int    `gorm:"default:0"`
	IsStream         bool
	ChannelID        int    `gorm:"column:channel_id;index"`
	Group            string `gorm:"column:group;size:64;index"`
	RequestID        string `gorm:"size:64;index"`
	Other            string `gorm:"type:text"`
}

func (oldLog) TableName() string { return "logs" }

func TestSumLogs(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		logs := logFixture(300)
		if err := s.InsertLogs(logs); err != nil {
			t.Fatal(err)
		}
		for _, f := range []model.LogFilter{
			{},
			{UserID: 2},
			{Username: "ann", ModelName: "gpt"},
			{Type: 5}, // SumLogs always sums consume logs
			{StartTimestamp: logNow - 500, EndTimestamp: logNow - 100},
			{Group: "vip", ChannelID: 2},
			{Username: "nobody"},
		} {
			// The quota sums the filtered consume logs; the rate counts the
			// consume logs matching the other filters in the 60 s before
			// now, whatever time window the caller chose.
			var want model.LogStat
			consume := f
			consume.Type = 2
			recent := consume
			recent.StartTimestamp, recent.EndTimestamp = logNow-60, logNow
			for _, l := range logs {
				if matches(l, consume) {
					want.Quota += l.Quota
				}
				if matches(l, recent) {
					want.RPM++
					want.TPM += int64(l.PromptTokens + l.CompletionTokens)
				}
			}
			got, err := s.SumLogs(f, logNow)
			if err != nil {
				t.Fatalf("SumLogs(%+v): %v", f, err)
			}
			if got != want {
				t.Errorf("SumLogs(%+v) = %+v, want %+v", f, got, want)
			}
		}
		if st, _ := s.SumLogs(model.LogFilter{}, logNow); st.RPM == 0 || st.TPM == 0 {
			t.Errorf("fixture has no recent consume logs: %+v", st)
		}
		// Long after the last log, the rate is zero but the sum is not.
		st, err := s.SumLogs(model.LogFilter{}, logNow+3600)
		if err != nil || st.RPM != 0 || st.TPM != 0 || st.Quota == 0 {
			t.Errorf("an hour later: %+v, %v", st, err)
		}
	})
}

// A PostgreSQL connection that dies while idle in the pool may fail the
// next batch, which the pipeline then leaves unwritten; the retry writes it
// whole on a new connection: no log lost, none written twice.
func TestInsertLogsAfterAKilledConnection(t *testing.T) {
	t.Parallel()
	db := testdb.Create(t, model.DialectPostgres)
	s := testdb.StoreOn(t, db.Open(t))
	logs := logFixture(120)
	if err := s.InsertLogs(logs[:60]); err != nil {
		t.Fatal(err)
	}
	killed := int64(0)
	if err := db.Open(t).Raw("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity" +
		" WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&killed).Error; err != nil || killed == 0 {
		t.Fatalf("terminated %d of the store's connections: %v", killed, err)
	}
	if err := s.InsertLogs(logs[60:]); err != nil {
		if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != 60 {
			t.Fatalf("%d rows after a batch failed on a dead connection (%v), want the first batch's 60", n, err)
		}
		if err := s.InsertLogs(logs[60:]); err != nil {
			t.Fatalf("retry on a new connection: %v", err)
		}
	}
	if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != 120 {
		t.Fatalf("%d rows, want 120", n)
	}
}
