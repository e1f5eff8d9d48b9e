package vertex

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"sluice/common/netguard"
	"sluice/setting/operation_setting"
)

// Scope is the OAuth scope Vertex AI calls need.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// tokenTimeout bounds one token-endpoint exchange. The token fetch does not
// follow the request's context (the token outlives the request), so this
// is what bounds a request waiting on a slow endpoint.
const tokenTimeout = 15 * time.Second

// failureBackoff is how long a failed token fetch is remembered: the
// requests queued behind it fail at once instead of each waiting on the
// same broken endpoint or rejected key.
const failureBackoff = 5 * time.Second

// tokenEntry is one channel's token source. The key hash tells a rotated
// key apart, so an edited channel gets a fresh source.
type tokenEntry struct {
	sum [sha256.Size]byte
	// mu serialises fetches: concurrent requests wait for one exchange
	// rather than each making their own.
	mu       sync.Mutex
	src      oauth2.TokenSource // an oauth2.ReuseTokenSource: cached until expiry
	failedAt time.Time
	failErr  error
}

// tokens maps a channel id to its *tokenEntry. Entries are replaced, never
// deleted, so the map is bounded by the number of channels.
var tokens sync.Map

// accessToken returns a cached OAuth access token for the channel's
// service account, fetching one only when none is valid.
func accessToken(channelID int, sa *serviceAccount) (string, error) {
	e, err := entryFor(channelID, sa)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failErr != nil && time.Since(e.failedAt) < failureBackoff {
		return "", e.failErr
	}
	tok, err := e.src.Token()
	if err != nil {
		e.failedAt, e.failErr = time.Now(), fmt.Errorf("vertex: fetching an access token for %s: %w", sa.ClientEmail, err)
		return "", e.failErr
	}
	e.failErr = nil
	if tok.AccessToken == "" {
		return "", errors.New("vertex: the token endpoint returned an empty access token")
	}
	return tok.AccessToken, nil
}

func entryFor(channelID int, sa *serviceAccount) (*tokenEntry, error) {
	sum := sha256.Sum256(sa.raw)
	if v, ok := tokens.Load(channelID); ok && v.(*tokenEntry).sum == sum {
		return v.(*tokenEntry), nil
	}
	cfg, err := google.JWTConfigFromJSON(sa.raw, Scope)
	if err != nil {
		return nil, fmt.Errorf("vertex: reading the service-account key: %w", err)
	}
	// The token source keeps this context for every later refresh, so it
	// must not be a request's: it only carries the token client.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tokenClient)
	// jwt's source is already an oauth2.ReuseTokenSource (ReuseTokenSource
	// returns it as is): one exchange per token lifetime.
	e := &tokenEntry{sum: sum, src: oauth2.ReuseTokenSource(nil, cfg.TokenSource(ctx))}
	for {
		v, loaded := tokens.LoadOrStore(channelID, e)
		if !loaded {
			return e, nil
		}
		if cur := v.(*tokenEntry); cur.sum == sum {
			return cur, nil // a concurrent request got here first
		}
		// The channel's key was rotated: the old source goes.
		if tokens.CompareAndSwap(channelID, v, e) {
			return e, nil
		}
	}
}

// tokenClient talks to the service account's token_uri. The key's
// token_uri is an admin's input like a base URL, so its connections pass
// the same egress guard as the relay's upstream calls; proxies named by
// HTTP(S)_PROXY are the operator's and dialled without it, as in the
// relay's client. (A channel's own proxy setting does not apply to the
// token exchange.) Redirects are not followed: the signed assertion is not
// resent elsewhere.
var tokenClient = newTokenClient()

func newTokenClient() *http.Client {
	plain := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	guarded := *plain
	guarded.Control = (&netguard.Policy{AllowPrivate: func() bool { return operation_setting.Get().AllowPrivateUpstreams }}).Control
	var proxies sync.Map
	t := &http.Transport{
		Proxy: func(req *http.Request) (*url.URL, error) {
			u, err := http.ProxyFromEnvironment(req)
			if u != nil && err == nil {
				port := u.Port()
				if port == "" {
					port = map[string]string{"https": "443", "socks5": "1080"}[u.Scheme]
					if port == "" {
						port = "80"
					}
				}
				proxies.Store(net.JoinHostPort(u.Hostname(), port), true)
			}
			return u, err
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, ok := proxies.Load(addr); ok {
				return plain.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: t, Timeout: tokenTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
