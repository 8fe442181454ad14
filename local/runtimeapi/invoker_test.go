package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/symflow/symflow/local/asl"
	localddb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/local/runtimeapi"
	locals3 "github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

const (
	projectsTable = "symflow-projects"
	tasksTable    = "symflow-tasks"
	eventID       = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
	lookupARN     = "arn:aws:lambda:us-east-1:000000000000:function:LookupSourcesFunction"
	recoverARN    = "arn:aws:lambda:us-east-1:000000000000:function:RecoverTaskFunction"
)

// localAWS is the embedded DynamoDB and S3 servers the functions reach
// through the SDK's endpoint variables, with the sample project stored.
type localAWS struct {
	store *dynamo.Store
	env   map[string]string
}

func startLocalAWS(t *testing.T) *localAWS {
	t.Helper()
	ctx := context.Background()
	ddb := localddb.New()
	ddb.Logger = slog.New(slog.DiscardHandler)
	ddbURL, stopDDB, err := ddb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopDDB() })
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ddbURL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	store, err := dynamo.New(client, dynamo.Config{ProjectsTable: projectsTable, TasksTable: tasksTable})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTables(ctx); err != nil {
		t.Fatal(err)
	}
	s3srv, err := locals3.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s3URL, stopS3, err := s3srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopS3)

	p := sampleProject(t)
	if err := store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, inst := range p.Installations {
		if err := store.PutInstallation(ctx, p.ID, inst); err != nil {
			t.Fatal(err)
		}
	}
	return &localAWS{store: store, env: map[string]string{
		"PROJECTS_TABLE":            projectsTable,
		"TASKS_TABLE":               tasksTable,
		"SYMBOLICATOR_URL":          "http://127.0.0.1:9/", // not reached by these steps
		"RESULTS_BUCKET":            "symflow-results",
		"DEBUG_FILES_BUCKET":        "symflow-debug-files",
		"AWS_ENDPOINT_URL_DYNAMODB": ddbURL,
		"AWS_ENDPOINT_URL_S3":       s3URL,
		"S3_USE_PATH_STYLE":         "true",
	}}
}

func sampleProject(t *testing.T) project.Project {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "events", "project", "sample-project.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p project.Project
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("sample project: %v", err)
	}
	return p
}

// event reads a testdata event and applies edits (dotted paths; a nil
// value deletes the field).
func event(t *testing.T, name string, edits map[string]any) json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for path, v := range edits {
		parts := strings.Split(path, ".")
		m := doc
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// processInvoker runs the real lookup-sources and recover-task binaries
// against env.
func processInvoker(t *testing.T, env map[string]string, logs io.Writer) *runtimeapi.Invoker {
	t.Helper()
	bins := realFunctions(t)
	var fns []*runtimeapi.Function
	for name, dir := range map[string]string{"LookupSourcesFunction": "lookup-sources", "RecoverTaskFunction": "recover-task"} {
		f, err := runtimeapi.NewFunction(runtimeapi.Config{
			Name: name, Bootstrap: bins[dir], Env: env, Timeout: 25 * time.Second, Output: logs,
		})
		if err != nil {
			t.Fatal(err)
		}
		fns = append(fns, f)
	}
	inv, err := runtimeapi.NewInvoker(fns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Stop)
	return inv
}

func TestRealFunctions(t *testing.T) {
	local := startLocalAWS(t)
	logs := &syncBuffer{buf: &bytes.Buffer{}}
	inv := processInvoker(t, local.env, logs)
	ctx := context.Background()

	// The same step in-process, wired like the binary, for comparison.
	cfg, settings, err := task.ConfigFromEnv(func(k string) string {
		if k == task.EnvRegion {
			return "us-east-1"
		}
		return local.env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := &task.Steps{Config: cfg, Settings: settings, Projects: local.store, Tasks: local.store,
		Log: slog.New(slog.DiscardHandler)}

	t.Run("lookup-sources answers as in-process", func(t *testing.T) {
		in := event(t, "lookup-sources.json", nil)
		out, err := inv.Invoke(ctx, lookupARN, in)
		if err != nil {
			t.Fatalf("invoke: %v\nlogs:\n%s", err, logs.String())
		}
		var lookup task.Lookup
		if err := json.Unmarshal(out, &lookup); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		if want := []string{"sentry:project", "acme-symbols"}; !slices.Equal(lookup.SourceIDs, want) {
			t.Errorf("source ids %v, want %v", lookup.SourceIDs, want)
		}
		if strings.Contains(string(out), "sample-password-shown-nowhere") {
			t.Error("output shows the symbol server's password")
		}
		want, err := lambda.NewHandler(steps.LookupSources).Invoke(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, out, want) {
			t.Errorf("process output\n%s\nin-process output\n%s", out, want)
		}
	})

	t.Run("recover-task updates the task record", func(t *testing.T) {
		if _, err := local.store.CreateTask(ctx, dynamo.Task{ProjectID: "42", EventID: eventID,
			RequestID: "3f2a7c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b", WorkerID: "1234", Status: "pending"}); err != nil {
			t.Fatal(err)
		}
		out, err := inv.Invoke(ctx, recoverARN+":$LATEST", event(t, "recover-task-lost.json", nil))
		if err != nil {
			t.Fatalf("invoke: %v\nlogs:\n%s", err, logs.String())
		}
		var p task.Progress
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		if p.Status != "resubmit" || p.LostTasks != 3 || p.RequestID != "" || p.Message != "TaskIdNotFound" {
			t.Errorf("progress %+v: want status resubmit, 3 lost tasks, no request id, message TaskIdNotFound", p)
		}
		rec, err := local.store.GetTask(ctx, "42", eventID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != "resubmit" || rec.RequestID != "" || rec.Resubmits != 3 {
			t.Errorf("task record %+v: want status resubmit, request id cleared, 3 resubmits", rec)
		}
	})

	// Function errors come back as task errors under exactly the errorType
	// the runtime posted, with its error document as the cause: a named
	// one and an untyped one. Which name each of the workflow's failures
	// gets is statemachine's TestFunctionsReportErrorNames.
	errorCases := []struct {
		name     string
		resource string
		input    json.RawMessage
		wantName string
		wantMsg  string
	}{
		{"bad reason", recoverARN, event(t, "recover-task-lost.json", map[string]any{"reason": "bored"}),
			"InvalidInput", "reason"},
		{"undecodable input", "LookupSourcesFunction", json.RawMessage(`{"state":`), "errorString", "unexpected EOF"},
		{"unknown function", "arn:aws:lambda:us-east-1:000000000000:function:Nope", json.RawMessage(`{}`),
			"Lambda.ResourceNotFoundException", "Nope"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := inv.Invoke(ctx, tc.resource, tc.input)
			var te *asl.TaskError
			if !errors.As(err, &te) {
				t.Fatalf("got output %s, error %v: want a task error %s", out, err, tc.wantName)
			}
			if te.Name != tc.wantName {
				t.Errorf("error name %q, want %q (cause %s)", te.Name, tc.wantName, te.Cause)
			}
			if !strings.Contains(te.Cause, tc.wantMsg) {
				t.Errorf("cause %q, want it to mention %q", te.Cause, tc.wantMsg)
			}
			if strings.HasPrefix(tc.wantName, "Lambda.") {
				return
			}
			var doc struct {
				ErrorMessage string `json:"errorMessage"`
				ErrorType    string `json:"errorType"`
			}
			if err := json.Unmarshal([]byte(te.Cause), &doc); err != nil || doc.ErrorType != tc.wantName {
				t.Errorf("cause %q: want Lambda's error document with errorType %s", te.Cause, tc.wantName)
			}
		})
	}

	// A function error leaves the environment warm: one process each.
	for _, name := range []string{"LookupSourcesFunction", "RecoverTaskFunction"} {
		f, _ := inv.Function(name)
		st := f.Stats()
		if st.ColdStarts != 1 || len(st.InitDurations) != 1 {
			t.Errorf("%s: stats %+v: want one cold start with its init duration", name, st)
		}
	}
	if got := inv.Names(); !slices.Equal(got, []string{"LookupSourcesFunction", "RecoverTaskFunction"}) {
		t.Errorf("names %v", got)
	}
}

// TestInvokerCrash checks a process crash reaches the state machine as
// Runtime.ExitError and the next invocation gets a fresh process.
func TestInvokerCrash(t *testing.T) {
	f := newFunction(t, runtimeapi.Config{Name: "Crasher", Bootstrap: crasher(t)})
	inv, err := runtimeapi.NewInvoker(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = inv.Invoke(ctx, f.ARN(), json.RawMessage(`{"action":"exit","code":3}`))
	var te *asl.TaskError
	if !errors.As(err, &te) || te.Name != "Runtime.ExitError" || !strings.Contains(te.Cause, "exit status 3") {
		t.Fatalf("error %v: want Runtime.ExitError with exit status 3", err)
	}
	out, err := inv.Invoke(ctx, f.ARN(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatalf("invocation after the crash: %v", err)
	}
	if !bytes.Contains(out, []byte(`"pid"`)) {
		t.Errorf("output %s: want the crasher's answer", out)
	}
	if st := f.Stats(); st.ColdStarts != 2 || len(st.InitDurations) != 2 {
		t.Errorf("stats %+v: want 2 cold starts, each with an init duration", st)
	}

	if _, err := runtimeapi.NewInvoker(f, f); err == nil || !strings.Contains(err.Error(), "Crasher given twice") {
		t.Errorf("duplicate function: %v, want an error naming it", err)
	}
}

func TestBuildRejectsBadFolders(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		dir  string
		want string
	}{
		{"../cmd", `"../cmd" is not a folder of functions/`},
		{"internal", `"internal" is not a folder of functions/`},
		{"", `"" is not a folder of functions/`},
		{"no-such-function", "functions/no-such-function has no main.go"},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			_, err := runtimeapi.Build(context.Background(), root, t.TempDir(), []string{tc.dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	dirs, err := runtimeapi.FunctionDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lookup-sources", "recover-task"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("function dirs %v lack %s", dirs, want)
		}
	}
	if slices.Contains(dirs, "internal") {
		t.Errorf("function dirs %v include internal", dirs)
	}
}

func TestBuildReportsCompileErrors(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/broken\n\ngo 1.22\n")
	write("functions/broken/main.go", "package main\n\nfunc main() { undefinedCall() }\n")
	_, err := runtimeapi.Build(context.Background(), root, t.TempDir(), nil)
	var be *runtimeapi.BuildError
	if !errors.As(err, &be) || !strings.Contains(be.Output, "undefinedCall") {
		t.Fatalf("error %v: want a *BuildError with the compiler's message", err)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
