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
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/execution"
)

// Runner runs one execution to its end (stack.Stack).
type Runner interface {
	Run(ctx context.Context, name string, input json.RawMessage, observer func(asl.HistoryEvent)) (*asl.Execution, error)
}

// Executor starts executions in the background and answers for their
// status, as Step Functions does. It keeps every execution of its life in
// memory and finds older ones in the state folder.
type Executor struct {
	runner   Runner
	stateDir string
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	execs map[string]*execution.Execution
}

// NewExecutor runs executions with runner; stateDir holds finished
// executions from earlier runs (stack.LoadExecution).
func NewExecutor(runner Runner, stateDir string, log *slog.Logger) *Executor {
	ctx, cancel := context.WithCancel(context.Background())
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{runner: runner, stateDir: stateDir, log: log, ctx: ctx, cancel: cancel, execs: map[string]*execution.Execution{}}
}

// Start starts the named execution in the background. As on Step
// Functions, a running execution of the name with the same input is not
// an error; any other execution of the name (another input, or finished)
// is execution.ErrExists.
func (e *Executor) Start(ctx context.Context, name string, input json.RawMessage) error {
	if !execution.ValidName(name) {
		return fmt.Errorf("execution name %q is not valid", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ex, ok := e.execs[name]; ok {
		if ex.Status == execution.StatusRunning && sameJSON(ex.Input, input) {
			return nil
		}
		return fmt.Errorf("start execution %s: %w", name, execution.ErrExists)
	}
	if _, err := stack.LoadExecution(e.stateDir, name); err == nil {
		return fmt.Errorf("start execution %s: %w", name, execution.ErrExists)
	}
	if e.ctx.Err() != nil {
		return fmt.Errorf("start execution %s: executor closed", name)
	}
	ex := &execution.Execution{Name: name, Status: execution.StatusRunning, Input: append(json.RawMessage(nil), input...), StartDate: time.Now().UTC()}
	e.execs[name] = ex
	e.wg.Add(1)
	go e.run(name, ex.Input)
	return nil
}

func (e *Executor) run(name string, input json.RawMessage) {
	defer e.wg.Done()
	res, err := e.runner.Run(e.ctx, name, input, nil)
	e.mu.Lock()
	defer e.mu.Unlock()
	ex := e.execs[name]
	ex.StopDate = time.Now().UTC()
	if res == nil {
		ex.Status, ex.Error, ex.Cause = execution.StatusFailed, "States.Runtime", fmt.Sprint(err)
		e.log.Error("execution did not run", "execution", name, "error", err)
		return
	}
	ex.Status, ex.Output, ex.Error, ex.Cause = res.Status, res.Output, res.Error, res.Cause
	if !res.StartDate.IsZero() {
		ex.StartDate = res.StartDate
	}
	if !res.StopDate.IsZero() {
		ex.StopDate = res.StopDate
	}
	e.log.Info("execution finished", "execution", name, "status", ex.Status, "error", ex.Error)
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
	return execution.Execution{
		Name: saved.Name, Status: saved.Status, Input: saved.Input, Output: saved.Output,
		Error: saved.Error, Cause: saved.Cause, StartDate: saved.StartDate, StopDate: saved.StopDate,
	}, nil
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

// Wait blocks until every started execution has finished.
func (e *Executor) Wait() { e.wg.Wait() }

// Close cancels running executions and waits for them.
func (e *Executor) Close() {
	e.cancel()
	e.wg.Wait()
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
