package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"sluice/internal/testdb"
	"sluice/model"
)

// outageTables are the tables the store outage takes away: every batch
// flush touches them (users and tokens in the counters' transaction, logs
// in the log insert), so while they are gone every flush fails.
var outageTables = []string{"users", "tokens", "logs"}

// TestStoreOutage runs the real binary on PostgreSQL and, while requests
// flow, takes the tables every flush writes away for a few seconds by
// renaming them through a separate admin connection: each statement on
// them then fails at once, as if the database were down, but
// deterministically and without touching the server other tests share.
// Relaying must go on from the caches, and once the tables are back every
// charge and every log must reach SQL exactly once: the consume logs' sum
// equals the quota taken from the user and from the key, with one log per
// successful request and no request id twice.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	db := testdb.Create(t, model.DialectPostgres)
	adminDB := db.Open(t)
	up := newUpstream(t, behaviour{Delay: 5 * time.Millisecond})
	s := startSluice(t, options{Env: map[string]string{"SQL_DSN": db.DSN, "SQL_MAX_OPEN_CONNS": "10"}})
	s.setPrices(t, "store-model")
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "store-model"})
	const budget = 50_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})

	sqlInt := func(query string, args ...any) int64 {
		t.Helper()
		var v int64
		if err := adminDB.Raw(query, args...).Scan(&v).Error; err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return v
	}
	userBefore := sqlInt("SELECT quota FROM users WHERE username = 'root'")

	var ok, failed, okDuringOutage atomic.Int64
	var outage atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if chatStatus(t, s, key.Secret, "store-model") == http.StatusOK {
					ok.Add(1)
					if outage.Load() {
						okDuringOutage.Add(1)
					}
				} else {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(time.Second)
	rename := func(from, to string) {
		t.Helper()
		for _, tbl := range outageTables {
			if err := adminDB.Exec("ALTER TABLE " + strings.Replace(from, "%s", tbl, 1) + " RENAME TO " + strings.Replace(to, "%s", tbl, 1)).Error; err != nil {
				t.Errorf("rename %s: %v", tbl, err)
			}
		}
	}
	rename("%s", "%s_away")
	outage.Store(true)
	// Four batch intervals (BATCH_UPDATE_INTERVAL=1): several flushes fail.
	time.Sleep(4 * time.Second)
	outage.Store(false)
	rename("%s_away", "%s")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d requests served (%d while the tables were away), %d failed", ok.Load(), okDuringOutage.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed around the store outage", failed.Load())
	}
	if okDuringOutage.Load() < 10 {
		t.Errorf("only %d requests were served while the tables were away", okDuringOutage.Load())
	}
	if !strings.Contains(s.output.String(), "batch flush failed") {
		t.Errorf("no flush failed during the outage: the fault did not bite")
	}

	// Every charge and log reaches SQL.
	n := ok.Load()
	eventually(t, 20*time.Second, func() bool {
		return sqlInt("SELECT COUNT(*) FROM logs WHERE type = 2 AND token_id = ?", key.ID) >= n
	}, func() string {
		return "consume logs in SQL: " + strconv.FormatInt(sqlInt("SELECT COUNT(*) FROM logs WHERE type = 2 AND token_id = ?", key.ID), 10) + ", want " + strconv.FormatInt(n, 10)
	})
	checkSQLMoney(t, adminDB, key.ID, budget, userBefore, n)
	// The final flush at shutdown must add nothing twice.
	s.Stop(t)
	checkSQLMoney(t, adminDB, key.ID, budget, userBefore, n)
}

// checkSQLMoney compares, in SQL, the consume logs of a key with what was
// taken from it and from root: their sums must be equal, there must be n
// logs, and no request id may be logged twice.
func checkSQLMoney(t *testing.T, db *gorm.DB, keyID int, budget, userBefore, n int64) {
	t.Helper()
	var row struct {
		Count, Sum, Dups, Remain, Used, UserQuota int64
	}
	err := db.Raw(`SELECT
		(SELECT COUNT(*) FROM logs WHERE type = 2 AND token_id = @key) AS count,
		(SELECT COALESCE(SUM(quota), 0) FROM logs WHERE type = 2 AND token_id = @key) AS sum,
		(SELECT COUNT(*) FROM (SELECT request_id FROM logs WHERE type = 2 GROUP BY request_id HAVING COUNT(*) > 1) d) AS dups,
		(SELECT remain_quota FROM tokens WHERE id = @key) AS remain,
		(SELECT used_quota FROM tokens WHERE id = @key) AS used,
		(SELECT quota FROM users WHERE username = 'root') AS user_quota`,
		map[string]any{"key": keyID}).Scan(&row).Error
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SQL: %d consume logs summing %d; key spent %d (used %d); root spent %d; %d duplicated request ids",
		row.Count, row.Sum, budget-row.Remain, row.Used, userBefore-row.UserQuota, row.Dups)
	if row.Count != n || row.Dups != 0 || row.Sum != budget-row.Remain || row.Sum != row.Used || row.Sum != userBefore-row.UserQuota {
		t.Errorf("SQL disagrees with itself: %d logs for %d successes, sum %d, key spent %d (used %d), root spent %d, %d duplicates",
			row.Count, n, row.Sum, budget-row.Remain, row.Used, userBefore-row.UserQuota, row.Dups)
	}
}
