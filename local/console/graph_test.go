package console

import (
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/statemachine"
)

func ev(typ, name, errName string) asl.HistoryEvent {
	return asl.HistoryEvent{Type: typ, Details: asl.EventDetails{Name: name, Error: errName}}
}

// TestTrace: the failed state, the unhandled error, retries and the catch
// taken are read from the history as an operator would.
func TestTrace(t *testing.T) {
	g, err := parseGraph(statemachine.Definition)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		status    string
		history   []asl.HistoryEvent
		failed    string
		unhandled bool
		caught    [2]string
		retries   map[string]int
	}{
		{"unhandled in SubmitTask", asl.StatusFailed, []asl.HistoryEvent{
			ev("TaskStateEntered", "LookupSources", ""), ev("LambdaFunctionScheduled", "", ""), ev("TaskStateExited", "LookupSources", ""),
			ev("TaskStateEntered", "SubmitTask", ""), ev("LambdaFunctionScheduled", "", ""), ev("LambdaFunctionFailed", "", "Lambda.ServiceException"),
			ev("LambdaFunctionScheduled", "", ""), ev("LambdaFunctionFailed", "", "SymbolicatorUnreachable"), ev("ExecutionFailed", "", "SymbolicatorUnreachable"),
		}, "SubmitTask", true, [2]string{}, map[string]int{"SubmitTask": 1}},
		{"caught, then the Fail state", asl.StatusFailed, []asl.HistoryEvent{
			ev("TaskStateEntered", "PollTask", ""), ev("LambdaFunctionScheduled", "", ""), ev("LambdaFunctionFailed", "", "ServiceUnavailable"),
			ev("TaskStateEntered", "ResetWorker", ""), ev("LambdaFunctionScheduled", "", ""), ev("TaskStateExited", "ResetWorker", ""),
			ev("FailStateEntered", "SymbolicationFailed", ""), ev("ExecutionFailed", "", "DeadlineExceeded"),
		}, "SymbolicationFailed", false, [2]string{"PollTask", "ResetWorker"}, nil},
		{"succeeded", asl.StatusSucceeded, []asl.HistoryEvent{
			ev("PassStateEntered", "Done", ""), ev("PassStateExited", "Done", ""), ev("ExecutionSucceeded", "", ""),
		}, "", false, [2]string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := traceOf(&asl.Execution{Status: tt.status, History: tt.history})
			if tr.failed != tt.failed || tr.unhandled != tt.unhandled {
				t.Errorf("failed %q unhandled %v, want %q %v", tr.failed, tr.unhandled, tt.failed, tt.unhandled)
			}
			if tt.caught != ([2]string{}) && !tr.caught[tt.caught] {
				t.Errorf("catch %v not seen: %v", tt.caught, tr.caught)
			}
			for s, n := range tt.retries {
				if got := tr.attempts[s] - tr.entered[s]; got != n {
					t.Errorf("%s: %d retries, want %d", s, got, n)
				}
			}
			svg := g.layout(tr, "Err")
			var marked []string
			for _, n := range svg.Nodes {
				if strings.Contains(n.Class, "failed") {
					marked = append(marked, n.Name)
				}
			}
			if tt.failed == "" && len(marked) != 0 || tt.failed != "" && (len(marked) != 1 || marked[0] != tt.failed) {
				t.Errorf("nodes marked failed: %v", marked)
			}
			unhandledEdges := 0
			for _, e := range svg.Edges {
				if strings.Contains(e.Class, "unhandled") {
					unhandledEdges++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.unhandled]; unhandledEdges != want {
				t.Errorf("%d unhandled edges, want %d", unhandledEdges, want)
			}
		})
	}
}

// TestParseGraph: every state of the definition is drawn once, with
// every transition; a definition that is not one is an error.
func TestParseGraph(t *testing.T) {
	g, err := parseGraph(statemachine.Definition)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.order) != 12 || g.order[0] != "LookupSources" {
		t.Errorf("states: %v", g.order)
	}
	catches := 0
	for _, e := range g.edges {
		if e.kind == edgeCatch {
			catches++
		}
	}
	if catches != 3 {
		t.Errorf("%d catch edges, want 3", catches)
	}
	for _, bad := range []string{``, `{}`, `{"StartAt":"X","States":{}}`, `[1]`} {
		if _, err := parseGraph([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDuration(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	start := now.Add(-5 * time.Second)
	for _, tt := range []struct {
		start, stop time.Time
		want        string
	}{
		{start, now, "5s"},
		{start, time.Time{}, "5s so far"},
		{now, start, "0s"}, // a clock that stepped back
		{time.Time{}, now, "0s"},
	} {
		if got := duration(tt.start, tt.stop, now); got != tt.want {
			t.Errorf("duration(%v, %v) = %q, want %q", tt.start, tt.stop, got, tt.want)
		}
	}
}
