// Package invoke runs Lambda functions for the local state machine: handlers
// in-process through aws-lambda-go's own Handler (so input decoding, output
// encoding and errors are what Lambda would produce), or the built bootstrap
// binaries under a Lambda Runtime API emulator.
//
// Errors come back as *asl.TaskError named like Lambda names them: the Go
// type name of the error a handler returned, so the state machine's
// ErrorEquals behave as they do on AWS. The cause is the JSON Lambda puts in
// a function error's payload ({"errorMessage", "errorType"}).
package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/local/asl"
)

// InProcess maps function names to handlers built with lambda.NewHandler.
type InProcess map[string]lambda.Handler

// Invoke runs the function a Task state's resource names.
func (h InProcess) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	name := FunctionName(resource)
	handler, ok := h[name]
	if !ok {
		return nil, &asl.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: fmt.Sprintf("Function not found: %s", resource)}
	}
	out, err := invokeSafely(ctx, handler, input)
	if err != nil {
		return nil, FunctionError(err)
	}
	return out, nil
}

// invokeSafely turns a handler panic into the error Lambda reports for it,
// instead of taking the whole local run down. The output is copied:
// aws-lambda-go's Invoke returns the bytes of a pooled buffer that it has
// already put back, which the next invocation of the handler (another
// execution, concurrently) writes over.
func invokeSafely(ctx context.Context, handler lambda.Handler, input json.RawMessage) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: fmt.Sprint(r)}
		}
	}()
	out, err = handler.Invoke(ctx, input)
	return bytes.Clone(out), err
}

type panicError struct{ value string }

func (e *panicError) Error() string { return e.value }

// FunctionName is the function a Lambda ARN (qualified or not) or a plain
// name refers to.
func FunctionName(resource string) string {
	if !strings.HasPrefix(resource, "arn:") {
		return resource
	}
	parts := strings.Split(resource, ":")
	// arn:aws:lambda:region:account:function:NAME[:qualifier]
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return resource
}

// ErrorType is the errorType Lambda reports for a Go handler's error: the
// error's type name, without the pointer (as aws-lambda-go computes it).
func ErrorType(err error) string {
	if _, ok := err.(*panicError); ok {
		return "Runtime.ExitError"
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// FunctionError is the named task error a function error becomes.
func FunctionError(err error) *asl.TaskError {
	name := ErrorType(err)
	cause, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{err.Error(), name})
	return &asl.TaskError{Name: name, Cause: string(cause)}
}
