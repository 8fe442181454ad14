package netns_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/netns"
)

// echoEnv makes the test binary a TCP echo server on every interface, at
// the port named by echoPortEnv: the kind of server this package is for.
const (
	echoEnv     = "SYMFLOW_NETNS_TEST_ECHO"
	echoPortEnv = "SYMFLOW_NETNS_TEST_PORT"
)

func TestMain(m *testing.M) {
	netns.RelayMain()
	if os.Getenv(echoEnv) == "1" {
		os.Exit(echoMain())
	}
	if dir := os.Getenv(hostEnv); dir != "" {
		os.Exit(hostMain(dir))
	}
	os.Exit(m.Run())
}

// hostEnv makes the test binary a stand-in for a test binary that dies
// while its server runs: it starts a server whose program has a child,
// prints "RELAY PROGRAM CHILD SOCKETDIR" (process ids, the relay's socket
// directory) and waits to be killed. The
// value is a directory for the child's pid file.
const hostEnv = "SYMFLOW_NETNS_TEST_HOST"

func hostMain(dir string) int {
	py, err := exec.LookPath("python3")
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	pidFile := filepath.Join(dir, "child.pid")
	s, err := netns.Start(context.Background(), treeCommand(py, pidFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	fmt.Printf("%d %d %s %s\n", netns.RelayPID(s), s.PID(), strings.TrimSpace(string(raw)), netns.SocketDir(s))
	select {}
}

// treeCommand runs python's http.server from a shell that first starts a
// child (sleep) and writes its pid to pidFile, so the program is a tree.
func treeCommand(py, pidFile string) netns.Command {
	return netns.Command{
		Path:    "sh",
		Args:    []string{"-c", `sleep 600 & echo $! > "$1"; exec "$2" -m http.server --bind 0.0.0.0 "$3"`, "sh", pidFile, py, netns.PortPlaceholder},
		Dir:     "testdata",
		Probe:   netns.Probe{HTTPPath: "/", Status: http.StatusOK},
		Timeout: 30 * time.Second,
	}
}

func echoMain() int {
	ln, err := net.Listen("tcp", ":"+os.Getenv(echoPortEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not on PATH: run `make deps`")
	}
	return p
}

// httpServer is python's http.server over testdata, bound to every
// interface.
func httpServer(t *testing.T) netns.Command {
	return netns.Command{
		Path:    python(t),
		Args:    []string{"-m", "http.server", "--bind", "0.0.0.0", netns.PortPlaceholder},
		Dir:     "testdata",
		Probe:   netns.Probe{HTTPPath: "/", Status: http.StatusOK},
		Timeout: 30 * time.Second,
	}
}

func start(t *testing.T, cmd netns.Command) *netns.Server {
	t.Helper()
	s, err := netns.Start(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// TestHTTPServerOnEveryInterfaceStaysInside runs a server that binds
// 0.0.0.0 and checks it answers through HTTPClient, listens on every
// interface of its namespace, and on none of the host's.
func TestHTTPServerOnEveryInterfaceStaysInside(t *testing.T) {
	s := start(t, httpServer(t))
	if s.Port() <= 0 || s.PID() <= 0 {
		t.Fatalf("Port = %d, PID = %d; want both positive", s.Port(), s.PID())
	}

	// The URL's host does not matter: every connection reaches the server.
	resp, err := s.HTTPClient().Get("http://server.invalid/hello.txt")
	if err != nil {
		t.Fatalf("GET through HTTPClient: %v\noutput:\n%s", err, s.Output())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello from inside the namespace\n" {
		t.Fatalf("GET /hello.txt = %s %q", resp.Status, body)
	}

	// Inside, the server listens on 0.0.0.0 (so the check below means
	// something); the host has no listener on that port at all.
	inside := listeners(t, fmt.Sprintf("/proc/%d/net/tcp", s.PID()))
	if !inside[fmt.Sprintf("0.0.0.0:%d", s.Port())] {
		t.Fatalf("the server does not listen on 0.0.0.0:%d inside its namespace: %v", s.Port(), inside)
	}
	for addr := range listeners(t, "/proc/self/net/tcp") {
		if strings.HasSuffix(addr, ":"+strconv.Itoa(s.Port())) {
			t.Errorf("the host has a listener on %s", addr)
		}
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()))
	if err == nil {
		c.Close()
		t.Fatalf("127.0.0.1:%d accepted a connection on the host", s.Port())
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial 127.0.0.1:%d on the host: %v, want connection refused", s.Port(), err)
	}

	// Requests in parallel share the socket.
	var wg sync.WaitGroup
	client := s.HTTPClient()
	for range 8 {
		wg.Go(func() {
			resp, err := client.Get("http://127.0.0.1/hello.txt")
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("parallel GET = %s", resp.Status)
			}
		})
	}
	wg.Wait()

	pid, relay := s.PID(), netns.RelayPID(s)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, pid, "server")
	waitGone(t, relay, "relay")
	if _, err := os.Stat(netns.SocketDir(s)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory %s remains after Stop (stat: %v)", netns.SocketDir(s), err)
	}
	if _, err := client.Get("http://127.0.0.1/hello.txt"); err == nil {
		t.Error("GET after Stop succeeded")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// listeners returns the local addresses in LISTEN state of a
// /proc/.../net/tcp table, as "a.b.c.d:port".
func listeners(t *testing.T, table string) map[string]bool {
	t.Helper()
	f, err := os.Open(table)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" { // TCP_LISTEN
			continue
		}
		hexIP, hexPort, _ := strings.Cut(fields[1], ":")
		ip, err1 := strconv.ParseUint(hexIP, 16, 32)
		port, err2 := strconv.ParseUint(hexPort, 16, 16)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad line %q", table, sc.Text())
		}
		// The address is in network order, printed as a native (little
		// endian on every Linux this runs on) integer.
		out[fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip), byte(ip>>8), byte(ip>>16), byte(ip>>24), port)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// alive reports whether pid is a process that has not exited (a zombie
// has).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// waitGone fails t unless pid exits soon; signals are delivered
// asynchronously, so a killed process may take a moment to go.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("%s process %d is still running", what, pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDialAndListenLoopback runs the test binary itself as an echo server
// on a fixed port and reaches it with Dial and through a host loopback
// listener.
func TestDialAndListenLoopback(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, netns.Command{
		Path: self,
		Env:  append(os.Environ(), echoEnv+"=1", echoPortEnv+"="+netns.PortPlaceholder),
		Port: 8080,
	})
	if s.Port() != 8080 {
		t.Fatalf("Port = %d, want the 8080 asked for", s.Port())
	}
	c, err := s.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "through the socket")

	addr, err := s.ListenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("ListenLoopback = %s, want an address on 127.0.0.1", addr)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c2, "through the loopback listener")

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the loopback listener %s still accepts after Stop", addr)
	}
	if _, err := s.ListenLoopback(); err == nil {
		t.Error("ListenLoopback after Stop succeeded")
	}
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	defer c.Close()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("echo = %q, %v; want %q", line, err, msg+"\n")
	}
}

// TestStopEndsProcessTree checks that Stop ends what the program started
// too, not only the program.
func TestStopEndsProcessTree(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	s := start(t, treeCommand(python(t), pidFile))
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || !alive(child) {
		t.Fatalf("child pid %q: %v (alive %v)", raw, err, err == nil && alive(child))
	}
	pid := s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, "server")
	waitGone(t, child, "server's child")
}

// TestKilledTestBinaryLeavesNothing kills (SIGKILL, no cleanup) a process
// that started a server, as when a test binary times out: the relay, the
// program and the program's child must all end.
func TestKilledTestBinaryLeavesNothing(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := exec.Command(self)
	host.Env = append(os.Environ(), hostEnv+"="+t.TempDir())
	var stderr strings.Builder
	host.Stderr = &stderr
	stdout, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	var relay, program, child int
	var sockDir string
	if _, err := fmt.Fscan(stdout, &relay, &program, &child, &sockDir); err != nil {
		_ = host.Process.Kill()
		_ = host.Wait()
		t.Fatalf("read pids from the host process: %v\n%s", err, stderr.String())
	}
	for _, pid := range []int{relay, program, child} {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the kill", pid)
		}
	}
	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	waitGone(t, relay, "relay")
	waitGone(t, program, "server")
	waitGone(t, child, "server's child")
	// The relay exits once the program is gone; give it the same time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(sockDir)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket directory %s remains (stat: %v)", sockDir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayDeathEndsProgram kills the relay, as when the test binary is
// killed: the program must not survive it.
func TestRelayDeathEndsProgram(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			s := start(t, httpServer(t))
			pid := s.PID()
			if err := syscall.Kill(netns.RelayPID(s), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.Exited():
			case <-time.After(30 * time.Second):
				t.Fatalf("the relay did not exit after %v", sig)
			}
			waitGone(t, pid, "server")
		})
	}
}

// TestProgramFailures checks that a program that cannot start, exits
// early or never gets ready fails Start with the reason and its output.
func TestProgramFailures(t *testing.T) {
	py := python(t)
	tests := []struct {
		name string
		cmd  netns.Command
		want []string
	}{
		{"exits early", netns.Command{
			Path: py,
			Args: []string{"-c", "import sys; print('cannot open the database', flush=True); sys.exit(3)"},
		}, []string{"exited before it was ready", "exit status 3", "cannot open the database"}},
		{"never ready", netns.Command{
			Path:    "sleep",
			Args:    []string{"600"},
			Timeout: time.Second,
		}, []string{"not ready on port", "within 1s"}},
		{"wrong status", netns.Command{
			Path:    py,
			Args:    []string{"-m", "http.server", "--bind", "127.0.0.1", netns.PortPlaceholder},
			Dir:     "testdata",
			Probe:   netns.Probe{HTTPPath: "/missing", Status: http.StatusOK},
			Timeout: 8 * time.Second, // ample for python to start on a loaded machine
		}, []string{"not ready", "GET /missing answered 404", "want 200"}},
		{"not executable", netns.Command{
			Path: "testdata/hello.txt",
		}, []string{"testdata/hello.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := netns.Start(context.Background(), tt.cmd)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestBadCommand checks that bad input is refused naming the field.
func TestBadCommand(t *testing.T) {
	tests := []struct {
		name string
		cmd  netns.Command
		want string
	}{
		{"no path", netns.Command{}, "Command.Path is empty"},
		{"negative port", netns.Command{Path: "sleep", Port: -1}, "Command.Port -1"},
		{"port too big", netns.Command{Path: "sleep", Port: 70000}, "Command.Port 70000"},
		{"negative timeout", netns.Command{Path: "sleep", Timeout: -time.Second}, "Command.Timeout"},
		{"relative probe path", netns.Command{Path: "sleep", Probe: netns.Probe{HTTPPath: "health"}}, `Probe.HTTPPath "health"`},
		{"bad status", netns.Command{Path: "sleep", Probe: netns.Probe{HTTPPath: "/", Status: 42}}, "Probe.Status 42"},
		{"status without path", netns.Command{Path: "sleep", Probe: netns.Probe{Status: 200}}, "Probe.Status is set without Probe.HTTPPath"},
		{"missing program", netns.Command{Path: "symflow-no-such-program"}, `"symflow-no-such-program"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := netns.Start(context.Background(), tt.cmd)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestNoNamespaces checks that a machine without unshare, or where
// namespaces are not permitted, fails with ErrUnsupported and a hint.
func TestNoNamespaces(t *testing.T) {
	py := python(t)
	t.Run("unshare missing", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := netns.Start(context.Background(), netns.Command{Path: py})
		if !errors.Is(err, netns.ErrUnsupported) || !strings.Contains(err.Error(), "util-linux") {
			t.Fatalf("Start error = %v, want ErrUnsupported naming util-linux", err)
		}
	})
	t.Run("not permitted", func(t *testing.T) {
		bin := t.TempDir()
		writeScript(t, filepath.Join(bin, "unshare"), `echo "unshare: unshare failed: Operation not permitted" >&2; exit 1`)
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		_, err := netns.Start(context.Background(), netns.Command{Path: py})
		if !errors.Is(err, netns.ErrUnsupported) || !strings.Contains(err.Error(), "Operation not permitted") ||
			!strings.Contains(err.Error(), "user namespaces") {
			t.Fatalf("Start error = %v, want ErrUnsupported with the reason and a hint", err)
		}
	})
}

// TestNotARelay checks the error when the re-executed binary does not act
// as relay (its TestMain lacks RelayMain).
func TestNotARelay(t *testing.T) {
	tests := []struct {
		name, script string
	}{
		{"runs its tests", `echo "testing: warning: no tests to run"; echo PASS`},
		{"exits silently", `exit 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "tests")
			writeScript(t, exe, tt.script)
			netns.SetRelayExecutable(t, exe)
			_, err := netns.Start(context.Background(), netns.Command{Path: python(t)})
			if !errors.Is(err, netns.ErrNoRelay) || !strings.Contains(err.Error(), "RelayMain") {
				t.Fatalf("Start error = %v, want ErrNoRelay naming RelayMain", err)
			}
		})
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestStartCanceled checks that Start gives up when ctx ends.
func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := netns.Start(ctx, netns.Command{Path: "sleep", Args: []string{"600"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start error = %v, want the context's deadline", err)
	}
}

// BenchmarkEchoThroughRelay measures a small round trip over a connection
// through the relay's socket.
func BenchmarkEchoThroughRelay(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	s, err := netns.Start(context.Background(), netns.Command{
		Path: self,
		Env:  append(os.Environ(), echoEnv+"=1", echoPortEnv+"="+netns.PortPlaceholder),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	c, err := s.Dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for b.Loop() {
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
}
