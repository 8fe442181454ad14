package task

import (
	"fmt"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// The error types below are the workflow's error names. A Lambda reports a
// returned error's Go type name as its errorType, and the state machine's
// ErrorEquals matches on it, so these names are part of the contract with
// statemachine/symbolicate.asl.json: renaming one breaks a Catch. They are
// returned as they are at the Lambda boundary, never wrapped (a wrapped
// error would reach Step Functions as "wrapError").
//
// An error's text is its cause in the execution history: the ones that
// may quote a URL (Symbolicator's, a source's in a message passed on)
// hide URL credentials in it (project.RedactURLs).

// TaskIdNotFound: Symbolicator answered 404 for a poll. It restarted (losing
// its tasks) or another worker behind the load balancer answered; the
// workflow forgets the task id and submits again. (Spelled Id, not ID: it is
// the reference's error name.)
type TaskIdNotFound struct {
	RequestID string
}

func (e *TaskIdNotFound) Error() string {
	return fmt.Sprintf("Symbolicator does not know task %s (it restarted or another worker answered); submitting the crash again", e.RequestID)
}

// ServiceUnavailable: Symbolicator answered 502 or 503. The workflow draws a
// new worker id, backs off and submits again.
type ServiceUnavailable struct {
	Op string // "submit" or "poll"
}

func (e *ServiceUnavailable) Error() string {
	return fmt.Sprintf("Symbolicator is unavailable (502/503) during %s; resetting the worker id and backing off", e.Op)
}

// ResubmitBudgetExhausted ends an execution that lost its task or met an
// unavailable service more often than the budget allows.
type ResubmitBudgetExhausted struct {
	Budget, LostTasks, Unavailable int
}

func (e *ResubmitBudgetExhausted) Error() string {
	return fmt.Sprintf("gave up after %d resubmits (%d lost tasks, %d times unavailable; budget %d): check that the Symbolicator service is healthy and not restarting, or raise the ResubmitBudget parameter",
		e.LostTasks+e.Unavailable, e.LostTasks, e.Unavailable, e.Budget)
}

// DeadlineExceeded ends an execution that ran past its deadline.
type DeadlineExceeded struct {
	Deadline time.Duration
	Elapsed  time.Duration
	Polls    int
}

func (e *DeadlineExceeded) Error() string {
	return fmt.Sprintf("symbolication did not finish within the %s deadline (%s elapsed, %d polls): the Symbolicator service is overloaded or the crash is very large; raise the DeadlineSeconds parameter or check the service",
		e.Deadline, e.Elapsed.Round(time.Second), e.Polls)
}

// SymbolicatorUnreachable: the network failed on every retry.
type SymbolicatorUnreachable struct {
	URL    string
	Reason string
}

func (e *SymbolicatorUnreachable) Error() string {
	return project.RedactURLs(fmt.Sprintf("cannot reach Symbolicator at %s after retries: %s; check the SymbolicatorUrl parameter and the network path", e.URL, e.Reason))
}

// MalformedResponse: Symbolicator (or something answering in its place)
// sent a 2xx answer that is not the JSON its API promises: a truncated
// body, an HTML error page, an object without a status. Resubmitting would
// not tell what answered, so the execution ends and the operator looks.
type MalformedResponse struct {
	Op     string // "submit" or "poll"
	URL    string
	Reason string // what is wrong with the body, with its start
}

func (e *MalformedResponse) Error() string {
	return project.RedactURLs(fmt.Sprintf("Symbolicator's answer to the %s at %s is not usable: %s; check that the SymbolicatorUrl parameter points at Symbolicator itself and that no proxy in between cuts or replaces its answers", e.Op, e.URL, e.Reason))
}

// ProjectNotFound: the execution names a project symflow has no
// configuration for.
type ProjectNotFound struct {
	ProjectID string
}

func (e *ProjectNotFound) Error() string {
	return fmt.Sprintf("project %q is not configured; store its configuration first (PUT /v1/projects/%s/config)", e.ProjectID, e.ProjectID)
}

// InvalidInput: the execution input is malformed. Field names the JSON path.
type InvalidInput struct {
	Field   string
	Message string
}

func (e *InvalidInput) Error() string {
	return project.RedactURLs(fmt.Sprintf("invalid input: %s: %s", e.Field, e.Message))
}

// InternalError is any other failure (store, blob store, encoding). Its
// message carries the operation and cause for operators.
type InternalError struct {
	Op  string
	Err error
}

func (e *InternalError) Error() string { return project.RedactURLs(e.Op + ": " + e.Err.Error()) }
func (e *InternalError) Unwrap() error { return e.Err }

// ErrorNames lists every error name the step functions can return, for the
// test that keeps the state machine's ErrorEquals in step with the code.
var ErrorNames = []string{
	"TaskIdNotFound", "ServiceUnavailable", "ResubmitBudgetExhausted", "DeadlineExceeded",
	"SymbolicatorUnreachable", "MalformedResponse", "ProjectNotFound", "InvalidInput", "InternalError",
}
