package api

import (
	"encoding/json"
	"strings"

	"github.com/symflow/symflow/shared/execution"
)

// internalNames are error names whose cause describes symflow's insides
// (store, encoding, interpreter errors) rather than the crash: the API
// shows that something failed inside, and operators read the cause in the
// execution's history.
var internalNames = map[string]bool{
	"InternalError":            true,
	"States.Runtime":           true,
	"States.DataLimitExceeded": true,
	"States.TaskFailed":        true,
}

// failure is what the API shows of a failed, timed-out or aborted
// execution: the workflow's error name and, for the workflow's own named
// errors, the cause written for the caller to act on.
func failure(ex execution.Execution) *Failure {
	f := &Failure{Error: ex.Error, Cause: ex.Cause}
	// Causes of Lambda errors are the function's error JSON.
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if strings.HasPrefix(strings.TrimSpace(ex.Cause), "{") && json.Unmarshal([]byte(ex.Cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		f.Cause = lambdaErr.ErrorMessage
	}
	switch {
	case ex.Status == execution.StatusTimedOut:
		f.Error, f.Cause = firstNonEmpty(f.Error, "States.Timeout"), "the execution ran past the state machine's time limit"
	case ex.Status == execution.StatusAborted:
		f.Error, f.Cause = firstNonEmpty(f.Error, "Aborted"), "the execution was stopped by an operator"
	case internalNames[f.Error] || strings.HasPrefix(f.Error, "Lambda."):
		f.Cause = "symbolication failed inside symflow; operators find the cause in the execution's history (" + ex.Name + ")"
	}
	if f.Error == "" {
		f.Error = "Failed"
	}
	return f
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
