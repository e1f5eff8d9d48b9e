package e2e

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

// redisForTest returns SLUICE_TEST_REDIS_URL (skipping, or failing in CI,
// without it).
func redisForTest(t *testing.T) string {
	t.Helper()
	return testenv.Lookup(t, testenv.Redis)
}

// clusterEnv is the environment shared by instances of one deployment: one
// PostgreSQL database, one Redis (namespaced for this test), one secret.
func clusterEnv(t *testing.T, redisURL string) map[string]string {
	db := testdb.Create(t, model.DialectPostgres)
	return map[string]string{
		"SQL_DSN":            db.DSN,
		"SQL_MAX_OPEN_CONNS": "20",
		"REDIS_CONN_STRING":  redisURL,
		"REDIS_KEY_PREFIX":   "sluice-e2e:" + randomString(10) + ":",
		"CRYPTO_SECRET":      "cluster-crypto-secret",
		"SESSION_SECRET":     "cluster-session-secret",
		// A refresh this slow proves changes travel by pub/sub, not polling.
		"SYNC_FREQUENCY": "600",
	}
}

// chatStatus sends one small chat request and returns the status.
func chatStatus(t *testing.T, s *sluice, key, model string) int {
	t.Helper()
	resp := s.post(t, context.Background(), "/v1/chat/completions", key,
		strings.NewReader(`{"model":"`+model+`","max_tokens":50,"messages":[{"role":"user","content":"Hello!"}]}`))
	resp.Body.Close()
	return resp.StatusCode
}

// within polls cond every 10 ms and fails if it is not true within d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not seen within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterAgreesAboutMoney runs three instances on one PostgreSQL and one
// Redis, spends one key from all three at once, and checks they behave as
// one: no overspending, logs that add up, and admin changes seen everywhere
// within a second.
func TestClusterAgreesAboutMoney(t *testing.T) {
	t.Parallel()
	redisURL := redisForTest(t)
	env := clusterEnv(t, redisURL)
	up := newUpstream(t, behaviour{Delay: 200 * time.Millisecond})
	a := startSluice(t, options{Env: env})
	b := startSluice(t, options{Env: env, Access: a.Access})
	c := startSluice(t, options{Env: env, Access: a.Access})
	nodes := []*sluice{a, b, c}

	a.setPrices(t, "cluster-model")
	// A channel added through B serves on A and C within 1 s.
	b.createChannel(t, channelSpec{BaseURL: up.URL, Models: "cluster-model"})
	probe := a.createKey(t, keySpec{Name: "probe", RemainQuota: 1_000_000})
	for _, n := range []*sluice{a, c} {
		within(t, time.Second, "channel added on B served on "+n.URL, func() bool {
			return chatStatus(t, n, probe.Secret, "cluster-model") == http.StatusOK
		})
	}

	const maxTokens, requests = 50, 60
	budget := 12 * cost(tokens{Prompt: chatUsage.Prompt, Completion: maxTokens})
	perRequest := cost(chatUsage)
	affordable := budget / perRequest
	key := a.createKey(t, keySpec{RemainQuota: budget})
	// The probe's successful calls are already in the live balance. Each
	// instance that served one holds a lease of the user's balance for a
	// second after its last use (docs/scaling.md) and counts only its own
	// in the balances it reports, so read once they are all back: when
	// every instance reports the same.
	userBefore := agreedUserBalance(t, nodes)

	watching, stopWatching := context.WithCancel(context.Background())
	lowest := watchRemain(b, key.ID, watching)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range requests {
		n := nodes[i%len(nodes)]
		wg.Go(func() {
			switch st := chatStatus(t, n, key.Secret, "cluster-model"); st {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
			default:
				t.Errorf("request on %s: status %d", n.URL, st)
			}
		})
	}
	wg.Wait()
	stopWatching()
	t.Logf("%d succeeded, %d refused; the key affords %d", ok.Load(), refused.Load(), affordable)
	if ok.Load() == 0 || ok.Load() > affordable {
		t.Fatalf("%d requests succeeded across the cluster; the key affords %d", ok.Load(), affordable)
	}
	if low := <-lowest; low < 0 {
		t.Fatalf("the key's balance went to %d", low)
	}

	logs := a.waitConsumeLogs(t, key.Name, int(ok.Load()))
	var logged int64
	for _, l := range logs {
		logged += l.Quota
	}
	if int64(len(logs)) != ok.Load() {
		t.Fatalf("%d consume logs for %d successes", len(logs), ok.Load())
	}
	for _, n := range nodes {
		kb := n.keyBalance(t, key.ID)
		if kb.RemainQuota < 0 || budget-kb.RemainQuota != logged {
			t.Fatalf("%s: key remain %d, spent %d, logs sum %d", n.URL, kb.RemainQuota, budget-kb.RemainQuota, logged)
		}
	}
	if got := userBefore - agreedUserBalance(t, nodes); got != logged {
		t.Fatalf("the user spent %d, the key's logs sum %d", got, logged)
	}

	// A key disabled through A is refused by B and C within 1 s.
	a.admin(t, http.MethodPut, "/api/token/?status_only=true", map[string]any{"id": probe.ID, "status": 2}, nil)
	for _, n := range []*sluice{b, c} {
		within(t, time.Second, "key disabled on A refused on "+n.URL, func() bool {
			return chatStatus(t, n, probe.Secret, "cluster-model") == http.StatusForbidden
		})
	}
}

// agreedUserBalance waits until every instance reports the same balance
// for the admin user (leases back in Redis) and returns it.
func agreedUserBalance(t *testing.T, nodes []*sluice) int64 {
	t.Helper()
	read := func() (int64, bool) {
		q := nodes[0].userBalance(t).Quota
		for _, n := range nodes[1:] {
			if n.userBalance(t).Quota != q {
				return 0, false
			}
		}
		return q, true
	}
	var q int64
	// Twice in a row, 100 ms apart: a lease given back is briefly in
	// flight to Redis, invisible to every instance.
	within(t, 5*time.Second, "every instance reports the same user balance", func() bool {
		first, ok := read()
		if !ok {
			return false
		}
		time.Sleep(100 * time.Millisecond)
		q, ok = read()
		return ok && q == first
	})
	return q
}

// TestRedisDyingUnderLoad kills a private Redis while requests flow and
// brings it back: requests keep being served (beyond a short blip), and
// every charge reaches the database.
func TestRedisDyingUnderLoad(t *testing.T) {
	t.Parallel()
	redisForTest(t) // the private server below needs the binary the CI machine has with its Redis
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	startRedis := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		within(t, 5*time.Second, "private redis up", func() bool {
			conn, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
		return cmd
	}
	redis := startRedis()
	t.Cleanup(func() { _ = redis.Process.Kill(); _ = redis.Wait() })

	up := newUpstream(t, behaviour{Delay: 10 * time.Millisecond})
	s := startSluice(t, options{Env: map[string]string{"REDIS_CONN_STRING": "redis://127.0.0.1:" + port + "/0"}})
	s.setPrices(t, "redis-model")
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "redis-model"})
	key := s.createKey(t, keySpec{RemainQuota: 100_000_000})
	userBefore := s.userBalance(t)

	var ok, failed atomic.Int64
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
				if chatStatus(t, s, key.Secret, "redis-model") == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	_ = redis.Process.Kill()
	_ = redis.Wait()
	beforeOutage := ok.Load()
	time.Sleep(1500 * time.Millisecond)
	if ok.Load()-beforeOutage < 5 {
		t.Errorf("only %d requests served while Redis was down", ok.Load()-beforeOutage)
	}
	redis = startRedis()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d requests served, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed around the Redis outage", failed.Load())
	}

	var total, logged int64
	eventually(t, 15*time.Second, func() bool {
		total, logged = logTotals(t, s, key.Name)
		return total >= ok.Load()
	}, func() string { return "consume logs missing" })
	if total != ok.Load() || logged != ok.Load()*cost(chatUsage) {
		t.Fatalf("%d logs summing %d for %d successes", total, logged, ok.Load())
	}
	// SQL is the truth for what was charged: stop to flush, then compare.
	s.Stop(t)
	s2 := startSluice(t, options{DataDir: s.DataDir, Access: s.Access})
	if spent := userBefore.Quota - s2.userBalance(t).Quota; spent != logged {
		t.Fatalf("user charged %d in SQL, logs say %d", spent, logged)
	}
}

// logTotals counts a key's consume logs and sums their quota, however many.
func logTotals(t *testing.T, s *sluice, keyName string) (count, quota int64) {
	t.Helper()
	var page struct {
		Total int64 `json:"total"`
	}
	s.admin(t, http.MethodGet, "/api/log/?type=2&p=1&page_size=1&token_name="+keyName, nil, &page)
	var stat struct {
		Quota int64 `json:"quota"`
	}
	s.admin(t, http.MethodGet, "/api/log/stat?type=2&token_name="+keyName, nil, &stat)
	return page.Total, stat.Quota
}
