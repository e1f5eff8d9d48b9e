package relay

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"sluice/common/netguard"
	"sluice/relay/relayerr"
)

// TestClientGuardsUpstreamAddresses calls a loopback server through the
// shared client with private upstreams forbidden, then allowed: refused, it
// is an ordinary upstream failure (502, another channel may be tried) whose
// client message names no address.
func TestClientGuardsUpstreamAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()

	_, err := newHTTPClient(func() bool { return false }).Get(srv.URL)
	if !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("private upstreams off: %v, want a refusal", err)
	}
	e := relayerr.FromTransport(err)
	if e.Kind != relayerr.KindUpstream || e.Status != http.StatusBadGateway || !e.Retryable {
		t.Fatalf("refusal classified as kind %d status %d retry %v", e.Kind, e.Status, e.Retryable)
	}
	if body := string(e.Body(relayerr.FormatOpenAI)); strings.Contains(body, "127.0.0.1") {
		t.Fatalf("the client body names the address: %s", body)
	}

	resp, err := newHTTPClient(func() bool { return true }).Get(srv.URL)
	if err != nil {
		t.Fatalf("private upstreams on: %v", err)
	}
	resp.Body.Close()
}

func TestProxyAddr(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"http://proxy.internal:3128": "proxy.internal:3128",
		"http://10.0.0.5":            "10.0.0.5:80",
		"https://proxy":              "proxy:443",
		"socks5://[fd00::1]":         "[fd00::1]:1080",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := proxyAddr(u); got != want {
			t.Errorf("proxyAddr(%s) = %s, want %s", raw, got, want)
		}
	}
}
