package asl

import (
	"fmt"
	"strings"
)

// Mermaid renders the definition's top-level states as a Mermaid flowchart
// ("flowchart TD"). States named in visited, and the transitions taken
// between consecutive visited states, are highlighted (class "visited" and
// a thicker link), so `symflow executions show` can draw the path an
// execution took. Map and Parallel states are drawn as subroutine boxes.
//
// fail, when not nil, marks the state the execution failed in (class
// "failed", red, instead of visited) and, for an error no Catch took, a red
// edge from it to the execution's end labelled with the error.
func Mermaid(sm *StateMachine, visited []string, fail *MermaidFailure) string {
	order := sm.flow
	ids := make(map[string]string, len(order))
	for i, n := range order {
		ids[n] = fmt.Sprintf("s%d", i)
	}
	taken := map[[2]string]bool{}
	seen := map[string]bool{}
	for i, v := range visited {
		seen[v] = true
		if i > 0 {
			taken[[2]string{visited[i-1], v}] = true
		}
	}

	var b strings.Builder
	b.WriteString("flowchart TD\n")
	b.WriteString("    start((Start)) --> s0\n")
	for _, n := range order {
		st := sm.states[n]
		id := ids[n]
		label := mermaidLabel(n, st)
		switch st.typ {
		case "Choice":
			fmt.Fprintf(&b, "    %s{%s}\n", id, label)
		case "Succeed":
			fmt.Fprintf(&b, "    %s([%s])\n", id, label)
		case "Fail":
			fmt.Fprintf(&b, "    %s[/%s/]\n", id, label)
		case "Map", "Parallel":
			fmt.Fprintf(&b, "    %s[[%s]]\n", id, label)
		default:
			fmt.Fprintf(&b, "    %s[%s]\n", id, label)
		}
	}
	link := 0
	var takenLinks []int
	for _, n := range order {
		st := sm.states[n]
		id := ids[n]
		for _, t := range st.transitions() {
			arrow := "-->"
			lbl := ""
			switch {
			case strings.HasPrefix(t.field, "Catch"):
				arrow, lbl = "-.->", "catch "+strings.Join(t.errs, ", ")
				if len(lbl) > 60 {
					lbl = lbl[:57] + "..."
				}
			case strings.HasPrefix(t.field, "Choices"):
				lbl = t.rule.describe()
			case t.field == "Default":
				lbl = "default"
			}
			if lbl != "" {
				fmt.Fprintf(&b, "    %s %s|%s| %s\n", id, arrow, mermaidText(lbl), ids[t.to])
			} else {
				fmt.Fprintf(&b, "    %s %s %s\n", id, arrow, ids[t.to])
			}
			if taken[[2]string{n, t.to}] {
				takenLinks = append(takenLinks, link)
			}
			link++
		}
		if st.end || st.typ == "Succeed" || st.typ == "Fail" {
			fmt.Fprintf(&b, "    %s --> stop((End))\n", id)
			if len(visited) > 0 && visited[len(visited)-1] == n {
				takenLinks = append(takenLinks, link)
			}
			link++
		}
	}
	failedID := ""
	if fail != nil {
		failedID = ids[fail.State]
	}
	if failedID != "" && fail.Unhandled {
		fmt.Fprintf(&b, "    %s -.->|%s| execfailed(((%s)))\n", failedID, mermaidText("unhandled "+fail.Error), mermaidText(fail.Status))
	}
	b.WriteString("    classDef visited fill:#d4edda,stroke:#28a745,stroke-width:2px\n")
	for _, n := range order {
		if seen[n] && ids[n] != failedID {
			fmt.Fprintf(&b, "    class %s visited\n", ids[n])
		}
	}
	for _, l := range takenLinks {
		fmt.Fprintf(&b, "    linkStyle %d stroke:#28a745,stroke-width:3px\n", l+1) // +1: the start link
	}
	if failedID != "" {
		b.WriteString("    classDef failed fill:#f8d7da,stroke:#d73a49,stroke-width:3px,color:#86181d\n")
		fmt.Fprintf(&b, "    class %s failed\n", failedID)
		if fail.Unhandled {
			b.WriteString("    class execfailed failed\n")
			fmt.Fprintf(&b, "    linkStyle %d stroke:#d73a49,stroke-width:3px\n", link+1)
		}
	}
	return b.String()
}

// MermaidFailure is how an execution failed, for Mermaid (see Failure).
type MermaidFailure struct {
	State     string // the state it failed in
	Unhandled bool   // no Catch took the error
	Error     string // the execution's error name
	Status    string // FAILED, TIMED_OUT or ABORTED
}

// describe summarizes a choice rule for an edge label.
func (r *choiceRule) describe() string {
	var s string
	switch {
	case r.and != nil:
		s = "And(" + describeAll(r.and) + ")"
	case r.or != nil:
		s = "Or(" + describeAll(r.or) + ")"
	case r.not != nil:
		s = "Not " + r.not.describe()
	case r.variable == nil:
		s = r.op
	case r.opPath != nil:
		s = r.variable.src + " " + r.op + " " + r.opPath.src
	default:
		s = r.variable.src + " " + r.op + " " + mustJSON(r.operand)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func describeAll(rs []*choiceRule) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.describe()
	}
	return strings.Join(parts, ", ")
}

func mermaidLabel(name string, st *state) string {
	return "\"" + mermaidText(name) + "<br/><small>" + st.typ + "</small>\""
}

// mermaidText escapes characters that Mermaid would read as syntax.
func mermaidText(s string) string {
	r := strings.NewReplacer("\"", "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "\n", " ", "[", "#91;", "]", "#93;", "{", "#123;", "}", "#125;")
	return r.Replace(s)
}
