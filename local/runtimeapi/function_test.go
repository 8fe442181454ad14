package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/symflow/symflow/local/runtimeapi"
)

// crasherResponse is testdata/crasher's answer.
type crasherResponse struct {
	PID         int               `json:"pid"`
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	HasDeadline bool              `json:"has_deadline"`
	Env         map[string]string `json:"env"`
	Data        string            `json:"data"`
}

func invokeCrasher(t *testing.T, f *runtimeapi.Function, req string) (crasherResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := f.Invoke(ctx, []byte(req))
	var resp crasherResponse
	if err != nil {
		return resp, err
	}
	if jerr := json.Unmarshal(out, &resp); jerr != nil {
		t.Fatalf("response %q is not the crasher's: %v", out, jerr)
	}
	return resp, nil
}

func mustInvoke(t *testing.T, f *runtimeapi.Function, req string) crasherResponse {
	t.Helper()
	resp, err := invokeCrasher(t, f, req)
	if err != nil {
		t.Fatalf("invoke %s: %v", req, err)
	}
	return resp
}

func functionError(t *testing.T, err error) *runtimeapi.FunctionError {
	t.Helper()
	var fe *runtimeapi.FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a function error", err, err)
	}
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if jerr := json.Unmarshal(fe.Payload, &doc); jerr != nil {
		t.Fatalf("error payload %q is not JSON: %v", fe.Payload, jerr)
	}
	if doc.ErrorType != fe.Type {
		t.Errorf("payload errorType %q, error type %q", doc.ErrorType, fe.Type)
	}
	return fe
}

func TestWarmProcessAndEnvironment(t *testing.T) {
	events := &syncBuffer{buf: new(bytes.Buffer)}
	f := newFunction(t, runtimeapi.Config{
		Name:      "Crasher",
		Bootstrap: crasher(t),
		Region:    "eu-west-1",
		MemoryMB:  256,
		Env:       map[string]string{"CRASHER_GREETING": "hello"},
		Logger:    slog.New(slog.NewJSONHandler(events, nil)),
	})
	first := mustInvoke(t, f, `{"action":"echo"}`)
	second := mustInvoke(t, f, `{}`)

	if first.PID != second.PID {
		t.Errorf("second invocation ran in process %d, want the warm %d", second.PID, first.PID)
	}
	if first.RequestID == "" || first.RequestID == second.RequestID {
		t.Errorf("request ids %q and %q: want two distinct ids", first.RequestID, second.RequestID)
	}
	if want := "arn:aws:lambda:eu-west-1:000000000000:function:Crasher"; first.FunctionARN != want || f.ARN() != want {
		t.Errorf("invoked function ARN %q, ARN() %q, want %q", first.FunctionARN, f.ARN(), want)
	}
	if !first.HasDeadline {
		t.Error("handler context has no deadline")
	}
	wantEnv := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "Crasher",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"_HANDLER":                        "bootstrap",
		"AWS_REGION":                      "eu-west-1",
		"AWS_ACCESS_KEY_ID":               "local",
		"CRASHER_GREETING":                "hello",
	}
	for k, want := range wantEnv {
		if got := first.Env[k]; got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(first.Env["_X_AMZN_TRACE_ID"], "Root=1-") {
		t.Errorf("_X_AMZN_TRACE_ID=%q, want a trace header", first.Env["_X_AMZN_TRACE_ID"])
	}

	st := f.Stats()
	if st.ColdStarts != 1 || st.Invocations != 2 {
		t.Errorf("stats %+v: want 1 cold start and 2 invocations", st)
	}
	if len(st.InitDurations) != 1 || st.InitDurations[0] <= 0 {
		t.Errorf("init durations %v: want one positive duration", st.InitDurations)
	}

	// One REPORT per invocation; the cold one carries the init duration.
	var reports []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(events.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev["msg"] == "REPORT" {
			reports = append(reports, ev)
		}
	}
	if len(reports) != 2 {
		t.Fatalf("REPORT events %v: want 2", reports)
	}
	if reports[0]["request_id"] != first.RequestID || reports[0]["init_duration"] == nil || reports[0]["function"] != "Crasher" {
		t.Errorf("first REPORT %v: want the request id, function and init duration", reports[0])
	}
	if reports[1]["request_id"] != second.RequestID || reports[1]["init_duration"] != nil {
		t.Errorf("second REPORT %v: want the request id and no init duration", reports[1])
	}
}

// TestInvocationFailures checks each way an invocation fails is named as
// Lambda names it, and that the function serves the next invocation.
func TestInvocationFailures(t *testing.T) {
	cases := []struct {
		name     string
		req      string
		timeout  time.Duration
		wantType string
		wantMsg  string
		// restarts: the failure ends the process.
		restarts bool
	}{
		{name: "handler error", req: `{"action":"error"}`, wantType: "BadRequest", wantMsg: "bad request: asked to fail"},
		{name: "unknown action", req: `{"action":"fly"}`, wantType: "BadRequest", wantMsg: `unknown action "fly"`},
		{name: "undecodable input", req: `{"action":`, wantType: "errorString", wantMsg: "unexpected EOF"},
		{name: "panic", req: `{"action":"panic"}`, wantType: "string", wantMsg: "asked to panic", restarts: true},
		{name: "exit", req: `{"action":"exit","code":3}`, wantType: "Runtime.ExitError", wantMsg: "Error: Runtime exited with error: exit status 3", restarts: true},
		{name: "clean exit", req: `{"action":"exit","code":0}`, wantType: "Runtime.ExitError", wantMsg: "Runtime exited without providing a reason", restarts: true},
		{name: "timeout", req: `{"action":"sleep","millis":60000}`, timeout: time.Second,
			wantType: "Sandbox.Timedout", wantMsg: "Error: Task timed out after 1.00 seconds", restarts: true},
		// The API refuses the post with 413 and aws-lambda-go exits on
		// that, as it does on Lambda.
		{name: "response too large", req: `{"action":"big","size":7000000}`, wantType: "Function.ResponseSizeTooLarge",
			wantMsg: "Response payload size exceeded maximum allowed payload size (6291556 bytes).", restarts: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t), Timeout: timeout})
			before := mustInvoke(t, f, `{}`)

			_, err := invokeCrasher(t, f, tc.req)
			fe := functionError(t, err)
			if fe.Type != tc.wantType {
				t.Errorf("error type %q, want %q (payload %s)", fe.Type, tc.wantType, fe.Payload)
			}
			if !strings.Contains(fe.Message, tc.wantMsg) {
				t.Errorf("error message %q, want it to contain %q", fe.Message, tc.wantMsg)
			}

			after := mustInvoke(t, f, `{}`)
			if restarted := after.PID != before.PID; restarted != tc.restarts {
				t.Errorf("process %d before, %d after: restarted=%v, want %v", before.PID, after.PID, restarted, tc.restarts)
			}
			if want := 1 + btoi(tc.restarts); f.Stats().ColdStarts != want {
				t.Errorf("cold starts %d, want %d", f.Stats().ColdStarts, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestInitFailures checks processes that never take their invocation.
func TestInitFailures(t *testing.T) {
	cases := []struct {
		name        string
		init        string
		initTimeout time.Duration
		wantType    string
		wantMsg     string
	}{
		{name: "exits", init: "exit", wantType: "Runtime.ExitError", wantMsg: "Runtime exited with error: exit status 4"},
		{name: "reports init error", init: "init-error", wantType: "Runtime.ConfigError", wantMsg: "missing configuration"},
		{name: "hangs", init: "hang", initTimeout: 300 * time.Millisecond, wantType: "Sandbox.Timedout", wantMsg: "Task timed out after 0.30 seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFunction(t, runtimeapi.Config{
				Name: "Crasher", Bootstrap: crasher(t), InitTimeout: tc.initTimeout,
				Env: map[string]string{"CRASHER_INIT": tc.init},
			})
			for i := range 2 { // a failed init is retried by the next invocation
				_, err := invokeCrasher(t, f, `{}`)
				fe := functionError(t, err)
				if fe.Type != tc.wantType || !strings.Contains(fe.Message, tc.wantMsg) {
					t.Errorf("invocation %d: %s %q, want %s containing %q", i, fe.Type, fe.Message, tc.wantType, tc.wantMsg)
				}
			}
			if st := f.Stats(); st.ColdStarts != 2 || st.Invocations != 0 {
				t.Errorf("stats %+v: want 2 cold starts, no invocation delivered", st)
			}
		})
	}
}

func TestMissingBootstrapAtInvoke(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bootstrap")
	data, err := os.ReadFile(crasher(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFunction(t, runtimeapi.Config{Name: "Gone", Bootstrap: bin})
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	_, err = f.Invoke(context.Background(), []byte(`{}`))
	if fe := functionError(t, err); fe.Type != "Runtime.InvalidEntrypoint" || !strings.Contains(fe.Message, bin) {
		t.Errorf("got %s %q, want Runtime.InvalidEntrypoint naming %s", fe.Type, fe.Message, bin)
	}
}

func TestNewFunctionRejectsBadConfig(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  runtimeapi.Config
		want string
	}{
		{"no name", runtimeapi.Config{Bootstrap: crasher(t)}, "Name is empty"},
		{"no bootstrap", runtimeapi.Config{Name: "F"}, "Bootstrap is empty"},
		{"missing bootstrap", runtimeapi.Config{Name: "F", Bootstrap: "/nonexistent/bootstrap"}, "no such file"},
		{"not executable", runtimeapi.Config{Name: "F", Bootstrap: notExec}, "is not an executable file"},
		{"folder", runtimeapi.Config{Name: "F", Bootstrap: t.TempDir()}, "is not an executable file"},
		{"reserved key", runtimeapi.Config{Name: "F", Bootstrap: crasher(t), Env: map[string]string{"AWS_REGION": "x"}},
			"environment variable AWS_REGION is reserved"},
		{"empty key", runtimeapi.Config{Name: "F", Bootstrap: crasher(t), Env: map[string]string{"": "x"}}, "empty name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := runtimeapi.NewFunction(tc.cfg)
			if err == nil {
				f.Stop()
				t.Fatal("NewFunction accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	var re *runtimeapi.ReservedEnvError
	_, err := runtimeapi.NewFunction(runtimeapi.Config{Name: "F", Bootstrap: crasher(t), Env: map[string]string{"AWS_LAMBDA_RUNTIME_API": "x"}})
	if !errors.As(err, &re) || re.Key != "AWS_LAMBDA_RUNTIME_API" {
		t.Errorf("error %v: want a *ReservedEnvError for AWS_LAMBDA_RUNTIME_API", err)
	}
}

// TestInstances checks invocations run one at a time per environment, and
// side by side with several environments.
func TestInstances(t *testing.T) {
	t.Run("one environment serializes", func(t *testing.T) {
		f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t)})
		pids := invokeConcurrently(t, f, 4, `{"action":"sleep","millis":20}`)
		for _, pid := range pids[1:] {
			if pid != pids[0] {
				t.Errorf("pids %v: want every invocation in the one warm process", pids)
			}
		}
		if st := f.Stats(); st.ColdStarts != 1 || st.Invocations != 4 {
			t.Errorf("stats %+v: want 1 cold start, 4 invocations", st)
		}
	})
	t.Run("two environments run together", func(t *testing.T) {
		f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t), Instances: 2, Timeout: time.Minute})
		// Each invocation waits for the other: only two processes at once
		// get both through.
		req, _ := json.Marshal(map[string]any{"action": "barrier", "barrier": t.TempDir(), "count": 2})
		pids := invokeConcurrently(t, f, 2, string(req))
		if pids[0] == pids[1] {
			t.Errorf("pids %v: want two processes", pids)
		}
		if st := f.Stats(); st.ColdStarts != 2 || len(st.InitDurations) != 2 {
			t.Errorf("stats %+v: want 2 cold starts with their init durations", st)
		}
	})
}

func invokeConcurrently(t *testing.T, f *runtimeapi.Function, n int, req string) []int {
	t.Helper()
	pids := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.Invoke(context.Background(), []byte(req))
			if err != nil {
				errs[i] = err
				return
			}
			var resp crasherResponse
			errs[i] = json.Unmarshal(out, &resp)
			pids[i] = resp.PID
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
	}
	return pids
}

// TestCallerGivesUp checks a caller's cancelled context returns at once
// while the delivered invocation finishes in its process, which then
// serves the next one.
func TestCallerGivesUp(t *testing.T) {
	f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t)})
	before := mustInvoke(t, f, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Give up once the process has the invocation.
		for f.Stats().Invocations < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := f.Invoke(ctx, []byte(`{"action":"sleep","millis":300}`))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want the context's cancellation", err)
	}
	after := mustInvoke(t, f, `{}`)
	if after.PID != before.PID {
		t.Errorf("process %d replaced by %d: a caller giving up must not end the environment", before.PID, after.PID)
	}
	if st := f.Stats(); st.Invocations != 3 || st.ColdStarts != 1 {
		t.Errorf("stats %+v: want 3 invocations in one process", st)
	}
}

func TestStop(t *testing.T) {
	f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t)})
	resp := mustInvoke(t, f, `{}`)

	done := make(chan error, 1)
	go func() {
		_, err := f.Invoke(context.Background(), []byte(`{"action":"sleep","millis":60000}`))
		done <- err
	}()
	// Let the sleeping invocation reach the process before stopping.
	for f.Stats().Invocations < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	f.Stop()
	if err := <-done; !errors.Is(err, runtimeapi.ErrStopped) {
		t.Errorf("in-flight invocation: %v, want ErrStopped", err)
	}
	if err := syscall.Kill(resp.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill 0: %v)", resp.PID, err)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, runtimeapi.ErrStopped) {
		t.Errorf("invoke after Stop: %v, want ErrStopped", err)
	}
	f.Stop() // idempotent
}
