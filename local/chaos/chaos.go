// Package chaos is a fault-injecting reverse proxy for the Symbolicator
// HTTP API. Put it in front of the embedded Symbolicator or a real one and
// it answers a seeded share of requests the way a troubled service does: it
// forgets tasks (a poll answered 404, as after a restart), answers 502/503
// in bursts, resets connections, holds answers beyond the client's timeout,
// sends truncated or non-JSON bodies, or ends tasks failed, timeout or
// internal_error. Every injected fault is counted, so a test or a load run
// can tell what the workflow met and how it recovered.
//
// Faults apply to submissions (POST /symbolicate, /minidump,
// /applecrashreport) and polls (GET /requests/{id}); anything else (the
// healthcheck) passes through untouched.
package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/symflow/symflow/local/httpserver"
)

// Fault is one kind of misbehaviour.
type Fault string

// The faults the proxy injects. None passes the request through.
const (
	None Fault = ""
	// Lost forgets the task: a submission is answered pending with a
	// request id the service then does not know (accepted, then restarted),
	// and a poll is answered 404.
	Lost Fault = "lost"
	// Unavailable answers 503 or 502, and in Mix mode keeps doing so for a
	// burst of consecutive requests.
	Unavailable Fault = "unavailable"
	// Reset closes the connection without an answer (a TCP reset).
	Reset Fault = "reset"
	// Slow holds the request past the client's timeout (Config.SlowDelay,
	// or until the client gives up) and then drops it.
	Slow Fault = "slow"
	// Truncated sends the first half of the service's JSON answer as a
	// complete 200 response.
	Truncated Fault = "truncated"
	// Cut promises the whole answer (its Content-Length) and closes the
	// connection halfway through the body.
	Cut Fault = "cut"
	// NonJSON answers 200 with an HTML error page.
	NonJSON Fault = "nonjson"
	// Pending holds a submission's finished answer back: the client gets
	// pending and a request id, and its first poll gets the answer. It
	// makes polls happen against a service that answers at once.
	Pending Fault = "pending"
	// Failed, Timeout and InternalError end the task with that status.
	Failed        Fault = "failed"
	Timeout       Fault = "timeout"
	InternalError Fault = "internal_error"
	// ServerError answers HTTP 500, which the client takes as a failed
	// task (as the reference does).
	ServerError Fault = "server_error"
)

// Faults lists every fault, in the order reports show them.
var Faults = []Fault{Lost, Unavailable, Reset, Slow, Truncated, Cut, NonJSON, Pending, Failed, Timeout, InternalError, ServerError}

// String is the fault's name, "none" for None.
func (f Fault) String() string {
	if f == None {
		return "none"
	}
	return string(f)
}

// Recoverable are the faults the workflow recovers from: an execution
// meeting only these (a few times) must succeed. The others end it with
// a named error.
var Recoverable = []Fault{Lost, Unavailable, Reset, Slow, Cut, Pending}

// ParseFault returns the fault a name denotes ("none" or "" is None).
func ParseFault(s string) (Fault, error) {
	if s == "" || s == "none" {
		return None, nil
	}
	if f := Fault(s); slices.Contains(Faults, f) {
		return f, nil
	}
	return None, fmt.Errorf("unknown fault %q (known: %s)", s, faultNames())
}

func faultNames() string {
	names := make([]string, len(Faults))
	for i, f := range Faults {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Mix is the probability of each fault per request; the rest pass through.
type Mix map[Fault]float64

// ParseMix reads "lost=0.05,unavailable=0.05": fault names with their
// probabilities, which must add up to at most 1.
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix entry %q: want FAULT=PROBABILITY", part)
		}
		f, err := ParseFault(name)
		if err != nil || f == None {
			return nil, fmt.Errorf("mix entry %q: unknown fault %q (known: %s)", part, name, faultNames())
		}
		p, err := strconv.ParseFloat(val, 64)
		if err != nil || p < 0 || p > 1 {
			return nil, fmt.Errorf("mix entry %q: probability %q is not a number from 0 to 1", part, val)
		}
		m[f] += p
	}
	return m, m.Validate()
}

// Validate reports a mix whose probabilities are out of range.
func (m Mix) Validate() error {
	sum := 0.0
	for f, p := range m {
		if !slices.Contains(Faults, f) {
			return fmt.Errorf("mix: unknown fault %q", f)
		}
		if p < 0 || p > 1 {
			return fmt.Errorf("mix: %s probability %v is not from 0 to 1", f, p)
		}
		sum += p
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("mix: probabilities add up to %.3f, more than 1", sum)
	}
	return nil
}

// String writes the mix as ParseMix reads it, faults in a fixed order.
func (m Mix) String() string {
	var parts []string
	for _, f := range Faults {
		if p := m[f]; p > 0 {
			parts = append(parts, f.String()+"="+strconv.FormatFloat(p, 'g', 4, 64))
		}
	}
	return strings.Join(parts, ",")
}

// UniformMix spreads rate evenly over faults.
func UniformMix(rate float64, faults ...Fault) Mix {
	m := Mix{}
	for _, f := range faults {
		m[f] += rate / float64(len(faults))
	}
	return m
}

// Config configures a Proxy.
type Config struct {
	// Target is the Symbolicator base URL requests are forwarded to.
	Target string
	// Mix draws a fault for each request after Script is used up.
	Mix Mix
	// Script gives the faults of the first requests in order (None passes
	// one through); then Mix applies. Tests use it for exact sequences.
	Script []Fault
	// Seed makes the Mix's draws repeatable.
	Seed uint64
	// Burst is how many consecutive requests an Unavailable fault drawn
	// from the Mix answers 502/503 (the first included); 0 means 2.
	Burst int
	// SlowDelay is how long a Slow fault holds a request unless the client
	// gives up first; 0 means 30 s. Make it longer than the client's
	// timeout.
	SlowDelay time.Duration
	// Client forwards requests; nil means a client of its own.
	Client *http.Client
	// Records bounds how many requests Requests keeps (the first ones), so
	// a long-running proxy does not grow; 0 means 100,000. Counts and
	// Total count every request.
	Records int
}

// maxRemembered bounds the request ids the proxy remembers as lost or
// holds answers for; past it the oldest are forgotten all at once.
const maxRemembered = 100_000

// Request is the proxy's record of one submission or poll.
type Request struct {
	Kind      string // "submit" or "poll"
	Path      string
	RequestID string // the polled id
	EventID   string // x-sentry-event-id
	WorkerID  string // x-sentry-worker-id
	Fault     Fault
}

// Proxy is an http.Handler forwarding to Config.Target with faults. It is
// safe for concurrent use.
type Proxy struct {
	cfg    Config
	target *url.URL
	hc     *http.Client

	mu       sync.Mutex
	rng      *mrand.Rand
	script   []Fault
	burst    int // requests still to answer unavailable
	counts   map[Fault]int
	total    int
	requests []Request
	forgot   map[string]bool            // request ids answered as lost
	held     map[string]json.RawMessage // Pending: answers held back by request id
}

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("chaos: target %q is not an http(s) URL", cfg.Target)
	}
	if err := cfg.Mix.Validate(); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 2
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = 30 * time.Second
	}
	if cfg.Records <= 0 {
		cfg.Records = 100_000
	}
	hc := cfg.Client
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		hc = &http.Client{Transport: tr}
	}
	return &Proxy{
		cfg:    cfg,
		target: u,
		hc:     hc,
		rng:    mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		script: slices.Clone(cfg.Script),
		counts: map[Fault]int{},
		forgot: map[string]bool{},
		held:   map[string]json.RawMessage{},
	}, nil
}

// Counts returns how often each fault was injected.
func (p *Proxy) Counts() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.counts))
	for f, n := range p.counts {
		out[f] = n
	}
	return out
}

// Total is the number of submissions and polls seen so far.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Requests returns the submissions and polls seen so far, in order (at
// most Config.Records of them, the first ones).
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// draw picks the fault for one request and records it.
func (p *Proxy) draw(r Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := None
	switch {
	case len(p.script) > 0:
		f, p.script = p.script[0], p.script[1:]
	case p.burst > 0:
		p.burst--
		f = Unavailable
	default:
		x := p.rng.Float64()
		for _, cand := range Faults {
			if x < p.cfg.Mix[cand] {
				f = cand
				break
			}
			x -= p.cfg.Mix[cand]
		}
		if f == Unavailable {
			p.burst = p.cfg.Burst - 1
		}
	}
	if f == Pending && r.Kind != "submit" {
		f = None // nothing to hold back on a poll
	}
	if f != None {
		p.counts[f]++
	}
	r.Fault = f
	p.total++
	if len(p.requests) < p.cfg.Records {
		p.requests = append(p.requests, r)
	}
	return f
}

// ServeHTTP answers one request, faulty or forwarded.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, EventID: r.Header.Get("X-Sentry-Event-Id"), WorkerID: r.Header.Get("X-Sentry-Worker-Id")}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/requests/"):
		rec.Kind = "poll"
		rec.RequestID = strings.TrimPrefix(r.URL.Path, "/requests/")
	case r.Method == http.MethodPost && (r.URL.Path == "/symbolicate" || r.URL.Path == "/minidump" || r.URL.Path == "/applecrashreport"):
		rec.Kind = "submit"
	default:
		p.forward(w, r)
		return
	}
	f := p.draw(rec)

	// Faults that answer before the service is asked.
	switch f {
	case Unavailable:
		drain(r)
		code, detail := http.StatusServiceUnavailable, "maximum number of concurrent requests reached"
		if p.Counts()[Unavailable]%2 == 0 {
			code, detail = http.StatusBadGateway, "upstream connect error or disconnect/reset before headers"
		}
		writeJSON(w, code, map[string]string{"detail": detail})
		return
	case Reset:
		drain(r)
		resetConn(w)
		return
	case Slow:
		t := time.NewTimer(p.cfg.SlowDelay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		resetConn(w) // whoever still waits gets no answer
		return
	case Lost:
		drain(r)
		if rec.Kind == "submit" {
			id := newRequestID()
			p.mu.Lock()
			p.rememberLost(id)
			p.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"status": "pending", "request_id": id, "retry_after": 30})
			return
		}
		p.forget(rec.RequestID)
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Task not found"})
		return
	case ServerError:
		drain(r)
		http.Error(w, "chaos: injected server error", http.StatusInternalServerError)
		return
	case Failed, Timeout, InternalError:
		drain(r)
		p.forget(rec.RequestID)
		body := map[string]string{"status": string(f)}
		switch f {
		case Failed:
			body["message"] = "chaos: injected failure"
		case InternalError:
			body["message"] = "chaos: injected internal error"
		}
		writeJSON(w, http.StatusOK, body)
		return
	}

	// The service's own answer, or one held back or forgotten here.
	code, header, body, ok := p.answer(w, r, rec)
	if !ok {
		return
	}
	if code == http.StatusOK {
		switch f {
		case Truncated:
			body = body[:len(body)/2]
			header.Set("Content-Type", "application/json")
		case NonJSON:
			body = []byte("<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>\n")
			header.Set("Content-Type", "text/html")
		case Pending:
			body = p.hold(body)
		}
	}
	header.Del("Content-Length")
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if f == Cut && len(body) > 1 {
		w.Write(body[:len(body)/2]) //nolint:errcheck // the client may be gone
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // net/http closes the connection quietly
	}
	if _, err := w.Write(body); err == nil && rec.Kind == "poll" {
		// Delivered: like Symbolicator, the proxy keeps a result until it
		// has been handed out, so a poll retried after a broken answer
		// gets it again.
		p.mu.Lock()
		delete(p.held, rec.RequestID)
		p.mu.Unlock()
	}
}

// answer is what the service says to r: a held-back answer, a 404 for a
// task this proxy lost, or the target's response. ok is false when an
// answer was already written (the target could not be reached).
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, rec Request) (code int, header http.Header, body []byte, ok bool) {
	if rec.Kind == "poll" {
		p.mu.Lock()
		held, isHeld := p.held[rec.RequestID]
		forgot := p.forgot[rec.RequestID]
		p.mu.Unlock()
		switch {
		case isHeld:
			return http.StatusOK, http.Header{"Content-Type": {"application/json"}}, held, true
		case forgot:
			return http.StatusNotFound, http.Header{"Content-Type": {"application/json"}}, []byte(`{"detail":"Task not found"}`), true
		}
	}
	resp, err := p.roundTrip(r)
	if err != nil {
		http.Error(w, "chaos: target unreachable: "+err.Error(), http.StatusBadGateway)
		return 0, nil, nil, false
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		resetConn(w)
		return 0, nil, nil, false
	}
	return resp.StatusCode, resp.Header.Clone(), body, true
}

// hold keeps a finished answer for the first poll and returns a pending
// one in its place; a pending answer passes as it is.
func (p *Proxy) hold(body []byte) []byte {
	var head struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &head) != nil || head.Status == "" || head.Status == "pending" {
		return body
	}
	id := newRequestID()
	p.mu.Lock()
	if len(p.held) >= maxRemembered {
		clear(p.held)
	}
	p.held[id] = bytes.Clone(body)
	p.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"status": "pending", "request_id": id, "retry_after": 1})
	return b
}

// forget drops what the proxy keeps for a request id and remembers it as
// lost, so later polls of it get 404 too.
func (p *Proxy) forget(id string) {
	if id == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.held, id)
	p.rememberLost(id)
}

// rememberLost notes id as lost; p.mu is held.
func (p *Proxy) rememberLost(id string) {
	if len(p.forgot) >= maxRemembered {
		clear(p.forgot)
	}
	p.forgot[id] = true
}

// roundTrip sends r to the target.
func (p *Proxy) roundTrip(r *http.Request) (*http.Response, error) {
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		return nil, err
	}
	out.ContentLength = r.ContentLength
	for k, vs := range r.Header {
		if k == "Connection" || k == "Keep-Alive" || k == "Te" || k == "Trailer" || k == "Transfer-Encoding" || k == "Upgrade" {
			continue
		}
		out.Header[k] = slices.Clone(vs)
	}
	return p.hc.Do(out)
}

// forward passes a request the proxy does not fault to the target.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	resp, err := p.roundTrip(r)
	if err != nil {
		http.Error(w, "chaos: target unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = slices.Clone(vs)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body) //nolint:errcheck // the client may be gone
}

func drain(r *http.Request) { io.Copy(io.Discard, io.LimitReader(r.Body, 256<<20)) } //nolint:errcheck

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b) //nolint:errcheck // the client may be gone
}

// resetConn closes the client's connection without an answer, with a TCP
// reset where the connection allows it.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection quietly
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) //nolint:errcheck // best effort: a FIN does as well
	}
	conn.Close()
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Server is a Proxy listening on a loopback port.
type Server struct {
	*Proxy
	// URL is the proxy's base URL, with a trailing slash.
	URL string
	srv *http.Server
}

// Listen starts a proxy for cfg on addr, which must be a loopback address
// ("127.0.0.1:0" picks a free port). Close stops it.
func Listen(cfg Config, addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("chaos: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("chaos: listen address %q: only loopback addresses are served", addr)
	}
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	s := &Server{Proxy: p, URL: "http://" + ln.Addr().String() + "/",
		srv: httpserver.New(p, httpserver.Timeouts{})}
	go s.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// Close stops the server at once, cutting requests held by Slow.
func (s *Server) Close() error { return s.srv.Close() }

// Shutdown stops the server once its requests are answered or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return s.srv.Close()
	}
	return err
}

// Report writes the injected faults, one per line, in Faults order.
func (p *Proxy) Report(w io.Writer) {
	counts := p.Counts()
	fmt.Fprintf(w, "requests %d\n", p.Total())
	for _, f := range Faults {
		if n := counts[f]; n > 0 {
			fmt.Fprintf(w, "%-15s %d\n", f, n)
		}
	}
}
