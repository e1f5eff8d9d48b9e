// Package e2e runs the real sluice binary against a fake OpenAI upstream and
// drives it with the official openai-go SDK and plain net/http, checking
// what a user can observe: responses, errors, charges and logs.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// sluiceBin is the binary TestMain built for this run.
var sluiceBin string

// TestMain builds sluice once; every test then runs its own process.
// SLUICE_E2E_RACE=1 builds it with the race detector, so data races in
// sluice itself surface as a non-zero exit at shutdown.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	args := []string{"build", "-o", sluiceBin}
	if os.Getenv("SLUICE_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building sluice:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// upstreamKey is the channel key every test channel carries; the fake
// upstream checks nothing but records it, and no client may ever see it.
const upstreamKey = "upstream-secret"

// sluice is one running sluice process with its own port and data dir.
type sluice struct {
	URL     string
	DataDir string
	// Access is root's admin access token (INITIAL_ROOT_ACCESS_TOKEN).
	Access string

	cmd    *exec.Cmd
	output *lockedBuffer
	done   chan struct{}
	err    error // the process's exit status, valid once done is closed
	once   sync.Once
}

// options adjust a sluice process; the zero value is a fresh data dir with
// a root user and the test defaults.
type options struct {
	Env map[string]string
	// DataDir reuses a data dir (restart); Access must then be its token.
	DataDir string
	Access  string
	// NoRoot leaves out INITIAL_ROOT_*: the database starts without users.
	NoRoot bool
}

// startSluice starts the binary and waits until GET /api/status answers
// 200. The process is stopped with SIGTERM at cleanup, which must exit 0;
// its output is printed when the test failed.
func startSluice(t *testing.T, o options) *sluice {
	t.Helper()
	s := &sluice{DataDir: o.DataDir, Access: o.Access, output: &lockedBuffer{}, done: make(chan struct{})}
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	port := freePort(t)
	s.URL = "http://127.0.0.1:" + port
	env := map[string]string{
		"PORT":                  port,
		"SLUICE_DATA_DIR":       s.DataDir,
		"SQLITE_PATH":           filepath.Join(s.DataDir, "sluice.db"),
		"GLOBAL_API_RATE_LIMIT": "100000",
		"BATCH_UPDATE_INTERVAL": "1",
	}
	if !o.NoRoot {
		if s.Access == "" {
			s.Access = randomString(32)
		}
		env["INITIAL_ROOT_PASSWORD"] = randomString(16)
		env["INITIAL_ROOT_ACCESS_TOKEN"] = s.Access
	}
	for k, v := range o.Env {
		env[k] = v
	}
	s.cmd = exec.Command(sluiceBin)
	s.cmd.Dir = s.DataDir
	// A minimal environment: nothing from the developer's shell (SQL_DSN,
	// REDIS_CONN_STRING, proxies…) may change what is tested.
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sluice output (%s):\n%s", s.URL, s.output.String())
		}
	})
	t.Cleanup(func() { s.Stop(t) })
	s.waitReady(t)
	return s
}

func (s *sluice) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("sluice exited before serving: %v", s.err)
		default:
		}
		resp, err := http.Get(s.URL + "/api/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		// Polling a port that is not open yet: no event to wait on.
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sluice did not answer /api/status within 20 s")
}

// Stop sends SIGTERM and requires a clean exit (status 0) within 40 s.
func (s *sluice) Stop(t *testing.T) {
	s.once.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SIGTERM sluice: %v", err)
		}
		select {
		case <-s.done:
		case <-time.After(40 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Errorf("sluice did not exit within 40 s of SIGTERM")
			return
		}
		if s.err != nil {
			t.Errorf("sluice exited uncleanly after SIGTERM: %v", s.err)
		}
	})
}

// Exited is closed when the process has exited.
func (s *sluice) Exited() <-chan struct{} { return s.done }

// lockedBuffer collects the process output from two pipes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func randomString(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ---- admin API ----

// envelope is the admin API's answer shape.
type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call makes an admin API call with root's access token (or none when
// token is empty) and returns the status and the decoded envelope.
func (s *sluice) call(t *testing.T, token, method, path string, body any) (int, envelope) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: status %d, body is not the envelope: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, env
}

// admin makes a root admin call that must succeed and decodes data into out.
func (s *sluice) admin(t *testing.T, method, path string, body, out any) {
	t.Helper()
	status, env := s.call(t, s.Access, method, path, body)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("%s %s: status %d, success %v, message %q", method, path, status, env.Success, env.Message)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
}

// channelSpec is a channel to create; zero fields get the test defaults
// (type 8 custom OpenAI-compatible, upstreamKey, weight 10).
type channelSpec struct {
	Name         string `json:"name"`
	BaseURL      string `json:"base_url"`
	Models       string `json:"models"`
	ModelMapping string `json:"model_mapping,omitempty"`
	Priority     int64  `json:"priority"`
	Type         int    `json:"type"`
	Key          string `json:"key"`
	Weight       int    `json:"weight"`
}

func (s *sluice) createChannel(t *testing.T, c channelSpec) int {
	t.Helper()
	if c.Type == 0 {
		c.Type = 8
	}
	if c.Key == "" {
		c.Key = upstreamKey
	}
	if c.Weight == 0 {
		c.Weight = 10
	}
	if c.Name == "" {
		c.Name = "ch-" + randomString(6)
	}
	var out struct {
		ID int `json:"id"`
	}
	s.admin(t, http.MethodPost, "/api/channel/", c, &out)
	if out.ID <= 0 {
		t.Fatalf("created channel has no id")
	}
	return out.ID
}

// channelStatus reads a channel's status (1 enabled, 2 manual, 3 auto-disabled).
func (s *sluice) channelStatus(t *testing.T, id int) int {
	t.Helper()
	var ch struct {
		Status int `json:"status"`
	}
	s.admin(t, http.MethodGet, "/api/channel/"+strconv.Itoa(id), nil, &ch)
	return ch.Status
}

// setChannelStatus changes a channel's status through PUT with the whole
// object, as the web UI does.
func (s *sluice) setChannelStatus(t *testing.T, id, status int) {
	t.Helper()
	var ch map[string]any
	s.admin(t, http.MethodGet, "/api/channel/"+strconv.Itoa(id), nil, &ch)
	ch["status"] = status
	s.admin(t, http.MethodPut, "/api/channel/", ch, nil)
}

// keySpec is an API key to create; ExpiredTime 0 means never (-1).
type keySpec struct {
	Name               string `json:"name"`
	RemainQuota        int64  `json:"remain_quota"`
	UnlimitedQuota     bool   `json:"unlimited_quota"`
	ExpiredTime        int64  `json:"expired_time"`
	ModelLimitsEnabled bool   `json:"model_limits_enabled,omitempty"`
	ModelLimits        string `json:"model_limits,omitempty"`
	AllowIPs           string `json:"allow_ips,omitempty"`
}

// apiKey is a created key: its id, name and full secret.
type apiKey struct {
	ID     int
	Name   string
	Secret string
}

func (s *sluice) createKey(t *testing.T, k keySpec) apiKey {
	t.Helper()
	if k.Name == "" {
		k.Name = "key-" + randomString(8)
	}
	if k.ExpiredTime == 0 {
		k.ExpiredTime = -1
	}
	var out struct {
		ID  int    `json:"id"`
		Key string `json:"key"`
	}
	s.admin(t, http.MethodPost, "/api/token/", k, &out)
	if !strings.HasPrefix(out.Key, "sk-") {
		t.Fatalf("created key's secret %q does not start with sk-", out.Key)
	}
	return apiKey{ID: out.ID, Name: k.Name, Secret: out.Key}
}

// keyBalance is a key's balance as GET /api/token/:id shows it.
type keyBalance struct {
	RemainQuota int64 `json:"remain_quota"`
	UsedQuota   int64 `json:"used_quota"`
	Status      int   `json:"status"`
}

func (s *sluice) keyBalance(t *testing.T, id int) keyBalance {
	t.Helper()
	var b keyBalance
	s.admin(t, http.MethodGet, "/api/token/"+strconv.Itoa(id), nil, &b)
	return b
}

// userBalance is root's balance as GET /api/user/self shows it.
type userBalance struct {
	Quota     int64 `json:"quota"`
	UsedQuota int64 `json:"used_quota"`
}

func (s *sluice) userBalance(t *testing.T) userBalance {
	t.Helper()
	var b userBalance
	s.admin(t, http.MethodGet, "/api/user/self", nil, &b)
	return b
}

func (s *sluice) setOption(t *testing.T, key, value string) {
	t.Helper()
	s.admin(t, http.MethodPut, "/api/option/", map[string]string{"key": key, "value": value}, nil)
}

// setPrices sets every model's ratio to 1 and completion ratio to 2, so a
// request costs prompt + 2 × completion quota exactly.
func (s *sluice) setPrices(t *testing.T, models ...string) {
	t.Helper()
	ratio, completion := map[string]float64{}, map[string]float64{}
	for _, m := range models {
		ratio[m], completion[m] = 1, 2
	}
	s.setOption(t, "ModelRatio", mustJSON(t, ratio))
	s.setOption(t, "CompletionRatio", mustJSON(t, completion))
}

// consumeLog is one consume log (type 2) as GET /api/log/ shows it.
type consumeLog struct {
	Quota            int64  `json:"quota"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	IsStream         bool   `json:"is_stream"`
	Channel          int    `json:"channel"`
	ModelName        string `json:"model_name"`
	TokenName        string `json:"token_name"`
	Other            string `json:"other"`
}

// consumeLogs lists the consume logs, narrowed to one key when keyName is set.
func (s *sluice) consumeLogs(t *testing.T, keyName string) []consumeLog {
	t.Helper()
	q := url.Values{"type": {"2"}, "p": {"1"}, "page_size": {"1000"}}
	if keyName != "" {
		q.Set("token_name", keyName)
	}
	var page struct {
		Items []consumeLog `json:"items"`
	}
	s.admin(t, http.MethodGet, "/api/log/?"+q.Encode(), nil, &page)
	return page.Items
}

// waitConsumeLogs polls until keyName has at least n consume logs (the
// batch writer flushes every second) and returns them.
func (s *sluice) waitConsumeLogs(t *testing.T, keyName string, n int) []consumeLog {
	t.Helper()
	var logs []consumeLog
	eventually(t, 15*time.Second, func() bool {
		logs = s.consumeLogs(t, keyName)
		return len(logs) >= n
	}, func() string { return fmt.Sprintf("key %q has %d consume logs, want %d", keyName, len(logs), n) })
	return logs
}

// eventually polls cond every 50 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- relay API ----

// client is an openai-go client for sluice with SDK retries off, so every
// call the test makes is exactly one request.
func (s *sluice) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))
}

// post sends body to a /v1 path with the key (none when empty) and extra
// header pairs; the caller closes the response.
func (s *sluice) post(t *testing.T, ctx context.Context, path, key string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

// sseReader reads the data of server-sent events one at a time.
type sseReader struct{ sc *bufio.Scanner }

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return &sseReader{sc: sc}
}

// next returns the next event's data, or io.EOF (or the read error) when
// the stream ends.
func (r *sseReader) next() (string, error) {
	var data []string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				return strings.Join(data, "\n"), nil
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := r.sc.Err(); err != nil {
		return "", err
	}
	if len(data) > 0 {
		return strings.Join(data, "\n"), nil
	}
	return "", io.EOF
}

// ---- money ----

// tokens is a usage as an upstream reports it.
type tokens struct{ Prompt, Completion int }

// cost is CONTRACT.md's formula for ratio 1 and completion ratio 2 (what
// setPrices configures): round(prompt + 2 × completion), at least 1.
func cost(u tokens) int64 {
	return max(int64(math.Floor(float64(u.Prompt)+2*float64(u.Completion)+0.5)), 1)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return fmt.Sprint(normalize(x)) == fmt.Sprint(normalize(y))
}

// normalize re-encodes a decoded JSON value canonically (sorted keys).
func normalize(v any) string {
	b, _ := json.Marshal(v) // encoding/json sorts map keys
	return string(b)
}
