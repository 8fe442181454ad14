package runtimeapi_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/runtimeapi"
	"github.com/symflow/symflow/local/samtemplate"
)

// TestTemplateInvoker runs every function of the state machine, each as the
// crasher binary, to check the configuration each process gets from the
// template.
func TestTemplateInvoker(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fns, err := runtimeapi.StateMachineFunctions(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, fn.Dir)
	}
	for _, want := range []string{"lookup-sources", "submit-task", "poll-task", "recover-task", "process-response", "prepare-components"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("state machine functions %v lack %s", dirs, want)
		}
	}
	bins := map[string]string{}
	for _, fn := range fns {
		bins[fn.Dir] = crasher(t)
	}
	override := map[string]string{"CRASHER_GREETING": "local", "PROJECTS_TABLE": "local-projects"}
	inv, err := runtimeapi.TemplateInvoker(fns, bins, override, runtimeapi.Config{InitTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Stop)

	for _, fn := range fns {
		t.Run(fn.LogicalID, func(t *testing.T) {
			cfg := runtimeapi.TemplateConfig(fn, bins[fn.Dir], override, runtimeapi.Config{})
			if cfg.Name != invoke.FunctionName(fn.ARN) {
				t.Errorf("name %q, want the ARN's %q", cfg.Name, invoke.FunctionName(fn.ARN))
			}
			if fn.Timeout > 0 && cfg.Timeout != time.Duration(fn.Timeout)*time.Second {
				t.Errorf("timeout %v, template says %d s", cfg.Timeout, fn.Timeout)
			}
			for k, v := range fn.Env() {
				if want, ok := override[k]; ok {
					v = want
				}
				if cfg.Env[k] != v {
					t.Errorf("env %s=%q, want %q", k, cfg.Env[k], v)
				}
			}
			if cfg.Env["CRASHER_GREETING"] != "local" {
				t.Error("env override not added")
			}

			out, err := inv.Invoke(context.Background(), fn.ARN, json.RawMessage(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			var resp crasherResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.FunctionARN != fn.ARN {
				t.Errorf("invoked ARN %q, want %q", resp.FunctionARN, fn.ARN)
			}
			if resp.Env["AWS_LAMBDA_FUNCTION_NAME"] != cfg.Name || resp.Env["CRASHER_GREETING"] != "local" {
				t.Errorf("process env %v", resp.Env)
			}
			if fn.MemorySize > 0 && resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != strconv.Itoa(fn.MemorySize) {
				t.Errorf("memory %s, template says %d", resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], fn.MemorySize)
			}
		})
	}

	delete(bins, fns[0].Dir)
	if _, err := runtimeapi.TemplateInvoker(fns, bins, nil, runtimeapi.Config{}); err == nil ||
		!strings.Contains(err.Error(), "no binary built for functions/"+fns[0].Dir) {
		t.Errorf("missing binary: %v, want an error naming functions/%s", err, fns[0].Dir)
	}
}
