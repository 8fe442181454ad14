package stack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

// The sample crash through the built bootstrap binaries under the Lambda
// Runtime API emulator: the mains, their environment wiring and the
// in-process handlers must give the same result.
func TestProcessMode(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	st, err := stack.Start(ctx, stack.Options{Root: root, LambdaMode: stack.ModeProcess, Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.LoadSample(ctx, root); err != nil {
		t.Fatal(err)
	}
	input, err := os.ReadFile(filepath.Join(root, stack.SampleExecution))
	if err != nil {
		t.Fatal(err)
	}
	exec, err := st.Run(ctx, "process-mode", input, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != asl.StatusSucceeded {
		t.Fatalf("execution %s: %s %s\nfunction logs:\n%s", exec.Status, exec.Error, exec.Cause, logs.String())
	}
	if got, want := strings.Join(asl.Path(exec), " "), "LookupSources SubmitTask IsDone ProcessResponse PrepareComponents Done"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	var out task.Output
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatal(err)
	}
	var result map[string]any
	if err := st.Blobs.GetJSON(ctx, out.Result.Result, &result); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, run{result: result})
	// The functions really ran as processes: their JSON logs went to Log.
	if !strings.Contains(logs.String(), `"execution_id"`) {
		t.Errorf("no function log line reached the stack's log:\n%s", logs.String())
	}
	raw, _ := json.Marshal(exec)
	for _, secret := range sampleSecrets {
		if strings.Contains(string(raw)+logs.String(), secret) {
			t.Errorf("a secret (%s) is in the history or the function logs", secret)
		}
	}
}

func TestUnknownLambdaMode(t *testing.T) {
	_, err := stack.Start(context.Background(), stack.Options{Root: root, LambdaMode: "docker"})
	if err == nil || !strings.Contains(err.Error(), `"docker"`) {
		t.Fatalf("err = %v, want one naming the mode", err)
	}
}
