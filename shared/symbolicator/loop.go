package symbolicator

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of LoopConfig (SEMANTICS §3). The reference's only bound is a
// 15-minute hard deadline; here a resubmit budget bounds the work too, so a
// Symbolicator that keeps losing tasks cannot take the whole deadline.
const (
	DefaultDeadline       = 15 * time.Minute
	DefaultWarnAfter      = 2 * time.Minute
	DefaultMaxResubmits   = 10
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
)

// Backoff yields the waits before resubmitting after consecutive
// ServiceUnavailable answers, as the reference does: 0, then Initial,
// doubling, capped at Max (0, 0.1 s, 0.2 s, 0.4 s, … 5 s with the
// defaults). Reset after a successful answer. The zero value uses the
// defaults. It is not safe for concurrent use.
type Backoff struct {
	Initial, Max time.Duration
	current      time.Duration
}

// Next returns the wait before the next resubmit and grows the following.
func (b *Backoff) Next() time.Duration {
	initial, maxWait := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if maxWait <= 0 {
		maxWait = DefaultBackoffMax
	}
	wait := b.current
	b.current = min(max(b.current*2, initial), maxWait)
	return wait
}

// Reset starts the sequence again at 0.
func (b *Backoff) Reset() { b.current = 0 }

// BackoffDelay is Backoff without state, for a caller that keeps only a
// count between steps (the workflow carries it in the execution state):
// the wait before resubmitting after the failures-th consecutive
// ServiceUnavailable, counting from 1, with the default Initial and Max.
func BackoffDelay(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	d := DefaultBackoffInitial
	for i := 2; i < failures && d < DefaultBackoffMax; i++ {
		d *= 2
	}
	return min(d, DefaultBackoffMax)
}

// LoopConfig bounds Run.
type LoopConfig struct {
	// Deadline is the hard limit for the whole loop; zero means
	// DefaultDeadline.
	Deadline time.Duration
	// WarnAfter logs a warning once the loop has run this long; zero means
	// DefaultWarnAfter.
	WarnAfter time.Duration
	// MaxResubmits bounds the resubmits after a lost task or an unavailable
	// service; zero means DefaultMaxResubmits, negative means none.
	MaxResubmits int
	// Backoff paces resubmits after ServiceUnavailable; the zero value is
	// the reference's.
	Backoff Backoff
	// PollInterval is waited between pending answers. Zero polls at once,
	// as the reference does: Symbolicator holds each poll for up to the
	// poll timeout before it answers pending again.
	PollInterval time.Duration
}

// Loop errors, for errors.Is on a *LoopError.
var (
	ErrDeadline       = errors.New("symbolicator loop deadline passed")
	ErrResubmitBudget = errors.New("symbolicator resubmit budget spent")
)

// LoopError says why Run gave up and what the last failure was.
type LoopError struct {
	Reason    error // ErrDeadline or ErrResubmitBudget
	Resubmits int
	Elapsed   time.Duration
	Last      error // the last error from Symbolicator, if any
}

func (e *LoopError) Error() string {
	s := fmt.Sprintf("%v after %s and %d resubmits", e.Reason, e.Elapsed.Round(time.Millisecond), e.Resubmits)
	if e.Last != nil {
		s += ": last error: " + e.Last.Error()
	}
	return s
}

func (e *LoopError) Unwrap() []error { return []error{e.Reason, e.Last} }

// Run drives one task to its end in process, as the reference's loop does
// (the workflow does the same across Step Functions states): create with
// create when there is no task, poll it while pending; on ErrTaskNotFound
// forget the task and resubmit; on ErrServiceUnavailable draw a new worker
// id, forget the task, back off and resubmit. It returns the first answer
// that is not pending, a *LoopError when the deadline passed or the
// resubmit budget is spent, or any other error as it is (a *NetworkError
// means the session's own retries were spent).
func (s *Session) Run(ctx context.Context, create func(ctx context.Context) (Response, error), lc LoopConfig) (Response, error) {
	if lc.Deadline <= 0 {
		lc.Deadline = DefaultDeadline
	}
	if lc.WarnAfter <= 0 {
		lc.WarnAfter = DefaultWarnAfter
	}
	switch {
	case lc.MaxResubmits == 0:
		lc.MaxResubmits = DefaultMaxResubmits
	case lc.MaxResubmits < 0:
		lc.MaxResubmits = 0
	}
	start := time.Now()
	lctx, cancel := context.WithTimeoutCause(ctx, lc.Deadline, ErrDeadline)
	defer cancel()

	var (
		requestID string
		resubmits int
		last      error
		warned    bool
		backoff   = lc.Backoff
	)
	// stop ends the loop: the caller's cancellation as it is, or the
	// loop's own limit as a *LoopError.
	stop := func(reason error) (Response, error) {
		if ctx.Err() != nil {
			return Response{}, fmt.Errorf("symbolicator loop: %w", ctxErr(ctx))
		}
		return Response{}, &LoopError{Reason: reason, Resubmits: resubmits, Elapsed: time.Since(start), Last: last}
	}
	sleep := func(d time.Duration) error {
		if d <= 0 {
			return lctx.Err()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-lctx.Done():
			return lctx.Err()
		case <-t.C:
			return nil
		}
	}
	for {
		if !warned && time.Since(start) > lc.WarnAfter {
			warned = true
			s.log.WarnContext(ctx, "symbolication is taking long", "elapsed", time.Since(start).Round(time.Second), "request_id", requestID)
		}
		var resp Response
		var err error
		if requestID == "" {
			resp, err = create(lctx)
		} else {
			resp, err = s.Query(lctx, requestID)
		}
		if lctx.Err() != nil {
			return stop(ErrDeadline)
		}
		switch {
		case err == nil:
			backoff.Reset()
			if resp.Status != StatusPending {
				return resp, nil
			}
			requestID = resp.RequestID
			if err := sleep(lc.PollInterval); err != nil {
				return stop(ErrDeadline)
			}
			continue
		case errors.Is(err, ErrTaskNotFound):
			s.log.InfoContext(ctx, "symbolicator lost the task, resubmitting", "request_id", requestID)
		case errors.Is(err, ErrServiceUnavailable):
			s.workers.Reset()
			s.log.WarnContext(ctx, "symbolicator unavailable, resubmitting with a new worker id", "worker_id", s.workers.Current())
		default:
			return Response{}, err
		}
		last = err
		requestID = ""
		if resubmits >= lc.MaxResubmits {
			return stop(ErrResubmitBudget)
		}
		resubmits++
		if errors.Is(err, ErrServiceUnavailable) {
			if err := sleep(backoff.Next()); err != nil {
				return stop(ErrDeadline)
			}
		}
	}
}
