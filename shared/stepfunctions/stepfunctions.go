// Package stepfunctions runs the symbolication workflow on AWS Step
// Functions: execution.Runner over StartExecution and DescribeExecution,
// and execution.Redriver over RedriveExecution.
package stepfunctions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/symflow/symflow/shared/execution"
)

// API is the part of the Step Functions client the runner uses.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	RedriveExecution(ctx context.Context, in *sfn.RedriveExecutionInput, opts ...func(*sfn.Options)) (*sfn.RedriveExecutionOutput, error)
}

// Runner starts executions of one Standard state machine.
type Runner struct {
	client          API
	stateMachineArn string
	executionPrefix string
}

// New returns a Runner for the state machine stateMachineArn
// (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME).
func New(client API, stateMachineArn string) (*Runner, error) {
	prefix, ok := executionArnPrefix(stateMachineArn)
	if !ok {
		return nil, fmt.Errorf("state machine ARN %q is not arn:aws:states:REGION:ACCOUNT:stateMachine:NAME", stateMachineArn)
	}
	return &Runner{client: client, stateMachineArn: stateMachineArn, executionPrefix: prefix}, nil
}

// executionArnPrefix turns a state machine ARN into the prefix of its
// executions' ARNs, to which the execution name is appended.
func executionArnPrefix(smArn string) (string, bool) {
	parts := strings.Split(smArn, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", false
	}
	parts[5] = "execution"
	return strings.Join(parts, ":") + ":", true
}

// ExecutionArn is the ARN of the execution called name.
func (r *Runner) ExecutionArn(name string) string { return r.executionPrefix + name }

// Start starts the named execution. Step Functions answers a repeated
// StartExecution with the same name and input as a running execution with
// that execution, which is success here too; another input, or a finished
// execution of the name, is execution.ErrExists.
func (r *Runner) Start(ctx context.Context, name string, input json.RawMessage) error {
	_, err := r.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(r.stateMachineArn),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return fmt.Errorf("start execution %s: %w", name, execution.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("start execution %s: %w", name, err)
	}
	return nil
}

// Describe returns the named execution.
func (r *Runner) Describe(ctx context.Context, name string) (execution.Execution, error) {
	out, err := r.describe(ctx, name)
	if err != nil {
		return execution.Execution{}, err
	}
	ex := execution.Execution{
		Name:         aws.ToString(out.Name),
		Status:       string(out.Status),
		Error:        aws.ToString(out.Error),
		Cause:        aws.ToString(out.Cause),
		RedriveCount: int(aws.ToInt32(out.RedriveCount)),
	}
	if out.Input != nil {
		ex.Input = json.RawMessage(*out.Input)
	}
	if out.Output != nil {
		ex.Output = json.RawMessage(*out.Output)
	}
	if out.StartDate != nil {
		ex.StartDate = *out.StartDate
	}
	if out.StopDate != nil {
		ex.StopDate = *out.StopDate
	}
	if out.RedriveDate != nil {
		ex.RedriveDate = *out.RedriveDate
	}
	return ex, nil
}

func (r *Runner) describe(ctx context.Context, name string) (*sfn.DescribeExecutionOutput, error) {
	out, err := r.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(r.ExecutionArn(name))})
	var missing *types.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("describe execution %s: %w", name, execution.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("describe execution %s: %w", name, err)
	}
	return out, nil
}

// Redrive runs the named execution again from the state it did not
// complete (RedriveExecution) and returns it, running. When Step Functions
// refuses, the execution's own redriveStatusReason says why, in a
// *execution.NotRedrivableError.
func (r *Runner) Redrive(ctx context.Context, name string) (execution.Execution, error) {
	_, err := r.client.RedriveExecution(ctx, &sfn.RedriveExecutionInput{ExecutionArn: aws.String(r.ExecutionArn(name))})
	var missing *types.ExecutionDoesNotExist
	var refused *types.ExecutionNotRedrivable
	switch {
	case errors.As(err, &missing):
		return execution.Execution{}, fmt.Errorf("redrive execution %s: %w", name, execution.ErrNotFound)
	case errors.As(err, &refused):
		nr := &execution.NotRedrivableError{Name: name, Reason: aws.ToString(refused.Message)}
		if out, derr := r.describe(ctx, name); derr == nil {
			nr.Status = string(out.Status)
			if reason := aws.ToString(out.RedriveStatusReason); reason != "" {
				nr.Reason = reason
			}
		}
		nr.Why = WhyNotRedrivable(nr.Status, nr.Reason)
		return execution.Execution{}, nr
	case err != nil:
		return execution.Execution{}, fmt.Errorf("redrive execution %s: %w", name, err)
	}
	return r.Describe(ctx, name)
}

// WhyNotRedrivable sorts a refusal by the execution's status and Step
// Functions' redriveStatusReason into one of the execution.NotRedrivable
// constants.
func WhyNotRedrivable(status, reason string) string {
	switch {
	case status == execution.StatusRunning || strings.Contains(reason, "is RUNNING"):
		return execution.NotRedrivableRunning
	case status == execution.StatusSucceeded || strings.Contains(reason, "is SUCCEEDED"):
		return execution.NotRedrivableSucceeded
	case strings.Contains(strings.ToLower(reason), "redrivable period"):
		return execution.NotRedrivableExpired
	}
	return execution.NotRedrivableOther
}
