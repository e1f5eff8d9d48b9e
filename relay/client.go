package relay

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"sluice/common/netguard"
	"sluice/setting/operation_setting"
)

// NewHTTPClient returns the one client every upstream call shares. Its
// transport keeps connections alive across requests (a TLS handshake per
// call would dominate small requests) and speaks HTTP/2 where offered.
// Timeouts are per request, set by the engine, so the client has none.
//
// Every connection it makes passes the SSRF guard (common/netguard) on the
// address actually dialled, after name resolution: cloud metadata and
// link-local addresses are always refused, private and loopback ones unless
// the AllowPrivateUpstreams option is on. A refused dial fails like a
// refused connection: the relay answers 502 and names no address.
func NewHTTPClient() *http.Client {
	return newHTTPClient(func() bool { return operation_setting.Get().AllowPrivateUpstreams })
}

func newHTTPClient(allowPrivate func() bool) *http.Client {
	plain := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	guarded := *plain
	guarded.Control = (&netguard.Policy{AllowPrivate: allowPrivate}).Control
	// proxies holds the host:port of every proxy HTTP(S)_PROXY named so far.
	// The operator chose them, not a channel, so they are dialled without the
	// guard (a proxy on a private address must keep working with
	// AllowPrivateUpstreams off).
	var proxies sync.Map
	t := &http.Transport{
		Proxy: func(req *http.Request) (*url.URL, error) {
			// A channel's proxy is an admin's choice, like its base_url:
			// it is dialled through the guard. HTTP(S)_PROXY is the
			// operator's and is trusted (below).
			if u, err := channelProxy(req); u != nil || err != nil {
				return u, err
			}
			u, err := http.ProxyFromEnvironment(req)
			if u == nil || err != nil {
				return u, err
			}
			// Through a proxy the dialler sees only the proxy: a literal IP
			// upstream is checked here; a host name is resolved by the
			// proxy, whose own egress rules then apply.
			if ip, ok := netguard.LiteralIP(req.URL.Hostname()); ok {
				if err := netguard.Check(ip, allowPrivate()); err != nil {
					return nil, err
				}
			}
			proxies.Store(proxyAddr(u), true)
			return u, nil
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, ok := proxies.Load(addr); ok {
				return plain.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
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

// send makes one upstream call on the client's transport, as a reverse
// proxy does. http.Client adds nothing the relay uses (redirects are
// refused, there is no cookie jar or client timeout: contexts bound the
// call) but copies every request's headers for a redirect that never
// comes, and wraps errors in a *url.Error quoting the URL, which can carry
// a credential in its query.
func (e *Engine) send(req *http.Request) (*http.Response, error) {
	rt := e.Client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(req)
}

type proxyKey struct{}

// withChannelProxy routes the calls made with ctx through a channel's own
// proxy (its setting.proxy), on the one shared transport: connection
// pools are keyed by proxy, so channels never share a connection across
// proxies.
func withChannelProxy(ctx context.Context, proxy string) context.Context {
	if proxy == "" {
		return ctx
	}
	return context.WithValue(ctx, proxyKey{}, proxy)
}

// parsedProxies caches proxy URLs parsed from channel settings.
var parsedProxies sync.Map

func channelProxy(req *http.Request) (*url.URL, error) {
	raw, _ := req.Context().Value(proxyKey{}).(string)
	if raw == "" {
		return nil, nil
	}
	if u, ok := parsedProxies.Load(raw); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	parsedProxies.Store(raw, u)
	return u, nil
}

// proxyAddr is the host:port the transport dials for proxy u (its default
// port by scheme, as net/http fills it in).
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
