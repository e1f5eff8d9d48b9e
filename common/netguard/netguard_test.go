package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"172.15.255.255", Public}, // just below 172.16/12
		{"172.32.0.0", Public},     // just above it
		{"100.63.255.255", Public}, // just below CGNAT
		{"100.128.0.0", Public},    // just above it
		{"2606:4700:4700::1111", Public},
		{"::ffff:8.8.8.8", Public},
		{"64:ff9b::808:808", Public}, // NAT64 of 8.8.8.8

		{"10.0.0.1", Private},
		{"10.255.255.255", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.168.1.10", Private},
		{"100.64.0.1", Private}, // CGNAT
		{"100.127.255.255", Private},
		{"fc00::1", Private},
		{"fd12:3456::1", Private},
		{"fec0::1", Private},
		{"::ffff:10.1.2.3", Private},    // IPv4-mapped: the IPv4 address decides
		{"::ffff:192.168.0.1", Private}, //
		{"64:ff9b::a01:203", Private},   // NAT64 of 10.1.2.3

		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"::ffff:127.0.0.1", Loopback},

		{"169.254.169.254", Forbidden}, // AWS/GCP/Azure/Oracle metadata
		{"169.254.0.1", Forbidden},
		{"169.254.170.2", Forbidden},   // ECS task metadata
		{"100.100.100.200", Forbidden}, // Alibaba metadata, although inside CGNAT
		{"168.63.129.16", Forbidden},   // Azure WireServer, although public
		{"fd00:ec2::254", Forbidden},   // AWS IPv6 metadata, although unique-local
		{"fe80::1", Forbidden},
		{"fe80::1%eth0", Forbidden}, // a zone changes nothing
		{"febf:ffff::1", Forbidden}, // top of fe80::/10
		{"0.0.0.0", Forbidden},
		{"0.1.2.3", Forbidden},
		{"::", Forbidden},
		{"224.0.0.1", Forbidden},
		{"239.255.255.250", Forbidden},
		{"ff02::1", Forbidden},
		{"255.255.255.255", Forbidden},
		{"240.0.0.1", Forbidden},
		{"::ffff:169.254.169.254", Forbidden}, // IPv4-mapped metadata
		{"::ffff:0.0.0.0", Forbidden},
		{"64:ff9b::a9fe:a9fe", Forbidden}, // NAT64 of 169.254.169.254
		{"::a9fe:a9fe", Forbidden},        // deprecated IPv4-compatible form
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			if got := Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Fatalf("Classify(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	if got := Classify(netip.Addr{}); got != Forbidden {
		t.Errorf("the zero Addr is %v, want forbidden", got)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip           string
		allowPrivate bool
		refused      bool
	}{
		{"8.8.8.8", false, false},
		{"10.0.0.1", true, false},
		{"10.0.0.1", false, true},
		{"127.0.0.1", true, false},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		// Metadata and link-local stay refused when private addresses are allowed.
		{"169.254.169.254", true, true},
		{"100.100.100.200", true, true},
		{"fd00:ec2::254", true, true},
		{"fe80::1", true, true},
	}
	for _, tt := range tests {
		err := Check(netip.MustParseAddr(tt.ip), tt.allowPrivate)
		if (err != nil) != tt.refused {
			t.Errorf("Check(%s, allowPrivate=%v) = %v, want refused=%v", tt.ip, tt.allowPrivate, err, tt.refused)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%s) error %v does not wrap ErrRefused", tt.ip, err)
		}
		if err != nil && strings.Contains(err.Error(), tt.ip) {
			t.Errorf("Check(%s) error names the address: %v", tt.ip, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url          string
		allowPrivate bool
		refused      bool
	}{
		{"https://api.openai.com", false, false},
		{"http://localhost:11434", false, false}, // a name: checked when dialled
		{"http://metadata.google.internal", false, false},
		{"http://8.8.8.8/v1", false, false},
		{"http://127.0.0.1:11434", true, false},
		{"http://127.0.0.1:11434", false, true},
		{"http://[::1]:8000", false, true},
		{"http://192.168.1.5:8000/v1", false, true},
		{"http://169.254.169.254/latest/meta-data", true, true},
		{"http://[fd00:ec2::254]/", true, true},
		{"http://[fe80::1%25eth0]:80/", true, true},
		{"http://[::ffff:169.254.169.254]/", true, true},
		{"http://100.100.100.200/", true, true},
		{"http://0.0.0.0:8080", true, true},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url, tt.allowPrivate)
		if (err != nil) != tt.refused {
			t.Errorf("CheckURL(%s, allowPrivate=%v) = %v, want refused=%v", tt.url, tt.allowPrivate, err, tt.refused)
		}
	}
}

// TestDialLoopback dials a real listener on 127.0.0.1 through a dialer and
// an HTTP client guarded by the policy, switching the option between calls
// as an operator would.
func TestDialLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var allow atomic.Bool
	p := &Policy{AllowPrivate: allow.Load}
	d := &net.Dialer{Timeout: 5 * time.Second, Control: p.Control}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout: 5 * time.Second}
	addr := srv.Listener.Addr().String()

	// Off: refused before any connection is made.
	if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial with AllowPrivate off: %v, want ErrRefused", err)
	}
	resp, err := client.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("HTTP call with AllowPrivate off succeeded")
	}
	var re *RefusedError
	if !errors.As(err, &re) || re.Class != Loopback {
		t.Fatalf("HTTP call with AllowPrivate off: %v, want a RefusedError for loopback", err)
	}
	// A name resolving to loopback is refused the same way: the check sees the resolved address.
	_, port, _ := net.SplitHostPort(addr)
	if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial localhost with AllowPrivate off: %v, want ErrRefused", err)
	}

	// On: the same listener answers.
	allow.Store(true)
	resp, err = client.Get(srv.URL)
	if err != nil {
		t.Fatalf("HTTP call with AllowPrivate on: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// Metadata stays refused with the option on (nothing listens there; the refusal comes first).
	if _, err := d.DialContext(context.Background(), "tcp", "169.254.169.254:80"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial metadata with AllowPrivate on: %v, want ErrRefused", err)
	}
}

func TestNilAllowPrivateMeansOff(t *testing.T) {
	t.Parallel()
	p := &Policy{}
	if err := p.Control("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("Control = %v, want ErrRefused", err)
	}
	if err := p.Control("tcp", "not-an-address", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("Control(garbage) = %v, want ErrRefused", err)
	}
	if err := p.Control("tcp", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("Control(public) = %v", err)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "fe80::1%eth0", "8.8.8.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		c := Classify(ip)
		// The IPv4-mapped form of an address is classified as the address itself.
		if ip.Is4() && Classify(netip.AddrFrom16(ip.As16())) != c {
			t.Fatalf("%s and its IPv4-mapped form differ", s)
		}
		if c == Forbidden && Check(ip, true) == nil {
			t.Fatalf("%s is forbidden but allowed", s)
		}
	})
}
