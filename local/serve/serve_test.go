package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/execution"
)

const root = "../.."

func start(t *testing.T, crashDir string) (*stack.Stack, *serve.Service, *httptest.Server) {
	t.Helper()
	st, err := stack.Start(context.Background(), stack.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	svc := serve.New(st, serve.Options{CrashDir: crashDir})
	srv := httptest.NewServer(svc.Gateway) // 127.0.0.1
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })
	return st, svc, srv
}

func call(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWalkthrough is the README's curl session over real HTTP: store the
// project, upload its debug file, submit the sample payload, poll the
// status URL until it is done, read the result.
func TestWalkthrough(t *testing.T) {
	_, _, srv := start(t, "")
	if code, body := call(t, "PUT", srv.URL+"/v1/projects/42/config", "application/json", readFile(t, "events/project/sample-project.json")); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}
	// A binary body travels base64-encoded in the event, as through API Gateway.
	if code, body := call(t, "POST", srv.URL+"/v1/projects/42/debug-files", "application/octet-stream", readFile(t, "events/debug-files/crashy")); code != 201 {
		t.Fatalf("debug file: %d %s", code, body)
	}
	var in struct {
		EventID string          `json:"event_id"`
		Payload json.RawMessage `json:"payload"`
	}
	json.Unmarshal(readFile(t, "events/execution/native-crash.json"), &in)
	code, body := call(t, "POST", srv.URL+"/v1/projects/42/events/"+in.EventID+"/symbolicate", "", in.Payload)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sub api.Submitted
	json.Unmarshal(body, &sub)
	if !strings.HasPrefix(sub.StatusURL, srv.URL+"/v1/executions/") {
		t.Fatalf("status URL %q is not on %s", sub.StatusURL, srv.URL)
	}
	var st api.ExecutionStatus
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body = call(t, "GET", sub.StatusURL, "", nil)
		if code != 200 {
			t.Fatalf("poll: %d %s", code, body)
		}
		st = api.ExecutionStatus{}
		json.Unmarshal(body, &st)
		if st.Status != "RUNNING" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Status != "SUCCEEDED" || st.Summary.CrashingFunctions[0] != "checked_limit" || !bytes.Contains(st.Result, []byte(`"function":"parse_limits"`)) {
		t.Errorf("finished %s: summary %+v, failure %+v", st.Status, st.Summary, st.Failure)
	}
}

func TestGatewayLimits(t *testing.T) {
	_, _, srv := start(t, "")
	code, body := call(t, "POST", srv.URL+"/v1/projects/42/debug-files", "application/octet-stream", make([]byte, serve.MaxRequestBytes+1))
	if code != 413 || !strings.Contains(string(body), "Request Entity Too Large") {
		t.Errorf("oversized request: %d %s", code, body)
	}
	code, body = call(t, "GET", srv.URL+"/", "", nil)
	if code != 404 || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Errorf("root: %d %s", code, body)
	}
}

// TestCrashDir: files put in the crash folder start executions; a file
// is taken once it has settled; bad keys and unknown projects are moved
// to quarantine/ with the reason beside them; repeated notifications of
// one object make one execution.
func TestCrashDir(t *testing.T) {
	dir := t.TempDir()
	st, svc, srv := start(t, dir)
	if code, body := call(t, "PUT", srv.URL+"/v1/projects/42/config", "application/json", readFile(t, "events/project/sample-project.json")); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}
	put := func(rel, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := st.UploadDebugFile(ctx, "42", filepath.Join(root, "events/debug-files/crashy")); err != nil {
		t.Fatal(err)
	}
	dump := string(readFile(t, "events/crash-upload/crashy.dmp"))
	const good = "crashes/42/0123456789abcdef0123456789abcdef.dmp"
	put(good, dump[:len(dump)/2])
	put("crashes/42/not-an-event.dmp", "MDMP")
	put("crashes/77/0123456789abcdef0123456789abcdef.crash", "Incident Identifier: X")
	put("quarantine/crashes/42/old.dmp", "MDMP")
	if n := svc.Watcher.Scan(ctx); n != 0 {
		t.Errorf("first scan announced %d unsettled files", n)
	}
	put(good, dump) // still being written
	if n := svc.Watcher.Scan(ctx); n != 2 {
		t.Errorf("second scan announced %d files, want the 2 settled ones", n)
	}
	if n := svc.Watcher.Scan(ctx); n != 1 {
		t.Errorf("third scan announced %d files, want the one that settled", n)
	}
	if n := svc.Watcher.Scan(ctx); n != 0 {
		t.Errorf("fourth scan announced %d files again", n)
	}
	// S3 delivers at least once: the same event many times.
	ev, err := serve.ObjectCreatedEvent(stack.CrashBucket, good, int64(len(dump)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); svc.Crashes.HandleEvent(ctx, ev) }()
	}
	wg.Wait()
	svc.Executor.Wait()
	if names := svc.Executor.Names(); len(names) != 1 || names[0] != "42_0123456789abcdef0123456789abcdef" {
		t.Errorf("executions %v, want one for the good crash", names)
	}
	ex, err := svc.Executor.Describe(ctx, "42_0123456789abcdef0123456789abcdef")
	if err != nil || !strings.Contains(string(ex.Input), `"kind":"minidump"`) || !strings.Contains(string(ex.Input), `"key":"`+good+`"`) {
		t.Errorf("execution %+v %v", ex, err)
	}
	// SubmitTask streamed the file from the crash bucket into the multipart
	// request: the embedded Symbolicator walked the dump with the project's
	// debug file and named the crashing function.
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("minidump execution %s %s: %s", ex.Status, ex.Error, ex.Cause)
	}
	var out struct {
		Result struct {
			Result struct{ Bucket, Key string } `json:"result"`
		} `json:"result"`
	}
	if err := json.Unmarshal(ex.Output, &out); err != nil || out.Result.Result.Key == "" {
		t.Fatalf("execution output %s: %v", ex.Output, err)
	}
	result, err := os.ReadFile(filepath.Join(st.StateDir, "s3", out.Result.Result.Bucket, filepath.FromSlash(out.Result.Result.Key)))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{`"function":"checked_limit"`, `"function":"parse_limits"`, `"function":"main"`, `"trust":"cfi"`} {
		if !strings.Contains(string(result), fn) {
			t.Errorf("result lacks %s: %.600s", fn, result)
		}
	}
	// The file reached the crash bucket SubmitTask reads.
	if _, err := os.Stat(filepath.Join(st.StateDir, "s3", stack.CrashBucket, filepath.FromSlash(good))); err != nil {
		t.Errorf("crash file not in the local crash bucket: %v", err)
	}
	for rel, reason := range map[string]string{
		"crashes/42/not-an-event.dmp":                       `event id "not-an-event" is not 32 lowercase hex digits`,
		"crashes/77/0123456789abcdef0123456789abcdef.crash": "project 77 is not configured",
	} {
		if _, err := os.Stat(filepath.Join(dir, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in place", rel)
		}
		got, err := os.ReadFile(filepath.Join(dir, "quarantine", rel+".reason.txt"))
		if err != nil || strings.TrimSpace(string(got)) != reason {
			t.Errorf("%s: reason %q (%v), want %q", rel, got, err, reason)
		}
	}
}

func TestExecutor(t *testing.T) {
	st, svc, _ := start(t, "")
	ctx := context.Background()
	in := json.RawMessage(`{"project_id":"42","event_id":"0123456789abcdef0123456789abcdef","kind":"payload","payload":{"stacktraces":[{"frames":[{"instruction_addr":"0x1"}]}]}}`)
	const name = "42_0123456789abcdef0123456789abcdef"
	if err := svc.Executor.Start(ctx, name, in); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Executor.Describe(ctx, "nope"); !errors.Is(err, execution.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	svc.Executor.Wait()
	ex, err := svc.Executor.Describe(ctx, name)
	if err != nil || ex.Status != "FAILED" || ex.Error != "ProjectNotFound" {
		t.Errorf("execution for an unknown project: %+v %v", ex, err)
	}
	if err := svc.Executor.Start(ctx, name, in); !errors.Is(err, execution.ErrExists) {
		t.Errorf("same input after the execution finished: %v, want ErrExists", err)
	}
	// A later executor over the same state folder finds it.
	later := serve.NewExecutor(st, st.StateDir, nil)
	defer later.Close()
	if ex, err := later.Describe(ctx, name); err != nil || ex.Status != "FAILED" {
		t.Errorf("saved execution: %+v %v", ex, err)
	}
	if err := later.Start(ctx, name, in); !errors.Is(err, execution.ErrExists) {
		t.Errorf("restart of a saved execution: %v", err)
	}
}

// heldRunner runs executions that finish only when release is closed.
type heldRunner struct{ release chan struct{} }

func (h heldRunner) Execute(ctx context.Context, name string, input json.RawMessage, ro stack.RunOptions) (*asl.Execution, error) {
	ro.Recorded(nil)
	<-h.release
	return &asl.Execution{Name: name, Status: "SUCCEEDED", Input: input, Output: input}, nil
}

func (h heldRunner) Resume(ctx context.Context, saved *asl.Execution, ro stack.RunOptions) (*asl.Execution, error) {
	return nil, errors.New("heldRunner does not resume")
}

func (h heldRunner) Redrive(ctx context.Context, saved *asl.Execution, ro stack.RunOptions) (*asl.Execution, error) {
	return nil, errors.New("heldRunner does not redrive")
}

// TestExecutorWhileRunning: the same input again is the running
// execution; another input is ErrExists, as on Step Functions.
func TestExecutorWhileRunning(t *testing.T) {
	ctx := context.Background()
	h := heldRunner{release: make(chan struct{})}
	ex := serve.NewExecutor(h, t.TempDir(), nil)
	in := json.RawMessage(`{"a":1}`)
	if err := ex.Start(ctx, "n1", in); err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(ctx, "n1", json.RawMessage(` { "a" : 1 } `)); err != nil {
		t.Errorf("same input while running: %v", err)
	}
	if err := ex.Start(ctx, "n1", json.RawMessage(`{"a":2}`)); !errors.Is(err, execution.ErrExists) {
		t.Errorf("other input: %v, want ErrExists", err)
	}
	if got, _ := ex.Describe(ctx, "n1"); got.Status != "RUNNING" {
		t.Errorf("status %s while held", got.Status)
	}
	close(h.release)
	ex.Wait()
	if got, _ := ex.Describe(ctx, "n1"); got.Status != "SUCCEEDED" || string(got.Output) != string(in) || got.StopDate.IsZero() {
		t.Errorf("finished %+v", got)
	}
	if err := ex.Start(ctx, "bad name!", in); err == nil {
		t.Error("invalid name accepted")
	}
	ex.Close()
}
