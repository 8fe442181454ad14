package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/task"
)

// recordingRunner takes the executions the API starts without running
// them, so a fuzzer's accepted submissions cost nothing; it keeps their
// inputs for the checks.
type recordingRunner struct {
	mu     sync.Mutex
	inputs map[string]json.RawMessage
}

func (r *recordingRunner) Start(_ context.Context, name string, input json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.inputs[name]; ok && string(prev) != string(input) {
		return execution.ErrExists
	}
	r.inputs[name] = input
	return nil
}

func (r *recordingRunner) Describe(_ context.Context, name string) (execution.Execution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.inputs[name]
	if !ok {
		return execution.Execution{}, execution.ErrNotFound
	}
	return execution.Execution{Name: name, Status: execution.StatusRunning, Input: in}, nil
}

// FuzzRequest sends arbitrary API Gateway requests (method, path, body,
// base64 flag) to the API over a real local store: it never fails with an
// internal error or a non-JSON answer, every refusal names a code and what
// is wrong, and every execution it starts has an input the workflow
// accepts.
func FuzzRequest(f *testing.F) {
	st, err := stack.Start(context.Background(), stack.Options{Root: root})
	if err != nil {
		f.Fatal(err)
	}
	svc := serve.New(st, serve.Options{})
	f.Cleanup(func() { svc.Close(); st.Close() })
	runner := &recordingRunner{inputs: map[string]json.RawMessage{}}
	starter := &execution.Starter{Runner: runner, Claims: st.Store, Blobs: st.Blobs, PayloadBucket: stack.CrashBucket}
	svc.API.Starter = starter
	svc.API.Executions = runner

	project, err := os.ReadFile(filepath.Join(root, "events/project/sample-project.json"))
	if err != nil {
		f.Fatal(err)
	}
	payload := samplePayloadF(f)
	template, err := os.ReadFile(filepath.Join(root, "events/api/get-config.json"))
	if err != nil {
		f.Fatal(err)
	}
	send := func(method, path string, body []byte, b64 bool) events.APIGatewayV2HTTPResponse {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(template, &ev); err != nil {
			f.Fatal(err)
		}
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
		ev.Body, ev.IsBase64Encoded = string(body), b64
		if b64 {
			ev.Body = base64.StdEncoding.EncodeToString(body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := svc.API.HandleHTTPAPI(ctx, ev)
		if err != nil {
			f.Fatalf("%s %s: handler error %v", method, path, err)
		}
		return resp
	}
	if resp := send(http.MethodPut, "/v1/projects/42/config", project, false); resp.StatusCode != http.StatusCreated {
		f.Fatalf("store sample project: %d %s", resp.StatusCode, resp.Body)
	}

	const evt = "0123456789abcdef0123456789abcdef"
	f.Add("POST", "/v1/projects/42/events/"+evt+"/symbolicate", payload, false)
	f.Add("POST", "/v1/projects/42/events/"+evt+"/symbolicate", payload, true)
	f.Add("POST", "/v1/projects/42/events/"+evt+"/symbolicate", []byte(`{"stacktraces":[{"frames":[{"instruction_addr":"0x1"}]}],"modules":[{"type":"elf","image_addr":"0x0","image_size":1}],"signal":11}`), false)
	f.Add("POST", "/v1/projects/42/events/"+evt+"/symbolicate", []byte(`{"stacktraces":[]}`), false)
	f.Add("GET", "/v1/projects/42/config", []byte(nil), false)
	f.Add("PUT", "/v1/projects/42/config", project, false)
	f.Add("PUT", "/v1/projects/42/config", []byte(`{"slug":"x","organization":{"slug":"a"},"options":{"symbol_sources":"[{\"id\":\"s\",\"type\":\"s3\",\"bucket\":\"b\",\"region\":\"r\",\"access_key\":\"k\",\"secret_key\":{\"hidden-secret\":true},\"layout\":{\"type\":\"native\"}}]"}}`), false)
	f.Add("PUT", "/v1/projects/42/installations/c0ffee00-0000-4000-8000-000000000042", []byte(`{"uuid":"c0ffee00-0000-4000-8000-000000000042","app_slug":"a","client_secret":"s","components":[{"uuid":"1551e000-0000-4000-8000-000000000009","type":"stacktrace-link","schema":{"uri":"/x"}}]}`), false)
	f.Add("GET", "/v1/executions/42_"+evt, []byte(nil), false)
	f.Add("POST", "/v1/projects/42/debug-files/uploads", []byte(`{"code_id":"7b0672f0346e9b1e7f306a8aa55e53b6b67611e2","debug_id":"f072067b-6e34-1e9b-7f30-6a8aa55e53b6","kinds":["executable"]}`), false)
	f.Add("POST", "/v1/projects/42/debug-files", []byte("\x7fELF\x02\x01\x01"), true)
	f.Add("DELETE", "/v1/projects/42//config", []byte("{"), false)
	f.Add("POST", "/v1/projects/42/minidump", []byte("--B\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"x.dmp\"\r\n\r\nMDMP\r\n--B--\r\n"), true)
	f.Add("POST", "/api/42/minidump/", []byte("MDMP"), true)
	f.Add("POST", "/v1/projects/42/minidump/uploads", []byte(`{"size":1}`), false)
	f.Add("DELETE", "/v1/projects/42/config/upload-key", []byte(nil), false)

	f.Fuzz(func(t *testing.T, method, path string, body []byte, b64 bool) {
		if len(body) > 256<<10 || len(path) > 2048 {
			return
		}
		resp := send(method, path, body, b64)
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
			t.Fatalf("%s %q: %d %s", method, path, resp.StatusCode, resp.Body)
		}
		if ct := resp.Headers["content-type"]; ct != "application/json" {
			t.Errorf("%s %q: content-type %q", method, path, ct)
		}
		if !json.Valid([]byte(resp.Body)) {
			t.Fatalf("%s %q: answer is not JSON: %q", method, path, resp.Body)
		}
		if resp.StatusCode >= 400 {
			var e struct {
				Error api.Error `json:"error"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %q: %d without a code and message: %s", method, path, resp.StatusCode, resp.Body)
			}
			return
		}
		if method == http.MethodPost && strings.HasSuffix(path, "/symbolicate") {
			var sub api.Submitted
			if err := json.Unmarshal([]byte(resp.Body), &sub); err != nil {
				t.Fatal(err)
			}
			runner.mu.Lock()
			in := runner.inputs[sub.ExecutionID]
			runner.mu.Unlock()
			var s task.State
			if err := json.Unmarshal(in, &s); err != nil {
				t.Fatalf("accepted submission started %s with input %q: %v", sub.ExecutionID, in, err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted submission the workflow refuses: %v (input %s)", err, in)
			}
		}
	})
}

func samplePayloadF(f *testing.F) []byte {
	f.Helper()
	var in struct {
		Payload json.RawMessage `json:"payload"`
	}
	data, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(data, &in); err != nil {
		f.Fatal(err)
	}
	return in.Payload
}
