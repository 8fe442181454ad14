package console

import (
	"context"
	"encoding/json"
	"fmt"
	"path"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/task"
)

// resultView is what an execution produced: the symbolicated frames and
// modules (read from the stored result), and the prepared components.
type resultView struct {
	Status     string
	Ref        string
	Summary    *task.Summary
	Threads    []threadView
	Modules    []moduleView
	Components []componentView
	// Missing says why a part could not be shown (no result yet, or the
	// stored object could not be read).
	Missing []string
}

type threadView struct {
	Label  string
	Frames []frameView
}

type frameView struct {
	Index                       string
	Addr, Function, Location    string
	Status, Package, SourceLine string
}

type moduleView struct {
	CodeFile, DebugID, DebugStatus, Arch string
}

type componentView struct {
	App, Component, Type, Error string
	Schema                      string
}

// result finds, in the history, the latest states' outputs that carry the
// result and the components (a failed execution may have got as far as
// ProcessResponse), and reads what they point at.
func (c *Console) result(ctx context.Context, e *asl.Execution) *resultView {
	var res *task.Result
	var comps *task.Components
	for _, ev := range e.History {
		if ev.Nested || ev.Details.Output == "" {
			continue
		}
		var out struct {
			Result     *task.Result    `json:"result"`
			Components json.RawMessage `json:"components"`
		}
		if json.Unmarshal([]byte(ev.Details.Output), &out) != nil {
			continue
		}
		if out.Result != nil && out.Result.Result.Key != "" {
			res = out.Result
		}
		var cs task.Components
		if len(out.Components) > 0 && json.Unmarshal(out.Components, &cs) == nil && (len(cs.Items) > 0 || cs.Schemas != nil) {
			comps = &cs
		}
	}
	v := &resultView{}
	if res == nil {
		v.Missing = append(v.Missing, "no symbolication result: the execution did not get through ProcessResponse")
		return v
	}
	v.Status, v.Ref, v.Summary = res.Status, "s3://"+res.Result.Bucket+"/"+res.Result.Key, &res.Summary
	if c.cfg.Results == nil {
		v.Missing = append(v.Missing, "the stored result cannot be read here")
	} else {
		var sr task.StoredResult
		if err := c.cfg.Results.GetJSON(ctx, res.Result, &sr); err != nil {
			v.Missing = append(v.Missing, fmt.Sprintf("stored result %s not read: %v", v.Ref, err))
		} else {
			v.Threads, v.Modules = frames(sr), modules(sr)
		}
	}
	if comps != nil {
		var prepared []component.Result
		if comps.Schemas != nil && c.cfg.Results != nil {
			if err := c.cfg.Results.GetJSON(ctx, *comps.Schemas, &prepared); err != nil {
				v.Missing = append(v.Missing, fmt.Sprintf("prepared components not read: %v", err))
			}
		}
		for i, it := range comps.Items {
			cv := componentView{App: it.AppSlug, Component: it.Component, Type: it.Type, Error: it.Error}
			if i < len(prepared) && len(prepared[i].Schema) > 0 {
				cv.Schema = pretty(string(prepared[i].Schema))
			}
			v.Components = append(v.Components, cv)
		}
	}
	return v
}

func frames(sr task.StoredResult) []threadView {
	var out []threadView
	for _, t := range sr.Stacktraces {
		label := fmt.Sprintf("thread %v", t.ThreadID)
		if t.ThreadID == nil {
			label = "thread"
		}
		if t.ThreadName != "" {
			label += " " + t.ThreadName
		}
		if t.IsRequesting {
			label += " (crashed)"
		}
		tv := threadView{Label: label}
		prev := -1
		for _, f := range t.Frames {
			idx := fmt.Sprintf("#%d", f.OriginalIndex)
			if f.OriginalIndex == prev {
				idx = "" // an inlined frame shares its caller's number
			}
			prev = f.OriginalIndex
			loc := ""
			if f.AbsPath != "" {
				loc = fmt.Sprintf("%s:%d", f.AbsPath, f.Lineno)
			}
			pkg := ""
			if f.Package != "" {
				pkg = path.Base(f.Package)
			}
			tv.Frames = append(tv.Frames, frameView{Index: idx, Addr: f.InstructionAddr, Function: f.Function,
				Location: loc, Status: f.Status, Package: pkg, SourceLine: f.ContextLine})
		}
		out = append(out, tv)
	}
	return out
}

func modules(sr task.StoredResult) []moduleView {
	var out []moduleView
	for _, m := range sr.Modules {
		out = append(out, moduleView{CodeFile: m.CodeFile, DebugID: m.DebugID, DebugStatus: m.DebugStatus, Arch: m.Arch})
	}
	return out
}
