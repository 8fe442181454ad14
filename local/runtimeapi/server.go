package runtimeapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/symflow/symflow/local/httpserver"
)

// Runtime API paths and headers, as aws-lambda-go's runtime client uses
// them.
const (
	apiPrefix = "/2018-06-01/runtime/"

	headerRequestID          = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMS         = "Lambda-Runtime-Deadline-Ms"
	headerInvokedFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID            = "Lambda-Runtime-Trace-Id"
	headerErrorType          = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody         = "Lambda-Runtime-Function-Error-Body"
)

// MaxResponseSize is Lambda's limit on a synchronous invocation's response
// (6 MB as Lambda counts it); a larger response fails the invocation with
// Function.ResponseSizeTooLarge.
const MaxResponseSize = 6291556

// Invocation is one request handed to the runtime by /next.
type Invocation struct {
	RequestID   string
	Payload     []byte
	FunctionARN string
	TraceID     string
	// Timeout is the function's timeout; the deadline the runtime sees is
	// the moment of delivery plus Timeout, as on Lambda.
	Timeout time.Duration
}

// Result is what the runtime posted for an invocation: the response
// payload, or the function error.
type Result struct {
	Payload []byte
	Err     *FunctionError
}

// FunctionError is a failed invocation as Lambda reports it: Type is the
// errorType (what Step Functions names the error) and Payload the JSON
// error document the invoke returns ({"errorMessage", "errorType", ...}).
type FunctionError struct {
	Type    string
	Message string
	Payload json.RawMessage
}

func (e *FunctionError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// newFunctionError builds the error payload Lambda itself writes for
// errors the runtime did not post (exit, timeout, init failures).
func newFunctionError(typ, message string) *FunctionError {
	payload, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, typ})
	return &FunctionError{Type: typ, Message: message, Payload: payload}
}

// parseFunctionError reads an error document a runtime posted. A body
// that is not the expected JSON still fails the invocation, under the
// header's type (or Unhandled, Lambda's name for an untyped failure).
func parseFunctionError(body []byte, headerType string) *FunctionError {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(body, &doc); err == nil && (doc.ErrorType != "" || doc.ErrorMessage != "") {
		typ := doc.ErrorType
		if typ == "" {
			typ = headerType
		}
		if typ == "" {
			typ = "Unhandled"
		}
		return &FunctionError{Type: typ, Message: doc.ErrorMessage, Payload: json.RawMessage(body)}
	}
	typ := headerType
	if typ == "" {
		typ = "Unhandled"
	}
	return newFunctionError(typ, string(body))
}

// call is one invocation's life on a Server: queued, delivered by /next,
// then finished by a response or error post, or withdrawn by its caller
// before delivery.
type call struct {
	inv       Invocation
	delivered chan struct{} // closed by /next
	done      chan struct{} // closed when result is set

	// Guarded by Server.mu.
	state    callState
	deadline time.Time
	result   Result
}

type callState int

const (
	callQueued callState = iota
	callDelivered
	callDone
	callWithdrawn
)

// Server is the Runtime API of one execution environment. Lambda gives
// each environment its own endpoint; so does this package, which is how a
// /next is known to come from the process the invocation is meant for.
// It takes one invocation at a time, like a Lambda environment.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger

	queue  chan *call
	closed chan struct{}

	mu        sync.Mutex
	calls     map[string]*call
	firstNext time.Time
	initErr   *FunctionError
	initErrCh chan struct{} // closed when the runtime reports an init error
	closeOnce sync.Once
}

// StartServer listens on a free 127.0.0.1 port. log receives protocol
// errors (nil discards them).
func StartServer(log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start runtime API: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		ln:        ln,
		log:       log,
		queue:     make(chan *call, 1),
		closed:    make(chan struct{}),
		calls:     map[string]*call{},
		initErrCh: make(chan struct{}),
	}
	// The runtime's GET /next is a long poll: the progress timeouts leave
	// it waiting for as long as no invocation comes.
	s.srv = httpserver.New(s, httpserver.Timeouts{})
	go s.srv.Serve(ln) //nolint:errcheck // ErrServerClosed after Close
	return s, nil
}

// Addr is the host:port for AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving: a runtime waiting on /next gets an error and, as
// aws-lambda-go does, exits.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.srv.Close()
	})
	return err
}

// FirstNext reports when the runtime first asked for an invocation (the
// end of its init), and whether it has.
func (s *Server) FirstNext() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstNext, !s.firstNext.IsZero()
}

// InitError is closed when the runtime posts /init/error; InitErr then
// returns the error it posted.
func (s *Server) InitError() <-chan struct{} { return s.initErrCh }

// InitErr is the error the runtime posted to /init/error, if any.
func (s *Server) InitErr() *FunctionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// Pending is a submitted invocation.
type Pending struct {
	s *Server
	c *call
}

// Submit queues inv for the runtime's next /next. The caller waits on
// Delivered and Done, and must Withdraw an invocation it gives up on
// before delivery. Only one invocation may wait at a time.
func (s *Server) Submit(inv Invocation) (*Pending, error) {
	if inv.RequestID == "" {
		return nil, errors.New("submit invocation: empty request id")
	}
	c := &call{inv: inv, delivered: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if _, dup := s.calls[inv.RequestID]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("submit invocation: request id %s already used", inv.RequestID)
	}
	s.calls[inv.RequestID] = c
	s.mu.Unlock()
	select {
	case s.queue <- c:
		return &Pending{s: s, c: c}, nil
	default:
		s.mu.Lock()
		delete(s.calls, inv.RequestID)
		s.mu.Unlock()
		return nil, errors.New("submit invocation: another invocation is already queued")
	}
}

// Delivered is closed when the runtime has received the invocation.
func (p *Pending) Delivered() <-chan struct{} { return p.c.delivered }

// Done is closed when the runtime has posted a response or an error.
func (p *Pending) Done() <-chan struct{} { return p.c.done }

// Result is the runtime's answer; valid once Done is closed.
func (p *Pending) Result() Result {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.c.result
}

// Deadline is the deadline the runtime was given; zero before delivery.
func (p *Pending) Deadline() time.Time {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.c.deadline
}

// Withdraw takes the invocation back if the runtime has not received it
// yet, and reports whether it did. A withdrawn invocation is never
// delivered.
func (p *Pending) Withdraw() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.c.state != callQueued {
		return false
	}
	p.c.state = callWithdrawn
	delete(p.s.calls, p.c.inv.RequestID)
	// The call may still sit in the queue; /next skips withdrawn calls.
	select {
	case c := <-p.s.queue:
		if c != p.c {
			select {
			case p.s.queue <- c:
			default:
			}
		}
	default:
	}
	return true
}

// Forget drops a finished or abandoned invocation's record, so late posts
// for it are refused.
func (p *Pending) Forget() {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	delete(p.s.calls, p.c.inv.RequestID)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		writeAPIError(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
		return
	}
	switch {
	case path == "invocation/next":
		if r.Method != http.MethodGet {
			writeAPIError(w, http.StatusMethodNotAllowed, "InvalidRequest", "use GET for "+r.URL.Path)
			return
		}
		s.next(w, r)
	case path == "init/error":
		if r.Method != http.MethodPost {
			writeAPIError(w, http.StatusMethodNotAllowed, "InvalidRequest", "use POST for "+r.URL.Path)
			return
		}
		s.postInitError(w, r)
	case strings.HasPrefix(path, "invocation/"):
		id, kind, ok := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		if !ok || id == "" || (kind != "response" && kind != "error") {
			writeAPIError(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
			return
		}
		if r.Method != http.MethodPost {
			writeAPIError(w, http.StatusMethodNotAllowed, "InvalidRequest", "use POST for "+r.URL.Path)
			return
		}
		s.post(w, r, id, kind)
	default:
		writeAPIError(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
	}
}

// next blocks until an invocation is queued, then hands it over with the
// headers aws-lambda-go reads. A runtime that abandons a /next may still
// be handed the invocation if the server has not yet seen it go;
// aws-lambda-go never abandons one, and Function's timeout bounds the
// invocation either way.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
	}
	s.mu.Unlock()
	for {
		var c *call
		select {
		case c = <-s.queue:
		case <-r.Context().Done():
			return
		case <-s.closed:
			writeAPIError(w, http.StatusInternalServerError, "ServiceException", "the execution environment is shutting down")
			return
		}
		s.mu.Lock()
		if c.state != callQueued {
			s.mu.Unlock()
			continue // withdrawn
		}
		if r.Context().Err() != nil {
			// The runtime went away; keep the call for the next /next.
			select {
			case s.queue <- c:
			default:
			}
			s.mu.Unlock()
			return
		}
		c.state = callDelivered
		c.deadline = time.Now().Add(c.inv.Timeout)
		deadline := c.deadline
		close(c.delivered)
		s.mu.Unlock()

		h := w.Header()
		h.Set(headerRequestID, c.inv.RequestID)
		h.Set(headerDeadlineMS, strconv.FormatInt(deadline.UnixMilli(), 10))
		h.Set(headerInvokedFunctionARN, c.inv.FunctionARN)
		h.Set(headerTraceID, c.inv.TraceID)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(c.inv.Payload); err != nil {
			s.log.Warn("runtime API: deliver invocation", "request_id", c.inv.RequestID, "error", err)
		}
		return
	}
}

// post records a response or an error for a delivered invocation.
func (s *Server) post(w http.ResponseWriter, r *http.Request, id, kind string) {
	s.mu.Lock()
	c := s.calls[id]
	state := callWithdrawn
	if c != nil {
		state = c.state
	}
	s.mu.Unlock()
	if c == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "unknown request id "+id)
		return
	}
	if state != callDelivered {
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+id+" is not in progress")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize+1))
	var res Result
	status, apiType, apiMsg := http.StatusAccepted, "", ""
	switch {
	case err != nil:
		res.Err = newFunctionError("Runtime.Unknown", "reading the function's "+kind+": "+err.Error())
		status, apiType, apiMsg = http.StatusBadRequest, "InvalidRequest", "cannot read body"
	case len(body) > MaxResponseSize:
		// Read on (boundedly) so the runtime gets the 413 rather than a
		// reset connection.
		_, _ = io.CopyN(io.Discard, r.Body, 64<<20)
		res.Err = newFunctionError("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseSize))
		status, apiType, apiMsg = http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxResponseSize)
	case kind == "error":
		res.Err = parseFunctionError(body, r.Header.Get(headerErrorType))
	case r.Trailer.Get(headerErrorType) != "":
		// aws-lambda-go reports a response stream that failed midway in
		// trailers; Lambda fails the invocation with that error.
		doc, derr := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		if derr != nil {
			doc = nil
		}
		res.Err = parseFunctionError(doc, r.Trailer.Get(headerErrorType))
	default:
		res.Payload = body
	}
	s.mu.Lock()
	if c.state != callDelivered {
		s.mu.Unlock()
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+id+" is not in progress")
		return
	}
	c.state = callDone
	c.result = res
	close(c.done)
	s.mu.Unlock()
	if status != http.StatusAccepted {
		writeAPIError(w, status, apiType, apiMsg)
		return
	}
	writeStatusOK(w)
}

// postInitError records the error a runtime reports when it cannot start;
// the invocation waiting for it fails with that error.
func (s *Server) postInitError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "cannot read body")
		return
	}
	fe := parseFunctionError(body, r.Header.Get(headerErrorType))
	s.mu.Lock()
	if s.initErr != nil {
		s.mu.Unlock()
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "init error already reported")
		return
	}
	s.initErr = fe
	close(s.initErrCh)
	s.mu.Unlock()
	writeStatusOK(w)
}

func writeStatusOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

// writeAPIError answers in the Runtime API's error shape.
func writeAPIError(w http.ResponseWriter, status int, typ, msg string) {
	body, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
