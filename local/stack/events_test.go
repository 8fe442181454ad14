package stack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

// Every sample event in events/<function>/ through its handler, built with
// lambda.NewHandler as Lambda runs it, against a stack holding the sample
// project and debug file. An event that documents a failure must fail with
// exactly that error name; the others must succeed with output of their
// state's shape.
func TestSampleEventsThroughHandlers(t *testing.T) {
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Root: root, Config: testConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.LoadSample(ctx, root); err != nil {
		t.Fatal(err)
	}
	// Events whose documented outcome is a named error, and what a
	// missing Symbolicator task gives when polled against a fresh service.
	wantError := map[string]string{
		"poll-task/deadline-exceeded.json":   "DeadlineExceeded",
		"recover-task/budget-exhausted.json": "ResubmitBudgetExhausted",
		"poll-task/pending.json":             "TaskIdNotFound",
	}
	handlers := stack.Functions(st.Steps)
	n := 0
	for dir, handler := range handlers {
		files, _ := filepath.Glob(filepath.Join(root, "events", dir, "*.json"))
		if len(files) == 0 {
			t.Errorf("functions/%s has no sample event in events/%s/", dir, dir)
		}
		for _, file := range files {
			name := dir + "/" + filepath.Base(file)
			n++
			t.Run(name, func(t *testing.T) {
				event, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if dir == "process-response" || dir == "prepare-components" {
					storeResponse(t, st, event)
				}
				storeCrashFile(t, st, event)
				out, err := handler.Invoke(ctx, event)
				if want, ok := wantError[name]; ok {
					te := invokeError(err)
					if te == nil || te.Name != want {
						t.Fatalf("got %v, want %s", err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v (%s)", invokeError(err).Name, err)
				}
				checkOutput(t, dir, out)
			})
		}
	}
	if n == 0 {
		t.Fatal("no sample events found")
	}
}

// invokeError names a handler error as Lambda would.
func invokeError(err error) *asl.TaskError {
	if err == nil {
		return nil
	}
	return invoke.FunctionError(err)
}

// storeResponse writes the Symbolicator answer an event's task refers to.
func storeResponse(t *testing.T, st *stack.Stack, event []byte) {
	t.Helper()
	var in task.Input
	if err := json.Unmarshal(event, &in); err != nil {
		t.Fatal(err)
	}
	if in.State.Task == nil || in.State.Task.Response == nil {
		t.Fatal("the event has no task.response to read")
	}
	body := map[string]any{"status": "completed", "stacktraces": []any{map[string]any{"frames": []any{map[string]any{"status": "symbolicated", "function": "main"}}}}, "modules": []any{}}
	if err := st.Blobs.PutJSON(context.Background(), *in.State.Task.Response, body); err != nil {
		t.Fatal(err)
	}
}

// storeCrashFile writes the crash file an event refers to, if any: a
// minidump header is enough for the embedded Symbolicator to accept it.
func storeCrashFile(t *testing.T, st *stack.Stack, event []byte) {
	t.Helper()
	var in task.Input
	if err := json.Unmarshal(event, &in); err != nil {
		t.Fatal(err)
	}
	if in.State.CrashFile == nil {
		return
	}
	if err := st.Blobs.Put(context.Background(), *in.State.CrashFile, []byte("MDMP\x93\xa7\x00\x00"), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
}

// checkOutput decodes a step's output strictly into its type.
func checkOutput(t *testing.T, dir string, out []byte) {
	t.Helper()
	var v any
	switch dir {
	case "lookup-sources":
		v = &task.Lookup{}
	case "submit-task", "poll-task", "recover-task":
		v = &task.Progress{}
	case "process-response":
		v = &task.Result{}
	case "prepare-components":
		v = &task.Components{}
	default:
		t.Fatalf("no output type for %s", dir)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output %s is not a %T: %v", out, v, err)
	}
	if p, ok := v.(*task.Progress); ok && p.Status == "" {
		t.Errorf("progress without a status: %s", out)
	}
}
