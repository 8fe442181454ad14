package runtimeapi

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/samtemplate"
)

// TemplateConfig is the Config of a template.yaml function: named as its
// ARN names it (what a Task state's resource resolves to), in the ARN's
// region, with its memory size, timeout and environment. env adds or
// replaces variables (local endpoints, local table names). base gives
// the rest (Output, Logger, Instances, InitTimeout).
func TemplateConfig(fn samtemplate.Function, bootstrap string, env map[string]string, base Config) Config {
	cfg := base
	cfg.Name = fn.LogicalID
	if fn.ARN != "" {
		cfg.Name = invoke.FunctionName(fn.ARN)
		// arn:aws:lambda:REGION:ACCOUNT:function:NAME
		if parts := strings.Split(fn.ARN, ":"); len(parts) > 3 && parts[3] != "" {
			cfg.Region = parts[3]
		}
	}
	cfg.Bootstrap = bootstrap
	if fn.MemorySize > 0 {
		cfg.MemoryMB = fn.MemorySize
	}
	if fn.Timeout > 0 {
		cfg.Timeout = time.Duration(fn.Timeout) * time.Second
	}
	cfg.Env = fn.Env()
	maps.Copy(cfg.Env, env)
	return cfg
}

// StateMachineFunctions lists the template's functions that its state
// machine's definition substitutions name (the Task states' resources),
// in template order: what process mode has to build and run.
func StateMachineFunctions(tmpl *samtemplate.Template) ([]samtemplate.Function, error) {
	sm, err := tmpl.StateMachine()
	if err != nil {
		return nil, fmt.Errorf("state machine functions: %w", err)
	}
	named := map[string]bool{}
	for _, v := range sm.Substitutions {
		named[v] = true
	}
	var fns []samtemplate.Function
	for _, fn := range tmpl.Functions() {
		if named[fn.ARN] {
			fns = append(fns, fn)
		}
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("state machine functions: %s names no function of the template", sm.LogicalID)
	}
	return fns, nil
}

// TemplateInvoker runs the template functions fns from bins (functions/<dir>
// → binary, as Build returns them), each configured by TemplateConfig. A
// function without a binary is an error naming it.
func TemplateInvoker(fns []samtemplate.Function, bins map[string]string, env map[string]string, base Config) (*Invoker, error) {
	var started []*Function
	stopAll := func() {
		for _, f := range started {
			f.Stop()
		}
	}
	for _, fn := range fns {
		bin, ok := bins[fn.Dir]
		if !ok {
			stopAll()
			return nil, fmt.Errorf("function %s: no binary built for functions/%s", fn.LogicalID, fn.Dir)
		}
		f, err := NewFunction(TemplateConfig(fn, bin, env, base))
		if err != nil {
			stopAll()
			return nil, err
		}
		started = append(started, f)
	}
	inv, err := NewInvoker(started...)
	if err != nil {
		stopAll()
		return nil, err
	}
	return inv, nil
}
