package symbolicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func symbolicateReq() SymbolicateRequest {
	return SymbolicateRequest{
		Platform:    "native",
		Sources:     json.RawMessage(`[{"id":"s3-private","type":"s3","bucket":"b","region":"us-east-1","access_key":"AKIA","secret_key":"SUPERSECRETKEY"}]`),
		Stacktraces: json.RawMessage(`[{"frames":[{"instruction_addr":"0x1000"}]}]`),
		Modules:     json.RawMessage(`[{"type":"elf","code_id":"abcd","image_addr":"0x0","image_size":8192}]`),
		Scraping:    json.RawMessage(`{"enabled":false,"headers":{},"allowed_origins":[],"verify_ssl":true}`),
	}
}

func TestURLJoin(t *testing.T) {
	tests := []struct {
		base      string // appended to the server's http://127.0.0.1:port
		wantPaths []string
	}{
		{"", []string{"/symbolicate", "/requests/r1"}},
		{"/", []string{"/symbolicate", "/requests/r1"}},
		{"/prefix", []string{"/prefix/symbolicate", "/prefix/requests/r1"}},
		{"/prefix/", []string{"/prefix/symbolicate", "/prefix/requests/r1"}},
		{"/a/b/", []string{"/a/b/symbolicate", "/a/b/requests/r1"}},
		{"/a//b", []string{"/a//b/symbolicate", "/a//b/requests/r1"}},
	}
	for _, tt := range tests {
		t.Run("base "+tt.base, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				answerJSON(w, 200, pendingBody)
			})
			h := newHarness(t, s, func(c *Config) { c.BaseURL = s.srv.URL + tt.base })
			if _, err := h.sess.Symbolicate(ctxT(t), symbolicateReq()); err != nil {
				t.Fatal(err)
			}
			if _, err := h.sess.Query(ctxT(t), "r1"); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range s.requests() {
				got = append(got, r.path)
			}
			if !reflect.DeepEqual(got, tt.wantPaths) {
				t.Errorf("paths %v, want %v", got, tt.wantPaths)
			}
		})
	}
}

func TestQueryEscapesRequestID(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(404) })
	h := newHarness(t, s, func(c *Config) { c.BaseURL = s.srv.URL + "/base" })
	_, err := h.sess.Query(ctxT(t), "a/../b?x")
	if !errors.Is(err, ErrTaskNotFound) {
		t.Fatalf("err = %v, want ErrTaskNotFound", err)
	}
	r := s.requests()[0]
	if r.rawPath != "/base/requests/a%2F..%2Fb%3Fx" || r.query.Get("x") != "" {
		t.Errorf("path %s query %v: the id must stay one escaped segment", r.rawPath, r.query)
	}
}

func TestHeadersAndQueryOnEveryRequest(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			s.readBody(r, n)
		}
		if n == 1 {
			dropConnection(w) // a retried attempt must carry them too
			return
		}
		answerJSON(w, 200, pendingBody)
	})
	h := newHarness(t, s, func(c *Config) { c.PollTimeout = 1500 * time.Millisecond })
	ctx := ctxT(t)
	calls := []struct {
		name string
		call func() (Response, error)
	}{
		{"symbolicate", func() (Response, error) { return h.sess.Symbolicate(ctx, symbolicateReq()) }},
		{"minidump", func() (Response, error) {
			return h.sess.Minidump(ctx, func(context.Context) (io.ReadCloser, error) { return openString("MDMP") }, "native", nil, nil)
		}},
		{"applecrashreport", func() (Response, error) {
			return h.sess.AppleCrashReport(ctx, func(context.Context) (io.ReadCloser, error) { return openString("Incident") }, "cocoa", nil, nil)
		}},
		{"query", func() (Response, error) { return h.sess.Query(ctx, "r1") }},
	}
	for _, c := range calls {
		resp, err := c.call()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.WorkerID != h.workers.Current() {
			t.Errorf("%s: Response.WorkerID %q, want %q", c.name, resp.WorkerID, h.workers.Current())
		}
	}
	reqs := s.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5 (one dropped and retried)", len(reqs))
	}
	for i, r := range reqs {
		want := map[string]string{
			"X-Sentry-Project-Id": "42",
			"X-Sentry-Event-Id":   "0123456789abcdef0123456789abcdef",
			"X-Sentry-Worker-Id":  h.workers.Current(),
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("request %d %s %s: header %s = %q, want %q", i, r.method, r.path, k, got, v)
			}
		}
		if got := r.query.Encode(); got != "scope=42&timeout=2" {
			t.Errorf("request %d %s %s: query %q, want scope=42&timeout=2", i, r.method, r.path, got)
		}
	}
}

func TestResponses(t *testing.T) {
	type want struct {
		status, requestID, message string
		retryAfter                 int
		body                       string // "" means don't check
		errIs                      error
		errHas                     []string
		logHas                     []string
		// attempts is how many requests the call makes; 0 means 1. Only
		// network errors and bodies that are not JSON are retried.
		attempts int
	}
	tests := []struct {
		name   string
		call   string // symbolicate or query
		code   int
		answer string
		want   want
	}{
		{"pending", "symbolicate", 200, pendingBody,
			want{status: "pending", requestID: "8c2f9e0a-1d5b-4a3e-9f7c-2b6d4e8a1c3f", retryAfter: 30, body: pendingBody}},
		{"completed", "query", 200, completedBody, want{status: "completed", body: completedBody}},
		{"failed", "query", 200, `{"status":"failed","message":"minidump is empty"}`,
			want{status: "failed", message: "minidump is empty"}},
		{"timeout", "query", 200, `{"status":"timeout"}`, want{status: "timeout"}},
		{"internal_error", "symbolicate", 200, `{"status":"internal_error"}`, want{status: "internal_error"}},
		{"fractional retry_after rounds up", "symbolicate", 200, `{"status":"pending","request_id":"x","retry_after":0.2}`,
			want{status: "pending", requestID: "x", retryAfter: 1}},
		{"query 404 is task not found", "query", 404, ``,
			want{errIs: ErrTaskNotFound, errHas: []string{"task r1 not found"}}},
		{"create 404 is a failed response", "symbolicate", 404, `not here`,
			want{status: "failed", message: "internal server error", body: `{"message":"internal server error","status":"failed"}`,
				logHas: []string{"not here", `"status_code":404`}}},
		{"502 unavailable on query", "query", 502, `bad gateway`,
			want{errIs: ErrServiceUnavailable, errHas: []string{"query", "HTTP 502"}}},
		{"503 unavailable on create", "symbolicate", 503, `{"detail":"maximum number of concurrent requests reached"}`,
			want{errIs: ErrServiceUnavailable, errHas: []string{"symbolicate", "HTTP 503"}}},
		{"500 is failed, body logged", "symbolicate", 500, `thread 'main' panicked at src/symbolicate.rs`,
			want{status: "failed", message: "internal server error", logHas: []string{"thread 'main' panicked", `"status_code":500`}}},
		{"422 is failed", "symbolicate", 422, `{"detail":"missing field stacktraces"}`,
			want{status: "failed", message: "internal server error", logHas: []string{"missing field stacktraces"}}},
		{"long error body truncated in log", "query", 500, strings.Repeat("E", 5000),
			want{status: "failed", message: "internal server error", logHas: []string{strings.Repeat("E", 512) + "…"}}},
		{"200 not JSON", "query", 200, `<html>upstream says hi</html>`,
			want{errIs: ErrMalformedResponse, errHas: []string{"HTTP 200", "not JSON", "(4 attempts)", "<html>upstream says hi"}, attempts: 4}},
		{"200 truncated JSON", "query", 200, `{"status":"completed","stacktraces":[`,
			want{errIs: ErrMalformedResponse, errHas: []string{"not JSON", `{\"status\":\"completed\"`}, attempts: 4}},
		{"201 empty body", "symbolicate", 201, ``,
			want{errIs: ErrMalformedResponse, errHas: []string{"HTTP 201", "not JSON"}, attempts: 4}},
		{"200 JSON array", "query", 200, `[]`, want{errIs: ErrMalformedResponse, errHas: []string{"not a JSON object"}}},
		{"200 no status", "query", 200, `{"detail":"?"}`, want{errIs: ErrMalformedResponse, errHas: []string{"no status"}}},
		{"200 status not a string", "query", 200, `{"status":5}`, want{errIs: ErrMalformedResponse, errHas: []string{"field status is a JSON number"}}},
		{"200 pending without id", "query", 200, `{"status":"pending","retry_after":5}`,
			want{errIs: ErrMalformedResponse, errHas: []string{"pending without request_id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				s := tt.answer
				w.WriteHeader(tt.code)
				fmt.Fprint(w, s)
			})
			h := newHarness(t, s, nil)
			var resp Response
			var err error
			if tt.call == "query" {
				resp, err = h.sess.Query(ctxT(t), "r1")
			} else {
				resp, err = h.sess.Symbolicate(ctxT(t), symbolicateReq())
			}
			if n := s.count(); n != max(tt.want.attempts, 1) {
				t.Errorf("%d requests, want %d", n, max(tt.want.attempts, 1))
			}
			if tt.want.errIs != nil {
				if !errors.Is(err, tt.want.errIs) {
					t.Fatalf("err = %v, want %v", err, tt.want.errIs)
				}
				for _, s := range tt.want.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.want.status || resp.RequestID != tt.want.requestID ||
				resp.RetryAfter != tt.want.retryAfter || resp.Message != tt.want.message {
				t.Errorf("response %+v, want %+v", resp, tt.want)
			}
			if tt.want.body != "" && string(resp.Body) != tt.want.body {
				t.Errorf("body %s, want %s", resp.Body, tt.want.body)
			}
			for _, s := range tt.want.logHas {
				if !strings.Contains(h.logs.String(), s) {
					t.Errorf("logs do not have %q:\n%s", s, h.logs.String())
				}
			}
		})
	}
}

func TestTaskNotFoundErrorType(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(404) })
	h := newHarness(t, s, nil)
	_, err := h.sess.Query(ctxT(t), "gone")
	var nf *TaskNotFoundError
	if !errors.As(err, &nf) || nf.RequestID != "gone" {
		t.Fatalf("err = %#v, want *TaskNotFoundError for gone", err)
	}
	var su *ServiceUnavailableError
	if errors.As(err, &su) || errors.Is(err, ErrServiceUnavailable) || errors.Is(err, ErrNetwork) {
		t.Errorf("err %v matches other kinds too", err)
	}
}

func TestNetworkErrorsRetried(t *testing.T) {
	tests := []struct {
		name         string
		waits        []time.Duration
		drops        int // leading requests whose connection is dropped
		wantAttempts int
		wantErr      bool
	}{
		{"recovers on the third attempt", tinyWaits, 2, 3, false},
		{"recovers on the last retry", tinyWaits, 3, 4, false},
		{"gives up after 3 retries", tinyWaits, 100, 4, true},
		{"one configured retry", []time.Duration{time.Millisecond}, 100, 2, true},
		{"retries disabled", []time.Duration{}, 100, 1, true},
	}
	for _, tt := range tests {
		for _, call := range []string{"symbolicate", "query"} {
			t.Run(tt.name+"/"+call, func(t *testing.T) {
				s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
					if n <= tt.drops {
						dropConnection(w)
						return
					}
					answerJSON(w, 200, completedBody)
				})
				h := newHarness(t, s, func(c *Config) { c.RetryWaits = tt.waits })
				var err error
				if call == "query" {
					_, err = h.sess.Query(ctxT(t), "r1")
				} else {
					_, err = h.sess.Symbolicate(ctxT(t), symbolicateReq())
				}
				if got := s.count(); got != tt.wantAttempts {
					t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
				}
				if !tt.wantErr {
					if err != nil {
						t.Fatalf("err = %v, want success after retries", err)
					}
				} else {
					var ne *NetworkError
					if !errors.As(err, &ne) || !errors.Is(err, ErrNetwork) {
						t.Fatalf("err = %v, want *NetworkError", err)
					}
					if ne.Attempts != tt.wantAttempts || ne.Task != call {
						t.Errorf("NetworkError %+v, want %d attempts of %s", ne, tt.wantAttempts, call)
					}
					if !strings.Contains(err.Error(), s.srv.URL) {
						t.Errorf("error %q does not name the URL", err)
					}
					if call == "query" && !strings.Contains(err.Error(), "connection closed without a complete answer") {
						t.Errorf("error %q does not say the connection was closed", err)
					}
				}
				// One request_error per failed attempt, tagged 0, 1, 2, ...
				ms := h.recorded(t)
				failures := min(tt.drops, tt.wantAttempts)
				errs := find(ms, MetricRequestError, nil)
				if len(errs) != failures {
					t.Fatalf("%d request_error metrics, want %d", len(errs), failures)
				}
				for i, m := range errs {
					if m.dims["attempt"] != fmt.Sprint(i) {
						t.Errorf("request_error %d has attempt %s", i, m.dims["attempt"])
					}
				}
				// Every attempt of one call carries the same worker id.
				for _, r := range s.requests() {
					if r.header.Get("X-Sentry-Worker-Id") != h.workers.Current() {
						t.Errorf("attempt with worker id %q, want %q", r.header.Get("X-Sentry-Worker-Id"), h.workers.Current())
					}
				}
			})
		}
	}
}

// TestNonJSONAnswersRetried checks Sentry's behaviour for a 2xx answer
// whose body is not JSON: SymbolicatorSession._request retries it as it
// retries a network error (response.json() raises a RequestException),
// MAX_ATTEMPTS = 3 retries, then the error is raised; symflow's is a
// *MalformedResponseError. The stand-in answers non-JSON 200s a number of
// times, then JSON.
func TestNonJSONAnswersRetried(t *testing.T) {
	tests := []struct {
		name         string
		waits        []time.Duration
		bad          int // leading answers that are not JSON
		body         string
		wantAttempts int
		wantErr      bool
	}{
		{"one bad answer", tinyWaits, 1, `<html>502 from the proxy</html>`, 2, false},
		{"recovers on the last retry", tinyWaits, 3, `not json`, 4, false},
		{"empty bodies", tinyWaits, 2, ``, 3, false},
		{"gives up after 3 retries", tinyWaits, 100, `<html>oops</html>`, 4, true},
		{"truncated JSON every time", tinyWaits, 100, `{"status":"completed","stacktraces":[`, 4, true},
		{"one configured retry", []time.Duration{time.Millisecond}, 100, `x`, 2, true},
		{"retries disabled", []time.Duration{}, 100, `x`, 1, true},
	}
	for _, tt := range tests {
		for _, call := range []string{"symbolicate", "query"} {
			t.Run(tt.name+"/"+call, func(t *testing.T) {
				s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
					if n <= tt.bad {
						w.Header().Set("Content-Type", "text/html")
						w.WriteHeader(200)
						fmt.Fprint(w, tt.body)
						return
					}
					answerJSON(w, 200, completedBody)
				})
				h := newHarness(t, s, func(c *Config) { c.RetryWaits = tt.waits })
				var resp Response
				var err error
				if call == "query" {
					resp, err = h.sess.Query(ctxT(t), "r1")
				} else {
					resp, err = h.sess.Symbolicate(ctxT(t), symbolicateReq())
				}
				if got := s.count(); got != tt.wantAttempts {
					t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
				}
				if !tt.wantErr {
					if err != nil {
						t.Fatalf("err = %v, want success after retries", err)
					}
					if resp.Status != StatusCompleted {
						t.Errorf("status %q, want completed", resp.Status)
					}
				} else {
					var me *MalformedResponseError
					if !errors.As(err, &me) || !errors.Is(err, ErrMalformedResponse) {
						t.Fatalf("err = %v, want *MalformedResponseError", err)
					}
					if errors.Is(err, ErrNetwork) {
						t.Errorf("err %v is also a network error", err)
					}
					if me.Attempts != tt.wantAttempts || me.Task != call || me.StatusCode != 200 || me.Reason != "body is not JSON" {
						t.Errorf("MalformedResponseError %+v, want %d attempts of %s answered 200, body is not JSON", me, tt.wantAttempts, call)
					}
					if !strings.Contains(me.Excerpt, tt.body) {
						t.Errorf("excerpt %q, want the body %q", me.Excerpt, tt.body)
					}
				}
				// One request_error per bad answer, tagged not_json.
				errs := find(h.recorded(t), MetricRequestError, nil)
				if want := min(tt.bad, tt.wantAttempts); len(errs) != want {
					t.Fatalf("%d request_error metrics, want %d", len(errs), want)
				}
				for i, m := range errs {
					if m.dims["attempt"] != fmt.Sprint(i) || m.dims["error"] != "not_json" {
						t.Errorf("request_error %d has dims %v, want attempt %d, error not_json", i, m.dims, i)
					}
				}
				for _, r := range s.requests() {
					if r.header.Get("X-Sentry-Worker-Id") != h.workers.Current() {
						t.Errorf("attempt with worker id %q, want %q", r.header.Get("X-Sentry-Worker-Id"), h.workers.Current())
					}
				}
			})
		}
	}
}

// TestNonJSONAnswersDefaultBackoff checks the reference's waits between
// attempts after a non-JSON answer with the default configuration: 0.5 s,
// then doubling (1 s, 2 s), as after a network error.
func TestNonJSONAnswersDefaultBackoff(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		fmt.Fprint(w, "<html>not symbolicator</html>")
	})
	h := newHarness(t, s, func(c *Config) { c.RetryWaits = nil })
	_, err := h.sess.Query(ctxT(t), "r1")
	if !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("err = %v, want ErrMalformedResponse", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if len(arrivals) != len(want)+1 {
		t.Fatalf("%d attempts, want %d", len(arrivals), len(want)+1)
	}
	for i, w := range want {
		// Waits are timers: never shorter, and late only by scheduling.
		if gap := arrivals[i+1].Sub(arrivals[i]); gap < w || gap > w+400*time.Millisecond {
			t.Errorf("wait before retry %d = %v, want %v", i+1, gap, w)
		}
	}
}

// TestNonJSONAnswerUploadNotReplayable: an upload whose file can be read
// only once cannot be retried after a non-JSON answer; the error is the
// malformed answer, saying why there was no retry.
func TestNonJSONAnswerUploadNotReplayable(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		s.readBody(r, n)
		fmt.Fprint(w, "<html>not symbolicator</html>")
	})
	h := newHarness(t, s, nil)
	_, err := h.sess.Minidump(ctxT(t), OpenOnce(strings.NewReader("MDMP....")), "native", nil, nil)
	var me *MalformedResponseError
	if !errors.As(err, &me) || !errors.Is(err, ErrNotReplayable) || errors.Is(err, ErrNetwork) {
		t.Fatalf("err = %v, want a malformed answer that says the file cannot be sent again", err)
	}
	if n := s.count(); n != 1 || me.Attempts != 1 {
		t.Errorf("%d attempts, Attempts = %d; want 1", n, me.Attempts)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sess := NewSession(Config{
		BaseURL: "http://user:hunter2@" + addr + "/", ProjectID: "42", EventID: "e", RetryWaits: tinyWaits,
	}, nil, nil, nil, nil)
	_, err = sess.Query(ctxT(t), "r1")
	var ne *NetworkError
	if !errors.As(err, &ne) || ne.Attempts != 4 {
		t.Fatalf("err = %v, want *NetworkError after 4 attempts", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q leaks the password of the base URL", err)
	}
}

func TestIdleTimeoutRetried(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			s.hang(r) // no answer until the client gives up
			return
		}
		answerJSON(w, 200, completedBody)
	})
	// A loaded machine may also time out an attempt that would have been
	// answered; the test counts attempts against errors instead of
	// assuming which attempt got through.
	h := newHarness(t, s, func(c *Config) {
		c.IdleTimeout = 250 * time.Millisecond
		c.RetryWaits = make([]time.Duration, 8)
	})
	resp, err := h.sess.Query(ctxT(t), "r1")
	if err != nil || resp.Status != StatusCompleted {
		t.Fatalf("Query = %+v, %v; want completed after timed-out attempts", resp, err)
	}
	n := s.count()
	if n < 3 {
		t.Errorf("%d attempts, want at least 3", n)
	}
	if errs := find(h.recorded(t), MetricRequestError, map[string]string{"error": "timeout"}); len(errs) != n-1 {
		t.Errorf("%d timeout request errors for %d attempts, want %d", len(errs), n, n-1)
	}

	// With every attempt hanging, slow answers are asked again while the
	// caller's deadline leaves room, then the error says it was the idle
	// timeout.
	var s2 *server
	s2 = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { s2.hang(r) })
	h2 := newHarness(t, s2, func(c *Config) { c.IdleTimeout = 20 * time.Millisecond; c.RetryWaits = []time.Duration{0} })
	ctx, cancel := context.WithTimeout(ctxT(t), 3*time.Second)
	defer cancel()
	_, err = h2.sess.Symbolicate(ctx, symbolicateReq())
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "idle timeout") {
		t.Errorf("err = %v, want a network error naming the idle timeout", err)
	}
	if n := s2.count(); n <= 2 {
		t.Errorf("%d attempts within the deadline, want slow answers asked again beyond the one retry", n)
	}
}

// TestSlowIsNotDead: timed-out attempts do not spend the retries meant for
// an unreachable service while the caller's deadline leaves room; without
// a deadline they do.
func TestSlowIsNotDead(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 4 {
			s.hang(r)
			return
		}
		answerJSON(w, 200, completedBody)
	})
	h := newHarness(t, s, func(c *Config) { c.IdleTimeout = 50 * time.Millisecond; c.RetryWaits = []time.Duration{0} })
	resp, err := h.sess.Symbolicate(ctxT(t), symbolicateReq())
	if err != nil || resp.Status != StatusCompleted {
		t.Fatalf("Symbolicate = %+v, %v; want completed after four slow attempts with one retry allowed", resp, err)
	}

	var s2 *server
	s2 = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 4 {
			s2.hang(r)
			return
		}
		answerJSON(w, 200, completedBody)
	})
	h2 := newHarness(t, s2, func(c *Config) { c.IdleTimeout = 50 * time.Millisecond; c.RetryWaits = []time.Duration{0} })
	_, err = h2.sess.Symbolicate(context.Background(), symbolicateReq())
	var ne *NetworkError
	if !errors.As(err, &ne) || ne.Attempts != 2 {
		t.Errorf("without a deadline: err = %v, want a network error after two attempts (one retry)", err)
	}
}

func TestContextCancellation(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		var s *server
		s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { s.hang(r) })
		h := newHarness(t, s, nil)
		ctx, cancel := context.WithCancel(ctxT(t))
		go func() { <-s.attempted; cancel() }()
		_, err := h.sess.Symbolicate(ctx, symbolicateReq())
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNetwork) {
			t.Fatalf("err = %v, want context.Canceled and no network error", err)
		}
		if n := s.count(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("during a retry wait", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { dropConnection(w) })
		h := newHarness(t, s, func(c *Config) { c.RetryWaits = []time.Duration{time.Hour} })
		ctx, cancel := context.WithCancel(ctxT(t))
		go func() { <-s.attempted; cancel() }()
		_, err := h.sess.Query(ctx, "r1")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := s.count(); n != 1 {
			t.Errorf("%d attempts, want 1: cancellation stops the retries", n)
		}
	})
	t.Run("before the call", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { answerJSON(w, 200, completedBody) })
		h := newHarness(t, s, nil)
		ctx, cancel := context.WithCancel(ctxT(t))
		cancel()
		_, err := h.sess.Query(ctx, "r1")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := s.count(); n != 0 {
			t.Errorf("%d requests sent with a cancelled context", n)
		}
	})
}

func TestResponseSizeLimit(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		answerJSON(w, 200, `{"status":"completed","pad":"`+strings.Repeat("x", 200)+`"}`)
	})
	h := newHarness(t, s, func(c *Config) { c.MaxResponseBytes = 100 })
	_, err := h.sess.Query(ctxT(t), "r1")
	if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("err = %v, want a malformed response naming the limit", err)
	}
}

func TestSymbolicateBody(t *testing.T) {
	f := false
	tests := []struct {
		name string
		req  SymbolicateRequest
		want string
	}{
		{"full", func() SymbolicateRequest { r := symbolicateReq(); r.Signal = 11; return r }(),
			`{"platform":"native","sources":[{"id":"s3-private","type":"s3","bucket":"b","region":"us-east-1","access_key":"AKIA","secret_key":"SUPERSECRETKEY"}],` +
				`"options":{"dif_candidates":true,"apply_source_context":true},"stacktraces":[{"frames":[{"instruction_addr":"0x1000"}]}],` +
				`"modules":[{"type":"elf","code_id":"abcd","image_addr":"0x0","image_size":8192}],` +
				`"scraping":{"enabled":false,"headers":{},"allowed_origins":[],"verify_ssl":true},"signal":11}`},
		{"empty, source context off", SymbolicateRequest{Platform: "native", ApplySourceContext: &f},
			`{"platform":"native","sources":[],"options":{"dif_candidates":true,"apply_source_context":false},"stacktraces":[],"modules":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *server
			s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				s.readBody(r, n)
				answerJSON(w, 200, pendingBody)
			})
			h := newHarness(t, s, nil)
			if _, err := h.sess.Symbolicate(ctxT(t), tt.req); err != nil {
				t.Fatal(err)
			}
			r := s.requests()[0]
			if r.method != "POST" || r.contentType != "application/json" {
				t.Errorf("%s with Content-Type %q, want POST application/json", r.method, r.contentType)
			}
			if string(r.body) != tt.want {
				t.Errorf("body\n got %s\nwant %s", r.body, tt.want)
			}
		})
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { answerJSON(w, 200, pendingBody) })
	h := newHarness(t, s, nil)
	ctx := ctxT(t)
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"sources", func() error {
			r := symbolicateReq()
			r.Sources = json.RawMessage(`[{"id":`)
			_, err := h.sess.Symbolicate(ctx, r)
			return err
		}, "sources"},
		{"stacktraces", func() error {
			r := symbolicateReq()
			r.Stacktraces = json.RawMessage(`nope`)
			_, err := h.sess.Symbolicate(ctx, r)
			return err
		}, "stacktraces"},
		{"minidump scraping", func() error {
			_, err := h.sess.Minidump(ctx, OpenOnce(strings.NewReader("MDMP")), "native", nil, json.RawMessage(`{`))
			return err
		}, "scraping"},
		{"minidump without file", func() error {
			_, err := h.sess.Minidump(ctx, nil, "native", nil, nil)
			return err
		}, FieldMinidump},
		{"empty request id", func() error { _, err := h.sess.Query(ctx, ""); return err }, "request id"},
		{"dot-dot request id", func() error { _, err := h.sess.Query(ctx, ".."); return err }, "request id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want *RequestError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "SUPERSECRET") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
	if n := s.count(); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"empty base", func(c *Config) { c.BaseURL = "" }, "BaseURL"},
		{"not a URL", func(c *Config) { c.BaseURL = "http://[::1" }, "BaseURL"},
		{"scheme", func(c *Config) { c.BaseURL = "ftp://127.0.0.1/" }, "BaseURL"},
		{"no host", func(c *Config) { c.BaseURL = "http:///x" }, "BaseURL"},
		{"query", func(c *Config) { c.BaseURL = "http://127.0.0.1/?a=b" }, "BaseURL"},
		{"fragment", func(c *Config) { c.BaseURL = "http://127.0.0.1/#f" }, "BaseURL"},
		{"project id", func(c *Config) { c.ProjectID = "" }, "ProjectID"},
		{"event id newline", func(c *Config) { c.EventID = "a\r\nX-Evil: 1" }, "EventID"},
		{"poll timeout", func(c *Config) { c.PollTimeout = -time.Second }, "PollTimeout"},
		{"idle timeout", func(c *Config) { c.IdleTimeout = -time.Second }, "IdleTimeout"},
		{"retry wait", func(c *Config) { c.RetryWaits = []time.Duration{time.Second, -1} }, "RetryWaits[1]"},
		{"max response", func(c *Config) { c.MaxResponseBytes = -1 }, "MaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{BaseURL: "http://127.0.0.1:1/", ProjectID: "42", EventID: "e"}
			tt.mod(&cfg)
			err := cfg.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("Validate() = %v, want *ConfigError for %s", err, tt.field)
			}
			// A session with that config refuses every call with the same error.
			_, qerr := NewSession(cfg, nil, nil, nil, nil).Query(ctxT(t), "r1")
			if !errors.As(qerr, &ce) || ce.Field != tt.field {
				t.Errorf("Query = %v, want the config error", qerr)
			}
		})
	}
	if err := (Config{BaseURL: "https://symbolicator.internal:3021", ProjectID: "1", EventID: "e"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestLogsCarryIDsAndNoSecrets(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			dropConnection(w)
		case 2:
			answerJSON(w, 200, pendingBody)
		default:
			w.WriteHeader(500)
		}
	})
	h := newHarness(t, s, nil)
	resp, err := h.sess.Symbolicate(ctxT(t), symbolicateReq())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sess.Query(ctxT(t), resp.RequestID); err != nil {
		t.Fatal(err)
	}
	lines := h.logs.lines(t)
	if len(lines) == 0 {
		t.Fatal("no logs")
	}
	sawRequestID := false
	for _, l := range lines {
		if l["project_id"] != "42" || l["event_id"] != "0123456789abcdef0123456789abcdef" || l["worker_id"] != h.workers.Current() {
			t.Errorf("log line without project, event and worker ids: %v", l)
		}
		if l["request_id"] == resp.RequestID {
			sawRequestID = true
		}
	}
	if !sawRequestID {
		t.Errorf("no log line has request_id %s:\n%s", resp.RequestID, h.logs.String())
	}
	if strings.Contains(h.logs.String(), "SUPERSECRETKEY") || strings.Contains(h.logs.String(), "AKIA") {
		t.Errorf("logs leak source credentials:\n%s", h.logs.String())
	}
}

func TestMetrics(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			answerJSON(w, 200, pendingBody)
		case 2:
			answerJSON(w, 200, completedBody)
		case 3:
			w.WriteHeader(404)
		default:
			w.WriteHeader(503)
		}
	})
	h := newHarness(t, s, nil)
	ctx := ctxT(t)
	h.sess.Symbolicate(ctx, symbolicateReq())
	h.sess.Query(ctx, "r1")
	h.sess.Query(ctx, "r1")
	h.sess.Minidump(ctx, OpenOnce(strings.NewReader("MDMP")), "native", nil, nil)
	ms := h.recorded(t)

	for _, c := range []struct {
		name string
		dims map[string]string
		n    int
	}{
		{MetricStatusCode, map[string]string{"status_code": "200"}, 2},
		{MetricStatusCode, map[string]string{"status_code": "404"}, 1},
		{MetricStatusCode, map[string]string{"status_code": "503"}, 1},
		{MetricResponse, map[string]string{"task": "symbolicate", "status": "pending"}, 1},
		{MetricResponse, map[string]string{"task": "query", "status": "completed"}, 1},
		{MetricResponse, map[string]string{"task": "query", "status": "task_not_found"}, 1},
		{MetricResponse, map[string]string{"task": "minidump", "status": "service_unavailable"}, 1},
		{MetricCreateTaskTime, map[string]string{"task": "symbolicate"}, 1},
		{MetricCreateTaskTime, map[string]string{"task": "minidump"}, 1},
		{MetricQueryTaskTime, nil, 2},
		{MetricRequestTime, map[string]string{"attempt": "0"}, 4},
		{MetricCompletedSize, map[string]string{"task": "query"}, 1},
		{MetricCompletedSize, map[string]string{"task": "symbolicate"}, 0},
	} {
		if got := find(ms, c.name, c.dims); len(got) != c.n {
			t.Errorf("%s %v recorded %d times, want %d", c.name, c.dims, len(got), c.n)
		}
	}
	size := find(ms, MetricCompletedSize, nil)[0]
	if size.value != float64(len(completedBody)) || size.unit != "Bytes" {
		t.Errorf("completed size %v %s, want %d Bytes", size.value, size.unit, len(completedBody))
	}
	for _, m := range ms {
		for k, v := range m.dims {
			if k == "project_id" || k == "worker_id" || k == "event_id" || strings.Contains(v, "8c2f9e0a") {
				t.Errorf("metric %s has high-cardinality dimension %s=%s", m.name, k, v)
			}
		}
	}
}

func TestHealthcheck(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path != "/healthcheck" {
			w.WriteHeader(404)
			return
		}
		if n == 1 {
			fmt.Fprint(w, "ok")
			return
		}
		w.WriteHeader(500)
	})
	h := newHarness(t, s, nil)
	if err := h.sess.Healthcheck(ctxT(t)); err != nil {
		t.Errorf("first healthcheck: %v", err)
	}
	if err := h.sess.Healthcheck(ctxT(t)); err == nil {
		t.Error("healthcheck answered 500, want an error")
	}
}

func openString(s string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }

func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{pendingBody, completedBody, `{"status":"failed","message":"x"}`, `[]`, `{"status":5}`,
		`{"status":"pending","request_id":null,"retry_after":-3}`, `{"status":"pending","request_id":"a","retry_after":1e300}`, `<html>`, ``} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := parseResponse(TaskQuery, 200, body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v is not ErrMalformedResponse", err)
			}
			return
		}
		if resp.Status == "" || (resp.Status == StatusPending && resp.RequestID == "") || resp.RetryAfter < 0 {
			t.Fatalf("accepted %q as %+v", body, resp)
		}
		if !json.Valid(resp.Body) {
			t.Fatalf("Body %q is not JSON", resp.Body)
		}
	})
}

func TestSessionConcurrentUse(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		answerJSON(w, 200, completedBody)
	})
	h := newHarness(t, s, nil)
	h.sess.workers = NewWorkerID(0.5, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				_, err := h.sess.Query(ctx, fmt.Sprintf("r%d", i))
				if err != nil && !errors.Is(err, ErrServiceUnavailable) {
					t.Errorf("Query: %v", err)
				}
				if errors.Is(err, ErrServiceUnavailable) {
					h.sess.workers.Reset()
				}
			}
		})
	}
	wg.Wait()
	if n := s.count(); n != 80 {
		t.Errorf("%d requests, want 80", n)
	}
	if got := len(find(h.recorded(t), MetricResponse, map[string]string{"task": "query"})); got != 80 {
		t.Errorf("%d response metrics, want 80", got)
	}
}
