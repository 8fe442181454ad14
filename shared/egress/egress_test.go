package egress

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// specialPurpose is IANA's IPv4 and IPv6 Special-Purpose Address Registries,
// written out here independently of the table the package uses, plus the
// ranges no registry lists but no public host lives in (multicast,
// deprecated site-local and IPv4-compatible addresses). Every address in
// them is refused, the globally reachable anycast entries included: no
// symbol server or webhook lives there.
var specialPurpose = []struct {
	prefix   string
	name     string
	loopback bool   // allowed in local mode
	inside   string // an inside address, where the middle one will not do
}{
	{"0.0.0.0/8", "this network", false, ""},
	{"0.0.0.0/32", "this host on this network", false, ""},
	{"10.0.0.0/8", "private-use", false, ""},
	{"100.64.0.0/10", "shared address space", false, ""},
	{"127.0.0.0/8", "loopback", true, ""},
	{"169.254.0.0/16", "link local", false, ""},
	{"172.16.0.0/12", "private-use", false, ""},
	{"192.0.0.0/24", "IETF protocol assignments", false, ""},
	{"192.0.0.0/29", "IPv4 service continuity prefix", false, ""},
	{"192.0.0.8/32", "IPv4 dummy address", false, ""},
	{"192.0.0.9/32", "port control protocol anycast", false, ""},
	{"192.0.0.10/32", "TURN anycast", false, ""},
	{"192.0.0.170/32", "NAT64/DNS64 discovery", false, ""},
	{"192.0.0.171/32", "NAT64/DNS64 discovery", false, ""},
	{"192.0.2.0/24", "documentation (TEST-NET-1)", false, ""},
	{"192.31.196.0/24", "AS112-v4", false, ""},
	{"192.52.193.0/24", "AMT", false, ""},
	{"192.88.99.0/24", "deprecated 6to4 relay anycast", false, ""},
	{"192.168.0.0/16", "private-use", false, ""},
	{"192.175.48.0/24", "direct delegation AS112 service", false, ""},
	{"198.18.0.0/15", "benchmarking", false, ""},
	{"198.51.100.0/24", "documentation (TEST-NET-2)", false, ""},
	{"203.0.113.0/24", "documentation (TEST-NET-3)", false, ""},
	{"224.0.0.0/4", "multicast", false, ""},
	{"240.0.0.0/4", "reserved", false, ""},
	{"255.255.255.255/32", "limited broadcast", false, ""},

	{"::1/128", "loopback", true, ""},
	{"::/128", "unspecified", false, ""},
	{"::/96", "IPv4-compatible (deprecated)", false, ""},
	// IPv4-mapped addresses are the IPv4 address they carry: first
	// (0.0.0.0), last (255.255.255.255) and a private one are refused.
	{"::ffff:0:0/96", "IPv4-mapped", false, "::ffff:10.1.2.3"},
	{"64:ff9b:1::/48", "IPv4-IPv6 translation, local use", false, ""},
	{"100::/64", "discard-only", false, ""},
	{"100:0:0:1::/64", "dummy IPv6 prefix", false, ""},
	{"2001::/23", "IETF protocol assignments", false, ""},
	{"2001::/32", "Teredo", false, ""},
	{"2001:1::1/128", "port control protocol anycast", false, ""},
	{"2001:1::2/128", "TURN anycast", false, ""},
	{"2001:1::3/128", "DNS-SD service registration protocol anycast", false, ""},
	{"2001:2::/48", "benchmarking", false, ""},
	{"2001:3::/32", "AMT", false, ""},
	{"2001:4:112::/48", "AS112-v6", false, ""},
	{"2001:10::/28", "deprecated ORCHID", false, ""},
	{"2001:20::/28", "ORCHIDv2", false, ""},
	{"2001:30::/28", "drone remote ID", false, ""},
	{"2001:db8::/32", "documentation", false, ""},
	{"2002::/16", "6to4", false, ""},
	{"2620:4f:8000::/48", "direct delegation AS112 service", false, ""},
	{"3fff::/20", "documentation", false, ""},
	{"5f00::/16", "segment routing SIDs", false, ""},
	{"fc00::/7", "unique-local", false, ""},
	{"fe80::/10", "link-local unicast", false, ""},
	{"fec0::/10", "site-local (deprecated)", false, ""},
	{"ff00::/8", "multicast", false, ""},
}

// firstInsideLast returns the first, an inside and the last address of p:
// inside if given, else one in the middle.
func firstInsideLast(t *testing.T, p netip.Prefix, inside string) []netip.Addr {
	t.Helper()
	bits := p.Addr().BitLen()
	host := uint(bits - p.Bits())
	base := new(big.Int).SetBytes(p.Masked().Addr().AsSlice())
	size := new(big.Int).Lsh(big.NewInt(1), host)
	last := new(big.Int).Add(base, new(big.Int).Sub(size, big.NewInt(1)))
	mid := new(big.Int).Add(base, new(big.Int).Rsh(size, 1))
	if host >= 2 {
		mid.Add(mid, big.NewInt(1)) // not a round number
	}
	if inside != "" {
		mid.SetBytes(netip.MustParseAddr(inside).AsSlice())
	}
	var out []netip.Addr
	for _, n := range []*big.Int{base, mid, last} {
		b := n.FillBytes(make([]byte, bits/8))
		a, ok := netip.AddrFromSlice(b)
		if !ok || !p.Contains(a) {
			t.Fatalf("address %x is not in %s", b, p)
		}
		out = append(out, a)
	}
	return out
}

func TestSpecialPurposeRangesRefused(t *testing.T) {
	for _, r := range specialPurpose {
		p := netip.MustParsePrefix(r.prefix)
		for _, addr := range firstInsideLast(t, p, r.inside) {
			forms := []netip.Addr{addr}
			if addr.Is4() {
				forms = append(forms, netip.AddrFrom16(addr.As16())) // ::ffff:a.b.c.d
			}
			for _, a := range forms {
				t.Run(fmt.Sprintf("%s %s", r.prefix, a), func(t *testing.T) {
					ap := netip.AddrPortFrom(a, 443)
					err := Policy{}.Check(ap)
					var be *BlockedAddressError
					if !errors.As(err, &be) {
						t.Fatalf("%s (%s) allowed: err = %v", a, r.name, err)
					}
					if be.Addr.Addr() != a.Unmap() || be.Addr.Port() != 443 || be.Reason == "" {
						t.Errorf("error %+v: want the unmapped address, port and a reason", be)
					}
					if !strings.Contains(err.Error(), a.Unmap().String()) {
						t.Errorf("error %q does not name %s", err, a.Unmap())
					}
					err = Policy{AllowLoopback: true}.Check(ap)
					if r.loopback && err != nil {
						t.Errorf("local mode refused loopback %s: %v", a, err)
					}
					if !r.loopback && err == nil {
						t.Errorf("local mode allowed %s (%s)", a, r.name)
					}
				})
			}
		}
	}
}

func TestPublicAddressesAllowed(t *testing.T) {
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "93.184.216.34", "142.250.185.78",
		// Next to refused ranges.
		"9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
		"172.15.255.255", "172.32.0.0", "192.0.1.255", "192.0.3.0",
		"192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
		"223.255.255.255", "168.63.129.15", "168.63.129.17",
		"2606:4700:4700::1111", "2a00:1450:4001:82b::200e", "2001:4860:4860::8888",
		"2001:200::1", "2003::1", "2620:4f:7fff:ffff::1", "2620:4f:8001::1", "3fff:1000::1",
		// Forms that carry a public IPv4 address.
		"::ffff:8.8.8.8", "64:ff9b::808:808", "64:ff9b::1.1.1.1",
	} {
		t.Run(s, func(t *testing.T) {
			ap := netip.AddrPortFrom(netip.MustParseAddr(s), 443)
			if err := (Policy{}).Check(ap); err != nil {
				t.Errorf("public address refused: %v", err)
			}
			if err := (Policy{AllowLoopback: true}).Check(ap); err != nil {
				t.Errorf("public address refused in local mode: %v", err)
			}
		})
	}
}

// TestEmbeddedIPv4 checks the addresses that carry an IPv4 address: the
// carried address decides (6to4 is refused whole), and the error names it.
func TestEmbeddedIPv4(t *testing.T) {
	tests := []struct {
		addr   string
		reason string // "" when allowed
		local  bool   // checked in local mode
	}{
		{"::ffff:10.0.0.5", "private address (10.0.0.0/8)", false},
		{"::ffff:127.0.0.1", "loopback address (allowed only in local mode)", false},
		{"::ffff:192.0.2.1", "special-purpose address (192.0.2.0/24)", false},
		{"64:ff9b::a00:5", "NAT64 address (64:ff9b::/96) of 10.0.0.5, a private address", false},
		{"64:ff9b::7f00:1", "NAT64 address (64:ff9b::/96) of 127.0.0.1, a loopback address", false},
		{"64:ff9b::c000:201", "of 192.0.2.1, a special-purpose address (192.0.2.0/24)", false},
		{"64:ff9b::", "of 0.0.0.0", false},
		{"64:ff9b::ffff:ffff", "of 255.255.255.255", false},
		{"2002:a00:5::1", "6to4 address (2002::/16) of 10.0.0.5, a private address", false},
		{"2002:7f00:1::", "6to4 address (2002::/16) of 127.0.0.1, a loopback address", false},
		{"2002:808:808::1", "6to4 address (2002::/16) of 8.8.8.8; use the IPv4 address", false},
		{"::a00:5", "IPv4-compatible address (::/96, deprecated) of 10.0.0.5", false},
		{"::808:808", "IPv4-compatible address (::/96, deprecated) of 8.8.8.8", false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo address (2001::/32)", false},
		{"fec0::1", "site-local address (fec0::/10, deprecated)", false},
		{"64:ff9b:1::a00:5", "(outside global unicast 2000::/3)", false},
		{"fe80::1", "link-local address", false},
		{"fd12:3456::1", "private address", false},
		{"64:ff9b::808:808", "", false},
		{"::ffff:1.1.1.1", "", false},
		// Local mode: the IPv4-mapped loopback address is loopback, but a
		// translator's or relay's loopback is not this machine's.
		{"::ffff:127.0.0.1", "", true},
		{"64:ff9b::7f00:1", "NAT64 address (64:ff9b::/96) of 127.0.0.1, a loopback address", true},
		{"2002:7f00:1::", "6to4 address (2002::/16) of 127.0.0.1, a loopback address", true},
		{"::7f00:1", "IPv4-compatible address (::/96, deprecated) of 127.0.0.1", true},
		{"::ffff:169.254.169.254", "cloud metadata address", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := Policy{AllowLoopback: tt.local}.Check(netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 80))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want one containing %q", err, tt.reason)
			}
		})
	}
}

// TestMetadataRefusedWhateverAllowed: no option opens a metadata service,
// directly, IPv4-mapped or through NAT64/6to4.
func TestMetadataRefusedWhateverAllowed(t *testing.T) {
	for _, m := range metadataAddrs {
		forms := []netip.Addr{m.addr}
		if m.addr.Is4() {
			b := m.addr.As4()
			forms = append(forms,
				netip.AddrFrom16(m.addr.As16()),
				netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}),
				netip.AddrFrom16([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}),
			)
		}
		for _, a := range forms {
			t.Run(a.String(), func(t *testing.T) {
				ap := netip.AddrPortFrom(a, 80)
				policies := []Policy{
					{},
					{AllowLoopback: true},
					{AllowAddrPorts: []netip.AddrPort{ap, netip.AddrPortFrom(m.addr, 80)}},
					{AllowHosts: []string{a.String(), m.addr.String()}},
				}
				for _, p := range policies {
					err := p.Check(ap)
					if err == nil || !strings.Contains(err.Error(), "cloud metadata address") {
						t.Errorf("policy %+v: err = %v, want a cloud metadata refusal", p, err)
					}
					u := &url.URL{Scheme: "http", Host: net.JoinHostPort(a.String(), "80"), Path: "/latest/meta-data/"}
					if err := p.CheckURL(u); err == nil || !strings.Contains(err.Error(), "cloud metadata address") {
						t.Errorf("policy %+v: CheckURL(%s) = %v, want a cloud metadata refusal", p, u, err)
					}
				}
				if err := controlMetadata("tcp", ap.String(), nil); err == nil {
					t.Errorf("an allowed host's dial may reach %s", ap)
				}
			})
		}
	}
	// metadata.google.internal is 169.254.169.254: refused by address,
	// whatever name reaches it.
	if err := (Policy{AllowHosts: []string{"metadata.google.internal"}}).Check(netip.MustParseAddrPort("169.254.169.254:80")); err == nil {
		t.Error("169.254.169.254 allowed")
	}
}

func TestAllowAddrPorts(t *testing.T) {
	p := Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8081"), netip.MustParseAddrPort("10.1.2.3:443")}}
	for _, tt := range []struct {
		addr  string
		allow bool
	}{
		{"127.0.0.1:8081", true},
		{"[::ffff:127.0.0.1]:8081", true},
		{"127.0.0.1:8082", false},
		{"127.0.0.2:8081", false},
		{"10.1.2.3:443", true},
		{"10.1.2.3:80", false},
	} {
		err := p.Check(netip.MustParseAddrPort(tt.addr))
		if (err == nil) != tt.allow {
			t.Errorf("Check(%s) = %v, want allowed %v", tt.addr, err, tt.allow)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		policy Policy
		url    string
		want   string // "" when allowed
	}{
		{Policy{}, "https://symbols.example.com/x", ""},
		{Policy{}, "http://8.8.8.8/x", ""},
		{Policy{}, "http://10.0.0.1/x", "private address"},
		{Policy{}, "http://[::1]:8080/x", "loopback"},
		{Policy{}, "http://[fec0::1]/x", "site-local"},
		{Policy{}, "http://[::ffff:169.254.169.254]/x", "cloud metadata"},
		{Policy{}, "ftp://8.8.8.8/x", "only http and https"},
		{Policy{}, "file:///etc/passwd", "only http and https"},
		{Policy{}, "http://8.8.8.8:99999/x", "not a port number"},
		{Policy{AllowLoopback: true}, "http://127.0.0.1:9000/x", ""},
		{Policy{AllowLoopback: true}, "http://169.254.1.1/x", "link-local"},
		{Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:80")}}, "http://127.0.0.1/x", ""},
		{Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:80")}}, "https://127.0.0.1/x", "loopback"},
		{Policy{AllowHosts: []string{"10.0.0.1"}}, "http://10.0.0.1/x", ""},
		{Policy{AllowHosts: []string{"10.0.0.1:8080"}}, "http://10.0.0.1:8080/x", ""},
		{Policy{AllowHosts: []string{"10.0.0.1:8080"}}, "http://10.0.0.1:8081/x", "private address"},
		{Policy{AllowHosts: []string{"[fd00::5]"}}, "http://[fd00::5]/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.policy.CheckURL(u)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestControlRefusesOtherNetworks(t *testing.T) {
	for _, network := range []string{"udp", "udp4", "unix", "ip4:icmp"} {
		if err := (Policy{AllowLoopback: true}).Control(network, "127.0.0.1:53", nil); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("Control(%s) = %v, want a refusal", network, err)
		}
	}
	if err := (Policy{}).Control("tcp", "localhost:80", nil); err == nil {
		t.Error("Control accepted a host name: it must only ever see resolved addresses")
	}
}

// countingServer is a loopback HTTP server that counts the connections
// it accepts.
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) port() string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return port
}

// TestDialerChecksResolvedAddress: a host name is checked on the address
// it resolves to, just before connecting, so a refused address gets no
// connection at all.
func TestDialerChecksResolvedAddress(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byName := net.JoinHostPort("localhost", srv.port())

	d := &Dialer{Timeout: 10 * time.Second}
	_, err := d.DialContext(ctx, "tcp", byName)
	var be *BlockedAddressError
	if !errors.As(err, &be) || !be.Addr.Addr().IsLoopback() {
		t.Fatalf("dial %s = %v, want a *BlockedAddressError for the loopback address it resolves to", byName, err)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Fatalf("the refused server accepted %d connections", n)
	}

	for _, p := range []Policy{
		{AllowLoopback: true},
		{AllowHosts: []string{"LOCALHOST"}},
		{AllowHosts: []string{byName}},
	} {
		d := &Dialer{Policy: p, Timeout: 10 * time.Second}
		c, err := d.DialContext(ctx, "tcp", byName)
		if err != nil {
			t.Fatalf("policy %+v: %v", p, err)
		}
		c.Close()
	}
	d = &Dialer{Policy: Policy{AllowHosts: []string{"localhost:1"}}, Timeout: 10 * time.Second}
	if _, err := d.DialContext(ctx, "tcp", byName); !errors.As(err, &be) {
		t.Fatalf("a host allowed on another port connected: %v", err)
	}
}

// TestRedirectToRefusedAddress: a client built on NewTransport, with
// CheckURL on redirects, follows no redirect to a refused address, named or
// literal.
func TestRedirectToRefusedAddress(t *testing.T) {
	target := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "secret") }))
	for _, loc := range []string{
		"http://" + net.JoinHostPort("localhost", target.port()) + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"gopher://8.8.8.8/",
	} {
		t.Run(loc, func(t *testing.T) {
			first := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, loc, http.StatusFound)
			}))
			p := Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort(first.Listener.Addr().String())}}
			c := &http.Client{
				Transport: NewTransport(&Dialer{Policy: p, Timeout: 10 * time.Second}),
				CheckRedirect: func(req *http.Request, _ []*http.Request) error {
					return p.CheckURL(req.URL)
				},
				Timeout: 30 * time.Second,
			}
			resp, err := c.Get(first.URL)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("redirect to %s followed: %s", loc, resp.Status)
			}
			if first.conns.Load() != 1 || target.conns.Load() != 0 {
				t.Errorf("connections: first %d, target %d; want 1 and 0", first.conns.Load(), target.conns.Load())
			}
		})
	}
}
