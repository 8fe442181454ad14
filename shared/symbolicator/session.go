// Package symbolicator is symflow's client for a Symbolicator service: it
// submits symbolication tasks (stack traces as JSON, minidumps and Apple
// crash reports as streamed multipart uploads), polls them, and turns the
// service's answers into a Response or an error the workflow can act on
// (ErrTaskNotFound: resubmit; ErrServiceUnavailable: new worker id, back off,
// resubmit; ErrNetwork: the retries inside the session were spent;
// ErrMalformedResponse: an answer that cannot be used, after the same
// retries when its body is not JSON).
//
// It reproduces the reference client (Sentry's SymbolicatorSession, see
// SEMANTICS §3); where it deliberately differs, the comment says so.
package symbolicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/metrics"
)

// Defaults of Config.
const (
	DefaultPollTimeout      = 5 * time.Second
	DefaultMaxResponseBytes = 256 << 20
)

// defaultRetryWaits are the reference's waits between attempts after a
// network error or a 2xx answer that is not JSON: 0.5 s doubling,
// MAX_ATTEMPTS = 3 retries.
var defaultRetryWaits = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// Response statuses (SEMANTICS §4). Pending means poll again with
// RequestID; every other status ends the task.
const (
	StatusPending       = "pending"
	StatusCompleted     = "completed"
	StatusFailed        = "failed"
	StatusTimeout       = "timeout"
	StatusInternalError = "internal_error"
)

// Task names, used in errors, logs and the metrics' task dimension.
const (
	TaskSymbolicate      = "symbolicate"
	TaskMinidump         = "minidump"
	TaskAppleCrashReport = "applecrashreport"
	TaskQuery            = "query"
	taskHealthcheck      = "healthcheck"
)

// Metric names recorded through metrics.Recorder.
const (
	MetricStatusCode     = "symbolicator.status_code"             // Count, dims status_code
	MetricResponse       = "symbolicator.response"                // Count, dims task, status
	MetricCompletedSize  = "symbolicator.response.completed.size" // Bytes, dims task
	MetricRequestError   = "symbolicator.request_error"           // Count, dims attempt, error
	MetricRequestTime    = "symbolicator.request.duration"        // Milliseconds, dims attempt
	MetricCreateTaskTime = "symbolicator.create_task.duration"    // Milliseconds, dims task
	MetricQueryTaskTime  = "symbolicator.query_task.duration"     // Milliseconds
)

// excerptLen bounds the body excerpts put in logs and errors.
const excerptLen = 512

// Config configures a Session for one event of one project.
type Config struct {
	// BaseURL is where Symbolicator is served, e.g. "http://symbolicator:3021/"
	// or "https://h/prefix/". Paths are joined URL-style (RFC 3986 reference
	// resolution) onto the base taken as a directory: a trailing slash is
	// kept, and one is added when missing, so "http://h/x" and "http://h/x/"
	// both give "http://h/x/symbolicate". The reference strips the slash and
	// calls urljoin, which would drop "x"; a user naming a prefix means it.
	// A query or fragment is refused.
	BaseURL   string
	ProjectID string // sent as x-sentry-project-id and as query scope
	EventID   string // sent as x-sentry-event-id
	// PollTimeout is how long Symbolicator may hold a request before it
	// answers pending, sent as query timeout in whole seconds (rounded up).
	// Zero means DefaultPollTimeout.
	PollTimeout time.Duration
	// IdleTimeout ends an attempt that makes no progress for this long:
	// nothing connected, sent or received. Zero means PollTimeout + 1 s, the
	// reference's HTTP client timeout. Like the reference's (a per-socket-
	// operation timeout), it is not a cap on the whole exchange, so a large
	// minidump upload is not cut off while it is moving.
	IdleTimeout time.Duration
	// RetryWaits are the waits before each retry after a network error or
	// a 2xx answer that is not JSON; their count is the number of retries.
	// Nil means 0.5 s, 1 s, 2 s; an empty non-nil slice disables retries.
	RetryWaits []time.Duration
	// MaxResponseBytes bounds the body read from Symbolicator. Zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Validate reports the first field of c that cannot work.
func (c Config) Validate() error {
	_, err := c.parseBase()
	if err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"ProjectID", c.ProjectID}, {"EventID", c.EventID}} {
		if f.v == "" {
			return &ConfigError{Field: f.name, Reason: "empty"}
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return &ConfigError{Field: f.name, Reason: "contains control characters"}
		}
	}
	if c.PollTimeout < 0 {
		return &ConfigError{Field: "PollTimeout", Reason: "negative"}
	}
	if c.IdleTimeout < 0 {
		return &ConfigError{Field: "IdleTimeout", Reason: "negative"}
	}
	for i, w := range c.RetryWaits {
		if w < 0 {
			return &ConfigError{Field: fmt.Sprintf("RetryWaits[%d]", i), Reason: "negative"}
		}
	}
	if c.MaxResponseBytes < 0 {
		return &ConfigError{Field: "MaxResponseBytes", Reason: "negative"}
	}
	return nil
}

func (c Config) parseBase() (*url.URL, error) {
	if c.BaseURL == "" {
		return nil, &ConfigError{Field: "BaseURL", Reason: "empty"}
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		// url.Error quotes the URL, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ConfigError{Field: "BaseURL", Reason: "not a URL: " + err.Error()}
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, &ConfigError{Field: "BaseURL", Reason: fmt.Sprintf("scheme %q, want http or https", u.Scheme)}
	case u.Host == "":
		return nil, &ConfigError{Field: "BaseURL", Reason: "no host"}
	case u.RawQuery != "" || u.ForceQuery:
		return nil, &ConfigError{Field: "BaseURL", Reason: "has a query"}
	case u.Fragment != "":
		return nil, &ConfigError{Field: "BaseURL", Reason: "has a fragment"}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// Response is Symbolicator's answer to a create or query call.
type Response struct {
	// Status is one of the Status constants (or whatever newer status the
	// service sent; anything but pending ends the task).
	Status string
	// RequestID identifies a pending task for Query.
	RequestID string
	// RetryAfter is the pending answer's suggested wait in seconds.
	RetryAfter int
	// Message explains a failed status.
	Message string
	// WorkerID is the x-sentry-worker-id the request carried, for the task
	// record.
	WorkerID string
	// Body is the whole JSON answer, e.g. the completed stacktraces and
	// modules. For a non-2xx answer it is the synthesized failed object.
	Body json.RawMessage
}

// Session talks to Symbolicator on behalf of one event. It holds no
// per-call state and is safe for concurrent use.
type Session struct {
	cfg     Config
	base    *url.URL
	cfgErr  error
	hc      *http.Client
	workers *WorkerID
	log     *slog.Logger
	m       metrics.Recorder
}

// NewSession returns a session. A nil hc means a client of its own, nil
// workers a private WorkerID that never samples, nil log no logging, nil m
// no metrics. A Config that does not Validate makes every call return its
// *ConfigError, so check cfg.Validate first where the error is wanted early.
func NewSession(cfg Config, hc *http.Client, workers *WorkerID, log *slog.Logger, m metrics.Recorder) *Session {
	s := &Session{cfg: cfg, hc: hc, workers: workers, log: log, m: m}
	if s.cfg.PollTimeout == 0 {
		s.cfg.PollTimeout = DefaultPollTimeout
	}
	if s.cfg.IdleTimeout == 0 {
		s.cfg.IdleTimeout = s.cfg.PollTimeout + time.Second
	}
	if s.cfg.RetryWaits == nil {
		s.cfg.RetryWaits = defaultRetryWaits
	}
	s.cfg.RetryWaits = append([]time.Duration(nil), s.cfg.RetryWaits...)
	if s.cfg.MaxResponseBytes == 0 {
		s.cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if s.cfgErr = s.cfg.Validate(); s.cfgErr == nil {
		s.base, _ = s.cfg.parseBase()
	}
	if s.hc == nil {
		s.hc = &http.Client{}
	}
	if s.workers == nil {
		s.workers = NewWorkerID(0, nil)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("project_id", cfg.ProjectID, "event_id", cfg.EventID)
	if s.m == nil {
		s.m = metrics.Discard
	}
	return s
}

// SymbolicateRequest is the stack-trace task. The raw JSON fields are sent
// as they are; the session validates only that each is JSON.
type SymbolicateRequest struct {
	Platform string
	// Sources are the symbol sources with secrets (never logged).
	Sources json.RawMessage
	// Stacktraces and Modules as Symbolicator takes them (SEMANTICS §4);
	// nil sends [].
	Stacktraces json.RawMessage
	Modules     json.RawMessage
	// Scraping is the scraping configuration (SEMANTICS §2); nil omits it.
	Scraping json.RawMessage
	// Signal is the crash's signal number; 0 omits it, as the reference does.
	Signal int
	// ApplySourceContext nil means true, Symbolicator's own default.
	ApplySourceContext *bool
}

// Symbolicate submits a stack-trace task: POST symbolicate with the JSON
// body {platform, sources, options: {dif_candidates: true,
// apply_source_context}, stacktraces, modules, scraping, signal}.
func (s *Session) Symbolicate(ctx context.Context, req SymbolicateRequest) (Response, error) {
	body, err := symbolicateBody(req)
	if err != nil {
		return Response{}, err
	}
	open := func(context.Context, func()) (*requestBody, error) {
		return &requestBody{r: io.NopCloser(bytes.NewReader(body)), contentType: "application/json", length: int64(len(body))}, nil
	}
	return s.create(ctx, TaskSymbolicate, open)
}

func symbolicateBody(req SymbolicateRequest) ([]byte, error) {
	raw := func(field string, v json.RawMessage, empty string) (json.RawMessage, error) {
		if v == nil {
			return json.RawMessage(empty), nil
		}
		if !json.Valid(v) {
			return nil, &RequestError{Task: TaskSymbolicate, Field: field, Reason: "not valid JSON"}
		}
		return v, nil
	}
	sources, err := raw("sources", req.Sources, "[]")
	if err != nil {
		return nil, err
	}
	stacktraces, err := raw("stacktraces", req.Stacktraces, "[]")
	if err != nil {
		return nil, err
	}
	modules, err := raw("modules", req.Modules, "[]")
	if err != nil {
		return nil, err
	}
	var scraping json.RawMessage
	if req.Scraping != nil {
		if scraping, err = raw("scraping", req.Scraping, ""); err != nil {
			return nil, err
		}
	}
	apply := req.ApplySourceContext == nil || *req.ApplySourceContext
	body := struct {
		Platform    string          `json:"platform"`
		Sources     json.RawMessage `json:"sources"`
		Options     options         `json:"options"`
		Stacktraces json.RawMessage `json:"stacktraces"`
		Modules     json.RawMessage `json:"modules"`
		Scraping    json.RawMessage `json:"scraping,omitempty"`
		Signal      int             `json:"signal,omitempty"`
	}{req.Platform, sources, options{DIFCandidates: true, ApplySourceContext: &apply}, stacktraces, modules, scraping, req.Signal}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, &RequestError{Task: TaskSymbolicate, Field: "body", Reason: err.Error()}
	}
	return b, nil
}

type options struct {
	DIFCandidates      bool  `json:"dif_candidates"`
	ApplySourceContext *bool `json:"apply_source_context,omitempty"`
}

// Query polls a task: GET requests/<requestID> with the same query as the
// create call. A 404 answer is a *TaskNotFoundError.
func (s *Session) Query(ctx context.Context, requestID string) (Response, error) {
	if err := checkRequestID(requestID); err != nil {
		return Response{}, err
	}
	start := time.Now()
	resp, err := s.do(ctx, TaskQuery, http.MethodGet, "requests/"+url.PathEscape(requestID), requestID, nil)
	s.m.Observe(MetricQueryTaskTime, ms(time.Since(start)), metrics.UnitMilliseconds, nil)
	s.countResponse(TaskQuery, resp, err)
	return resp, err
}

// checkRequestID refuses ids that would not name one task under requests/:
// Symbolicator's are UUIDs, and a stored id that is empty, huge or a dot
// segment must not turn into a request for another path.
func checkRequestID(id string) error {
	switch {
	case id == "":
		return &RequestError{Task: TaskQuery, Field: "request id", Reason: "empty"}
	case len(id) > 256:
		return &RequestError{Task: TaskQuery, Field: "request id", Reason: fmt.Sprintf("%d bytes long", len(id))}
	case id == "." || id == "..":
		return &RequestError{Task: TaskQuery, Field: "request id", Reason: fmt.Sprintf("%q is a dot segment", id)}
	}
	return nil
}

// Healthcheck asks GET healthcheck and reports whether Symbolicator
// answered ok.
func (s *Session) Healthcheck(ctx context.Context) error {
	resp, err := s.do(ctx, taskHealthcheck, http.MethodGet, "healthcheck", "", nil)
	if err != nil {
		return err
	}
	if resp.Status == StatusFailed {
		return fmt.Errorf("symbolicator healthcheck: %s", resp.Message)
	}
	return nil
}

func (s *Session) create(ctx context.Context, task string, open bodyOpener) (Response, error) {
	start := time.Now()
	resp, err := s.do(ctx, task, http.MethodPost, task, "", open)
	s.m.Observe(MetricCreateTaskTime, ms(time.Since(start)), metrics.UnitMilliseconds, map[string]string{"task": task})
	s.countResponse(task, resp, err)
	return resp, err
}

// countResponse records the response status by task; errors count under
// a status naming them, so one graph shows how tasks end.
func (s *Session) countResponse(task string, resp Response, err error) {
	status := resp.Status
	switch {
	case errors.Is(err, ErrTaskNotFound):
		status = "task_not_found"
	case errors.Is(err, ErrServiceUnavailable):
		status = "service_unavailable"
	case errors.Is(err, ErrNetwork):
		status = "network_error"
	case errors.Is(err, ErrMalformedResponse):
		status = "malformed"
	case err != nil:
		status = "error"
	}
	switch status {
	case StatusPending, StatusCompleted, StatusFailed, StatusTimeout, StatusInternalError,
		"task_not_found", "service_unavailable", "network_error", "malformed", "error":
	default:
		status = "other" // keep the dimension's cardinality bounded
	}
	s.m.Count(MetricResponse, 1, map[string]string{"task": task, "status": status})
	if err == nil && resp.Status != StatusPending {
		s.m.Observe(MetricCompletedSize, float64(len(resp.Body)), metrics.UnitBytes, map[string]string{"task": task})
	}
}

// requestBody is one attempt's body.
type requestBody struct {
	r           io.ReadCloser
	contentType string
	length      int64 // -1 when unknown (streamed)
	// done, when set, delivers the body producer's result: nil, or the
	// error reading the crash file.
	done <-chan error
}

// bodyOpener builds the body for one attempt; touch marks progress for the
// idle timeout.
type bodyOpener func(ctx context.Context, touch func()) (*requestBody, error)

// errIdle is the cause of an attempt cancelled by the idle timeout.
var errIdle = errors.New("no progress within the idle timeout")

// errRequestOver cancels an attempt's context once its exchange is over.
var errRequestOver = errors.New("request over")

// do runs one request with the retries for network errors.
func (s *Session) do(ctx context.Context, task, method, ref, requestID string, open bodyOpener) (Response, error) {
	if s.cfgErr != nil {
		return Response{}, s.cfgErr
	}
	target := s.endpoint(ref)
	redacted := target.Redacted()
	if ctx.Err() != nil {
		return Response{}, fmt.Errorf("symbolicator %s %s: %w", task, redacted, ctxErr(ctx))
	}
	worker := s.workers.Get()
	log := s.log.With("task", task, "worker_id", worker)
	if requestID != "" {
		log = log.With("request_id", requestID)
	}
	var last *retryable
	for attempt := 0; ; attempt++ {
		resp, err := s.attempt(ctx, log, task, method, target.String(), requestID, worker, attempt, open)
		if err == nil {
			resp.WorkerID = worker
			if resp.RequestID != "" && resp.RequestID != requestID {
				log = log.With("request_id", resp.RequestID)
			}
			log.DebugContext(ctx, "symbolicator answered", "status", resp.Status, "attempt", attempt)
			return resp, nil
		}
		if ctx.Err() != nil {
			return Response{}, fmt.Errorf("symbolicator %s %s: %w", task, redacted, ctxErr(ctx))
		}
		var ne *retryable
		if !errors.As(err, &ne) {
			if errors.Is(err, ErrNotReplayable) && last != nil {
				// The upload cannot be retried: report the failure that
				// made a retry necessary, and why there was none.
				return Response{}, last.giveUp(task, redacted, attempt, err)
			}
			return Response{}, err
		}
		last = ne
		s.m.Count(MetricRequestError, 1, map[string]string{"attempt": strconv.Itoa(attempt), "error": ne.kind})
		if ne.kind == "timeout" && s.roomForAnother(ctx) {
			// Slow is not dead: the request reached Symbolicator, which
			// took longer than the client waits (a starved machine, a long
			// pause). It is repeated, without spending one of the retries
			// meant for a service that cannot be reached, for as long as
			// the caller's deadline (the Lambda's) leaves room for another
			// whole attempt. A repeated submission may leave the first
			// task behind; Symbolicator drops it after its own timeout.
			log.WarnContext(ctx, "symbolicator slow to answer, asking again", "attempt", attempt, "error", ne.err)
			attempt--
			continue
		}
		if attempt >= len(s.cfg.RetryWaits) {
			msg := "symbolicator unreachable, giving up"
			if ne.malformed != nil {
				msg = "symbolicator answer not JSON on every attempt, giving up"
			}
			log.ErrorContext(ctx, msg, "attempts", attempt+1, "error", ne.err)
			return Response{}, ne.giveUp(task, redacted, attempt+1, nil)
		}
		wait := s.cfg.RetryWaits[attempt]
		log.WarnContext(ctx, "symbolicator request failed, retrying", "attempt", attempt, "wait", wait, "error", ne.err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Response{}, fmt.Errorf("symbolicator %s %s: %w", task, redacted, ctxErr(ctx))
		case <-t.C:
		}
	}
}

// roomForAnother is whether ctx's deadline leaves time for another whole
// attempt (twice the idle timeout, and a second to report the failure).
// Without a deadline there is no bound to wait within, so slow answers
// count as failed attempts.
func (s *Session) roomForAnother(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) > 2*s.cfg.IdleTimeout+time.Second
}

// ctxErr is the context's error, with its cause when that says more (a
// deadline set with context.WithTimeoutCause).
func ctxErr(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || cause == err {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// retryable marks an attempt's failure that the reference retries: a
// network error, or a 2xx answer whose body is not JSON. Sentry's
// SymbolicatorSession._request retries both alike (requests raises a
// RequestException for either: a connection error, or the JSONDecodeError
// of response.json()), with the same waits and the same count.
type retryable struct {
	kind string // metric dimension: connect, timeout, read, not_json
	err  error
	// malformed is the answer that was not JSON; nil for a network error.
	malformed *MalformedResponseError
}

func (e *retryable) Error() string { return e.err.Error() }

// giveUp is the error once no attempt is left after attempts tries: a
// *MalformedResponseError when the last answer was not JSON, as the
// reference then raises that JSONDecodeError, else a *NetworkError. why,
// when not nil, says why no retry was made.
func (e *retryable) giveUp(task, url string, attempts int, why error) error {
	if e.malformed != nil {
		me := *e.malformed
		me.Attempts = attempts
		if why != nil {
			return errors.Join(&me, why)
		}
		return &me
	}
	err := e.err
	if why != nil {
		err = errors.Join(err, why)
	}
	return &NetworkError{Task: task, URL: url, Attempts: attempts, Err: err, TimedOut: e.kind == "timeout"}
}

func (s *Session) endpoint(ref string) *url.URL {
	r, err := url.Parse(ref)
	if err != nil {
		// The references are built here from escaped parts; keep going with
		// a path that Symbolicator answers 404 to rather than panic.
		r = &url.URL{Path: "invalid"}
	}
	u := s.base.ResolveReference(r)
	q := url.Values{}
	q.Set("timeout", strconv.FormatInt(int64(math.Ceil(s.cfg.PollTimeout.Seconds())), 10))
	q.Set("scope", s.cfg.ProjectID)
	u.RawQuery = q.Encode()
	return u
}

// attempt sends the request once and interprets the answer.
func (s *Session) attempt(ctx context.Context, log *slog.Logger, task, method, target, requestID, worker string, attempt int, open bodyOpener) (resp Response, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(s.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	touch := func() { idle.Reset(s.cfg.IdleTimeout) }

	var body *requestBody
	if open != nil {
		if body, err = open(actx, touch); err != nil {
			return Response{}, err
		}
		defer func() {
			// Stop the producer: closing the pipe fails its writes, and the
			// cancelled context ends reads of a context-aware file (S3).
			body.r.Close()
			cancel(errRequestOver)
			if body.done == nil {
				return
			}
			// A producer stuck in a read that ignores the context is not
			// waited for beyond the idle timeout; it closes the file when
			// its read returns.
			t := time.NewTimer(s.cfg.IdleTimeout)
			defer t.Stop()
			select {
			case derr := <-body.done:
				// A file error explains a failed exchange; after an answer
				// it is only the producer being stopped, and a complete
				// upload is what the answer was given to.
				if derr != nil && err != nil && ctx.Err() == nil {
					if errors.Is(context.Cause(actx), errIdle) {
						derr = fmt.Errorf("%w (stalled: %s without progress)", derr, s.cfg.IdleTimeout)
					}
					resp, err = Response{}, derr
				}
			case <-t.C:
				log.WarnContext(ctx, "upload file still being read after the request ended")
			}
		}()
	}
	trace := &httptrace.ClientTrace{
		GotConn:              func(httptrace.GotConnInfo) { touch() },
		WroteHeaders:         touch,
		WroteRequest:         func(httptrace.WroteRequestInfo) { touch() },
		GotFirstResponseByte: touch,
	}
	var rbody io.Reader
	if body != nil {
		rbody = body.r
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), method, target, rbody)
	if err != nil {
		return Response{}, fmt.Errorf("symbolicator %s: build request: %w", task, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", body.contentType)
		req.ContentLength = body.length
		if body.length < 0 {
			req.ContentLength = -1
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Sentry-Project-Id", s.cfg.ProjectID)
	req.Header.Set("X-Sentry-Event-Id", s.cfg.EventID)
	req.Header.Set("X-Sentry-Worker-Id", worker)

	start := time.Now()
	hr, err := s.hc.Do(req)
	if err != nil {
		s.m.Observe(MetricRequestTime, ms(time.Since(start)), metrics.UnitMilliseconds, map[string]string{"attempt": strconv.Itoa(attempt)})
		return Response{}, s.classify(actx, err, "connect")
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(touchReader{hr.Body, touch}, s.cfg.MaxResponseBytes+1))
	s.m.Observe(MetricRequestTime, ms(time.Since(start)), metrics.UnitMilliseconds, map[string]string{"attempt": strconv.Itoa(attempt)})
	s.m.Count(MetricStatusCode, 1, map[string]string{"status_code": strconv.Itoa(hr.StatusCode)})
	if err != nil {
		return Response{}, s.classify(actx, err, "read")
	}
	if int64(len(raw)) > s.cfg.MaxResponseBytes {
		return Response{}, &MalformedResponseError{Task: task, StatusCode: hr.StatusCode,
			Reason: fmt.Sprintf("body larger than %d bytes", s.cfg.MaxResponseBytes), Excerpt: excerpt(raw)}
	}

	switch code := hr.StatusCode; {
	case code == http.StatusNotFound && task == TaskQuery:
		log.InfoContext(ctx, "symbolicator does not know the task")
		return Response{}, &TaskNotFoundError{RequestID: requestID}
	case code == http.StatusBadGateway || code == http.StatusServiceUnavailable:
		log.WarnContext(ctx, "symbolicator unavailable", "status_code", code, "body", excerpt(raw))
		return Response{}, &ServiceUnavailableError{Task: task, StatusCode: code}
	case code < 200 || code > 299:
		// The reference reports the body and carries on with a failed
		// status, so that one bad request does not loop forever.
		log.ErrorContext(ctx, "symbolicator request failed", "status_code", code, "body", excerpt(raw))
		return failedResponse("internal server error"), nil
	case task == taskHealthcheck:
		return Response{Status: "ok", Body: raw}, nil
	case !json.Valid(raw):
		// Sentry's behaviour: response.json() fails, and the reference
		// retries that like a network error. Only a body that does not
		// parse is retried; valid JSON of the wrong shape (no status, not
		// an object) fails at once there too, on the lookup of "status".
		me := &MalformedResponseError{Task: task, StatusCode: hr.StatusCode, Reason: "body is not JSON", Excerpt: excerpt(raw), Attempts: 1}
		return Response{}, &retryable{kind: "not_json", err: me, malformed: me}
	}
	return parseResponse(task, hr.StatusCode, raw)
}

func failedResponse(message string) Response {
	b, _ := json.Marshal(map[string]string{"status": StatusFailed, "message": message})
	return Response{Status: StatusFailed, Message: message, Body: b}
}

// classify turns a failed exchange into a network error to retry, or the
// caller's cancellation.
func (s *Session) classify(actx context.Context, err error, kind string) error {
	if errors.Is(context.Cause(actx), errIdle) {
		return &retryable{kind: "timeout", err: fmt.Errorf("%w (%s)", errIdle, s.cfg.IdleTimeout)}
	}
	if actx.Err() != nil {
		return actx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			kind = "timeout"
		}
		// url.Error repeats the URL, which the NetworkError already names.
		err = ue.Err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("connection closed without a complete answer: %w", err)
	}
	return &retryable{kind: kind, err: err}
}

func parseResponse(task string, code int, raw []byte) (Response, error) {
	var head struct {
		Status     *string  `json:"status"`
		RequestID  *string  `json:"request_id"`
		RetryAfter *float64 `json:"retry_after"`
		Message    *string  `json:"message"`
	}
	bad := func(reason string) (Response, error) {
		return Response{}, &MalformedResponseError{Task: task, StatusCode: code, Reason: reason, Excerpt: excerpt(raw)}
	}
	if !json.Valid(raw) {
		return bad("body is not JSON")
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return bad(fmt.Sprintf("field %s is a JSON %s", te.Field, te.Value))
		}
		return bad("body is not a JSON object")
	}
	if head.Status == nil || *head.Status == "" {
		return bad("no status")
	}
	r := Response{Status: *head.Status, Body: raw}
	if head.RequestID != nil {
		r.RequestID = *head.RequestID
	}
	if head.Message != nil {
		r.Message = *head.Message
	}
	if head.RetryAfter != nil {
		r.RetryAfter = int(math.Ceil(min(max(*head.RetryAfter, 0), math.MaxInt32)))
	}
	if r.Status == StatusPending && r.RequestID == "" {
		return bad("pending without request_id")
	}
	return r, nil
}

// excerpt is the start of a body, cut on a rune boundary.
func excerpt(b []byte) string {
	if len(b) <= excerptLen {
		return string(b)
	}
	s := string(b[:excerptLen])
	return strings.ToValidUTF8(s, "") + "…"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// touchReader marks progress on every read that returns data.
type touchReader struct {
	r     io.Reader
	touch func()
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.touch()
	}
	return n, err
}
