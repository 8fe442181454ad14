package main

import (
	"fmt"
	"strings"

	"github.com/symflow/symflow/local/asl"
)

// failedState is the top-level state an execution failed in ("" unless it
// is FAILED, TIMED_OUT or ABORTED), and whether the error left it with no
// Catch to take it (rather than through a Fail state).
func failedState(e *asl.Execution) (name string, unhandled bool) {
	switch e.Status {
	case asl.StatusFailed, "TIMED_OUT", "ABORTED":
	default:
		return "", false
	}
	for i := len(e.History) - 1; i >= 0; i-- {
		h := e.History[i]
		if !h.Nested && strings.HasSuffix(h.Type, "StateEntered") {
			return h.Details.Name, h.Type != "FailStateEntered"
		}
	}
	return "", false
}

// executionMermaid is asl.Mermaid's picture of the path taken, with the
// failed state in red (not in the visited green) and, when no Catch took
// the error, a red edge from it to the execution's failure labelled with
// the error.
func executionMermaid(sm *asl.StateMachine, e *asl.Execution) string {
	diagram := strings.TrimRight(asl.Mermaid(sm, asl.Path(e)), "\n")
	failed, unhandled := failedState(e)
	if failed == "" {
		return diagram
	}
	id := ""
	for i, n := range sm.StateNames() { // asl.Mermaid names states s<flow index>
		if n == failed {
			id = fmt.Sprintf("s%d", i)
		}
	}
	if id == "" {
		return diagram
	}
	var b strings.Builder
	links := 0
	for _, line := range strings.Split(diagram, "\n") {
		t := strings.TrimSpace(line)
		if t == "class "+id+" visited" {
			continue
		}
		if !strings.HasPrefix(t, "linkStyle") && !strings.HasPrefix(t, "classDef") && (strings.Contains(t, "-->") || strings.Contains(t, "-.->")) {
			links++
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("    classDef failed fill:#f8d7da,stroke:#d73a49,stroke-width:3px,color:#86181d\n")
	fmt.Fprintf(&b, "    class %s failed\n", id)
	if unhandled {
		label := mermaidSafe("unhandled " + e.Error)
		fmt.Fprintf(&b, "    %s -.->|%s| execfailed(((%s)))\n", id, label, mermaidSafe(e.Status))
		b.WriteString("    class execfailed failed\n")
		fmt.Fprintf(&b, "    linkStyle %d stroke:#d73a49,stroke-width:3px\n", links)
	}
	return strings.TrimRight(b.String(), "\n")
}

// mermaidSafe keeps the characters a Mermaid label may hold unquoted.
func mermaidSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || r == '.' || r == '_' || r == '-' || r == ':' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	if b.Len() > 60 {
		return b.String()[:60]
	}
	return b.String()
}
