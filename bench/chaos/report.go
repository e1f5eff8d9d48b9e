package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// report is everything one soak measured.
type report struct {
	o         options
	sum       summary
	timeline  []event
	faults    *[faultCount]atomic.Int64
	baseline  int
	after     int
	settled   bool
	peakRSSKB int64
	exitErr   error
	audit     audit
	auditErr  error
}

// failures lists what makes the run fail (exit 1).
func (r report) failures() []string {
	var f []string
	if r.auditErr != nil {
		f = append(f, "the audit could not read SQL: "+r.auditErr.Error())
	}
	if r.audit.totalMismatch != 0 {
		f = append(f, fmt.Sprintf("charge-versus-log mismatch: %d quota in all", r.audit.totalMismatch))
	}
	if n := r.audit.negativeUsers + r.audit.negativeKeys; n > 0 {
		f = append(f, fmt.Sprintf("%d users and %d keys below zero", r.audit.negativeUsers, r.audit.negativeKeys))
	}
	if r.audit.duplicates > 0 {
		f = append(f, fmt.Sprintf("%d request ids logged more than once", r.audit.duplicates))
	}
	if r.audit.consumeLogs < int64(r.sum.successes) {
		f = append(f, fmt.Sprintf("%d consume logs for %d answers the client saw complete: charges were lost",
			r.audit.consumeLogs, r.sum.successes))
	}
	if r.exitErr != nil {
		f = append(f, "the gateway did not exit cleanly on SIGTERM: "+r.exitErr.Error())
	}
	return f
}

func (r report) exitCode() int {
	if len(r.failures()) > 0 {
		return 1
	}
	return 0
}

func (r report) print(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "# sluice chaos soak\n\n%s load, %d client goroutines, PostgreSQL + Redis, %s/%s, %d CPUs (%s), %s\n\n",
		r.o.duration, r.o.workers, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), host, time.Now().UTC().Format(time.RFC3339))

	fmt.Fprintf(w, "## Requests: %d, %d complete answers (%.1f/s)\n\n", r.sum.total, r.sum.successes,
		float64(r.sum.total)/r.o.duration.Seconds())
	fmt.Fprintf(w, "latency (whole response, stream or not): p50 %s, p99 %s, max %s\n\n",
		ms(r.sum.p50), ms(r.sum.p99), ms(r.sum.max))
	fmt.Fprintln(w, "| outcome (status, error code or kind) | requests | share |\n|---|---:|---:|")
	names := make([]string, 0, len(r.sum.outcomes))
	for k := range r.sum.outcomes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return r.sum.outcomes[names[i]] > r.sum.outcomes[names[j]] })
	for _, k := range names {
		fmt.Fprintf(w, "| %s | %d | %.1f%% |\n", k, r.sum.outcomes[k], 100*float64(r.sum.outcomes[k])/float64(max(r.sum.total, 1)))
	}

	fmt.Fprintln(w, "\n## Upstream faults injected (per upstream call)\n\n| fault | calls |\n|---|---:|")
	for f := range faultCount {
		fmt.Fprintf(w, "| %s | %d |\n", faultNames[f], r.faults[f].Load())
	}

	fmt.Fprintln(w, "\n## Store faults\n\n| at | fault | result |\n|---:|---|---|")
	for _, e := range r.timeline {
		res := "ok"
		if e.err != nil {
			res = "ERROR: " + strings.ReplaceAll(e.err.Error(), "\n", " ")
		}
		fmt.Fprintf(w, "| %.1f s | %s | %s |\n", e.at.Seconds(), e.what, res)
	}

	a := r.audit
	fmt.Fprintf(w, "\n## Money (SQL, after SIGTERM)\n\n%d consume logs summing %d quota; %d error logs, %d system logs; %d duplicated request ids\n\n",
		a.consumeLogs, a.loggedQuota, a.errorLogs, a.systemLogs, a.duplicates)
	fmt.Fprintln(w, "| account | quota taken | used_quota growth | consume logs (sum) | logs | mismatch | balance after |\n|---|---:|---:|---:|---:|---:|---:|")
	for _, acc := range append(append([]account(nil), a.users...), a.keys...) {
		taken := fmt.Sprint(acc.taken)
		if !acc.limited {
			taken = "unlimited"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d |\n", acc.name, taken, acc.used, acc.logged, acc.logCount, acc.mismatch(), acc.final)
	}
	fmt.Fprintf(w, "\ncharge-versus-log mismatch: **%d**; users below zero: **%d**; keys below zero: **%d**\n",
		a.totalMismatch, a.negativeUsers, a.negativeKeys)

	back := "back to baseline"
	if !r.settled {
		back = fmt.Sprintf("NOT back to baseline within 15 s (slack %d)", goroutineSlack)
	}
	exit := "exit 0"
	if r.exitErr != nil {
		exit = "FAILED: " + r.exitErr.Error()
	}
	fmt.Fprintf(w, "\n## Process\n\npeak RSS (VmHWM): %.1f MiB; goroutines: %d before the load, %d after it (%s); SIGTERM: %s\n",
		float64(r.peakRSSKB)/1024, r.baseline, r.after, back, exit)

	if f := r.failures(); len(f) > 0 {
		fmt.Fprintln(w, "\n## FAILED")
		for _, x := range f {
			fmt.Fprintln(w, "- "+x)
		}
	} else {
		fmt.Fprintln(w, "\nPASS: every charge matches its logs, no balance below zero, clean shutdown.")
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
