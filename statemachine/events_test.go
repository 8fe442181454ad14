package statemachine_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/scraping"
	"github.com/symflow/symflow/shared/sources"
	"github.com/symflow/symflow/shared/task"
)

// Folders of events/ that hold something other than one function's input.
var notFunctionEvents = map[string]bool{
	"execution":   true, // whole-execution inputs
	"project":     true, // project configurations
	"debug-files": true, // a sample debug file
}

// eventPreconditions are what each step needs beyond a valid execution
// input: the parts the states before it add.
var eventPreconditions = map[string]func(in *task.Input) string{
	"lookup-sources": func(in *task.Input) string { return "" },
	"submit-task": func(in *task.Input) string {
		if in.State.Lookup == nil {
			return "state.lookup is missing"
		}
		return ""
	},
	"poll-task": func(in *task.Input) string {
		if in.State.Lookup == nil || in.State.Task == nil || in.State.Task.RequestID == "" || in.State.Task.Status != "pending" {
			return "state.lookup or a pending state.task with a request_id is missing"
		}
		return ""
	},
	"recover-task": func(in *task.Input) string {
		if in.Reason != task.ReasonLost && in.Reason != task.ReasonUnavailable {
			return `reason must be "lost" or "unavailable"`
		}
		if in.State.Error == nil || in.State.Task == nil {
			return "state.error or state.task is missing (RecoverTask runs from a Catch)"
		}
		return ""
	},
	"process-response": func(in *task.Input) string {
		if in.State.Lookup == nil || in.State.Task == nil || in.State.Task.Response == nil {
			return "state.lookup or state.task.response is missing"
		}
		return ""
	},
	"prepare-components": func(in *task.Input) string {
		if in.State.Result == nil {
			return "state.result is missing"
		}
		return ""
	},
}

var executionARN = regexp.MustCompile(`^arn:aws:states:[a-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$`)

// TestEvents checks events/<function>/*.json: one folder per function of
// the template, each event the task.Input its state receives (no unknown
// field anywhere the types reach), a valid execution input for project
// "42", what the step needs from the states before it, and no secret but
// {"hidden-secret": true} placeholders.
func TestEvents(t *testing.T) {
	tpl := loadTemplate(t)
	entries, err := os.ReadDir(filepath.Join(root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	haveEvents := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() || notFunctionEvents[e.Name()] {
			continue
		}
		dir := e.Name()
		if _, ok := tpl.FunctionByDir(dir); !ok {
			t.Errorf("events/%s/ is named after no function of template.yaml", dir)
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, "events", dir, "*.json"))
		if len(files) == 0 {
			t.Errorf("events/%s/ has no .json event", dir)
		}
		for _, file := range files {
			haveEvents[dir] = true
			if entryPoints[dir] {
				t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) { checkEntryEvent(t, dir, file) })
				continue
			}
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) { checkEvent(t, dir, file) })
		}
	}
	for _, f := range tpl.Functions() {
		if !haveEvents[f.Dir] {
			t.Errorf("function %s has no sample event under events/%s/", f.LogicalID, f.Dir)
		}
	}
}

// checkEntryEvent checks an entry point's event: an API Gateway HTTP API
// request, or an S3 object-created event the crash-upload handler reads.
func checkEntryEvent(t *testing.T, dir, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	switch dir {
	case "api":
		var ev events.APIGatewayV2HTTPRequest
		strictDecode(t, data, &ev)
		if ev.RequestContext.HTTP.Method == "" || !strings.HasPrefix(ev.RawPath, "/v1/") {
			t.Errorf("not an HTTP API request under /v1/: method %q, path %q", ev.RequestContext.HTTP.Method, ev.RawPath)
		}
	case "crash-upload":
		objs, err := crashupload.Objects(data)
		if err != nil {
			t.Fatalf("not an S3 object-created event: %v", err)
		}
		if len(objs) == 0 {
			t.Error("the event names no object")
		}
	}
}

func checkEvent(t *testing.T, dir, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var in task.Input
	strictDecode(t, data, &in)
	if err := in.State.Validate(); err != nil {
		t.Errorf("state is not a valid execution input: %v", err)
	}
	if in.State.ProjectID != "42" {
		t.Errorf("project_id = %q, want the sample project 42", in.State.ProjectID)
	}
	if !executionARN.MatchString(in.ExecutionID) {
		t.Errorf("execution_id = %q is not an execution ARN", in.ExecutionID)
	}
	if msg := eventPreconditions[dir](&in); msg != "" {
		t.Errorf("not an input of %s: %s", dir, msg)
	}
	if in.State.Lookup != nil {
		var list sources.List
		if err := json.Unmarshal(in.State.Lookup.Sources, &list); err != nil {
			t.Errorf("state.lookup.sources: %v", err)
		}
		if len(list) != len(in.State.Lookup.SourceIDs) {
			t.Errorf("state.lookup has %d sources but %d source_ids", len(list), len(in.State.Lookup.SourceIDs))
		}
		var scr scraping.Scraping
		strictDecode(t, in.State.Lookup.Scraping, &scr)
		for k, v := range scr.Headers {
			if v != scraping.HiddenValue {
				t.Errorf("state.lookup.scraping.headers.%s is not hidden", k)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checkNoSecrets(t, "$", doc)
}

// strictDecode decodes data into v, refusing unknown fields and trailing
// data.
func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the %T", v)
	}
}

// secretKeys are fields that hold a secret wherever they appear.
var secretKeys = map[string]bool{
	"password": true, "secret_key": true, "private_key": true, "token": true,
	"authorization": true, "client_secret": true, "appconnectprivatekey": true,
	"x-sentry-token": true, "system_token": true,
}

// checkNoSecrets walks a JSON value and fails on a secret field whose
// value is not the {"hidden-secret": true} placeholder (or scraping's
// hidden header value).
func checkNoSecrets(t *testing.T, at string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if secretKeys[strings.ToLower(k)] {
				// scraping hides header values with its own string.
				m, ok := e.(map[string]any)
				if e != scraping.HiddenValue && (!ok || len(m) != 1 || m[sources.HiddenSecretKey] != true) {
					t.Errorf("%s.%s holds a value, not {\"hidden-secret\": true}", at, k)
				}
				continue
			}
			checkNoSecrets(t, at+"."+k, e)
		}
	case []any:
		for i, e := range v {
			checkNoSecrets(t, at+"["+strconv.Itoa(i)+"]", e)
		}
	}
}
