// Package egress decides where symflow may connect when someone else chose
// the URL: a sentry-app's webhook and select-options endpoints, a project's
// custom symbol sources. Such a URL must never reach the network symflow
// runs in (private ranges, loopback, link-local) and above all never the
// cloud metadata services, which hand out the function's credentials.
//
// The refused ranges are IANA's special-purpose address registries as
// maintained by code.dny.dev/ssrf (every IPv4 special-purpose range, every
// IPv6 address outside global unicast 2000::/3 and the special-purpose
// ranges inside it), plus the cloud metadata addresses, which are refused
// whatever a Policy allows. Addresses that carry an IPv4 address are judged
// by it: an IPv4-mapped address (::ffff:0:0/96) is that IPv4 address on the
// wire, and a NAT64 address (64:ff9b::/96) reaches it through a translator.
//
// The check runs on the resolved address, just before the socket connects
// (net.Dialer.Control): a host name that resolves, or is rebound, to a
// refused address is refused, and so is every redirect's target, since
// each connection goes through the same dialer.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// metadataAddrs are the cloud metadata and credential services. They are
// refused whatever a Policy allows: reaching one from a request a third
// party controls would hand it the credentials of the function or host.
// Most also lie in a refused range; listing them keeps them refused when a
// caller allows an address, a host or loopback, and names them in errors.
var metadataAddrs = []struct {
	addr netip.Addr
	what string
}{
	{netip.MustParseAddr("169.254.169.254"), "instance metadata (AWS, GCP's metadata.google.internal, Azure, OpenStack, DigitalOcean, Oracle)"},
	{netip.MustParseAddr("169.254.170.2"), "AWS ECS task metadata and credentials"},
	{netip.MustParseAddr("169.254.170.23"), "AWS EKS Pod Identity credentials"},
	{netip.MustParseAddr("fd00:ec2::254"), "AWS instance metadata over IPv6"},
	{netip.MustParseAddr("fd00:ec2::23"), "AWS EKS Pod Identity credentials over IPv6"},
	{netip.MustParseAddr("fd20:ce::254"), "GCP metadata over IPv6"},
	{netip.MustParseAddr("100.100.100.200"), "Alibaba Cloud metadata"},
	{netip.MustParseAddr("169.254.0.23"), "Tencent Cloud metadata"},
	{netip.MustParseAddr("192.0.0.192"), "Oracle Cloud metadata (legacy address)"},
	// A public address, so no range covers it: Azure's host endpoint.
	{netip.MustParseAddr("168.63.129.16"), "Azure WireServer"},
}

// Address ranges the package treats specially; the refused ranges
// themselves come from code.dny.dev/ssrf.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: embeds an IPv4 address
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: embeds an IPv4 address
	v4compat  = netip.MustParsePrefix("::/96")        // RFC 4291 §2.5.5.1, deprecated
	teredo    = netip.MustParsePrefix("2001::/32")    // RFC 4380
	siteLocal = netip.MustParsePrefix("fec0::/10")    // RFC 3879, deprecated
)

// Policy decides which addresses an outbound connection may reach. The zero
// value allows globally reachable unicast addresses only.
type Policy struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (local mode and tests,
	// where sources and apps run on this machine). It allows nothing
	// else: not link-local, not private ranges, not metadata services.
	AllowLoopback bool
	// AllowAddrPorts allows these exact addresses and ports, metadata
	// services excepted: one local server rather than all of loopback.
	AllowAddrPorts []netip.AddrPort
	// AllowHosts are host names or host:port pairs, as a URL spells them
	// (case-insensitive), that may connect to any address but a metadata
	// service: an operator's own symbol server on a private network. Only a
	// Dialer and CheckURL see host names; Check sees addresses alone.
	AllowHosts []string
}

// BlockedAddressError is returned when a connection would reach an address
// the policy refuses. Addr is the resolved address, so a host name that
// resolves to such an address is refused too.
type BlockedAddressError struct {
	Addr   netip.AddrPort
	Reason string // e.g. "loopback address (127.0.0.0/8)"
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("refusing to connect to reserved address %s: %s", e.Addr, e.Reason)
}

// Check returns a *BlockedAddressError when p refuses addr.
func (p Policy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap() // the same address on the wire
	}
	ap := netip.AddrPortFrom(ip, addr.Port())
	if r := metadataReason(ip); r != "" {
		return &BlockedAddressError{Addr: ap, Reason: r}
	}
	for _, a := range p.AllowAddrPorts {
		if a.Addr().Unmap().WithZone("") == ip && a.Port() == ap.Port() {
			return nil
		}
	}
	if ip.IsLoopback() && p.AllowLoopback {
		return nil
	}
	if ip.IsLoopback() {
		return &BlockedAddressError{Addr: ap, Reason: "loopback address (allowed only in local mode)"}
	}
	if r := reservedReason(ip); r != "" {
		return &BlockedAddressError{Addr: ap, Reason: r}
	}
	return nil
}

// Control is a net.Dialer Control function: it runs once the address is
// resolved and the socket made, before it connects, so a refused address
// is never sent a packet. Only TCP is allowed.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if err := checkNetwork(network, address); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address and port: %w", address, err)
	}
	return p.Check(ap)
}

// controlMetadata is the Control function for allowed hosts: only the
// metadata services stay refused.
func controlMetadata(network, address string, _ syscall.RawConn) error {
	if err := checkNetwork(network, address); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address and port: %w", address, err)
	}
	ip := ap.Addr().Unmap().WithZone("")
	if r := metadataReason(ip); r != "" {
		return &BlockedAddressError{Addr: netip.AddrPortFrom(ip, ap.Port()), Reason: r}
	}
	return nil
}

func checkNetwork(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("refusing to connect to %s: network %q is not allowed", address, network)
}

// allowsHost reports whether hostport ("host:port", as a URL spells it) or
// its host is in AllowHosts.
func (p Policy) allowsHost(hostport string) bool {
	if len(p.AllowHosts) == 0 {
		return false
	}
	host := strings.Trim(hostport, "[]") // a URL's host without a port
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return slices.ContainsFunc(p.AllowHosts, func(a string) bool {
		return strings.EqualFold(a, hostport) || strings.EqualFold(strings.Trim(a, "[]"), host)
	})
}

// CheckURL refuses a URL that cannot be fetched under p without
// connecting: a scheme other than http and https, or a host that is an IP
// address p refuses. Host names are checked when they are dialled. Use it
// on redirects, whose target the remote side chose.
func (p Policy) CheckURL(u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("refusing to fetch %s URL: only http and https are allowed", u.Scheme)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil // a name: checked on its resolved address when dialled
	}
	port := uint16(80)
	if u.Scheme == "https" {
		port = 443
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			return fmt.Errorf("refusing to fetch URL: port %q is not a port number", ps)
		}
		port = uint16(n)
	}
	ap := netip.AddrPortFrom(ip, port)
	if p.allowsHost(u.Host) {
		if r := metadataReason(ip.Unmap().WithZone("")); r != "" {
			return &BlockedAddressError{Addr: ap, Reason: r}
		}
		return nil
	}
	return p.Check(ap)
}

// Dialer connects only where its Policy allows.
type Dialer struct {
	Policy Policy
	// Timeout bounds one connection attempt, as net.Dialer's does.
	Timeout time.Duration
	// KeepAlive is net.Dialer's KeepAlive.
	KeepAlive time.Duration
}

// DialContext resolves address and connects to the first resolved address
// the policy allows, checking each one just before connecting. A host in
// Policy.AllowHosts may reach any address but a metadata service.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	control := d.Policy.Control
	if d.Policy.allowsHost(address) {
		control = controlMetadata
	}
	nd := net.Dialer{Timeout: d.Timeout, KeepAlive: d.KeepAlive, Control: control}
	return nd.DialContext(ctx, network, address)
}

// NewTransport returns an HTTP transport (http.DefaultTransport's settings)
// whose every connection goes through d. Proxies from the environment are
// ignored: through a proxy, the proxy and not the target would be the
// checked address.
func NewTransport(d *Dialer) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	tr.DialTLSContext = nil
	return tr
}

// metadataReason names the metadata service at ip, or any address that
// reaches one through an embedded IPv4 address; "" for none.
func metadataReason(ip netip.Addr) string {
	candidates := []netip.Addr{ip}
	if v4, ok := embeddedIPv4(ip); ok {
		candidates = append(candidates, v4)
	}
	for _, c := range candidates {
		for _, m := range metadataAddrs {
			if m.addr == c {
				return "cloud metadata address: " + m.what
			}
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address inside a NAT64, 6to4 or
// IPv4-compatible address.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() || ip.Is4In6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), v4compat.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// reservedReason says why ip is no public internet host, "" when it is one.
// ip is never IPv4-mapped (Check unmaps it).
func reservedReason(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.Is4():
		return reserved4(ip)
	case nat64.Contains(ip):
		// Globally reachable through a translator: as safe as the IPv4
		// address it stands for, and IPv6-only networks (DNS64) reach
		// IPv4-only hosts this way.
		v4, _ := embeddedIPv4(ip)
		if r := reserved4(v4); r != "" {
			return fmt.Sprintf("NAT64 address (%s) of %s, a %s", nat64, v4, r)
		}
		return ""
	case sixToFour.Contains(ip):
		// Refused whole (IANA lists 6to4 as not globally reachable; its
		// relays are deprecated, RFC 7526); naming the IPv4 address it
		// carries tells the operator what it pointed at.
		v4, _ := embeddedIPv4(ip)
		if r := reserved4(v4); r != "" {
			return fmt.Sprintf("6to4 address (%s) of %s, a %s", sixToFour, v4, r)
		}
		return fmt.Sprintf("6to4 address (%s) of %s; use the IPv4 address", sixToFour, v4)
	case v4compat.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified():
		v4, _ := embeddedIPv4(ip)
		return fmt.Sprintf("IPv4-compatible address (%s, deprecated) of %s", v4compat, v4)
	case teredo.Contains(ip):
		return fmt.Sprintf("Teredo address (%s)", teredo)
	}
	return reserved6(ip)
}

func reserved4(ip netip.Addr) string {
	for _, pre := range ssrf.IPv4DeniedPrefixes {
		if pre.Contains(ip) {
			return kind(ip) + " (" + pre.String() + ")"
		}
	}
	return ""
}

func reserved6(ip netip.Addr) string {
	if !ssrf.IPv6GlobalUnicast.Contains(ip) {
		switch {
		case ip.IsLoopback():
			return "loopback address (::1)"
		case ip.IsUnspecified():
			return "unspecified address (::)"
		case siteLocal.Contains(ip):
			return fmt.Sprintf("site-local address (%s, deprecated)", siteLocal)
		}
		return kind(ip) + " (outside global unicast " + ssrf.IPv6GlobalUnicast.String() + ")"
	}
	for _, pre := range ssrf.IPv6DeniedPrefixes {
		if pre.Contains(ip) {
			return kind(ip) + " (" + pre.String() + ")"
		}
	}
	return ""
}

// kind names the sort of a refused address for an error message.
func kind(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate():
		return "private address"
	case ip.IsLinkLocalUnicast():
		return "link-local address"
	case ip.IsMulticast():
		return "multicast address"
	case ip.IsUnspecified():
		return "unspecified address"
	}
	return "special-purpose address"
}
