package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
)

// heldSymbolicator is a Symbolicator that accepts every crash and keeps
// the tasks pending until released: a poll is held up to its timeout, as
// Symbolicator holds it, then answered pending. Released, polls answer
// completed with one symbolicated frame. It serves on loopback from the
// test process, so it outlives the symflow processes the tests kill.
type heldSymbolicator struct {
	release  chan struct{}
	once     sync.Once
	submits  atomic.Int64
	polls    atomic.Int64
	inFlight atomic.Int64

	mu    sync.Mutex
	tasks map[string]bool
}

func newHeldSymbolicator(t *testing.T) (*heldSymbolicator, string) {
	h := &heldSymbolicator{release: make(chan struct{}), tasks: map[string]bool{}}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Release(); srv.Close() })
	return h, srv.URL + "/"
}

// Release lets every task complete.
func (h *heldSymbolicator) Release() { h.once.Do(func() { close(h.release) }) }

func (h *heldSymbolicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body) //nolint:errcheck // the body is not looked at
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/symbolicate":
		id := uuid.NewString()
		h.mu.Lock()
		h.tasks[id] = true
		h.mu.Unlock()
		h.submits.Add(1)
		fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/requests/"):
		id := strings.TrimPrefix(r.URL.Path, "/requests/")
		h.mu.Lock()
		known := h.tasks[id]
		h.mu.Unlock()
		if !known {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h.polls.Add(1)
		h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		hold, _ := strconv.Atoi(r.URL.Query().Get("timeout"))
		t := time.NewTimer(time.Duration(max(hold, 1)) * time.Second)
		defer t.Stop()
		select {
		case <-h.release:
			io.WriteString(w, `{"status":"completed","stacktraces":[{"frames":[{"status":"symbolicated","original_index":0,"instruction_addr":"0x401136","function":"checked_limit","filename":"crashy.c","lineno":15}]}],"modules":[]}`) //nolint:errcheck // the client went away
		case <-t.C:
			fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, id)
		case <-r.Context().Done():
		}
	case r.URL.Path == "/healthcheck":
		io.WriteString(w, "ok") //nolint:errcheck // the client went away
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// symflowBinary builds cmd/symflow once for the test binary's life.
func symflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "symflow-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "symflow")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// serveProcess is a `symflow serve` started by a test.
type serveProcess struct {
	cmd    *exec.Cmd
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs the built binary on a free loopback port over state and
// waits until it says where it listens.
func startServe(t *testing.T, state, symbolicatorURL string, extra ...string) *serveProcess {
	t.Helper()
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--root", root, "--state-dir", state, "--symbolicator-url", symbolicatorURL}, extra...)
	p := &serveProcess{cmd: exec.Command(symflowBinary(t), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		first, _ := br.ReadString('\n')
		p.stdout.Write([]byte(first))
		lines <- first
		io.Copy(p.stdout, br) //nolint:errcheck // until the process ends
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case line := <-lines:
		base, ok := strings.CutPrefix(strings.TrimSpace(line), "symflow API on ")
		if !ok {
			t.Fatalf("serve printed %q first; stderr:\n%s", line, p.stderr.String())
		}
		p.base = strings.Fields(base)[0]
	case <-time.After(3 * time.Minute):
		t.Fatalf("serve did not say where it listens within 3 minutes; stderr:\n%s", p.stderr.String())
	}
	return p
}

func (p *serveProcess) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitFor polls cond until it holds, failing after a generous deadline
// with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 3 minutes waiting for %s: %s", what, detail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submitHeld stores the sample project and submits n events against the
// held Symbolicator, then waits until every execution is polling it.
func submitHeld(t *testing.T, p *serveProcess, sym *heldSymbolicator, n int) []string {
	t.Helper()
	project, err := os.ReadFile(filepath.Join(repo, "events/project/sample-project.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := p.do(t, "PUT", "/v1/projects/42/config", project); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}
	var sample struct {
		Payload json.RawMessage `json:"payload"`
	}
	raw, _ := os.ReadFile(filepath.Join(repo, "events/execution/native-crash.json"))
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range n {
		event := fmt.Sprintf("%032x", 0xd0ab1e00+i)
		code, body := p.do(t, "POST", "/v1/projects/42/events/"+event+"/symbolicate", sample.Payload)
		if code != 202 {
			t.Fatalf("submit %d: %d %s", i, code, body)
		}
		names = append(names, "42_"+event)
	}
	waitFor(t, fmt.Sprintf("all %d executions to poll the held Symbolicator", n),
		func() bool { return sym.submits.Load() >= int64(n) && sym.polls.Load() >= int64(n) },
		func() string {
			return fmt.Sprintf("%d submits, %d polls; serve's log:\n%s", sym.submits.Load(), sym.polls.Load(), p.stderr.String())
		})
	return names
}

// finishAll waits until none of names is RUNNING and counts those that
// SUCCEEDED.
func finishAll(t *testing.T, p *serveProcess, names []string) (succeeded int, statuses map[string]string) {
	t.Helper()
	statuses = map[string]string{}
	waitFor(t, "every execution to finish after the restart", func() bool {
		for _, name := range names {
			code, body := p.do(t, "GET", "/v1/executions/"+name, nil)
			var st struct{ Status string }
			if code != 200 || json.Unmarshal(body, &st) != nil {
				statuses[name] = fmt.Sprintf("HTTP %d %s", code, body)
				return false
			}
			statuses[name] = st.Status
			if st.Status == "RUNNING" {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%v; serve's log:\n%s", statuses, p.stderr.String()) })
	for _, s := range statuses {
		if s == "SUCCEEDED" {
			succeeded++
		}
	}
	return succeeded, statuses
}

// onDisk reads the executions the state folder holds.
func onDisk(t *testing.T, state string, names []string) map[string]*asl.Execution {
	t.Helper()
	out := map[string]*asl.Execution{}
	for _, name := range names {
		e, err := stack.LoadExecution(state, name)
		if err != nil {
			t.Fatalf("execution %s is not in the state folder: %v", name, err)
		}
		out[name] = e
	}
	return out
}

func aborted(e *asl.Execution) bool {
	return e.Status == asl.StatusAborted || slices.ContainsFunc(e.History, func(ev asl.HistoryEvent) bool { return ev.Type == "ExecutionAborted" })
}

// TestKillNineThenRestart: `symflow serve` killed with SIGKILL while N
// accepted events are in flight loses none of them. Restarted on the same
// state folder, it has the project's configuration and resumes every
// execution from the state it was in; all N finish, and the client
// submits nothing again.
func TestKillNineThenRestart(t *testing.T) {
	const n = 12
	sym, symURL := newHeldSymbolicator(t)
	state := t.TempDir()
	first := startServe(t, state, symURL)
	names := submitHeld(t, first, sym, n)
	waitFor(t, "a poll held by the Symbolicator", func() bool { return sym.inFlight.Load() > 0 }, func() string { return "none" })
	inFlight := sym.inFlight.Load()
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	t.Logf("killed with %d of %d executions inside PollTask", inFlight, n)

	for name, e := range onDisk(t, state, names) {
		if e.Status != asl.StatusRunning || aborted(e) {
			t.Errorf("after kill -9, %s is %s on disk, want RUNNING", name, e.Status)
		}
	}
	second := startServe(t, state, symURL)
	code, config := second.do(t, "GET", "/v1/projects/42/config", nil)
	if code != 200 || !bytes.Contains(config, []byte(`"crashy-app"`)) {
		t.Errorf("project configuration after kill -9: %d %s", code, config)
	}
	sym.Release()
	succeeded, statuses := finishAll(t, second, names)
	t.Logf("after kill -9 with %d executions in flight: %d of %d finished after restart", n, succeeded, n)
	if succeeded != n {
		t.Errorf("statuses %v", statuses)
	}
	all, err := stack.ListExecutions(state)
	if err != nil || len(all) != n {
		t.Errorf("%d executions in the state folder (%v), want the %d submitted", len(all), err, n)
	}
	for _, e := range all {
		if e.RedriveCount != 0 || aborted(e) || !slices.Contains(names, e.Name) {
			t.Errorf("execution %s: %s, redriven %d times", e.Name, e.Status, e.RedriveCount)
		}
	}
	if !strings.Contains(second.stderr.String(), "resumed interrupted executions") {
		t.Errorf("serve did not say it resumed executions:\n%s", second.stderr.String())
	}
}

// TestGracefulStopLeavesExecutionsResumable: SIGTERM stops `symflow serve`
// within its grace period; executions not finished are left RUNNING, never
// ABORTED, and the next start finishes them.
func TestGracefulStopLeavesExecutionsResumable(t *testing.T) {
	const n = 4
	sym, symURL := newHeldSymbolicator(t)
	state := t.TempDir()
	first := startServe(t, state, symURL, "--grace", "1s")
	names := submitHeld(t, first, sym, n)
	// Wait for a poll in flight, so the grace period has a state to cut.
	waitFor(t, "a poll held by the Symbolicator", func() bool { return sym.inFlight.Load() > 0 }, func() string { return "none" })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not stop within 2 minutes of SIGTERM with a 1 s grace; stderr:\n%s", first.stderr.String())
	}
	if first.err != nil {
		t.Errorf("serve exited with %v; stderr:\n%s", first.err, first.stderr.String())
	}
	if want := fmt.Sprintf("stopped; %d executions left RUNNING", n); !strings.Contains(first.stdout.String(), want) {
		t.Errorf("serve's last words %q lack %q", first.stdout.String(), want)
	}
	for name, e := range onDisk(t, state, names) {
		if e.Status != asl.StatusRunning || aborted(e) || e.ResumeAt == nil {
			t.Errorf("after SIGTERM, %s is %s (resume at %+v), want RUNNING and resumable", name, e.Status, e.ResumeAt)
		}
	}
	// Taking no work while stopping is shown by the listener being gone.
	if _, err := http.Get(first.base + "/v1/projects/42/config"); err == nil {
		t.Error("serve still answers after it stopped")
	}

	second := startServe(t, state, symURL)
	sym.Release()
	succeeded, statuses := finishAll(t, second, names)
	if succeeded != n {
		t.Errorf("after SIGTERM and restart, %d of %d succeeded: %v", succeeded, n, statuses)
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-second.exited
	if second.err != nil || !strings.Contains(second.stdout.String(), "stopped; 0 executions left RUNNING") {
		t.Errorf("idle serve's stop: %v, %q", second.err, second.stdout.String())
	}
}

// TestExecutionsRedrive: `symflow executions redrive NAME` runs an
// execution that failed while Symbolicator was unreachable again, from its
// failed state, on the state folder; through a running serve with --api;
// and says why when it cannot.
func TestExecutionsRedrive(t *testing.T) {
	state := t.TempDir()
	// Nothing listens on a port just closed: Symbolicator is unreachable.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/"
	closed.Close()
	args := append([]string{"run", filepath.Join(repo, "events/execution/native-crash.json"), "--symbolicator-url", closedURL}, sampleArgs(state)...)
	out, errOut, code := symflow(t, args...)
	if code == 0 || !strings.Contains(out, "SymbolicatorUnreachable") {
		t.Fatalf("run during the outage: exit %d\n%s\n%s", code, out, errOut)
	}
	list, _, _ := symflow(t, "executions", "list", "--state-dir", state)
	name := strings.Fields(strings.Split(list, "\n")[1])[0]

	sym, symURL := newHeldSymbolicator(t)
	sym.Release()
	out, errOut, code = symflow(t, "executions", "redrive", name, "--root", repo, "--state-dir", state, "--symbolicator-url", symURL)
	if code != 0 || !strings.Contains(out, "redrive 1 of "+name+" (FAILED: SymbolicatorUnreachable)") || !strings.Contains(out, "✓ SUCCEEDED") || !strings.Contains(out, "checked_limit") {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "→ LookupSources") {
		t.Errorf("the redrive ran LookupSources again, which had completed:\n%s", out)
	}
	show, _, _ := symflow(t, "executions", "show", name, "--state-dir", state)
	if !strings.Contains(show, "redriven 1 times") || !strings.Contains(show, "ExecutionRedriven") {
		t.Errorf("show after the redrive:\n%s", show)
	}
	_, errOut, code = symflow(t, "executions", "redrive", name, "--root", repo, "--state-dir", state, "--symbolicator-url", symURL)
	if code != 1 || !strings.Contains(errOut, "Execution is SUCCEEDED and cannot be redriven") {
		t.Errorf("redrive of a success: exit %d %q", code, errOut)
	}
	_, errOut, code = symflow(t, "executions", "redrive", "no-such-run", "--root", repo, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "no execution no-such-run") {
		t.Errorf("redrive of nothing: exit %d %q", code, errOut)
	}

	// While a serve holds the folder, the redrive goes through its API.
	p := startServe(t, state, symURL)
	_, errOut, code = symflow(t, "executions", "redrive", name, "--root", repo, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "--api") {
		t.Errorf("redrive beside a serve: exit %d %q", code, errOut)
	}
	_, errOut, code = symflow(t, "executions", "redrive", name, "--api", p.base)
	if code != 1 || !strings.Contains(errOut, "409 execution_succeeded") {
		t.Errorf("redrive through the API: exit %d %q", code, errOut)
	}
}
