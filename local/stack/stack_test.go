package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

const root = "../.."

// faults sits in front of the embedded Symbolicator and injects faults a
// real service shows (a restart forgetting tasks, 503 bursts, 500s), which
// the embedded one cannot be made to produce on cue. It counts requests.
type faults struct {
	mu          sync.Mutex
	unavailable int  // answer this many requests 503 first
	loseTasks   int  // answer this many submissions pending, then lose the task (as a restart does)
	failSubmit  bool // answer submissions 500
	submits     int
	polls       int
	workers     []string
}

func (f *faults) wrap(target string) http.Handler {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		isPoll := strings.HasPrefix(r.URL.Path, "/requests/")
		if isPoll {
			f.polls++
		} else {
			f.submits++
			f.workers = append(f.workers, r.Header.Get("x-sentry-worker-id"))
		}
		switch {
		case f.unavailable > 0:
			f.unavailable--
			f.mu.Unlock()
			http.Error(w, `{"detail":"maximum number of concurrent requests reached"}`, http.StatusServiceUnavailable)
			return
		case !isPoll && f.loseTasks > 0:
			// The service accepts the task and restarts before it is polled:
			// the poll reaches a service that never heard of it (a real 404).
			f.loseTasks--
			f.mu.Unlock()
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"pending","request_id":"9f0c6bde-0000-4000-8000-00000000dead","retry_after":30}`)
			return
		case !isPoll && f.failSubmit:
			f.mu.Unlock()
			http.Error(w, "internal failure", http.StatusInternalServerError)
			return
		}
		f.mu.Unlock()
		proxy.ServeHTTP(w, r)
	})
}

type run struct {
	exec   *asl.Execution
	output task.Output
	result map[string]any
	faults *faults
}

// execute runs the sample crash through the local stack with f in front of
// the embedded Symbolicator and an instant clock.
func execute(t *testing.T, f *faults, cfg task.Config, mutate func(*task.State)) run {
	t.Helper()
	ctx := context.Background()
	// A first stack provides the embedded Symbolicator the proxy forwards to.
	inner, err := stack.Start(ctx, stack.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inner.Close)
	proxy := httptest.NewServer(f.wrap(inner.SymbolicatorURL))
	t.Cleanup(proxy.Close)

	st, err := stack.Start(ctx, stack.Options{
		Root:            root,
		SymbolicatorURL: proxy.URL + "/",
		Clock:           asl.NewFakeClock(time.Now()),
		Config:          cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	// The inner Symbolicator reads debug files from the inner stack's S3.
	loadSample(t, inner)
	loadSample(t, st)

	raw, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		var s task.State
		json.Unmarshal(raw, &s)
		mutate(&s)
		raw, _ = json.Marshal(s)
	}
	exec, err := st.Run(ctx, "test", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run{exec: exec, faults: f}
	if exec.Status == asl.StatusSucceeded {
		if err := json.Unmarshal(exec.Output, &r.output); err != nil {
			t.Fatal(err)
		}
		if err := st.Blobs.GetJSON(ctx, r.output.Result.Result, &r.result); err != nil {
			t.Fatal(err)
		}
	}
	assertNoSecrets(t, exec)
	return r
}

func loadSample(t *testing.T, st *stack.Stack) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "events/project/sample-project.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p project.Project
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if err := st.LoadProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UploadDebugFile(context.Background(), p.ID, filepath.Join(root, "events/debug-files/crashy")); err != nil {
		t.Fatal(err)
	}
}

// assertNoSecrets scans every state input and output of the history.
func assertNoSecrets(t *testing.T, exec *asl.Execution) {
	t.Helper()
	raw, _ := json.Marshal(exec)
	for _, secret := range []string{"sample-password-shown-nowhere", "sample-client-secret-shown-nowhere", "Y2k6c2FtcGxl"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the execution history holds a secret (%s)", secret)
		}
	}
}

func path(exec *asl.Execution) string { return strings.Join(asl.Path(exec), " ") }

// frames lists "function file:line" of the crashed thread.
func frames(t *testing.T, result map[string]any) []string {
	t.Helper()
	traces, _ := result["stacktraces"].([]any)
	if len(traces) == 0 {
		t.Fatalf("result has no stack traces: %v", result)
	}
	var out []string
	for _, f := range traces[0].(map[string]any)["frames"].([]any) {
		fr := f.(map[string]any)
		fn, _ := fr["function"].(string)
		file, _ := fr["abs_path"].(string)
		line, _ := fr["lineno"].(float64)
		out = append(out, strings.TrimSpace(fn+" "+file+":"+itoa(int(line))))
	}
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

var wantFrames = []string{
	"checked_limit /src/crashy/crashy.c:15",
	"parse_limits /src/crashy/crashy.c:22",
	"load_config /src/crashy/crashy.c:30",
	"run /src/crashy/crashy.c:36",
	"main /src/crashy/crashy.c:43",
	":0",
}

func TestSampleCrash(t *testing.T) {
	r := execute(t, &faults{}, task.Config{}, nil)
	if r.exec.Status != asl.StatusSucceeded {
		t.Fatalf("execution %s: %s %s", r.exec.Status, r.exec.Error, r.exec.Cause)
	}
	if got, want := path(r.exec), "LookupSources SubmitTask IsDone ProcessResponse PrepareComponents Done"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
	if got := strings.Join(frames(t, r.result), "\n"); got != strings.Join(wantFrames, "\n") {
		t.Errorf("frames:\n%s\nwant:\n%s", got, strings.Join(wantFrames, "\n"))
	}
	if r.output.Result.Summary.ModulesByStatus["found"] != 1 || r.output.Result.Summary.ModulesByStatus["missing"] != 1 {
		t.Errorf("modules = %v", r.output.Result.Summary.ModulesByStatus)
	}
	var comps task.Components
	json.Unmarshal(r.output.Components, &comps)
	if comps.Prepared != 2 || comps.Failed != 0 {
		t.Errorf("components = %+v", comps)
	}
	// The happy path stays within the transitions budget an operator pays for.
	entered := 0
	for _, h := range r.exec.History {
		if strings.HasSuffix(h.Type, "StateEntered") {
			entered++
		}
	}
	if entered > 8 {
		t.Errorf("%d states entered on the happy path, want at most 8", entered)
	}
}

func TestRecoveries(t *testing.T) {
	tests := []struct {
		name        string
		faults      *faults
		cfg         task.Config
		status      string
		errorName   string
		causeHas    string
		pathHas     []string
		lost, unav  int
		submits     int
		distinctIDs int // distinct worker ids over the submissions, 0: unchecked
	}{
		{
			name:    "lost task is resubmitted once",
			faults:  &faults{loseTasks: 1},
			status:  asl.StatusSucceeded,
			pathHas: []string{"PollTask", "ForgetLostTask"},
			lost:    1, submits: 2,
		},
		{
			name:    "unavailable service: new worker, back off, resubmit",
			faults:  &faults{unavailable: 2},
			status:  asl.StatusSucceeded,
			pathHas: []string{"ResetWorker", "BackOff"},
			unav:    2, submits: 3, distinctIDs: 3,
		},
		{
			name:      "lost every time: the budget ends it",
			faults:    &faults{loseTasks: 1000},
			cfg:       task.Config{ResubmitBudget: 3},
			status:    asl.StatusFailed,
			errorName: "ResubmitBudgetExhausted",
			causeHas:  "4 lost tasks",
			submits:   4,
		},
		{
			name:      "unavailable every time: the budget ends it",
			faults:    &faults{unavailable: 1000},
			cfg:       task.Config{ResubmitBudget: 2},
			status:    asl.StatusFailed,
			errorName: "ResubmitBudgetExhausted",
			causeHas:  "ResubmitBudget",
			submits:   3,
		},
		{
			name:      "unavailable past the deadline",
			faults:    &faults{unavailable: 1000},
			cfg:       task.Config{ResubmitBudget: 1000, Deadline: 20 * time.Second},
			status:    asl.StatusFailed,
			errorName: "DeadlineExceeded",
			causeHas:  "DeadlineSeconds",
		},
		{
			name:      "Symbolicator fails the task",
			faults:    &faults{failSubmit: true},
			status:    asl.StatusFailed,
			errorName: "SymbolicationFailed",
			causeHas:  "internal server error",
			submits:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.faults, tt.cfg, nil)
			if r.exec.Status != tt.status {
				t.Fatalf("status %s (%s: %s), want %s", r.exec.Status, r.exec.Error, r.exec.Cause, tt.status)
			}
			if tt.errorName != "" && r.exec.Error != tt.errorName {
				t.Errorf("error = %s, want %s", r.exec.Error, tt.errorName)
			}
			if !strings.Contains(r.exec.Cause, tt.causeHas) {
				t.Errorf("cause %q does not say %q", r.exec.Cause, tt.causeHas)
			}
			for _, s := range tt.pathHas {
				if !strings.Contains(path(r.exec), s) {
					t.Errorf("path %s does not go through %s", path(r.exec), s)
				}
			}
			if tt.submits > 0 && r.faults.submits != tt.submits {
				t.Errorf("%d submissions, want %d", r.faults.submits, tt.submits)
			}
			if tt.distinctIDs > 0 {
				ids := map[string]bool{}
				for _, w := range r.faults.workers {
					ids[w] = true
				}
				if len(ids) != tt.distinctIDs {
					t.Errorf("worker ids %v: want %d distinct", r.faults.workers, tt.distinctIDs)
				}
			}
			if tt.status == asl.StatusSucceeded {
				if r.output.Task.LostTasks != tt.lost || r.output.Task.Unavailable != tt.unav {
					t.Errorf("task counters = %+v, want %d lost, %d unavailable", r.output.Task, tt.lost, tt.unav)
				}
				if got := strings.Join(frames(t, r.result), "\n"); got != strings.Join(wantFrames, "\n") {
					t.Errorf("frames after recovery:\n%s", got)
				}
			}
		})
	}
}

func TestBadExecutionInput(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*task.State)
		errorName string
		causeHas  string
	}{
		{"unknown project", func(s *task.State) { s.ProjectID = "7" }, "ProjectNotFound", `project \"7\" is not configured`},
		{"bad event id", func(s *task.State) { s.EventID = "nope" }, "InvalidInput", "event_id"},
		{"missing crash file", func(s *task.State) {
			s.Kind = task.KindMinidump
			s.Payload = nil
		}, "InvalidInput", "crash_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &faults{}
			r := execute(t, f, task.Config{}, tt.mutate)
			if r.exec.Status != asl.StatusFailed || r.exec.Error != tt.errorName {
				t.Fatalf("got %s %s, want FAILED %s", r.exec.Status, r.exec.Error, tt.errorName)
			}
			if !strings.Contains(r.exec.Cause, tt.causeHas) {
				t.Errorf("cause %q does not name %q", r.exec.Cause, tt.causeHas)
			}
			if f.submits != 0 {
				t.Errorf("bad input reached Symbolicator %d times", f.submits)
			}
		})
	}
}

// Every Task state of the workflow runs a function local mode has a
// handler for, and every step handler is used by the workflow.
func TestEveryTaskHasHandler(t *testing.T) {
	st, err := stack.Start(context.Background(), stack.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	def, err := st.Template.Definition(root)
	if err != nil {
		t.Fatal(err)
	}
	var machine struct {
		States map[string]struct {
			Type, Resource string
		}
	}
	if err := json.Unmarshal(def, &machine); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for name, state := range machine.States {
		if state.Type != "Task" {
			continue
		}
		fn := invoke.FunctionName(state.Resource)
		if _, ok := st.Handlers[fn]; !ok {
			t.Errorf("state %s runs %s, which has no local handler", name, state.Resource)
		}
		used[fn] = true
	}
	for fn := range st.Handlers {
		if !used[fn] {
			t.Errorf("handler %s is not used by any Task state", fn)
		}
	}
}
