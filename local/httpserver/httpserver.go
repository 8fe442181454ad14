// Package httpserver builds the *http.Server of every server symflow runs
// locally (the API, the embedded Symbolicator, S3, DynamoDB, the runtime
// API), so that none can be held open by a client that stops sending.
//
// net/http's own ReadTimeout and WriteTimeout bound a whole request and a
// whole response: they would cut a large upload or download that is slow
// but moving, and a long poll that is waiting on purpose. Here the body and
// the response are bounded by progress instead: a read of the request body
// that gets no byte for Body, or a write of the response that cannot hand
// a byte to the client for Write, ends the request, while a handler that
// takes its time between reads or writes (a long poll) is never cut.
// Headers and idle keep-alive connections have fixed deadlines.
package httpserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Defaults of Timeouts.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// Timeouts bound how long a client may keep a server waiting. A zero field
// takes its default; a negative one turns that bound off.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers
	// (http.Server.ReadHeaderTimeout).
	ReadHeader time.Duration
	// Body ends a request whose body gets no byte for this long: each read
	// of the body may wait this long, so an upload of any size that keeps
	// moving is never cut. It also bounds how long the server reads an
	// unread body after the handler returns.
	Body time.Duration
	// Write ends a response the client takes no byte of for this long.
	// The handler's own pauses (a long poll waiting for its answer) do not
	// count.
	Write time.Duration
	// Idle closes a keep-alive connection that sends no new request for
	// this long (http.Server.IdleTimeout).
	Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0
		}
	}
	def(&t.ReadHeader, DefaultReadHeaderTimeout)
	def(&t.Body, DefaultBodyTimeout)
	def(&t.Write, DefaultWriteTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	return t
}

// New returns a server for h with the timeouts t. Its caller sets anything
// else (ErrorLog, BaseContext) and serves it as any *http.Server.
func New(h http.Handler, t Timeouts) *http.Server {
	t = t.withDefaults()
	return &http.Server{
		Handler:           &handler{next: h, t: t},
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
	}
}

// handler applies the progress deadlines around next.
type handler struct {
	next http.Handler
	t    Timeouts
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	var body *progressBody
	if h.t.Body > 0 && r.Body != nil && r.Body != http.NoBody {
		body = &progressBody{rc: rc, rd: r.Body, d: h.t.Body}
		// A handler that never reads the body leaves this deadline on the
		// connection, for the server's own reads of what is left.
		_ = rc.SetReadDeadline(time.Now().Add(h.t.Body))
		r.Body = body
	}
	if h.t.Write > 0 {
		pw := &progressWriter{ResponseWriter: w, rc: rc, d: h.t.Write}
		pw.extend()
		w = pw
	}
	defer func() {
		// The server flushes the response and reads what is left of an
		// unread body after the handler returns: give both a fresh
		// deadline, which the next request's header deadline replaces.
		if h.t.Write > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(h.t.Write))
		}
		if body != nil && !body.eof {
			_ = rc.SetReadDeadline(time.Now().Add(h.t.Body))
		}
	}()
	h.next.ServeHTTP(w, r)
}

// progressBody gives every read of a request body its own deadline.
type progressBody struct {
	rc  *http.ResponseController
	rd  io.ReadCloser
	d   time.Duration
	eof bool
}

func (b *progressBody) Read(p []byte) (int, error) {
	if !b.eof {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	n, err := b.rd.Read(p)
	if errors.Is(err, io.EOF) && !b.eof {
		// The body is done. The server now reads the connection in the
		// background to notice a client that goes away, and a deadline
		// left behind would end that read and cancel the request's
		// context while a long handler still runs.
		b.eof = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *progressBody) Close() error { return b.rd.Close() }

// progressWriter gives every write of a response its own deadline. It
// passes Flush, Hijack and Unwrap through, so handlers and
// http.ResponseController see the server's own writer.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *progressWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *progressWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *progressWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// FlushError is what http.ResponseController.Flush calls.
func (w *progressWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Hijack hands the connection over without the deadlines set here: its
// new owner decides how long it waits.
func (w *progressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.rc.Hijack()
	if err == nil {
		_ = c.SetDeadline(time.Time{})
	}
	return c, rw, err
}

func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
