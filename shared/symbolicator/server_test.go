package symbolicator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/metrics"
)

// part is one multipart part as the test server received it.
type part struct {
	name, filename, contentType string
	value                       string // form fields only
	size                        int64
	sha256                      string
}

// received is one request as the test server saw it.
type received struct {
	method, path, rawPath string
	query                 url.Values
	header                http.Header
	contentLength         int64
	contentType           string
	body                  []byte // JSON bodies
	parts                 []part // multipart bodies
	partsErr              error
}

// server is a Symbolicator stand-in on 127.0.0.1: a real HTTP server whose
// answers each test scripts. It records every request, reading multipart
// bodies part by part without holding a file in memory.
type server struct {
	t      testing.TB
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, n int)

	mu   sync.Mutex
	reqs []received
	// attempted signals each request's arrival, for tests that act while
	// a request is under way.
	attempted chan int
	stop      chan struct{}
}

func newServer(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{t: t, answer: answer, attempted: make(chan int, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.stop = make(chan struct{})
	t.Cleanup(func() { close(s.stop) }) // runs first: releases hanging handlers
	return s
}

// hang reads the request body, then answers nothing until the client goes
// away or the test ends. Reading the body first lets the server notice the
// client closing the connection.
func (s *server) hang(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-s.stop:
	}
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	rec := received{
		method: r.Method, path: r.URL.Path, rawPath: r.URL.EscapedPath(), query: r.URL.Query(),
		header: r.Header.Clone(), contentLength: r.ContentLength, contentType: r.Header.Get("Content-Type"),
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	n := len(s.reqs)
	s.mu.Unlock()
	select {
	case s.attempted <- n:
	default:
	}
	s.answer(w, r, n)
}

// readBody reads and records the request body: JSON as bytes, multipart
// part by part. Handlers call it before answering when the test wants it.
func (s *server) readBody(r *http.Request, n int) {
	var rec received
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		rec.parts, rec.partsErr = readParts(r)
	} else {
		rec.body, _ = io.ReadAll(r.Body)
	}
	s.mu.Lock()
	s.reqs[n-1].body = rec.body
	s.reqs[n-1].parts = rec.parts
	s.reqs[n-1].partsErr = rec.partsErr
	s.mu.Unlock()
}

func readParts(r *http.Request) ([]part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		got := part{name: p.FormName(), filename: p.FileName(), contentType: p.Header.Get("Content-Type")}
		if got.filename == "" {
			b, err := io.ReadAll(p)
			if err != nil {
				return parts, err
			}
			got.value = string(b)
			got.size = int64(len(b))
		} else {
			h := sha256.New()
			if got.size, err = io.Copy(h, p); err != nil {
				return parts, err
			}
			got.sha256 = hex.EncodeToString(h.Sum(nil))
		}
		parts = append(parts, got)
	}
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *server) url() string { return s.srv.URL + "/" }

// answerJSON writes a JSON answer.
func answerJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// dropConnection closes the connection without an answer, as a crashed or
// restarted service or a broken network does.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

const (
	completedBody = `{"status":"completed","stacktraces":[{"frames":[{"status":"symbolicated","original_index":0,"function":"main"}]}],"modules":[]}`
	pendingBody   = `{"status":"pending","request_id":"8c2f9e0a-1d5b-4a3e-9f7c-2b6d4e8a1c3f","retry_after":30}`
)

// lockedBuffer is a goroutine-safe buffer for logs and metrics.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines decodes the buffer's JSON lines.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// harness bundles a session with captured logs and EMF metrics.
type harness struct {
	sess    *Session
	logs    *lockedBuffer
	metrics *lockedBuffer
	workers *WorkerID
}

// tinyWaits keeps retry tests fast; tests count attempts, never time them.
var tinyWaits = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}

func newHarness(t *testing.T, s *server, mod func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		BaseURL:    s.url(),
		ProjectID:  "42",
		EventID:    "0123456789abcdef0123456789abcdef",
		RetryWaits: tinyWaits,
	}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{logs: &lockedBuffer{}, metrics: &lockedBuffer{}, workers: NewWorkerID(0, nil)}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.sess = NewSession(cfg, s.srv.Client(), h.workers, log, metrics.NewEMF(h.metrics, "symflow-test"))
	return h
}

// metric is one EMF line reduced to what the tests check.
type metric struct {
	name  string
	value float64
	unit  string
	dims  map[string]string
}

func (h *harness) recorded(t *testing.T) []metric {
	t.Helper()
	var out []metric
	for _, doc := range h.metrics.lines(t) {
		dir := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		def := dir["Metrics"].([]any)[0].(map[string]any)
		m := metric{name: def["Name"].(string), unit: def["Unit"].(string), dims: map[string]string{}}
		m.value = doc[m.name].(float64)
		for _, k := range dir["Dimensions"].([]any)[0].([]any) {
			m.dims[k.(string)] = doc[k.(string)].(string)
		}
		out = append(out, m)
	}
	return out
}

// find returns the recorded metrics of that name whose dims include want.
func find(ms []metric, name string, want map[string]string) []metric {
	var out []metric
next:
	for _, m := range ms {
		if m.name != name {
			continue
		}
		for k, v := range want {
			if m.dims[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// lazyReader produces n deterministic bytes on demand, so that a test can
// upload far more than it ever holds in memory.
type lazyReader struct {
	n, off int64
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.off >= l.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), l.n-l.off)]
	n := 0
	for n < len(p) {
		n += copy(p[n:], lazyPattern[(l.off+int64(n))%int64(len(lazyPattern)):])
	}
	l.off += int64(n)
	return n, nil
}

// lazyPattern repeats with a prime period, so a dropped, repeated or
// reordered buffer of any power-of-two size changes the checksum.
var lazyPattern = func() []byte {
	b := make([]byte, 4093)
	for i := range b {
		x := uint32(i)
		b[i] = byte(x*2654435761>>13) ^ byte(x)
	}
	return b
}()

func lazySHA256(n int64) string {
	h := sha256.New()
	io.Copy(h, &lazyReader{n: n})
	return hex.EncodeToString(h.Sum(nil))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
