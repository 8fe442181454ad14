package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// relayLogPrefix starts every line the relay itself writes to stderr.
const relayLogPrefix = "netns relay: "

// stopGrace is how long the program has to exit after SIGTERM before its
// process group is killed.
const stopGrace = 5 * time.Second

// RelayMain runs the namespace relay and exits when this process was
// started as one by Start; otherwise it returns at once. Call it first
// thing in TestMain of every test binary that uses Start, directly or
// through a package such as dynamolocal:
//
//	func TestMain(m *testing.M) {
//		netns.RelayMain()
//		os.Exit(m.Run())
//	}
func RelayMain() {
	if os.Getenv(relayEnv) != "1" {
		return
	}
	os.Exit(runRelay(os.Stdin, os.Stdout, os.Stderr))
}

// runRelay runs inside the network namespace: it reads its configuration
// from the first line of stdin, starts the program, waits for readiness,
// serves the unix socket and writes the ready line to stdout. It stops the
// program's process group when stdin closes or a signal arrives, and
// returns (with a non-zero status) when the program exits by itself.
func runRelay(stdin io.Reader, stdout io.Writer, stderr *os.File) int {
	// The program's parent-death signal follows the thread that started
	// it; the main goroutine's thread lives as long as the relay.
	runtime.LockOSThread()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, relayLogPrefix+format+"\n", args...)
	}
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		logf("read configuration: %v", err)
		return 2
	}
	var cfg relayConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		logf("decode configuration: %v", err)
		return 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	// Start made the socket's directory for this relay alone; remove it
	// on the way out (once empty), also when the test binary died and
	// cannot.
	defer os.Remove(filepath.Dir(cfg.Socket))
	if err := loopbackUp(); err != nil {
		logf("bring lo up: %v", err)
		return 1
	}
	port := cfg.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			logf("find a free port: %v", err)
			return 1
		}
	}
	portText := strconv.Itoa(port)
	args := make([]string, len(cfg.Args))
	for i, a := range cfg.Args {
		args[i] = strings.ReplaceAll(a, PortPlaceholder, portText)
	}
	env := cfg.Env
	if env == nil {
		env = inheritedEnv()
	}
	for i, e := range env {
		env[i] = strings.ReplaceAll(e, PortPlaceholder, portText)
	}

	cmd := exec.Command(cfg.Path, args...)
	cmd.Env = env
	cmd.Dir = cfg.Dir
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Its own process group, so that stopping reaches whatever it starts;
	// SIGKILL when the relay dies, so it never outlives the relay.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		logf("start %s: %v", cfg.Path, err)
		return 1
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(stdinClosed)
	}()
	stop := func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
		}
		// Also ends what the program left behind in its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	var lastErr error // the last probe failure not caused by the deadline
	for {
		err := probe(ctx, port, cfg.HTTPPath, cfg.Status)
		if err == nil {
			break
		}
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		select {
		case <-exited:
			logf("%s exited before it was ready: %v", cfg.Path, waitErr)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return 1
		case <-stdinClosed:
			stop()
			logf("stopped before %s was ready", cfg.Path)
			return 1
		case sig := <-signals:
			stop()
			logf("stopped by %v before %s was ready", sig, cfg.Path)
			return 1
		case <-ctx.Done():
			stop()
			logf("%s not ready on port %d within %v: %v", cfg.Path, port, cfg.Timeout, lastErr)
			return 1
		case <-time.After(100 * time.Millisecond):
		}
	}

	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		stop()
		logf("listen on %s: %v", cfg.Socket, err)
		return 1
	}
	defer ln.Close()
	go serve(ln, "127.0.0.1:"+portText)
	if _, err := io.WriteString(stdout, formatReady(port, cmd.Process.Pid)); err != nil {
		stop()
		logf("report ready: %v", err)
		return 1
	}

	select {
	case <-exited:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		logf("%s exited: %v", cfg.Path, waitErr)
		return 1
	case <-stdinClosed:
	case <-signals:
	}
	stop()
	return 0
}

// serve forwards each connection accepted on ln to addr.
func serve(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			splice(c, up)
		}()
	}
}

// probe checks once whether the program is ready on port: it accepts a
// TCP connection or, with path set, answers a GET of path (with status,
// when non-zero).
func probe(ctx context.Context, port int, path string, status int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if path == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if status != 0 && resp.StatusCode != status {
		return fmt.Errorf("GET %s answered %s, want %d", path, resp.Status, status)
	}
	return nil
}

// inheritedEnv is the relay's environment less its own marker.
func inheritedEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, relayEnv+"=") {
			env = append(env, e)
		}
	}
	return env
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// loopbackUp brings the namespace's lo interface up; a new network
// namespace starts with it down.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	// struct ifreq: the name (IFNAMSIZ bytes), then a union whose flags
	// member is a short.
	var ifr [40]byte
	copy(ifr[:], "lo")
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("get lo flags: %w", errno)
	}
	flags := (*uint16)(unsafe.Pointer(&ifr[syscall.IFNAMSIZ]))
	*flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("set lo up: %w", errno)
	}
	return nil
}
