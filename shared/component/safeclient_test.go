package component

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAddressPolicyControl checks the policy SafeClient dials with (the
// egress package's, whose own tests cover every range) as its callers see it.
func TestAddressPolicyControl(t *testing.T) {
	allowed := netip.MustParseAddrPort("127.0.0.1:8081")
	tests := []struct {
		name    string
		policy  AddressPolicy
		network string
		address string
		reason  string // "" when allowed
	}{
		{name: "public v4", address: "93.184.216.34:443"},
		{name: "public v6", address: "[2606:2800:220:1:248:1893:25c8:1946]:443"},
		{name: "loopback", address: "127.0.0.1:80", reason: "loopback address (allowed only in local mode)"},
		{name: "loopback range", address: "127.1.2.3:80", reason: "loopback"},
		{name: "loopback v6", address: "[::1]:80", reason: "loopback"},
		{name: "v4-mapped loopback", address: "[::ffff:127.0.0.1]:80", reason: "loopback"},
		{name: "loopback allowed", policy: AddressPolicy{AllowLoopback: true}, address: "127.0.0.1:80"},
		{name: "loopback v6 allowed", policy: AddressPolicy{AllowLoopback: true}, address: "[::1]:80"},
		{name: "allowed addr port", policy: AddressPolicy{AllowAddrPorts: []netip.AddrPort{allowed}}, address: "127.0.0.1:8081"},
		{name: "allowed addr other port", policy: AddressPolicy{AllowAddrPorts: []netip.AddrPort{allowed}}, address: "127.0.0.1:8082", reason: "loopback"},
		{name: "metadata", address: "169.254.169.254:80", reason: "cloud metadata address"},
		{name: "metadata with loopback allowed", policy: AddressPolicy{AllowLoopback: true}, address: "169.254.169.254:80", reason: "cloud metadata address"},
		{name: "metadata even if listed", policy: AddressPolicy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("169.254.169.254:80")}}, address: "169.254.169.254:80", reason: "cloud metadata address"},
		{name: "metadata v6", address: "[fd00:ec2::254]:80", reason: "cloud metadata address"},
		{name: "10/8", address: "10.1.2.3:443", reason: "private address"},
		{name: "172.16/12", address: "172.20.0.1:443", reason: "private address"},
		{name: "192.168/16", address: "192.168.1.1:443", reason: "private address"},
		{name: "unique local v6", address: "[fd12:3456::1]:443", reason: "private address"},
		{name: "link-local v4", address: "169.254.1.1:80", reason: "link-local address"},
		{name: "link-local v6", address: "[fe80::1]:80", reason: "link-local address"},
		{name: "link-local v6 zone", address: "[fe80::1%eth0]:80", reason: "link-local address"},
		{name: "unspecified v4", address: "0.0.0.0:80", reason: "unspecified address"},
		{name: "unspecified v6", address: "[::]:80", reason: "unspecified address"},
		{name: "multicast", address: "224.0.0.1:80", reason: "multicast address"},
		{name: "multicast v6", address: "[ff02::1]:80", reason: "multicast address"},
		{name: "this network", address: "0.1.2.3:80", reason: "special-purpose address (0.0.0.0/8)"},
		{name: "carrier-grade NAT", address: "100.64.0.1:80", reason: "special-purpose address (100.64.0.0/10)"},
		{name: "broadcast", address: "255.255.255.255:80", reason: "special-purpose address (240.0.0.0/4)"},
		{name: "NAT64 of private", address: "[64:ff9b::a00:1]:80", reason: "NAT64 address (64:ff9b::/96) of 10.0.0.1, a private address"},
		{name: "IPv4-compatible v6", address: "[::7f00:1]:80", reason: "IPv4-compatible address (::/96, deprecated) of 127.0.0.1"},
		{name: "documentation", address: "192.0.2.10:80", reason: "special-purpose address (192.0.2.0/24)"},
		{name: "host name", address: "example.com:80", reason: "not an IP address and port"},
		{name: "unix socket", network: "unix", address: "/run/x.sock", reason: `network "unix" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network := tt.network
			if network == "" {
				network = "tcp"
			}
			err := tt.policy.Control(network, tt.address, nil)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Control(%s) = %v, want allowed", tt.address, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Control(%s) allowed, want refused: %s", tt.address, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "refusing to connect") {
				t.Errorf("Control(%s) = %q, want it to say %q", tt.address, err, tt.reason)
			}
		})
	}
}

func TestBlockedAddressErrorNamesAddress(t *testing.T) {
	err := AddressPolicy{}.Check(netip.MustParseAddrPort("[::ffff:10.0.0.5]:8080"))
	var blocked *BlockedAddressError
	if !errors.As(err, &blocked) {
		t.Fatalf("Check = %v, want *BlockedAddressError", err)
	}
	if blocked.Addr.String() != "10.0.0.5:8080" || blocked.Reason != "private address (10.0.0.0/8)" {
		t.Errorf("BlockedAddressError = %+v, want 10.0.0.5:8080, private address (10.0.0.0/8)", blocked)
	}
}

// countingServer is a server on 127.0.0.1 that counts the requests it gets.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func addrPort(t *testing.T, s *httptest.Server) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestSafeClientRefusesLoopback(t *testing.T) {
	s, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	_, err := SafeClient(ClientOptions{Timeout: 5 * time.Second}).Get(s.URL)
	var blocked *BlockedAddressError
	if !errors.As(err, &blocked) {
		t.Fatalf("Get(%s) = %v, want *BlockedAddressError", s.URL, err)
	}
	if !strings.Contains(err.Error(), "loopback address (allowed only in local mode)") {
		t.Errorf("error %q does not say why", err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("server got %d requests, want 0", got)
	}
}

func TestSafeClientRefusesLocalhostName(t *testing.T) {
	// The check is on the resolved address, whatever name led there.
	s, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	u := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	_, err := SafeClient(ClientOptions{Timeout: 5 * time.Second}).Get(u)
	var blocked *BlockedAddressError
	if !errors.As(err, &blocked) || !blocked.Addr.Addr().IsLoopback() {
		t.Fatalf("Get(%s) = %v, want a refused loopback address", u, err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("server got %d requests, want 0", got)
	}
}

func TestSafeClientAllowsLoopbackInLocalMode(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	resp, err := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second}).Get(s.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "ok" {
		t.Fatalf("body = %q, %v; want ok", b, err)
	}
}

func TestSafeClientRefusesRedirectToLoopback(t *testing.T) {
	// The target only the redirect points at: loopback, not allowed.
	target, targetHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "secret stuff") })
	// The first hop is allowed by its exact address, as one local app is.
	first, firstHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/latest/meta-data", http.StatusFound)
	})
	c := SafeClient(ClientOptions{
		Policy:  AddressPolicy{AllowAddrPorts: []netip.AddrPort{addrPort(t, first)}},
		Timeout: 5 * time.Second,
	})
	_, err := c.Get(first.URL)
	var blocked *BlockedAddressError
	if !errors.As(err, &blocked) {
		t.Fatalf("Get = %v, want *BlockedAddressError", err)
	}
	if blocked.Addr != addrPort(t, target) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error = %v, want the redirect target %s refused as loopback", err, addrPort(t, target))
	}
	if firstHits.Load() != 1 || targetHits.Load() != 0 {
		t.Errorf("hits first=%d target=%d, want 1 and 0", firstHits.Load(), targetHits.Load())
	}
}

// TestSafeClientRefusesRedirectBeforeConnecting: a redirect to a refused
// IP literal or another scheme is refused by CheckRedirect, whatever the
// policy allows for the first hop.
func TestSafeClientRefusesRedirectBeforeConnecting(t *testing.T) {
	for _, tt := range []struct{ location, want string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "cloud metadata address"},
		{"http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata address"},
		{"http://[::ffff:10.0.0.1]:8080/", "private address"},
		{"http://[2002:a9fe:a9fe::]/", "cloud metadata address"},
		{"file:///etc/passwd", "only http and https"},
	} {
		t.Run(tt.location, func(t *testing.T) {
			first, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", tt.location)
				w.WriteHeader(http.StatusFound)
			})
			c := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second})
			resp, err := c.Get(first.URL)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("redirect to %s followed", tt.location)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
			if hits.Load() != 1 {
				t.Errorf("first hop got %d requests, want 1", hits.Load())
			}
		})
	}
}

func TestSafeClientRedirects(t *testing.T) {
	var loop *httptest.Server
	loop, loopHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	})
	c := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second, MaxRedirects: 2})
	_, err := c.Get(loop.URL)
	var tooMany *TooManyRedirectsError
	if !errors.As(err, &tooMany) || tooMany.Max != 2 {
		t.Fatalf("Get = %v, want *TooManyRedirectsError after 2", err)
	}
	if got := loopHits.Load(); got != 3 {
		t.Errorf("server got %d requests, want 3 (first + 2 redirects)", got)
	}
}

func TestSafeClientDropsSignatureOnCrossHostRedirect(t *testing.T) {
	gotSignature := make(chan string, 2)
	other, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotSignature <- r.Header.Get(SignatureHeader)
	})
	var first *httptest.Server
	first, _ = countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			gotSignature <- r.Header.Get(SignatureHeader)
			http.Redirect(w, r, other.URL+"/other", http.StatusFound)
			return
		}
		http.Redirect(w, r, first.URL+"/same", http.StatusFound)
	})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, first.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(SignatureHeader, "abc")
	resp, err := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	if same, cross := <-gotSignature, <-gotSignature; same != "abc" || cross != "" {
		t.Errorf("signature on same host %q, other host %q; want abc and none", same, cross)
	}
}

func TestSafeClientResponseLimit(t *testing.T) {
	body := strings.Repeat("y", 100)
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
	for _, tt := range []struct {
		limit   int64
		wantErr bool
	}{{limit: 100}, {limit: 99, wantErr: true}, {limit: 1, wantErr: true}} {
		c := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second, MaxResponseBytes: tt.limit})
		resp, err := c.Get(s.URL)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tooLarge *ResponseTooLargeError
		if tt.wantErr {
			if !errors.As(err, &tooLarge) || tooLarge.Limit != tt.limit || int64(len(b)) != tt.limit {
				t.Errorf("limit %d: read %d bytes, err %v; want %d bytes and *ResponseTooLargeError", tt.limit, len(b), err, tt.limit)
			}
			// Reading on keeps failing.
			if _, err := resp.Body.Read(make([]byte, 10)); !errors.As(err, &tooLarge) {
				t.Errorf("limit %d: read after the limit = %v, want *ResponseTooLargeError", tt.limit, err)
			}
			continue
		}
		if err != nil || string(b) != body {
			t.Errorf("limit %d: read %d bytes, err %v; want the whole body", tt.limit, len(b), err)
		}
	}
}

func TestSafeClientTimeout(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	_, err := SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 100 * time.Millisecond}).Get(s.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Get = %v, want a timeout", err)
	}
}
