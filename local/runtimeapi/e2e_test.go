package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/runtimeapi"
	locals3 "github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/local/samtemplate"
	localsym "github.com/symflow/symflow/local/symbolicator"
	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/task"
)

// TestStateMachineInProcessMode runs the sample crash through the state
// machine with every step a built function process: what `symflow run
// --lambda-mode=process` does. The processes reach the embedded
// DynamoDB, S3 and Symbolicator only through LocalEnv.
func TestStateMachineInProcessMode(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)
	local := startLocalAWS(t)
	s3c := locals3.Client(strings.TrimSuffix(local.env["AWS_ENDPOINT_URL_S3"], "/"))

	// The sample debug file, where the project's internal source looks.
	data, err := os.ReadFile(filepath.Join(root, "events", "debug-files", "crashy"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := objfile.Identify(data)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("42/%s/%s/executable", id.CodeID[:2], id.CodeID[2:])
	if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("symflow-debug-files"), Key: aws.String(key),
		Body: strings.NewReader(string(data))}); err != nil {
		t.Fatal(err)
	}
	if err := local.store.RecordDebugFileUpload(ctx, "42", time.Now()); err != nil {
		t.Fatal(err)
	}

	// The embedded Symbolicator, reading debug files from the local S3.
	svc := localsym.New(localsym.Config{
		Logger:               slog.New(slog.DiscardHandler),
		ConnectToReservedIPs: true,
		S3ClientFactory: func(context.Context, localsym.S3SourceConfig, *http.Client) (localsym.S3GetObjectAPI, error) {
			return s3c, nil
		},
	})
	t.Cleanup(svc.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on Close
	t.Cleanup(func() { srv.Close() })

	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := tmpl.Definition(root)
	if err != nil {
		t.Fatal(err)
	}
	machine, err := asl.Parse(def)
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	fns, err := runtimeapi.StateMachineFunctions(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, fn.Dir)
	}
	bins, err := runtimeapi.Build(bctx, root, filepath.Join(binDir, "all"), dirs)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{buf: new(bytes.Buffer)}
	env := runtimeapi.LocalEnv(runtimeapi.Local{
		DynamoDB:         local.env["AWS_ENDPOINT_URL_DYNAMODB"],
		S3:               local.env["AWS_ENDPOINT_URL_S3"],
		SymbolicatorURL:  "http://" + ln.Addr().String() + "/",
		ProjectsTable:    projectsTable,
		TasksTable:       tasksTable,
		ResultsBucket:    "symflow-results",
		DebugFilesBucket: "symflow-debug-files",
	})
	inv, err := runtimeapi.TemplateInvoker(fns, bins, env, runtimeapi.Config{Output: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Stop)

	input, err := os.ReadFile(filepath.Join(root, "events", "execution", "native-crash.json"))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	exec, err := machine.Run(rctx, "process-mode", input, asl.Options{Invoker: inv, Clock: asl.RealClock{}})
	if err != nil {
		t.Fatalf("run: %v\nlogs:\n%s", err, logs.String())
	}
	if exec.Status != asl.StatusSucceeded {
		t.Fatalf("execution %s: %s %s\nlogs:\n%s", exec.Status, exec.Error, exec.Cause, logs.String())
	}
	if got, want := strings.Join(asl.Path(exec), " "), "LookupSources SubmitTask IsDone ProcessResponse PrepareComponents Done"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	var out task.Output
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatalf("output %s: %v", exec.Output, err)
	}
	var result map[string]any
	if err := blob.New(s3c).GetJSON(ctx, out.Result.Result, &result); err != nil {
		t.Fatalf("read result: %v", err)
	}
	wantFrames := []string{
		"checked_limit /src/crashy/crashy.c:15",
		"parse_limits /src/crashy/crashy.c:22",
		"load_config /src/crashy/crashy.c:30",
		"run /src/crashy/crashy.c:36",
		"main /src/crashy/crashy.c:43",
		":0",
	}
	if got := frames(result); !slices.Equal(got, wantFrames) {
		t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFrames, "\n"))
	}
	var comps task.Components
	if err := json.Unmarshal(out.Components, &comps); err != nil || comps.Prepared != 2 || comps.Failed != 0 {
		t.Errorf("components %s: want 2 prepared, none failed", out.Components)
	}
	for _, secret := range []string{"sample-password-shown-nowhere", "sample-client-secret-shown-nowhere"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("function logs hold a secret (%s)", secret)
		}
	}
}

// frames lists "function file:line" for a result's first stack trace.
func frames(result map[string]any) []string {
	traces, _ := result["stacktraces"].([]any)
	if len(traces) == 0 {
		return nil
	}
	tr, _ := traces[0].(map[string]any)
	list, _ := tr["frames"].([]any)
	var out []string
	for _, f := range list {
		fr, _ := f.(map[string]any)
		fn, _ := fr["function"].(string)
		file, _ := fr["abs_path"].(string)
		line, _ := fr["lineno"].(float64)
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s:%d", fn, file, int(line))))
	}
	return out
}
