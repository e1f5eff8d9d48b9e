package relay

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the one client every upstream call shares. Its
// transport keeps connections alive across requests (a TLS handshake per
// call would dominate small requests) and speaks HTTP/2 where offered.
// Timeouts are per request, set by the engine, so the client has none.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2000,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
		// Following a redirect would resend the channel key to another host.
		return http.ErrUseLastResponse
	}}
}
