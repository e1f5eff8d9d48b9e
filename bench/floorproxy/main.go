// Command floorproxy is the floor sluice is measured against: a bare
// net/http/httputil.ReverseProxy to one upstream, with nothing else — no
// authentication, no body parsing, no pricing, no logging. Whatever sluice
// costs above it is the price of its features.
//
// Its transport pools connections the way sluice's does (relay.NewHTTPClient:
// 512 idle connections per host, HTTP/2 where TLS offers it), so the two
// differ in what they do per request, not in how often they dial.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9200", "listen address")
	target := flag.String("target", "http://127.0.0.1:9100", "upstream base URL")
	caFile := flag.String("ca", "", "PEM certificate to trust for an https target (the mock's -tls-cert)")
	flag.Parse()
	if err := run(*addr, *target, *caFile); err != nil {
		log.Fatal(err)
	}
}

func run(addr, target, caFile string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	transport, err := newTransport(caFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newProxy(u, transport), ReadHeaderTimeout: 30 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	log.Printf("floorproxy on http://%s → %s", ln.Addr(), u)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newProxy is the floor: a bare ReverseProxy to target. Its one addition,
// full duplex, lets the proxy's transport finish reading the client's body
// after the answer has begun. Without it, a stream fails about once in a
// thousand: the upstream answers as soon as it has the body's bytes, the
// proxy writes the response headers, and net/http's server — seeing a
// request body not yet read to EOF — drains and closes it; the transport's
// write loop, which reads once more to see EOF, then gets "invalid Read on
// closed Body", takes it for a failed write and closes the upstream
// connection mid-stream (the client sees "unexpected EOF"). sluice reads
// the whole body before relaying, so it never meets this.
func newProxy(target *url.URL, transport http.RoundTripper) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: transport,
		// text/event-stream and chunked answers are flushed at once by
		// ReverseProxy itself; nothing else needs flushing.
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		proxy.ServeHTTP(w, r)
	})
}

func newTransport(caFile string) (*http.Transport, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2000,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		WriteBufferSize:     32 << 10,
		ReadBufferSize:      32 << 10,
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	return t, nil
}
