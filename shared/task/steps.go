package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/metrics"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/symbolicator"
)

// Projects reads project configuration, secrets included.
type Projects interface {
	GetProject(ctx context.Context, id string) (project.Project, error)
	ListInstallations(ctx context.Context, projectID string) ([]project.Installation, error)
}

// Tasks records in-flight Symbolicator tasks, so a redriven execution
// resumes polling instead of submitting again.
type Tasks interface {
	GetTask(ctx context.Context, projectID, eventID string) (dynamo.Task, error)
	CreateTask(ctx context.Context, t dynamo.Task) (dynamo.Task, error)
	UpdateTask(ctx context.Context, projectID, eventID string, fn func(*dynamo.Task) error) (dynamo.Task, error)
}

// Blobs keeps payloads, crash files and results.
type Blobs interface {
	Open(ctx context.Context, ref blob.Ref) (io.ReadCloser, error)
	GetJSON(ctx context.Context, ref blob.Ref, v any) error
	PutJSON(ctx context.Context, ref blob.Ref, v any) error
}

// Config holds the deployment's workflow parameters (template parameters).
type Config struct {
	SymbolicatorURL string
	// PollTimeout is how long Symbolicator may hold one request (its
	// timeout query parameter); the HTTP client waits one second more.
	PollTimeout time.Duration
	// PollInterval is the Wait between polls; Step Functions waits whole
	// seconds, so it is rounded up.
	PollInterval time.Duration
	// ResubmitBudget bounds lost-task and unavailable recoveries together.
	ResubmitBudget int
	// Deadline bounds an execution, measured from its start.
	Deadline time.Duration
	// BackoffCap caps the wait after an unavailable service.
	BackoffCap time.Duration
	// ResultsBucket holds Symbolicator responses and final results.
	ResultsBucket string
	// TaskTTL is how long a task record is kept after its last update.
	TaskTTL time.Duration
	// WorkerSampleRate is the share of requests sent with a random worker id.
	WorkerSampleRate float64
	// NetworkRetryWaits overrides the session's waits between network
	// retries (tests use tiny waits); nil keeps 0.5, 1 and 2 s.
	NetworkRetryWaits []time.Duration
}

// Defaults are the reference's values where it has one, and symflow's
// explicit bounds where the reference loops for 15 minutes.
var Defaults = Config{
	PollTimeout:    5 * time.Second,
	PollInterval:   time.Second,
	ResubmitBudget: 10,
	Deadline:       15 * time.Minute,
	BackoffCap:     5 * time.Second,
	TaskTTL:        24 * time.Hour,
}

// Steps implements every step of the workflow. Build it once per process.
type Steps struct {
	Config   Config
	Settings project.Settings
	Projects Projects
	Tasks    Tasks
	Blobs    Blobs
	// HTTP is the client for Symbolicator; its Timeout is set per session.
	HTTP *http.Client
	// Workers is this process's worker id, kept for its life.
	Workers    *symbolicator.WorkerID
	Components ComponentPreparer
	Log        *slog.Logger
	Metrics    metrics.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Steps) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Steps) logger(ctx context.Context, in *Input) *slog.Logger {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	l = l.With("project_id", in.State.ProjectID, "event_id", in.State.EventID, "execution_id", in.ExecutionID)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		l = l.With("aws_request_id", lc.AwsRequestID)
	}
	return l
}

// checkDeadline fails the execution once its run has lasted longer than
// the deadline: since the execution's start, or since its latest redrive.
func (s *Steps) checkDeadline(in *Input) error {
	start := in.runStartedAt()
	if s.Config.Deadline <= 0 || start.IsZero() {
		return nil
	}
	elapsed := s.now().Sub(start)
	if elapsed <= s.Config.Deadline {
		return nil
	}
	polls := 0
	if in.State.Task != nil {
		polls = in.State.Task.Polls
	}
	return &DeadlineExceeded{Deadline: s.Config.Deadline, Elapsed: elapsed, Polls: polls}
}

// loadProject maps a missing project to its named error.
func (s *Steps) loadProject(ctx context.Context, id string) (project.Project, error) {
	p, err := s.Projects.GetProject(ctx, id)
	if errors.Is(err, dynamo.ErrNotFound) {
		return p, &ProjectNotFound{ProjectID: id}
	}
	if err != nil {
		return p, &InternalError{Op: "load project " + id, Err: err}
	}
	return p, nil
}

// session opens a Symbolicator session for this event with the worker id
// the state carries (the Lambda that reset it may not be the one polling).
func (s *Steps) session(ctx context.Context, in *Input, workerID string) (*symbolicator.Session, *symbolicator.WorkerID) {
	workers := s.Workers
	if workers == nil {
		workers = symbolicator.NewWorkerID(s.Config.WorkerSampleRate, nil)
	}
	if workerID != "" {
		w := symbolicator.NewWorkerID(s.Config.WorkerSampleRate, nil)
		if w.Set(workerID) == nil {
			workers = w
		}
	}
	cfg := symbolicator.Config{
		BaseURL:     s.Config.SymbolicatorURL,
		ProjectID:   in.State.ProjectID,
		EventID:     in.State.EventID,
		PollTimeout: s.Config.PollTimeout,
		RetryWaits:  s.Config.NetworkRetryWaits,
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	m := s.Metrics
	if m == nil {
		m = metrics.Discard
	}
	return symbolicator.NewSession(cfg, hc, workers, s.logger(ctx, in), m), workers
}

// classify turns a session error into the workflow's error names.
func (s *Steps) classify(op, requestID string, err error) error {
	switch {
	case errors.Is(err, symbolicator.ErrTaskNotFound):
		return &TaskIdNotFound{RequestID: requestID}
	case errors.Is(err, symbolicator.ErrServiceUnavailable):
		return &ServiceUnavailable{Op: op}
	case errors.Is(err, symbolicator.ErrNetwork):
		reason := err.Error()
		var ne *symbolicator.NetworkError
		if errors.As(err, &ne) && ne.Err != nil {
			reason = ne.Err.Error()
		}
		return &SymbolicatorUnreachable{URL: s.Config.SymbolicatorURL, Reason: reason}
	case errors.Is(err, symbolicator.ErrMalformedResponse):
		reason := err.Error()
		var me *symbolicator.MalformedResponseError
		if errors.As(err, &me) {
			reason = fmt.Sprintf("HTTP %d, %s", me.StatusCode, me.Reason)
			if me.Excerpt != "" {
				reason += "; body starts with " + strconv.Quote(excerpt(me.Excerpt, 80))
			}
		}
		return &MalformedResponse{Op: op, URL: s.Config.SymbolicatorURL, Reason: reason}
	}
	return &InternalError{Op: op + " Symbolicator task", Err: err}
}

// excerpt cuts s to at most n bytes on a rune boundary.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// statusMessages explain the statuses Symbolicator ends a task with when
// it sends no message of its own.
var statusMessages = map[string]string{
	"failed":         "Symbolicator failed the task (status failed) without a message: see the Symbolicator logs for this event",
	"timeout":        "Symbolicator gave up on the task (status timeout): the crash's debug files were too slow to fetch or process; check the project's symbol sources and the service's load, then resubmit",
	"internal_error": "Symbolicator failed internally (status internal_error): see the Symbolicator logs for this event, then resubmit",
}

// waitSeconds rounds a duration up to the whole seconds a Wait state takes.
func waitSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// responseRef is where a Symbolicator answer for an event is kept.
func (s *Steps) responseRef(st *State) blob.Ref {
	return blob.Ref{Bucket: s.Config.ResultsBucket, Key: fmt.Sprintf("responses/%s/%s.json", st.ProjectID, st.EventID)}
}

// resultRef is where the post-processed result for an event is kept.
func (s *Steps) resultRef(st *State) blob.Ref {
	return blob.Ref{Bucket: s.Config.ResultsBucket, Key: fmt.Sprintf("results/%s/%s.json", st.ProjectID, st.EventID)}
}

// componentsRef is where an event's prepared components are kept.
func (s *Steps) componentsRef(st *State) blob.Ref {
	return blob.Ref{Bucket: s.Config.ResultsBucket, Key: fmt.Sprintf("components/%s/%s.json", st.ProjectID, st.EventID)}
}

// finish turns a Symbolicator answer into the task's progress: pending keeps
// the loop going; anything else is stored and ends it.
func (s *Steps) finish(ctx context.Context, in *Input, prev Progress, resp symbolicator.Response, workerID string) (*Progress, error) {
	next := prev
	next.WorkerID = workerID
	next.ConsecutiveUnavailable = 0 // a successful call resets the backoff
	next.Status = resp.Status
	next.Message = ""
	if resp.Status == "pending" {
		if resp.RequestID != "" {
			next.RequestID = resp.RequestID
		}
		next.WaitSeconds = waitSeconds(s.Config.PollInterval)
		return &next, nil
	}
	next.WaitSeconds = 0
	// Symbolicator's message and answer may quote a source's URL with its
	// credentials: the message goes into state and the answer is stored.
	next.Message = project.RedactURLs(resp.Message)
	if next.Message == "" && resp.Status != "completed" {
		next.Message = statusMessages[resp.Status]
		if next.Message == "" {
			next.Message = "Symbolicator answered status " + resp.Status
		}
	}
	ref := s.responseRef(&in.State)
	if err := s.Blobs.PutJSON(ctx, ref, json.RawMessage(project.RedactJSON(resp.Body))); err != nil {
		return nil, &InternalError{Op: "store Symbolicator response", Err: err}
	}
	next.Response = &ref
	return &next, nil
}

// recordTask writes the task's request and worker ids, creating the record
// on first use. Conditional writes in the store keep concurrent updates.
func (s *Steps) recordTask(ctx context.Context, in *Input, p *Progress) error {
	now := s.now()
	update := func(t *dynamo.Task) error {
		t.ExecutionID = in.ExecutionID
		t.RequestID = p.RequestID
		t.WorkerID = p.WorkerID
		t.Status = p.Status
		t.Polls = p.Polls
		t.Resubmits = p.Resubmits()
		t.UpdatedAt = now
		t.ExpiresAt = now.Add(s.Config.TaskTTL)
		return nil
	}
	_, err := s.Tasks.UpdateTask(ctx, in.State.ProjectID, in.State.EventID, func(t *dynamo.Task) error {
		t.Attempts++
		return update(t)
	})
	if errors.Is(err, dynamo.ErrNotFound) {
		t := dynamo.Task{ProjectID: in.State.ProjectID, EventID: in.State.EventID, CreatedAt: now, Attempts: 1}
		update(&t)
		_, err = s.Tasks.CreateTask(ctx, t)
		if errors.Is(err, dynamo.ErrExists) { // created concurrently: update it instead
			_, err = s.Tasks.UpdateTask(ctx, in.State.ProjectID, in.State.EventID, func(t *dynamo.Task) error {
				t.Attempts++
				return update(t)
			})
		}
	}
	if err != nil {
		return &InternalError{Op: "record task", Err: err}
	}
	return nil
}
