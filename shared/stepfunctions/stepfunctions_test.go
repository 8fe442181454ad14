package stepfunctions_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/stepfunctions"
	"github.com/symflow/symflow/shared/stepfunctions/sfntest"
)

// newMachine creates a Standard state machine in moto_server and returns
// a client and its ARN.
func newMachine(t *testing.T) (*sfn.Client, string) {
	t.Helper()
	client := sfn.New(sfn.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(mototest.Start(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	out, err := client.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name:       aws.String("SymbolicateStateMachine"),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/symflow-states"),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, aws.ToString(out.StateMachineArn)
}

func TestRunner(t *testing.T) {
	ctx := context.Background()
	client, arn := newMachine(t)
	r, err := stepfunctions.New(client, arn)
	if err != nil {
		t.Fatal(err)
	}
	in := json.RawMessage(`{"project_id":"42","event_id":"0123456789abcdef0123456789abcdef","kind":"payload"}`)
	const name = "42_0123456789abcdef0123456789abcdef"
	if err := r.Start(ctx, name, in); err != nil {
		t.Fatalf("start: %v", err)
	}
	// Step Functions answers the same name and input with the execution.
	if err := r.Start(ctx, name, in); err != nil {
		t.Errorf("start again with the same input: %v", err)
	}
	if err := r.Start(ctx, name, json.RawMessage(`{"other":true}`)); !errors.Is(err, execution.ErrExists) {
		t.Errorf("start with another input: %v, want ErrExists", err)
	}
	ex, err := r.Describe(ctx, name)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if ex.Name != name || ex.StartDate.IsZero() || string(ex.Input) != string(in) || (ex.Status != "RUNNING" && ex.Status != "SUCCEEDED") {
		t.Errorf("described %+v", ex)
	}
	if _, err := r.Describe(ctx, "no-such-execution"); !errors.Is(err, execution.ErrNotFound) {
		t.Errorf("describe unknown: %v, want ErrNotFound", err)
	}
	out, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Executions) != 1 {
		t.Errorf("%d executions, want 1", len(out.Executions))
	}
}

func TestNewRejectsBadArn(t *testing.T) {
	for _, arn := range []string{
		"",
		"SymbolicateStateMachine",
		"arn:aws:states:us-east-1:123456789012:execution:sm:e1",
		"arn:aws:lambda:us-east-1:123456789012:function:f",
		"arn:aws:states:us-east-1:123456789012:stateMachine:",
	} {
		if _, err := stepfunctions.New(nil, arn); err == nil {
			t.Errorf("New(%q) accepted", arn)
		}
	}
	r, err := stepfunctions.New(nil, "arn:aws:states:eu-west-1:123456789012:stateMachine:sm")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.ExecutionArn("e1"), "arn:aws:states:eu-west-1:123456789012:execution:sm:e1"; got != want {
		t.Errorf("ExecutionArn = %s, want %s", got, want)
	}
}

// TestRedrive runs Runner.Redrive against sfntest, a fake of the Step
// Functions API: moto_server does not implement RedriveExecution (see
// TestMotoLacksRedrive).
func TestRedrive(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := sfntest.Start(t, func() time.Time { return now })
	client := sfn.New(sfn.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	const smArn = "arn:aws:states:us-east-1:123456789012:stateMachine:SymbolicateStateMachine"
	r, err := stepfunctions.New(client, smArn)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name, status string, stopped time.Duration) {
		e := sfntest.Execution{Arn: r.ExecutionArn(name), Name: name, Status: status, Input: `{"project_id":"42"}`, StartDate: now.Add(-stopped - time.Minute)}
		if status != "RUNNING" {
			e.StopDate = now.Add(-stopped)
		}
		if status == "FAILED" {
			e.Error, e.Cause = "SymbolicatorUnreachable", "cannot reach Symbolicator"
		}
		fake.Put(e)
	}
	put("failed", "FAILED", time.Hour)
	put("timed-out", "TIMED_OUT", 13*24*time.Hour)
	put("running", "RUNNING", 0)
	put("succeeded", "SUCCEEDED", time.Hour)
	put("old", "FAILED", 15*24*time.Hour)

	for _, name := range []string{"failed", "timed-out"} {
		ex, err := r.Redrive(ctx, name)
		if err != nil {
			t.Fatalf("redrive %s: %v", name, err)
		}
		if ex.Name != name || ex.Status != "RUNNING" || ex.RedriveCount != 1 || !ex.RedriveDate.Equal(now) || ex.Error != "" || !ex.StopDate.IsZero() {
			t.Errorf("redriven %s: %+v", name, ex)
		}
	}
	for _, tc := range []struct{ name, why, reason string }{
		{"running", execution.NotRedrivableRunning, "RUNNING"},
		{"succeeded", execution.NotRedrivableSucceeded, "SUCCEEDED"},
		{"old", execution.NotRedrivableExpired, "redrivable period exceeded"},
		{"failed", execution.NotRedrivableRunning, "RUNNING"}, // redriven above: running again
	} {
		_, err := r.Redrive(ctx, tc.name)
		var nr *execution.NotRedrivableError
		if !errors.As(err, &nr) || !errors.Is(err, execution.ErrNotRedrivable) {
			t.Fatalf("redrive %s: %v, want NotRedrivableError", tc.name, err)
		}
		if nr.Why != tc.why || nr.Name != tc.name || !strings.Contains(nr.Reason, tc.reason) {
			t.Errorf("redrive %s: %+v, want why %s and a reason with %q", tc.name, nr, tc.why, tc.reason)
		}
	}
	if _, err := r.Redrive(ctx, "nobody"); !errors.Is(err, execution.ErrNotFound) {
		t.Errorf("redrive unknown: %v, want ErrNotFound", err)
	}
	if got, _ := fake.Get(r.ExecutionArn("succeeded")); got.RedriveCount != 0 || got.Status != "SUCCEEDED" {
		t.Errorf("a refused redrive changed the execution: %+v", got)
	}
}

// TestMotoLacksRedrive keeps the reason for the fake honest: when
// moto_server learns RedriveExecution, TestRedrive can run against it.
func TestMotoLacksRedrive(t *testing.T) {
	client, arn := newMachine(t)
	start, err := client.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("e1")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.RedriveExecution(context.Background(), &sfn.RedriveExecutionInput{ExecutionArn: start.ExecutionArn})
	t.Logf("moto_server answers RedriveExecution with: %v", err)
	var refused *types.ExecutionNotRedrivable
	if err == nil || errors.As(err, &refused) {
		t.Logf("moto_server now answers RedriveExecution (%v): TestRedrive could use it instead of sfntest", err)
	}
}
