// Command crasher is a Lambda function for the runtimeapi tests: its input
// says how to behave (answer, fail, panic, exit, hang), and its answer
// reports what the runtime gave it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Request tells the function what to do.
type Request struct {
	Action string `json:"action"` // echo (default), error, panic, exit, sleep, barrier, big
	Code   int    `json:"code,omitempty"`
	Millis int    `json:"millis,omitempty"`
	// Barrier is a folder: the invocation writes a file there and waits
	// until Count files exist.
	Barrier string `json:"barrier,omitempty"`
	Count   int    `json:"count,omitempty"`
	Size    int    `json:"size,omitempty"`
}

// Response reports the invocation's context.
type Response struct {
	PID         int               `json:"pid"`
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	HasDeadline bool              `json:"has_deadline"`
	Env         map[string]string `json:"env"`
	Data        string            `json:"data,omitempty"`
}

// BadRequest is a named error, as the step functions return.
type BadRequest struct{ Why string }

func (e *BadRequest) Error() string { return "bad request: " + e.Why }

func handle(ctx context.Context, req Request) (*Response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	resp := &Response{PID: os.Getpid(), HasDeadline: hasDeadline, Env: map[string]string{}}
	if lc != nil {
		resp.RequestID, resp.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"_HANDLER", "AWS_REGION", "AWS_ACCESS_KEY_ID", "CRASHER_GREETING", "_X_AMZN_TRACE_ID"} {
		resp.Env[k] = os.Getenv(k)
	}
	switch req.Action {
	case "", "echo":
	case "error":
		return nil, &BadRequest{Why: "asked to fail"}
	case "panic":
		panic("asked to panic")
	case "exit":
		os.Exit(req.Code)
	case "sleep":
		time.Sleep(time.Duration(req.Millis) * time.Millisecond)
	case "barrier":
		if err := barrier(req.Barrier, req.Count); err != nil {
			return nil, err
		}
	case "big":
		resp.Data = strings.Repeat("x", req.Size)
	default:
		return nil, &BadRequest{Why: fmt.Sprintf("unknown action %q", req.Action)}
	}
	return resp, nil
}

// barrier waits, at most 30 s, until count invocations have arrived.
func barrier(dir string, count int) error {
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(os.Getpid())), nil, 0o644); err != nil {
		return err
	}
	for range 3000 {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) >= count {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &BadRequest{Why: "barrier: the other invocations never came"}
}

func main() {
	switch os.Getenv("CRASHER_INIT") {
	case "exit":
		os.Exit(4)
	case "init-error":
		body, _ := json.Marshal(map[string]string{"errorMessage": "missing configuration", "errorType": "Runtime.ConfigError"})
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	case "hang":
		time.Sleep(time.Hour)
	}
	lambda.Start(handle)
}
