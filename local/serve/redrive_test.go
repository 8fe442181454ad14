package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

// flakySymbolicator is a Symbolicator that can be down (every connection
// is closed unanswered, as a service that is not there) or hold its tasks
// pending; up and not holding, it completes every task.
type flakySymbolicator struct {
	down    atomic.Bool
	hold    atomic.Bool
	submits atomic.Int64

	mu    sync.Mutex
	tasks map[string]bool
}

func (f *flakySymbolicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	io.Copy(io.Discard, r.Body) //nolint:errcheck // not looked at
	w.Header().Set("Content-Type", "application/json")
	const completed = `{"status":"completed","stacktraces":[{"frames":[{"status":"symbolicated","original_index":0,"instruction_addr":"0x1","function":"checked_limit"}]}],"modules":[]}`
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/symbolicate":
		f.submits.Add(1)
		if !f.hold.Load() {
			io.WriteString(w, completed) //nolint:errcheck // the client went away
			return
		}
		id := uuid.NewString()
		f.mu.Lock()
		f.tasks[id] = true
		f.mu.Unlock()
		fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/requests/"):
		f.mu.Lock()
		known := f.tasks[strings.TrimPrefix(r.URL.Path, "/requests/")]
		f.mu.Unlock()
		switch {
		case !known:
			w.WriteHeader(http.StatusNotFound)
		case f.hold.Load():
			fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, strings.TrimPrefix(r.URL.Path, "/requests/"))
		default:
			io.WriteString(w, completed) //nolint:errcheck // the client went away
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

type apiAnswer struct {
	code int
	body map[string]any
}

func (a apiAnswer) field(k string) any { return a.body[k] }

func (a apiAnswer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a apiAnswer) errMessage() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func apiCall(t *testing.T, method, url string, body []byte) apiAnswer {
	t.Helper()
	code, out := call(t, method, url, "application/json", body)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, url, code, out)
	}
	return apiAnswer{code, m}
}

// waitStatus polls the status URL until the execution is not RUNNING.
func waitStopped(t *testing.T, url string) apiAnswer {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a := apiCall(t, "GET", url, nil)
		if a.code == 200 && a.field("status") != "RUNNING" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 2 minutes waiting for %s to stop: %d %v", url, a.code, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedriveAfterOutage: an event that failed while Symbolicator was down
// is run again through POST /v1/executions/{id}/redrive once it is back,
// as the same execution: the states that had completed are not run again,
// the event still has one execution, and every refusal says why.
func TestRedriveAfterOutage(t *testing.T) {
	ctx := context.Background()
	sym := &flakySymbolicator{tasks: map[string]bool{}}
	symSrv := httptest.NewServer(sym)
	t.Cleanup(symSrv.Close)
	state := t.TempDir()
	st, err := stack.Start(ctx, stack.Options{Root: root, StateDir: state, SymbolicatorURL: symSrv.URL + "/",
		Config: task.Config{NetworkRetryWaits: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := serve.New(st, serve.Options{})
	srv := httptest.NewServer(svc.Gateway)
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })

	if code, body := call(t, "PUT", srv.URL+"/v1/projects/42/config", "application/json", readFile(t, "events/project/sample-project.json")); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}
	var sample struct {
		Payload json.RawMessage `json:"payload"`
	}
	json.Unmarshal(readFile(t, "events/execution/native-crash.json"), &sample)
	submit := func(event string) apiAnswer {
		return apiCall(t, "POST", srv.URL+"/v1/projects/42/events/"+event+"/symbolicate", sample.Payload)
	}

	// The outage: the execution fails in SubmitTask.
	sym.down.Store(true)
	const event = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	name := "42_" + event
	if a := submit(event); a.code != 202 {
		t.Fatalf("submit: %d %v", a.code, a.body)
	}
	failed := waitStopped(t, srv.URL+"/v1/executions/"+name)
	failure, _ := failed.field("failure").(map[string]any)
	if failed.field("status") != "FAILED" || failure["error"] != "SymbolicatorUnreachable" {
		t.Fatalf("during the outage: %v", failed.body)
	}
	startedAt := failed.field("started_at")

	// Symbolicator is back, holding its tasks: the redrive is RUNNING, and
	// a second redrive is refused.
	sym.down.Store(false)
	sym.hold.Store(true)
	a := apiCall(t, "POST", srv.URL+"/v1/executions/"+name+"/redrive", nil)
	if a.code != 200 || a.field("status") != "RUNNING" || a.field("redrive_count") != float64(1) || a.field("execution_id") != name ||
		a.field("started_at") != startedAt || a.field("event_id") != event || a.field("status_url") != srv.URL+"/v1/executions/"+name {
		t.Fatalf("redrive: %d %v", a.code, a.body)
	}
	if again := apiCall(t, "POST", srv.URL+"/v1/executions/"+name+"/redrive", nil); again.code != 409 || again.errCode() != "execution_running" {
		t.Errorf("redrive while running: %d %v", again.code, again.body)
	}
	sym.hold.Store(false)
	done := waitStopped(t, srv.URL+"/v1/executions/"+name)
	if done.field("status") != "SUCCEEDED" || done.field("started_at") != startedAt || !strings.Contains(fmt.Sprint(done.field("result")), "checked_limit") {
		t.Fatalf("after the redrive: %v", done.body)
	}
	if again := apiCall(t, "POST", srv.URL+"/v1/executions/"+name+"/redrive", nil); again.code != 409 || again.errCode() != "execution_succeeded" {
		t.Errorf("redrive of a success: %d %v", again.code, again.body)
	}
	// Per-event idempotency stays: the event has the one execution.
	if a := submit(event); a.code != 200 || a.field("created") != false || a.field("execution_id") != name || a.field("status") != "SUCCEEDED" {
		t.Errorf("the same event again: %d %v", a.code, a.body)
	}
	saved, err := stack.LoadExecution(state, name)
	if err != nil {
		t.Fatal(err)
	}
	path := asl.Path(saved)
	if saved.RedriveCount != 1 || !slices.Contains(eventTypes(saved), "ExecutionRedriven") ||
		count(path, "LookupSources") != 1 || count(path, "SubmitTask") < 2 {
		t.Errorf("history: redriven %d times, path %v", saved.RedriveCount, path)
	}

	// Unknown, and too long ago.
	if a := apiCall(t, "POST", srv.URL+"/v1/executions/42_ffffffffffffffffffffffffffffffff/redrive", nil); a.code != 404 || a.errCode() != "execution_not_found" {
		t.Errorf("unknown: %d %v", a.code, a.body)
	}
	sym.down.Store(true)
	const oldEvent = "00000000000000000000000000000abc"
	submit(oldEvent)
	waitStopped(t, srv.URL+"/v1/executions/42_"+oldEvent)
	svc.Executor.Wait()
	old, err := stack.LoadExecution(state, "42_"+oldEvent)
	if err != nil {
		t.Fatal(err)
	}
	old.StopDate = time.Now().Add(-15 * 24 * time.Hour)
	if err := stack.SaveExecution(state, old); err != nil {
		t.Fatal(err)
	}
	if a := apiCall(t, "POST", srv.URL+"/v1/executions/42_"+oldEvent+"/redrive", nil); a.code != 409 || a.errCode() != "redrive_period_expired" || !strings.Contains(a.errMessage(), "14 days") {
		t.Errorf("redrive 15 days after the stop: %d %v", a.code, a.body)
	}
}

func eventTypes(e *asl.Execution) []string {
	var out []string
	for _, ev := range e.History {
		out = append(out, ev.Type)
	}
	return out
}

func count(xs []string, x string) int {
	n := 0
	for _, s := range xs {
		if s == x {
			n++
		}
	}
	return n
}
