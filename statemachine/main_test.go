package statemachine_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/internal/netns"
	"github.com/symflow/symflow/local/samtemplate"
	"github.com/symflow/symflow/shared/task"
)

// root is the repository root, where template.yaml lives.
const root = ".."

// errorProcessEnv makes the test binary a Lambda function process whose
// handler returns the error value named in its input (see TestMain). It
// is read before m.Run parses flags, so that process needs no arguments.
const errorProcessEnv = "SYMFLOW_TEST_ERROR_FUNCTION"

func TestMain(m *testing.M) {
	// DynamoDB Local runs in a private network namespace through this
	// binary as its relay.
	netns.RelayMain()
	if os.Getenv(errorProcessEnv) == "1" {
		// Runs until the runtime API goes away; lambda.Start exits the
		// process then.
		lambda.Start(func(ctx context.Context, in struct {
			Name string `json:"name"`
		}) (any, error) {
			if err, ok := errorValues()[in.Name]; ok {
				return nil, err
			}
			return nil, errors.New("no error value named " + in.Name)
		})
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// errorValues is one value of each of shared/task's error types, by the
// name the state machine uses for it.
func errorValues() map[string]error {
	return map[string]error{
		"TaskIdNotFound":          &task.TaskIdNotFound{RequestID: "3f2a7c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b"},
		"ServiceUnavailable":      &task.ServiceUnavailable{Op: "poll"},
		"ResubmitBudgetExhausted": &task.ResubmitBudgetExhausted{Budget: 10, LostTasks: 6, Unavailable: 5},
		"DeadlineExceeded":        &task.DeadlineExceeded{Deadline: 15 * time.Minute, Elapsed: 16 * time.Minute, Polls: 200},
		"SymbolicatorUnreachable": &task.SymbolicatorUnreachable{URL: "http://127.0.0.1:9/", Reason: "connection refused"},
		"MalformedResponse":       &task.MalformedResponse{Op: "poll", URL: "http://127.0.0.1:9/", Reason: "HTTP 200, body is not JSON"},
		"ProjectNotFound":         &task.ProjectNotFound{ProjectID: "42"},
		"InvalidInput":            &task.InvalidInput{Field: "event_id", Message: "is required"},
		"InternalError":           &task.InternalError{Op: "record task", Err: errors.New("table not found")},
	}
}

// requireTool returns the path of an executable the tests need, failing
// (never skipping) when it is missing: a skipped check would pass unseen.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if filepath.Base(name) != name {
		p, err := filepath.Abs(name)
		if err == nil {
			if _, err = os.Stat(p); err == nil {
				return p
			}
		}
		t.Fatalf("%s is missing (%v): run `make deps`", name, err)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: run `make deps`", name)
	}
	return p
}

// loadTemplate reads template.yaml.
func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	return tpl
}
