package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repo = "../.."

// symflow runs the CLI in-process and returns its output and exit code.
func symflow(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := dispatch(context.Background(), args, &out, &errOut)
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func sampleArgs(stateDir string) []string {
	return []string{
		"--root", repo, "--state-dir", stateDir,
		"--project-config", filepath.Join(repo, "events/project/sample-project.json"),
		"--debug-file", filepath.Join(repo, "events/debug-files/crashy"),
		"--debug-file", filepath.Join(repo, "events/debug-files/crashy.src.zip"),
	}
}

// `make run`: the sample crash prints its symbolicated frames and the
// execution can be shown again afterwards.
func TestRunSample(t *testing.T) {
	state := t.TempDir()
	out, errOut, code := symflow(t, append([]string{"run", filepath.Join(repo, "events/execution/native-crash.json")}, sampleArgs(state)...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"→ LookupSources", "→ SubmitTask", "→ ProcessResponse", "✓ SUCCEEDED",
		"checked_limit", "/src/crashy/crashy.c:15", "parse_limits", "/src/crashy/crashy.c:22",
		"| return cfg->limits[i] * 2; /* cfg->limits is NULL: the crash */", // source context from the bundle
		"load_config", "main", "missing", "libc.so.6", "issue-link", "prepared",
		"link.board (select): crash=Crash triage, backlog=Backlog", "open-in-editor?installationId=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sample-password-shown-nowhere") {
		t.Error("the output shows a source password")
	}

	list, _, code := symflow(t, "executions", "list", "--state-dir", state)
	if code != 0 || !strings.Contains(list, "SUCCEEDED") {
		t.Fatalf("executions list (exit %d):\n%s", code, list)
	}
	name := strings.Fields(strings.Split(list, "\n")[1])[0]
	show, _, code := symflow(t, "executions", "show", name, "--state-dir", state)
	if code != 0 || !strings.Contains(show, "path: LookupSources → SubmitTask → IsDone → ProcessResponse → PrepareComponents → Done") ||
		!strings.Contains(show, "TaskStateEntered") || strings.Contains(show, "flowchart") {
		t.Errorf("executions show: the history and path, not the diagram's source (exit %d):\n%s", code, show)
	}
	diagram, _, code := symflow(t, "executions", "show", name, "--mermaid", "--root", repo, "--state-dir", state)
	if code != 0 || !strings.HasPrefix(diagram, "flowchart TD") || strings.Contains(diagram, "failed") {
		t.Errorf("executions show --mermaid of a success (exit %d):\n%s", code, diagram)
	}
	_, errOut, code = symflow(t, "executions", "show", "no-such-run", "--state-dir", state)
	if code == 0 || !strings.Contains(errOut, "no execution no-such-run") {
		t.Errorf("unknown execution: exit %d, %q", code, errOut)
	}
}

// `make run`'s second half: the sample minidump goes through the
// crash-upload path and its walk names the crashing functions.
func TestRunSampleMinidump(t *testing.T) {
	state := t.TempDir()
	out, errOut, code := symflow(t, append([]string{"run", filepath.Join(repo, "events/crash-upload/crashy.dmp")}, sampleArgs(state)...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"crash upload:", "s3://symflow-crashes/crashes/42/", "→ SubmitTask", "✓ SUCCEEDED",
		"(crashed)", "checked_limit", "/src/crashy/crashy.c:15", "parse_limits", "load_config", "run", "main",
		"| int r = load_config(name);",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Without a project there is nothing to upload the crash for.
	_, errOut, code = symflow(t, "run", filepath.Join(repo, "events/crash-upload/crashy.dmp"), "--root", repo, "--state-dir", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "--project-config") {
		t.Errorf("without a project: exit %d, %s", code, errOut)
	}
}

func TestRunFailureExitCode(t *testing.T) {
	event := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(event, []byte(`{"project_id":"404","event_id":"f0e1d2c3b4a5968778695a4b3c2d1e0f","kind":"payload","payload":{"stacktraces":[]}}`), 0o644)
	state := t.TempDir()
	out, errOut, code := symflow(t, append([]string{"run", event}, sampleArgs(state)...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "ProjectNotFound") || !strings.Contains(errOut, "ProjectNotFound") {
		t.Errorf("the failure does not name the error:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "--project-config") {
		t.Errorf("the ProjectNotFound hint does not say how to give a project locally:\n%s", errOut)
	}

	// The picture marks the failed state (LookupSources, drawn s0) in red
	// instead of the visited green, and the unhandled error's edge.
	const name = "404_f0e1d2c3b4a5968778695a4b3c2d1e0f"
	diagram, _, code := symflow(t, "executions", "show", name, "--mermaid", "--root", repo, "--state-dir", state)
	for _, want := range []string{"class s0 failed", "s0 -.->|unhandled ProjectNotFound| execfailed(((FAILED)))", "classDef failed fill:#f8d7da"} {
		if code != 0 || !strings.Contains(diagram, want) {
			t.Errorf("--mermaid of a failure lacks %q (exit %d):\n%s", want, code, diagram)
		}
	}
	if strings.Contains(diagram, "class s0 visited") {
		t.Errorf("the failed state is also drawn as visited (green):\n%s", diagram)
	}
	links := 0
	for _, l := range strings.Split(diagram, "\n") {
		if !strings.Contains(l, "linkStyle") && (strings.Contains(l, "-->") || strings.Contains(l, "-.->")) {
			links++
		}
	}
	if !strings.Contains(diagram, fmt.Sprintf("linkStyle %d stroke:#d73a49", links-1)) {
		t.Errorf("the unhandled edge (link %d) is not styled red:\n%s", links-1, diagram)
	}
	show, _, _ := symflow(t, "executions", "show", name, "--state-dir", state)
	if !strings.Contains(show, "error: ProjectNotFound in LookupSources (no Catch took it)") || strings.Contains(show, "flowchart") {
		t.Errorf("executions show of a failure:\n%s", show)
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"run"}, 2, "usage: symflow run"},
		{[]string{"run", "/nonexistent/event.json"}, 1, "no such file"},
		{[]string{"invoke", "submit-task"}, 2, "usage: symflow invoke"},
		{[]string{"run", "x.json", "--debug-file", "crashy", "--root", repo}, 1, "x.json"},
		{[]string{"executions"}, 2, "usage: symflow executions"},
		{[]string{"symbolicator", "serve", "--listen", "0.0.0.0:3021"}, 2, "loopback"},
		{[]string{"asl"}, 2, "usage: symflow asl run"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := symflow(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

func TestInvoke(t *testing.T) {
	args := append([]string{"invoke", "lookup-sources", "-e", filepath.Join(repo, "events/lookup-sources/payload.json")}, sampleArgs(t.TempDir())...)
	out, errOut, code := symflow(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, `"sentry:project"`) || !strings.Contains(out, `"hidden-secret": true`) {
		t.Errorf("lookup-sources output:\n%s", out)
	}
	// The entry points the state machine does not call run too.
	for _, tt := range []struct{ fn, event, want string }{
		{"api", "events/api/get-config.json", `"statusCode": 200`},
		{"api", "events/api/submit-payload.json", `"statusCode": 202`},
		{"crash-upload", "events/crash-upload/minidump.json", "null"},
	} {
		out, errOut, code := symflow(t, append([]string{"invoke", tt.fn, "-e", filepath.Join(repo, tt.event)}, sampleArgs(t.TempDir())...)...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("invoke %s -e %s: exit %d\n%s\n%s", tt.fn, tt.event, code, out, errOut)
		}
	}
	_, errOut, code = symflow(t, append([]string{"invoke", "no-such-function", "-e", filepath.Join(repo, "events/lookup-sources/payload.json")}, sampleArgs(t.TempDir())...)...)
	if code != 2 || !strings.Contains(errOut, "no-such-function") {
		t.Errorf("unknown function: exit %d, %q", code, errOut)
	}
}

func TestASLRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	def := write("def.json", `{"StartAt":"Double","States":{"Double":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:double",
		"Catch":[{"ErrorEquals":["Odd"],"ResultPath":"$.error","Next":"Failed"}],"End":true},
		"Failed":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"$.error.Cause"}}}`)
	double := `double=python3 -c "import json,sys; d=json.load(sys.stdin); (d['a']%2 and (sys.stderr.write(json.dumps({'error':'Odd','cause':'a is odd'})), sys.exit(1))); print(json.dumps({'b': d['a']*2}))"`
	tests := []struct {
		name, input, task string
		code              int
		out               string
	}{
		{"succeeds", `{"a":2}`, double, 0, `{"b":4}`},
		{"named failure", `{"a":3}`, double, 2, `"error":"Odd"`},
		{"no command for the task", `{"a":2}`, "other=cat", 2, "States.TaskFailed"},
		{"command prints no JSON", `{"a":2}`, "double=echo not-json", 2, "printed no JSON"},
		{"input not JSON", `{`, double, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := symflow(t, "asl", "run", def, "--input", write("in.json", tt.input), "--task", tt.task)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, output %q %q; want exit %d with %q", code, out, errOut, tt.code, tt.out)
			}
		})
	}
	_, errOut, code := symflow(t, "asl", "run", write("bad.json", `{"StartAt":"Nowhere","States":{"A":{"Type":"Succeed"}}}`))
	if code != 1 || !strings.Contains(errOut, "Nowhere") {
		t.Errorf("invalid definition: exit %d, %q", code, errOut)
	}
}

// A built symflow works outside the repository: the template and state
// machine built into it are written under the state folder and run.
func TestOutsideTheRepository(t *testing.T) {
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	out, errOut, code := symflow(t, "run", filepath.Join(abs, "events/execution/native-crash.json"),
		"--project-config", filepath.Join(abs, "events/project/sample-project.json"),
		"--debug-file", filepath.Join(abs, "events/debug-files/crashy"))
	if code != 0 || !strings.Contains(out, "✓ SUCCEEDED") || !strings.Contains(out, filepath.Join(dir, ".symflow", "executions")) {
		t.Fatalf("run outside the repository: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".symflow", "builtin", "statemachine", "symbolicate.asl.json")); err != nil {
		t.Errorf("the built-in state machine: %v", err)
	}
	diagram, errOut, code := symflow(t, "executions", "show", "42_f0e1d2c3b4a5968778695a4b3c2d1e0f", "--mermaid")
	if code != 0 || !strings.HasPrefix(diagram, "flowchart TD") {
		t.Errorf("executions show --mermaid outside the repository: exit %d %s %s", code, diagram, errOut)
	}
	_, errOut, code = symflow(t, "asl", "run", filepath.Join(abs, "statemachine/symbolicate.asl.json"))
	if code != 1 || !strings.Contains(errOut, "symflow run") {
		t.Errorf("asl run on the project's definition: exit %d %q", code, errOut)
	}
}
