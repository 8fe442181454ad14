package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Redrive limits, as Step Functions applies them to Standard workflows.
const (
	// RedrivePeriod is how long after it stopped an execution can be
	// redriven.
	RedrivePeriod = 14 * 24 * time.Hour
	// MaxOpenTime is the longest an execution may stay open, counted from
	// its start; an execution past it cannot be redriven.
	MaxOpenTime = 365 * 24 * time.Hour
	// MaxHistoryEvents is the history size past which an execution cannot
	// be redriven.
	MaxHistoryEvents = 25000
)

// Reasons an execution cannot be redriven, worded as DescribeExecution's
// redriveStatusReason.
const (
	ReasonRunning       = "Execution is RUNNING and cannot be redriven"
	ReasonSucceeded     = "Execution is SUCCEEDED and cannot be redriven"
	ReasonPeriodExpired = "Execution redrivable period exceeded"
	ReasonMaxOpenTime   = "Execution has exceeded the max execution time"
	ReasonHistoryLimit  = "Execution history event limit exceeded"
)

// NotRedrivableError is Redrive's refusal (Step Functions'
// ExecutionNotRedrivable): Reason is one of the Reason constants.
type NotRedrivableError struct {
	Name   string
	Status string
	Reason string
}

func (e *NotRedrivableError) Error() string {
	return fmt.Sprintf("execution %s cannot be redriven: %s", e.Name, e.Reason)
}

// CheckRedrive reports whether exec can be redriven at now, and if not,
// why (*NotRedrivableError): only a FAILED, TIMED_OUT or ABORTED
// execution that stopped less than RedrivePeriod ago, was started less
// than MaxOpenTime ago and whose history is below MaxHistoryEvents.
func CheckRedrive(exec *Execution, now time.Time) error {
	refuse := func(reason string) error {
		return &NotRedrivableError{Name: exec.Name, Status: exec.Status, Reason: reason}
	}
	switch exec.Status {
	case StatusFailed, StatusTimedOut, StatusAborted:
	case StatusSucceeded:
		return refuse(ReasonSucceeded)
	default:
		return refuse(ReasonRunning)
	}
	switch {
	case now.Sub(exec.StopDate) > RedrivePeriod:
		return refuse(ReasonPeriodExpired)
	case now.Sub(exec.StartDate) > MaxOpenTime:
		return refuse(ReasonMaxOpenTime)
	case len(exec.History) >= MaxHistoryEvents:
		return refuse(ReasonHistoryLimit)
	}
	return nil
}

// Redrive runs a FAILED, TIMED_OUT or ABORTED execution again from the
// state it did not complete, as Step Functions' RedriveExecution does: the
// same execution (name, ARN, input and start), its history kept and
// continued with an ExecutionRedriven event, the unsuccessful state
// entered again with the input it had, states that completed not run
// again. $$.Execution.RedriveCount counts the redrives and
// $$.Execution.RedriveTime is this one's time; the state machine's
// TimeoutSeconds counts from it. A Map or Parallel state that failed is
// run again whole (Step Functions reruns only its unsuccessful
// iterations and branches). saved is not changed. A refusal is a
// *NotRedrivableError; otherwise, as for Run, the outcome is in the
// returned record.
func (sm *StateMachine) Redrive(ctx context.Context, saved *Execution, opts Options) (*Execution, error) {
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	now := opts.Clock.Now()
	if err := CheckRedrive(saved, now); err != nil {
		return nil, err
	}
	exec, from, input, th, err := sm.continuation(saved)
	if err != nil {
		return nil, err
	}
	exec.RedriveCount++
	exec.RedriveDate = now
	exec.Status, exec.Output, exec.Error, exec.Cause, exec.StopDate = StatusRunning, nil, "", "", time.Time{}
	r := newRun(exec, decodedInput(exec.Input), opts)
	n := exec.RedriveCount
	r.emit(th, "ExecutionRedriven", EventDetails{RedriveCount: &n})
	return sm.drive(ctx, r, th, from, input, now), nil
}

// Resume continues a RUNNING execution whose run ended without ending it:
// the process stopped (it was killed, or the run was suspended). It
// enters again the state the execution was in, with the input it had
// (ResumeAt, else the last top-level state entered in the history): a
// state that was in flight runs again, as Step Functions runs a Task again
// when its result was never recorded. The state machine's TimeoutSeconds
// keeps counting from the run's start (or last redrive), downtime
// included. saved is not changed.
func (sm *StateMachine) Resume(ctx context.Context, saved *Execution, opts Options) (*Execution, error) {
	if saved.Status != StatusRunning {
		return nil, fmt.Errorf("resume execution %s: it is %s, not RUNNING", saved.Name, saved.Status)
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	exec, from, input, th, err := sm.continuation(saved)
	if err != nil {
		return nil, err
	}
	r := newRun(exec, decodedInput(exec.Input), opts)
	runStart := exec.StartDate
	if exec.RedriveCount > 0 {
		runStart = exec.RedriveDate
	}
	return sm.drive(ctx, r, th, from, input, runStart), nil
}

// continuation copies saved and finds where it continues: ResumeAt, the
// last top-level state entered, or StartAt with the execution's input.
// The returned thread continues the top-level chain of events.
func (sm *StateMachine) continuation(saved *Execution) (*Execution, Continuation, any, *thread, error) {
	exec := *saved
	exec.History = slices.Clone(saved.History)
	exec.ResumeAt = nil
	th := &thread{}
	from := Continuation{State: sm.startAt, Input: saved.Input}
	for _, ev := range exec.History {
		if ev.Nested {
			continue
		}
		th.prev = ev.ID
		if name, ok := strings.CutSuffix(ev.Type, "StateEntered"); ok && name != "" {
			from = Continuation{State: ev.Details.Name, Input: json.RawMessage(ev.Details.Input)}
		}
	}
	if saved.ResumeAt != nil {
		from = *saved.ResumeAt
	}
	if len(from.Input) == 0 {
		from.Input = json.RawMessage("{}")
	}
	if _, ok := sm.states[from.State]; !ok {
		return nil, from, nil, nil, fmt.Errorf("continue execution %s: its state %q is not in this definition (it was changed since the execution started)", saved.Name, from.State)
	}
	input, err := decodeJSON(from.Input)
	if err != nil {
		return nil, from, nil, nil, fmt.Errorf("continue execution %s: the input of state %s is not JSON: %w", saved.Name, from.State, err)
	}
	if _, err := decodeJSON(exec.Input); err != nil {
		return nil, from, nil, nil, fmt.Errorf("continue execution %s: its input is not JSON: %w", saved.Name, err)
	}
	return &exec, from, input, th, nil
}

// decodedInput decodes an execution input already checked to be JSON.
func decodedInput(b json.RawMessage) any {
	v, err := decodeJSON(b)
	if err != nil {
		return nil
	}
	return v
}
