package main

import (
	"os"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{name: "ipv4 loopback", url: "postgres://postgres@127.0.0.1:5432/test", ok: true},
		{name: "any 127/8 address", url: "redis://127.0.0.2:6379/0", ok: true},
		{name: "localhost", url: "redis://localhost:6379/0", ok: true},
		{name: "ipv6 loopback", url: "redis://[::1]:6379/0", ok: true},
		// Private ranges are not this machine: never a load target.
		{name: "private address", url: "postgres://postgres@10.0.0.5:5432/test"},
		{name: "host name", url: "postgres://postgres@db.example.com:5432/test"},
		{name: "no host", url: "postgres:///test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loopbackOnly("-pg-dsn", tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("loopbackOnly(%q) error %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

func TestProcReaders(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	if _, err := cpuTicks(pid); err != nil {
		t.Fatalf("cpuTicks: %v", err)
	}
	if busy, _, total, err := cpuStat("cpu0"); err != nil || busy <= 0 || total < busy {
		t.Fatalf("cpuStat = %d of %d, %v", busy, total, err)
	}
	rss, hwm, err := memKB(pid)
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("memKB = %d, %d, %v; want 0 < rss <= hwm", rss, hwm, err)
	}
}

func TestInts(t *testing.T) {
	t.Parallel()
	got, err := ints(" 1,16 ,64,")
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 64 {
		t.Fatalf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-4", "x"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q) accepted", bad)
		}
	}
}

func TestWrkFailed(t *testing.T) {
	t.Parallel()
	// A 500 is both a status error and a bad answer in wrk's counts; it
	// must count once.
	w := wrkResult{Requests: 10, StatusErrors: 1, BadAnswers: 1, ReadErrors: 2}
	if got := w.failed(); got != 3 {
		t.Fatalf("failed = %d, want 3", got)
	}
}
