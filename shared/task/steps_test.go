package task_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/internal/netns"
	locals3 "github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

var ddbLocal dynamolocal.Shared

func TestMain(m *testing.M) {
	// DynamoDB Local runs in a network namespace, served by this binary
	// re-executed as the relay.
	netns.RelayMain()
	code := m.Run()
	ddbLocal.Stop()
	os.Exit(code)
}

const (
	eventID        = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
	samplePassword = "sample-password-shown-nowhere"
	systemToken    = "system-token-shown-nowhere"
)

// fakeSymbolicator is a real HTTP server on loopback that answers from a
// script, for faults the embedded service cannot be made to produce on cue.
type fakeSymbolicator struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []answer // consumed in order; the last one repeats
	requests []*recorded
	hits     atomic.Int32
}

type answer struct {
	status int
	body   string
}

type recorded struct {
	method, path, workerID string
	query                  map[string][]string
	body                   []byte
}

func newFakeSymbolicator(t *testing.T, answers ...answer) *fakeSymbolicator {
	f := &fakeSymbolicator{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, &recorded{r.Method, r.URL.Path, r.Header.Get("x-sentry-worker-id"), r.URL.Query(), body})
		a := f.answers[0]
		if len(f.answers) > 1 {
			f.answers = f.answers[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSymbolicator) last() *recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

var tableSeq atomic.Int32

type env struct {
	steps *task.Steps
	store *dynamo.Store
	blobs *blob.Store
}

// newEnv wires Steps to DynamoDB Local, the local S3 server and a
// Symbolicator URL, with the sample project stored.
func newEnv(t *testing.T, symbolicatorURL string) *env {
	t.Helper()
	ctx := context.Background()
	n := tableSeq.Add(1)
	store, err := dynamo.New(ddbLocal.Get(t).Client(), dynamo.Config{
		ProjectsTable: fmt.Sprintf("projects-%d-%d", os.Getpid(), n),
		TasksTable:    fmt.Sprintf("tasks-%d-%d", os.Getpid(), n),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTables(ctx); err != nil {
		t.Fatal(err)
	}
	s3srv, err := locals3.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	endpoint, stop, err := s3srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	blobs := blob.New(locals3.Client(endpoint))

	raw, err := os.ReadFile("../../events/project/sample-project.json")
	if err != nil {
		t.Fatal(err)
	}
	var p project.Project
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if err := store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	cfg := task.Defaults
	cfg.SymbolicatorURL = symbolicatorURL
	cfg.ResultsBucket = "results"
	cfg.ResubmitBudget = 3
	cfg.NetworkRetryWaits = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	return &env{
		steps: &task.Steps{
			Config:   cfg,
			Settings: project.Settings{PublicURLPrefix: "https://sentry.example", SystemToken: systemToken},
			Projects: store, Tasks: store, Blobs: blobs,
		},
		store: store, blobs: blobs,
	}
}

func sampleInput(t *testing.T) task.Input {
	t.Helper()
	raw, err := os.ReadFile("../../events/execution/native-crash.json")
	if err != nil {
		t.Fatal(err)
	}
	var st task.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return task.Input{State: st, ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:symflow:test", StartedAt: time.Now()}
}

// assertNoSecret fails when any seeded secret, or the Basic credentials
// derived from one, appears in v's JSON.
func assertNoSecret(t *testing.T, what string, v any) {
	t.Helper()
	raw, _ := json.Marshal(v)
	basic := base64.StdEncoding.EncodeToString([]byte("ci:" + samplePassword))
	for _, secret := range []string{samplePassword, systemToken, basic, "sample-client-secret-shown-nowhere"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("%s leaks a secret: %s", what, raw)
		}
	}
}

func TestLookupSourcesHidesSecrets(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1/")
	in := sampleInput(t)
	out, err := e.steps.LookupSources(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.SourceIDs, ","); got != "sentry:project,acme-symbols" {
		t.Errorf("source ids = %s, want the internal source first, then the custom one", got)
	}
	assertNoSecret(t, "LookupSources output", out)
	if !strings.Contains(string(out.Sources), `"hidden-secret":true`) {
		t.Errorf("sources carry no hidden-secret placeholder: %s", out.Sources)
	}
}

func TestLookupSourcesBadInput(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1/")
	tests := []struct {
		name   string
		mutate func(*task.State)
		field  string // for *InvalidInput; "" means *ProjectNotFound
	}{
		{"unknown project", func(s *task.State) { s.ProjectID = "404" }, ""},
		{"missing project id", func(s *task.State) { s.ProjectID = "" }, "project_id"},
		{"project id with a slash", func(s *task.State) { s.ProjectID = "4/2" }, "project_id"},
		{"short event id", func(s *task.State) { s.EventID = "abc" }, "event_id"},
		{"uppercase event id", func(s *task.State) { s.EventID = strings.ToUpper(eventID) }, "event_id"},
		{"unknown kind", func(s *task.State) { s.Kind = "coredump" }, "kind"},
		{"payload without payload", func(s *task.State) { s.Payload = nil }, "payload"},
		{"payload not an object", func(s *task.State) { s.Payload = json.RawMessage(`[1]`) }, "payload"},
		{"minidump without file", func(s *task.State) { s.Kind = task.KindMinidump }, "crash_file"},
		{"minidump with escaping key", func(s *task.State) {
			s.Kind = task.KindMinidump
			s.CrashFile = &blob.Ref{Bucket: "crashes", Key: "../etc/passwd"}
		}, "crash_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			tt.mutate(&in.State)
			_, err := e.steps.LookupSources(context.Background(), in)
			if tt.field == "" {
				if _, ok := err.(*task.ProjectNotFound); !ok {
					t.Fatalf("got %T %v, want *task.ProjectNotFound", err, err)
				}
				return
			}
			bad, ok := err.(*task.InvalidInput)
			if !ok {
				t.Fatalf("got %T %v, want *task.InvalidInput", err, err)
			}
			if bad.Field != tt.field || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %q names field %q, want %q", err, bad.Field, tt.field)
			}
		})
	}
}

const completed = `{"status":"completed","stacktraces":[{"is_requesting":true,"frames":[
 {"status":"symbolicated","function":"checked_limit","original_index":0},
 {"status":"symbolicated","function":"parse_limits","original_index":0},
 {"status":"missing","original_index":1}]}],
 "modules":[{"debug_status":"found","candidates":[{"source":"sentry:project","location":"s3://x","download":{"status":"ok"}}]},{"debug_status":"missing"}]}`

// The happy path with one pending answer: submit, poll, process.
func TestSubmitPollProcess(t *testing.T) {
	sym := newFakeSymbolicator(t,
		answer{200, `{"status":"pending","request_id":"req-1","retry_after":30}`},
		answer{200, completed})
	e := newEnv(t, sym.URL+"/")
	ctx := context.Background()
	in := sampleInput(t)
	lookup, err := e.steps.LookupSources(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.State.Lookup = lookup

	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "pending" || p.RequestID != "req-1" || p.WaitSeconds != 1 {
		t.Fatalf("submit progress = %+v, want pending req-1 waiting 1s", p)
	}
	first := sym.last()
	if first.path != "/symbolicate" || first.query["scope"][0] != "42" || first.query["timeout"][0] != "5" {
		t.Errorf("submit went to %s?%v", first.path, first.query)
	}
	// Secrets were backfilled for Symbolicator, and only there.
	basic := base64.StdEncoding.EncodeToString([]byte("ci:" + samplePassword))
	if !strings.Contains(string(first.body), basic) || !strings.Contains(string(first.body), systemToken) {
		t.Errorf("Symbolicator did not get the backfilled credentials: %s", first.body)
	}
	assertNoSecret(t, "SubmitTask output", p)
	rec, err := e.store.GetTask(ctx, "42", eventID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RequestID != "req-1" || rec.WorkerID != first.workerID || rec.ExecutionID != in.ExecutionID {
		t.Errorf("task record = %+v, want request req-1, worker %s", rec, first.workerID)
	}

	in.State.Task = p
	p, err = e.steps.PollTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "completed" || p.Polls != 1 || p.Response == nil {
		t.Fatalf("poll progress = %+v", p)
	}
	if got := sym.last(); got.path != "/requests/req-1" || got.workerID != first.workerID {
		t.Errorf("poll went to %s with worker %q, want /requests/req-1 with %q", got.path, got.workerID, first.workerID)
	}

	in.State.Task = p
	res, err := e.steps.ProcessResponse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Frames != 3 || res.Summary.FramesByStatus["symbolicated"] != 2 || res.Summary.ModulesByStatus["missing"] != 1 {
		t.Errorf("summary = %+v", res.Summary)
	}
	if strings.Join(res.Summary.CrashingFunctions, ",") != "checked_limit,parse_limits" {
		t.Errorf("crashing thread top = %v", res.Summary.CrashingFunctions)
	}
	var stored map[string]any
	if err := e.blobs.GetJSON(ctx, res.Result, &stored); err != nil {
		t.Fatal(err)
	}
	mods := stored["modules"].([]any)
	cand := mods[0].(map[string]any)["candidates"].([]any)[0].(map[string]any)
	if cand["source_name"] != "Sentry" {
		t.Errorf("stored result was not post-processed: candidate %v", cand)
	}
}

func TestLostTaskIsResubmitted(t *testing.T) {
	sym := newFakeSymbolicator(t,
		answer{200, `{"status":"pending","request_id":"req-1","retry_after":30}`},
		answer{404, ``},
		answer{200, `{"status":"pending","request_id":"req-2","retry_after":30}`})
	e := newEnv(t, sym.URL)
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.State.Task = p
	_, err = e.steps.PollTask(ctx, in)
	lost, ok := err.(*task.TaskIdNotFound)
	if !ok {
		t.Fatalf("poll on 404: got %T %v, want *task.TaskIdNotFound", err, err)
	}
	if lost.RequestID != "req-1" {
		t.Errorf("lost request = %q", lost.RequestID)
	}
	in.State.Error = &task.StateError{Error: "TaskIdNotFound", Cause: err.Error()}
	in.Reason = task.ReasonLost
	p, err = e.steps.RecoverTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.RequestID != "" || p.LostTasks != 1 || p.WaitSeconds != 0 || p.Status != "resubmit" {
		t.Fatalf("after recovery: %+v", p)
	}
	rec, _ := e.store.GetTask(ctx, "42", eventID)
	if rec.RequestID != "" || rec.Resubmits != 1 {
		t.Errorf("task record still holds the lost task: %+v", rec)
	}
	in.State.Task = p
	in.Reason = ""
	p, err = e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.RequestID != "req-2" || p.LostTasks != 1 {
		t.Errorf("resubmitted progress = %+v, want req-2 with the lost count kept", p)
	}
}

func TestUnavailableResetsWorkerAndBacksOff(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{503, `{"detail":"maximum number of concurrent requests reached"}`})
	e := newEnv(t, sym.URL)
	e.steps.Config.ResubmitBudget = 6
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)

	var waits []int
	workers := map[string]bool{}
	for i := 0; ; i++ {
		_, err := e.steps.SubmitTask(ctx, in)
		if _, ok := err.(*task.ServiceUnavailable); !ok {
			t.Fatalf("submit %d on 503: got %T %v, want *task.ServiceUnavailable", i, err, err)
		}
		workers[sym.last().workerID] = true
		in.Reason = task.ReasonUnavailable
		p, err := e.steps.RecoverTask(ctx, in)
		if err != nil {
			budget, ok := err.(*task.ResubmitBudgetExhausted)
			if !ok {
				t.Fatalf("recovery %d: got %T %v", i, err, err)
			}
			if budget.Unavailable != 7 || !strings.Contains(err.Error(), "ResubmitBudget") {
				t.Errorf("budget error = %v", err)
			}
			break
		}
		waits = append(waits, p.WaitSeconds)
		in.State.Task = p
		in.Reason = ""
	}
	if got := fmt.Sprint(waits); got != "[0 1 2 4 5 5]" {
		t.Errorf("backoff waits = %s, want [0 1 2 4 5 5] (growing, capped at 5 s)", got)
	}
	if len(workers) != 7 {
		t.Errorf("%d distinct worker ids over 7 submits, want a new one after every unavailability", len(workers))
	}
}

func TestDeadline(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{200, completed})
	e := newEnv(t, sym.URL)
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	in.StartedAt = time.Now().Add(-e.steps.Config.Deadline - time.Minute)
	_, err := e.steps.SubmitTask(ctx, in)
	if _, ok := err.(*task.DeadlineExceeded); !ok {
		t.Fatalf("got %T %v, want *task.DeadlineExceeded", err, err)
	}
	if !strings.Contains(err.Error(), "DeadlineSeconds") {
		t.Errorf("cause %q does not tell the operator what to change", err)
	}
	if sym.hits.Load() != 0 {
		t.Errorf("Symbolicator was called %d times after the deadline", sym.hits.Load())
	}
}

// A redriven execution whose task is recorded as pending resumes polling.
func TestRedriveResumesRecordedTask(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{200, `{"status":"pending","request_id":"req-1","retry_after":30}`})
	e := newEnv(t, sym.URL)
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	if _, err := e.steps.SubmitTask(ctx, in); err != nil {
		t.Fatal(err)
	}
	// The redrive re-runs SubmitTask with the state it had before.
	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.RequestID != "req-1" || p.Status != "pending" {
		t.Fatalf("redriven submit = %+v, want the recorded req-1", p)
	}
	if sym.hits.Load() != 1 {
		t.Errorf("Symbolicator got %d submissions, want 1", sym.hits.Load())
	}
	// Another execution of the same event does submit.
	in.ExecutionID += "-other"
	if _, err := e.steps.SubmitTask(ctx, in); err != nil {
		t.Fatal(err)
	}
	if sym.hits.Load() != 2 {
		t.Errorf("a new execution did not submit (%d submissions)", sym.hits.Load())
	}
}

func TestUnreachableSymbolicator(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{200, completed})
	url := sym.URL
	sym.Close() // nothing listens there now
	e := newEnv(t, url)
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	_, err := e.steps.SubmitTask(ctx, in)
	un, ok := err.(*task.SymbolicatorUnreachable)
	if !ok {
		t.Fatalf("got %T %v, want *task.SymbolicatorUnreachable", err, err)
	}
	if un.URL != url || !strings.Contains(err.Error(), "SymbolicatorUrl") {
		t.Errorf("error %q does not name the URL and the parameter", err)
	}
}

// Symbolicator's failed status ends the loop with its message, stored.
func TestFailedStatusEndsLoop(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{500, `oops`})
	e := newEnv(t, sym.URL)
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "failed" || p.Message == "" || p.Response == nil {
		t.Fatalf("progress on 500 = %+v, want failed with a message and the stored answer", p)
	}
}
