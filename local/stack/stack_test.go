package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

const root = "../.."

// testConfig is the workflow as the tests run it: a poll timeout of one
// second (the client's idle timeout is one second more, so a Slow fault
// costs 2 s; the query's timeout is in whole seconds, so a shorter poll
// timeout would leave the client less than a second of margin over
// Symbolicator's own hold) and tiny waits between network retries.
var testConfig = task.Config{
	PollTimeout:       time.Second,
	NetworkRetryWaits: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond},
}

// syncBuffer collects the handlers' log lines from concurrent steps.
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

type run struct {
	chaos.Outcome
	exec   *asl.Execution
	output task.Output
	result map[string]any
	proxy  *chaos.Server
	env    *chaos.Env
	log    *syncBuffer
}

// submits and polls are the requests that reached the proxy.
func (r run) requests(kind string) []chaos.Request {
	var out []chaos.Request
	for _, q := range r.proxy.Requests() {
		if q.Kind == kind {
			out = append(out, q)
		}
	}
	return out
}

// entered counts how often the execution entered a state.
func (r run) entered(state string) int {
	n := 0
	for _, s := range asl.Path(r.exec) {
		if s == state {
			n++
		}
	}
	return n
}

// execute runs the sample crash through the local stack with the chaos
// proxy (script, then mix) in front of the embedded Symbolicator and an
// instant clock.
func execute(t *testing.T, script []chaos.Fault, mix chaos.Mix, cfg task.Config, mutate func(*task.State)) run {
	t.Helper()
	ctx := context.Background()
	merged := testConfig
	if cfg.ResubmitBudget != 0 {
		merged.ResubmitBudget = cfg.ResubmitBudget
	}
	if cfg.Deadline != 0 {
		merged.Deadline = cfg.Deadline
	}
	log := &syncBuffer{}
	env, err := chaos.StartEnv(ctx, chaos.EnvConfig{
		Root:   root,
		Proxy:  chaos.Config{Script: script, Mix: mix, Seed: 1, SlowDelay: time.Minute},
		Config: merged,
		Clock:  asl.NewFakeClock(time.Now()),
		Log:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	o := env.Execute(ctx, "test", mutate)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	r := run{Outcome: o, exec: o.Exec, output: o.Output, result: o.Result, proxy: env.Proxy, env: env, log: log}
	assertNoSecrets(t, r, sampleSecrets)
	assertNothingRunning(t, env)
	return r
}

// sampleSecrets are the sample project's secrets, and the Basic
// authorization value derived from its source credentials.
var sampleSecrets = []string{"sample-password-shown-nowhere", "sample-client-secret-shown-nowhere", "Y2k6c2FtcGxl"}

// assertNoSecrets scans every state input and output of the history, the
// saved record, the cause and every log line.
func assertNoSecrets(t *testing.T, r run, secrets []string) {
	t.Helper()
	raw, _ := json.Marshal(r.exec)
	saved, err := stack.LoadExecution(r.env.Stack.StateDir, r.exec.Name)
	if err != nil {
		t.Fatalf("execution record: %v", err)
	}
	savedRaw, _ := json.Marshal(saved)
	resultRaw, _ := json.Marshal(r.result)
	places := map[string]string{
		"execution history": string(raw),
		"saved execution":   string(savedRaw),
		"error and cause":   r.exec.Error + " " + r.exec.Cause,
		"log":               r.log.String(),
		"stored result":     string(resultRaw),
	}
	for where, text := range places {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds a secret (%s)", where, secret)
			}
		}
	}
}

// assertNothingRunning checks that no saved execution is still running.
func assertNothingRunning(t *testing.T, env *chaos.Env) {
	t.Helper()
	execs, err := stack.ListExecutions(env.Stack.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range execs {
		if e.Status == asl.StatusRunning {
			t.Errorf("execution %s is still RUNNING", e.Name)
		}
	}
}

func path(exec *asl.Execution) string { return strings.Join(asl.Path(exec), " ") }

var wantFrames = []string{
	"checked_limit /src/crashy/crashy.c:15",
	"parse_limits /src/crashy/crashy.c:22",
	"load_config /src/crashy/crashy.c:30",
	"run /src/crashy/crashy.c:36",
	"main /src/crashy/crashy.c:43",
	":0",
}

func checkFrames(t *testing.T, r run) {
	t.Helper()
	got := chaos.Frames(r.result)
	if !slices.Equal(got, wantFrames) {
		t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFrames, "\n"))
	}
}

func TestSampleCrash(t *testing.T) {
	r := execute(t, nil, nil, task.Config{}, nil)
	if r.exec.Status != asl.StatusSucceeded {
		t.Fatalf("execution %s: %s %s", r.exec.Status, r.exec.Error, r.exec.Cause)
	}
	if got, want := path(r.exec), "LookupSources SubmitTask IsDone ProcessResponse PrepareComponents Done"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
	checkFrames(t, r)
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

// TestFaults puts each fault of the chaos proxy in front of the embedded
// Symbolicator, on a submission and on a poll: the execution completes
// with the right frames or ends in a named error whose cause says what to
// do, within the resubmit budget; a lost task is resubmitted exactly once
// per loss, and the worker id changes after an unavailable service.
func TestFaults(t *testing.T) {
	const (
		P = chaos.Pending // makes the submission pending, so that a poll follows
		L = chaos.Lost
		U = chaos.Unavailable
	)
	tests := []struct {
		name       string
		script     []chaos.Fault
		mix        chaos.Mix
		cfg        task.Config
		status     string
		errorName  string
		causeHas   []string
		pathHas    []string
		lost, unav int // recoveries: ForgetLostTask and ResetWorker entered
		submits    int
		polls      int // 0: unchecked
		// distinctIDs is the number of distinct worker ids over the
		// submissions, 0: unchecked.
		distinctIDs int
	}{
		{name: "no fault", status: asl.StatusSucceeded, submits: 1},
		{name: "held answer is polled", script: []chaos.Fault{P}, status: asl.StatusSucceeded,
			pathHas: []string{"WaitForTask", "PollTask"}, submits: 1, polls: 1},

		// Lost tasks: resubmitted once per loss.
		{name: "lost on submit", script: []chaos.Fault{L}, status: asl.StatusSucceeded,
			pathHas: []string{"PollTask", "ForgetLostTask"}, lost: 1, submits: 2},
		{name: "lost on poll", script: []chaos.Fault{P, L}, status: asl.StatusSucceeded,
			pathHas: []string{"PollTask", "ForgetLostTask"}, lost: 1, submits: 2},
		{name: "lost twice", script: []chaos.Fault{L, chaos.None, P, L}, status: asl.StatusSucceeded,
			lost: 2, submits: 3},
		{name: "lost every time: the budget ends it", mix: chaos.Mix{L: 1}, cfg: task.Config{ResubmitBudget: 3},
			status: asl.StatusFailed, errorName: "ResubmitBudgetExhausted", causeHas: []string{"4 lost tasks", "ResubmitBudget"},
			lost: 4, submits: 4},

		// Unavailable: new worker, back off, resubmit.
		{name: "unavailable on submit", script: []chaos.Fault{U, U}, status: asl.StatusSucceeded,
			pathHas: []string{"ResetWorker", "BackOff"}, unav: 2, submits: 3, distinctIDs: 3},
		{name: "unavailable on poll", script: []chaos.Fault{P, U}, status: asl.StatusSucceeded,
			pathHas: []string{"PollTask", "ResetWorker", "BackOff"}, unav: 1, submits: 2, distinctIDs: 2},
		{name: "unavailable every time: the budget ends it", mix: chaos.Mix{U: 1}, cfg: task.Config{ResubmitBudget: 2},
			status: asl.StatusFailed, errorName: "ResubmitBudgetExhausted", causeHas: []string{"3 times unavailable", "ResubmitBudget"},
			unav: 3, submits: 3, distinctIDs: 3},
		{name: "unavailable past the deadline", mix: chaos.Mix{U: 1}, cfg: task.Config{ResubmitBudget: 1000, Deadline: 20 * time.Second},
			status: asl.StatusFailed, errorName: "DeadlineExceeded", causeHas: []string{"20s deadline", "DeadlineSeconds"},
			unav: 7}, // backoffs 0+1+2+4+5+5+5 s pass the 20 s deadline

		// Network faults: retried inside the step, no resubmit.
		{name: "reset on submit", script: []chaos.Fault{chaos.Reset}, status: asl.StatusSucceeded, submits: 2},
		{name: "reset on poll", script: []chaos.Fault{P, chaos.Reset}, status: asl.StatusSucceeded, submits: 1, polls: 2},
		{name: "reset every time", mix: chaos.Mix{chaos.Reset: 1}, status: asl.StatusFailed,
			errorName: "SymbolicatorUnreachable", causeHas: []string{"SymbolicatorUrl"}, submits: 4},
		{name: "slow answer on submit", script: []chaos.Fault{chaos.Slow}, status: asl.StatusSucceeded, submits: 2},
		{name: "slow answer on poll", script: []chaos.Fault{P, chaos.Slow}, status: asl.StatusSucceeded, submits: 1, polls: 2},
		// Slow is not dead: a poll whose every attempt timed out is polled
		// again (the task exists), not taken for an unreachable service.
		{name: "slow answers to a whole poll", script: []chaos.Fault{P, chaos.Slow, chaos.Slow, chaos.Slow, chaos.Slow}, status: asl.StatusSucceeded,
			pathHas: []string{"WaitForTask"}, submits: 1, polls: 5},
		{name: "slow every time", mix: chaos.Mix{chaos.Slow: 1}, status: asl.StatusFailed,
			errorName: "SymbolicatorUnreachable", causeHas: []string{"idle timeout", "SymbolicatorUrl"}, submits: 4},

		{name: "answer cut off on submit", script: []chaos.Fault{chaos.Cut}, status: asl.StatusSucceeded, submits: 2},
		{name: "answer cut off on poll", script: []chaos.Fault{P, chaos.Cut}, status: asl.StatusSucceeded, submits: 1, polls: 2},

		// Unusable bodies: a named error, no retry loop.
		// Answers that are not JSON are retried like network errors (three
		// retries, as Sentry's client); only four in a row are malformed.
		// A broken answer to a poll has handed the result out: Symbolicator
		// keeps a result until it is delivered, so the retried poll finds
		// the task gone, and it is submitted again.
		{name: "truncated answer to submit, retried", script: []chaos.Fault{chaos.Truncated}, status: asl.StatusSucceeded, submits: 2},
		{name: "HTML answer to poll, retried", script: []chaos.Fault{P, chaos.NonJSON}, status: asl.StatusSucceeded,
			pathHas: []string{"PollTask", "ForgetLostTask"}, lost: 1, submits: 2},
		{name: "truncated answers to submit", script: []chaos.Fault{chaos.Truncated, chaos.Truncated, chaos.Truncated, chaos.Truncated}, status: asl.StatusFailed,
			errorName: "MalformedResponse", causeHas: []string{"submit", "not JSON", "SymbolicatorUrl"}, submits: 4},
		{name: "HTML answers to submit", script: []chaos.Fault{chaos.NonJSON, chaos.NonJSON, chaos.NonJSON, chaos.NonJSON}, status: asl.StatusFailed,
			errorName: "MalformedResponse", causeHas: []string{"502 Bad Gateway", "proxy"}, submits: 4},

		// Symbolicator ends the task.
		{name: "failed", script: []chaos.Fault{chaos.Failed}, status: asl.StatusFailed,
			errorName: "SymbolicationFailed", causeHas: []string{"injected failure"}, submits: 1},
		{name: "timeout on poll", script: []chaos.Fault{P, chaos.Timeout}, status: asl.StatusFailed,
			errorName: "SymbolicationFailed", causeHas: []string{"status timeout", "symbol sources"}, submits: 1, polls: 1},
		{name: "internal error", script: []chaos.Fault{chaos.InternalError}, status: asl.StatusFailed,
			errorName: "SymbolicationFailed", causeHas: []string{"injected internal error"}, submits: 1},
		{name: "HTTP 500", script: []chaos.Fault{chaos.ServerError}, status: asl.StatusFailed,
			errorName: "SymbolicationFailed", causeHas: []string{"internal server error"}, submits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := execute(t, tt.script, tt.mix, tt.cfg, nil)
			if r.exec.Status != tt.status {
				t.Fatalf("status %s (%s: %s), want %s; path %s", r.exec.Status, r.exec.Error, r.exec.Cause, tt.status, path(r.exec))
			}
			if r.exec.Error != tt.errorName {
				t.Errorf("error = %q, want %q", r.exec.Error, tt.errorName)
			}
			for _, s := range tt.causeHas {
				if !strings.Contains(r.exec.Cause, s) {
					t.Errorf("cause %q does not say %q", r.exec.Cause, s)
				}
			}
			for _, s := range tt.pathHas {
				if !strings.Contains(path(r.exec), s) {
					t.Errorf("path %s does not go through %s", path(r.exec), s)
				}
			}
			if got := r.entered("ForgetLostTask"); got != tt.lost {
				t.Errorf("ForgetLostTask entered %d times, want %d (path %s)", got, tt.lost, path(r.exec))
			}
			if got := r.entered("ResetWorker"); got != tt.unav {
				t.Errorf("ResetWorker entered %d times, want %d (path %s)", got, tt.unav, path(r.exec))
			}
			submits := r.requests("submit")
			if tt.submits > 0 && len(submits) != tt.submits {
				t.Errorf("%d submissions, want %d", len(submits), tt.submits)
			}
			if polls := r.requests("poll"); tt.polls > 0 && len(polls) != tt.polls {
				t.Errorf("%d polls, want %d", len(polls), tt.polls)
			}
			if tt.distinctIDs > 0 {
				ids := map[string]bool{}
				for _, q := range submits {
					ids[q.WorkerID] = true
				}
				if len(ids) != tt.distinctIDs {
					t.Errorf("worker ids %v: want %d distinct", submits, tt.distinctIDs)
				}
			}
			// A resubmission after an unavailable answer never reuses the
			// worker id of the request that met it.
			reqs := r.proxy.Requests()
			for i, q := range reqs {
				if q.Fault == chaos.Unavailable && i+1 < len(reqs) && reqs[i+1].WorkerID == q.WorkerID {
					t.Errorf("request %d after an unavailable answer kept worker id %s", i+1, q.WorkerID)
				}
			}
			// Every execution ends by its deadline, give or take the one
			// wait that crosses it.
			deadline := task.Defaults.Deadline
			if tt.cfg.Deadline != 0 {
				deadline = tt.cfg.Deadline
			}
			if r.exec.StopDate.IsZero() {
				t.Error("the execution has no stop date")
			}
			if took := r.exec.StopDate.Sub(r.exec.StartDate); took > deadline+task.Defaults.BackoffCap {
				t.Errorf("execution took %s on the state machine's clock, past the %s deadline", took, deadline)
			}
			budget := task.Defaults.ResubmitBudget
			if tt.cfg.ResubmitBudget != 0 {
				budget = tt.cfg.ResubmitBudget
			}
			if tt.errorName != "ResubmitBudgetExhausted" && tt.lost+tt.unav > budget {
				t.Errorf("%d resubmits beyond the budget %d", tt.lost+tt.unav, budget)
			}
			if tt.status == asl.StatusSucceeded {
				if r.output.Task.LostTasks != tt.lost || r.output.Task.Unavailable != tt.unav {
					t.Errorf("task counters = %+v, want %d lost, %d unavailable", r.output.Task, tt.lost, tt.unav)
				}
				checkFrames(t, r)
			}
			if tt.errorName != "" && !slices.Contains(append(slices.Clone(task.ErrorNames), "SymbolicationFailed"), r.exec.Error) {
				t.Errorf("error %q is not one of the workflow's names", r.exec.Error)
			}
			// The task record agrees with the execution.
			if tt.status == asl.StatusSucceeded {
				var in task.State
				json.Unmarshal(r.exec.Input, &in)
				rec, err := r.env.Stack.Store.GetTask(context.Background(), in.ProjectID, in.EventID)
				if err != nil {
					t.Errorf("task record: %v", err)
				} else if rec.Resubmits != tt.lost+tt.unav || rec.ExecutionID != r.exec.ID {
					t.Errorf("task record counts %d resubmits for %s, want %d for %s", rec.Resubmits, rec.ExecutionID, tt.lost+tt.unav, r.exec.ID)
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
			r := execute(t, nil, nil, task.Config{}, tt.mutate)
			if r.exec.Status != asl.StatusFailed || r.exec.Error != tt.errorName {
				t.Fatalf("got %s %s, want FAILED %s", r.exec.Status, r.exec.Error, tt.errorName)
			}
			if !strings.Contains(r.exec.Cause, tt.causeHas) {
				t.Errorf("cause %q does not name %q", r.exec.Cause, tt.causeHas)
			}
			if n := len(r.requests("submit")); n != 0 {
				t.Errorf("bad input reached Symbolicator %d times", n)
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
