package statemachine_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/local/samtemplate"
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
// binary, started as a function process against a local Runtime API) and
// checks that the errorType the runtime reports, which is what Step
// Functions matches ErrorEquals against, is the name the definition uses.
func TestErrorTypesAtTheLambdaBoundary(t *testing.T) {
	api := newRuntimeAPI(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = []string{errorProcessEnv + "=1", "PATH=" + os.Getenv("PATH")}
	fn := startFunction(t, api, "error-function", cmd)
	for _, name := range task.ErrorNames {
		t.Run(name, func(t *testing.T) {
			payload, _ := json.Marshal(map[string]string{"name": name})
			res := fn.invoke(t, payload)
			if res.ErrorType != name {
				t.Errorf("errorType = %q, want %q (payload %s)", res.ErrorType, name, res.Payload)
			}
			if want := errorValues()[name].Error(); res.ErrorMessage != want {
				t.Errorf("errorMessage = %q, want %q", res.ErrorMessage, want)
			}
		})
	}
}

// builtFunctions builds functions/<dir> mains for this machine, with the
// Makefile's tags, into a temporary directory.
func builtFunctions(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	goTool := requireTool(t, "go")
	out := t.TempDir()
	args := []string{"build", "-tags", "lambda.norpc", "-o", out + string(filepath.Separator)}
	for _, d := range dirs {
		args = append(args, "./functions/"+d)
	}
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", dirs, err, msg)
	}
	bins := map[string]string{}
	for _, d := range dirs {
		bins[d] = filepath.Join(out, d)
	}
	return bins
}

// Local names for the template's buckets, as local mode and the sample
// events use them.
var localBuckets = map[string]string{
	"ResultsBucket":    "symflow-results",
	"CrashBucket":      "symflow-crashes",
	"DebugFilesBucket": "symflow-debug-files",
}

// functionEnv is the environment the deployed function would get, with
// AWS pointed at DynamoDB Local and at nothing else.
func functionEnv(t *testing.T, tpl *samtemplate.Template, f samtemplate.Function, ddbEndpoint string, override map[string]string) []string {
	t.Helper()
	env := f.Env()
	for k, v := range override {
		env[k] = v
	}
	home := t.TempDir()
	list := []string{
		"HOME=" + home,
		"AWS_REGION=" + samtemplate.Region,
		"AWS_LAMBDA_FUNCTION_NAME=" + f.LogicalID,
		// Dummy credentials (letters only, as DynamoDB Local wants); no
		// profile, no instance metadata, every endpoint on 127.0.0.1.
		"AWS_ACCESS_KEY_ID=symflowtest",
		"AWS_SECRET_ACCESS_KEY=symflowtest",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"AWS_ENDPOINT_URL_DYNAMODB=" + ddbEndpoint,
	}
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return list
}

// TestFunctionsReportErrorNames runs the real function mains, built from
// functions/, with the environment template.yaml gives them, under a local
// Runtime API, DynamoDB Local and Symbolicator stand-ins on 127.0.0.1. Each
// of the workflow's error names is provoked the way production would meet
// it, and the errorType the function reports must be that name: this ties
// the template's environment, the mains' wiring, shared/task's error types
// and the definition's ErrorEquals together.
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

	bins := builtFunctions(t, "lookup-sources", "poll-task", "recover-task")
	api := map[string]*runtimeAPI{}
	procs := map[string]*function{}
	start := func(dir, variant string, override map[string]string) *function {
		key := dir + "/" + variant
		if f, ok := procs[key]; ok {
			return f
		}
		fn, ok := tpl.FunctionByDir(dir)
		if !ok {
			t.Fatalf("template has no function for functions/%s", dir)
		}
		api[key] = newRuntimeAPI(t)
		cmd := exec.Command(bins[dir])
		cmd.Env = functionEnv(t, tpl, fn, ddb.Endpoint(), override)
		procs[key] = startFunction(t, api[key], key, cmd)
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
		want     string // errorType; "" for success
		check    func(t *testing.T, out []byte)
	}{
		{"InvalidInput", "lookup-sources", "", nil,
			event("lookup-sources/payload.json", func(in *task.Input) { in.State.EventID = "not-hex" }), "InvalidInput", nil},
		{"ProjectNotFound", "lookup-sources", "", nil,
			event("lookup-sources/payload.json", func(in *task.Input) { in.State.ProjectID = "7" }), "ProjectNotFound", nil},
		{"InternalError", "lookup-sources", "no-table", map[string]string{"PROJECTS_TABLE": "NoSuchTable"},
			event("lookup-sources/payload.json", nil), "InternalError", nil},
		{"TaskIdNotFound", "poll-task", "lost", nil,
			event("poll-task/pending.json", nil), "TaskIdNotFound", nil},
		{"DeadlineExceeded", "poll-task", "lost", nil,
			event("poll-task/deadline-exceeded.json", nil), "DeadlineExceeded", nil},
		{"ServiceUnavailable", "poll-task", "unavailable", map[string]string{"SYMBOLICATOR_URL": unavailable.URL + "/"},
			event("poll-task/pending.json", nil), "ServiceUnavailable", nil},
		{"SymbolicatorUnreachable", "poll-task", "closed", map[string]string{"SYMBOLICATOR_URL": closedURL},
			event("poll-task/pending.json", nil), "SymbolicatorUnreachable", nil},
		{"MalformedResponse", "poll-task", "malformed", map[string]string{"SYMBOLICATOR_URL": malformed.URL + "/"},
			event("poll-task/pending.json", nil), "MalformedResponse", nil},
		{"ResubmitBudgetExhausted", "recover-task", "", nil,
			event("recover-task/budget-exhausted.json", nil), "ResubmitBudgetExhausted", nil},
		{"recover lost task", "recover-task", "", nil,
			event("recover-task/lost.json", nil), "", func(t *testing.T, out []byte) {
				var p task.Progress
				if err := json.Unmarshal(out, &p); err != nil {
					t.Fatalf("RecoverTask output %s: %v", out, err)
				}
				if p.Status != "resubmit" || p.LostTasks != 1 || p.RequestID != "" {
					t.Errorf("RecoverTask output = %s, want status resubmit, lost_tasks 1, no request_id", out)
				}
			}},
	}
	provoked := map[string]bool{}
	for _, tc := range cases {
		provoked[tc.want] = true
	}
	for _, n := range task.ErrorNames {
		if !provoked[n] {
			t.Errorf("no case provokes %s: add one", n)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := start(tc.dir, tc.variant, tc.override).invoke(t, tc.payload)
			if res.ErrorType != tc.want {
				t.Fatalf("functions/%s answered errorType %q (%s), want %q", tc.dir, res.ErrorType, res.ErrorMessage, tc.want)
			}
			if tc.want != "" && !slices.Contains(task.ErrorNames, tc.want) {
				t.Errorf("%s is not in task.ErrorNames", tc.want)
			}
			if tc.check != nil {
				tc.check(t, res.Payload)
			}
		})
	}

	// The same LookupSources answers the sample project with exactly the
	// lookup the SubmitTask sample event carries.
	t.Run("lookup matches the submit-task event", func(t *testing.T) {
		res := start("lookup-sources", "", nil).invoke(t, event("lookup-sources/payload.json", nil))
		if res.ErrorType != "" {
			t.Fatalf("LookupSources failed: %s: %s", res.ErrorType, res.ErrorMessage)
		}
		var submit task.Input
		readJSON(t, filepath.Join(root, "events", "submit-task", "pending.json"), &submit)
		want, _ := json.Marshal(submit.State.Lookup)
		var got task.Lookup
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("LookupSources output %s: %v", res.Payload, err)
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
