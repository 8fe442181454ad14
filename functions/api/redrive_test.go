package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/stepfunctions/sfntest"
)

// TestRedriveRoute answers POST /v1/executions/{id}/redrive through the
// function as Lambda builds it from its environment: moto_server stands in
// for DynamoDB and S3 as in TestWiring, and shared/stepfunctions/sfntest
// for Step Functions, because moto_server does not implement
// RedriveExecution (it answers 500).
func TestRedriveRoute(t *testing.T) {
	ctx := context.Background()
	endpoint := mototest.Start(t)
	now := time.Now().UTC()
	fake := sfntest.Start(t, nil)
	const sm = "arn:aws:states:us-east-1:123456789012:stateMachine:SymbolicateStateMachine"
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_SFN": fake.URL, "S3_USE_PATH_STYLE": "true",
		"PROJECTS_TABLE": "symflow-projects", "TASKS_TABLE": "symflow-tasks",
		"CRASH_BUCKET": "symflow-crashes", "RESULTS_BUCKET": "symflow-results", "DEBUG_FILES_BUCKET": "symflow-debug-files",
		"STATE_MACHINE_ARN": sm,
	} {
		t.Setenv(k, v)
	}
	execArn := func(name string) string { return strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":" + name }
	const failed = "42_f0e1d2c3b4a5968778695a4b3c2d1e0f"
	fake.Put(sfntest.Execution{Arn: execArn(failed), Name: failed, Status: "FAILED", Error: "SymbolicatorUnreachable", Cause: "down",
		Input: `{"project_id":"42","event_id":"f0e1d2c3b4a5968778695a4b3c2d1e0f","kind":"payload"}`, StartDate: now.Add(-time.Hour), StopDate: now.Add(-50 * time.Minute)})
	fake.Put(sfntest.Execution{Arn: execArn("42_running"), Name: "42_running", Status: "RUNNING", Input: `{}`, StartDate: now})

	srv, err := lambdaenv.API(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../events/api/get-config.json")
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string) (int, map[string]any) {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(base, &ev); err != nil {
			t.Fatal(err)
		}
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
		resp, err := srv.HandleHTTPAPI(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, resp.Body)
		}
		return resp.StatusCode, body
	}

	code, body := send("POST", "/v1/executions/"+failed+"/redrive")
	if code != 200 || body["status"] != "RUNNING" || body["redrive_count"] != float64(1) || body["event_id"] != "f0e1d2c3b4a5968778695a4b3c2d1e0f" {
		t.Fatalf("redrive: %d %v", code, body)
	}
	if got, _ := fake.Get(execArn(failed)); got.RedriveCount != 1 || got.Status != "RUNNING" {
		t.Errorf("Step Functions holds %+v after the redrive", got)
	}
	if code, body := send("GET", "/v1/executions/"+failed); code != 200 || body["status"] != "RUNNING" {
		t.Errorf("status after the redrive: %d %v", code, body)
	}
	for _, tc := range []struct {
		name   string
		status int
		code   string
	}{
		{failed, 409, "execution_running"}, // redriven above
		{"42_running", 409, "execution_running"},
		{"42_nobody", 404, "execution_not_found"},
	} {
		code, body := send("POST", "/v1/executions/"+tc.name+"/redrive")
		e, _ := body["error"].(map[string]any)
		if code != tc.status || e["code"] != tc.code {
			t.Errorf("redrive %s: %d %v, want %d %s", tc.name, code, body, tc.status, tc.code)
		}
	}
	calls := fake.Calls()
	if n := strings.Count(strings.Join(calls, " "), "RedriveExecution"); n != 4 {
		t.Errorf("Step Functions saw %d RedriveExecution calls (%v), want 4: the API asks Step Functions, it does not guess", n, calls)
	}
}
