package main

import (
	"strings"

	"github.com/symflow/symflow/local/asl"
)

// executionMermaid is asl.Mermaid's picture of the path taken, with the
// failed state and an unhandled error marked.
func executionMermaid(sm *asl.StateMachine, e *asl.Execution) string {
	var fail *asl.MermaidFailure
	if state, unhandled := asl.Failure(e); state != "" {
		fail = &asl.MermaidFailure{State: state, Unhandled: unhandled, Error: e.Error, Status: e.Status}
	}
	return strings.TrimRight(asl.Mermaid(sm, asl.Path(e), fail), "\n")
}
