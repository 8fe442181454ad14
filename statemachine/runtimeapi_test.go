package statemachine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runtimeAPI is a minimal AWS Lambda Runtime API (2018-06-01) on
// 127.0.0.1: it hands out the invocations a test queues and records what the
// function process posts back. It serves one function process at a time,
// so a test sees exactly the errorType the aws-lambda-go runtime client
// reports, as Lambda (and then Step Functions) would see it.
type runtimeAPI struct {
	srv     *httptest.Server
	pending chan invocation
	mu      sync.Mutex
	waiting map[string]chan invokeResult
	seq     int
}

type invocation struct {
	id      string
	payload []byte
}

// invokeResult is one invocation's outcome: Payload on success, ErrorType
// and ErrorMessage on failure, InitError when the process failed to start.
type invokeResult struct {
	Payload      json.RawMessage
	ErrorType    string
	ErrorMessage string
	InitError    bool
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	t.Helper()
	api := &runtimeAPI{pending: make(chan invocation), waiting: map[string]chan invokeResult{}}
	api.srv = httptest.NewServer(http.HandlerFunc(api.serve)) // binds 127.0.0.1
	t.Cleanup(api.srv.Close)
	return api
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (api *runtimeAPI) Addr() string { return strings.TrimPrefix(api.srv.URL, "http://") }

const runtimePrefix = "/2018-06-01/runtime/"

func (api *runtimeAPI) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, runtimePrefix)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		select {
		case inv := <-api.pending:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(5*time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:test")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			w.Write(inv.payload)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && path == "init/error":
		body, _ := io.ReadAll(r.Body)
		api.finishAll(invokeResult{InitError: true, ErrorMessage: string(body)})
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		id, kind, ok := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		if !ok || (kind != "response" && kind != "error") {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		res := invokeResult{Payload: body}
		if kind == "error" {
			var e struct {
				Message string `json:"errorMessage"`
				Type    string `json:"errorType"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				res.ErrorType, res.ErrorMessage = "undecodable error body", string(body)
			} else {
				res.ErrorType, res.ErrorMessage = e.Type, e.Message
			}
			res.Payload = nil
		}
		api.finish(id, res)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func (api *runtimeAPI) finish(id string, res invokeResult) {
	api.mu.Lock()
	ch := api.waiting[id]
	delete(api.waiting, id)
	api.mu.Unlock()
	if ch != nil {
		ch <- res
	}
}

func (api *runtimeAPI) finishAll(res invokeResult) {
	api.mu.Lock()
	defer api.mu.Unlock()
	for id, ch := range api.waiting {
		ch <- res
		delete(api.waiting, id)
	}
}

// function is a function process attached to a runtimeAPI.
type function struct {
	name   string
	api    *runtimeAPI
	exited chan struct{}
	stderr *bytes.Buffer
	mu     *sync.Mutex
}

// lockedBuffer guards the process's stderr buffer, written by exec's copy
// goroutine and read by the test.
type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (b lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// startFunction runs cmd as a Lambda function process against api and
// stops it when the test ends. cmd.Env must not set AWS_LAMBDA_RUNTIME_API.
func startFunction(t *testing.T, api *runtimeAPI, name string, cmd *exec.Cmd) *function {
	t.Helper()
	f := &function{name: name, api: api, exited: make(chan struct{}), stderr: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API="+api.Addr())
	cmd.Stdout = io.Discard
	cmd.Stderr = lockedBuffer{mu: f.mu, buf: f.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start function %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(f.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-f.exited
	})
	return f
}

func (f *function) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stderr.String()
}

// invoke hands payload to the function and waits for its outcome. A process
// that exits instead of answering fails the test with its stderr.
func (f *function) invoke(t *testing.T, payload []byte) invokeResult {
	t.Helper()
	api := f.api
	api.mu.Lock()
	api.seq++
	id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", api.seq)
	ch := make(chan invokeResult, 1)
	api.waiting[id] = ch
	api.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case api.pending <- invocation{id: id, payload: payload}:
	case <-f.exited:
		t.Fatalf("function %s exited before taking an invocation:\n%s", f.name, f.output())
	case <-ctx.Done():
		t.Fatalf("function %s did not ask for an invocation within 2 minutes:\n%s", f.name, f.output())
	}
	select {
	case res := <-ch:
		if res.InitError {
			t.Fatalf("function %s failed to initialize: %s\n%s", f.name, res.ErrorMessage, f.output())
		}
		return res
	case <-f.exited:
		t.Fatalf("function %s exited during an invocation:\n%s", f.name, f.output())
	case <-ctx.Done():
		t.Fatalf("function %s did not answer within 2 minutes:\n%s", f.name, f.output())
	}
	return invokeResult{}
}
