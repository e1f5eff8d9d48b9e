package model_test

import (
	"slices"
	"strings"
	"testing"

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
		// More than one CreateInBatches batch (200).
		logs := logFixture(450)
		if err := s.InsertLogs(logs); err != nil {
			t.Fatalf("InsertLogs: %v", err)
		}
		if err := s.InsertLogs(nil); err != nil {
			t.Fatalf("InsertLogs(nil): %v", err)
		}
		if n := scalar(t, s, "SELECT COUNT(*) FROM logs"); n != 450 {
			t.Fatalf("%d rows after inserting 450", n)
		}
		for i, l := range logs {
			if l.ID == 0 {
				t.Fatalf("log %d got no id", i)
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
