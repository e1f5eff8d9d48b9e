// Command chaos is sluice's chaos soak: the real binary on PostgreSQL and
// Redis behind a fault-injecting upstream, under mixed stream and
// non-stream load from several keys of two users, while Redis connections
// are dropped, Redis is paused and the database is locked and then taken
// away. Afterwards it SIGTERMs the gateway and audits the money in SQL.
//
//	go run ./bench/chaos [-duration 60s] [-short]
//
// Everything it talks to is on loopback. It exits 1 when a charge and the
// logs disagree, a balance went below zero, a request the client saw
// succeed has no consume log, or the gateway did not exit cleanly.
// docs/reliability.md describes the faults and a run's figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sluice/bench/internal/benchenv"
)

type options struct {
	duration  time.Duration
	short     bool
	workers   int
	bin       string
	pgDSN     string
	redisURL  string
	keepLogs  bool
	noPause   bool
	redisWait time.Duration
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the load runs")
	flag.BoolVar(&o.short, "short", false, "a 20 s load (the whole run stays under 2 minutes); overrides -duration")
	flag.IntVar(&o.workers, "workers", 12, "concurrent client goroutines")
	flag.StringVar(&o.bin, "sluice-bin", "", "a built sluice binary (default: go build the repository)")
	flag.StringVar(&o.pgDSN, "pg-dsn", envOr("SLUICE_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		"PostgreSQL server (loopback); the run creates and drops its own database there")
	flag.StringVar(&o.redisURL, "redis-url", envOr("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
		"Redis (loopback); the run uses its own key prefix and deletes its keys")
	flag.BoolVar(&o.keepLogs, "keep", false, "keep the work directory (gateway log) after a passing run")
	flag.BoolVar(&o.noPause, "no-redis-pause", false, "skip CLIENT PAUSE, which stalls every client of the Redis server")
	flag.DurationVar(&o.redisWait, "redis-pause", 3*time.Second, "how long CLIENT PAUSE lasts")
	flag.Parse()
	if o.short {
		o.duration = 20 * time.Second
	}
	os.Exit(run(o))
}

// run returns the process exit code.
func run(o options) int {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "sluice-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "chaos: work directory", work)
	code := soak(ctx, o, work)
	if code == 0 && !o.keepLogs {
		_ = os.RemoveAll(work)
	} else {
		fmt.Fprintln(os.Stderr, "chaos: gateway log kept in", filepath.Join(work, "sluice.log"))
	}
	fmt.Fprintf(os.Stderr, "chaos: finished in %v with exit code %d\n", time.Since(start).Round(time.Second), code)
	return code
}

func soak(ctx context.Context, o options, work string) int {
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "sluice")
		fmt.Fprintln(os.Stderr, "chaos: building sluice")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Dir = repoRoot()
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: build:", err)
			return 1
		}
	}
	st, err := openStores(ctx, o.pgDSN, o.redisURL)
	if st != nil {
		defer func() {
			if err := st.close(); err != nil {
				fmt.Fprintln(os.Stderr, "chaos: cleanup:", err)
			}
		}()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: services:", err)
		return 1
	}
	up, err := newMock()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: mock upstream:", err)
		return 1
	}
	defer up.close()

	gw, err := startGateway(ctx, bin, work, st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer gw.kill()
	keys, err := gw.provision(ctx, up.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: provisioning:", err)
		return 1
	}
	before, err := snapshot(ctx, st.db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: balances before:", err)
		return 1
	}
	time.Sleep(time.Second)
	baseline, err := gw.goroutines(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: metrics:", err)
		return 1
	}

	fmt.Fprintf(os.Stderr, "chaos: load for %v with %d workers over %d keys\n", o.duration, o.workers, len(keys))
	rec := &recorder{}
	loadCtx, stopLoad := context.WithTimeout(ctx, o.duration)
	defer stopLoad()
	events := make(chan []event, 1)
	go func() { events <- runFaults(loadCtx, o, st) }()
	load(loadCtx, gw.client, gw.url, keys, o.workers, rec)
	timeline := <-events

	// Drain: the mock drops its idle connections and so does the client;
	// the batch writer flushes every second.
	up.quiesce()
	gw.client.CloseIdleConnections()
	after, settled := gw.settledGoroutines(ctx, baseline)
	_, hwm, _ := benchenv.MemKB(gw.pid())

	exitErr := gw.stop()
	audit, auditErr := auditMoney(ctx, st.db, before)
	sum := summarise(rec.samples)
	r := report{o: o, sum: sum, timeline: timeline, faults: &up.calls, baseline: baseline, after: after,
		settled: settled, peakRSSKB: hwm, exitErr: exitErr, audit: audit, auditErr: auditErr}
	r.print(os.Stdout)
	return r.exitCode()
}

// repoRoot is the directory of the go.mod above the working directory.
func repoRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
