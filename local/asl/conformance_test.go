package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A conformance case runs in local/asl and in the npm engine
// aws-local-stepfunctions; both must meet the expectation, except where the
// case documents (npm_known_wrong) that the npm engine departs from AWS's
// documented behaviour: then only local/asl is held to it.
//
// tasks maps a Task resource (or, for lambda:invoke, the FunctionName) to
// its response: {"output": v}, {"error": name, "cause": text},
// {"echo": true} (return the input/payload), optionally with "sleep":
// seconds before answering; an array gives the responses of successive
// calls (the last one repeats).
type conformanceCase struct {
	Name          string                     `json:"name"`
	Definition    json.RawMessage            `json:"definition"`
	Input         json.RawMessage            `json:"input"`
	Tasks         map[string]json.RawMessage `json:"tasks,omitempty"`
	Expect        expectation                `json:"expect"`
	NpmKnownWrong string                     `json:"npm_known_wrong,omitempty"`
	NpmRealWaits  bool                       `json:"npm_real_waits,omitempty"`
}

type expectation struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  *string         `json:"cause,omitempty"`
	Path   []string        `json:"path"`
}

type taskResponse struct {
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	Echo   bool            `json:"echo"`
	Sleep  float64         `json:"sleep"`
}

// caseInvoker serves a case's tasks.
type caseInvoker struct {
	clock Clock
	tasks map[string]json.RawMessage
	mu    sync.Mutex
	calls map[string]int
}

func (c *caseInvoker) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	raw, ok := c.tasks[resource]
	if !ok {
		return nil, &TaskError{Name: "TaskNotConfigured", Cause: "no task response configured for " + resource}
	}
	var resp taskResponse
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		var seq []taskResponse
		if err := json.Unmarshal(raw, &seq); err != nil || len(seq) == 0 {
			return nil, fmt.Errorf("tasks[%s]: bad response list: %v", resource, err)
		}
		c.mu.Lock()
		n := c.calls[resource]
		c.calls[resource] = n + 1
		c.mu.Unlock()
		resp = seq[min(n, len(seq)-1)]
	} else if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("tasks[%s]: %v", resource, err)
	}
	if resp.Sleep > 0 {
		if err := c.clock.Sleep(ctx, time.Duration(resp.Sleep*float64(time.Second))); err != nil {
			return nil, err
		}
	}
	if resp.Error != "" {
		return nil, &TaskError{Name: resp.Error, Cause: resp.Cause}
	}
	if resp.Echo {
		return input, nil
	}
	if resp.Output == nil {
		return json.RawMessage("null"), nil
	}
	return resp.Output, nil
}

// repoRoot walks up from the package directory to the directory with go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func loadCases(t *testing.T) []conformanceCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []conformanceCase
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c conformanceCase
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Name == "" || c.Expect.Status == "" {
			t.Fatalf("%s: name and expect.status are required", f)
		}
		if prev, dup := seen[c.Name]; dup {
			t.Fatalf("%s: case name %q already used by %s", f, c.Name, prev)
		}
		seen[c.Name] = f
		if len(c.Input) == 0 {
			c.Input = json.RawMessage("{}")
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases
}

type engineResult struct {
	Name   string          `json:"name"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	Path   []string        `json:"path"`
}

// runNpm runs every case in one node process.
func runNpm(t *testing.T, cases []conformanceCase) map[string]engineResult {
	t.Helper()
	root := repoRoot(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run make deps")
	}
	modDir := filepath.Join(root, "node_modules", "aws-local-stepfunctions")
	if _, err := os.Stat(filepath.Join(modDir, "package.json")); err != nil {
		t.Fatalf("npm package aws-local-stepfunctions is missing (%v): run make deps", err)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "npm-runner.mjs"), modDir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm runner: %v\n%s", err, stderr.String())
	}
	var res struct {
		Version string         `json:"version"`
		Results []engineResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("npm runner output: %v\n%s", err, out)
	}
	if res.Version != "3.0.0" {
		t.Fatalf("aws-local-stepfunctions is version %s, want 3.0.0: run make deps", res.Version)
	}
	m := map[string]engineResult{}
	for _, r := range res.Results {
		m[r.Name] = r
	}
	return m
}

// conformanceStart is the fake clock's start for conformance runs.
var conformanceStart = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func runGo(c conformanceCase) (engineResult, error) {
	sm, err := Parse(c.Definition)
	if err != nil {
		return engineResult{Name: c.Name, Status: "INVALID", Cause: err.Error()}, nil
	}
	clock := NewFakeClock(conformanceStart)
	inv := &caseInvoker{clock: clock, tasks: c.Tasks, calls: map[string]int{}}
	ex, err := sm.Run(context.Background(), "conformance", c.Input, Options{Invoker: inv, Clock: clock})
	if err != nil {
		return engineResult{}, err
	}
	return engineResult{Name: c.Name, Status: ex.Status, Output: ex.Output, Error: ex.Error, Cause: ex.Cause, Path: Path(ex)}, nil
}

// checkResult compares one engine's result with the expectation.
func checkResult(exp expectation, got engineResult, withCause bool) []string {
	var problems []string
	if got.Status != exp.Status {
		problems = append(problems, fmt.Sprintf("status %s, want %s (error %q, cause %q)", got.Status, exp.Status, got.Error, got.Cause))
	}
	if exp.Output != nil && !sameJSON(got.Output, exp.Output) {
		problems = append(problems, fmt.Sprintf("output %s, want %s", got.Output, exp.Output))
	}
	if got.Error != exp.Error {
		problems = append(problems, fmt.Sprintf("error %q, want %q (cause %q)", got.Error, exp.Error, got.Cause))
	}
	if withCause && exp.Cause != nil && got.Cause != *exp.Cause {
		problems = append(problems, fmt.Sprintf("cause %q, want %q", got.Cause, *exp.Cause))
	}
	if !slices.Equal(got.Path, exp.Path) && !(len(got.Path) == 0 && len(exp.Path) == 0) {
		problems = append(problems, fmt.Sprintf("path %v, want %v", got.Path, exp.Path))
	}
	return problems
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 {
		return false
	}
	va, err1 := decodeJSON(a)
	vb, err2 := decodeJSON(b)
	return err1 == nil && err2 == nil && jsonEqual(va, vb)
}

func TestConformance(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 40 {
		t.Fatalf("%d conformance cases, want at least 40", len(cases))
	}
	npm := runNpm(t, cases)
	var knownWrong int
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := runGo(c)
			if err != nil {
				t.Fatalf("local/asl: %v", err)
			}
			for _, p := range checkResult(c.Expect, got, true) {
				t.Errorf("local/asl: %s", p)
			}
			n, ok := npm[c.Name]
			if !ok {
				t.Fatalf("npm engine returned no result")
			}
			problems := checkResult(c.Expect, n, false)
			if c.NpmKnownWrong != "" {
				knownWrong++
				if len(problems) == 0 {
					t.Logf("npm engine now meets the expectation; npm_known_wrong (%s) may be stale", c.NpmKnownWrong)
				}
				return
			}
			for _, p := range problems {
				t.Errorf("aws-local-stepfunctions: %s", p)
			}
		})
	}
	t.Logf("%d cases, %d with npm_known_wrong", len(cases), knownWrong)
}

// TestConformanceCasesUseDistinctStateNames guards the npm runner's path
// reconstruction, which tells top-level states by name.
func TestConformanceCasesUseDistinctStateNames(t *testing.T) {
	for _, c := range loadCases(t) {
		var def map[string]any
		if err := json.Unmarshal(c.Definition, &def); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		seen := map[string]int{}
		var walk func(m map[string]any)
		walk = func(m map[string]any) {
			states, _ := m["States"].(map[string]any)
			for name, s := range states {
				seen[name]++
				st, _ := s.(map[string]any)
				for _, k := range []string{"ItemProcessor", "Iterator"} {
					if inner, ok := st[k].(map[string]any); ok {
						walk(inner)
					}
				}
				if bs, ok := st["Branches"].([]any); ok {
					for _, b := range bs {
						if bm, ok := b.(map[string]any); ok {
							walk(bm)
						}
					}
				}
			}
		}
		walk(def)
		for name, n := range seen {
			if n > 1 {
				t.Errorf("%s: state name %q used %d times", c.Name, name, n)
			}
		}
		if strings.TrimSpace(c.NpmKnownWrong) == "" && c.NpmKnownWrong != "" {
			t.Errorf("%s: npm_known_wrong must say why", c.Name)
		}
	}
}
