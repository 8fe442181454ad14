package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"

	"github.com/symflow/symflow/local/asl"
)

// definition is the part of an Amazon States Language document the graph
// draws: the top-level states and their transitions.
type definition struct {
	StartAt string                `json:"StartAt"`
	States  map[string]stateShape `json:"States"`
}

type stateShape struct {
	Type    string `json:"Type"`
	Next    string `json:"Next"`
	End     bool   `json:"End"`
	Default string `json:"Default"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
	Retry []struct {
		ErrorEquals []string `json:"ErrorEquals"`
	} `json:"Retry"`
}

// edgeKind tells how a transition is taken.
type edgeKind int

const (
	edgeNext edgeKind = iota
	edgeChoice
	edgeCatch
)

type edge struct {
	from, to string
	kind     edgeKind
	label    string
}

// graph is a definition laid out top to bottom: states in the order a
// reader follows them from StartAt (breadth first, Next before Choices
// before Catch), one per row.
type graph struct {
	order []string
	types map[string]string
	retry map[string]bool
	edges []edge
	ends  []string // states that end the execution (End, Succeed, Fail)
}

// parseGraph reads the states of a definition. Only the shape matters
// here: ${...} placeholders in resources and parameters are left as they
// are.
func parseGraph(def []byte) (*graph, error) {
	var d definition
	if err := json.Unmarshal(def, &d); err != nil {
		return nil, fmt.Errorf("state machine definition: %w", err)
	}
	if _, ok := d.States[d.StartAt]; !ok {
		return nil, fmt.Errorf("state machine definition: StartAt %q names no state", d.StartAt)
	}
	g := &graph{types: map[string]string{}, retry: map[string]bool{}}
	// Depth first along Next, Choices and Default, so the happy path and
	// the loops read top to bottom; the states reached only through a
	// Catch (the recovery branches) come after, in the order their
	// catches appear.
	seen := map[string]bool{}
	var catches []string
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		st := d.States[name]
		g.order = append(g.order, name)
		g.types[name] = st.Type
		g.retry[name] = len(st.Retry) > 0
		var out []edge
		if st.Next != "" {
			out = append(out, edge{name, st.Next, edgeNext, ""})
		}
		for _, c := range st.Choices {
			out = append(out, edge{name, c.Next, edgeChoice, ""})
		}
		if st.Default != "" {
			out = append(out, edge{name, st.Default, edgeChoice, "default"})
		}
		for _, c := range st.Catch {
			out = append(out, edge{name, c.Next, edgeCatch, "catch " + strings.Join(c.ErrorEquals, ", ")})
		}
		if st.End || st.Type == "Succeed" || st.Type == "Fail" {
			g.ends = append(g.ends, name)
		}
		for _, e := range out {
			if _, ok := d.States[e.to]; !ok {
				continue // the engine refuses such a definition; draw what is there
			}
			g.edges = append(g.edges, e)
			if e.kind == edgeCatch {
				catches = append(catches, e.to)
				continue
			}
			visit(e.to)
		}
	}
	visit(d.StartAt)
	for i := 0; i < len(catches); i++ { // visit may add more
		visit(catches[i])
	}
	return g, nil
}

// trace is what an execution's history says about each top-level state.
type trace struct {
	entered  map[string]int      // times entered
	attempts map[string]int      // task invocations (retries are the extra ones)
	taken    map[[2]string]bool  // transitions taken
	caught   map[[2]string]bool  // transitions taken through a Catch
	errors   map[string][]string // errors raised in the state, in order
	path     []string
	failed   string // the state the execution failed in, "" unless it failed
	// unhandled is true when the error left the state with no Catch to
	// take it (the execution failed there, not in a Fail state).
	unhandled bool
}

func failedStatus(s string) bool {
	return s == asl.StatusFailed || s == "TIMED_OUT" || s == "ABORTED"
}

// traceOf reads an execution's top-level history.
func traceOf(e *asl.Execution) *trace {
	t := &trace{entered: map[string]int{}, attempts: map[string]int{}, taken: map[[2]string]bool{},
		caught: map[[2]string]bool{}, errors: map[string][]string{}}
	cur := ""
	pendingError := false
	for _, ev := range e.History {
		if ev.Nested {
			continue
		}
		switch {
		case strings.HasSuffix(ev.Type, "StateEntered"):
			name := ev.Details.Name
			if cur != "" {
				t.taken[[2]string{cur, name}] = true
				if pendingError {
					t.caught[[2]string{cur, name}] = true
				}
			}
			t.entered[name]++
			t.path = append(t.path, name)
			cur, pendingError = name, false
		case ev.Type == "LambdaFunctionScheduled" || ev.Type == "TaskScheduled" || ev.Type == "ActivityScheduled":
			t.attempts[cur]++
			pendingError = false
		case strings.HasSuffix(ev.Type, "Failed") || strings.HasSuffix(ev.Type, "TimedOut"):
			if ev.Type == "ExecutionFailed" || ev.Type == "ExecutionTimedOut" || ev.Details.Error == "" {
				continue
			}
			if cur != "" {
				t.errors[cur] = append(t.errors[cur], ev.Details.Error)
				pendingError = true
			}
		case ev.Type == "ExecutionRedriven":
			// The redrive enters the failed state again; the edge from
			// the old failure is not a transition.
			cur, pendingError = "", false
		}
	}
	t.failed, t.unhandled = asl.Failure(e)
	return t
}

// Layout constants (px).
const (
	nodeW   = 220
	nodeH   = 40
	rowH    = 64
	marginX = 170 // left of the states: backward edges
	rightW  = 420 // right of the states: forward edges and their labels
	marginY = 24
)

type svgNode struct {
	Name, Type, Class, Note string
	X, Y, W, H              int
	CX, TY                  int
}

type svgEdge struct {
	D, Class, Label string
	LX, LY          int
	From, To        string
}

type svgGraph struct {
	W, H  int
	Nodes []svgNode
	Edges []svgEdge
}

// layout draws the graph for one execution: visited states green, the
// failed state red, retried states with their attempts, catch edges
// dashed (solid orange once taken), and an unhandled error as a red edge
// to the execution's end.
func (g *graph) layout(t *trace, execError string) svgGraph {
	row := map[string]int{}
	for i, n := range g.order {
		row[n] = i
	}
	rows := len(g.order) + 1 // a row for the end
	out := svgGraph{W: marginX + nodeW + rightW, H: marginY*2 + rows*rowH}
	cx := marginX + nodeW/2
	y := func(r int) int { return marginY + r*rowH }
	for _, n := range g.order {
		cls := "state"
		if t.entered[n] > 0 {
			cls += " visited"
		}
		if n == t.failed {
			cls += " failed"
		}
		var notes []string
		if t.entered[n] > 1 {
			notes = append(notes, fmt.Sprintf("entered %d×", t.entered[n]))
		}
		if r := t.attempts[n] - t.entered[n]; r > 0 {
			notes = append(notes, fmt.Sprintf("%d retries", r))
			cls += " retried"
		}
		if errs := t.errors[n]; len(errs) > 0 {
			notes = append(notes, distinct(errs))
		}
		typ := g.types[n]
		if g.retry[n] {
			typ += " · Retry"
		}
		out.Nodes = append(out.Nodes, svgNode{Name: n, Type: typ, Class: cls, Note: strings.Join(notes, " · "),
			X: marginX, Y: y(row[n]), W: nodeW, H: nodeH, CX: cx, TY: y(row[n]) + 17})
	}
	endRow := len(g.order)
	out.Nodes = append(out.Nodes, svgNode{Name: "End", Class: "state end", X: marginX + nodeW/2 - 40, Y: y(endRow), W: 80, H: nodeH, CX: cx, TY: y(endRow) + 25})

	// Edges: to the next row straight down; farther forward on the right,
	// backward on the left, each bowed by how far it goes so they do not
	// overlap.
	side := map[bool]int{}
	addEdge := func(from, to int, cls, label, fromName, toName string) {
		x1, y1 := cx, y(from)+nodeH
		x2, y2 := cx, y(to)
		var d string
		lx, ly := cx+6, (y1+y2)/2
		switch {
		case to == from+1:
			d = fmt.Sprintf("M%d %d L%d %d", x1, y1, x2, y2)
		default:
			right := to > from
			span := to - from
			if span < 0 {
				span = -span
			}
			side[right]++
			bow := 30 + span*8 + side[right]*6
			sx := marginX + nodeW
			if !right {
				sx, bow = marginX, -bow
			}
			y1, y2 = y(from)+nodeH/2, y(to)+nodeH/2
			d = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", sx, y1, sx+bow, y1, sx+bow, y2, sx, y2)
			lx, ly = sx+bow*3/4, (y1+y2)/2
			if !right {
				lx -= 4
			}
		}
		out.Edges = append(out.Edges, svgEdge{D: d, Class: cls, Label: label, LX: lx, LY: ly, From: fromName, To: toName})
	}
	for _, e := range g.edges {
		cls := "edge"
		if e.kind == edgeCatch {
			cls += " catch"
		}
		if t.taken[[2]string{e.from, e.to}] {
			cls += " taken"
		}
		if t.caught[[2]string{e.from, e.to}] && e.kind == edgeCatch {
			cls += " caught"
		}
		label := e.label
		if len(label) > 40 {
			label = label[:39] + "…"
		}
		addEdge(row[e.from], row[e.to], cls, label, e.from, e.to)
	}
	last := ""
	if len(t.path) > 0 {
		last = t.path[len(t.path)-1]
	}
	for _, n := range g.ends {
		cls := "edge"
		if n == last && t.failed == "" || n == t.failed && !t.unhandled {
			cls += " taken"
		}
		addEdge(row[n], endRow, cls, "", n, "End")
	}
	if t.failed != "" && t.unhandled {
		label := execError
		if label == "" {
			label = "error"
		}
		addEdge(row[t.failed], endRow, "edge unhandled", "unhandled "+label, t.failed, "End")
	}
	return out
}

// distinct lists the errors once each, in the order first raised.
func distinct(errs []string) string {
	seen := map[string]bool{}
	var out []string
	for _, e := range errs {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return strings.Join(out, ", ")
}

// svgTemplate draws an svgGraph. html/template escapes every name.
var svgTemplate = template.Must(template.New("graph").Parse(`<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="state machine graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="context-stroke"/></marker></defs>
{{range .Edges}}<g class="{{.Class}}" data-from="{{.From}}" data-to="{{.To}}"><path d="{{.D}}" marker-end="url(#arrow)"/>{{if .Label}}<text x="{{.LX}}" y="{{.LY}}">{{.Label}}</text>{{end}}</g>
{{end}}{{range .Nodes}}<g class="{{.Class}}" data-state="{{.Name}}"><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="6"/><text class="name" x="{{.CX}}" y="{{.TY}}">{{.Name}}</text>{{if .Type}}<text class="type" x="{{.CX}}" y="{{.TY}}" dy="14">{{.Type}}{{if .Note}} — {{.Note}}{{end}}</text>{{end}}</g>
{{end}}</svg>`))
