package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sluice/bench/internal/benchenv"
)

// gateway is the sluice process under test.
type gateway struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	url     string
	access  string // root's admin access token
	rootKey string // root's unlimited API key (INITIAL_ROOT_TOKEN)
	metrics string // METRICS_TOKEN
	client  *http.Client
}

// startGateway runs bin on the run's stores with every feature on and
// waits for GET /api/status.
func startGateway(ctx context.Context, bin, work string, st *stores) (*gateway, error) {
	port, err := benchenv.FreePort()
	if err != nil {
		return nil, err
	}
	g := &gateway{done: make(chan struct{}), url: "http://127.0.0.1:" + port, access: benchenv.RandomHex(16),
		rootKey: "sk-" + benchenv.RandomHex(24), metrics: benchenv.RandomHex(16),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}}
	logf, err := os.Create(filepath.Join(work, "sluice.log"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(work, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	g.cmd = exec.Command(bin)
	g.cmd.Dir = data
	g.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"PORT=" + port, "SLUICE_DATA_DIR=" + data,
		"SQL_DSN=" + st.dsn, "SQL_MAX_OPEN_CONNS=20",
		"REDIS_CONN_STRING=" + st.gatewayRedisURL(), "REDIS_KEY_PREFIX=" + st.prefix,
		"SESSION_SECRET=" + benchenv.RandomHex(16), "CRYPTO_SECRET=" + benchenv.RandomHex(16),
		"INITIAL_ROOT_PASSWORD=" + benchenv.RandomHex(8), "INITIAL_ROOT_ACCESS_TOKEN=" + g.access, "INITIAL_ROOT_TOKEN=" + g.rootKey,
		"BATCH_UPDATE_INTERVAL=1", "METRICS_ENABLED=true", "METRICS_TOKEN=" + g.metrics,
		"GLOBAL_API_RATE_LIMIT=1000000", "STREAMING_TIMEOUT=2", "RELAY_TIMEOUT=3"}
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	benchenv.DieWithParent(g.cmd)
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	go func() { g.err = g.cmd.Wait(); logf.Close(); close(g.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			return nil, fmt.Errorf("sluice exited before serving: %v (see %s)", g.err, logf.Name())
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		if resp, err := g.client.Get(g.url + "/api/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.kill()
	return nil, errors.New("sluice did not answer /api/status within 30 s")
}

func (g *gateway) pid() int { return g.cmd.Process.Pid }

// kill ends the process if it still runs (after a failure).
func (g *gateway) kill() {
	select {
	case <-g.done:
	default:
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// stop sends SIGTERM and requires exit status 0 within 45 s (sluice drains
// for up to 30 s).
func (g *gateway) stop() error {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
		return g.err
	case <-time.After(45 * time.Second):
		g.kill()
		return errors.New("sluice did not exit within 45 s of SIGTERM")
	}
}

// call makes an admin API call with a bearer token (or the client's
// session cookie when token is empty) and decodes the envelope's data.
func (g *gateway) call(ctx context.Context, c *http.Client, token, method, path string, body, out any, header ...string) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Success bool            `json:"success"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		return fmt.Errorf("%s %s: status %d, %q (%v)", method, path, resp.StatusCode, env.Message, err)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

// provision prices the model, creates three channels on the mock, a
// second user, and keys: root's unlimited key, a root key with a large
// budget, one with a budget that runs out during the run, and two keys of
// the second user, whose own quota runs out during the run.
func (g *gateway) provision(ctx context.Context, upstream string) ([]string, error) {
	root := func(method, path string, body, out any) error {
		return g.call(ctx, g.client, g.access, method, path, body, out)
	}
	opts := map[string]string{
		"ModelRatio":      `{"` + chaosModel + `":1}`,
		"CompletionRatio": `{"` + chaosModel + `":2}`,
		// The injected mix fails about a third of all calls, which the
		// failure-rate rule rightly reads as a dead channel: with it on,
		// all three channels end up auto-disabled within seconds and the
		// rest of the run is 503s. Credential failures (none here) would
		// still disable a channel.
		"ChannelFailureThreshold": "0",
	}
	for k, v := range opts {
		if err := root(http.MethodPut, "/api/option/", map[string]string{"key": k, "value": v}, nil); err != nil {
			return nil, err
		}
	}
	for i := range 3 {
		ch := map[string]any{"type": 8, "name": "chaos-" + strconv.Itoa(i), "key": "upstream-" + benchenv.RandomHex(8),
			"base_url": upstream, "models": chaosModel, "weight": 10}
		if err := root(http.MethodPost, "/api/channel/", ch, nil); err != nil {
			return nil, err
		}
	}
	newKey := func(c *http.Client, token string, body map[string]any, header ...string) (string, error) {
		body["expired_time"] = -1
		var k struct {
			Key string `json:"key"`
		}
		err := g.call(ctx, c, token, http.MethodPost, "/api/token/", body, &k, header...)
		return k.Key, err
	}
	keys := []string{g.rootKey}
	for _, k := range []map[string]any{
		{"name": "root-large", "remain_quota": 50_000_000},
		{"name": "root-small", "remain_quota": 3_000},
	} {
		key, err := newKey(g.client, g.access, k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}

	// The second user, logged in with a session as the web UI would be.
	password := benchenv.RandomHex(8)
	if err := root(http.MethodPost, "/api/user/", map[string]any{"username": "chaos-user", "password": password, "quota": 40_000}, nil); err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	session := &http.Client{Transport: g.client.Transport, Jar: jar}
	var user struct {
		ID int `json:"id"`
	}
	if err := g.call(ctx, session, "", http.MethodPost, "/api/user/login", map[string]string{"username": "chaos-user", "password": password}, &user); err != nil {
		return nil, err
	}
	for _, name := range []string{"user-a", "user-b"} {
		key, err := newKey(session, "", map[string]any{"name": name, "unlimited_quota": name == "user-a", "remain_quota": 1_000_000},
			"New-Api-User", strconv.Itoa(user.ID))
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// goroutines scrapes go_goroutines from /metrics.
func (g *gateway) goroutines(ctx context.Context) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+g.metrics)
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in /metrics (status %d)", resp.StatusCode)
}

// goroutineSlack is how far above the baseline the count may settle: the
// scrape's own connection and timers of the pools that close lazily.
const goroutineSlack = 5

// settledGoroutines polls the goroutine count for up to 15 s until it is
// back within goroutineSlack of baseline, and returns the last count.
func (g *gateway) settledGoroutines(ctx context.Context, baseline int) (int, bool) {
	last := -1
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		n, err := g.goroutines(ctx)
		if err != nil {
			continue
		}
		last = n
		g.client.CloseIdleConnections()
		if n <= baseline+goroutineSlack {
			return n, true
		}
	}
	return last, false
}
