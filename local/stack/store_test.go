package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/internal/netns"
	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/task"
)

// ddbLocal is the DynamoDB Local this test binary shares.
var ddbLocal dynamolocal.Shared

func TestMain(m *testing.M) {
	netns.RelayMain() // DynamoDB Local runs behind a namespace relay
	code := m.Run()
	ddbLocal.Stop()
	os.Exit(code)
}

// TestConcurrentStepsOnOneTask runs the workflow's steps for one event
// from many executions at once (duplicate deliveries, redrives), with the
// tasks table on DynamoDB Local: submissions and lost-task recoveries race
// on the same task record, and the conditional writes keep every update.
func TestConcurrentStepsOnOneTask(t *testing.T) {
	const n = 8
	ctx := context.Background()
	srv := ddbLocal.Get(t)
	store, err := dynamo.New(srv.Client(), dynamo.Config{ProjectsTable: "stack-projects", TasksTable: "stack-tasks"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTables(ctx); err != nil {
		t.Fatal(err)
	}
	env, err := chaos.StartEnv(ctx, chaos.EnvConfig{Root: root, Config: testConfig, Clock: asl.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	steps := env.Stack.Steps
	steps.Tasks = store

	raw, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := task.Input{ExecutionID: "arn:aws:states:us-east-1:000000000000:execution:SymbolicateStateMachine:first", StartedAt: time.Now()}
	if err := json.Unmarshal(raw, &in.State); err != nil {
		t.Fatal(err)
	}
	if in.State.Lookup, err = steps.LookupSources(ctx, in); err != nil {
		t.Fatal(err)
	}
	first, err := steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			sub := in
			sub.ExecutionID = fmt.Sprintf("%s-%d", in.ExecutionID, i)
			if _, err := steps.SubmitTask(ctx, sub); err != nil {
				errs <- fmt.Errorf("submit %d: %w", i, err)
			}
		})
		wg.Go(func() {
			rec := in
			rec.Reason = task.ReasonLost
			st := rec.State
			st.Task = first
			rec.State = st
			if _, err := steps.RecoverTask(ctx, rec); err != nil {
				errs <- fmt.Errorf("recover %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := store.GetTask(ctx, in.State.ProjectID, in.State.EventID)
	if err != nil {
		t.Fatal(err)
	}
	// One create, then one update per submission and per recovery.
	if got.Attempts != n+1 || got.Version != 2*n+1 {
		t.Errorf("after 1+%d submissions and %d recoveries: attempts=%d version=%d, want %d and %d",
			n, n, got.Attempts, got.Version, n+1, 2*n+1)
	}
}
