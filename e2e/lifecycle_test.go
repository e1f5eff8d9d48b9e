package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM in the middle of a stream: the stream
// still completes, the process exits 0, and after a restart on the same
// data dir the charge and the log are in the database.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{Chunks: 10, Delay: 150 * time.Millisecond})
	s := startSluice(t, options{})
	s.setPrices(t, "slow-model")
	chID := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "slow-model"})
	const budget = 1_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	userBefore := s.userBalance(t)

	resp := openStream(t, context.Background(), s, key.Secret, "slow-model")
	defer resp.Body.Close()
	events := newSSEReader(resp.Body)
	first, err := events.next()
	if err != nil || !isChunk(first) {
		t.Fatalf("first event: %q, %v", first, err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Stopping means no new connections, while the stream goes on.
	eventually(t, 5*time.Second, func() bool {
		r, err := http.Get(s.URL + "/api/status")
		if err == nil {
			r.Body.Close()
		}
		return err != nil
	}, func() string { return "sluice still accepts connections after SIGTERM" })

	text := contentOf(t, first)
	last := first
	for {
		data, err := events.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the stream broke during shutdown: %v (text so far %q)", err, text)
		}
		last = data
		if isChunk(data) {
			text += contentOf(t, data)
		}
	}
	if last != "[DONE]" || text != streamText(10) {
		t.Errorf("during shutdown the client got %q ending with %q, want %q then [DONE]", text, last, streamText(10))
	}
	select {
	case <-s.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("sluice has not exited 10 s after its last stream ended")
	}
	s.Stop(t) // asserts exit status 0

	again := startSluice(t, options{DataDir: s.DataDir, Access: s.Access})
	logs := again.consumeLogs(t, key.Name)
	want := cost(chatUsage)
	if len(logs) != 1 || logs[0].Quota != want || logs[0].Channel != chID || !logs[0].IsStream ||
		logs[0].CompletionTokens != chatUsage.Completion {
		t.Fatalf("after restart the consume logs are %+v, want one stream log of %d on channel %d", logs, want, chID)
	}
	if kb := again.keyBalance(t, key.ID); kb.RemainQuota != budget-want || kb.UsedQuota != want {
		t.Errorf("after restart key remain/used = %d/%d, want %d/%d", kb.RemainQuota, kb.UsedQuota, budget-want, want)
	}
	ub := again.userBalance(t)
	if ub.Quota != userBefore.Quota-want || ub.UsedQuota != userBefore.UsedQuota+want {
		t.Errorf("after restart user quota/used = %d/%d, want %d/%d", ub.Quota, ub.UsedQuota,
			userBefore.Quota-want, userBefore.UsedQuota+want)
	}
}

// contentOf returns the text a chat.completion.chunk carries.
func contentOf(t *testing.T, chunk string) string {
	t.Helper()
	var c struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(chunk), &c); err != nil {
		t.Fatalf("not a chunk: %s", chunk)
	}
	var sb strings.Builder
	for _, ch := range c.Choices {
		sb.WriteString(ch.Delta.Content)
	}
	return sb.String()
}

// TestSetupFlow starts on an empty database without INITIAL_ROOT_*: no
// account exists until POST /api/setup creates root, once, with a
// password of at least 8 characters.
func TestSetupFlow(t *testing.T) {
	t.Parallel()
	s := startSluice(t, options{NoRoot: true})
	setupDone := func() bool {
		var d struct {
			Status bool `json:"status"`
		}
		_, env := s.call(t, "", http.MethodGet, "/api/setup", nil)
		if err := json.Unmarshal(env.Data, &d); err != nil {
			t.Fatalf("GET /api/setup data: %s", env.Data)
		}
		return d.Status
	}
	statusSetup := func() bool {
		var d struct {
			Setup *bool `json:"setup"`
		}
		_, env := s.call(t, "", http.MethodGet, "/api/status", nil)
		if err := json.Unmarshal(env.Data, &d); err != nil || d.Setup == nil {
			t.Fatalf("GET /api/status data has no setup flag: %s", env.Data)
		}
		return *d.Setup
	}
	login := func(password string) bool {
		status, env := s.call(t, "", http.MethodPost, "/api/user/login", map[string]string{"username": "root", "password": password})
		return status == http.StatusOK && env.Success
	}
	setup := func(password string) (int, envelope) {
		return s.call(t, "", http.MethodPost, "/api/setup",
			map[string]string{"username": "root", "password": password, "confirmPassword": password})
	}

	if setupDone() || statusSetup() {
		t.Fatalf("a fresh database reports setup done")
	}
	for _, p := range []string{"", "root", "123456", "12345678", "password"} {
		if login(p) {
			t.Fatalf("root logged in with %q before setup", p)
		}
	}
	if status, env := setup("1234567"); env.Success || status == http.StatusOK {
		t.Fatalf("setup accepted a 7-character password: %d %+v", status, env)
	}
	if setupDone() {
		t.Fatalf("a refused setup marked setup done")
	}
	const password = "correct-horse-battery"
	if status, env := setup(password); !env.Success || status != http.StatusOK {
		t.Fatalf("setup with a good password: %d %q", status, env.Message)
	}
	if !setupDone() || !statusSetup() {
		t.Errorf("after setup, GET /api/setup or /api/status still says not set up")
	}
	if !login(password) {
		t.Errorf("root cannot log in with the password set up")
	}
	if status, env := setup("another-good-password"); env.Success || status == http.StatusOK {
		t.Errorf("a second setup was accepted: %d %+v", status, env)
	}
	if login("another-good-password") {
		t.Errorf("the second setup changed root's password")
	}
}
