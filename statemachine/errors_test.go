package statemachine_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/local/runtimeapi"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
	"github.com/symflow/symflow/statemachine"
)

// definitionErrorNames returns the error names the definition's Retry and
// Catch clauses match, but the States.* and Lambda.* ones Step Functions
// and Lambda raise themselves.
func definitionErrorNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, st := range parseASL(t, statemachine.Definition).States {
		for _, m := range slices.Concat(st.Retry, st.Catch) {
			for _, name := range m.ErrorEquals {
				if !strings.HasPrefix(name, "States.") && !strings.HasPrefix(name, "Lambda.") {
					seen[name] = true
				}
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestDefinitionErrorNames checks that every error the definition catches
// is one shared/task declares, and that the test's error values cover
// task.ErrorNames exactly.
func TestDefinitionErrorNames(t *testing.T) {
	names := definitionErrorNames(t)
	if len(names) == 0 {
		t.Fatal("the definition catches no workflow error")
	}
	for _, n := range names {
		if !slices.Contains(task.ErrorNames, n) {
			t.Errorf("the definition catches %q, which is not in task.ErrorNames %v", n, task.ErrorNames)
		}
	}
	values := errorValues()
	for _, n := range task.ErrorNames {
		if _, ok := values[n]; !ok {
			t.Errorf("task.ErrorNames has %s, which errorValues lacks: add a value of that type", n)
		}
	}
	for n := range values {
		if !slices.Contains(task.ErrorNames, n) {
			t.Errorf("errorValues has %s, which task.ErrorNames lacks", n)
		}
	}
}

// TestErrorTypesAtTheLambdaBoundary returns each of shared/task's error
// values from a handler run by aws-lambda-go's own runtime loop (this test
// binary, started by local/runtimeapi as a function process) and checks
// that the errorType the runtime reports, which is what Step Functions
// matches ErrorEquals against, is the name the definition uses.
func TestErrorTypesAtTheLambdaBoundary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// TestMain turns the binary into the function on errorProcessEnv
	// before flags are parsed, so it needs no arguments.
	fn := newFunction(t, runtimeapi.Config{
		Name:      "ErrorFunction",
		Bootstrap: self,
		Env:       map[string]string{errorProcessEnv: "1"},
	})
	for _, name := range task.ErrorNames {
		t.Run(name, func(t *testing.T) {
			payload, _ := json.Marshal(map[string]string{"name": name})
			fe := invokeForError(t, fn, payload)
			if fe.Type != name {
				t.Errorf("errorType = %q, want %q (payload %s)", fe.Type, name, fe.Payload)
			}
			if want := errorValues()[name].Error(); fe.Message != want {
				t.Errorf("errorMessage = %q, want %q", fe.Message, want)
			}
		})
	}
}

// newFunction runs cfg's function with the bounds the test needs: a
// minute to start and to answer, however busy the machine, and its
// processes' output in the test's log. The function stops with the test.
func newFunction(t *testing.T, cfg runtimeapi.Config) *runtimeapi.Function {
	t.Helper()
	cfg.Timeout = max(cfg.Timeout, time.Minute)
	cfg.InitTimeout = time.Minute
	cfg.Output = t.Output()
	fn, err := runtimeapi.NewFunction(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Stop)
	return fn
}

// invokeForError invokes fn and returns the function error it reports,
// failing the test when the invocation succeeds or fails otherwise.
func invokeForError(t *testing.T, fn *runtimeapi.Function, payload []byte) *runtimeapi.FunctionError {
	t.Helper()
	out, err := fn.Invoke(t.Context(), payload)
	var fe *runtimeapi.FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("%s answered %s, error %v: want a function error", fn.Name(), out, err)
	}
	return fe
}

// Local names for the template's buckets, as local mode and the sample
// events use them.
var localBuckets = map[string]string{
	"ResultsBucket":    "symflow-results",
	"CrashBucket":      "symflow-crashes",
	"DebugFilesBucket": "symflow-debug-files",
}

// TestFunctionsReportErrorNames runs the real function mains, built from
// functions/ by runtimeapi.Build, with the environment template.yaml gives
// them (runtimeapi.TemplateConfig), under local/runtimeapi, DynamoDB Local
// and Symbolicator stand-ins on 127.0.0.1. Each of the workflow's error
// names is provoked the way production would meet it, and the errorType
// the function reports must be that name: this ties the template's
// environment, the mains' wiring, shared/task's error types and the
// definition's ErrorEquals together. How local/runtimeapi relays function
// errors and runs the binaries is its own tests' business.
func TestFunctionsReportErrorNames(t *testing.T) {
	ddb := dynamolocal.Start(t)
	base := loadTemplate(t)
	tpl, err := base.WithNames(localBuckets)
	if err != nil {
		t.Fatal(err)
	}

	// Symbolicator stand-ins: one that lost every task, one unavailable,
	// one that answers a web page, and an address nothing listens on.
	lost := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(lost.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	malformed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>Welcome to the proxy</body></html>"))
	}))
	t.Cleanup(malformed.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/"
	ln.Close()

	tpl, err = tpl.WithParameters(map[string]string{"SymbolicatorUrl": lost.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	lookupFn, _ := tpl.FunctionByDir("lookup-sources")
	env := lookupFn.Env()
	store, err := dynamo.New(ddb.Client(), dynamo.Config{ProjectsTable: env["PROJECTS_TABLE"], TasksTable: env["TASKS_TABLE"]})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateTables(ctx); err != nil {
		t.Fatalf("create the template's tables in DynamoDB Local: %v", err)
	}
	var p project.Project
	readJSON(t, filepath.Join(root, "events", "project", "sample-project.json"), &p)
	if err := store.PutProject(ctx, p); err != nil {
		t.Fatalf("store the sample project: %v", err)
	}

	bins, err := runtimeapi.Build(t.Context(), root, t.TempDir(), []string{"lookup-sources", "poll-task", "recover-task"})
	if err != nil {
		t.Fatal(err)
	}
	// AWS is DynamoDB Local and nothing else: every other endpoint is a
	// closed port, and no shared config or credentials file is read.
	home := t.TempDir()
	isolated := runtimeapi.LocalEnv(runtimeapi.Local{DynamoDB: ddb.Endpoint()})
	maps.Copy(isolated, map[string]string{
		"HOME":                        home,
		"AWS_CONFIG_FILE":             filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "no-credentials"),
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:9",
	})
	procs := map[string]*runtimeapi.Function{}
	start := func(dir, variant string, override map[string]string) *runtimeapi.Function {
		key := dir + "/" + variant
		if f, ok := procs[key]; ok {
			return f
		}
		fn, ok := tpl.FunctionByDir(dir)
		if !ok {
			t.Fatalf("template has no function for functions/%s", dir)
		}
		env := maps.Clone(isolated)
		maps.Copy(env, override)
		procs[key] = newFunction(t, runtimeapi.TemplateConfig(fn, bins[dir], env, runtimeapi.Config{}))
		return procs[key]
	}

	event := func(rel string, edit func(in *task.Input)) []byte {
		var in task.Input
		readJSON(t, filepath.Join(root, "events", rel), &in)
		if edit != nil {
			edit(&in)
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	cases := []struct {
		name     string
		dir      string
		variant  string
		override map[string]string
		payload  []byte
		want     string // errorType
		msg      string // what errorMessage must mention; "" for no check
	}{
		{"InvalidInput", "lookup-sources", "", nil,
			event("lookup-sources/payload.json", func(in *task.Input) { in.State.EventID = "not-hex" }), "InvalidInput", "event_id"},
		{"ProjectNotFound", "lookup-sources", "", nil,
			event("lookup-sources/payload.json", func(in *task.Input) { in.State.ProjectID = "7" }), "ProjectNotFound", `project "7"`},
		{"InternalError", "lookup-sources", "no-table", map[string]string{"PROJECTS_TABLE": "NoSuchTable"},
			event("lookup-sources/payload.json", nil), "InternalError", ""},
		{"TaskIdNotFound", "poll-task", "lost", nil,
			event("poll-task/pending.json", nil), "TaskIdNotFound", ""},
		{"DeadlineExceeded", "poll-task", "lost", nil,
			event("poll-task/deadline-exceeded.json", nil), "DeadlineExceeded", ""},
		{"ServiceUnavailable", "poll-task", "unavailable", map[string]string{"SYMBOLICATOR_URL": unavailable.URL + "/"},
			event("poll-task/pending.json", nil), "ServiceUnavailable", ""},
		{"SymbolicatorUnreachable", "poll-task", "closed", map[string]string{"SYMBOLICATOR_URL": closedURL},
			event("poll-task/pending.json", nil), "SymbolicatorUnreachable", ""},
		{"MalformedResponse", "poll-task", "malformed", map[string]string{"SYMBOLICATOR_URL": malformed.URL + "/"},
			event("poll-task/pending.json", nil), "MalformedResponse", ""},
		{"ResubmitBudgetExhausted", "recover-task", "", nil,
			event("recover-task/budget-exhausted.json", nil), "ResubmitBudgetExhausted", ""},
	}
	provoked := map[string]bool{}
	for _, tc := range cases {
		provoked[tc.want] = true
		if !slices.Contains(task.ErrorNames, tc.want) {
			t.Errorf("case %s expects %s, which is not in task.ErrorNames", tc.name, tc.want)
		}
	}
	for _, n := range task.ErrorNames {
		if !provoked[n] {
			t.Errorf("no case provokes %s: add one", n)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fe := invokeForError(t, start(tc.dir, tc.variant, tc.override), tc.payload)
			if fe.Type != tc.want {
				t.Fatalf("functions/%s answered errorType %q (%s), want %q", tc.dir, fe.Type, fe.Message, tc.want)
			}
			if !strings.Contains(fe.Message, tc.msg) {
				t.Errorf("functions/%s: errorMessage %q, want it to mention %q", tc.dir, fe.Message, tc.msg)
			}
		})
	}

	// The same LookupSources answers the sample project with exactly the
	// lookup the SubmitTask sample event carries.
	t.Run("lookup matches the submit-task event", func(t *testing.T) {
		out, err := start("lookup-sources", "", nil).Invoke(t.Context(), event("lookup-sources/payload.json", nil))
		if err != nil {
			t.Fatalf("LookupSources failed: %v", err)
		}
		var submit task.Input
		readJSON(t, filepath.Join(root, "events", "submit-task", "pending.json"), &submit)
		want, _ := json.Marshal(submit.State.Lookup)
		var got task.Lookup
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("LookupSources output %s: %v", out, err)
		}
		gotJSON, _ := json.Marshal(got)
		if !jsonEqual(t, gotJSON, want) {
			t.Errorf("LookupSources output differs from events/submit-task/pending.json's lookup:\n got %s\nwant %s", gotJSON, want)
		}
	})
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
