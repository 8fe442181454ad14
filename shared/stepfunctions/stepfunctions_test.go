package stepfunctions_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/stepfunctions"
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
