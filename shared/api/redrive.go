package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/task"
)

// Redriver runs a failed execution again (execution.Redriver:
// shared/stepfunctions on AWS, the local executor in `symflow serve`).
// The Server's Executions may implement it; when they do not, the redrive
// route answers 501.
type Redriver interface {
	Redrive(ctx context.Context, name string) (execution.Execution, error)
}

// Error codes of the redrive route.
const (
	// CodeExecutionRunning: the execution has not stopped.
	CodeExecutionRunning = "execution_running"
	// CodeExecutionSucceeded: there is nothing to run again.
	CodeExecutionSucceeded = "execution_succeeded"
	// CodeRedrivePeriodExpired: it stopped more than 14 days ago.
	CodeRedrivePeriodExpired = "redrive_period_expired"
	// CodeNotRedrivable: another limit of Step Functions.
	CodeNotRedrivable = "not_redrivable"
)

// Redriven answers POST /v1/executions/{execution_id}/redrive: the
// execution, running again from the state it failed in. It is the same
// execution (id, event, start): the event keeps its one execution.
type Redriven struct {
	ExecutionID  string `json:"execution_id"`
	Status       string `json:"status"`
	ProjectID    string `json:"project_id,omitempty"`
	EventID      string `json:"event_id,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	RedriveCount int    `json:"redrive_count"`
	RedrivenAt   string `json:"redriven_at,omitempty"`
	StatusURL    string `json:"status_url"`
}

// redriveExecution runs a FAILED, TIMED_OUT or ABORTED execution again
// from the state it did not complete (Step Functions' RedriveExecution).
// The body, if any, is not read.
func (s *Server) redriveExecution(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	name := p["execution_id"]
	if !execution.ValidName(name) {
		return 0, nil, badField("execution_id", "%q is not an execution id (letters, digits, - and _, at most 80)", truncate(name))
	}
	rd, ok := s.Executions.(Redriver)
	if !ok {
		return 0, nil, &apiError{status: http.StatusNotImplemented, body: Error{Code: CodeNotImplemented, Message: "this deployment cannot redrive executions"}}
	}
	ex, err := rd.Redrive(ctx, name)
	var nr *execution.NotRedrivableError
	switch {
	case errors.Is(err, execution.ErrNotFound):
		return 0, nil, notFound(CodeExecutionNotFound, "no execution %s", name)
	case errors.As(err, &nr):
		return 0, nil, notRedrivable(name, nr)
	case err != nil:
		return 0, nil, internalErr("redrive execution", err)
	}
	out := Redriven{ExecutionID: name, Status: ex.Status, RedriveCount: ex.RedriveCount, StatusURL: r.BaseURL + "/v1/executions/" + name}
	var in task.State
	if json.Unmarshal(ex.Input, &in) == nil {
		out.ProjectID, out.EventID = in.ProjectID, in.EventID
	}
	if !ex.StartDate.IsZero() {
		out.StartedAt = ex.StartDate.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if !ex.RedriveDate.IsZero() {
		out.RedrivenAt = ex.RedriveDate.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return http.StatusOK, out, nil
}

// notRedrivable says why an execution cannot run again, and what to do
// instead: 409, the execution's state forbids it.
func notRedrivable(name string, nr *execution.NotRedrivableError) *apiError {
	var code, msg string
	switch nr.Why {
	case execution.NotRedrivableRunning:
		code, msg = CodeExecutionRunning, fmt.Sprintf("execution %s is still running: poll its status; only a FAILED, TIMED_OUT or ABORTED execution can be redriven", name)
	case execution.NotRedrivableSucceeded:
		code, msg = CodeExecutionSucceeded, fmt.Sprintf("execution %s succeeded: there is nothing to run again", name)
	case execution.NotRedrivableExpired:
		code, msg = CodeRedrivePeriodExpired, fmt.Sprintf("execution %s stopped more than 14 days ago, too long ago to redrive (%s); submit the crash again as a new event", name, nr.Reason)
	default:
		code, msg = CodeNotRedrivable, fmt.Sprintf("execution %s cannot be redriven: %s", name, nr.Reason)
	}
	return &apiError{status: http.StatusConflict, body: Error{Code: code, Message: msg}}
}
