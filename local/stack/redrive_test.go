package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

// outageSymbolicator is down (connections closed unanswered), unavailable
// (503) or up (every task completes at once).
type outageSymbolicator struct{ mode atomic.Value }

func (o *outageSymbolicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch o.mode.Load() {
	case "down":
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	case "unavailable":
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	io.Copy(io.Discard, r.Body) //nolint:errcheck // not looked at
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"completed","stacktraces":[{"frames":[{"status":"symbolicated","original_index":0,"instruction_addr":"0x1","function":"main"}]}],"modules":[]}`) //nolint:errcheck // the client went away
}

// TestRedriveRunsWithItsOwnDeadlineAndBudget: a redrive is a new run. An
// execution that gave up during an outage, redriven long after its
// deadline or with its resubmit budget spent, runs again from its failed
// state with a deadline counted from the redrive and a budget of its own.
func TestRedriveRunsWithItsOwnDeadlineAndBudget(t *testing.T) {
	for _, tc := range []struct {
		name, mode, failure, failedIn string
	}{
		{"unreachable, redriven after the deadline", "down", "SymbolicatorUnreachable", "SubmitTask"},
		{"budget spent", "unavailable", "ResubmitBudgetExhausted", "ResetWorker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			sym := &outageSymbolicator{}
			sym.mode.Store(tc.mode)
			srv := httptest.NewServer(sym)
			defer srv.Close()
			clock := asl.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			st, err := stack.Start(ctx, stack.Options{Root: root, StateDir: t.TempDir(), SymbolicatorURL: srv.URL + "/", Clock: clock,
				Config: task.Config{Deadline: 10 * time.Minute, ResubmitBudget: 2, NetworkRetryWaits: []time.Duration{time.Millisecond}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			p, err := stack.ReadProject(root + "/events/project/sample-project.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.LoadProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			input, _ := json.Marshal(map[string]any{"project_id": "42", "event_id": "0123456789abcdef0123456789abcdef", "kind": "payload",
				"payload": json.RawMessage(`{"stacktraces":[{"frames":[{"instruction_addr":"0x1"}]}],"modules":[]}`)})
			failed, err := st.Execute(ctx, "42_0123456789abcdef0123456789abcdef", input, stack.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path := asl.Path(failed)
			if failed.Status != asl.StatusFailed || failed.Error != tc.failure || path[len(path)-1] != tc.failedIn {
				t.Fatalf("during the outage: %s %s in %v", failed.Status, failed.Error, path)
			}
			// Symbolicator is back twenty minutes later, twice the deadline
			// after the start.
			clock.Advance(20 * time.Minute)
			sym.mode.Store("up")
			again, err := st.Redrive(ctx, failed, stack.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != asl.StatusSucceeded {
				t.Fatalf("redriven: %s %s: %s", again.Status, again.Error, again.Cause)
			}
			var out task.Output
			if err := json.Unmarshal(again.Output, &out); err != nil || out.Task.Run != 1 || out.Task.Resubmits() > 2 {
				t.Errorf("the redriven run's task: %+v (%v)", out.Task, err)
			}
		})
	}
}
