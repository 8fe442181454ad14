package asl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/symflow/symflow/local/asl"
)

// Run a definition with an in-process invoker on the instant clock and
// print progress as the console would show it.
func Example() {
	sm, err := asl.Parse([]byte(`{
	  "StartAt": "Greet",
	  "States": {
	    "Greet": {
	      "Type": "Task",
	      "Resource": "arn:aws:states:::lambda:invoke",
	      "Parameters": {"FunctionName": "greeter", "Payload": {"name.$": "$.name"}},
	      "OutputPath": "$.Payload",
	      "Next": "Pause"
	    },
	    "Pause": {"Type": "Wait", "Seconds": 60, "End": true}
	  }
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	invoker := asl.InvokerFunc(func(ctx context.Context, function string, payload json.RawMessage) (json.RawMessage, error) {
		var in struct{ Name string }
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, &asl.TaskError{Name: "BadPayload", Cause: err.Error()}
		}
		return json.Marshal(map[string]string{"greeting": "hello " + strings.ToUpper(in.Name)})
	})
	exec, err := sm.Run(context.Background(), "example", json.RawMessage(`{"name":"ada"}`), asl.Options{
		Invoker:  invoker,
		Clock:    asl.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		Observer: func(e asl.HistoryEvent) { fmt.Println(e) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(exec.Status, string(exec.Output), asl.Path(exec), exec.StopDate.Sub(exec.StartDate))
	// Output:
	// #1 ExecutionStarted
	// #2 TaskStateEntered Greet
	// #3 TaskScheduled lambda:invoke
	// #4 TaskStarted lambda:invoke
	// #5 TaskSucceeded lambda:invoke
	// #6 TaskStateExited Greet
	// #7 WaitStateEntered Pause
	// #8 WaitStateExited Pause
	// #9 ExecutionSucceeded
	// SUCCEEDED {"greeting":"hello ADA"} [Greet Pause] 1m0s
}
