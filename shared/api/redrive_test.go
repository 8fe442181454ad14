package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/execution"
)

// redrivable is an execution store that can redrive: each name answers as
// listed.
type redrivable struct {
	execs  map[string]execution.Execution
	refuse map[string]*execution.NotRedrivableError
	calls  []string
}

func (r *redrivable) Describe(_ context.Context, name string) (execution.Execution, error) {
	if ex, ok := r.execs[name]; ok {
		return ex, nil
	}
	return execution.Execution{}, execution.ErrNotFound
}

func (r *redrivable) Redrive(_ context.Context, name string) (execution.Execution, error) {
	r.calls = append(r.calls, name)
	if nr, ok := r.refuse[name]; ok {
		return execution.Execution{}, nr
	}
	ex, ok := r.execs[name]
	if !ok {
		return execution.Execution{}, execution.ErrNotFound
	}
	if name == "broken" {
		return execution.Execution{}, errors.New("operation error SFN: RedriveExecution: dial tcp 10.0.0.1:443: i/o timeout")
	}
	ex.Status, ex.RedriveCount, ex.RedriveDate = execution.StatusRunning, ex.RedriveCount+1, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return ex, nil
}

// describeOnly cannot redrive.
type describeOnly struct{}

func (describeOnly) Describe(context.Context, string) (execution.Execution, error) {
	return execution.Execution{}, execution.ErrNotFound
}

func TestRedriveRoute(t *testing.T) {
	const failed = "42_0123456789abcdef0123456789abcdef"
	start := time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)
	store := &redrivable{
		execs: map[string]execution.Execution{
			failed:   {Name: failed, Status: execution.StatusFailed, Input: json.RawMessage(`{"project_id":"42","event_id":"0123456789abcdef0123456789abcdef","kind":"payload"}`), StartDate: start, StopDate: start.Add(time.Minute)},
			"broken": {Name: "broken", Status: execution.StatusFailed},
		},
		refuse: map[string]*execution.NotRedrivableError{
			"running":   {Name: "running", Status: "RUNNING", Why: execution.NotRedrivableRunning, Reason: "Execution is RUNNING and cannot be redriven"},
			"succeeded": {Name: "succeeded", Status: "SUCCEEDED", Why: execution.NotRedrivableSucceeded, Reason: "Execution is SUCCEEDED and cannot be redriven"},
			"old":       {Name: "old", Status: "FAILED", Why: execution.NotRedrivableExpired, Reason: "Execution redrivable period exceeded"},
			"huge":      {Name: "huge", Status: "FAILED", Why: execution.NotRedrivableOther, Reason: "Execution history event limit exceeded"},
		},
	}
	srv := &api.Server{Executions: store}
	post := func(path string) (int, map[string]any) {
		t.Helper()
		resp := srv.Handle(context.Background(), api.Request{Method: "POST", Path: path, BaseURL: "https://api.example", RequestID: "req-1"})
		var body map[string]any
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatalf("%s: body %q: %v", path, resp.Body, err)
		}
		return resp.Status, body
	}

	code, body := post("/v1/executions/" + failed + "/redrive")
	if code != 200 {
		t.Fatalf("redrive: %d %v", code, body)
	}
	want := map[string]any{
		"execution_id": failed, "status": "RUNNING", "project_id": "42", "event_id": "0123456789abcdef0123456789abcdef",
		"started_at": "2026-02-28T09:00:00.000Z", "redrive_count": float64(1), "redriven_at": "2026-03-01T12:00:00.000Z",
		"status_url": "https://api.example/v1/executions/" + failed,
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}

	for _, tc := range []struct {
		name, path string
		status     int
		code       string
		says       []string
	}{
		{"running", "/v1/executions/running/redrive", 409, api.CodeExecutionRunning, []string{"still running", "running"}},
		{"succeeded", "/v1/executions/succeeded/redrive", 409, api.CodeExecutionSucceeded, []string{"succeeded", "nothing to run again"}},
		{"too old", "/v1/executions/old/redrive", 409, api.CodeRedrivePeriodExpired, []string{"14 days", "new event"}},
		{"other limit", "/v1/executions/huge/redrive", 409, api.CodeNotRedrivable, []string{"history event limit"}},
		{"unknown", "/v1/executions/nobody/redrive", 404, api.CodeExecutionNotFound, []string{"nobody"}},
		{"bad id", "/v1/executions/a%20b/redrive", 400, api.CodeInvalidField, []string{"execution_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path)
			e, _ := body["error"].(map[string]any)
			if code != tc.status || e["code"] != tc.code {
				t.Fatalf("%d %v, want %d %s", code, body, tc.status, tc.code)
			}
			msg, _ := e["message"].(string)
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
		})
	}

	// An internal failure is a 500 without the detail.
	if code, body := post("/v1/executions/broken/redrive"); code != 500 || strings.Contains(string(mustJSON(t, body)), "10.0.0.1") {
		t.Errorf("internal failure: %d %v", code, body)
	}
	// Only POST.
	resp := srv.Handle(context.Background(), api.Request{Method: "GET", Path: "/v1/executions/" + failed + "/redrive"})
	if resp.Status != 405 || resp.Header["allow"] != "POST" {
		t.Errorf("GET: %d %v", resp.Status, resp.Header)
	}
	// A deployment whose executions cannot redrive says so.
	plain := &api.Server{Executions: describeOnly{}}
	resp = plain.Handle(context.Background(), api.Request{Method: "POST", Path: "/v1/executions/" + failed + "/redrive"})
	if resp.Status != 501 || !strings.Contains(string(resp.Body), api.CodeNotImplemented) {
		t.Errorf("without a Redriver: %d %s", resp.Status, resp.Body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
