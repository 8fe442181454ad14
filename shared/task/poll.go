package task

import (
	"time"

	"context"
	"errors"

	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/symbolicator"
)

// PollTask asks Symbolicator for the task's state. Symbolicator holds the
// request up to the poll timeout, so most polls return the finished result.
func (s *Steps) PollTask(ctx context.Context, in Input) (*Progress, error) {
	if in.State.Task == nil || in.State.Task.RequestID == "" {
		return nil, &InvalidInput{Field: "task.request_id", Message: "missing: PollTask runs after SubmitTask answered pending"}
	}
	if err := s.checkDeadline(&in); err != nil {
		return nil, err
	}
	prev := in.progress()
	prev.Polls++
	sess, workers := s.session(ctx, &in, prev.WorkerID)
	resp, err := sess.Query(ctx, prev.RequestID)
	var ne *symbolicator.NetworkError
	if errors.As(err, &ne) && ne.TimedOut {
		// Slow is not dead: the task was there and the service took
		// longer than the client waits (a starved machine, a long GC).
		// Polling is a GET of a task that still exists, so the poll is
		// simply repeated; the deadline bounds how long.
		next := prev
		next.Status = "pending"
		next.Message = project.RedactURLs(ne.Err.Error())
		s.logger(ctx, &in).WarnContext(ctx, "poll timed out; polling again", "request_id", prev.RequestID, "polls", next.Polls, "error", next.Message)
		return &next, nil
	}
	if err != nil {
		return nil, s.classify("poll", prev.RequestID, err)
	}
	next, err := s.finish(ctx, &in, prev, resp, workers.Current())
	if err != nil {
		return nil, err
	}
	if next.Status != "pending" {
		if err := s.recordTask(ctx, &in, next); err != nil {
			return nil, err
		}
	}
	s.logger(ctx, &in).InfoContext(ctx, "task polled", "request_id", prev.RequestID, "status", next.Status, "polls", next.Polls)
	return next, nil
}

// MetricResubmits counts resubmits by reason (lost, unavailable).
const MetricResubmits = "symflow.resubmits"

// Recovery reasons, set by the state machine on RecoverTask's input.
const (
	ReasonLost        = "lost"
	ReasonUnavailable = "unavailable"
)

// RecoverTask runs after a lost task or an unavailable service: it spends
// one resubmit from the budget, forgets the task id and, for an unavailable
// service, draws a new worker id and sets a growing, capped backoff. The
// state machine then submits again.
func (s *Steps) RecoverTask(ctx context.Context, in Input) (*Progress, error) {
	if in.Reason != ReasonLost && in.Reason != ReasonUnavailable {
		return nil, &InvalidInput{Field: "reason", Message: `must be "lost" or "unavailable"`}
	}
	prev := in.progress()
	next := prev
	if in.Reason == ReasonLost {
		next.LostTasks++
		next.WaitSeconds = 0
	} else {
		next.Unavailable++
		next.ConsecutiveUnavailable++
		next.WaitSeconds = waitSeconds(s.backoff(next.ConsecutiveUnavailable))
		// The reference resets its worker id so the load balancer may
		// route to a healthy worker.
		_, workers := s.session(ctx, &in, "")
		workers.Reset()
		next.WorkerID = workers.Current()
	}
	if next.Resubmits() > s.Config.ResubmitBudget {
		return nil, &ResubmitBudgetExhausted{Budget: s.Config.ResubmitBudget, LostTasks: next.LostTasks, Unavailable: next.Unavailable}
	}
	if err := s.checkDeadline(&in); err != nil {
		return nil, err
	}
	lost := next.RequestID
	next.RequestID = ""
	next.Status = "resubmit"
	next.Response = nil
	next.Message = ""
	if in.State.Error != nil {
		next.Message = in.State.Error.Error
	}
	_, err := s.Tasks.UpdateTask(ctx, in.State.ProjectID, in.State.EventID, func(t *dynamo.Task) error {
		t.RequestID = ""
		t.Status = "resubmit"
		t.WorkerID = next.WorkerID
		t.Resubmits = next.Resubmits()
		t.UpdatedAt = s.now()
		return nil
	})
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, &InternalError{Op: "forget task", Err: err}
	}
	if s.Metrics != nil {
		s.Metrics.Count(MetricResubmits, 1, map[string]string{"reason": in.Reason})
	}
	s.logger(ctx, &in).WarnContext(ctx, "resubmitting", "reason", in.Reason, "lost_request_id", lost,
		"worker_id", next.WorkerID, "wait_seconds", next.WaitSeconds, "resubmits", next.Resubmits())
	return &next, nil
}

// backoff is the wait before the n-th consecutive resubmit after an
// unavailable service: none for the first, then 1 s doubling, capped. The
// reference grows in 0.1 s steps; a Wait state only takes whole seconds.
func (s *Steps) backoff(n int) (d time.Duration) {
	if n <= 1 {
		return 0
	}
	d = time.Second
	for i := 2; i < n && d < s.Config.BackoffCap; i++ {
		d *= 2
	}
	return min(d, s.Config.BackoffCap)
}
