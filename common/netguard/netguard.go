// Package netguard is the gateway's egress policy for upstream calls: which IP addresses it may connect to on a
// channel's behalf. A channel's base_url is chosen by an admin, so without a policy anyone who can edit a channel
// (or steal an admin session) can make the gateway call the cloud metadata service and hand back the instance's
// credentials, or probe the private network behind it (server-side request forgery).
//
// The check runs where the connection is made (Policy.Control, installed as a net.Dialer's Control), on the
// address actually dialled after name resolution, so a hostname that resolves to a forbidden address — including
// one whose DNS answer changes between a check and the dial (DNS rebinding) — is refused too. CheckURL repeats the
// check at save time for base URLs that are literal IP addresses, so an admin gets a clear error at once.
//
// Three classes of destination:
//   - forbidden, always: link-local (where every cloud's metadata service lives), the known metadata addresses
//     outside link-local, unspecified, "this network" (0.0.0.0/8), multicast, broadcast and reserved ranges;
//   - private and loopback: allowed only while the caller says so (the AllowPrivateUpstreams option), because
//     local model servers such as Ollama and vLLM are legitimate upstreams;
//   - public: always allowed.
package netguard

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Class is what kind of destination an address is, as far as the policy cares.
type Class int

// Destination classes, from always allowed to always refused.
const (
	// Public is any globally routable address.
	Public Class = iota
	// Private is an address of a private network: RFC 1918, unique-local IPv6 (and the deprecated site-local),
	// and the carrier-grade NAT range 100.64.0.0/10.
	Private
	// Loopback is 127.0.0.0/8 and ::1: this machine.
	Loopback
	// Forbidden is never an upstream: link-local, cloud metadata, unspecified, multicast, broadcast, reserved.
	Forbidden
)

// String names the class the way error messages use it.
func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Private:
		return "private-network"
	case Loopback:
		return "loopback"
	default:
		return "link-local, metadata or reserved"
	}
}

// metadataAddrs are cloud metadata endpoints that are not link-local, so the prefix rules below would not catch
// them; each is refused even when private addresses are allowed.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud metadata (inside the CGNAT range)
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6 (inside the unique-local range)
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer: a public address every Azure VM can reach
}

var (
	forbiddenPrefixes = mustPrefixes(
		"0.0.0.0/8",      // "this network": 0.0.0.0 reaches the local host on Linux
		"169.254.0.0/16", // IPv4 link-local: AWS, GCP, Azure, Oracle, DigitalOcean metadata at 169.254.169.254
		"224.0.0.0/4",    // multicast
		"240.0.0.0/4",    // reserved, and the limited broadcast 255.255.255.255
		"::/128",         // unspecified
		"::/96",          // deprecated IPv4-compatible IPv6 (::a.b.c.d); ::1 is matched as loopback first
		"fe80::/10",      // IPv6 link-local
		"ff00::/8",       // IPv6 multicast
	)
	privatePrefixes = mustPrefixes(
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10", // carrier-grade NAT (RFC 6598): private networks of cloud providers and VPNs
		"fc00::/7",      // unique-local IPv6
		"fec0::/10",     // deprecated site-local IPv6, still routed by some networks
	)
	// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a
	// NAT64 gateway, so the embedded IPv4 address decides.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// Classify tells which class ip belongs to. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) and NAT64 addresses
// are classified by the IPv4 address they carry; an IPv6 zone is ignored. An invalid address is Forbidden.
func Classify(ip netip.Addr) Class {
	ip = ip.WithZone("").Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case !ip.IsValid() || metadataAddrs[ip]:
		return Forbidden
	case ip.IsLoopback():
		return Loopback
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return Forbidden
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return Private
		}
	}
	return Public
}

// ErrRefused is wrapped by every refusal, so a caller can tell a policy refusal from a network failure with
// errors.Is.
var ErrRefused = errors.New("refused by the upstream address policy")

// RefusedError says why a destination was refused. Its text names the class, not the address: the dialler's
// own error (net.OpError) already carries the address for the logs, and the relay never shows either to a client.
type RefusedError struct {
	Class Class
}

// Error explains the refusal and, for a class an option can allow, which option.
func (e *RefusedError) Error() string {
	msg := "connecting to a " + e.Class.String() + " address is " + ErrRefused.Error()
	if e.Class == Private || e.Class == Loopback {
		msg += " (the AllowPrivateUpstreams option is off)"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Check refuses ip unless it is public, or private or loopback while allowPrivate is true.
func Check(ip netip.Addr, allowPrivate bool) error {
	switch c := Classify(ip); c {
	case Public:
		return nil
	case Private, Loopback:
		if allowPrivate {
			return nil
		}
		return &RefusedError{Class: c}
	default:
		return &RefusedError{Class: c}
	}
}

// Policy applies Check to every connection a dialler makes.
type Policy struct {
	// AllowPrivate reports whether private and loopback destinations are allowed right now; it is read on every
	// dial, so an option change applies to the next connection. Nil means false.
	AllowPrivate func() bool
}

func (p *Policy) allowPrivate() bool { return p.AllowPrivate != nil && p.AllowPrivate() }

// Control is a net.Dialer Control function: it runs after name resolution, once for each address the dialler
// tries, before the connection is made, and refuses the addresses the policy forbids.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialler always passes a resolved ip:port; anything else is not something to connect to.
		return &RefusedError{Class: Forbidden}
	}
	return Check(ap.Addr(), p.allowPrivate())
}

// CheckURL is the save-time check of a base URL: when its host is a literal IP address, Check applies to it.
// A host name passes here and is checked when it is dialled, against what it resolves to then.
func CheckURL(rawURL string, allowPrivate bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ip, ok := LiteralIP(u.Hostname())
	if !ok {
		return nil
	}
	return Check(ip, allowPrivate)
}

// LiteralIP parses host as an IP address literal (with or without an IPv6 zone).
func LiteralIP(host string) (netip.Addr, bool) {
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

// compile-time check that Control has the net.Dialer signature.
var _ = net.Dialer{Control: (&Policy{}).Control}
