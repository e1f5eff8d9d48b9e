package benchenv

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
			_, err := LoopbackOnly("-pg-dsn", tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("LoopbackOnly(%q) error %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

func TestMemKB(t *testing.T) {
	t.Parallel()
	rss, hwm, err := MemKB(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("MemKB = %d, %d, %v; want 0 < rss <= hwm", rss, hwm, err)
	}
}
