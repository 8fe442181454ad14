package statemachine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"gopkg.in/yaml.v3"

	"github.com/symflow/symflow/local/samtemplate"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/task"
	"github.com/symflow/symflow/statemachine"
)

// aslDefinition is the part of the Amazon States Language the checks read.
type aslDefinition struct {
	States map[string]aslState `json:"States"`
}

type aslState struct {
	Type           string     `json:"Type"`
	Resource       string     `json:"Resource"`
	TimeoutSeconds int        `json:"TimeoutSeconds"`
	Retry          []aslMatch `json:"Retry"`
	Catch          []aslMatch `json:"Catch"`
}

type aslMatch struct {
	ErrorEquals []string `json:"ErrorEquals"`
	Next        string   `json:"Next"`
}

func parseASL(t *testing.T, def []byte) aslDefinition {
	t.Helper()
	var d aslDefinition
	if err := json.Unmarshal(def, &d); err != nil {
		t.Fatalf("state machine definition is not JSON: %v", err)
	}
	if len(d.States) == 0 {
		t.Fatal("state machine definition has no States")
	}
	return d
}

func TestCfnLint(t *testing.T) {
	// cfn-lint comes with the project's machines (pip, Python 3.11);
	// elsewhere `pip install cfn-lint==1.51.0`.
	lint := requireTool(t, "cfn-lint")
	cmd := exec.Command(lint, "--", "template.yaml")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint template.yaml failed (%v):\n%s", err, out)
	}
}

// TestASLValidator runs asl-validator on the definition as committed (with
// its ${...} placeholders) and as local mode resolves it, and on a broken
// copy, which it must reject: a validator that accepts everything proves
// nothing.
func TestASLValidator(t *testing.T) {
	validator := requireTool(t, filepath.Join(root, "node_modules", ".bin", "asl-validator"))
	requireTool(t, "node")
	resolved, err := loadTemplate(t).Definition(root)
	if err != nil {
		t.Fatalf("resolve definition: %v", err)
	}
	broken := bytes.Replace(resolved, []byte(`"Next": "IsDone"`), []byte(`"Next": "NoSuchState"`), 1)
	if bytes.Equal(broken, resolved) {
		t.Fatal("the broken copy is unchanged: the definition no longer has a Next IsDone")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		def   []byte
		valid bool
	}{
		{"placeholders", statemachine.Definition, true},
		{"resolved", resolved, true},
		{"broken", broken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".asl.json")
			if err := os.WriteFile(file, tc.def, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(validator, "--json-path", file).CombinedOutput()
			if tc.valid && err != nil {
				t.Fatalf("asl-validator rejects the %s definition (%v):\n%s", tc.name, err, out)
			}
			if !tc.valid {
				if err == nil {
					t.Fatalf("asl-validator accepts a definition whose Next names no state:\n%s", out)
				}
				if !bytes.Contains(out, []byte("NoSuchState")) {
					t.Errorf("asl-validator's complaint does not name the missing state:\n%s", out)
				}
			}
		})
	}
}

// TestDefinitionSubstitutions checks that the template deploys the embedded
// definition and that its placeholders and DefinitionSubstitutions agree
// both ways, each naming a function of the template.
func TestDefinitionSubstitutions(t *testing.T) {
	tpl := loadTemplate(t)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	if sm.Type != "STANDARD" {
		t.Errorf("state machine Type = %q, want STANDARD", sm.Type)
	}
	onDisk, err := os.ReadFile(filepath.Join(root, sm.DefinitionURI))
	if err != nil {
		t.Fatalf("DefinitionUri %s: %v", sm.DefinitionURI, err)
	}
	if !bytes.Equal(onDisk, statemachine.Definition) {
		t.Errorf("DefinitionUri %s is not the definition package statemachine embeds", sm.DefinitionURI)
	}
	placeholders := samtemplate.Placeholders(statemachine.Definition)
	if len(placeholders) == 0 {
		t.Fatal("the definition has no ${...} placeholders; Resource ARNs must come from the template")
	}
	for _, p := range placeholders {
		if _, ok := sm.Substitutions[p]; !ok {
			t.Errorf("placeholder ${%s} has no DefinitionSubstitutions entry", p)
		}
	}
	for name, value := range sm.Substitutions {
		if !slices.Contains(placeholders, name) {
			t.Errorf("DefinitionSubstitutions.%s is used nowhere in the definition", name)
		}
		fnID := strings.TrimSuffix(name, "Arn")
		fn, ok := tpl.Function(fnID)
		if !ok {
			t.Errorf("DefinitionSubstitutions.%s: the template has no function %s", name, fnID)
			continue
		}
		if value != fn.ARN {
			t.Errorf("DefinitionSubstitutions.%s = %q, want !GetAtt %s.Arn (%s)", name, value, fnID, fn.ARN)
		}
	}
	def, err := tpl.Definition(root)
	if err != nil {
		t.Fatalf("Definition: %v", err)
	}
	if bytes.Contains(def, []byte("${")) {
		t.Errorf("resolved definition still has a ${: %s", def)
	}
	arns := map[string]bool{}
	for _, f := range tpl.Functions() {
		arns[f.ARN] = true
	}
	for name, st := range parseASL(t, def).States {
		if st.Type == "Task" && !arns[st.Resource] {
			t.Errorf("state %s: Resource %q is no function of the template", name, st.Resource)
		}
	}
}

// entryPoints are the functions that start executions rather than run a
// state of one: their events are API Gateway and S3 events.
var entryPoints = map[string]bool{
	"api":          true,
	"crash-upload": true,
}

// TestFunctionsMatchPackages checks that every function of the template is
// a functions/<dir> main that the Makefile builds into CodeUri, and every
// functions/<dir> but internal is in the template.
func TestFunctionsMatchPackages(t *testing.T) {
	tpl := loadTemplate(t)
	inTemplate := map[string]bool{}
	for _, f := range tpl.Functions() {
		inTemplate[f.Dir] = true
		if _, err := os.Stat(filepath.Join(root, "functions", f.Dir, "main.go")); err != nil {
			t.Errorf("function %s: CodeUri %s, but functions/%s/main.go: %v", f.LogicalID, f.CodeURI, f.Dir, err)
		}
		if want := "functions/" + f.Dir + "/"; f.CodeURI != want {
			t.Errorf("function %s: CodeUri %q, want %q (sam build runs make build-<LogicalId>)", f.LogicalID, f.CodeURI, want)
		}
		if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" || !slices.Equal(f.Architectures, []string{"arm64"}) {
			t.Errorf("function %s: runtime %s, handler %s, architectures %v; the Makefile builds bootstrap for provided.al2023 on arm64",
				f.LogicalID, f.Runtime, f.Handler, f.Architectures)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "internal" {
			continue
		}
		n++
		if !inTemplate[e.Name()] {
			t.Errorf("functions/%s has no AWS::Serverless::Function with CodeUri functions/%s/ in template.yaml", e.Name(), e.Name())
		}
	}
	if n == 0 {
		t.Fatal("no functions/<dir> found")
	}
	for dir := range entryPoints {
		if !inTemplate[dir] {
			t.Errorf("entryPoints lists %s, which is no function of the template", dir)
		}
	}
}

// envConstants parses the Env... = "NAME" constants of a Go file.
func envConstants(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Env") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %s: %v", file, name.Name, err)
				}
				out[v] = name.Name
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s declares no Env... constants", file)
	}
	return out
}

// TestEnvironment checks the functions' environment against the code that
// reads it: every name is one the code declares; every shared/task name is
// set somewhere (but AWS_*, which Lambda sets); the switches lambdaenv
// reserves for local runs are set nowhere; each function's environment is
// accepted by task.ConfigFromEnv and dynamo.New as its main calls them; the
// template's defaults are task.Defaults; and the two functions that
// compute source lists see the same settings (LookupSources hides secrets
// that SubmitTask must find again).
func TestEnvironment(t *testing.T) {
	taskEnv := envConstants(t, filepath.Join(root, "shared", "task", "env.go"))
	lambdaEnv := envConstants(t, filepath.Join(root, "functions", "internal", "lambdaenv", "lambdaenv.go"))
	apiEnv := envConstants(t, filepath.Join(root, "shared", "api", "apigw.go"))
	declared := map[string]string{}
	for _, m := range []map[string]string{taskEnv, lambdaEnv, apiEnv} {
		for k, v := range m {
			declared[k] = v
		}
	}
	// Local runs only, per lambdaenv: a deployment that set them would let
	// component requests reach loopback addresses.
	localOnly := map[string]bool{}
	for name, id := range lambdaEnv {
		if id == "EnvComponentsAllowLoopback" || id == "EnvS3UsePathStyle" {
			localOnly[name] = true
		}
	}
	localOnly[task.EnvSystemToken] = true // deployments pass SYSTEM_TOKEN_ARN
	tpl, err := loadTemplate(t).WithParameters(map[string]string{"SymbolicatorUrl": "http://127.0.0.1:3021/"})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	settings := map[string]any{}
	for _, f := range tpl.Functions() {
		t.Run(f.LogicalID, func(t *testing.T) {
			env := f.Env()
			for name := range env {
				used[name] = true
				if _, ok := declared[name]; !ok {
					t.Errorf("environment %s is not declared as an Env constant in shared/task/env.go, shared/api/apigw.go or functions/internal/lambdaenv", name)
				}
				if strings.HasPrefix(name, "AWS_") {
					t.Errorf("environment %s: Lambda reserves AWS_* names", name)
				}
				if localOnly[name] {
					t.Errorf("environment %s is for local runs only and must not be deployed", name)
				}
			}
			cfg, s, err := task.ConfigFromEnv(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("task.ConfigFromEnv rejects the template's environment: %v", err)
			}
			want := task.Defaults
			if cfg.PollTimeout != want.PollTimeout || cfg.PollInterval != want.PollInterval ||
				cfg.ResubmitBudget != want.ResubmitBudget || cfg.Deadline != want.Deadline {
				t.Errorf("template defaults give poll timeout %s, interval %s, budget %d, deadline %s; task.Defaults has %s, %s, %d, %s",
					cfg.PollTimeout, cfg.PollInterval, cfg.ResubmitBudget, cfg.Deadline,
					want.PollTimeout, want.PollInterval, want.ResubmitBudget, want.Deadline)
			}
			if _, err := dynamo.New(dynamodb.New(dynamodb.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}), dynamo.Config{
				ProjectsTable: env["PROJECTS_TABLE"], TasksTable: env["TASKS_TABLE"],
			}); err != nil {
				t.Errorf("dynamo.New rejects the template's table names: %v", err)
			}
			if f.Dir == "lookup-sources" || f.Dir == "submit-task" {
				settings[f.Dir] = s
				if s.DebugFilesBucket == "" {
					t.Errorf("%s has no DEBUG_FILES_BUCKET: projects would have no internal source", f.LogicalID)
				}
			}
			for _, v := range f.Environment {
				if v.Ref == "SystemToken" && !v.Secret {
					t.Errorf("%s comes from the NoEcho SystemToken but is not marked Secret", v.Name)
				}
			}
		})
	}
	for name, id := range taskEnv {
		if !used[name] && !strings.HasPrefix(name, "AWS_") && !localOnly[name] {
			t.Errorf("%s (%s) is read by the code but set on no function", name, id)
		}
	}
	if len(settings) != 2 {
		t.Fatalf("found settings of %d of lookup-sources and submit-task", len(settings))
	}
	a, _ := json.Marshal(settings["lookup-sources"])
	b, _ := json.Marshal(settings["submit-task"])
	if !bytes.Equal(a, b) {
		t.Errorf("LookupSources and SubmitTask see different source settings:\n%s\n%s", a, b)
	}
}

// TestTimeouts checks that each Lambda's timeout is shorter than the
// TimeoutSeconds of every state that invokes it, so Lambda rather than
// Step Functions ends a stuck invocation, and that a Symbolicator call held
// for the largest PollTimeoutSeconds, with its network retries, fits in
// PollTask's and SubmitTask's timeouts.
func TestTimeouts(t *testing.T) {
	tpl := loadTemplate(t)
	def, err := tpl.Definition(root)
	if err != nil {
		t.Fatal(err)
	}
	byARN := map[string]samtemplate.Function{}
	for _, f := range tpl.Functions() {
		if f.Timeout <= 0 {
			t.Errorf("function %s has no Timeout", f.LogicalID)
		}
		byARN[f.ARN] = f
	}
	for name, st := range parseASL(t, def).States {
		if st.Type != "Task" {
			continue
		}
		f := byARN[st.Resource]
		if st.TimeoutSeconds == 0 {
			t.Errorf("state %s has no TimeoutSeconds", name)
		} else if f.Timeout >= st.TimeoutSeconds {
			t.Errorf("state %s: function %s Timeout %d s is not below the state's TimeoutSeconds %d", name, f.LogicalID, f.Timeout, st.TimeoutSeconds)
		}
	}
	// One PollTask or SubmitTask call makes up to 4 attempts (the
	// Symbolicator session retries a network error after 0.5, 1 and 2 s),
	// each held up to PollTimeoutSeconds plus the client's extra second.
	p, _ := tpl.Parameter("PollTimeoutSeconds")
	if p.MaxValue == nil {
		t.Fatal("PollTimeoutSeconds has no MaxValue: nothing bounds a poll")
	}
	maxPoll := time.Duration(*p.MaxValue * float64(time.Second))
	need := 4*(maxPoll+time.Second) + 3500*time.Millisecond
	for _, dir := range []string{"poll-task", "submit-task"} {
		f, _ := tpl.FunctionByDir(dir)
		if got := time.Duration(f.Timeout) * time.Second; got < need {
			t.Errorf("%s Timeout %s is too short for a call held %s with its network retries (%s)", f.LogicalID, got, maxPoll, need)
		}
	}
}

// templateDoc is template.yaml as plain YAML, for the checks samtemplate
// has no accessor for (policies, tables, buckets).
func templateDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	return plain(&n).(map[string]any)
}

// plain turns a YAML node into maps, lists and strings, writing a
// short-form tag as a one-key map ("!Ref": "X").
func plain(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, e := range n.Content {
			l = append(l, plain(e))
		}
		v = l
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return map[string]any{n.Tag: v}
	}
	return v
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestStateMachineMayInvokeItsFunctions checks that the state machine's
// role may invoke each function its definition names, and only those.
func TestStateMachineMayInvokeItsFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	doc := templateDoc(t)
	invokable := map[string]bool{}
	policies, _ := path(doc, "Resources", sm.LogicalID, "Properties", "Policies").([]any)
	for _, p := range policies {
		if fn := path(p, "LambdaInvokePolicy", "FunctionName", "!Ref"); fn != nil {
			invokable[fn.(string)] = true
		}
	}
	needed := map[string]bool{}
	for name := range sm.Substitutions {
		needed[strings.TrimSuffix(name, "Arn")] = true
	}
	for fn := range needed {
		if !invokable[fn] {
			t.Errorf("the state machine invokes %s but has no LambdaInvokePolicy for it", fn)
		}
	}
	for fn := range invokable {
		if !needed[fn] {
			t.Errorf("the state machine may invoke %s, which its definition never names", fn)
		}
	}
	if got, _ := json.Marshal(path(doc, "Resources", sm.LogicalID, "Properties", "Logging", "Level")); string(got) != `{"!Ref":"StateMachineLogLevel"}` {
		t.Errorf("state machine Logging.Level = %s, want the StateMachineLogLevel parameter", got)
	}
	if got := path(doc, "Resources", sm.LogicalID, "Properties", "Tracing", "Enabled"); got != "true" {
		t.Errorf("state machine Tracing.Enabled = %v, want true", got)
	}
}

// TestTables checks the tables against shared/dynamo's key design: pk/sk
// strings, TTL on dynamo.TTLAttribute for tasks only, and the functions'
// table names pointing at them.
func TestTables(t *testing.T) {
	doc := templateDoc(t)
	for _, tc := range []struct {
		id  string
		ttl string
	}{
		{"ProjectsTable", ""},
		{"TasksTable", dynamo.TTLAttribute},
	} {
		t.Run(tc.id, func(t *testing.T) {
			props := path(doc, "Resources", tc.id, "Properties")
			if props == nil {
				t.Fatalf("no resource %s", tc.id)
			}
			keys, _ := json.Marshal(path(props, "KeySchema"))
			if want := `[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]`; string(keys) != want {
				t.Errorf("KeySchema = %s, want %s", keys, want)
			}
			attrs, _ := json.Marshal(path(props, "AttributeDefinitions"))
			if want := `[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]`; string(attrs) != want {
				t.Errorf("AttributeDefinitions = %s, want %s", attrs, want)
			}
			if got := path(props, "BillingMode"); got != "PAY_PER_REQUEST" {
				t.Errorf("BillingMode = %v", got)
			}
			if got := path(props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); got != "true" {
				t.Errorf("point-in-time recovery = %v", got)
			}
			if got := path(props, "SSESpecification", "SSEEnabled"); got != "true" {
				t.Errorf("SSE = %v", got)
			}
			ttl := path(props, "TimeToLiveSpecification", "AttributeName")
			if tc.ttl == "" && ttl != nil {
				t.Errorf("TTL on %v; %s items must not expire", ttl, tc.id)
			}
			if tc.ttl != "" && (ttl != tc.ttl || path(props, "TimeToLiveSpecification", "Enabled") != "true") {
				t.Errorf("TTL attribute = %v, want %s enabled", ttl, tc.ttl)
			}
		})
	}
}

// TestSamconfig checks both environments of samconfig.toml: their own
// stacks in us-east-1, IAM capability, a change set to confirm, and
// parameter overrides the template accepts, with no secret among them.
func TestSamconfig(t *testing.T) {
	var cfg map[string]map[string]map[string]map[string]any
	if _, err := toml.DecodeFile(filepath.Join(root, "samconfig.toml"), &cfg); err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	tpl := loadTemplate(t)
	stacks := map[string]string{}
	for _, env := range []string{"default", "prod"} {
		t.Run(env, func(t *testing.T) {
			global := cfg[env]["global"]["parameters"]
			deploy := cfg[env]["deploy"]["parameters"]
			if global == nil || deploy == nil {
				t.Fatalf("[%s.global.parameters] or [%s.deploy.parameters] is missing", env, env)
			}
			stack, _ := global["stack_name"].(string)
			if stack == "" {
				t.Error("no stack_name")
			}
			if other, dup := stacks[stack]; dup {
				t.Errorf("stack_name %q is also %s's", stack, other)
			}
			stacks[stack] = env
			if global["region"] != "us-east-1" {
				t.Errorf("region = %v, want us-east-1", global["region"])
			}
			if caps, _ := deploy["capabilities"].(string); !slices.Contains(strings.Fields(caps), "CAPABILITY_IAM") {
				t.Errorf("capabilities = %v, want CAPABILITY_IAM", deploy["capabilities"])
			}
			if deploy["confirm_changeset"] != true || deploy["resolve_s3"] != true {
				t.Errorf("confirm_changeset = %v, resolve_s3 = %v; want both true", deploy["confirm_changeset"], deploy["resolve_s3"])
			}
			raw, _ := deploy["parameter_overrides"].(string)
			overrides, err := parseOverrides(raw)
			if err != nil {
				t.Fatalf("parameter_overrides: %v", err)
			}
			for name := range overrides {
				if p, ok := tpl.Parameter(name); ok && p.NoEcho {
					t.Errorf("parameter_overrides sets the secret %s; pass it at deploy time", name)
				}
			}
			if _, err := tpl.WithParameters(overrides); err != nil {
				t.Errorf("the template refuses the overrides: %v", err)
			}
			for _, p := range tpl.Parameters() {
				if !p.HasDefault && overrides[p.Name] == "" {
					t.Errorf("parameter %s has no default and no override", p.Name)
				}
			}
		})
	}
}

// parseOverrides reads SAM's parameter_overrides: Name="value" pairs
// separated by spaces.
func parseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \"") {
			return nil, &overrideError{at: s}
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, &overrideError{at: s}
			}
			value, s = rest[1:1+end], rest[2+end:]
		} else {
			value, s, _ = strings.Cut(rest, " ")
		}
		out[name] = value
	}
	return out, nil
}

type overrideError struct{ at string }

func (e *overrideError) Error() string {
	return "cannot read a Name=\"value\" pair at " + strconv.Quote(e.at)
}

// logDeliveryActions are the CloudWatch Logs actions a state machine's
// role needs to deliver execution logs; IAM accepts only "*" as their
// resource.
var logDeliveryActions = []string{
	"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
	"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}

// TestLeastPrivilege checks the inline policy statements: no Resource "*"
// but for log delivery on the state machine's role, no wildcard action,
// and the projects table (which holds secrets) out of reach of the
// functions that never read a project, as shared/dynamo's key design
// promises.
func TestLeastPrivilege(t *testing.T) {
	doc := templateDoc(t)
	resources, _ := path(doc, "Resources").(map[string]any)
	noProjects := map[string]bool{"poll-task": true, "recover-task": true, "process-response": true}
	tpl := loadTemplate(t)
	for id, r := range resources {
		typ := path(r, "Type")
		if typ != samtemplate.TypeFunction && typ != samtemplate.TypeStateMachine {
			continue
		}
		policies, _ := path(r, "Properties", "Policies").([]any)
		if len(policies) == 0 {
			t.Errorf("%s has no Policies", id)
		}
		for _, p := range policies {
			stmts, _ := path(p, "Statement").([]any)
			for _, s := range stmts {
				actions := path(s, "Action")
				if a, ok := actions.(string); ok {
					actions = []any{a}
				}
				list, _ := actions.([]any)
				if len(list) == 0 {
					t.Errorf("%s: a statement without Action", id)
				}
				var acts []string
				for _, e := range list {
					a := fmt.Sprint(e)
					acts = append(acts, a)
					if strings.HasSuffix(a, ":*") || a == "*" {
						t.Errorf("%s: action %s is a wildcard", id, a)
					}
				}
				if path(s, "Resource") == "*" {
					logDelivery := typ == samtemplate.TypeStateMachine
					for _, a := range acts {
						logDelivery = logDelivery && slices.Contains(logDeliveryActions, a)
					}
					if !logDelivery {
						t.Errorf("%s: Resource \"*\" for %v", id, acts)
					}
				}
			}
		}
		if f, ok := tpl.Function(id); ok && noProjects[f.Dir] {
			if refs, _ := json.Marshal(policies); bytes.Contains(refs, []byte(`"ProjectsTable"`)) {
				t.Errorf("%s may access ProjectsTable, which it never reads: %s", id, refs)
			}
		}
	}
}
