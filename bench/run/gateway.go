package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sluice/bench/internal/benchenv"
)

// upstream is one mock process and the model name sluice routes to it.
type upstream struct {
	name  string // main, slow, long, hold
	model string
	url   string
	ca    string // the mock's certificate when it serves HTTPS
	proc  *proc
}

// release lets the streams this mock holds go on. Its answer queues behind
// every stream it lets go on (10,000 of them on the mock's one CPU): on a
// slow host it took over 5 s while the streams all ended as they should, so
// it gets a minute whatever client's timeout.
func (u *upstream) release(client *http.Client) error {
	patient := *client
	patient.Timeout = time.Minute
	resp, err := patient.Post(u.url+"/release", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// startMock starts one mock on the load CPU and waits until it answers.
func startMock(ctx context.Context, logDir, bin, name, model string, tlsOn bool, args ...string) (*upstream, error) {
	port, err := benchenv.FreePort()
	if err != nil {
		return nil, err
	}
	u := &upstream{name: name, model: model, url: "http://127.0.0.1:" + port}
	args = append([]string{"-addr", "127.0.0.1:" + port, "-model", model}, args...)
	if tlsOn {
		u.url = "https://127.0.0.1:" + port
		u.ca = filepath.Join(logDir, "mock-"+name+"-cert.pem")
		args = append(args, "-tls-cert", u.ca)
		// A certificate left by an earlier run into the same -out would be
		// read before the mock replaces it, and then trusted in vain.
		if err := os.Remove(u.ca); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if u.proc, err = startProc(logDir, "mock-"+name, loadCPU, bin, nil, args...); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if tlsOn {
		if client, err = trustingClient(ctx, u.ca); err != nil {
			return nil, err
		}
	}
	_, err = waitReady(ctx, client, u.proc, u.url+"/v1/models", 10*time.Second)
	return u, err
}

// trustingClient trusts the certificate a TLS mock writes at start.
func trustingClient(ctx context.Context, caFile string) (*http.Client, error) {
	var pem []byte
	for i := 0; i < 200 && len(pem) == 0; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(25 * time.Millisecond): // the mock writes it within milliseconds
			}
		}
		pem, _ = os.ReadFile(caFile)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, nil
}

// instance is one gateway (or the mock itself, "direct") as the load
// sees it: a URL per upstream, and the pid whose CPU and memory count.
type instance struct {
	name  string
	key   string
	urls  map[*upstream]string
	pids  map[*upstream]int // 0: nothing of ours to measure (direct)
	procs []*proc
	// sluice marks a sluice process (its batch writer flushes after a run);
	// pprof is its profiling address when -profile is set.
	sluice bool
	pprof  string
	// startup is the time from exec to a served /api/status (sluice only).
	startup time.Duration
}

func (in *instance) isGateway() bool { return in.name != "direct" }

func (in *instance) stop() error {
	var errs []error
	for _, p := range in.procs {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

func directInstance(ups []*upstream) *instance {
	in := &instance{name: "direct", urls: map[*upstream]string{}, pids: map[*upstream]int{}}
	for _, u := range ups {
		in.urls[u] = u.url
	}
	return in
}

// startFloor starts one bare reverse proxy per upstream on the gateway CPU.
func startFloor(ctx context.Context, logDir, bin string, ups []*upstream) (*instance, error) {
	in := &instance{name: "floor", urls: map[*upstream]string{}, pids: map[*upstream]int{}}
	for _, u := range ups {
		port, err := benchenv.FreePort()
		if err != nil {
			return in, err
		}
		args := []string{"-addr", "127.0.0.1:" + port, "-target", u.url}
		if u.ca != "" {
			args = append(args, "-ca", u.ca)
		}
		p, err := startProc(logDir, "floor-"+u.name, gatewayCPU, bin, nil, args...)
		if err != nil {
			return in, err
		}
		in.procs = append(in.procs, p)
		in.urls[u], in.pids[u] = "http://127.0.0.1:"+port, p.pid()
		if _, err := waitReady(ctx, &http.Client{Timeout: 5 * time.Second}, p, in.urls[u]+"/v1/models", 10*time.Second); err != nil {
			return in, err
		}
	}
	return in, nil
}

// sluiceSetup is one sluice configuration: its environment, data dir and
// credentials, kept across the restarts of a run.
type sluiceSetup struct {
	name    string // sqlite or postgres
	bin     string
	logDir  string
	env     []string
	url     string
	access  string
	key     string
	pprof   string // host:port of net/http/pprof when profiling
	starts  int
	cleanup []func() error
	// firstStart is the start on an empty database (migrations, bcrypt
	// of the root password).
	firstStart time.Duration
}

// newSluiceSetup prepares the environment every start of this
// configuration shares; dbEnv selects the database (and Redis).
func newSluiceSetup(name, bin, logDir string, dbEnv []string, certs []string, profile bool) (*sluiceSetup, error) {
	dataDir, err := os.MkdirTemp("", "sluice-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	s := &sluiceSetup{name: name, bin: bin, logDir: logDir,
		access: benchenv.RandomHex(16), key: "sk-bench-" + benchenv.RandomHex(16)}
	s.cleanup = append(s.cleanup, func() error { return os.RemoveAll(dataDir) })
	s.env = append([]string{
		"SLUICE_DATA_DIR=" + dataDir,
		"SQLITE_PATH=" + filepath.Join(dataDir, "sluice.db"),
		"INITIAL_ROOT_PASSWORD=" + benchenv.RandomHex(12),
		"INITIAL_ROOT_ACCESS_TOKEN=" + s.access,
		"INITIAL_ROOT_TOKEN=" + s.key,
		"GLOBAL_API_RATE_LIMIT=100000000",
		"METRICS_ENABLED=true",
		// Charges and logs are still written asynchronously in batches,
		// but every second, so a scenario's CPU includes its own writes.
		"BATCH_UPDATE_INTERVAL=1",
	}, dbEnv...)
	if len(certs) > 0 {
		// The HTTPS mock's self-signed certificate is the only root sluice trusts.
		s.env = append(s.env, "SSL_CERT_FILE="+certs[0])
	}
	if profile {
		pp, err := benchenv.FreePort()
		if err != nil {
			return nil, err
		}
		s.pprof = "127.0.0.1:" + pp
		s.env = append(s.env, "ENABLE_PPROF=true", "PPROF_ADDR="+s.pprof)
	}
	return s, nil
}

// start runs sluice on the gateway CPU, with extraEnv added to its
// environment, and waits for /api/status.
func (s *sluiceSetup) start(ctx context.Context, ups []*upstream, extraEnv ...string) (*instance, error) {
	s.starts++
	// A new port each start: between two starts an outgoing connection
	// can take the old one as its ephemeral port.
	port, err := benchenv.FreePort()
	if err != nil {
		return nil, err
	}
	s.url = "http://127.0.0.1:" + port
	p, err := startProc(s.logDir, fmt.Sprintf("sluice-%s-%d", s.name, s.starts), gatewayCPU, s.bin,
		append(append(slices.Clip(s.env), extraEnv...), "PORT="+port))
	if err != nil {
		return nil, err
	}
	in := &instance{name: s.name, key: s.key, urls: map[*upstream]string{}, pids: map[*upstream]int{},
		procs: []*proc{p}, sluice: true, pprof: s.pprof}
	for _, u := range ups {
		in.urls[u], in.pids[u] = s.url, p.pid()
	}
	in.startup, err = waitReady(ctx, &http.Client{Timeout: 5 * time.Second}, p, s.url+"/api/status", 30*time.Second)
	return in, err
}

// provision starts sluice on its empty database, creates one channel per
// mock (type 8, custom OpenAI-compatible) and prices every bench model,
// then stops it.
func (s *sluiceSetup) provision(ctx context.Context, ups []*upstream) error {
	in, err := s.start(ctx, nil)
	if err != nil {
		return err
	}
	s.firstStart = in.startup
	ratios := map[string]float64{}
	for _, u := range ups {
		ch := map[string]any{"type": 8, "name": "bench-" + u.name, "key": "sk-upstream-bench",
			"base_url": u.url, "models": u.model}
		if err := s.admin(ctx, http.MethodPost, "/api/channel/", ch); err != nil {
			return errors.Join(err, in.stop())
		}
		ratios[u.model] = 1
	}
	value, _ := json.Marshal(ratios)
	if err := s.admin(ctx, http.MethodPut, "/api/option/", map[string]string{"key": "ModelRatio", "value": string(value)}); err != nil {
		return errors.Join(err, in.stop())
	}
	return in.stop()
}

// admin calls the admin API with root's access token and requires success.
func (s *sluiceSetup) admin(ctx context.Context, method, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.access)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || !env.Success {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return nil
}

func (s *sluiceSetup) close() error {
	var errs []error
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, s.cleanup[i]())
	}
	return errors.Join(errs...)
}
