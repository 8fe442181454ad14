package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Error names the engine raises, as AWS names them.
const (
	ErrAll                    = "States.ALL"
	ErrRuntime                = "States.Runtime"
	ErrTimeout                = "States.Timeout"
	ErrTaskFailed             = "States.TaskFailed"
	ErrNoChoiceMatched        = "States.NoChoiceMatched"
	ErrIntrinsicFailure       = "States.IntrinsicFailure"
	ErrResultPathMatchFailure = "States.ResultPathMatchFailure"
	ErrDataLimitExceeded      = "States.DataLimitExceeded"
)

// MaxPayloadSize is Step Functions' quota on an execution's input, a
// task's result and a state's output: 256 KiB of UTF-8 JSON. Exceeding it
// fails the execution with States.DataLimitExceeded, as on AWS, so local
// runs catch state that should have been offloaded to S3.
const MaxPayloadSize = 256 * 1024

const errAll = ErrAll

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// lambdaInvoke is the optimized Lambda integration.
const lambdaInvoke = "arn:aws:states:::lambda:invoke"

// DefaultStateMachineArn is used when Options.StateMachineArn is empty.
const DefaultStateMachineArn = "arn:aws:states:us-east-1:123456789012:stateMachine:symflow"

// Invoker runs a Task state's resource. For a Lambda function ARN (and for
// arn:aws:states:::lambda:invoke, whose Parameters.FunctionName becomes the
// resource) input is the function's event and the result its response.
// Other resources (activities, other service integrations) get their ARN
// and the task input. An Invoker returns a *TaskError to raise a named
// error that Retry and Catch can match; any other error is
// States.TaskFailed. It must return when ctx is done.
type Invoker interface {
	Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error)
}

// InvokerFunc adapts a function to Invoker.
type InvokerFunc func(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	return f(ctx, resource, input)
}

// TaskError is a named task failure: Name is what ErrorEquals matches (a
// Lambda function's errorType, or a service error such as
// Lambda.ServiceException) and Cause its explanation.
type TaskError struct {
	Name  string
	Cause string
}

// Error implements error on the value, so invokers may return TaskError or
// *TaskError.
func (e TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// Options configure one execution. Zero values are usable except Invoker,
// which executions with Task states need.
type Options struct {
	Invoker Invoker
	// Clock defaults to RealClock.
	Clock Clock
	// Observer, if set, is called with every history event as it is
	// recorded, in order; it must not block for long.
	Observer func(HistoryEvent)
	// StateMachineArn names the machine in the context object and the
	// execution ARN; DefaultStateMachineArn when empty. Resume and Redrive
	// keep the saved execution's.
	StateMachineArn string
	// RoleArn is reported as $$.Execution.RoleArn.
	RoleArn string
	// Suspend, once closed, ends the run at the next state boundary
	// without ending the execution: states in flight finish (a Wait or a
	// Retry pause is cut short, being no work), no further state is
	// entered, and the run returns with Status RUNNING and ResumeAt saying
	// where Resume continues. If ctx is cancelled after Suspend closed (a
	// grace period ran out), the states still in flight are abandoned and
	// the execution is suspended all the same, never ABORTED: Resume runs
	// them again, which is Step Functions' at-least-once for a Task whose
	// result was not recorded.
	Suspend <-chan struct{}
	// Checkpoint, if set, is called with a snapshot of the execution at
	// every point its progress must survive the process: when it starts or
	// is redriven, on entering each top-level state (which records the
	// transition into it, with the state's input), when it ends and when it
	// is suspended. A saved snapshot is enough for Resume to continue the
	// execution from its last state. The snapshot shares history events
	// with the run: read it, never change it. It is called while the run
	// holds its history lock, so it must not call back into the run.
	Checkpoint func(*Execution)
}

// Execution is the record of one run, shaped like DescribeExecution plus
// the history (JSON field names as in the AWS API).
type Execution struct {
	ID              string          `json:"executionArn"`
	Name            string          `json:"name"`
	StateMachineArn string          `json:"stateMachineArn"`
	Status          string          `json:"status"` // RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED
	Input           json.RawMessage `json:"input"`
	Output          json.RawMessage `json:"output,omitempty"` // set when Status is SUCCEEDED
	Error           string          `json:"error,omitempty"`  // set when FAILED or TIMED_OUT
	Cause           string          `json:"cause,omitempty"`
	History         []HistoryEvent  `json:"events,omitempty"`
	StartDate       time.Time       `json:"startDate"`
	StopDate        time.Time       `json:"stopDate,omitzero"`
	// RedriveCount is how often the execution was redriven; RedriveDate
	// when it last was (zero if never).
	RedriveCount int       `json:"redriveCount,omitempty"`
	RedriveDate  time.Time `json:"redriveDate,omitzero"`
	// ResumeAt is set on an execution whose run was suspended
	// (Options.Suspend): the state Resume enters next and its input. It
	// is local mode's own field, not part of the AWS API.
	ResumeAt *Continuation `json:"resumeAt,omitempty"`
}

// Continuation is a point an execution continues from: a top-level state
// and its input.
type Continuation struct {
	State string          `json:"state"`
	Input json.RawMessage `json:"input"`
}

// failure is a state's error on its way to Retry, Catch or the execution.
type failure struct {
	name, cause string
	abort       bool // the execution was aborted, timed out or suspended: nothing may catch it
	// at is, for an abort that reached the top level, the state the run
	// was in (or about to enter) and its input.
	at *Continuation
}

func (f *failure) Error() string { return f.name + ": " + f.cause }

func dataLimit(what string, size int) *failure {
	return &failure{name: ErrDataLimitExceeded, cause: fmt.Sprintf("%s is %d bytes, over the %d-byte limit", what, size, MaxPayloadSize)}
}

func runtimeFailure(format string, a ...any) *failure {
	return &failure{name: ErrRuntime, cause: fmt.Sprintf(format, a...)}
}

// stopped is the failure of a state whose context ended.
func stopped() *failure {
	return &failure{name: ErrTimeout, cause: "execution stopped", abort: true}
}

var errBadName = errors.New("execution name must be 1-80 characters without whitespace, brackets, wildcards or special characters")

func validName(name string) bool {
	if name == "" || len(name) > 80 {
		return false
	}
	for _, r := range name {
		if r <= 0x20 || r == 0x7f || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return false
		}
	}
	return true
}

// Run executes the state machine to the end and returns its record. name
// may be empty (a UUID is drawn). The error is only for bad arguments: a
// failed, timed-out or aborted (ctx cancelled) execution is reported in
// the Execution's Status, and so is a suspended one (Options.Suspend):
// Status RUNNING, to be continued with Resume.
func (sm *StateMachine) Run(ctx context.Context, name string, input json.RawMessage, opts Options) (*Execution, error) {
	if name == "" {
		name = uuid.NewString()
	}
	if !validName(name) {
		return nil, fmt.Errorf("start execution %q: %w", name, errBadName)
	}
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if len(input) > MaxPayloadSize {
		return nil, fmt.Errorf("start execution %q: input is %d bytes, over the %d-byte limit", name, len(input), MaxPayloadSize)
	}
	in, err := decodeJSON(input)
	if err != nil {
		return nil, fmt.Errorf("start execution %q: input is not valid JSON: %w", name, err)
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.StateMachineArn == "" {
		opts.StateMachineArn = DefaultStateMachineArn
	}
	execArn := strings.Replace(opts.StateMachineArn, ":stateMachine:", ":execution:", 1) + ":" + name
	start := opts.Clock.Now()
	exec := &Execution{
		ID: execArn, Name: name, StateMachineArn: opts.StateMachineArn, Status: StatusRunning,
		Input: append(json.RawMessage(nil), input...), StartDate: start,
	}
	r := newRun(exec, in, opts)
	th := &thread{}
	r.emit(th, "ExecutionStarted", EventDetails{Input: mustJSON(in), RoleArn: opts.RoleArn})
	return sm.drive(ctx, r, th, Continuation{State: sm.startAt}, in, start), nil
}

// newRun prepares the run of exec: its context object comes from the
// record (start time, redrive count and time), so a resumed or redriven
// execution sees what Step Functions would show it.
func newRun(exec *Execution, input any, opts Options) *run {
	smName, region := "", "us-east-1"
	if parts := strings.Split(exec.StateMachineArn, ":"); len(parts) >= 7 {
		region, smName = parts[3], parts[6]
	}
	r := &run{opts: opts, clock: opts.Clock, region: region, exec: exec}
	r.ctxExecution = map[string]any{
		"Id": exec.ID, "Input": input, "Name": exec.Name, "RoleArn": opts.RoleArn,
		"StartTime": exec.StartDate.UTC().Format(timeFormat), "RedriveCount": intNumber(int64(exec.RedriveCount)),
	}
	// RedriveTime exists only once the execution has been redriven.
	if exec.RedriveCount > 0 {
		r.ctxExecution["RedriveTime"] = exec.RedriveDate.UTC().Format(timeFormat)
	}
	r.ctxStateMachine = map[string]any{"Id": exec.StateMachineArn, "Name": smName}
	return r
}

// drive runs the top-level states from from (whose input is input) to the
// end of the execution, or until it is suspended, and records how it
// ended. runStart is when the current run began (the start, or the last
// redrive): the state machine's TimeoutSeconds counts from it, as Step
// Functions resets it on a redrive.
func (sm *StateMachine) drive(ctx context.Context, r *run, th *thread, from Continuation, input any, runStart time.Time) *Execution {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	if sm.timeoutSeconds > 0 {
		left := time.Duration(sm.timeoutSeconds)*time.Second - r.clock.Now().Sub(runStart)
		stop := afterFunc(r.clock, max(left, 0), func() {
			timedOut.Store(true)
			cancel()
		})
		defer stop()
	}
	idle, endIdle := context.WithCancel(rctx)
	defer endIdle()
	r.idle = idle
	if r.opts.Suspend != nil {
		go func() {
			select {
			case <-r.opts.Suspend:
				r.suspending.Store(true)
				endIdle()
			case <-idle.Done():
			}
		}()
	}
	out, f := r.runFrom(rctx, sm, from.State, input, th, true)
	// A run that finished (or failed on its own) before a timeout, an
	// abort or a suspension landed keeps its own outcome.
	switch {
	case f != nil && f.abort && timedOut.Load():
		cause := fmt.Sprintf("The execution timed out after %d seconds (TimeoutSeconds).", sm.timeoutSeconds)
		r.end(th, StatusTimedOut, ErrTimeout, cause, nil)
	case f != nil && f.abort && r.suspended():
		r.suspend(f.at)
	case f != nil && f.abort:
		r.end(th, StatusAborted, "", "", nil)
	case f != nil:
		r.end(th, StatusFailed, f.name, f.cause, nil)
	default:
		b, err := encodeJSON(out)
		if err != nil {
			b = []byte("null")
		}
		r.end(th, StatusSucceeded, "", "", b)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exec
}

// end records the execution's outcome and its closing event.
func (r *run) end(th *thread, status, errName, cause string, output json.RawMessage) {
	r.mu.Lock()
	e := r.exec
	e.Status, e.Error, e.Cause, e.Output = status, errName, cause, output
	e.StopDate = r.clock.Now()
	e.ResumeAt = nil
	r.mu.Unlock()
	switch status {
	case StatusTimedOut:
		r.emit(th, "ExecutionTimedOut", EventDetails{Error: errName, Cause: cause})
	case StatusAborted:
		r.emit(th, "ExecutionAborted", EventDetails{})
	case StatusFailed:
		r.emit(th, "ExecutionFailed", EventDetails{Error: errName, Cause: cause})
	default:
		r.emit(th, "ExecutionSucceeded", EventDetails{Output: string(output)})
	}
}

// suspend leaves the execution RUNNING, to continue at at.
func (r *run) suspend(at *Continuation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exec.ResumeAt = at
	if r.opts.Checkpoint != nil {
		r.opts.Checkpoint(r.snapshot())
	}
}

type run struct {
	opts            Options
	clock           Clock
	region          string
	ctxExecution    map[string]any
	ctxStateMachine map[string]any

	// idle ends when the run is suspended (or its context ends): Wait
	// states and Retry pauses sleep on it.
	idle       context.Context
	suspending atomic.Bool

	mu   sync.Mutex // guards exec
	exec *Execution
}

// thread is one sequential line of states: the execution itself, a Map
// iteration or a Parallel branch. Its events chain through previousEventId.
type thread struct {
	prev   int64
	nested bool
}

func (r *run) emit(th *thread, typ string, d EventDetails) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := HistoryEvent{
		ID: int64(len(r.exec.History) + 1), PreviousEventID: th.prev,
		Timestamp: r.clock.Now(), Type: typ, Details: d, Nested: th.nested,
	}
	r.exec.History = append(r.exec.History, ev)
	th.prev = ev.ID
	if r.opts.Observer != nil {
		r.opts.Observer(ev)
	}
	if r.opts.Checkpoint != nil && !th.nested && (strings.HasPrefix(typ, "Execution") || strings.HasSuffix(typ, "StateEntered")) {
		r.opts.Checkpoint(r.snapshot())
	}
	return ev.ID
}

// suspended reports whether Options.Suspend has closed.
func (r *run) suspended() bool {
	if r.suspending.Load() {
		return true
	}
	select {
	case <-r.opts.Suspend:
		r.suspending.Store(true)
		return true
	default:
		return false
	}
}

// snapshot copies the record; the history's events are shared, and only
// ever appended to. r.mu must be held.
func (r *run) snapshot() *Execution {
	s := *r.exec
	s.History = r.exec.History[:len(r.exec.History):len(r.exec.History)]
	return &s
}

// sleep pauses for d on the run's clock; a suspension cuts it short.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	if r.idle == nil {
		return r.clock.Sleep(ctx, d)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.idle, cancel)
	defer stop()
	return r.clock.Sleep(sctx, d)
}

// runMachine runs a machine (a Map iteration's or a Parallel branch's)
// from its StartAt.
func (r *run) runMachine(ctx context.Context, sm *StateMachine, input any, th *thread) (any, *failure) {
	return r.runFrom(ctx, sm, sm.startAt, input, th, false)
}

// runFrom runs states from name on. At the top level it stops before
// entering a state once the run is suspended, and an abort names the state
// it interrupted (failure.at).
func (r *run) runFrom(ctx context.Context, sm *StateMachine, name string, input any, th *thread, top bool) (any, *failure) {
	for {
		if top && r.suspended() {
			return nil, &failure{name: ErrTimeout, cause: "execution suspended", abort: true, at: &Continuation{State: name, Input: json.RawMessage(mustJSON(input))}}
		}
		if ctx.Err() != nil {
			f := stopped()
			if top {
				f.at = &Continuation{State: name, Input: json.RawMessage(mustJSON(input))}
			}
			return nil, f
		}
		st := sm.states[name]
		out, next, f := r.runState(ctx, st, input, th)
		if f != nil {
			if top && f.abort && f.at == nil {
				f.at = &Continuation{State: name, Input: json.RawMessage(mustJSON(input))}
			}
			return nil, f
		}
		if next == "" {
			return out, nil
		}
		input, name = out, next
	}
}

func (r *run) contextObject(stateName string, entered time.Time, retryCount int) map[string]any {
	return map[string]any{
		"Execution": r.ctxExecution,
		"State": map[string]any{
			"Name": stateName, "EnteredTime": entered.UTC().Format(timeFormat), "RetryCount": intNumber(int64(retryCount)),
		},
		"StateMachine": r.ctxStateMachine,
	}
}

// runState runs one state, with its Retry and Catch, and records its events.
func (r *run) runState(ctx context.Context, st *state, raw any, th *thread) (any, string, *failure) {
	entered := r.clock.Now()
	r.emit(th, st.typ+"StateEntered", EventDetails{Name: st.name, Input: mustJSON(raw)})
	attempts := make([]int, len(st.retry))
	retryCount := 0
	for {
		ctxObj := r.contextObject(st.name, entered, retryCount)
		out, next, f := r.execOnce(ctx, st, raw, ctxObj, th)
		if f == nil {
			outJSON := mustJSON(out)
			if len(outJSON) > MaxPayloadSize {
				return nil, "", dataLimit("the output of state "+st.name, len(outJSON))
			}
			r.emit(th, st.typ+"StateExited", EventDetails{Name: st.name, Output: outJSON})
			return out, next, nil
		}
		if f.abort || ctx.Err() != nil {
			f.abort = true
			return nil, "", f
		}
		if f.name == ErrRuntime || f.name == ErrDataLimitExceeded {
			// Terminal errors: neither retriable nor catchable.
			return nil, "", f
		}
		if i := matchErrors(st, f.name, retrierErrors(st.retry)); i >= 0 {
			rt := st.retry[i]
			if attempts[i] < rt.maxAttempts {
				delay := rt.intervalSeconds * math.Pow(rt.backoffRate, float64(attempts[i]))
				if rt.maxDelaySeconds > 0 {
					delay = math.Min(delay, rt.maxDelaySeconds)
				}
				if rt.jitterFull {
					delay = rand.Float64() * delay
				}
				attempts[i]++
				retryCount++
				if err := r.sleep(ctx, time.Duration(delay*float64(time.Second))); err != nil {
					return nil, "", stopped()
				}
				continue
			}
		}
		if i := matchErrors(st, f.name, catcherErrors(st.catch)); i >= 0 {
			c := st.catch[i]
			errOut := newObject(2)
			errOut.set("Error", f.name)
			errOut.set("Cause", f.cause)
			out, f2 := applyResultPath(c.resultPath, raw, errOut)
			if f2 != nil {
				return nil, "", f2
			}
			outJSON := mustJSON(out)
			if len(outJSON) > MaxPayloadSize {
				return nil, "", dataLimit("the output of state "+st.name, len(outJSON))
			}
			r.emit(th, st.typ+"StateExited", EventDetails{Name: st.name, Output: outJSON})
			return out, c.next, nil
		}
		return nil, "", f
	}
}

func retrierErrors(rs []retrier) [][]string {
	out := make([][]string, len(rs))
	for i, r := range rs {
		out[i] = r.errorEquals
	}
	return out
}

func catcherErrors(cs []catcher) [][]string {
	out := make([][]string, len(cs))
	for i, c := range cs {
		out[i] = c.errorEquals
	}
	return out
}

// matchErrors returns the index of the first entry whose ErrorEquals
// matches name: exactly, by States.ALL, or by States.TaskFailed (which, on
// a Task state, matches everything but States.Timeout).
func matchErrors(st *state, name string, lists [][]string) int {
	for i, list := range lists {
		for _, e := range list {
			if e == name || e == ErrAll || (e == ErrTaskFailed && st.typ == "Task" && name != ErrTimeout) {
				return i
			}
		}
	}
	return -1
}

func (st *state) following() string {
	if st.end {
		return ""
	}
	return st.next
}

// execOnce runs one attempt of a state: input processing, the state's
// work and output processing.
func (r *run) execOnce(ctx context.Context, st *state, raw any, ctxObj map[string]any, th *thread) (any, string, *failure) {
	if st.typ == "Fail" {
		return nil, "", r.fail(st, raw, ctxObj)
	}
	eff, f := selectPath(st.inputPath, raw, ctxObj, "InputPath")
	if f != nil {
		return nil, "", f
	}
	if st.hasParameters {
		if eff, f = evalTemplate(st.parameters, eff, ctxObj, "Parameters"); f != nil {
			return nil, "", f
		}
	}
	var result any
	next := st.following()
	switch st.typ {
	case "Pass":
		result = eff
		if st.hasResult {
			result = deepCopy(st.result)
		}
	case "Task":
		if result, f = r.task(ctx, st, eff, th); f != nil {
			return nil, "", f
		}
	case "Choice":
		next = ""
		for _, c := range st.choices {
			ok, f := c.eval(eff, ctxObj)
			if f != nil {
				return nil, "", f
			}
			if ok {
				next = c.next
				break
			}
		}
		if next == "" {
			next = st.deflt
		}
		if next == "" {
			return nil, "", &failure{name: ErrNoChoiceMatched, cause: fmt.Sprintf("No Matches! State %q matched no choice rule and has no Default.", st.name)}
		}
		out, f := selectPath(st.outputPath, eff, ctxObj, "OutputPath")
		return out, next, f
	case "Wait":
		if f = r.wait(ctx, st, eff); f != nil {
			return nil, "", f
		}
		out, f := selectPath(st.outputPath, eff, ctxObj, "OutputPath")
		return out, next, f
	case "Succeed":
		out, f := selectPath(st.outputPath, eff, ctxObj, "OutputPath")
		return out, "", f
	case "Map":
		if result, f = r.mapState(ctx, st, eff, ctxObj, th); f != nil {
			return nil, "", f
		}
	case "Parallel":
		if result, f = r.parallel(ctx, st, eff, th); f != nil {
			return nil, "", f
		}
	}
	if st.hasResultSelector {
		if result, f = evalTemplate(st.resultSelector, result, ctxObj, "ResultSelector"); f != nil {
			return nil, "", f
		}
	}
	out, f := applyResultPath(st.resultPath, raw, result)
	if f != nil {
		return nil, "", f
	}
	out, f = selectPath(st.outputPath, out, ctxObj, "OutputPath")
	return out, next, f
}

// selectPath applies InputPath or OutputPath: absent keeps the value, null
// gives {}, a path that selects nothing is States.Runtime.
func selectPath(p optPath, v any, ctxObj map[string]any, field string) (any, *failure) {
	if !p.set {
		return v, nil
	}
	if p.null {
		return newObject(0), nil
	}
	root := v
	if p.path.context {
		root = ctxObj
	}
	out, ok := p.path.eval(root)
	if !ok {
		return nil, runtimeFailure("Invalid path '%s' in %s: the path selected nothing in %s", p.src, field, truncate(mustJSON(root)))
	}
	return out, nil
}

// applyResultPath places result into the raw state input.
func applyResultPath(p optPath, raw, result any) (any, *failure) {
	if !p.set {
		return result, nil
	}
	if p.null {
		return raw, nil
	}
	out, err := p.path.setPath(raw, result)
	if err != nil {
		return nil, &failure{name: ErrResultPathMatchFailure, cause: err.Error()}
	}
	return out, nil
}

func truncate(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// evalTemplate evaluates a payload template: keys ending in ".$" take the
// value of a path ($ input, $$ context object) or an intrinsic function.
func evalTemplate(tmpl any, input any, ctxObj map[string]any, field string) (any, *failure) {
	if keys, vals, ok := members(tmpl); ok {
		out := newObject(len(keys))
		for _, k := range keys {
			v := vals[k]
			if s, ok := v.(string); ok && strings.HasSuffix(k, ".$") {
				key := strings.TrimSuffix(k, ".$")
				if strings.HasPrefix(s, "$") {
					jp, err := compilePath(s)
					if err != nil {
						return nil, runtimeFailure("%s.%s: %v", field, k, err)
					}
					root := input
					if jp.context {
						root = ctxObj
					}
					val, ok := jp.eval(root)
					if !ok {
						return nil, runtimeFailure("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", s, k, truncate(mustJSON(root)))
					}
					out.set(key, val)
					continue
				}
				e, err := compileIntrinsic(s)
				if err != nil {
					return nil, &failure{name: ErrIntrinsicFailure, cause: fmt.Sprintf("%s.%s: %v", field, k, err)}
				}
				val, err := evalIntrinsic(e, input, ctxObj)
				if err != nil {
					return nil, &failure{name: ErrIntrinsicFailure, cause: fmt.Sprintf("%s.%s: %s: %v", field, k, s, err)}
				}
				out.set(key, val)
				continue
			}
			val, f := evalTemplate(v, input, ctxObj, field+"."+k)
			if f != nil {
				return nil, f
			}
			out.set(k, val)
		}
		return out, nil
	}
	switch t := tmpl.(type) {
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			val, f := evalTemplate(v, input, ctxObj, field)
			if f != nil {
				return nil, f
			}
			out[i] = val
		}
		return out, nil
	}
	return tmpl, nil
}

func (r *run) fail(st *state, raw any, ctxObj map[string]any) *failure {
	f := &failure{name: st.errName, cause: st.cause}
	eval := func(p *jsonPath, field string) (string, *failure) {
		if p == nil {
			return "", nil
		}
		var v any
		if strings.HasPrefix(p.src, "States.") {
			e, err := compileIntrinsic(p.src)
			if err == nil {
				v, err = evalIntrinsic(e, raw, ctxObj)
			}
			if err != nil {
				return "", &failure{name: ErrIntrinsicFailure, cause: fmt.Sprintf("%s: %v", field, err)}
			}
		} else {
			root := any(raw)
			if p.context {
				root = ctxObj
			}
			var ok bool
			if v, ok = p.eval(root); !ok {
				return "", runtimeFailure("Invalid path '%s' in %s: the path selected nothing", p.src, field)
			}
		}
		s, ok := v.(string)
		if !ok {
			return "", runtimeFailure("%s '%s' must select a string, got %s", field, p.src, typeName(v))
		}
		return s, nil
	}
	var ff *failure
	if st.errorPath != nil {
		if f.name, ff = eval(st.errorPath, "ErrorPath"); ff != nil {
			return ff
		}
	}
	if st.causePath != nil {
		if f.cause, ff = eval(st.causePath, "CausePath"); ff != nil {
			return ff
		}
	}
	return f
}

func (r *run) wait(ctx context.Context, st *state, eff any) *failure {
	var d time.Duration
	switch {
	case st.hasSeconds:
		d = time.Duration(st.seconds) * time.Second
	case st.hasTimestamp:
		d = st.timestamp.Sub(r.clock.Now())
	case st.secondsPath != nil:
		v, ok := st.secondsPath.eval(eff)
		if !ok {
			return runtimeFailure("Invalid path '%s' in SecondsPath: the path selected nothing", st.secondsPath.src)
		}
		n, ok := toInt(v)
		if !ok || n < 0 {
			return runtimeFailure("SecondsPath '%s' must select a non-negative integer, got %s", st.secondsPath.src, truncate(mustJSON(v)))
		}
		d = time.Duration(n) * time.Second
	case st.timestampPath != nil:
		v, ok := st.timestampPath.eval(eff)
		if !ok {
			return runtimeFailure("Invalid path '%s' in TimestampPath: the path selected nothing", st.timestampPath.src)
		}
		s, _ := v.(string)
		t, err := parseTimestamp(s)
		if err != nil {
			return runtimeFailure("TimestampPath '%s' must select an RFC 3339 timestamp, got %s", st.timestampPath.src, truncate(mustJSON(v)))
		}
		d = t.Sub(r.clock.Now())
	}
	if d <= 0 {
		return nil
	}
	if err := r.sleep(ctx, d); err != nil {
		return stopped()
	}
	return nil
}

// task runs a Task state's resource. See Invoker for what is invoked.
func (r *run) task(ctx context.Context, st *state, input any, th *thread) (any, *failure) {
	timeout := st.timeoutSeconds
	if st.timeoutSecondsPath != nil {
		v, ok := st.timeoutSecondsPath.eval(input)
		n, isInt := toInt(v)
		if !ok || !isInt || n < 1 {
			return nil, runtimeFailure("TimeoutSecondsPath '%s' must select a positive integer", st.timeoutSecondsPath.src)
		}
		timeout = n
	}
	if r.opts.Invoker == nil {
		return nil, runtimeFailure("no task invoker is configured for resource %s", st.resource)
	}
	res := st.resource
	switch {
	case res == lambdaInvoke:
		fnVal, _ := member(input, "FunctionName")
		fn, ok := fnVal.(string)
		if !ok || fn == "" {
			return nil, runtimeFailure("%s needs Parameters.FunctionName to be a string", lambdaInvoke)
		}
		payload, ok := member(input, "Payload")
		if !ok {
			payload = newObject(0)
		}
		ids := EventDetails{ResourceType: "lambda", Resource: "invoke"}
		return r.serviceTask(ctx, th, ids, fn, input, payload, timeout, func(out any, raw json.RawMessage, startedID int64) any {
			return r.lambdaResponse(out, raw, startedID)
		})
	case strings.HasPrefix(res, "arn:aws:lambda:"):
		r.emit(th, "LambdaFunctionScheduled", EventDetails{Resource: res, Input: mustJSON(input), TimeoutInSeconds: timeout})
		r.emit(th, "LambdaFunctionStarted", EventDetails{})
		out, _, f := r.invoke(ctx, res, input, timeout)
		if f != nil {
			if f.name == ErrTimeout {
				r.emit(th, "LambdaFunctionTimedOut", EventDetails{Error: f.name, Cause: f.cause})
			} else if !f.abort {
				r.emit(th, "LambdaFunctionFailed", EventDetails{Error: f.name, Cause: f.cause})
			}
			return nil, f
		}
		r.emit(th, "LambdaFunctionSucceeded", EventDetails{Output: mustJSON(out)})
		return out, nil
	default:
		// arn:aws:states:::service:action[.sync] or an activity.
		ids := EventDetails{ResourceType: "activity", Resource: res}
		if rest, ok := strings.CutPrefix(res, "arn:aws:states:::"); ok {
			svc, action, _ := strings.Cut(rest, ":")
			ids = EventDetails{ResourceType: svc, Resource: action}
		}
		return r.serviceTask(ctx, th, ids, res, input, input, timeout, nil)
	}
}

// serviceTask invokes a service integration (lambda:invoke, another
// arn:aws:states::: resource, an activity) with the history AWS records for
// it: TaskScheduled with the parameters, TaskStarted, then TaskSucceeded,
// TaskFailed or TaskTimedOut. wrap, when set, shapes the result from the
// invocation's output, raw answer and the TaskStarted event id.
func (r *run) serviceTask(ctx context.Context, th *thread, ids EventDetails, resource string, params, input any, timeout int64,
	wrap func(out any, raw json.RawMessage, startedID int64) any) (any, *failure) {
	sched := ids
	sched.Region, sched.Parameters, sched.TimeoutInSeconds = r.region, mustJSON(params), timeout
	r.emit(th, "TaskScheduled", sched)
	startedID := r.emit(th, "TaskStarted", ids)
	out, raw, f := r.invoke(ctx, resource, input, timeout)
	if f != nil {
		d := ids
		d.Error, d.Cause = f.name, f.cause
		if f.name == ErrTimeout {
			r.emit(th, "TaskTimedOut", d)
		} else if !f.abort {
			r.emit(th, "TaskFailed", d)
		}
		return nil, f
	}
	if wrap != nil {
		out = wrap(out, raw, startedID)
	}
	d := ids
	d.Output = mustJSON(out)
	r.emit(th, "TaskSucceeded", d)
	return out, nil
}

// invoke calls the Invoker with a timeout measured on the engine's clock.
func (r *run) invoke(ctx context.Context, resource string, input any, timeout int64) (any, json.RawMessage, *failure) {
	in, err := encodeJSON(input)
	if err != nil {
		return nil, nil, runtimeFailure("encode task input: %v", err)
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	if timeout > 0 {
		stop := afterFunc(r.clock, time.Duration(timeout)*time.Second, func() {
			timedOut.Store(true)
			cancel()
		})
		defer stop()
	}
	type result struct {
		out json.RawMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := r.opts.Invoker.Invoke(tctx, resource, in)
		ch <- result{out, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-tctx.Done():
	}
	if timedOut.Load() {
		return nil, nil, &failure{name: ErrTimeout, cause: fmt.Sprintf("Task timed out after %d seconds.", timeout)}
	}
	if ctx.Err() != nil {
		return nil, nil, &failure{name: ErrTimeout, cause: "execution stopped", abort: true}
	}
	if res.err != nil {
		var te *TaskError
		var tv TaskError
		switch {
		case errors.As(res.err, &te):
			return nil, nil, &failure{name: te.Name, cause: te.Cause}
		case errors.As(res.err, &tv):
			return nil, nil, &failure{name: tv.Name, cause: tv.Cause}
		}
		return nil, nil, &failure{name: ErrTaskFailed, cause: res.err.Error()}
	}
	if len(res.out) > MaxPayloadSize {
		return nil, nil, dataLimit("the result of "+resource, len(res.out))
	}
	if len(strings.TrimSpace(string(res.out))) == 0 {
		return nil, json.RawMessage("null"), nil
	}
	out, err := decodeJSON(res.out)
	if err != nil {
		return nil, nil, &failure{name: ErrTaskFailed, cause: fmt.Sprintf("task %s returned invalid JSON: %v", resource, err)}
	}
	return out, res.out, nil
}

// lambdaResponse wraps a function's result the way the lambda:invoke
// integration does: the Invoke API response with the payload decoded. The
// request id is derived from the execution and the event, so a rerun of the
// same execution name yields the same output.
func (r *run) lambdaResponse(payload any, raw json.RawMessage, eventID int64) map[string]any {
	reqID := uuid.NewSHA1(uuid.NameSpaceURL, []byte(r.exec.ID+"#"+strconv.FormatInt(eventID, 10))).String()
	date := r.clock.Now().UTC().Format(http.TimeFormat)
	length := strconv.Itoa(len(raw))
	return map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         payload,
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": map[string]any{
				"X-Amz-Executed-Version": []any{"$LATEST"},
				"x-amzn-RequestId":       []any{reqID},
				"Connection":             []any{"keep-alive"},
				"Content-Length":         []any{length},
				"Date":                   []any{date},
				"Content-Type":           []any{"application/json"},
			},
			"HttpHeaders": map[string]any{
				"Connection":             "keep-alive",
				"Content-Length":         length,
				"Content-Type":           "application/json",
				"Date":                   date,
				"X-Amz-Executed-Version": "$LATEST",
				"x-amzn-RequestId":       reqID,
			},
			"HttpStatusCode": intNumber(200),
		},
		"SdkResponseMetadata": map[string]any{"RequestId": reqID},
		"StatusCode":          intNumber(200),
	}
}

// mapState runs an inline Map: one iteration of the item processor per
// item, at most MaxConcurrency at a time (0: no limit). The first failing
// iteration fails the state and stops the others.
func (r *run) mapState(ctx context.Context, st *state, eff any, ctxObj map[string]any, th *thread) (any, *failure) {
	itemsVal := eff
	if st.itemsPath != nil {
		root := eff
		if st.itemsPath.context {
			root = ctxObj
		}
		v, ok := st.itemsPath.eval(root)
		if !ok {
			return nil, runtimeFailure("Invalid path '%s' in ItemsPath: the path selected nothing", st.itemsPath.src)
		}
		itemsVal = v
	}
	items, ok := itemsVal.([]any)
	if !ok {
		return nil, runtimeFailure("Map state %q: ItemsPath must select an array, got %s", st.name, typeName(itemsVal))
	}
	limit := st.maxConcurrency
	if st.maxConcurrencyPath != nil {
		v, ok := st.maxConcurrencyPath.eval(eff)
		n, isInt := toInt(v)
		if !ok || !isInt || n < 0 {
			return nil, runtimeFailure("MaxConcurrencyPath '%s' must select a non-negative integer", st.maxConcurrencyPath.src)
		}
		limit = n
	}
	// Iteration inputs are computed up front, so a selector failure fails the
	// state before any iteration starts.
	inputs := make([]any, len(items))
	for i, item := range items {
		inputs[i] = item
		if st.hasItemSelector {
			ictx := make(map[string]any, len(ctxObj)+1)
			for k, v := range ctxObj {
				ictx[k] = v
			}
			ictx["Map"] = map[string]any{"Item": map[string]any{"Index": intNumber(int64(i)), "Value": item}}
			v, f := evalTemplate(st.itemSelector, eff, ictx, "ItemSelector")
			if f != nil {
				return nil, f
			}
			inputs[i] = v
		}
	}
	n := len(items)
	r.emit(th, "MapStateStarted", EventDetails{Length: &n})
	results := make([]any, n)
	fail := r.fanOut(ctx, n, int(limit), th, func(ctx context.Context, i int, sub *thread) *failure {
		idx := i
		r.emit(sub, "MapIterationStarted", EventDetails{Name: st.name, Index: &idx})
		out, f := r.runMachine(ctx, st.processor, inputs[i], sub)
		if f != nil {
			if !f.abort {
				r.emit(sub, "MapIterationFailed", EventDetails{Name: st.name, Index: &idx, Error: f.name, Cause: f.cause})
			} else {
				r.emit(sub, "MapIterationAborted", EventDetails{Name: st.name, Index: &idx})
			}
			return f
		}
		results[i] = out
		r.emit(sub, "MapIterationSucceeded", EventDetails{Name: st.name, Index: &idx})
		return nil
	})
	if fail != nil {
		if !fail.abort {
			r.emit(th, "MapStateFailed", EventDetails{Error: fail.name, Cause: fail.cause})
		}
		return nil, fail
	}
	r.emit(th, "MapStateSucceeded", EventDetails{})
	return results, nil
}

// parallel runs every branch on the same input; the result is the array of
// the branches' outputs. The first failing branch fails the state.
func (r *run) parallel(ctx context.Context, st *state, eff any, th *thread) (any, *failure) {
	r.emit(th, "ParallelStateStarted", EventDetails{})
	results := make([]any, len(st.branches))
	fail := r.fanOut(ctx, len(st.branches), 0, th, func(ctx context.Context, i int, sub *thread) *failure {
		out, f := r.runMachine(ctx, st.branches[i], eff, sub)
		if f != nil {
			return f
		}
		results[i] = out
		return nil
	})
	if fail != nil {
		if !fail.abort {
			r.emit(th, "ParallelStateFailed", EventDetails{Error: fail.name, Cause: fail.cause})
		}
		return nil, fail
	}
	r.emit(th, "ParallelStateSucceeded", EventDetails{})
	return results, nil
}

// fanOut runs n jobs, at most limit at once (0: all), each on its own
// thread of events. The first real failure cancels the rest and is
// returned; failures caused by that cancellation are ignored.
func (r *run) fanOut(ctx context.Context, n, limit int, th *thread, job func(ctx context.Context, i int, sub *thread) *failure) *failure {
	if n == 0 {
		return nil
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first *failure
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, limit)
	parent := th.prev
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-fctx.Done():
		}
		if fctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			sub := &thread{prev: parent, nested: true}
			if f := job(fctx, i, sub); f != nil {
				mu.Lock()
				if first == nil || (first.abort && !f.abort) {
					first = f
				}
				mu.Unlock()
				cancel()
			}
		}(i)
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = &failure{name: ErrTimeout, cause: "execution stopped", abort: true}
	}
	if first != nil && ctx.Err() != nil {
		first.abort = true
	}
	return first
}
