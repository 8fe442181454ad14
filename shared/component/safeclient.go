package component

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// Defaults of SafeClient.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxRedirects     = 3
	DefaultMaxResponseBytes = 1 << 20
)

// metadataAddrs are the cloud metadata services, refused whatever the
// options say: reaching them from a request an app controls would hand the
// app the function's credentials.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, …
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// reservedPrefixes are ranges that are neither private nor loopback in
// net/netip's sense but are no public internet host either.
var reservedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT, shared space
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
	netip.MustParsePrefix("192.0.2.0/24"),  // documentation
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: may embed a private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),     // 6to4: may embed a private IPv4
	netip.MustParsePrefix("100::/64"),      // discard-only
	netip.MustParsePrefix("2001::/32"),     // Teredo: may embed a private IPv4
	netip.MustParsePrefix("2001:db8::/32"), // documentation
}

// BlockedAddressError is returned when a request would connect to an
// address that apps must not make symflow reach: private networks,
// loopback, link-local, metadata services and the like. The address is the
// resolved one, so a host name that resolves to such an address is refused
// too, however it was reached (directly or by a redirect).
type BlockedAddressError struct {
	Addr   netip.AddrPort
	Reason string // e.g. "loopback address", "cloud metadata address"
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("refusing to connect to %s: %s", e.Addr, e.Reason)
}

// AddressPolicy decides which resolved addresses a SafeClient may connect to.
// The zero value allows public unicast addresses only.
type AddressPolicy struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1: local mode and tests, where
	// the apps run on this machine.
	AllowLoopback bool
	// AllowAddrPorts allows these exact addresses and ports whatever they
	// are (metadata services excepted): one local app rather than the whole
	// loopback range.
	AllowAddrPorts []netip.AddrPort
}

// Check returns a *BlockedAddressError when the policy refuses addr.
func (p AddressPolicy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().Unmap().WithZone("")
	reason := ""
	switch {
	case slices.Contains(metadataAddrs, ip):
		reason = "cloud metadata address"
	case slices.Contains(p.AllowAddrPorts, netip.AddrPortFrom(ip, addr.Port())):
		return nil
	case !ip.IsValid():
		reason = "invalid address"
	case ip.IsLoopback():
		if p.AllowLoopback {
			return nil
		}
		reason = "loopback address (allowed only in local mode)"
	case ip.IsUnspecified():
		reason = "unspecified address"
	case ip.IsPrivate():
		reason = "private address"
	case ip.IsLinkLocalUnicast():
		reason = "link-local address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsLinkLocalMulticast():
		reason = "multicast address"
	default:
		for _, pre := range reservedPrefixes {
			if pre.Contains(ip) {
				reason = "reserved address (" + pre.String() + ")"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &BlockedAddressError{Addr: netip.AddrPortFrom(ip, addr.Port()), Reason: reason}
}

// Control is a net.Dialer Control function: it runs after the address is
// resolved and the socket created but before connecting, so a refused
// address is never sent a packet.
func (p AddressPolicy) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("refusing to connect to %s: network %q is not allowed", address, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address and port: %w", address, err)
	}
	return p.Check(ap)
}

// ClientOptions configure SafeClient. Zero fields take the defaults.
type ClientOptions struct {
	Policy AddressPolicy
	// Timeout bounds a whole request, redirects and reading the body
	// included (DefaultTimeout).
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed (DefaultMaxRedirects);
	// negative follows none.
	MaxRedirects int
	// MaxResponseBytes bounds a response body (DefaultMaxResponseBytes);
	// reading past it fails with *ResponseTooLargeError.
	MaxResponseBytes int64
}

// ResponseTooLargeError is returned while reading a response body longer
// than the client's limit.
type ResponseTooLargeError struct {
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("response body exceeds %d bytes", e.Limit)
}

// TooManyRedirectsError is returned when a request is redirected more often
// than the client follows.
type TooManyRedirectsError struct {
	Max int
}

func (e *TooManyRedirectsError) Error() string {
	return fmt.Sprintf("stopped after %d redirects", e.Max)
}

// SafeClient returns an HTTP client for requests to URLs that third parties
// (sentry-app authors) control. Every connection, the first and each
// redirect's, is checked against opts.Policy on the resolved IP at dial time,
// which also defeats DNS rebinding; proxies from the environment are ignored
// since they would make the proxy, not the target, the checked address.
// The whole exchange is bounded in time, redirects and body size.
func SafeClient(opts ClientOptions) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.MaxRedirects < 0 {
		opts.MaxRedirects = 0
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	dialer := &net.Dialer{
		Timeout:   opts.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   opts.Policy.Control,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	maxRedirects := opts.MaxRedirects
	return &http.Client{
		Transport: &limitTransport{next: transport, limit: opts.MaxResponseBytes},
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return &TooManyRedirectsError{Max: maxRedirects}
			}
			// The signature of a GET is the same for every request of the
			// app: another host must not get it to replay.
			if req.URL.Host != via[0].URL.Host {
				req.Header.Del(SignatureHeader)
			}
			return nil
		},
	}
}

// limitTransport bounds every response body it hands out.
type limitTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = newLimitedBody(resp.Body, t.limit)
	return resp, nil
}

// limitedBody reads at most limit bytes of its body and fails with
// *ResponseTooLargeError when there are more.
type limitedBody struct {
	rc    io.ReadCloser
	r     io.Reader
	limit int64
	n     int64
}

func newLimitedBody(rc io.ReadCloser, limit int64) io.ReadCloser {
	// One byte past the limit tells "exactly limit" from "more".
	return &limitedBody{rc: rc, r: io.LimitReader(rc, limit+1), limit: limit}
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, &ResponseTooLargeError{Limit: b.limit}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		// Hand out the bytes up to the limit, never the one past it.
		return n - int(b.n-b.limit), &ResponseTooLargeError{Limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// readLimited reads all of r, failing with *ResponseTooLargeError past limit.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &ResponseTooLargeError{Limit: limit}
	}
	return b, nil
}
