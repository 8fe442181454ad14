package task

import (
	"context"
	"encoding/json"

	"github.com/symflow/symflow/shared/sources"
)

// ProcessResponse applies the response context to Symbolicator's answer
// (alias reversal, source names, redaction of internal sources), stores the
// result and returns a summary for the console.
func (s *Steps) ProcessResponse(ctx context.Context, in Input) (*Result, error) {
	if in.State.Task == nil || in.State.Task.Response == nil {
		return nil, &InvalidInput{Field: "task.response", Message: "missing: ProcessResponse runs after a finished task"}
	}
	if in.State.Lookup == nil {
		return nil, &InvalidInput{Field: "lookup", Message: "missing: ProcessResponse needs the response context"}
	}
	var resp map[string]any
	if err := s.Blobs.GetJSON(ctx, *in.State.Task.Response, &resp); err != nil {
		return nil, &InternalError{Op: "read Symbolicator response", Err: err}
	}
	resp = sources.ProcessResponse(resp, in.State.Lookup.Context)
	ref := s.resultRef(&in.State)
	if err := s.Blobs.PutJSON(ctx, ref, resp); err != nil {
		return nil, &InternalError{Op: "store result", Err: err}
	}
	status, _ := resp["status"].(string)
	sum := summarize(resp)
	s.logger(ctx, &in).InfoContext(ctx, "result stored", "result", ref.String(), "frames", sum.Frames, "symbolicated", sum.FramesByStatus["symbolicated"])
	return &Result{Status: status, Result: ref, Summary: sum}, nil
}

// summarize counts frames and modules by status. It reads the response
// loosely: a field of an unexpected shape is not counted, never a panic.
func summarize(resp map[string]any) Summary {
	sum := Summary{FramesByStatus: map[string]int{}, ModulesByStatus: map[string]int{}}
	traces, _ := resp["stacktraces"].([]any)
	sum.Threads = len(traces)
	for i, t := range traces {
		trace, _ := t.(map[string]any)
		frames, _ := trace["frames"].([]any)
		crashing := trace["is_requesting"] == true || (i == 0 && !anyRequesting(traces))
		for j, f := range frames {
			frame, _ := f.(map[string]any)
			st, _ := frame["status"].(string)
			if st == "" {
				st = "unknown"
			}
			sum.Frames++
			sum.FramesByStatus[st]++
			if crashing && j < 5 {
				if fn, ok := frame["function"].(string); ok {
					sum.CrashingFunctions = append(sum.CrashingFunctions, fn)
				}
			}
		}
	}
	modules, _ := resp["modules"].([]any)
	for _, m := range modules {
		mod, _ := m.(map[string]any)
		st, _ := mod["debug_status"].(string)
		if st == "" {
			st = "unknown"
		}
		sum.Modules++
		sum.ModulesByStatus[st]++
	}
	return sum
}

func anyRequesting(traces []any) bool {
	for _, t := range traces {
		if m, ok := t.(map[string]any); ok && m["is_requesting"] == true {
			return true
		}
	}
	return false
}

// Output is the execution's final output, shaped by the state machine's
// last state from the pieces above; defined here so callers can decode it.
type Output struct {
	ProjectID  string          `json:"project_id"`
	EventID    string          `json:"event_id"`
	Task       Progress        `json:"task"`
	Result     Result          `json:"result"`
	Components json.RawMessage `json:"components,omitempty"`
}
