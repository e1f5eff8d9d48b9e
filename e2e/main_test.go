// Package e2e runs the real sluice binary against a fake OpenAI upstream and
// drives it with the official openai-go SDK and plain net/http, checking
// what a user can observe: responses, errors, charges and logs.
package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sluiceBin is the binary TestMain built for this run.
var sluiceBin string

// TestMain builds sluice once; every test then runs its own process.
// SLUICE_E2E_RACE=1 builds it with the race detector, so data races in
// sluice itself surface as a non-zero exit at shutdown. SLUICE_E2E_BIN
// tests an already built binary instead (a release artifact).
func TestMain(m *testing.M) {
	if bin := os.Getenv("SLUICE_E2E_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		sluiceBin = abs
		os.Exit(m.Run())
	}
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
