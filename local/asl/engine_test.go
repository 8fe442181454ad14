package asl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func mustParse(t testing.TB, def string) *StateMachine {
	t.Helper()
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return sm
}

func runSM(t testing.TB, sm *StateMachine, input string, opts Options) *Execution {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = NewFakeClock(t0)
	}
	ex, err := sm.Run(context.Background(), "test-exec", json.RawMessage(input), opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return ex
}

func eventTypes(ex *Execution) []string {
	var out []string
	for _, e := range ex.History {
		out = append(out, e.Type)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, def string
		want      []string // substrings of the joined error
	}{
		{"not json", `{`, []string{"not valid JSON"}},
		{"no StartAt", `{"States":{"A":{"Type":"Succeed"}}}`, []string{"StartAt: is required"}},
		{"StartAt unknown", `{"StartAt":"B","States":{"A":{"Type":"Succeed"}}}`, []string{`StartAt: names state "B"`}},
		{"bad type", `{"StartAt":"A","States":{"A":{"Type":"Sleep"}}}`, []string{`state "A": Type: must be one of`}},
		{"missing Next", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, []string{`state "A": Next: a Pass state needs Next`}},
		{"Next and End", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A","End":true}}}`, []string{`state "A": End: a state cannot have both`}},
		{"unknown field", `{"StartAt":"A","States":{"A":{"Type":"Pass","Resource":"x","End":true}}}`, []string{`state "A": Resource: field is not allowed in a Pass state`}},
		{"bad next", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Z"}}}`, []string{`state "A": Next: names state "Z"`}},
		{"unreachable", `{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}`, []string{`state "B": state is not reachable`}},
		{"bad path", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"a.b","End":true}}}`, []string{`state "A": InputPath: path "a.b" must start with $`}},
		{"ResultPath not reference", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, []string{`state "A": ResultPath:`, "reference path"}},
		{"bad intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope()"},"End":true}}}`, []string{`state "A": Parameters.x.$:`, "unknown function"}},
		{"States.ALL not last", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}],"End":true}}}`,
			[]string{`state "A": Retry[0].ErrorEquals: States.ALL must be in the last entry`}},
		{"States.ALL not alone", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Catch":[{"ErrorEquals":["States.ALL","X"],"Next":"A"}],"End":true}}}`,
			[]string{`state "A": Catch[0].ErrorEquals: States.ALL must appear alone`}},
		{"retry fields", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Retry":[{"ErrorEquals":["X"],"MaxAttempts":-1,"BackoffRate":0.5,"JitterStrategy":"SOME","IntervalSeconds":0}],"End":true}}}`,
			[]string{"Retry[0].MaxAttempts: must be an integer >= 0", "Retry[0].BackoffRate: must be a number >= 1.0", "Retry[0].JitterStrategy: must be FULL or NONE", "Retry[0].IntervalSeconds"}},
		{"catch without Next", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Catch":[{"ErrorEquals":["X"]}],"End":true}}}`,
			[]string{`state "A": Catch[0].Next: is required`}},
		{"task without resource", `{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}`, []string{`state "A": Resource: is required`}},
		{"timeouts", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":5,"HeartbeatSeconds":10,"End":true}}}`,
			[]string{`HeartbeatSeconds: must be smaller than TimeoutSeconds`}},
		{"lambda invoke without FunctionName", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"Payload":{}},"End":true}}}`,
			[]string{`state "A": Parameters: arn:aws:states:::lambda:invoke needs Parameters.FunctionName`}},
		{"choice operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumberEquals":1,"Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{`Choices[0].NumberEquals: unknown field or comparison operator`}},
		{"choice operand type", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":"1","Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{`Choices[0].NumericEquals: must be a number`}},
		{"nested Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.x","IsNull":true,"Next":"D"},"Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{`Choices[0].Not.Next: only top-level choice rules may have Next`}},
		{"wait two durations", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, []string{`state "W": Seconds: a Wait state needs exactly one`}},
		{"wait timestamp", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"tomorrow","End":true}}}`, []string{`state "W": Timestamp: "tomorrow" is not an RFC 3339 timestamp`}},
		{"fail both", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}`, []string{`state "F": ErrorPath: cannot be used together with Error`}},
		{"map nested error", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass"}}},"End":true}}}`,
			[]string{`state "M > I": Next: a Pass state needs Next`}},
		{"map without processor", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, []string{`state "M": ItemProcessor: is required`}},
		{"distributed map", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}}}`,
			[]string{`state "M": ItemReader: distributed Map is not supported`}},
		{"parallel branch error", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Succeed"}}},{"StartAt":"Y","States":{}}],"End":true}}}`,
			[]string{`state "P > Branches[1]": States: is required`}},
		{"jsonata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Succeed"}}}`, []string{"QueryLanguage: only JSONPath is supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.def))
			if err == nil {
				t.Fatal("Parse accepted the definition")
			}
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *DefinitionError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// echoInvoker returns each task's input and records the calls.
type echoInvoker struct {
	mu    sync.Mutex
	calls []string
}

func (e *echoInvoker) Invoke(_ context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	e.mu.Lock()
	e.calls = append(e.calls, resource+" "+string(input))
	e.mu.Unlock()
	return input, nil
}

func TestLambdaInvokeHistoryAndWrapping(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"Submit","States":{"Submit":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"arn:aws:lambda:eu-west-1:123456789012:function:submit:live","Payload":{"id.$":"$.id"}},"TimeoutSeconds":30,"End":true}}}`)
	inv := &echoInvoker{}
	ex := runSM(t, sm, `{"id":"e1"}`, Options{Invoker: inv, StateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:symbolicate"})
	if ex.Status != StatusSucceeded {
		t.Fatalf("status %s (%s: %s)", ex.Status, ex.Error, ex.Cause)
	}
	if want := []string{`arn:aws:lambda:eu-west-1:123456789012:function:submit:live {"id":"e1"}`}; !slices.Equal(inv.calls, want) {
		t.Errorf("invoker calls %q, want %q", inv.calls, want)
	}
	var out map[string]any
	if err := json.Unmarshal(ex.Output, &out); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"} {
		if _, ok := out[k]; !ok {
			t.Errorf("output lacks %s: %s", k, ex.Output)
		}
	}
	if p, _ := json.Marshal(out["Payload"]); string(p) != `{"id":"e1"}` {
		t.Errorf("Payload %s, want the function's result", p)
	}
	wantTypes := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}
	if got := eventTypes(ex); !slices.Equal(got, wantTypes) {
		t.Fatalf("events %v, want %v", got, wantTypes)
	}
	sched := ex.History[2].Details
	if sched.ResourceType != "lambda" || sched.Resource != "invoke" || sched.Region != "eu-west-1" || sched.TimeoutInSeconds != 30 ||
		sched.Parameters != `{"FunctionName":"arn:aws:lambda:eu-west-1:123456789012:function:submit:live","Payload":{"id":"e1"}}` {
		t.Errorf("TaskScheduled details %+v", sched)
	}
	if ex.ID != "arn:aws:states:eu-west-1:123456789012:execution:symbolicate:test-exec" {
		t.Errorf("execution id %s", ex.ID)
	}
	for i, e := range ex.History {
		if e.ID != int64(i+1) || e.PreviousEventID != int64(i) {
			t.Errorf("event %d: id %d previous %d", i, e.ID, e.PreviousEventID)
		}
	}
	// Same execution name, same clock: same output (the request id is derived).
	again := runSM(t, sm, `{"id":"e1"}`, Options{Invoker: inv, StateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:symbolicate"})
	if string(again.Output) != string(ex.Output) {
		t.Errorf("rerun output differs:\n%s\n%s", ex.Output, again.Output)
	}
}

func TestHistoryJSONShape(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}}`)
	inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return nil, &TaskError{Name: "ServiceUnavailable", Cause: `{"errorMessage":"503","errorType":"ServiceUnavailable"}`}
	})
	ex := runSM(t, sm, `{"a":1}`, Options{Invoker: inv})
	if ex.Status != StatusFailed || ex.Error != "ServiceUnavailable" {
		t.Fatalf("status %s error %s", ex.Status, ex.Error)
	}
	b, err := json.Marshal(ex.History)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "history-lambda-failed.golden.json")
	var pretty []any
	if err := json.Unmarshal(b, &pretty); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(pretty, "", "  ")
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("history JSON differs from %s (run with -update after checking):\n%s", golden, got)
	}
	if got := ex.History[4].String(); got != `#5 LambdaFunctionFailed ServiceUnavailable: {"errorMessage":"503","errorType":"ServiceUnavailable"}` {
		t.Errorf("String() = %q", got)
	}
	if got := ex.History[1].String(); got != "#2 TaskStateEntered Call" {
		t.Errorf("String() = %q", got)
	}
	execJSON, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	var execBack Execution
	if err := json.Unmarshal(execJSON, &execBack); err != nil {
		t.Fatal(err)
	}
	if execBack.ID != ex.ID || execBack.Status != StatusFailed || execBack.Error != "ServiceUnavailable" || len(execBack.History) != len(ex.History) ||
		!strings.Contains(string(execJSON), `"executionArn":`) {
		t.Errorf("Execution JSON round trip: %s", execJSON)
	}
	var back []HistoryEvent
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(ex.History) || back[3].Details != ex.History[3].Details || !back[3].Timestamp.Equal(ex.History[3].Timestamp) {
		t.Errorf("history does not survive a JSON round trip: %+v vs %+v", back[3], ex.History[3])
	}
}

func TestRetryBackoffOnClock(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Parameters":{"retry.$":"$$.State.RetryCount"},
		"Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":2,"BackoffRate":3,"MaxDelaySeconds":10,"MaxAttempts":4}],"End":true}}}`)
	var retryCounts []string
	inv := InvokerFunc(func(_ context.Context, _ string, in json.RawMessage) (json.RawMessage, error) {
		retryCounts = append(retryCounts, string(in))
		if len(retryCounts) < 4 {
			return nil, &TaskError{Name: "Busy"}
		}
		return json.RawMessage(`"done"`), nil
	})
	clock := NewFakeClock(t0)
	ex := runSM(t, sm, `{}`, Options{Invoker: inv, Clock: clock})
	if ex.Status != StatusSucceeded {
		t.Fatalf("status %s (%s)", ex.Status, ex.Cause)
	}
	// Delays 2, 6, then 18 capped to 10.
	if d := ex.StopDate.Sub(ex.StartDate); d != 18*time.Second {
		t.Errorf("virtual time spent %v, want 18s", d)
	}
	want := []string{`{"retry":0}`, `{"retry":1}`, `{"retry":2}`, `{"retry":3}`}
	if !slices.Equal(retryCounts, want) {
		t.Errorf("inputs %v, want %v", retryCounts, want)
	}
	failed := 0
	for _, e := range ex.History {
		if e.Type == "LambdaFunctionFailed" {
			failed++
			if e.Details.Error != "Busy" {
				t.Errorf("LambdaFunctionFailed error %q", e.Details.Error)
			}
		}
	}
	if failed != 3 {
		t.Errorf("%d LambdaFunctionFailed events, want 3", failed)
	}
}

func TestRetryFullJitterStaysBelowDelay(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"MaxAttempts":1,"JitterStrategy":"FULL"}],"End":true}}}`)
	for range 20 {
		calls := 0
		inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			calls++
			if calls == 1 {
				return nil, errors.New("plain error")
			}
			return json.RawMessage(`1`), nil
		})
		ex := runSM(t, sm, `{}`, Options{Invoker: inv})
		if d := ex.StopDate.Sub(ex.StartDate); ex.Status != StatusSucceeded || d < 0 || d > 10*time.Second {
			t.Fatalf("status %s, waited %v; want success after at most 10s", ex.Status, d)
		}
	}
}

func TestTaskErrorValueOrPointer(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`)
	for _, err := range []error{TaskError{Name: "ByValue", Cause: "v"}, fmt.Errorf("wrapped: %w", &TaskError{Name: "ByPointer", Cause: "p"})} {
		inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) { return nil, err })
		ex := runSM(t, sm, `{}`, Options{Invoker: inv})
		var want string
		switch e := err.(type) {
		case TaskError:
			want = e.Name
		default:
			want = "ByPointer"
		}
		if ex.Error != want {
			t.Errorf("%v: error %q, want %q", err, ex.Error, want)
		}
	}
}

func TestPlainErrorIsTaskFailed(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`)
	inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return nil, fmt.Errorf("connection refused")
	})
	ex := runSM(t, sm, `{}`, Options{Invoker: inv})
	if ex.Status != StatusFailed || ex.Error != ErrTaskFailed || ex.Cause != "connection refused" {
		t.Fatalf("got %s %s %q", ex.Status, ex.Error, ex.Cause)
	}
}

func TestWaitAdvancesFakeClock(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"Next":"T"},
		"T":{"Type":"Pass","Parameters":{"entered.$":"$$.State.EnteredTime","started.$":"$$.Execution.StartTime"},"End":true}}}`)
	ex := runSM(t, sm, `{}`, Options{})
	want := `{"entered":"2025-03-04T06:06:07.000Z","started":"2025-03-04T05:06:07.000Z"}`
	if ex.Status != StatusSucceeded || !sameJSON(ex.Output, json.RawMessage(want)) {
		t.Fatalf("status %s output %s, want %s", ex.Status, ex.Output, want)
	}
	types := eventTypes(ex)
	if !slices.Contains(types, "WaitStateEntered") || !slices.Contains(types, "WaitStateExited") {
		t.Errorf("events %v lack Wait events", types)
	}
}

func TestExecutionTimeoutEvent(t *testing.T) {
	sm := mustParse(t, `{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"Next":"W2"},"W2":{"Type":"Wait","Seconds":31,"End":true}}}`)
	ex := runSM(t, sm, `{}`, Options{})
	if ex.Status != StatusTimedOut || ex.Error != ErrTimeout {
		t.Fatalf("status %s error %s", ex.Status, ex.Error)
	}
	last := ex.History[len(ex.History)-1]
	if last.Type != "ExecutionTimedOut" || last.Details.Error != ErrTimeout {
		t.Errorf("last event %+v", last)
	}
	if got := Path(ex); !slices.Equal(got, []string{"W", "W2"}) {
		t.Errorf("path %v", got)
	}
}

// A Task whose invoker never answers times out on the real clock.
func TestTaskTimeoutRealClock(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":1,"End":true}}}`)
	inv := InvokerFunc(func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ex := runSM(t, sm, `{}`, Options{Invoker: inv, Clock: RealClock{}})
	if ex.Status != StatusFailed || ex.Error != ErrTimeout {
		t.Fatalf("status %s error %s", ex.Status, ex.Error)
	}
	if !slices.Contains(eventTypes(ex), "LambdaFunctionTimedOut") {
		t.Errorf("events %v lack LambdaFunctionTimedOut", eventTypes(ex))
	}
}

func TestAbortOnContextCancel(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},"Caught":{"Type":"Pass","End":true}}}`)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	inv := InvokerFunc(func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	go func() {
		<-started
		cancel()
	}()
	ex, err := sm.Run(ctx, "abort-me", json.RawMessage(`{}`), Options{Invoker: inv, Clock: NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != StatusAborted {
		t.Fatalf("status %s (%s), want ABORTED and no catch", ex.Status, ex.Error)
	}
	if got := Path(ex); !slices.Equal(got, []string{"T"}) {
		t.Errorf("path %v", got)
	}
	if last := ex.History[len(ex.History)-1]; last.Type != "ExecutionAborted" {
		t.Errorf("last event %s", last.Type)
	}
}

func TestMapConcurrencyLimitAndEvents(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,
		"ItemProcessor":{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:w","End":true}}},"End":true}}}`)
	var inFlight, peak atomic.Int32
	inv := InvokerFunc(func(_ context.Context, _ string, in json.RawMessage) (json.RawMessage, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // give other iterations a chance to overlap
		inFlight.Add(-1)
		return in, nil
	})
	ex := runSM(t, sm, `[0,1,2,3,4,5,6,7]`, Options{Invoker: inv})
	if ex.Status != StatusSucceeded || string(ex.Output) != `[0,1,2,3,4,5,6,7]` {
		t.Fatalf("status %s output %s", ex.Status, ex.Output)
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrency %d, want 1..2", p)
	}
	count := map[string]int{}
	for _, e := range ex.History {
		count[e.Type]++
	}
	if count["MapIterationStarted"] != 8 || count["MapIterationSucceeded"] != 8 || count["MapStateStarted"] != 1 || count["MapStateSucceeded"] != 1 || count["TaskStateEntered"] != 8 {
		t.Errorf("event counts %v", count)
	}
	if got := Path(ex); !slices.Equal(got, []string{"M"}) {
		t.Errorf("path %v, want only the top-level Map", got)
	}
}

func TestObserverSeesEveryEventInOrder(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},{"StartAt":"B","States":{"B":{"Type":"Wait","Seconds":1,"End":true}}}],"Next":"S"},
		"S":{"Type":"Succeed"}}}`)
	var seen []HistoryEvent
	ex := runSM(t, sm, `{}`, Options{Observer: func(e HistoryEvent) { seen = append(seen, e) }})
	if ex.Status != StatusSucceeded {
		t.Fatal(ex.Status)
	}
	if len(seen) != len(ex.History) {
		t.Fatalf("observer saw %d events, history has %d", len(seen), len(ex.History))
	}
	for i := range seen {
		if seen[i].ID != ex.History[i].ID || seen[i].Type != ex.History[i].Type {
			t.Fatalf("event %d: observer %s, history %s", i, seen[i].Type, ex.History[i].Type)
		}
		if seen[i].PreviousEventID >= seen[i].ID {
			t.Errorf("event %d previous id %d not before %d", i, seen[i].PreviousEventID, seen[i].ID)
		}
	}
	if got := Path(ex); !slices.Equal(got, []string{"P", "S"}) {
		t.Errorf("path %v", got)
	}
	if !slices.Contains(eventTypes(ex), "ParallelStateStarted") || !slices.Contains(eventTypes(ex), "ParallelStateSucceeded") {
		t.Errorf("events %v", eventTypes(ex))
	}
}

func TestRunBadArguments(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"S","States":{"S":{"Type":"Succeed"}}}`)
	if _, err := sm.Run(context.Background(), "x", json.RawMessage(`{`), Options{}); err == nil || !strings.Contains(err.Error(), "input is not valid JSON") {
		t.Errorf("bad input: %v", err)
	}
	if _, err := sm.Run(context.Background(), "has space", nil, Options{}); err == nil || !strings.Contains(err.Error(), "execution name") {
		t.Errorf("bad name: %v", err)
	}
	ex, err := sm.Run(context.Background(), "", nil, Options{})
	if err != nil || ex.Status != StatusSucceeded || len(ex.Name) != 36 || string(ex.Output) != `{}` {
		t.Errorf("defaults: %v %+v", err, ex)
	}
}

func TestDataLimitExceeded(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:big",
		"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},"Caught":{"Type":"Pass","End":true}}}`)
	big := json.RawMessage(`"` + strings.Repeat("x", MaxPayloadSize) + `"`)
	inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) { return big, nil })
	ex := runSM(t, sm, `{}`, Options{Invoker: inv})
	if ex.Status != StatusFailed || ex.Error != ErrDataLimitExceeded || !strings.Contains(ex.Cause, "function:big") {
		t.Fatalf("got %s %s %q; want an uncatchable States.DataLimitExceeded naming the function", ex.Status, ex.Error, ex.Cause)
	}
	if _, err := sm.Run(context.Background(), "big-input", big, Options{}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized input: %v", err)
	}
}

func TestTaskWithoutInvokerFails(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`)
	ex := runSM(t, sm, `{}`, Options{})
	if ex.Status != StatusFailed || ex.Error != ErrRuntime || !strings.Contains(ex.Cause, "no task invoker") {
		t.Fatalf("got %s %s %q", ex.Status, ex.Error, ex.Cause)
	}
}

func TestServiceIntegrationEvents(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"Put","States":{"Put":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:putItem","Parameters":{"TableName":"tasks"},"End":true}}}`)
	inv := &echoInvoker{}
	ex := runSM(t, sm, `{}`, Options{Invoker: inv})
	if ex.Status != StatusSucceeded {
		t.Fatal(ex.Status, ex.Cause)
	}
	if inv.calls[0] != `arn:aws:states:::dynamodb:putItem {"TableName":"tasks"}` {
		t.Errorf("call %q", inv.calls[0])
	}
	d := ex.History[2].Details
	if ex.History[2].Type != "TaskScheduled" || d.ResourceType != "dynamodb" || d.Resource != "putItem" {
		t.Errorf("event %s %+v", ex.History[2].Type, d)
	}
}

func TestMermaidGolden(t *testing.T) {
	def, err := os.ReadFile(filepath.Join("testdata", "symbolicate-like.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	sm := mustParse(t, string(def))
	calls := 0
	inv := InvokerFunc(func(_ context.Context, res string, in json.RawMessage) (json.RawMessage, error) {
		switch res {
		case "PollTask":
			calls++
			if calls < 2 {
				return json.RawMessage(`{"status":"pending","retry_after":5}`), nil
			}
			return json.RawMessage(`{"status":"completed"}`), nil
		case "SubmitTask":
			return json.RawMessage(`{"status":"pending","retry_after":5}`), nil
		}
		return in, nil
	})
	ex := runSM(t, sm, `{"project_id":"42"}`, Options{Invoker: inv})
	if ex.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s", ex.Status, ex.Error, ex.Cause)
	}
	if names := sm.StateNames(); len(names) != 9 || names[0] != "LookupSources" || names[1] != "SubmitTask" {
		t.Errorf("StateNames %v, want the 9 states breadth-first from LookupSources", names)
	}
	path := Path(ex)
	wantPath := []string{"LookupSources", "SubmitTask", "IsDone", "WaitForTask", "PollTask", "IsDone", "WaitForTask", "PollTask", "IsDone", "ProcessResponse", "Done"}
	if !slices.Equal(path, wantPath) {
		t.Fatalf("path %v, want %v", path, wantPath)
	}
	got := Mermaid(sm, path, nil)
	golden := filepath.Join("testdata", "symbolicate-like.mmd")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Mermaid output differs from %s (run with -update after checking):\n%s", golden, got)
	}
	if !strings.Contains(got, "class") || strings.Count(got, "linkStyle") < 5 {
		t.Errorf("visited states are not highlighted:\n%s", got)
	}
}

func TestFakeClockTimers(t *testing.T) {
	c := NewFakeClock(t0)
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "a") })
	stop := c.AfterFunc(3*time.Second, func() { fired = append(fired, "c") })
	stop()
	if err := c.Sleep(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fired, []string{"a", "b"}) || !c.Now().Equal(t0.Add(5*time.Second)) {
		t.Errorf("fired %v at %v", fired, c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || !c.Now().Equal(t0.Add(5*time.Second)) {
		t.Errorf("Sleep on a done context: %v, now %v", err, c.Now())
	}
}

// BenchmarkEngine measures engine time per state: a 3-state loop run
// through many iterations with no-op tasks on the instant clock.
func BenchmarkEngine(b *testing.B) {
	sm := mustParse(b, `{"StartAt":"Init","States":{
		"Init":{"Type":"Pass","Result":0,"ResultPath":"$.i","Next":"Work"},
		"Work":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"noop","Payload.$":"$"},
			"ResultSelector":{"p.$":"$.Payload"},"ResultPath":"$.last","Retry":[{"ErrorEquals":["States.ALL"]}],"Next":"Incr"},
		"Incr":{"Type":"Pass","Parameters":{"i.$":"States.MathAdd($.i, 1)","data.$":"$.data"},"Next":"Check"},
		"Check":{"Type":"Choice","Choices":[{"Variable":"$.i","NumericGreaterThanEquals":100,"Next":"Done"}],"Default":"Work"},
		"Done":{"Type":"Succeed"}}}`)
	inv := InvokerFunc(func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"ok":true}`), nil
	})
	input := json.RawMessage(`{"data":{"project_id":"42","modules":[{"debug_id":"c18b43e5-a21f-bc87-0711-3bf5b42431fb","code_file":"/usr/lib/libc.so.6"}]}}`)
	states := 0
	b.ReportAllocs()
	for b.Loop() {
		ex, err := sm.Run(context.Background(), "bench", input, Options{Invoker: inv, Clock: NewFakeClock(t0)})
		if err != nil || ex.Status != StatusSucceeded {
			b.Fatalf("%v %s %s", err, ex.Status, ex.Cause)
		}
		states = len(Path(ex))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(states), "ns/state")
}

func TestRuntimeFailuresNameTheProblem(t *testing.T) {
	tests := []struct {
		name, def, input   string
		wantErr, wantCause string
	}{
		{"items not array", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.x","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}}}`,
			`{"x":{"a":1}}`, ErrRuntime, "ItemsPath must select an array, got object"},
		{"max concurrency path", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrencyPath":"$.n","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}}}`,
			`{"n":-1,"xs":[]}`, ErrRuntime, "MaxConcurrencyPath '$.n' must select a non-negative integer"},
		{"item selector path", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","ItemSelector":{"v.$":"$.nope"},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}}}`,
			`{"xs":[1]}`, ErrRuntime, "'v.$' could not be found"},
		{"fail intrinsic cause", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","CausePath":"States.Format('task {} failed', $.id)"}}}`,
			`{"id":7}`, "E", "task 7 failed"},
		{"fail errorpath not string", `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.n"}}}`,
			`{"n":1}`, ErrRuntime, "ErrorPath '$.n' must select a string, got number"},
		{"timeout path", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSecondsPath":"$.t","End":true}}}`,
			`{"t":0}`, ErrRuntime, "TimeoutSecondsPath '$.t' must select a positive integer"},
		{"lambda invoke function name", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName.$":"$.f"},"End":true}}}`,
			`{"f":5}`, ErrRuntime, "Parameters.FunctionName to be a string"},
		{"intrinsic", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"x.$":"States.ArrayGetItem($.a, 3)"},"End":true}}}`,
			`{"a":[1]}`, ErrIntrinsicFailure, "Parameters.x.$: States.ArrayGetItem($.a, 3): States.ArrayGetItem: index 3 out of range"},
		{"result path", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.a.b","End":true}}}`,
			`{"a":[1]}`, ErrResultPathMatchFailure, `cannot set field "b" in a value of type array`},
		{"timestamp path", `{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.t","End":true}}}`,
			`{"t":"2024-01-01t00:00:00z"}`, ErrRuntime, "must select an RFC 3339 timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sm := mustParse(t, tc.def)
			ex := runSM(t, sm, tc.input, Options{Invoker: &echoInvoker{}})
			if ex.Status != StatusFailed || ex.Error != tc.wantErr || !strings.Contains(ex.Cause, tc.wantCause) {
				t.Fatalf("got %s %s %q; want FAILED %s with a cause containing %q", ex.Status, ex.Error, ex.Cause, tc.wantErr, tc.wantCause)
			}
		})
	}
}

// Step Functions keeps object members in the order they were written:
// input members first, then ResultPath's, and Parameters in template order.
func TestOutputKeepsMemberOrder(t *testing.T) {
	sm := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"zeta.$":"$.z","alpha":1,"mid.$":"States.JsonMerge($.m, $.n, false)"},"ResultPath":"$.r","Next":"Q"},
		"Q":{"Type":"Pass","InputPath":"$.r","ResultPath":"$.c.b","End":true}}}`)
	ex := runSM(t, sm, `{"z":1,"a":2,"m":{"y":1,"x":2},"n":{"w":3,"y":4}}`, Options{})
	want := `{"z":1,"a":2,"m":{"y":1,"x":2},"n":{"w":3,"y":4},"r":{"zeta":1,"alpha":1,"mid":{"y":4,"x":2,"w":3}},"c":{"b":{"zeta":1,"alpha":1,"mid":{"y":4,"x":2,"w":3}}}}`
	if string(ex.Output) != want {
		t.Errorf("output\n%s\nwant\n%s", ex.Output, want)
	}
	wantP := `{"z":1,"a":2,"m":{"y":1,"x":2},"n":{"w":3,"y":4},"r":{"zeta":1,"alpha":1,"mid":{"y":4,"x":2,"w":3}}}`
	if got := ex.History[2].Details.Output; got != wantP {
		t.Errorf("P output\n%s\nwant\n%s", got, wantP)
	}
}
