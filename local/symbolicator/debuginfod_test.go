//go:build linux

package symbolicator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// debuginfod (elfutils 0.188) has no option to choose its listening
// address: it binds every interface. The test therefore runs it in a fresh
// network namespace (unshare -n, or -rn when not root) whose only
// interface is its own loopback, and reaches it through a unix socket: the
// test binary re-executes itself inside the namespace as a relay (see
// debuginfodRelayMain) that starts debuginfod there and forwards each
// connection accepted on the socket to 127.0.0.1:<port> inside the
// namespace. Nothing listens on the host's interfaces.
const (
	relayEnv       = "SYMFLOW_DEBUGINFOD_RELAY"
	relaySocketEnv = "SYMFLOW_DEBUGINFOD_SOCKET"
	relayScanEnv   = "SYMFLOW_DEBUGINFOD_SCAN"
	relayDBEnv     = "SYMFLOW_DEBUGINFOD_DB"
)

func TestMain(m *testing.M) {
	if os.Getenv(relayEnv) == "1" {
		os.Exit(debuginfodRelayMain())
	}
	os.Exit(m.Run())
}

// loopbackUp brings the namespace's lo interface up (it starts down).
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr [40]byte
	copy(ifr[:], "lo")
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("get lo flags: %w", errno)
	}
	flags := *(*uint16)(unsafe.Pointer(&ifr[16]))
	flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	*(*uint16)(unsafe.Pointer(&ifr[16])) = flags
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("set lo up: %w", errno)
	}
	return nil
}

// debuginfodRelayMain runs inside the network namespace. It prints
// "ready" once the socket accepts connections and stops (with debuginfod)
// when its standard input closes.
func debuginfodRelayMain() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	if err := loopbackUp(); err != nil {
		return fail(err)
	}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()

	cmd := exec.Command("debuginfod", "-F", "-p", fmt.Sprint(port), "-d", os.Getenv(relayDBEnv), "-t", "0", "-g", "0", "-c", "1", os.Getenv(relayScanEnv))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start debuginfod: %w", err))
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	ln, err := net.Listen("unix", os.Getenv(relaySocketEnv))
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startDebuginfod runs debuginfod over scanDir in its own network
// namespace and returns an HTTP client whose connections reach it.
func startDebuginfod(t *testing.T, scanDir string) *http.Client {
	t.Helper()
	requireTool(t, "debuginfod")
	requireTool(t, "unshare")
	tmp := t.TempDir()
	sock := filepath.Join(tmp, "debuginfod.sock")
	// Root needs no user namespace for a network namespace; anyone else
	// maps themselves to root in a new user namespace first.
	nsFlag := "-rn"
	if os.Geteuid() == 0 {
		nsFlag = "-n"
	}
	cmd := exec.Command("unshare", nsFlag, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), relayEnv+"=1", relaySocketEnv+"="+sock, relayScanEnv+"="+scanDir, relayDBEnv+"="+filepath.Join(tmp, "debuginfod.sqlite"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(tmp, "debuginfod.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start debuginfod in a network namespace (unshare %s): %v", nsFlag, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			logFile.Close()
		})
	}
	t.Cleanup(stop)
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			log, _ := os.ReadFile(logPath)
			t.Fatalf("debuginfod relay did not start:\n%s", log)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("debuginfod relay did not start in 30s")
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

func TestDebuginfodSource(t *testing.T) {
	s := buildSample(t)
	scan := t.TempDir()
	// A stripped executable and its separate debug info, as a distribution
	// ships them.
	copyFile(t, s.Stripped, filepath.Join(scan, "sample"))
	copyFile(t, s.DebugInfo, filepath.Join(scan, "sample.debug"))
	client := startDebuginfod(t, scan)

	// Wait for debuginfod's scan to index both files.
	const base = "http://debuginfod.invalid/buildid/"
	deadline := time.Now().Add(90 * time.Second)
	for _, kind := range []string{"debuginfo", "executable"} {
		for {
			resp, err := client.Get(base + s.CodeID + "/" + kind)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("debuginfod did not index %s of %s in time (last error %v)", kind, s.CodeID, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	_, srv := testService(t, Config{HTTPClient: client})
	src := map[string]any{"type": "http", "id": "debuginfod", "url": base, "layout": map[string]any{"type": "debuginfod"}}
	inlineAddr, chain := findInlineAddr(t, s)
	resp := postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, inlineAddr, src))
	m, _ := firstResult(t, resp)
	if m["debug_status"] != "found" || m["arch"] != s.Arch {
		t.Fatalf("module = %v", m)
	}
	got := candidateStatuses(t, m)
	want := map[string]string{
		"debuginfod " + base + s.CodeID + "/debuginfo":  "ok debug:ok",
		"debuginfod " + base + s.CodeID + "/executable": "ok",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("candidate %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")
	checkChain(t, frames, 0, chain, 0, hexAddr(testImageAddr+inlineAddr-s.LoadAddr))

	// A build id debuginfod does not know is a plain miss.
	other := *s
	other.CodeID = strings.Repeat("ab", 20)
	other.DebugID = ""
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(&other, inlineAddr, src)))
	if m["debug_status"] != "missing" || f["status"] != "missing" {
		t.Errorf("unknown build id: module %v frame %v", m, f)
	}
}
