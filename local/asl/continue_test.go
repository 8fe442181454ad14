package asl

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedInvoker answers each resource from a list of responses, the last
// repeating, and records every call with its input.
type scriptedInvoker struct {
	mu      sync.Mutex
	answers map[string][]func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)
	calls   []string
	inputs  map[string][]string
}

func newScripted() *scriptedInvoker {
	return &scriptedInvoker{answers: map[string][]func(context.Context, json.RawMessage) (json.RawMessage, error){}, inputs: map[string][]string{}}
}

func (s *scriptedInvoker) on(resource string, fns ...func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)) {
	s.answers[resource] = fns
}

func (s *scriptedInvoker) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	s.mu.Lock()
	n := len(s.inputs[resource])
	s.calls = append(s.calls, resource)
	s.inputs[resource] = append(s.inputs[resource], string(input))
	fns := s.answers[resource]
	s.mu.Unlock()
	if len(fns) == 0 {
		return input, nil
	}
	return fns[min(n, len(fns)-1)](ctx, input)
}

func (s *scriptedInvoker) count(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inputs[resource])
}

func echo(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil }

func failWith(name string) func(context.Context, json.RawMessage) (json.RawMessage, error) {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return nil, &TaskError{Name: name, Cause: name + " happened"}
	}
}

const (
	fnPrepare = "arn:aws:lambda:us-east-1:123456789012:function:prepare"
	fnWork    = "arn:aws:lambda:us-east-1:123456789012:function:work"
	fnFinish  = "arn:aws:lambda:us-east-1:123456789012:function:finish"
)

// threeSteps: Prepare → Work → Finish; Work sees the redrive count and, when
// there is one, the redrive time, through the context object.
var threeSteps = `{"StartAt":"Prepare","States":{
 "Prepare":{"Type":"Task","Resource":"` + fnPrepare + `","ResultPath":"$.prepared","Next":"IsRedriven"},
 "IsRedriven":{"Type":"Choice","Choices":[{"Variable":"$$.Execution.RedriveTime","IsPresent":true,"Next":"WorkAfterRedrive"}],"Default":"Work"},
 "Work":{"Type":"Task","Resource":"` + fnWork + `","Parameters":{"in.$":"$","count.$":"$$.Execution.RedriveCount","run.$":"$$.Execution.StartTime"},"ResultPath":"$.work","Next":"Finish"},
 "WorkAfterRedrive":{"Type":"Task","Resource":"` + fnWork + `","Parameters":{"in.$":"$","count.$":"$$.Execution.RedriveCount","run.$":"$$.Execution.RedriveTime"},"ResultPath":"$.work","Next":"Finish"},
 "Finish":{"Type":"Task","Resource":"` + fnFinish + `","End":true}}}`

func TestRedriveRunsTheFailedStateAgain(t *testing.T) {
	sm := mustParse(t, threeSteps)
	clock := NewFakeClock(t0)
	inv := newScripted()
	inv.on(fnWork, failWith("Outage"), echo)
	first := runSM(t, sm, `{"id":"e1"}`, Options{Invoker: inv, Clock: clock})
	if first.Status != StatusFailed || first.Error != "Outage" {
		t.Fatalf("first run: %s %s", first.Status, first.Error)
	}
	clock.Advance(2 * time.Hour)
	redriveAt := clock.Now()
	again, err := sm.Redrive(context.Background(), first, Options{Invoker: inv, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != StatusSucceeded {
		t.Fatalf("redriven: %s %s: %s", again.Status, again.Error, again.Cause)
	}
	if again.Name != first.Name || again.ID != first.ID || !again.StartDate.Equal(first.StartDate) || string(again.Input) != string(first.Input) {
		t.Errorf("redrive is another execution: %+v vs %+v", again, first)
	}
	if again.RedriveCount != 1 || !again.RedriveDate.Equal(redriveAt) {
		t.Errorf("redrive count %d at %v, want 1 at %v", again.RedriveCount, again.RedriveDate, redriveAt)
	}
	if first.Status != StatusFailed || first.RedriveCount != 0 {
		t.Errorf("Redrive changed the saved record: %s, %d", first.Status, first.RedriveCount)
	}
	// Completed states are not run again; the failed one is, with the
	// input it had.
	if n := inv.count(fnPrepare); n != 1 {
		t.Errorf("Prepare ran %d times, want 1", n)
	}
	if n := inv.count(fnWork); n != 2 {
		t.Fatalf("Work ran %d times, want 2", n)
	}
	var call1, call2 struct {
		In    json.RawMessage `json:"in"`
		Count int             `json:"count"`
		Run   string          `json:"run"`
	}
	json.Unmarshal([]byte(inv.inputs[fnWork][0]), &call1)
	json.Unmarshal([]byte(inv.inputs[fnWork][1]), &call2)
	if string(call1.In) != string(call2.In) {
		t.Errorf("Work's input changed: %s then %s", call1.In, call2.In)
	}
	if call1.Count != 0 || call1.Run != t0.Format(timeFormat) {
		t.Errorf("first run's context: count %d, start %s", call1.Count, call1.Run)
	}
	// The rerun state keeps its name and Parameters: Work, not
	// WorkAfterRedrive, so $$.Execution.StartTime, but the count is 1.
	if call2.Count != 1 {
		t.Errorf("redriven Work saw RedriveCount %d, want 1", call2.Count)
	}
	// History: the first run's events, then ExecutionRedriven with the
	// count, ids continuing.
	types := eventTypes(again)
	i := slices.Index(types, "ExecutionRedriven")
	if i < 0 || !slices.Equal(types[:i], eventTypes(first)) {
		t.Fatalf("history %v does not continue %v with ExecutionRedriven", types, eventTypes(first))
	}
	ev := again.History[i]
	if ev.Details.RedriveCount == nil || *ev.Details.RedriveCount != 1 || ev.PreviousEventID != again.History[i-1].ID {
		t.Errorf("ExecutionRedriven %+v", ev)
	}
	for j, e := range again.History {
		if e.ID != int64(j+1) {
			t.Fatalf("event %d has id %d", j, e.ID)
		}
	}
	if got := Path(again); !slices.Equal(got, []string{"Prepare", "IsRedriven", "Work", "Work", "Finish"}) {
		t.Errorf("path %v", got)
	}
	b, _ := json.Marshal(again.History[i])
	if !strings.Contains(string(b), `"executionRedrivenEventDetails":{"redriveCount":1}`) {
		t.Errorf("ExecutionRedriven JSON %s", b)
	}

	// A second failure and a second redrive: count 2, RedriveTime present
	// for the states entered after it.
	inv2 := newScripted()
	inv2.on(fnFinish, failWith("Broken"), echo)
	failedAgain := runSM(t, sm, `{"id":"e2"}`, Options{Invoker: inv2, Clock: clock})
	if failedAgain.Status != StatusFailed {
		t.Fatalf("%s", failedAgain.Status)
	}
	r1, err := sm.Redrive(context.Background(), failedAgain, Options{Invoker: inv2, Clock: clock})
	if err != nil || r1.Status != StatusSucceeded || r1.RedriveCount != 1 {
		t.Fatalf("redrive at Finish: %v %+v", err, r1)
	}
	if n := inv2.count(fnWork); n != 1 {
		t.Errorf("Work ran %d times, want 1: only Finish is redriven", n)
	}
}

func TestRedriveContextObject(t *testing.T) {
	// Before any redrive, RedriveTime is absent (the Choice takes Work);
	// after one, a state entered in the redriven run sees it.
	sm := mustParse(t, threeSteps)
	clock := NewFakeClock(t0)
	inv := newScripted()
	inv.on(fnPrepare, failWith("Outage"), echo)
	first := runSM(t, sm, `{}`, Options{Invoker: inv, Clock: clock})
	clock.Advance(time.Minute)
	again, err := sm.Redrive(context.Background(), first, Options{Invoker: inv, Clock: clock})
	if err != nil || again.Status != StatusSucceeded {
		t.Fatalf("%v %+v", err, again)
	}
	if got := Path(again); !slices.Equal(got, []string{"Prepare", "Prepare", "IsRedriven", "WorkAfterRedrive", "Finish"}) {
		t.Fatalf("path %v", got)
	}
	var call struct {
		Count int    `json:"count"`
		Run   string `json:"run"`
	}
	json.Unmarshal([]byte(inv.inputs[fnWork][0]), &call)
	if call.Count != 1 || call.Run != t0.Add(time.Minute).Format(timeFormat) {
		t.Errorf("redriven run's context: count %d, RedriveTime %s", call.Count, call.Run)
	}
}

func TestRedriveRefusals(t *testing.T) {
	sm := mustParse(t, threeSteps)
	clock := NewFakeClock(t0)
	ok := runSM(t, sm, `{}`, Options{Invoker: newScripted(), Clock: clock})
	bad := newScripted()
	bad.on(fnWork, failWith("Outage"))
	failed := runSM(t, sm, `{}`, Options{Invoker: bad, Clock: clock})
	running := *failed
	running.Status, running.StopDate = StatusRunning, time.Time{}
	long := *failed
	long.History = make([]HistoryEvent, MaxHistoryEvents)
	for _, tc := range []struct {
		name    string
		exec    *Execution
		advance time.Duration
		reason  string
	}{
		{"succeeded", ok, 0, ReasonSucceeded},
		{"running", &running, 0, ReasonRunning},
		{"too old", failed, RedrivePeriod + time.Hour, ReasonPeriodExpired},
		{"history full", &long, 0, ReasonHistoryLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewFakeClock(clock.Now().Add(tc.advance))
			inv := newScripted()
			_, err := sm.Redrive(context.Background(), tc.exec, Options{Invoker: inv, Clock: c})
			var nr *NotRedrivableError
			if !errors.As(err, &nr) || nr.Reason != tc.reason || nr.Name != tc.exec.Name {
				t.Fatalf("error %v, want NotRedrivableError %q", err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), tc.exec.Name) {
				t.Errorf("message %q does not name the execution and the reason", err)
			}
			if len(inv.calls) != 0 {
				t.Errorf("a refused redrive ran %v", inv.calls)
			}
		})
	}
	// Just inside the period it is accepted.
	c := NewFakeClock(clock.Now().Add(RedrivePeriod - time.Minute))
	if err := CheckRedrive(failed, c.Now()); err != nil {
		t.Errorf("within the period: %v", err)
	}
}

func TestRedriveResetsStateMachineTimeout(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"Slow","TimeoutSeconds":60,"States":{"Slow":{"Type":"Task","Resource":"`+fnWork+`","End":true}}}`)
	clock := NewFakeClock(t0)
	inv := newScripted()
	inv.on(fnWork, func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		return nil, clock.Sleep(ctx, 90*time.Second)
	}, func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		if err := clock.Sleep(ctx, 50*time.Second); err != nil {
			return nil, err
		}
		return in, nil
	})
	first := runSM(t, sm, `{}`, Options{Invoker: inv, Clock: clock})
	if first.Status != StatusTimedOut {
		t.Fatalf("first run %s", first.Status)
	}
	// 50 s after the redrive is within the minute, though long past the
	// first start.
	again, err := sm.Redrive(context.Background(), first, Options{Invoker: inv, Clock: clock})
	if err != nil || again.Status != StatusSucceeded {
		t.Fatalf("%v %s %s", err, again.Status, again.Cause)
	}
}

func TestRedriveOfFailStateFailsAgain(t *testing.T) {
	// The unsuccessful step of an execution that reached a Fail state is
	// the Fail state: a redrive enters it again and fails the same way.
	sm := mustParse(t, `{"StartAt":"Work","States":{
	 "Work":{"Type":"Task","Resource":"`+fnWork+`","Catch":[{"ErrorEquals":["Outage"],"ResultPath":"$.error","Next":"GaveUp"}],"End":true},
	 "GaveUp":{"Type":"Fail","Error":"GaveUp","Cause":"no luck"}}}`)
	inv := newScripted()
	inv.on(fnWork, failWith("Outage"), echo)
	clock := NewFakeClock(t0)
	first := runSM(t, sm, `{}`, Options{Invoker: inv, Clock: clock})
	again, err := sm.Redrive(context.Background(), first, Options{Invoker: inv, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != StatusFailed || again.Error != "GaveUp" || inv.count(fnWork) != 1 {
		t.Errorf("redrive of a Fail state: %s %s, Work ran %d times", again.Status, again.Error, inv.count(fnWork))
	}
}

// gate blocks a task until released, telling when it has started.
type gate struct {
	started, release chan struct{}
	once             sync.Once
}

func newGate() *gate { return &gate{started: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) task(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.release:
		return in, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("gave up after a minute waiting for %s", what)
	}
}

func TestSuspendLetsTheStateInFlightFinish(t *testing.T) {
	sm := mustParse(t, threeSteps)
	g := newGate()
	inv := newScripted()
	inv.on(fnWork, g.task)
	suspend := make(chan struct{})
	var checkpoints []*Execution
	var mu sync.Mutex
	done := make(chan *Execution)
	go func() {
		ex, _ := sm.Run(context.Background(), "held", json.RawMessage(`{"id":1}`), Options{Invoker: inv, Suspend: suspend,
			Checkpoint: func(e *Execution) { mu.Lock(); checkpoints = append(checkpoints, e); mu.Unlock() }})
		done <- ex
	}()
	waitClosed(t, g.started, "Work to start")
	close(suspend)
	close(g.release) // Work finishes within the grace
	var ex *Execution
	select {
	case ex = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the suspended run did not return within a minute")
	}
	if ex.Status != StatusRunning || ex.ResumeAt == nil || ex.ResumeAt.State != "Finish" || !ex.StopDate.IsZero() {
		t.Fatalf("suspended: %s at %+v", ex.Status, ex.ResumeAt)
	}
	if slices.Contains(eventTypes(ex), "ExecutionAborted") {
		t.Fatal("a suspended execution was aborted")
	}
	if got := Path(ex); !slices.Equal(got, []string{"Prepare", "IsRedriven", "Work"}) {
		t.Errorf("path %v: no state may be entered after the suspension", got)
	}
	mu.Lock()
	last := checkpoints[len(checkpoints)-1]
	mu.Unlock()
	if last.Status != StatusRunning || last.ResumeAt == nil || last.ResumeAt.State != "Finish" {
		t.Errorf("last checkpoint %s at %+v", last.Status, last.ResumeAt)
	}
	// The saved record survives JSON and resumes at Finish; Work does not
	// run again.
	b, err := json.Marshal(last)
	if err != nil {
		t.Fatal(err)
	}
	var saved Execution
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	out, err := sm.Resume(context.Background(), &saved, Options{Invoker: inv})
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("resume: %v %+v", err, out)
	}
	if inv.count(fnWork) != 1 || inv.count(fnFinish) != 1 {
		t.Errorf("calls %v", inv.calls)
	}
	if out.ResumeAt != nil || out.StopDate.IsZero() {
		t.Errorf("finished record keeps ResumeAt %+v or lacks a stop date", out.ResumeAt)
	}
	if got := Path(out); !slices.Equal(got, []string{"Prepare", "IsRedriven", "Work", "Finish"}) {
		t.Errorf("path after resume %v", got)
	}
}

func TestSuspendAfterGraceAbandonsTheStateNotTheExecution(t *testing.T) {
	sm := mustParse(t, threeSteps)
	g := newGate()
	inv := newScripted()
	inv.on(fnWork, g.task, echo)
	suspend := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Execution)
	go func() {
		ex, _ := sm.Run(ctx, "held", json.RawMessage(`{"id":1}`), Options{Invoker: inv, Suspend: suspend})
		done <- ex
	}()
	waitClosed(t, g.started, "Work to start")
	close(suspend)
	cancel() // the grace period is over while Work is in flight
	ex := <-done
	if ex.Status != StatusRunning || ex.ResumeAt == nil || ex.ResumeAt.State != "Work" {
		t.Fatalf("after the grace: %s at %+v", ex.Status, ex.ResumeAt)
	}
	out, err := sm.Resume(context.Background(), ex, Options{Invoker: inv})
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("resume: %v %+v", err, out)
	}
	if n := inv.count(fnWork); n != 2 {
		t.Errorf("Work ran %d times, want 2 (its result was never recorded)", n)
	}
	if n := inv.count(fnPrepare); n != 1 {
		t.Errorf("Prepare ran %d times, want 1", n)
	}
}

func TestSuspendCutsWaitShort(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":86400,"Next":"Finish"},"Finish":{"Type":"Task","Resource":"`+fnFinish+`","End":true}}}`)
	suspend := make(chan struct{})
	entered := make(chan struct{})
	done := make(chan *Execution)
	go func() {
		ex, _ := sm.Run(context.Background(), "napping", json.RawMessage(`{}`), Options{Invoker: newScripted(), Suspend: suspend,
			Observer: func(ev HistoryEvent) {
				if ev.Type == "WaitStateEntered" {
					close(entered)
				}
			}})
		done <- ex
	}()
	waitClosed(t, entered, "the Wait state")
	close(suspend)
	select {
	case ex := <-done:
		if ex.Status != StatusRunning || ex.ResumeAt == nil || ex.ResumeAt.State != "Nap" {
			t.Errorf("%s at %+v", ex.Status, ex.ResumeAt)
		}
	case <-time.After(time.Minute):
		t.Fatal("a suspended Wait did not end within a minute")
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	// Every checkpoint taken while the execution runs is a point a killed
	// process could have left behind: resuming from any of them finishes
	// the execution with the same output, running no completed Task again
	// except the one in flight.
	sm := mustParse(t, threeSteps)
	var checkpoints []*Execution
	inv := newScripted()
	full := runSM(t, sm, `{"id":"e1"}`, Options{Invoker: inv, Checkpoint: func(e *Execution) {
		checkpoints = append(checkpoints, e)
	}})
	if full.Status != StatusSucceeded {
		t.Fatal(full.Status)
	}
	if len(checkpoints) < 5 {
		t.Fatalf("%d checkpoints, want one per state entered plus start and end", len(checkpoints))
	}
	for i, cp := range checkpoints {
		b, _ := json.Marshal(cp)
		var saved Execution
		if err := json.Unmarshal(b, &saved); err != nil {
			t.Fatal(err)
		}
		if saved.Status != StatusRunning {
			if i != len(checkpoints)-1 || saved.Status != StatusSucceeded {
				t.Errorf("checkpoint %d is %s", i, saved.Status)
			}
			continue
		}
		last := saved.History[len(saved.History)-1]
		inv2 := newScripted()
		out, err := sm.Resume(context.Background(), &saved, Options{Invoker: inv2})
		if err != nil {
			t.Fatalf("checkpoint %d (%s): %v", i, last.Type, err)
		}
		if out.Status != StatusSucceeded || string(out.Output) != string(full.Output) {
			t.Errorf("checkpoint %d (%s): %s %s, want %s", i, last.Type, out.Status, out.Output, full.Output)
		}
		// Only the state the checkpoint entered (and those after it) run.
		ran := len(inv2.calls)
		done := 0
		for _, ev := range saved.History {
			if ev.Type == "TaskStateExited" {
				done++
			}
		}
		if ran != 3-done {
			t.Errorf("checkpoint %d (%s, %d tasks done): resume ran %v", i, last.Type, done, inv2.calls)
		}
		for j, e := range out.History {
			if e.ID != int64(j+1) {
				t.Fatalf("checkpoint %d: event %d has id %d", i, j, e.ID)
			}
		}
	}
	if _, err := sm.Resume(context.Background(), full, Options{}); err == nil {
		t.Error("resuming a SUCCEEDED execution was accepted")
	}
}

func TestResumeKeepsTimeoutFromTheStart(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"A","TimeoutSeconds":60,"States":{"A":{"Type":"Task","Resource":"`+fnWork+`","End":true}}}`)
	clock := NewFakeClock(t0)
	saved := &Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:x:gone", Name: "gone", StateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:x",
		Status: StatusRunning, Input: json.RawMessage(`{}`), StartDate: t0.Add(-2 * time.Minute)}
	out, err := sm.Resume(context.Background(), saved, Options{Invoker: newScripted(), Clock: clock})
	if err != nil || out.Status != StatusTimedOut {
		t.Fatalf("resumed past its TimeoutSeconds: %v %s", err, out.Status)
	}
}

func TestResumeOfChangedDefinition(t *testing.T) {
	sm := mustParse(t, threeSteps)
	saved := &Execution{Name: "old", Status: StatusRunning, Input: json.RawMessage(`{}`), ResumeAt: &Continuation{State: "Vanished", Input: json.RawMessage(`{}`)}}
	if _, err := sm.Resume(context.Background(), saved, Options{}); err == nil || !strings.Contains(err.Error(), "Vanished") {
		t.Errorf("error %v does not name the missing state", err)
	}
}
