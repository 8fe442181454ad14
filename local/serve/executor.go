// Package serve is `symflow serve`: symflow's HTTP API on loopback, backed
// by the local stack. Requests are turned into API Gateway HTTP API
// events so the very handler functions/api runs answers them; executions
// run on local/asl in the background (Executor, the local twin of
// shared/stepfunctions); and a folder stands in for the crash bucket
// (Watcher), feeding the crash-upload handler S3 events.
package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/execution"
)

// Runner runs executions to their end, or until suspended (stack.Stack).
type Runner interface {
	Execute(ctx context.Context, name string, input json.RawMessage, ro stack.RunOptions) (*asl.Execution, error)
	Resume(ctx context.Context, saved *asl.Execution, ro stack.RunOptions) (*asl.Execution, error)
	Redrive(ctx context.Context, saved *asl.Execution, ro stack.RunOptions) (*asl.Execution, error)
}

// ErrShuttingDown: the executor takes no more work.
var ErrShuttingDown = errors.New("the executor is shutting down")

// Executor starts executions in the background and answers for their
// status, as Step Functions does. It keeps every execution of its life in
// memory and finds older ones in the state folder. Nothing it accepts is
// lost when it stops: Shutdown lets the states in flight finish and leaves
// the executions RUNNING on disk, and ResumeInterrupted, in the next
// process, continues them (as do executions left by a killed process).
// It never aborts an execution.
type Executor struct {
	runner   Runner
	stateDir string
	log      *slog.Logger

	// ctx ends when the grace period is over: states still in flight are
	// abandoned (and run again on resume).
	ctx     context.Context
	cancel  context.CancelFunc
	suspend chan struct{}
	stop    sync.Once
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	execs  map[string]*execution.Execution
}

// NewExecutor runs executions with runner; stateDir holds the executions
// of earlier runs (stack.LoadExecution).
func NewExecutor(runner Runner, stateDir string, log *slog.Logger) *Executor {
	ctx, cancel := context.WithCancel(context.Background())
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{runner: runner, stateDir: stateDir, log: log, ctx: ctx, cancel: cancel,
		suspend: make(chan struct{}), execs: map[string]*execution.Execution{}}
}

// Start starts the named execution in the background and returns once its
// start is recorded on disk. As on Step Functions, a running execution of
// the name with the same input is not an error; any other execution of the
// name (another input, or finished) is execution.ErrExists.
func (e *Executor) Start(ctx context.Context, name string, input json.RawMessage) error {
	if !execution.ValidName(name) {
		return fmt.Errorf("execution name %q is not valid", name)
	}
	e.mu.Lock()
	if ex, ok := e.execs[name]; ok {
		e.mu.Unlock()
		if ex.Status == execution.StatusRunning && sameJSON(ex.Input, input) {
			return nil
		}
		return fmt.Errorf("start execution %s: %w", name, execution.ErrExists)
	}
	if saved, err := stack.LoadExecution(e.stateDir, name); err == nil {
		e.mu.Unlock()
		if saved.Status == execution.StatusRunning && sameJSON(saved.Input, input) {
			return nil // left by an earlier process; ResumeInterrupted runs it
		}
		return fmt.Errorf("start execution %s: %w", name, execution.ErrExists)
	}
	if e.closed {
		e.mu.Unlock()
		return fmt.Errorf("start execution %s: %w", name, ErrShuttingDown)
	}
	input = append(json.RawMessage(nil), input...)
	e.execs[name] = &execution.Execution{Name: name, Status: execution.StatusRunning, Input: input, StartDate: time.Now().UTC()}
	recorded := e.launch(name, func(ro stack.RunOptions) (*asl.Execution, error) {
		return e.runner.Execute(e.ctx, name, input, ro)
	})
	e.mu.Unlock()
	return e.awaitRecorded(ctx, name, recorded)
}

// Redrive runs a FAILED, TIMED_OUT or ABORTED execution again from the
// state it did not complete, in the background, and returns it once the
// redrive is recorded (execution.Redriver).
func (e *Executor) Redrive(ctx context.Context, name string) (execution.Execution, error) {
	if !execution.ValidName(name) {
		return execution.Execution{}, fmt.Errorf("redrive execution %q: %w", name, execution.ErrNotFound)
	}
	e.mu.Lock()
	if ex, ok := e.execs[name]; ok && ex.Status == execution.StatusRunning {
		e.mu.Unlock()
		return execution.Execution{}, &execution.NotRedrivableError{Name: name, Status: ex.Status, Why: execution.NotRedrivableRunning, Reason: asl.ReasonRunning}
	}
	saved, err := stack.LoadExecution(e.stateDir, name)
	if err != nil {
		e.mu.Unlock()
		if errors.Is(err, stack.ErrNoExecution) {
			return execution.Execution{}, fmt.Errorf("redrive execution %s: %w", name, execution.ErrNotFound)
		}
		return execution.Execution{}, fmt.Errorf("redrive execution %s: %w", name, err)
	}
	if err := asl.CheckRedrive(saved, time.Now()); err != nil {
		e.mu.Unlock()
		return execution.Execution{}, notRedrivable(err)
	}
	if e.closed {
		e.mu.Unlock()
		return execution.Execution{}, fmt.Errorf("redrive execution %s: %w", name, ErrShuttingDown)
	}
	ex := describe(saved)
	ex.Status, ex.Output, ex.Error, ex.Cause, ex.StopDate = execution.StatusRunning, nil, "", "", time.Time{}
	ex.RedriveCount++
	ex.RedriveDate = time.Now().UTC()
	e.execs[name] = &ex
	recorded := e.launch(name, func(ro stack.RunOptions) (*asl.Execution, error) {
		ro.Observer = func(ev asl.HistoryEvent) {
			if ev.Type == "ExecutionRedriven" {
				e.mu.Lock()
				e.execs[name].RedriveDate = ev.Timestamp.UTC()
				e.mu.Unlock()
			}
		}
		return e.runner.Redrive(e.ctx, saved, ro)
	})
	e.mu.Unlock()
	if err := e.awaitRecorded(ctx, name, recorded); err != nil {
		return execution.Execution{}, err
	}
	return e.Describe(ctx, name)
}

// notRedrivable turns the engine's refusal into the API's.
func notRedrivable(err error) error {
	var nr *asl.NotRedrivableError
	if !errors.As(err, &nr) {
		return err
	}
	why := execution.NotRedrivableOther
	switch nr.Reason {
	case asl.ReasonRunning:
		why = execution.NotRedrivableRunning
	case asl.ReasonSucceeded:
		why = execution.NotRedrivableSucceeded
	case asl.ReasonPeriodExpired:
		why = execution.NotRedrivableExpired
	}
	return &execution.NotRedrivableError{Name: nr.Name, Status: nr.Status, Why: why, Reason: nr.Reason}
}

// ResumeInterrupted continues, in the background, every execution the
// state folder holds as RUNNING: those a killed process left behind, and
// those an earlier Shutdown suspended. Each enters again the state it was
// in. It returns how many it resumed.
func (e *Executor) ResumeInterrupted() (int, error) {
	saved, err := stack.Interrupted(e.stateDir)
	if err != nil {
		return 0, fmt.Errorf("find interrupted executions: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range saved {
		if _, ok := e.execs[s.Name]; ok || e.closed {
			continue
		}
		ex := describe(s)
		e.execs[s.Name] = &ex
		e.launch(s.Name, func(ro stack.RunOptions) (*asl.Execution, error) {
			return e.runner.Resume(e.ctx, s, ro)
		})
		n++
		e.log.Info("resuming execution", "execution", s.Name)
	}
	return n, nil
}

// launch runs do in the background; the channel gets the Recorded
// callback's answer. e.mu must be held.
func (e *Executor) launch(name string, do func(ro stack.RunOptions) (*asl.Execution, error)) <-chan error {
	recorded := make(chan error, 1)
	var once sync.Once
	ro := stack.RunOptions{
		Suspend:  e.suspend,
		Recorded: func(err error) { once.Do(func() { recorded <- err }) },
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		res, err := do(ro)
		ro.Recorded(err)
		e.finished(name, res, err)
	}()
	return recorded
}

// awaitRecorded waits until the run of name has recorded its start.
func (e *Executor) awaitRecorded(ctx context.Context, name string, recorded <-chan error) error {
	select {
	case err := <-recorded:
		if err != nil {
			return fmt.Errorf("record execution %s: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Executor) finished(name string, res *asl.Execution, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex := e.execs[name]
	if res == nil {
		ex.Status, ex.Error, ex.Cause = execution.StatusFailed, asl.ErrRuntime, fmt.Sprint(err)
		ex.StopDate = time.Now().UTC()
		e.log.Error("execution did not run", "execution", name, "error", err)
		return
	}
	if err != nil {
		e.log.Error("execution not recorded", "execution", name, "error", err)
	}
	start := ex.StartDate
	*ex = describe(res)
	if ex.StartDate.IsZero() {
		ex.StartDate = start
	}
	if ex.StopDate.IsZero() && res.Status != asl.StatusRunning {
		ex.StopDate = time.Now().UTC()
	}
	if res.Status == asl.StatusRunning {
		e.log.Info("execution suspended; it resumes when symflow starts again on this state folder", "execution", name, "resume_at", resumeState(res))
		return
	}
	e.log.Info("execution finished", "execution", name, "status", ex.Status, "error", ex.Error)
}

func resumeState(e *asl.Execution) string {
	if e.ResumeAt != nil {
		return e.ResumeAt.State
	}
	return ""
}

// Describe returns the named execution, running or finished.
func (e *Executor) Describe(ctx context.Context, name string) (execution.Execution, error) {
	e.mu.Lock()
	ex, ok := e.execs[name]
	var out execution.Execution
	if ok {
		out = *ex
	}
	e.mu.Unlock()
	if ok {
		return out, nil
	}
	return SavedExecution(e.stateDir, name)
}

// SavedExecution describes an execution from its history in stateDir, or
// execution.ErrNotFound.
func SavedExecution(stateDir, name string) (execution.Execution, error) {
	saved, err := stack.LoadExecution(stateDir, name)
	if err != nil {
		return execution.Execution{}, fmt.Errorf("describe execution %s: %w", name, execution.ErrNotFound)
	}
	return describe(saved), nil
}

func describe(a *asl.Execution) execution.Execution {
	return execution.Execution{
		Name: a.Name, Status: a.Status, Input: a.Input, Output: a.Output,
		Error: a.Error, Cause: a.Cause, StartDate: a.StartDate, StopDate: a.StopDate,
		RedriveCount: a.RedriveCount, RedriveDate: a.RedriveDate,
	}
}

// Names lists the executions started since the executor was made, sorted.
func (e *Executor) Names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.execs))
	for n := range e.execs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Wait blocks until every started execution has finished or been
// suspended.
func (e *Executor) Wait() { e.wg.Wait() }

// Shutdown stops taking work (Start and Redrive answer ErrShuttingDown),
// lets the states in flight finish for up to grace, then abandons those
// still running. Every execution not finished by then stays RUNNING on
// disk, to be resumed by the next process: none is aborted. It returns
// how many were left to resume.
func (e *Executor) Shutdown(grace time.Duration) int {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.stop.Do(func() { close(e.suspend) })
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		e.log.Warn("grace period over: abandoning the states still running; they run again on resume", "grace", grace)
		e.cancel()
		<-done
	}
	e.cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ex := range e.execs {
		if ex.Status == execution.StatusRunning {
			n++
		}
	}
	return n
}

// Close is Shutdown without a grace period.
func (e *Executor) Close() { e.Shutdown(0) }

func sameJSON(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
