// Package netns runs a test server that cannot choose its listening address
// (it binds every interface) inside a private network namespace, so that
// nothing listens on this machine's interfaces, and connects tests to it
// through a unix socket.
//
// symflow's tests never bind or contact anything but 127.0.0.1. Servers
// such as DynamoDB Local and debuginfod have no option to choose their
// address, so Start runs them under `unshare -n` (`unshare -rn`, mapping
// the caller to root in a new user namespace, when not root): the test
// binary re-executes itself there as a relay (see RelayMain) that brings
// the namespace's loopback interface up, starts the program, waits until it
// is ready, and forwards each connection accepted on a unix socket (a file,
// so it is reachable from outside the namespace) to 127.0.0.1:<port> inside
// the namespace. The namespace has no interface but its own loopback, so
// the program's "every interface" is that loopback alone.
//
// The relay stops the program's whole process group when its standard input
// closes (Stop, or the test binary's death) or it gets SIGTERM, and the
// program gets SIGKILL if the relay dies, so no server outlives its tests.
//
// Linux only: elsewhere Start fails with ErrUnsupported. A host where
// namespaces are not permitted fails the same way, with a hint; there is no
// fallback to binding every interface.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// PortPlaceholder, in Command.Args or Command.Env, is replaced by the port
// the program must listen on inside the namespace.
const PortPlaceholder = "{port}"

// DefaultTimeout is how long Start waits for readiness when
// Command.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// ErrUnsupported is returned (wrapped, with the reason and a hint) when
// this machine cannot run a program in a private network namespace:
// unshare is missing, namespaces are not permitted, or the OS is not Linux.
var ErrUnsupported = errors.New("private network namespaces are unavailable")

// ErrNoRelay is returned (wrapped) when the test binary, re-executed as the
// relay, did not act as one: its TestMain does not call RelayMain first.
var ErrNoRelay = errors.New("the test binary did not run as the namespace relay: call netns.RelayMain() first thing in its TestMain")

// Command is a program to run inside the namespace.
type Command struct {
	// Path is the program; a name without a slash is looked up in PATH
	// (of the calling process) before starting.
	Path string
	// Args are the arguments after the program name. PortPlaceholder in
	// them is replaced by the listening port.
	Args []string
	// Env is the program's environment, as in exec.Cmd: nil inherits the
	// calling process's. PortPlaceholder in values is replaced by the port.
	Env []string
	// Dir is the program's working directory; empty means the caller's.
	Dir string
	// Port is the TCP port the program listens on inside the namespace.
	// Zero picks a free one (any port is free in a new namespace), to be
	// passed to the program with PortPlaceholder.
	Port int
	// Probe says when the program is ready.
	Probe Probe
	// Timeout bounds the wait for readiness; zero means DefaultTimeout.
	Timeout time.Duration
}

// Probe says when the program is ready to serve.
type Probe struct {
	// HTTPPath, when set, makes readiness an answer to a GET of this path
	// (it starts with "/") from 127.0.0.1:<port> inside the namespace.
	// When empty, readiness is an accepted TCP connection.
	HTTPPath string
	// Status, when non-zero, is the status the GET must answer with;
	// otherwise any answer means ready.
	Status int
}

func (c *Command) validate() error {
	switch {
	case c.Path == "":
		return errors.New("netns: Command.Path is empty")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("netns: Command.Port %d is not a TCP port (0 picks one)", c.Port)
	case c.Timeout < 0:
		return fmt.Errorf("netns: Command.Timeout %v is negative", c.Timeout)
	case c.Probe.HTTPPath != "" && c.Probe.HTTPPath[0] != '/':
		return fmt.Errorf("netns: Command.Probe.HTTPPath %q does not start with /", c.Probe.HTTPPath)
	case c.Probe.Status != 0 && (c.Probe.Status < 100 || c.Probe.Status > 999):
		return fmt.Errorf("netns: Command.Probe.Status %d is not an HTTP status", c.Probe.Status)
	case c.Probe.Status != 0 && c.Probe.HTTPPath == "":
		return errors.New("netns: Command.Probe.Status is set without Probe.HTTPPath")
	}
	return nil
}

// Server is a program running in its own network namespace.
type Server struct {
	socket string // the relay's unix socket
	dir    string // temporary directory holding socket
	port   int    // listening port inside the namespace
	pid    int    // the program's process id
	relay  *exec.Cmd
	stdin  io.WriteCloser
	output *syncBuffer
	done   chan struct{} // closed when the relay has exited

	mu         sync.Mutex
	listeners  []net.Listener
	transports []*http.Transport
	stopped    bool

	stopOnce sync.Once
	stopErr  error
}

// Dial connects to the program's port inside the namespace.
func (s *Server) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.socket)
	if err != nil {
		return nil, fmt.Errorf("netns: dial %s: %w", s.socket, err)
	}
	return c, nil
}

// HTTPClient returns a client whose connections all reach the program,
// whatever host and port a request's URL names. Each call makes a new
// client with its own connection pool, whose idle connections Stop closes.
func (s *Server) HTTPClient() *http.Client {
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return s.Dial(ctx)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	s.mu.Lock()
	s.transports = append(s.transports, t)
	s.mu.Unlock()
	return &http.Client{Transport: t}
}

// ListenLoopback listens on an ephemeral port of 127.0.0.1 on the host
// and forwards each connection it accepts to the program, for clients that
// cannot be handed a dialer, such as other processes. It returns the
// listening address (127.0.0.1:PORT). Stop closes the listener.
func (s *Server) ListenLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("netns: listen on loopback: %w", err)
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		ln.Close()
		return "", errors.New("netns: ListenLoopback after Stop")
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.forward(c)
		}
	}()
	return ln.Addr().String(), nil
}

func (s *Server) forward(c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	up, err := s.Dial(ctx)
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	splice(c, up)
}

// splice copies both ways, passing on each direction's end as a
// half-close, until both directions are done.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close so the peer sees the end of the request while the
		// answer can still flow.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

// Port is the port the program listens on inside the namespace. It is not
// open on the host: reach it with Dial, HTTPClient or ListenLoopback.
func (s *Server) Port() int { return s.port }

// PID is the program's process id (in the caller's PID namespace).
func (s *Server) PID() int { return s.pid }

// Output is what the program and the relay printed so far, for failure
// messages.
func (s *Server) Output() string { return s.output.String() }

// Exited is closed once the relay, and so the program, has exited.
func (s *Server) Exited() <-chan struct{} { return s.done }

// Stop ends the program and every process of its group, waits for the
// relay to exit, closes the loopback listeners and removes the socket. It
// is safe to call more than once and from several goroutines. It reports
// an error only when the relay had to be killed because it did not stop by
// itself.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		for _, ln := range s.listeners {
			ln.Close()
		}
		s.listeners = nil
		transports := s.transports
		s.transports = nil
		s.mu.Unlock()
		defer func() {
			for _, t := range transports {
				t.CloseIdleConnections()
			}
		}()
		// Closing stdin tells the relay to stop the program.
		s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.relay.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("netns: relay %d did not stop within 15s and was killed\noutput:\n%s", s.relay.Process.Pid, s.output.String())
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("netns: remove socket directory: %w", err)
		}
	})
	return s.stopErr
}

// readyPrefix starts the relay's one line on standard output once the
// program is ready: readyPrefix PORT PID.
const readyPrefix = "symflow-netns-ready"

func parseReady(line string) (port, pid int, ok bool) {
	var prefix string
	n, err := fmt.Sscanf(line, "%s %d %d", &prefix, &port, &pid)
	if err != nil || n != 3 || prefix != readyPrefix {
		return 0, 0, false
	}
	return port, pid, true
}

func formatReady(port, pid int) string {
	return readyPrefix + " " + strconv.Itoa(port) + " " + strconv.Itoa(pid) + "\n"
}

// syncBuffer collects output from several writers, bounded: the start and
// what follows up to the bound are what explain failures.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxOutput = 1 << 20

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - b.buf.Len(); room < len(p) {
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
