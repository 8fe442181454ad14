package component

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/symflow/symflow/shared/egress"
)

// Defaults of SafeClient.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxRedirects     = 3
	DefaultMaxResponseBytes = 1 << 20
)

// AddressPolicy decides which resolved addresses a SafeClient may connect
// to: egress.Policy, the one guard for every outbound request a third party
// chooses. The zero value allows globally reachable unicast addresses only.
type AddressPolicy = egress.Policy

// BlockedAddressError is egress.BlockedAddressError: a connection refused
// because its resolved address is not allowed, however it was reached
// (directly, by a host name or by a redirect).
type BlockedAddressError = egress.BlockedAddressError

// ClientOptions configure SafeClient. Zero fields take the defaults.
type ClientOptions struct {
	Policy egress.Policy
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
// redirect's, goes through an egress.Dialer: opts.Policy is checked on the
// resolved IP just before connecting, which also defeats DNS rebinding, and
// a redirect to a refused IP literal or a scheme other than http(s) is
// refused before any connection. Proxies from the environment are ignored
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
	transport := egress.NewTransport(&egress.Dialer{Policy: opts.Policy, Timeout: opts.Timeout, KeepAlive: 30 * time.Second})
	transport.MaxIdleConns = 16
	transport.IdleConnTimeout = 60 * time.Second
	transport.TLSHandshakeTimeout = opts.Timeout
	transport.ResponseHeaderTimeout = opts.Timeout
	transport.MaxResponseHeaderBytes = 64 << 10
	maxRedirects := opts.MaxRedirects
	policy := opts.Policy
	return &http.Client{
		Transport: &limitTransport{next: transport, limit: opts.MaxResponseBytes},
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return &TooManyRedirectsError{Max: maxRedirects}
			}
			if err := policy.CheckURL(req.URL); err != nil {
				return err
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
