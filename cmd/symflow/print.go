package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/task"
)

// progress prints an execution as the console shows it: each state entered
// and left with its duration and a one-line summary of its output.
type progress struct {
	w       io.Writer
	quiet   bool
	entered map[string]time.Time
	states  int
	lambdas int
	// logs is where the functions' logs go, said in the footer.
	logs string
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, quiet: quiet, entered: map[string]time.Time{}}
}

func (p *progress) header(name, symbolicatorURL string) {
	if !p.quiet {
		fmt.Fprintf(p.w, "execution %s\nsymbolicator %s\n\n", name, symbolicatorURL)
	}
}

func (p *progress) observe(e asl.HistoryEvent) {
	if e.Nested {
		return
	}
	switch {
	case strings.HasSuffix(e.Type, "StateEntered"):
		p.states++
		p.entered[e.Details.Name] = e.Timestamp
	case e.Type == "LambdaFunctionScheduled":
		p.lambdas++
	case e.Type == "LambdaFunctionFailed" || e.Type == "TaskFailed":
		if !p.quiet {
			fmt.Fprintf(p.w, "  ! %-22s %s\n", "error", oneLine(e.Details.Error+": "+causeMessage(e.Details.Cause), 110))
		}
	case strings.HasSuffix(e.Type, "StateExited"):
		if p.quiet {
			return
		}
		d := e.Timestamp.Sub(p.entered[e.Details.Name])
		fmt.Fprintf(p.w, "  → %-22s %8s  %s\n", e.Details.Name, d.Round(time.Millisecond), summarizeState(e.Details.Name, e.Details.Output))
	case e.Type == "FailStateEntered":
		p.states++
	}
}

func (p *progress) footer(exec *asl.Execution, stateDir string) {
	d := exec.StopDate.Sub(exec.StartDate).Round(time.Millisecond)
	switch exec.Status {
	case asl.StatusSucceeded:
		fmt.Fprintf(p.w, "\n✓ %s in %s: %d states entered, %d Lambda invocations\n", exec.Status, d, p.states, p.lambdas)
	default:
		fmt.Fprintf(p.w, "\n✗ %s in %s: %s\n  cause: %s\n", exec.Status, d, exec.Error, causeMessage(exec.Cause))
	}
	if !p.quiet {
		fmt.Fprintf(p.w, "  history: symflow executions show %s   (%s)\n", exec.Name, filepath.Join(stateDir, "executions", exec.Name+".json"))
		if p.logs != "" {
			fmt.Fprintf(p.w, "  logs:    %s   (the functions' JSON logs)\n", p.logs)
		}
	}
}

// causeMessage unwraps a Lambda error cause ({"errorMessage": …}).
func causeMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}

// summarizeState is the one line an operator wants from a state's output.
func summarizeState(name, output string) string {
	var st task.State
	if json.Unmarshal([]byte(output), &st) != nil {
		return ""
	}
	switch name {
	case "LookupSources":
		if st.Lookup != nil {
			return "sources: " + strings.Join(st.Lookup.SourceIDs, ", ")
		}
	case "SubmitTask", "PollTask", "ForgetLostTask", "ResetWorker":
		if t := st.Task; t != nil {
			s := fmt.Sprintf("%s, worker %s, polls %d, resubmits %d", t.Status, t.WorkerID, t.Polls, t.Resubmits())
			if t.RequestID != "" {
				s += ", request " + t.RequestID
			}
			if t.WaitSeconds > 0 {
				s += fmt.Sprintf(", wait %ds", t.WaitSeconds)
			}
			return s
		}
	case "ProcessResponse":
		if r := st.Result; r != nil {
			return fmt.Sprintf("%s: %d frames (%s), %d modules (%s)", r.Status, r.Summary.Frames, counts(r.Summary.FramesByStatus), r.Summary.Modules, counts(r.Summary.ModulesByStatus))
		}
	case "PrepareComponents":
		var out struct {
			Components task.Components `json:"components"`
		}
		if json.Unmarshal([]byte(output), &out) == nil {
			return fmt.Sprintf("%d prepared, %d failed", out.Components.Prepared, out.Components.Failed)
		}
	}
	return ""
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// printResult prints the symbolicated frames of a finished execution.
func printResult(ctx context.Context, w io.Writer, st *stack.Stack, exec *asl.Execution) error {
	var out task.Output
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		return fmt.Errorf("execution output: %w", err)
	}
	var result task.StoredResult
	if err := st.Blobs.GetJSON(ctx, out.Result.Result, &result); err != nil {
		return fmt.Errorf("read result: %w", err)
	}
	fmt.Fprintf(w, "\nsymbolicated frames (%s):\n", out.Result.Result)
	for _, t := range result.Stacktraces {
		label := fmt.Sprintf("thread %v", t.ThreadID)
		if t.ThreadName != "" {
			label += fmt.Sprintf(" %q", t.ThreadName)
		}
		if t.IsRequesting {
			label += " (crashed)"
		}
		fmt.Fprintln(w, label)
		prev := -1
		for _, f := range t.Frames {
			idx := fmt.Sprintf("#%d", f.OriginalIndex)
			if f.OriginalIndex == prev {
				idx = "  "
			}
			prev = f.OriginalIndex
			fn, loc := f.Function, ""
			if fn == "" {
				fn = "??"
			}
			if f.AbsPath != "" {
				loc = fmt.Sprintf("%s:%d", f.AbsPath, f.Lineno)
			}
			fmt.Fprintf(w, "  %-3s %-18s %-16s %-28s %-14s %s\n", idx, f.InstructionAddr, fn, loc, f.Status, filepath.Base(f.Package))
			if f.ContextLine != "" {
				// The source line, from the frame's source context.
				fmt.Fprintf(w, "  %-3s %-18s | %s\n", "", "", strings.TrimSpace(f.ContextLine))
			}
		}
	}
	fmt.Fprintln(w, "modules:")
	for _, m := range result.Modules {
		fmt.Fprintf(w, "  %-10s %-40s %s\n", m.DebugStatus, m.CodeFile, m.DebugID)
	}
	fmt.Fprintf(w, "task: %d polls, %d resubmits (%d lost, %d unavailable)\n", out.Task.Polls, out.Task.Resubmits(), out.Task.LostTasks, out.Task.Unavailable)
	var comps task.Components
	if json.Unmarshal(out.Components, &comps) == nil && len(comps.Items) > 0 {
		fmt.Fprintln(w, "components:")
		var prepared []component.Result
		if comps.Schemas != nil {
			if err := st.Blobs.GetJSON(ctx, *comps.Schemas, &prepared); err != nil {
				return fmt.Errorf("read prepared components: %w", err)
			}
		}
		for i, c := range comps.Items {
			status := "prepared"
			if c.Error != "" {
				status = "error: " + c.Error
			}
			fmt.Fprintf(w, "  %-16s %-18s %s\n", c.AppSlug, c.Type, status)
			if i < len(prepared) {
				printSchema(w, prepared[i].Schema)
			}
		}
	}
	return nil
}

// printSchema shows what a prepared component offers a UI: a
// stacktrace-link's URL, and each form field with its choices.
func printSchema(w io.Writer, schema json.RawMessage) {
	var s struct {
		URL      string `json:"url"`
		Link     form   `json:"link"`
		Create   form   `json:"create"`
		Settings form   `json:"settings"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return
	}
	if s.URL != "" {
		fmt.Fprintf(w, "      url %s\n", s.URL)
	}
	for _, f := range []struct {
		name string
		form form
	}{{"link", s.Link}, {"create", s.Create}, {"settings", s.Settings}} {
		for _, field := range append(f.form.Required, f.form.Optional...) {
			line := fmt.Sprintf("      %s.%s (%s)", f.name, field.Name, field.Type)
			if len(field.Choices) > 0 {
				var labels []string
				for _, c := range field.Choices {
					if len(c) == 2 {
						labels = append(labels, fmt.Sprintf("%v=%v", c[0], c[1]))
					}
				}
				line += ": " + strings.Join(labels, ", ")
			}
			fmt.Fprintln(w, line)
		}
	}
}

// form is the part of a component schema that lists fields.
type form struct {
	Required []formField `json:"required_fields"`
	Optional []formField `json:"optional_fields"`
}

type formField struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Choices [][]any `json:"choices"`
}
