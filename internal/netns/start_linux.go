package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// relayEnv marks a process started as the relay; its configuration comes
// as the first line of its standard input.
const relayEnv = "SYMFLOW_NETNS_RELAY"

// relayConfig is what the relay needs to run the program.
type relayConfig struct {
	Socket   string        `json:"socket"`
	Path     string        `json:"path"`
	Args     []string      `json:"args"`
	Env      []string      `json:"env"` // nil inherits the relay's
	Dir      string        `json:"dir"`
	Port     int           `json:"port"`
	HTTPPath string        `json:"http_path"`
	Status   int           `json:"status"`
	Timeout  time.Duration `json:"timeout"`
}

// relayExecutable is the program unshare runs as the relay: this test
// binary. A variable so tests can check the error for a binary that does
// not call RelayMain.
var relayExecutable = os.Executable

const nsHint = "run the tests as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a container, allow the unshare system call)"

// Start runs cmd inside a new network namespace and returns once it is
// ready (its probe succeeded) and reachable through the returned Server.
// The test binary must call RelayMain first thing in its TestMain. The
// caller must Stop the server. ctx bounds the start only, not the
// server's life.
func Start(ctx context.Context, cmd Command) (*Server, error) {
	if err := cmd.validate(); err != nil {
		return nil, err
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("netns: unshare (util-linux) is not on PATH: %w; install util-linux (`make deps`)", ErrUnsupported)
	}
	path, err := exec.LookPath(cmd.Path)
	if err != nil {
		return nil, fmt.Errorf("netns: program %q: %w", cmd.Path, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("netns: program %q: %w", cmd.Path, err)
	}
	self, err := relayExecutable()
	if err != nil {
		return nil, fmt.Errorf("netns: find the test binary to run as relay: %w", err)
	}
	timeout := cmd.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// A short path: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "symflow-netns-")
	if err != nil {
		return nil, fmt.Errorf("netns: socket directory: %w", err)
	}
	cfg, err := json.Marshal(relayConfig{
		Socket:   filepath.Join(dir, "relay.sock"),
		Path:     path,
		Args:     cmd.Args,
		Env:      cmd.Env,
		Dir:      cmd.Dir,
		Port:     cmd.Port,
		HTTPPath: cmd.Probe.HTTPPath,
		Status:   cmd.Probe.Status,
		Timeout:  timeout,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("netns: encode relay configuration: %w", err)
	}

	// Root needs no user namespace to make a network namespace; anyone
	// else maps themselves to root in a new user namespace first.
	nsFlag := "-rn"
	if os.Geteuid() == 0 {
		nsFlag = "-n"
	}
	relay := exec.Command(unshare, nsFlag, self, "-test.run=^$")
	relay.Env = append(os.Environ(), relayEnv+"=1")
	// The relay gets SIGTERM, and so stops the program's whole process
	// group, when the test binary dies, even by SIGKILL.
	relay.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out := &syncBuffer{}
	relay.Stderr = out
	stdin, err := relay.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("netns: relay stdin: %w", err)
	}
	stdout, err := relay.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("netns: relay stdout: %w", err)
	}
	if err := relay.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("netns: start %s %s: %w", unshare, nsFlag, err)
	}
	s := &Server{
		socket: filepath.Join(dir, "relay.sock"),
		dir:    dir,
		relay:  relay,
		stdin:  stdin,
		output: out,
		done:   make(chan struct{}),
	}
	lines := make(chan string, 1)
	go func() {
		// Read the ready line, then keep draining so a relay that prints
		// more never blocks.
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = r.WriteTo(out)
	}()
	go func() {
		_ = relay.Wait()
		close(s.done)
	}()
	// The relay reads its configuration before doing anything; a write
	// error means it is gone already, which the ready line reports.
	_, _ = stdin.Write(append(cfg, '\n'))

	fail := func(err error) (*Server, error) {
		_ = s.Stop()
		return nil, err
	}
	// The relay enforces the readiness timeout itself; the margin covers
	// its own start.
	timer := time.NewTimer(timeout + 15*time.Second)
	defer timer.Stop()
	select {
	case line := <-lines:
		port, pid, ok := parseReady(line)
		if ok {
			s.port, s.pid = port, pid
			return s, nil
		}
		// The relay exited, or printed something else: it is not a relay.
		_ = s.Stop()
		return nil, startError(cmd, line, out.String())
	case <-ctx.Done():
		return fail(fmt.Errorf("netns: start %s: %w\noutput:\n%s", cmd.Path, ctx.Err(), out.String()))
	case <-timer.C:
		return fail(fmt.Errorf("netns: start %s: the relay did not report in %v\noutput:\n%s", cmd.Path, timeout+15*time.Second, out.String()))
	}
}

// startError explains why the relay did not report ready, from its first
// line on stdout and its output.
func startError(cmd Command, line, output string) error {
	switch {
	case strings.Contains(output, "unshare failed") || strings.Contains(output, "unshare: write failed") ||
		strings.Contains(output, "unshare: cannot"):
		return fmt.Errorf("netns: create a network namespace for %s: %w: %s; %s", cmd.Path, ErrUnsupported, strings.TrimSpace(output), nsHint)
	case line != "":
		return fmt.Errorf("netns: start %s: %w (it printed %q)\noutput:\n%s", cmd.Path, ErrNoRelay, strings.TrimSpace(line), output)
	case !strings.Contains(output, relayLogPrefix):
		// Nothing from the relay at all: the binary exited without
		// running it.
		return fmt.Errorf("netns: start %s: %w\noutput:\n%s", cmd.Path, ErrNoRelay, output)
	}
	return fmt.Errorf("netns: start %s: %s\noutput:\n%s", cmd.Path, lastRelayLine(output), output)
}

// lastRelayLine is the relay's last message in output, which says why it
// gave up.
func lastRelayLine(output string) string {
	lines := strings.Split(output, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], relayLogPrefix); ok {
			return strings.TrimSpace(msg)
		}
	}
	return "the relay exited"
}
