// Package task is the workflow's step logic: what each state of
// statemachine/symbolicate.asl.json does, its input and output, and the
// error names the state machine branches on. The functions/* mains only
// wire a Steps value to the Lambda runtime; local mode calls the same
// methods in-process.
//
// Every step receives Input: the whole execution state plus the execution's
// id and start time (passed by the state machine from the context object),
// so the deadline is measured from the execution's start wherever the step
// runs. Each step returns only its own part, which the state machine places
// with ResultPath.
package task

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/sources"
)

// Kinds of crash the workflow accepts.
const (
	KindPayload          = "payload"          // stack traces and modules as JSON
	KindMinidump         = "minidump"         // a minidump file in S3
	KindAppleCrashReport = "applecrashreport" // an Apple crash report file in S3
)

// Input is what every step function receives.
type Input struct {
	State       State     `json:"state"`
	ExecutionID string    `json:"execution_id"`
	StartedAt   time.Time `json:"started_at"`
	// RedriveCount ($$.Execution.RedriveCount) tells the runs of a
	// redriven execution apart, and EnteredAt ($$.State.EnteredTime) is
	// when this step's state was entered: the first step of a redriven run
	// starts that run's deadline and resubmit budget (Progress.Run).
	RedriveCount int       `json:"redrive_count,omitempty"`
	EnteredAt    time.Time `json:"entered_at,omitzero"`
	// Reason is set for RecoverTask: "lost" or "unavailable".
	Reason string `json:"reason,omitempty"`
}

// State is the execution state as the state machine carries it. The first
// block is the execution input; the rest is added by the steps.
type State struct {
	ProjectID  string          `json:"project_id"`
	EventID    string          `json:"event_id"`
	Kind       string          `json:"kind"`
	Platform   string          `json:"platform,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	PayloadRef *blob.Ref       `json:"payload_ref,omitempty"`
	CrashFile  *blob.Ref       `json:"crash_file,omitempty"`

	Lookup *Lookup     `json:"lookup,omitempty"`
	Task   *Progress   `json:"task,omitempty"`
	Error  *StateError `json:"error,omitempty"`
	Result *Result     `json:"result,omitempty"`
}

// Lookup is LookupSources' output: what SubmitTask sends and what
// ProcessResponse needs to post-process the answer. Secrets are hidden.
type Lookup struct {
	SourceIDs []string                `json:"source_ids"`
	Sources   json.RawMessage         `json:"sources"`
	Scraping  json.RawMessage         `json:"scraping"`
	Context   sources.ResponseContext `json:"context"`
}

// Progress is the Symbolicator task as SubmitTask, PollTask and RecoverTask
// see it; the counters make the loop visible in the console.
type Progress struct {
	// Status is Symbolicator's (pending, completed, failed, timeout,
	// internal_error) or "resubmit" after a recovery.
	Status      string `json:"status"`
	RequestID   string `json:"request_id,omitempty"`
	WorkerID    string `json:"worker_id,omitempty"`
	WaitSeconds int    `json:"wait_seconds"`
	Polls       int    `json:"polls"`
	LostTasks   int    `json:"lost_tasks"`
	Unavailable int    `json:"unavailable"`
	// ConsecutiveUnavailable drives the backoff; a successful call resets it.
	ConsecutiveUnavailable int       `json:"consecutive_unavailable"`
	Response               *blob.Ref `json:"response,omitempty"`
	Message                string    `json:"message,omitempty"`
	// Run is the redrive count the counters above belong to, and
	// RunStartedAt when that run's first step was entered (zero for the
	// first run, which counts from the execution's start). A redrive is a
	// new run: it gets its own deadline and resubmit budget, or a redrive
	// of an execution that gave up would give up again at once.
	Run          int       `json:"run,omitempty"`
	RunStartedAt time.Time `json:"run_started_at,omitzero"`
}

// progress is the task's progress as this step's run sees it: on the
// first step of a redriven run the resubmit counters start again and the
// run's deadline starts at this step.
func (in *Input) progress() Progress {
	p := Progress{}
	if in.State.Task != nil {
		p = *in.State.Task
	}
	if in.RedriveCount > p.Run {
		p.Run, p.RunStartedAt = in.RedriveCount, in.EnteredAt
		p.LostTasks, p.Unavailable, p.ConsecutiveUnavailable = 0, 0, 0
	}
	return p
}

// runStartedAt is when the deadline counts from: the execution's start,
// or the first step of its latest redrive.
func (in *Input) runStartedAt() time.Time {
	if p := in.progress(); p.Run > 0 && !p.RunStartedAt.IsZero() {
		return p.RunStartedAt
	}
	return in.StartedAt
}

// Resubmits is how many times the crash was submitted again.
func (p *Progress) Resubmits() int { return p.LostTasks + p.Unavailable }

// StateError is what a Catch puts at ResultPath.
type StateError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Result is ProcessResponse's output.
type Result struct {
	Status  string   `json:"status"`
	Result  blob.Ref `json:"result"`
	Summary Summary  `json:"summary"`
}

// StoredResult is the part of a stored result (Result.Result: Symbolicator's
// answer after ProcessResponse) that the CLI and the console show.
type StoredResult struct {
	Stacktraces []struct {
		ThreadID     any    `json:"thread_id"`
		ThreadName   string `json:"thread_name"`
		IsRequesting bool   `json:"is_requesting"`
		Frames       []struct {
			Status          string `json:"status"`
			OriginalIndex   int    `json:"original_index"`
			InstructionAddr string `json:"instruction_addr"`
			Function        string `json:"function"`
			AbsPath         string `json:"abs_path"`
			Lineno          int    `json:"lineno"`
			Package         string `json:"package"`
			ContextLine     string `json:"context_line"`
		} `json:"frames"`
	} `json:"stacktraces"`
	Modules []struct {
		CodeFile    string `json:"code_file"`
		DebugID     string `json:"debug_id"`
		DebugStatus string `json:"debug_status"`
		Arch        string `json:"arch"`
	} `json:"modules"`
}

// Summary counts what an operator wants at a glance.
type Summary struct {
	Threads           int            `json:"threads"`
	Frames            int            `json:"frames"`
	FramesByStatus    map[string]int `json:"frames_by_status"`
	Modules           int            `json:"modules"`
	ModulesByStatus   map[string]int `json:"modules_by_status"`
	CrashingFunctions []string       `json:"crashing_thread_top,omitempty"`
}

var (
	projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	eventIDPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// Validate checks the execution input part of the state and says which
// field is wrong.
func (s *State) Validate() error {
	switch {
	case s.ProjectID == "":
		return &InvalidInput{Field: "project_id", Message: "is required"}
	case !projectIDPattern.MatchString(s.ProjectID):
		return &InvalidInput{Field: "project_id", Message: fmt.Sprintf("%q is not a project id (letters, digits, - and _, at most 64)", s.ProjectID)}
	case s.EventID == "":
		return &InvalidInput{Field: "event_id", Message: "is required"}
	case !eventIDPattern.MatchString(s.EventID):
		return &InvalidInput{Field: "event_id", Message: fmt.Sprintf("%q is not 32 lowercase hex digits", s.EventID)}
	}
	switch s.Kind {
	case KindPayload:
		if len(s.Payload) == 0 && s.PayloadRef == nil {
			return &InvalidInput{Field: "payload", Message: "kind payload needs payload or payload_ref"}
		}
		if len(s.Payload) > 0 {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(s.Payload, &obj); err != nil {
				return &InvalidInput{Field: "payload", Message: "must be a JSON object"}
			}
		}
		if s.PayloadRef != nil {
			if err := s.PayloadRef.Validate(); err != nil {
				return &InvalidInput{Field: "payload_ref", Message: err.Error()}
			}
		}
	case KindMinidump, KindAppleCrashReport:
		if s.CrashFile == nil {
			return &InvalidInput{Field: "crash_file", Message: "kind " + s.Kind + " needs crash_file"}
		}
		if err := s.CrashFile.Validate(); err != nil {
			return &InvalidInput{Field: "crash_file", Message: err.Error()}
		}
	case "":
		return &InvalidInput{Field: "kind", Message: "is required (payload, minidump or applecrashreport)"}
	default:
		return &InvalidInput{Field: "kind", Message: fmt.Sprintf("%q is not payload, minidump or applecrashreport", s.Kind)}
	}
	return nil
}

// platform defaults to native, as crashes from symflow's entry points are.
func (s *State) platform() string {
	if s.Platform == "" {
		return "native"
	}
	return s.Platform
}
