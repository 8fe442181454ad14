// Package execution starts symbolication workflows idempotently: one
// execution per project and event, however often the API is called or an
// S3 notification is delivered. The API and the crash-upload trigger share
// it; the Step Functions adapter (shared/stepfunctions) and local mode's
// executor implement its Runner and Redriver. A redrive runs a failed
// execution again as the same execution, so an event keeps its one
// execution however often it is redriven.
//
// Idempotency has two locks. The event's claim in DynamoDB names its one
// execution (ClaimExecution is a conditional put: of concurrent callers
// exactly one wins). The execution name is derived from project and event
// (Name), so even two callers that both pass the claim — a retry after a
// crash between claim and start — start the same name, and Step Functions
// refuses a second execution of a name on a Standard workflow (identical
// name and input is answered with the existing execution; a different input
// with ExecutionAlreadyExists, which Start reports as ErrExists).
//
// Step Functions forgets an execution 90 days after it ends; an event
// submitted again after that, its claim still held, finds no execution and
// is started afresh under the same name — by then its result has expired
// from the results bucket too.
package execution

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/task"
)

// Statuses as Step Functions reports them.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// Sentinel errors a Runner returns; errors.Is tells them apart.
var (
	// ErrNotFound: no execution has the name.
	ErrNotFound = errors.New("execution not found")
	// ErrExists: an execution with the name exists (started with another
	// input).
	ErrExists = errors.New("execution already exists")
)

// Execution is what the status API shows of one execution.
type Execution struct {
	Name      string
	Status    string
	Input     json.RawMessage
	Output    json.RawMessage // set when SUCCEEDED
	Error     string          // set when FAILED, TIMED_OUT or ABORTED
	Cause     string
	StartDate time.Time
	StopDate  time.Time // zero while running
	// RedriveCount is how often the execution was redriven (run again
	// from its failed state); RedriveDate when it last was.
	RedriveCount int
	RedriveDate  time.Time
}

// Finished reports whether the execution has stopped.
func (e Execution) Finished() bool { return e.Status != StatusRunning && e.Status != "" }

// Runner starts and describes executions of the symbolication workflow.
type Runner interface {
	// Start starts an execution named name with input. A running
	// execution of that name with the same input is not an error; any other
	// execution of that name (another input, or finished) is ErrExists.
	Start(ctx context.Context, name string, input json.RawMessage) error
	// Describe returns the named execution, or ErrNotFound.
	Describe(ctx context.Context, name string) (Execution, error)
}

// Redriver runs a failed execution again (Step Functions'
// RedriveExecution): a FAILED, TIMED_OUT or ABORTED execution of a Standard
// workflow continues from the state it did not complete, as the same
// execution (name, input, start), so an event keeps its one execution. It
// returns the execution, running again; ErrNotFound; or a
// *NotRedrivableError saying why not.
type Redriver interface {
	Redrive(ctx context.Context, name string) (Execution, error)
}

// ErrNotRedrivable matches every *NotRedrivableError (errors.Is).
var ErrNotRedrivable = errors.New("execution cannot be redriven")

// Why an execution cannot be redriven.
const (
	// NotRedrivableRunning: it has not stopped.
	NotRedrivableRunning = "running"
	// NotRedrivableSucceeded: there is nothing to run again.
	NotRedrivableSucceeded = "succeeded"
	// NotRedrivableExpired: it stopped longer ago than Step Functions
	// allows (RedrivePeriod).
	NotRedrivableExpired = "expired"
	// NotRedrivableOther: another limit (history size, open time); Reason
	// says which.
	NotRedrivableOther = "other"
)

// RedrivePeriod is how long after it stopped an execution can be
// redriven on Step Functions, and locally.
const RedrivePeriod = 14 * 24 * time.Hour

// NotRedrivableError is a refused redrive.
type NotRedrivableError struct {
	Name   string
	Status string // the execution's status
	Why    string // one of the NotRedrivable constants
	// Reason is Step Functions' own wording (redriveStatusReason).
	Reason string
}

func (e *NotRedrivableError) Error() string {
	return fmt.Sprintf("execution %s cannot be redriven: %s", e.Name, e.Reason)
}

// Is makes errors.Is(err, ErrNotRedrivable) hold.
func (e *NotRedrivableError) Is(target error) bool { return target == ErrNotRedrivable }

// Claimer records which execution an event has (dynamo.Store).
type Claimer interface {
	ClaimExecution(ctx context.Context, projectID, eventID, executionName string) (existing string, claimed bool, err error)
}

// Putter stores offloaded payloads (blob.Store).
type Putter interface {
	Put(ctx context.Context, ref blob.Ref, data []byte, contentType string) error
}

// namePattern is what Step Functions accepts in an execution name (and
// what symflow ever generates).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// ValidName reports whether s can be an execution name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Name is the execution name of a project's event: "<project>_<event>",
// readable in the console. Project ids longer than 47 characters would
// push it past Step Functions' 80, so they are shortened to a prefix and a
// hash of the whole id; the event id, always 32 hex digits, ends the name,
// so two events never share one.
func Name(projectID, eventID string) string {
	if len(projectID)+1+len(eventID) <= 80 {
		return projectID + "_" + eventID
	}
	h := sha256.Sum256([]byte(projectID))
	return projectID[:30] + "-" + hex.EncodeToString(h[:8]) + "_" + eventID
}

// DefaultMaxInline is the largest execution input kept inline. Step
// Functions caps state at 256 KiB, and the steps add their own parts
// (sources, task, result references), so a payload above this goes to S3.
const DefaultMaxInline = 128 << 10

// Starter starts one execution per project and event.
type Starter struct {
	Runner Runner
	Claims Claimer
	Blobs  Putter
	// PayloadBucket receives payloads too large for state.
	PayloadBucket string
	// MaxInline is the largest input kept in state; DefaultMaxInline when 0.
	MaxInline int
}

// Started says which execution an event has.
type Started struct {
	Name string
	// Created is false when the event already had an execution.
	Created bool
	// Status is the existing execution's status, or RUNNING when created.
	Status string
	// Offloaded is the payload's S3 reference when it was too large for
	// state.
	Offloaded *blob.Ref
}

// Start makes sure the event of st has exactly one execution and returns
// it. st must be valid (task.State.Validate). An event that already has a
// running or finished execution gets that one back, and nothing is
// written.
func (s *Starter) Start(ctx context.Context, st task.State) (Started, error) {
	if err := st.Validate(); err != nil {
		return Started{}, err
	}
	name := Name(st.ProjectID, st.EventID)
	existing, claimed, err := s.Claims.ClaimExecution(ctx, st.ProjectID, st.EventID, name)
	if err != nil {
		return Started{}, fmt.Errorf("claim execution of %s/%s: %w", st.ProjectID, st.EventID, err)
	}
	if !claimed {
		ex, err := s.Runner.Describe(ctx, existing)
		switch {
		case err == nil:
			return Started{Name: existing, Status: ex.Status}, nil
		case !errors.Is(err, ErrNotFound):
			return Started{}, fmt.Errorf("describe execution %s: %w", existing, err)
		}
		// Claimed earlier, never started: the claimant stopped between
		// claim and start. Start the claimed name now.
		name = existing
	}
	out := Started{Name: name, Created: true, Status: StatusRunning}
	input, err := json.Marshal(st)
	if err != nil {
		return Started{}, fmt.Errorf("encode execution input: %w", err)
	}
	limit := s.MaxInline
	if limit <= 0 {
		limit = DefaultMaxInline
	}
	if len(input) > limit && len(st.Payload) > 0 {
		ref, err := s.offload(ctx, st)
		if err != nil {
			return Started{}, err
		}
		st.Payload, st.PayloadRef = nil, &ref
		out.Offloaded = &ref
		if input, err = json.Marshal(st); err != nil {
			return Started{}, fmt.Errorf("encode execution input: %w", err)
		}
	}
	err = s.Runner.Start(ctx, name, input)
	if errors.Is(err, ErrExists) {
		// A concurrent caller started it first with another input.
		ex, derr := s.Runner.Describe(ctx, name)
		if derr != nil {
			return Started{}, fmt.Errorf("describe execution %s: %w", name, derr)
		}
		return Started{Name: name, Status: ex.Status}, nil
	}
	if err != nil {
		return Started{}, fmt.Errorf("start execution %s: %w", name, err)
	}
	return out, nil
}

// offload stores the payload under a key derived from its content, so two
// deliveries of one payload produce one object and an identical execution
// input (which Step Functions answers idempotently), and two different
// payloads for one event never overwrite each other.
func (s *Starter) offload(ctx context.Context, st task.State) (blob.Ref, error) {
	if s.PayloadBucket == "" {
		return blob.Ref{}, errors.New("payload too large for state and no payload bucket configured")
	}
	sum := sha256.Sum256(st.Payload)
	ref := blob.Ref{Bucket: s.PayloadBucket, Key: fmt.Sprintf("payloads/%s/%s-%s.json", st.ProjectID, st.EventID, hex.EncodeToString(sum[:8]))}
	if err := s.Blobs.Put(ctx, ref, st.Payload, "application/json"); err != nil {
		return blob.Ref{}, fmt.Errorf("offload payload: %w", err)
	}
	return ref, nil
}
