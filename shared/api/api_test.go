package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/execution"
)

const (
	root      = "../.."
	sampleEvt = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
)

// env is the API over a real local stack: the embedded DynamoDB-compatible
// store, the S3-compatible server, the embedded Symbolicator and the state
// machine, with the sample project stored through the API itself.
type env struct {
	t   *testing.T
	st  *stack.Stack
	svc *serve.Service
}

func newEnv(t *testing.T, opts ...func(*api.Server)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	svc := serve.New(st, serve.Options{})
	for _, o := range opts {
		o(svc.API)
	}
	t.Cleanup(func() { svc.Close(); st.Close() })
	e := &env{t: t, st: st, svc: svc}
	project, err := os.ReadFile(filepath.Join(root, "events/project/sample-project.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp := e.do(http.MethodPut, "/v1/projects/42/config", string(project)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("store sample project: %d %s", resp.StatusCode, resp.Body)
	}
	return e
}

// event loads a real API Gateway HTTP API event from events/api and points
// it at method, path and body.
func event(t *testing.T, method, path, body string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "events/api/get-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
	ev.Body = body
	return ev
}

func (e *env) do(method, path, body string) events.APIGatewayV2HTTPResponse {
	return e.send(event(e.t, method, path, body))
}

func (e *env) send(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	e.t.Helper()
	resp, err := e.svc.API.HandleHTTPAPI(context.Background(), ev)
	if err != nil {
		e.t.Fatalf("handler returned an error: %v", err)
	}
	if ct := resp.Headers["content-type"]; ct != "application/json" {
		e.t.Errorf("%s %s: content-type %q", ev.RequestContext.HTTP.Method, ev.RawPath, ct)
	}
	return resp
}

func decode[T any](t *testing.T, resp events.APIGatewayV2HTTPResponse) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	return v
}

type errorBody struct {
	Error api.Error `json:"error"`
}

// snapshot is everything a request could write: objects, the stored
// project, executions.
type snapshot struct {
	objects    []string
	project    string
	executions []string
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	var s snapshot
	filepath.WalkDir(filepath.Join(e.st.StateDir, "s3"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			s.objects = append(s.objects, p+"@"+info.ModTime().String())
		}
		return nil
	})
	p, err := e.st.Store.GetProject(context.Background(), "42")
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	s.project = string(b)
	s.executions = e.svc.Executor.Names()
	return s
}

func (e *env) wait(t *testing.T, id string) api.ExecutionStatus {
	t.Helper()
	e.svc.Executor.Wait()
	resp := e.do(http.MethodGet, "/v1/executions/"+id, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %s", resp.StatusCode, resp.Body)
	}
	return decode[api.ExecutionStatus](t, resp)
}

func samplePayload(t *testing.T) string {
	t.Helper()
	var in struct {
		Payload json.RawMessage `json:"payload"`
	}
	data, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	return string(in.Payload)
}

// TestSubmitPollResult is the walkthrough: submit the sample payload, poll
// the status URL, read the symbolicated result.
func TestSubmitPollResult(t *testing.T) {
	e := newEnv(t)
	crashy, err := os.ReadFile(filepath.Join(root, "events/debug-files/crashy"))
	if err != nil {
		t.Fatal(err)
	}
	up := event(t, http.MethodPost, "/v1/projects/42/debug-files", base64.StdEncoding.EncodeToString(crashy))
	up.IsBase64Encoded = true
	up.Headers["content-type"] = "application/octet-stream"
	if resp := e.send(up); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload debug file: %d %s", resp.StatusCode, resp.Body)
	}

	data, err := os.ReadFile(filepath.Join(root, "events/api/submit-payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	resp := e.send(ev)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
	}
	sub := decode[api.Submitted](t, resp)
	wantURL := "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/executions/42_" + sampleEvt
	if sub.ExecutionID != "42_"+sampleEvt || sub.StatusURL != wantURL || !sub.Created || sub.Status != "RUNNING" {
		t.Errorf("submit answered %+v, want execution 42_%s, status URL %s, created, RUNNING", sub, sampleEvt, wantURL)
	}

	st := e.wait(t, sub.ExecutionID)
	if st.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %+v", st.Status, st.Failure)
	}
	var result struct {
		Stacktraces []struct {
			Frames []struct {
				Status   string `json:"status"`
				Function string `json:"function"`
			} `json:"frames"`
		} `json:"stacktraces"`
	}
	if err := json.Unmarshal(st.Result, &result); err != nil {
		t.Fatalf("result: %v", err)
	}
	var fns []string
	for _, f := range result.Stacktraces[0].Frames {
		if f.Status == "symbolicated" {
			fns = append(fns, f.Function)
		}
	}
	want := []string{"checked_limit", "parse_limits", "load_config", "run", "main"}
	if !slices.Equal(fns, want) {
		t.Errorf("symbolicated functions %v, want %v", fns, want)
	}
	if st.Summary == nil || st.Summary.FramesByStatus["symbolicated"] != 5 {
		t.Errorf("summary %+v", st.Summary)
	}
	if st.ProjectID != "42" || st.EventID != sampleEvt || st.Kind != "payload" || st.StartedAt == "" || st.StoppedAt == "" {
		t.Errorf("status fields %+v", st)
	}

	// The same event again: the existing execution, nothing new.
	before := e.snapshot()
	again := e.send(ev)
	if again.StatusCode != http.StatusOK {
		t.Fatalf("resubmit: %d %s", again.StatusCode, again.Body)
	}
	sub2 := decode[api.Submitted](t, again)
	if sub2.ExecutionID != sub.ExecutionID || sub2.Created || sub2.Status != "SUCCEEDED" {
		t.Errorf("resubmit answered %+v, want the existing execution, SUCCEEDED, not created", sub2)
	}
	if after := e.snapshot(); !slices.Equal(after.objects, before.objects) || !slices.Equal(after.executions, before.executions) {
		t.Errorf("resubmitting wrote something: executions %v -> %v", before.executions, after.executions)
	}
}

// TestLargePayloadOffloaded: a payload too large for workflow state goes
// to S3 and the execution carries the reference.
func TestLargePayloadOffloaded(t *testing.T) {
	e := newEnv(t)
	var p map[string]any
	if err := json.Unmarshal([]byte(samplePayload(t)), &p); err != nil {
		t.Fatal(err)
	}
	// Many threads: 300 KiB of stack traces.
	th := p["stacktraces"].([]any)[0]
	var threads []any
	for len(threads) < 800 {
		threads = append(threads, th)
	}
	p["stacktraces"] = threads
	body, _ := json.Marshal(p)
	if len(body) < 256<<10 {
		t.Fatalf("payload is only %d bytes", len(body))
	}
	const evt = "0000000000000000000000000000abcd"
	resp := e.do(http.MethodPost, "/v1/projects/42/events/"+evt+"/symbolicate", string(body))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
	}
	sub := decode[api.Submitted](t, resp)
	if !sub.PayloadOffloaded {
		t.Errorf("a %d-byte payload was not offloaded", len(body))
	}
	ex, err := e.svc.Executor.Describe(context.Background(), sub.ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Input) > execution.DefaultMaxInline {
		t.Errorf("execution input is %d bytes, over the inline limit", len(ex.Input))
	}
	var in struct {
		Payload    json.RawMessage               `json:"payload"`
		PayloadRef *struct{ Bucket, Key string } `json:"payload_ref"`
	}
	if err := json.Unmarshal(ex.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.PayloadRef == nil || len(in.Payload) != 0 || in.PayloadRef.Bucket != stack.CrashBucket || !strings.HasPrefix(in.PayloadRef.Key, "payloads/42/"+evt) {
		t.Fatalf("execution input %s, want a payload_ref into %s and no inline payload", ex.Input[:min(len(ex.Input), 300)], stack.CrashBucket)
	}
	st := e.wait(t, sub.ExecutionID)
	if st.Status != "SUCCEEDED" || st.Summary == nil || st.Summary.Threads != 800 {
		t.Errorf("offloaded execution %s, summary %+v, failure %+v", st.Status, st.Summary, st.Failure)
	}
}

func TestConfigSecretsHiddenAndBackfilled(t *testing.T) {
	e := newEnv(t)
	resp := e.do(http.MethodGet, "/v1/projects/42/config", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get: %d %s", resp.StatusCode, resp.Body)
	}
	for _, secret := range []string{"sample-password-shown-nowhere", "sample-client-secret-shown-nowhere"} {
		if strings.Contains(resp.Body, secret) {
			t.Errorf("GET config shows the secret %q", secret)
		}
	}
	if !strings.Contains(resp.Body, `\"password\":{\"hidden-secret\":true}`) || !strings.Contains(resp.Body, `"client_secret":"[hidden-secret]"`) {
		t.Errorf("GET config does not show the placeholders: %s", resp.Body)
	}
	// Writing back what was read keeps the secrets.
	if put := e.do(http.MethodPut, "/v1/projects/42/config", resp.Body); put.StatusCode != http.StatusOK {
		t.Fatalf("put back: %d %s", put.StatusCode, put.Body)
	}
	p, err := e.st.Store.GetProject(context.Background(), "42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Options.SymbolSources, `"password":"sample-password-shown-nowhere"`) {
		t.Errorf("password not backfilled: %s", p.Options.SymbolSources)
	}
	if p.Installations[0].ClientSecret != "sample-client-secret-shown-nowhere" {
		t.Errorf("client secret not backfilled")
	}
	// symbol_sources as an array, and a new token.
	cfg := `{"slug":"crashy-app","organization":{"slug":"acme","features":["custom-symbol-sources"]},
	  "options":{"symbol_sources":[{"id":"acme-symbols","name":"ACME","type":"http","url":"http://127.0.0.1:9/other/","password":{"hidden-secret":true},"layout":{"type":"native"}}],
	  "builtin_symbol_sources":["microsoft"],"token":"tok-1234"}}`
	if put := e.do(http.MethodPut, "/v1/projects/42/config", cfg); put.StatusCode != http.StatusOK {
		t.Fatalf("put array form: %d %s", put.StatusCode, put.Body)
	} else if strings.Contains(put.Body, "tok-1234") || strings.Contains(put.Body, "sample-password") {
		t.Errorf("PUT answer shows a secret: %s", put.Body)
	}
	p, _ = e.st.Store.GetProject(context.Background(), "42")
	if p.Options.Token != "tok-1234" || !strings.Contains(p.Options.SymbolSources, "sample-password-shown-nowhere") {
		t.Errorf("stored %+v", p.Options)
	}
}

func TestInstallation(t *testing.T) {
	e := newEnv(t)
	const path = "/v1/projects/42/installations/0badc0de-0000-4000-8000-000000000001"
	body := `{"app_slug":"tracker","webhook_url":"https://tracker.example/hook","client_secret":"s3cret-value",
	  "components":[{"uuid":"0badc0de-0000-4000-8000-0000000000c1","type":"stacktrace-link","schema":{"uri":"/open"}}]}`
	resp := e.do(http.MethodPut, path, body)
	if resp.StatusCode != http.StatusCreated || strings.Contains(resp.Body, "s3cret-value") {
		t.Fatalf("put: %d %s", resp.StatusCode, resp.Body)
	}
	resp = e.do(http.MethodPut, path, strings.Replace(body, "s3cret-value", api.HiddenValue, 1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put again: %d %s", resp.StatusCode, resp.Body)
	}
	p, _ := e.st.Store.GetProject(context.Background(), "42")
	var got string
	for _, inst := range p.Installations {
		if inst.UUID == "0badc0de-0000-4000-8000-000000000001" {
			got = inst.ClientSecret
			if len(inst.Components) != 1 {
				t.Errorf("components %+v", inst.Components)
			}
		}
	}
	if got != "s3cret-value" {
		t.Errorf("client secret %q after writing the placeholder back", got)
	}
}

// TestDebugFilesAPI: a non-debug file is refused with a reason; presigned
// uploads name the unified-layout keys and accept a PUT.
func TestDebugFilesAPI(t *testing.T) {
	e := newEnv(t)
	resp := e.do(http.MethodPost, "/v1/projects/42/debug-files", "just some text, not an object file")
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("text file: %d %s", resp.StatusCode, resp.Body)
	}
	if b := decode[errorBody](t, resp); b.Error.Code != api.CodeNotADebugFile || !strings.Contains(b.Error.Message, "not an ELF or Mach-O") {
		t.Errorf("text file refused with %+v", b.Error)
	}
	data, _ := os.ReadFile(filepath.Join(root, "events/api/presign-debug-file.json"))
	var ev events.APIGatewayV2HTTPRequest
	json.Unmarshal(data, &ev)
	resp = e.send(ev)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presign: %d %s", resp.StatusCode, resp.Body)
	}
	ups := decode[api.PresignedUploads](t, resp)
	if len(ups.Uploads) != 2 || ups.Uploads[0].Key != "42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/executable" || ups.Uploads[1].Key != "42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/debuginfo" {
		t.Fatalf("uploads %+v", ups.Uploads)
	}
	req, _ := http.NewRequest(http.MethodPut, ups.Uploads[0].URL, strings.NewReader("ELF bytes"))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("PUT to presigned URL: %s", r.Status)
	}
	p, _ := e.st.Store.GetProject(context.Background(), "42")
	if time.Since(p.LastDebugFileUpload) > time.Minute {
		t.Errorf("last upload time %v not recorded", p.LastDebugFileUpload)
	}
}

// TestLargeResultLinked: a result too large for a Lambda response is
// answered with a presigned link to it.
func TestLargeResultLinked(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.MaxInlineResultBytes = 1000 })
	const evt = "0000000000000000000000000000beef"
	resp := e.do(http.MethodPost, "/v1/projects/42/events/"+evt+"/symbolicate", samplePayload(t))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
	}
	st := e.wait(t, "42_"+evt)
	if st.Status != "SUCCEEDED" || st.Result != nil || !strings.HasPrefix(st.ResultURL, "http://127.0.0.1:") {
		t.Fatalf("status %s, inline result %d bytes, link %q", st.Status, len(st.Result), st.ResultURL)
	}
	r, err := http.Get(st.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var result struct {
		Stacktraces []json.RawMessage `json:"stacktraces"`
	}
	if err := json.NewDecoder(r.Body).Decode(&result); err != nil || r.StatusCode != 200 || len(result.Stacktraces) != 1 {
		t.Errorf("linked result: %s, %v", r.Status, err)
	}
}

// TestConfigWithBrokenStoredSources: a stored symbol_sources value that
// does not parse is not shown (it may hold a secret hiding cannot find),
// and a new valid value replaces it.
func TestConfigWithBrokenStoredSources(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.st.Store.GetProject(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	p.Options.SymbolSources = `[{"id":"x","password":"leaked-if-shown"`
	if err := e.st.Store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	resp := e.do(http.MethodGet, "/v1/projects/42/config", "")
	if resp.StatusCode != http.StatusOK || strings.Contains(resp.Body, "leaked-if-shown") || strings.Contains(resp.Body, "symbol_sources") {
		t.Errorf("GET with broken stored sources: %d %s", resp.StatusCode, resp.Body)
	}
	cfg := `{"slug":"crashy-app","organization":{"slug":"acme"},"options":{"symbol_sources":[{"id":"s","type":"http","url":"https://s.example/","layout":{"type":"native"}}]}}`
	if put := e.do(http.MethodPut, "/v1/projects/42/config", cfg); put.StatusCode != http.StatusOK {
		t.Fatalf("put: %d %s", put.StatusCode, put.Body)
	}
	p, _ = e.st.Store.GetProject(ctx, "42")
	if strings.Contains(p.Options.SymbolSources, "leaked") || !strings.Contains(p.Options.SymbolSources, `"id":"s"`) {
		t.Errorf("stored %s", p.Options.SymbolSources)
	}
}
