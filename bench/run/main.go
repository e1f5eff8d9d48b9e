// Command run is sluice's load harness: it builds sluice and the bench
// tools, starts mock upstreams, the floor (a bare reverse proxy) and sluice
// on SQLite and on PostgreSQL + Redis, drives them with wrk and
// streamclient, and prints a markdown report comparing sluice with the
// floor. It exits 1 if any request failed. See bench/README.md.
//
//	go run ./bench/run              # the full run (about 9 minutes)
//	go run ./bench/run -smoke       # every scenario briefly (CI)
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed chat.lua
var chatLua []byte

type options struct {
	duration, warmup, settle, timeout time.Duration
	smoke, profile                    bool
	concurrency, hold                 []int
	configs, groups                   []string
	pgDSN, redisURL                   string
	out, sluiceBin                    string
	ttfbN, longMB, rounds             int
}

func parseFlags() (options, error) {
	var o options
	var conc, hold, configs, groups string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured wrk time per scenario and target, over all its rounds")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per scenario, each running it on every target in turn (whole seconds each; 1 with -profile)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "wrk warm-up before each measured run (0: none)")
	flag.DurationVar(&o.settle, "settle", 1200*time.Millisecond, "wait after a sluice run for its batch writer to flush")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	flag.BoolVar(&o.smoke, "smoke", false, "short run for CI: 1 s scenarios at c=1 and 16, 1,000 held streams")
	flag.BoolVar(&o.profile, "profile", false, "record sluice CPU profiles during the c=64 scenarios (adds some CPU)")
	flag.StringVar(&conc, "concurrency", "1,16,64,256", "wrk connections per scenario")
	flag.StringVar(&hold, "hold", "1000,10000", "held-open stream counts")
	flag.StringVar(&configs, "configs", "sqlite,postgres", "sluice configurations: sqlite, postgres (PostgreSQL + Redis)")
	flag.StringVar(&groups, "groups", "load,long,hold", "scenario groups to run: load (wrk and time to first byte), long, hold")
	flag.StringVar(&o.pgDSN, "pg-dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL to create the run's database in (loopback only)")
	flag.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis for the postgres configuration (loopback only)")
	flag.StringVar(&o.out, "out", "", "directory for the report, results.json, logs and profiles (default: a new temp dir)")
	flag.StringVar(&o.sluiceBin, "sluice-bin", "", "sluice binary to test (default: go build the repository)")
	flag.IntVar(&o.ttfbN, "ttfb-n", 200, "streams, one at a time, for time to first byte")
	flag.IntVar(&o.longMB, "long-mb", 10, "output of the long stream, in MB")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		smokeDefaults(&o, set, &conc, &hold)
	}
	if o.profile && !set["rounds"] {
		// A profile and a trace need one run long enough to hold them.
		o.rounds = 1
	}
	var err error
	if o.concurrency, err = ints(conc); err != nil {
		return o, fmt.Errorf("-concurrency: %w", err)
	}
	if o.hold, err = ints(hold); err != nil {
		return o, fmt.Errorf("-hold: %w", err)
	}
	for _, c := range strings.Split(configs, ",") {
		if c = strings.TrimSpace(c); c != "sqlite" && c != "postgres" {
			return o, fmt.Errorf("-configs: unknown configuration %q", c)
		}
		o.configs = append(o.configs, strings.TrimSpace(c))
	}
	for _, g := range strings.Split(groups, ",") {
		if g = strings.TrimSpace(g); g != "load" && g != "long" && g != "hold" {
			return o, fmt.Errorf("-groups: unknown group %q", g)
		}
		o.groups = append(o.groups, strings.TrimSpace(g))
	}
	if o.duration < time.Second {
		return o, errors.New("-duration must be at least 1s")
	}
	if o.rounds < 1 {
		return o, errors.New("-rounds must be at least 1")
	}
	return o, nil
}

// smokeDefaults shortens every flag the caller did not set.
func smokeDefaults(o *options, set map[string]bool, conc, hold *string) {
	if !set["duration"] {
		o.duration = time.Second
	}
	if !set["warmup"] {
		o.warmup = 0
	}
	if !set["rounds"] {
		o.rounds = 1
	}
	if !set["settle"] {
		o.settle = 0
	}
	if !set["concurrency"] {
		*conc = "1,16"
	}
	if !set["hold"] {
		*hold = "1000"
	}
	if !set["ttfb-n"] {
		o.ttfbN = 20
	}
	if !set["timeout"] {
		o.timeout = 5 * time.Minute
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	opt, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	os.Exit(run(opt))
}

// bins are the programs a run starts.
type bins struct{ sluice, mock, floor, client string }

// runner holds one run's state.
type runner struct {
	opt    options
	bins   bins
	out    string
	lua    string
	wrkLog *os.File
	mocks  map[string]*upstream
	setups []*sluiceSetup

	mu  sync.Mutex
	res results
}

// fail records a failure; the run goes on and exits 1 at the end.
func (r *runner) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "FAIL:", msg)
	r.mu.Lock()
	r.res.Failures = append(r.res.Failures, msg)
	r.mu.Unlock()
}

func run(opt options) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, opt.timeout)
	defer cancelTimeout()
	defer stopAll()
	r, err := newRunner(opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	defer r.wrkLog.Close()
	start := time.Now()
	err = r.prepare(ctx)
	defer r.cleanup()
	if err != nil {
		r.fail("set-up: %v", err)
	} else {
		r.runGroups(ctx)
	}
	if ctx.Err() != nil {
		r.fail("run stopped: %v", context.Cause(ctx))
	}
	r.res.Seconds = time.Since(start).Seconds()
	if err := r.writeReport(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "bench: report, results.json and logs in %s (%.0f s)\n", r.out, r.res.Seconds)
	if len(r.res.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d failure(s)\n", len(r.res.Failures))
		return 1
	}
	return 0
}

func newRunner(opt options) (*runner, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, errors.New("wrk is not installed (Debian: apt-get install -y wrk)")
	}
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		pinning = false
		fmt.Fprintln(os.Stderr, "bench: taskset or a second CPU is missing: processes run unpinned")
	}
	out := opt.out
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "sluice-bench-"+time.Now().Format("20060102-150405")+"-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	out, _ = filepath.Abs(out)
	r := &runner{opt: opt, out: out, lua: filepath.Join(out, "chat.lua"), mocks: map[string]*upstream{}}
	if err := os.WriteFile(r.lua, chatLua, 0o644); err != nil {
		return nil, err
	}
	var err error
	r.wrkLog, err = os.Create(filepath.Join(out, "wrk.log"))
	return r, err
}

// prepare builds the programs, starts the mocks and provisions each
// sluice configuration on a fresh database.
func (r *runner) prepare(ctx context.Context) error {
	if err := r.build(ctx); err != nil {
		return err
	}
	if err := r.startMocks(ctx); err != nil {
		return err
	}
	ups := []*upstream{r.mocks["main"], r.mocks["slow"], r.mocks["long"], r.mocks["hold"]}
	for _, name := range r.opt.configs {
		var dbEnv []string
		var cleanup []func() error
		if name == "postgres" {
			var err error
			if dbEnv, cleanup, err = postgresEnv(ctx, r.opt.pgDSN, r.opt.redisURL); err != nil {
				return err
			}
		}
		s, err := newSluiceSetup(name, r.bins.sluice, r.out, dbEnv, []string{r.mocks["hold"].ca}, r.opt.profile)
		if err != nil {
			return errors.Join(err, runAll(cleanup))
		}
		s.cleanup = append(cleanup, s.cleanup...)
		r.setups = append(r.setups, s)
		if err := s.provision(ctx, ups); err != nil {
			return fmt.Errorf("provision sluice (%s): %w", name, err)
		}
		r.res.Starts = append(r.res.Starts, startInfo{Target: name, FirstStartMS: ms(s.firstStart)})
	}
	return nil
}

func runAll(fs []func() error) error {
	var errs []error
	for _, f := range fs {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

func (r *runner) cleanup() {
	stopAll()
	for _, s := range r.setups {
		if err := s.close(); err != nil {
			r.fail("clean-up (%s): %v", s.name, err)
		}
	}
}

// build compiles sluice (unless -sluice-bin) and the bench tools.
func (r *runner) build(ctx context.Context) error {
	dir := filepath.Join(r.out, "bin")
	r.bins = bins{sluice: r.opt.sluiceBin, mock: filepath.Join(dir, "mockupstream"),
		floor: filepath.Join(dir, "floorproxy"), client: filepath.Join(dir, "streamclient")}
	pkgs := []string{"./bench/mockupstream", "./bench/floorproxy", "./bench/streamclient"}
	if r.bins.sluice == "" {
		r.bins.sluice = filepath.Join(dir, "sluice-build")
		// The release build (README, Dockerfile): without gin's MsgPack
		// codec, and static (goBuild).
		if err := goBuild(ctx, r.bins.sluice, ".", "-tags", "nomsgpack"); err != nil {
			return err
		}
	}
	// sluice runs from a plain copy, as an installed binary would: the
	// linker's own output file sits in the page cache in large folios,
	// which the kernel maps 2 MB at a time, and that alone added 4 MB to
	// idle RSS (smaps FilePmdMapped).
	installed := filepath.Join(dir, "sluice")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyFile(r.bins.sluice, installed); err != nil {
		return err
	}
	r.bins.sluice = installed
	for i, pkg := range pkgs {
		if err := goBuild(ctx, []string{r.bins.mock, r.bins.floor, r.bins.client}[i], pkg); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies an executable with plain writes.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	// Hidden behind a plain Writer so io.Copy does not use copy_file_range.
	if _, err := io.Copy(struct{ io.Writer }{out}, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// goBuild builds pkg as the Dockerfile builds sluice: with cgo off, so the
// binary is static. With cgo (the default where a C compiler is installed)
// net links the C library's resolver, and the dynamically linked binary
// carries libc and the loader: 1.2–2 MB more idle RSS.
func goBuild(ctx context.Context, out, pkg string, flags ...string) error {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, flags...), "-o", out, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (run from the repository root): %w", pkg, err)
	}
	return nil
}

// startMocks starts the four upstreams: main (20 chunks at once), slow
// (20 chunks 1 ms apart, for time to first byte), long (the long stream)
// and hold (HTTPS/HTTP2, holds each stream until released).
func (r *runner) startMocks(ctx context.Context) error {
	specs := []struct {
		name, model string
		tls         bool
		args        []string
	}{
		{"main", "bench-model", false, []string{"-chunks", "20"}},
		{"slow", "bench-slow", false, []string{"-chunks", "20", "-delay", "1ms"}},
		{"long", "bench-long", false, []string{"-chunks", strconv.Itoa(r.opt.longMB * 1000), "-chunk-bytes", "1000"}},
		{"hold", "bench-hold", true, []string{"-chunks", "20", "-hold", "-hold-max", "100s"}},
	}
	for _, s := range specs {
		u, err := startMock(ctx, r.out, r.bins.mock, s.name, s.model, s.tls, s.args...)
		if err != nil {
			return err
		}
		r.mocks[s.name] = u
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
