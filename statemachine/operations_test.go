package statemachine_test

// What an operator relies on in template.yaml: alarms and the dashboard,
// the optional VPC, the system token kept out of the environment, each
// function's exact table access, the logging settings and the outputs, the
// way `sam build` builds the functions, and what the SAM translator makes
// of it all.

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/symflow/symflow/local/samtemplate"
	"github.com/symflow/symflow/shared/symbolicator"
	"github.com/symflow/symflow/shared/task"
)

// opsTemplate is template.yaml with CloudFormation's short-form tags in
// their long forms ({"Ref": X}, {"Fn::GetAtt": [R, A]}, {"Fn::If": [...]}),
// as CloudFormation and the SAM translator read it.
func opsTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	return longForm(&n).(map[string]any)
}

func longForm(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = longForm(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, e := range n.Content {
			l = append(l, longForm(e))
		}
		v = l
	default:
		v = n.Value
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v
	}
	switch tag := n.Tag[1:]; tag {
	case "Ref", "Condition":
		return map[string]any{tag: v}
	case "GetAtt":
		if s, ok := v.(string); ok {
			a, b, _ := strings.Cut(s, ".")
			v = []any{a, b}
		}
		return map[string]any{"Fn::GetAtt": v}
	default:
		return map[string]any{"Fn::" + tag: v}
	}
}

// js is v's JSON, for comparing template values.
func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

// opsResources returns the template's resources of type typ by id.
func opsResources(doc map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range path(doc, "Resources").(map[string]any) {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// conditionEnv evaluates Conditions and Rules the way CloudFormation does
// for a deployment with the given parameter values (the rest take their
// defaults).
type conditionEnv struct {
	t      *testing.T
	doc    map[string]any
	params map[string]any // string, or []any for list parameters
}

func newConditionEnv(t *testing.T, doc map[string]any, values map[string]string) *conditionEnv {
	t.Helper()
	e := &conditionEnv{t: t, doc: doc, params: map[string]any{}}
	for name, p := range path(doc, "Parameters").(map[string]any) {
		v, ok := values[name]
		if !ok {
			v, _ = path(p, "Default").(string)
		}
		if path(p, "Type") == "CommaDelimitedList" {
			var l []any
			for _, s := range strings.Split(v, ",") { // "" is [""], as CloudFormation gives it
				l = append(l, strings.TrimSpace(s))
			}
			e.params[name] = l
		} else {
			e.params[name] = v
		}
	}
	for name := range values {
		if _, ok := e.params[name]; !ok {
			t.Fatalf("no parameter %s", name)
		}
	}
	return e
}

func (e *conditionEnv) condition(name string) bool {
	c := path(e.doc, "Conditions", name)
	if c == nil {
		e.t.Fatalf("no condition %s", name)
	}
	b, ok := e.eval(c).(bool)
	if !ok {
		e.t.Fatalf("condition %s is not a boolean", name)
	}
	return b
}

func (e *conditionEnv) eval(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			p, ok := e.params[arg.(string)]
			if !ok {
				e.t.Fatalf("Ref %v: not a parameter", arg)
			}
			return p
		case "Condition":
			return e.condition(arg.(string))
		case "Fn::Equals":
			return js(e.eval(args[0])) == js(e.eval(args[1]))
		case "Fn::Not":
			return !e.eval(args[0]).(bool)
		case "Fn::And", "Fn::Or":
			all := fn == "Fn::And"
			for _, a := range args {
				if e.eval(a).(bool) != all {
					return !all
				}
			}
			return all
		case "Fn::Join":
			var parts []string
			for _, p := range e.eval(args[1]).([]any) {
				parts = append(parts, fmt.Sprint(e.eval(p)))
			}
			return strings.Join(parts, args[0].(string))
		case "Fn::Contains":
			want := js(e.eval(args[1]))
			for _, x := range e.eval(args[0]).([]any) {
				if js(x) == want {
					return true
				}
			}
			return false
		}
		e.t.Fatalf("cannot evaluate %s", fn)
	}
	return nil
}

// rulesPass reports whether every Rules assertion holds.
func (e *conditionEnv) rulesPass() bool {
	for _, r := range path(e.doc, "Rules").(map[string]any) {
		for _, a := range path(r, "Assertions").([]any) {
			if !e.eval(path(a, "Assert")).(bool) {
				return false
			}
		}
	}
	return true
}

// TestOperationsParameters checks the operator-facing parameters and what
// their conditions make of them: an alarm topic created unless one is
// given, the VPC only with subnets and security groups both (a rule
// refuses one without the other), the token's permission only with its
// ARN, execution data logged only at level ALL.
func TestOperationsParameters(t *testing.T) {
	doc := opsTemplate(t)
	tpl := loadTemplate(t)
	if _, ok := tpl.Parameter("SystemToken"); ok {
		t.Error("the template still takes the system token itself as a parameter")
	}
	for _, p := range tpl.Parameters() {
		if p.NoEcho {
			t.Errorf("parameter %s is NoEcho: no secret is a parameter any more", p.Name)
		}
	}
	for _, tc := range []struct {
		param   string
		value   string
		accepts bool
	}{
		{"SystemTokenArn", "", true},
		{"SystemTokenArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:symflow/system-token-AbCdEf", true},
		{"SystemTokenArn", "arn:aws:ssm:eu-west-1:123456789012:parameter/symflow/system-token", true},
		{"SystemTokenArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:symflow/system-token", false}, // partial ARN: IAM would not match it
		{"SystemTokenArn", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},          // the token itself
		{"SystemTokenArn", "arn:aws:s3:::bucket/token", false},
		{"StateMachineLogLevel", "ALL", true},
		{"StateMachineLogLevel", "DEBUG", false},
		{"AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops-alarms", true},
		{"AlarmTopicArn", "ops-alarms", false},
		{"SymbolicatorRoleArn", "arn:aws:iam::123456789012:role/symbolicator", true},
		{"SymbolicatorRoleArn", "arn:aws:iam::123456789012:user/someone", false},
		{"SubnetIds", "subnet-0a1b2c3d,subnet-4e5f6a7b", true},
	} {
		p, ok := tpl.Parameter(tc.param)
		if !ok {
			t.Errorf("no parameter %s", tc.param)
			continue
		}
		if err := p.Check(tc.value); (err == nil) != tc.accepts {
			t.Errorf("%s=%q: Check = %v, want accepted %v", tc.param, tc.value, err, tc.accepts)
		}
	}
	if p, _ := tpl.Parameter("StateMachineLogLevel"); p.Default != "ERROR" {
		t.Errorf("StateMachineLogLevel defaults to %q, want ERROR", p.Default)
	}

	for _, tc := range []struct {
		name   string
		values map[string]string
		want   map[string]bool // condition → value
		rules  bool
	}{
		{"defaults", nil, map[string]bool{"CreateAlarmTopic": true, "SubscribeAlarmEmail": false, "InVpc": false, "HasSystemToken": false, "LogExecutionData": false, "HasSymbolicatorRole": false}, true},
		{"own topic", map[string]string{"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops", "AlarmEmail": "ops@example.com"}, map[string]bool{"CreateAlarmTopic": false, "SubscribeAlarmEmail": false}, true},
		{"email", map[string]string{"AlarmEmail": "ops@example.com"}, map[string]bool{"CreateAlarmTopic": true, "SubscribeAlarmEmail": true}, true},
		{"vpc", map[string]string{"SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"}, map[string]bool{"InVpc": true}, true},
		{"subnets alone", map[string]string{"SubnetIds": "subnet-1"}, map[string]bool{"InVpc": false}, false},
		{"security groups alone", map[string]string{"SecurityGroupIds": "sg-1"}, map[string]bool{"InVpc": false}, false},
		{"token", map[string]string{"SystemTokenArn": "arn:aws:ssm:us-east-1:123456789012:parameter/t"}, map[string]bool{"HasSystemToken": true}, true},
		{"log all", map[string]string{"StateMachineLogLevel": "ALL"}, map[string]bool{"LogExecutionData": true}, true},
		{"log fatal", map[string]string{"StateMachineLogLevel": "FATAL"}, map[string]bool{"LogExecutionData": false}, true},
		{"symbolicator role", map[string]string{"SymbolicatorRoleArn": "arn:aws:iam::123456789012:role/s"}, map[string]bool{"HasSymbolicatorRole": true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newConditionEnv(t, doc, tc.values)
			for c, want := range tc.want {
				if got := e.condition(c); got != want {
					t.Errorf("condition %s = %v, want %v", c, got, want)
				}
			}
			if got := e.rulesPass(); got != tc.rules {
				t.Errorf("rules pass = %v, want %v", got, tc.rules)
			}
		})
	}

	// What the conditions switch.
	for id, want := range map[string]string{"AlarmTopic": "CreateAlarmTopic", "AlarmEmailSubscription": "SubscribeAlarmEmail"} {
		if got := path(doc, "Resources", id, "Condition"); got != want {
			t.Errorf("%s has Condition %v, want %s", id, got, want)
		}
	}
	ifTokenPolicy := 0
	for id, fn := range opsResources(doc, samtemplate.TypeFunction) {
		vpc := path(fn, "Properties", "VpcConfig")
		if symbolicatorCallers[id] {
			want := map[string]any{"Fn::If": []any{"InVpc",
				map[string]any{"SubnetIds": ref("SubnetIds"), "SecurityGroupIds": ref("SecurityGroupIds")},
				ref("AWS::NoValue")}}
			if js(vpc) != js(want) {
				t.Errorf("%s calls Symbolicator: VpcConfig = %s, want %s", id, js(vpc), js(want))
			}
		} else if vpc != nil {
			t.Errorf("%s never calls Symbolicator but has VpcConfig %s", id, js(vpc))
		}
		for _, p := range path(fn, "Properties", "Policies").([]any) {
			if strings.Contains(js(p), "SystemTokenArn") {
				ifTokenPolicy++
				args, _ := path(p, "Fn::If").([]any)
				if len(args) != 3 || args[0] != "HasSystemToken" || js(args[2]) != js(ref("AWS::NoValue")) {
					t.Errorf("%s: the system token's policy is not If HasSystemToken: %s", id, js(p))
				}
			}
		}
	}
	if ifTokenPolicy != 2 {
		t.Errorf("%d functions may read the system token, want LookupSources and SubmitTask", ifTokenPolicy)
	}
	if got, want := js(path(doc, "Conditions", "LogExecutionData")), js(map[string]any{"Fn::Equals": []any{ref("StateMachineLogLevel"), "ALL"}}); got != want {
		t.Errorf("LogExecutionData = %s, want %s", got, want)
	}
}

// symbolicatorCallers are the functions whose steps call Symbolicator
// (shared/task: SubmitTask creates the task, PollTask queries it); only
// they go into the VPC.
var symbolicatorCallers = map[string]bool{"SubmitTaskFunction": true, "PollTaskFunction": true}

// TestAlarms checks that an operator hears of every way a crash can fail
// to be symbolicated: failed and timed-out executions, each function's
// errors and throttles, both crash-upload queues holding a message, and
// API 5xx, each notifying the alarm topic.
func TestAlarms(t *testing.T) {
	doc := opsTemplate(t)
	alarms := opsResources(doc, "AWS::CloudWatch::Alarm")
	type key struct{ ns, metric, dim, value string }
	found := map[key]string{}
	topic := js([]any{map[string]any{"Fn::If": []any{"CreateAlarmTopic", ref("AlarmTopic"), ref("AlarmTopicArn")}}})
	for id, a := range alarms {
		p := path(a, "Properties")
		dims, _ := path(p, "Dimensions").([]any)
		if len(dims) != 1 {
			t.Errorf("%s: %d dimensions, want one naming what it watches", id, len(dims))
			continue
		}
		k := key{fmt.Sprint(path(p, "Namespace")), fmt.Sprint(path(p, "MetricName")), fmt.Sprint(path(dims[0], "Name")), js(path(dims[0], "Value"))}
		if other, dup := found[k]; dup {
			t.Errorf("%s and %s watch the same metric", id, other)
		}
		found[k] = id
		if got := js(path(p, "AlarmActions")); got != topic {
			t.Errorf("%s AlarmActions = %s, want %s", id, got, topic)
		}
		if got := js(path(p, "OKActions")); got != topic {
			t.Errorf("%s OKActions = %s, want %s", id, got, topic)
		}
		if path(p, "TreatMissingData") != "notBreaching" {
			t.Errorf("%s: TreatMissingData = %v; no data is no failure", id, path(p, "TreatMissingData"))
		}
		if path(p, "AlarmDescription") == nil {
			t.Errorf("%s has no AlarmDescription telling the operator what to do", id)
		}
	}
	want := func(ns, metric, dim string, value any, fires func(p any) error) {
		t.Helper()
		id, ok := found[key{ns, metric, dim, js(value)}]
		if !ok {
			t.Errorf("no alarm on %s %s for %s=%s", ns, metric, dim, js(value))
			return
		}
		if err := fires(path(alarms[id], "Properties")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		delete(found, key{ns, metric, dim, js(value)})
	}
	// fromOne: the alarm goes off at the first occurrence in 5 minutes.
	fromOne := func(p any) error {
		cmp, th := path(p, "ComparisonOperator"), path(p, "Threshold")
		if !(cmp == "GreaterThanOrEqualToThreshold" && th == "1") && !(cmp == "GreaterThanThreshold" && th == "0") {
			return fmt.Errorf("fires on %v %v, want on the first one", cmp, th)
		}
		if path(p, "Period") != "300" || path(p, "EvaluationPeriods") != "1" {
			return fmt.Errorf("period %v × %v, want one period of 300 s", path(p, "Period"), path(p, "EvaluationPeriods"))
		}
		return nil
	}
	sm := ref("SymbolicateStateMachine")
	want("AWS/States", "ExecutionsFailed", "StateMachineArn", sm, fromOne)
	want("AWS/States", "ExecutionsTimedOut", "StateMachineArn", sm, fromOne)
	for id := range opsResources(doc, samtemplate.TypeFunction) {
		want("AWS/Lambda", "Errors", "FunctionName", ref(id), func(p any) error {
			if js(path(p, "Threshold")) != js(ref("FunctionErrorsAlarmThreshold")) {
				return fmt.Errorf("threshold %s, want the FunctionErrorsAlarmThreshold parameter", js(path(p, "Threshold")))
			}
			return nil
		})
		want("AWS/Lambda", "Throttles", "FunctionName", ref(id), fromOne)
	}
	// The queues are the ones the crash-upload function's failures go to.
	crash := path(doc, "Resources", "CrashUploadFunction", "Properties")
	dlq := path(crash, "Events", "CrashUploaded", "Properties", "DeadLetterConfig", "Arn")
	onFailure := path(crash, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")
	for _, q := range []any{dlq, onFailure} {
		args, _ := path(q, "Fn::GetAtt").([]any)
		if len(args) != 2 || args[1] != "Arn" {
			t.Errorf("crash-upload failures go to %s, not to a queue of the template", js(q))
			continue
		}
		want("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", getAtt(args[0].(string), "QueueName"), fromOne)
	}
	api := path(doc, "Resources", "ApiFunction", "Properties", "Events", "Api", "Properties", "ApiId")
	want("AWS/ApiGateway", "5xx", "ApiId", api, fromOne)
	for k, id := range found {
		t.Errorf("alarm %s on %v is not one this test knows", id, k)
	}
}

// emfMetrics are the symflow EMF metrics the dashboard shows, with the
// dimensions their producers record besides Function (lambdaenv adds it
// to every metric): shared/symbolicator's session and shared/task's
// RecoverTask.
var emfMetrics = map[string][]string{
	symbolicator.MetricStatusCode:     {"status_code"},
	symbolicator.MetricResponse:       {"status", "task"},
	symbolicator.MetricRequestTime:    {"attempt"},
	symbolicator.MetricCreateTaskTime: {"task"},
	symbolicator.MetricQueryTaskTime:  nil,
	symbolicator.MetricRequestError:   {"attempt", "error"},
	task.MetricResubmits:              {"reason"},
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// TestDashboard checks that the dashboard body is valid JSON once
// CloudFormation has substituted it, that every ${...} names something of
// the template, and that it shows executions by outcome, their duration
// percentiles and each EMF metric with the namespace and dimensions the
// functions write.
func TestDashboard(t *testing.T) {
	doc := opsTemplate(t)
	dashboards := opsResources(doc, "AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashboards))
	}
	var body string
	for _, d := range dashboards {
		body, _ = path(d, "Properties", "DashboardBody", "Fn::Sub").(string)
	}
	if body == "" {
		t.Fatal("DashboardBody is not a !Sub string")
	}
	resources := path(doc, "Resources").(map[string]any)
	params := path(doc, "Parameters").(map[string]any)
	substituted := subVar.ReplaceAllStringFunc(body, func(m string) string {
		name := m[2 : len(m)-1]
		res, _, hasAttr := strings.Cut(name, ".")
		_, isRes := resources[res]
		_, isParam := params[name]
		if !(isRes || isParam || (strings.HasPrefix(name, "AWS::") && !hasAttr)) || (hasAttr && !isRes) {
			t.Errorf("dashboard: ${%s} names nothing of the template", name)
		}
		return "value-of-" + strings.NewReplacer(":", "-", ".", "-").Replace(name)
	})
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
				Alarms  []string
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(substituted), &dash); err != nil {
		t.Fatalf("dashboard body is not JSON after substitution: %v", err)
	}
	if len(dash.Widgets) == 0 {
		t.Fatal("dashboard has no widgets")
	}
	outcomes := map[string]bool{}
	percentiles := map[string]bool{}
	var searches []string
	alarmsShown := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, a := range w.Properties.Alarms {
			alarmsShown[a] = true
		}
		for _, m := range w.Properties.Metrics {
			if len(m) == 1 {
				if e, ok := m[0].(map[string]any); ok {
					searches = append(searches, fmt.Sprint(e["expression"]))
				}
				continue
			}
			if len(m) >= 4 && m[0] == "AWS/States" && m[2] == "StateMachineArn" && m[3] == "value-of-SymbolicateStateMachine" {
				name := m[1].(string)
				if strings.HasPrefix(name, "Executions") {
					outcomes[strings.TrimPrefix(name, "Executions")] = true
				}
				if name == "ExecutionTime" && len(m) == 5 {
					if s, _ := m[4].(map[string]any)["stat"].(string); strings.HasPrefix(s, "p") {
						percentiles[s] = true
					}
				}
			}
		}
	}
	for _, o := range []string{"Started", "Succeeded", "Failed", "TimedOut", "Aborted"} {
		if !outcomes[o] {
			t.Errorf("dashboard lacks executions %s", o)
		}
	}
	if len(percentiles) < 2 {
		t.Errorf("dashboard shows execution duration percentiles %v, want several", percentiles)
	}
	for name, dims := range emfMetrics {
		schema := "{symflow," + strings.Join(append([]string{"Function"}, dims...), ",") + "}"
		shown := false
		for _, s := range searches {
			if strings.Contains(s, `MetricName="`+name+`"`) {
				shown = true
				if !strings.Contains(s, "SEARCH('"+schema+" ") {
					t.Errorf("dashboard searches %s as %q; the functions write it with the schema %s", name, s, schema)
				}
			}
		}
		if !shown {
			t.Errorf("dashboard does not show the EMF metric %s", name)
		}
	}
	for id := range opsResources(doc, "AWS::CloudWatch::Alarm") {
		if !alarmsShown["value-of-"+id+"-Arn"] {
			t.Errorf("the dashboard's alarm widget lacks %s", id)
		}
	}
}

// The EMF namespace the functions write to, as lambdaenv sets it.
func TestDashboardNamespaceIsTheFunctions(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "functions", "internal", "lambdaenv", "lambdaenv.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(`metrics.NewEMF(os.Stdout, "symflow",`)) {
		t.Error(`lambdaenv no longer writes EMF metrics to the namespace "symflow" the dashboard searches`)
	}
}

// storeMethods are the shared/dynamo Store methods each function's code
// calls (through the consumers' interfaces in shared/task, shared/api,
// shared/debugfile, shared/execution and shared/crashupload).
var storeMethods = map[string][]string{
	"LookupSourcesFunction":     {"GetProject"},                                        // task.LookupSources
	"SubmitTaskFunction":        {"GetProject", "GetTask", "UpdateTask", "CreateTask"}, // task.SubmitTask: resume, recordTask
	"PollTaskFunction":          {"UpdateTask", "CreateTask"},                          // task.PollTask: recordTask
	"RecoverTaskFunction":       {"UpdateTask"},                                        // task.RecoverTask
	"ProcessResponseFunction":   nil,                                                   // S3 only
	"PrepareComponentsFunction": {"GetProject", "ListInstallations"},                   // task.PrepareComponents
	"ApiFunction":               {"GetProject", "PutProject", "PutInstallation", "RecordDebugFileUpload", "ClaimExecution"},
	"CrashUploadFunction":       {"GetProject", "ClaimExecution"}, // crashupload.Handler, execution.Starter
}

// dynamoCalls reads shared/dynamo and returns, for each function or method
// there, the DynamoDB operations it makes on each table (by Config field:
// ProjectsTable, TasksTable), following its calls inside the package.
func dynamoCalls(t *testing.T) func(method string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(root, "shared", "dynamo", "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no shared/dynamo sources: %v", err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	type op struct{ table, action string }
	direct := map[string][]op{}
	calls := map[string][]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			name := fd.Name.Name
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fun := call.Fun.(type) {
				case *ast.Ident:
					calls[name] = append(calls[name], fun.Name)
				case *ast.SelectorExpr:
					if inner, ok := fun.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "db" && len(call.Args) == 2 {
						table := ""
						if u, ok := call.Args[1].(*ast.UnaryExpr); ok {
							if lit, ok := u.X.(*ast.CompositeLit); ok {
								for _, e := range lit.Elts {
									kv, ok := e.(*ast.KeyValueExpr)
									if !ok || fmt.Sprint(kv.Key) != "TableName" {
										continue
									}
									ast.Inspect(kv.Value, func(n ast.Node) bool {
										if s, ok := n.(*ast.SelectorExpr); ok && strings.HasSuffix(s.Sel.Name, "Table") {
											table = s.Sel.Name
										}
										return true
									})
								}
							}
						}
						if table == "" {
							// CreateTables names its tables by variable; a
							// method a function calls must not.
							table = "unknown table at " + fset.Position(call.Pos()).String()
						}
						direct[name] = append(direct[name], op{table, "dynamodb:" + fun.Sel.Name})
					} else if _, ok := fun.X.(*ast.Ident); ok {
						calls[name] = append(calls[name], fun.Sel.Name)
					}
				}
				return true
			})
		}
	}
	return func(method string) map[string][]string {
		if _, ok := calls[method]; !ok && direct[method] == nil {
			t.Fatalf("shared/dynamo has no method %s", method)
		}
		out := map[string][]string{}
		seen := map[string]bool{}
		var walk func(string)
		walk = func(m string) {
			if seen[m] {
				return
			}
			seen[m] = true
			for _, o := range direct[m] {
				if strings.HasPrefix(o.table, "unknown") {
					t.Errorf("%s (reached from %s): %s on an %s the test cannot read", m, method, o.action, o.table)
				}
				if !slices.Contains(out[o.table], o.action) {
					out[o.table] = append(out[o.table], o.action)
				}
			}
			for _, c := range calls[m] {
				walk(c)
			}
		}
		walk(method)
		return out
	}
}

// wantTableActions is each function's exact DynamoDB actions by table,
// from the store methods it calls.
func wantTableActions(t *testing.T) map[string]map[string][]string {
	ops := dynamoCalls(t)
	want := map[string]map[string][]string{}
	for fn, methods := range storeMethods {
		want[fn] = map[string][]string{}
		for _, m := range methods {
			for table, actions := range ops(m) {
				for _, a := range actions {
					if !slices.Contains(want[fn][table], a) {
						want[fn][table] = append(want[fn][table], a)
					}
				}
			}
		}
		for table := range want[fn] {
			sort.Strings(want[fn][table])
		}
	}
	return want
}

// tableActions collects a policy list's DynamoDB actions by table; a SAM
// policy template naming a table is an error (DynamoDBReadPolicy grants
// Scan of every project's secrets).
func tableActions(t *testing.T, id string, policies []any) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range policies {
		if args, ok := path(p, "Fn::If").([]any); ok {
			p = args[1]
		}
		for name := range p.(map[string]any) {
			if strings.HasPrefix(name, "DynamoDB") {
				t.Errorf("%s uses the SAM policy template %s, which grants more than the code does", id, name)
			}
		}
		stmts, _ := path(p, "Statement").([]any)
		if stmts == nil {
			stmts, _ = path(p, "PolicyDocument", "Statement").([]any)
		}
		for _, s := range stmts {
			res := js(path(s, "Resource"))
			table := ""
			for _, tbl := range []string{"ProjectsTable", "TasksTable"} {
				if strings.Contains(res, `"`+tbl+`"`) {
					table = tbl
				}
			}
			actions := path(s, "Action")
			if a, ok := actions.(string); ok {
				actions = []any{a}
			}
			for _, a := range actions.([]any) {
				a := a.(string)
				if !strings.HasPrefix(a, "dynamodb:") {
					continue
				}
				if table == "" {
					t.Errorf("%s: %s on %s, which is no table of the template", id, a, res)
					continue
				}
				if !slices.Contains(out[table], a) {
					out[table] = append(out[table], a)
				}
			}
		}
	}
	for table := range out {
		sort.Strings(out[table])
	}
	return out
}

// TestTableAccess checks each function's DynamoDB permissions against what
// its code does: exactly the actions shared/dynamo's methods make on each
// table, so a function that reads one project may Query that project's
// partition and nothing more (no Scan of every project's secrets), and
// the tasks table gets exactly its operations.
func TestTableAccess(t *testing.T) {
	doc := opsTemplate(t)
	want := wantTableActions(t)
	fns := opsResources(doc, samtemplate.TypeFunction)
	for id := range fns {
		if _, ok := storeMethods[id]; !ok {
			t.Errorf("function %s: storeMethods does not say which store methods it calls", id)
		}
	}
	for id, methods := range storeMethods {
		fn, ok := fns[id]
		if !ok {
			t.Errorf("storeMethods names %s, which is no function of the template", id)
			continue
		}
		got := tableActions(t, id, path(fn, "Properties", "Policies").([]any))
		if js(got) != js(want[id]) {
			t.Errorf("%s (store methods %v): DynamoDB actions %s, want %s", id, methods, js(got), js(want[id]))
		}
	}
	for table, actions := range map[string][]string{"ProjectsTable": want["LookupSourcesFunction"]["ProjectsTable"]} {
		if slices.Contains(actions, "dynamodb:Scan") || len(actions) != 1 {
			t.Errorf("reading one project takes %v on %s, want one Query", actions, table)
		}
	}
}

// TestAPIMayRedrive checks the API's Step Functions permissions: start
// executions of the state machine, describe and redrive its executions.
func TestAPIMayRedrive(t *testing.T) {
	doc := opsTemplate(t)
	execs := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${SymbolicateStateMachine.Name}:*"}
	granted := map[string]string{}
	for _, p := range path(doc, "Resources", "ApiFunction", "Properties", "Policies").([]any) {
		stmts, _ := path(p, "Statement").([]any)
		for _, s := range stmts {
			actions := path(s, "Action")
			if a, ok := actions.(string); ok {
				actions = []any{a}
			}
			for _, a := range actions.([]any) {
				if strings.HasPrefix(a.(string), "states:") {
					granted[a.(string)] = js(path(s, "Resource"))
				}
			}
		}
	}
	want := map[string]string{
		"states:StartExecution":    js(ref("SymbolicateStateMachine")),
		"states:DescribeExecution": js(execs),
		"states:RedriveExecution":  js(execs),
	}
	if js(granted) != js(want) {
		t.Errorf("ApiFunction's Step Functions permissions:\n%s\nwant\n%s", js(granted), js(want))
	}
}

// TestSystemTokenNotInEnvironment checks that no function's environment
// holds a secret: the two functions that build source lists get the
// token's ARN, which lambdaenv reads at init.
func TestSystemTokenNotInEnvironment(t *testing.T) {
	tpl := loadTemplate(t)
	for _, f := range tpl.Functions() {
		env := f.Env()
		if _, ok := env[task.EnvSystemToken]; ok {
			t.Errorf("%s has %s in its environment", f.LogicalID, task.EnvSystemToken)
		}
		for _, v := range f.Environment {
			if v.Secret {
				t.Errorf("%s: environment %s comes from a NoEcho parameter", f.LogicalID, v.Name)
			}
		}
		got := ""
		for _, v := range f.Environment {
			if v.Name == "SYSTEM_TOKEN_ARN" {
				got = v.Ref
			}
		}
		wants := f.Dir == "lookup-sources" || f.Dir == "submit-task"
		if wants && got != "SystemTokenArn" {
			t.Errorf("%s: SYSTEM_TOKEN_ARN is %q, want !Ref SystemTokenArn", f.LogicalID, got)
		}
		if !wants && got != "" {
			t.Errorf("%s computes no source list but gets SYSTEM_TOKEN_ARN", f.LogicalID)
		}
	}
	doc := opsTemplate(t)
	for _, id := range []string{"LookupSourcesFunction", "SubmitTaskFunction"} {
		var stmt any
		for _, p := range path(doc, "Resources", id, "Properties", "Policies").([]any) {
			if args, ok := path(p, "Fn::If").([]any); ok && args[0] == "HasSystemToken" {
				stmt = path(args[1], "Statement")
			}
		}
		want := []any{map[string]any{"Effect": "Allow", "Action": []any{"secretsmanager:GetSecretValue", "ssm:GetParameter"}, "Resource": ref("SystemTokenArn")}}
		if js(stmt) != js(want) {
			t.Errorf("%s reads the token with %s, want %s", id, js(stmt), js(want))
		}
	}
}

// TestLoggingAndOutputs checks JSON logs for every function, each in a
// log group of its own with the retention parameter, the state machine's
// level parameter, and that every log group and queue is an output.
func TestLoggingAndOutputs(t *testing.T) {
	doc := opsTemplate(t)
	if got := path(doc, "Globals", "Function", "LoggingConfig", "LogFormat"); got != "JSON" {
		t.Errorf("Globals LoggingConfig.LogFormat = %v, want JSON", got)
	}
	groups := opsResources(doc, "AWS::Logs::LogGroup")
	for id, g := range groups {
		if js(path(g, "Properties", "RetentionInDays")) != js(ref("LogRetentionDays")) {
			t.Errorf("log group %s keeps logs %s, want the LogRetentionDays parameter", id, js(path(g, "Properties", "RetentionInDays")))
		}
	}
	used := map[string]string{}
	for id, fn := range opsResources(doc, samtemplate.TypeFunction) {
		lg, _ := path(fn, "Properties", "LoggingConfig", "LogGroup", "Ref").(string)
		if _, ok := groups[lg]; !ok {
			t.Errorf("%s logs to %v, not to a log group of the template", id, lg)
		}
		if other, dup := used[lg]; dup {
			t.Errorf("%s and %s share the log group %s", id, other, lg)
		}
		used[lg] = id
	}
	sm := path(doc, "Resources", "SymbolicateStateMachine", "Properties", "Logging")
	if js(path(sm, "Level")) != js(ref("StateMachineLogLevel")) {
		t.Errorf("state machine Logging.Level = %s, want the StateMachineLogLevel parameter", js(path(sm, "Level")))
	}
	if want := js(map[string]any{"Fn::If": []any{"LogExecutionData", "true", "false"}}); js(path(sm, "IncludeExecutionData")) != want {
		t.Errorf("state machine IncludeExecutionData = %s, want %s", js(path(sm, "IncludeExecutionData")), want)
	}
	queues := opsResources(doc, "AWS::SQS::Queue")
	if len(queues) == 0 {
		t.Error("no queues: the crash-upload failures would go to SAM-made queues with SQS's default retention")
	}
	for id, q := range queues {
		if path(q, "Properties", "MessageRetentionPeriod") != "1209600" {
			t.Errorf("queue %s keeps messages %v s, want 14 days (1209600)", id, path(q, "Properties", "MessageRetentionPeriod"))
		}
	}
	outputs := js(path(doc, "Outputs"))
	for id := range groups {
		if !strings.Contains(outputs, js(ref(id))) {
			t.Errorf("log group %s is no output", id)
		}
	}
	for id := range queues {
		if !strings.Contains(outputs, js(ref(id))) {
			t.Errorf("queue %s is no output", id)
		}
	}
	for _, name := range []string{"AlarmTopicArn", "DashboardName", "DebugFilesReadPolicyArn"} {
		if path(doc, "Outputs", name) == nil {
			t.Errorf("no output %s", name)
		}
	}
}

// TestSymbolicatorReadsDebugFiles checks the two ways Symbolicator's role
// gets read access to the debug-files bucket: the managed policy output,
// and the bucket policy statements present only with SymbolicatorRoleArn.
func TestSymbolicatorReadsDebugFiles(t *testing.T) {
	doc := opsTemplate(t)
	bucketARN := getAtt("DebugFilesBucket", "Arn")
	objects := map[string]any{"Fn::Sub": "${DebugFilesBucket.Arn}/*"}
	wantStmts := js([]any{
		map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucketARN},
		map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
	})
	if got := js(path(doc, "Resources", "DebugFilesReadPolicy", "Properties", "PolicyDocument", "Statement")); got != wantStmts {
		t.Errorf("DebugFilesReadPolicy grants %s, want %s", got, wantStmts)
	}
	if js(path(doc, "Outputs", "DebugFilesReadPolicyArn", "Value")) != js(ref("DebugFilesReadPolicy")) {
		t.Error("DebugFilesReadPolicyArn does not output the policy")
	}
	var granted []string
	for _, s := range path(doc, "Resources", "DebugFilesBucketPolicy", "Properties", "PolicyDocument", "Statement").([]any) {
		args, ok := path(s, "Fn::If").([]any)
		if !ok {
			continue
		}
		if args[0] != "HasSymbolicatorRole" || js(path(args[1], "Principal", "AWS")) != js(ref("SymbolicatorRoleArn")) {
			t.Errorf("conditional bucket statement %s is not Symbolicator's", js(s))
		}
		granted = append(granted, js(path(args[1], "Action"))+" "+js(path(args[1], "Resource")))
	}
	sort.Strings(granted)
	want := []string{`"s3:GetObject" ` + js(objects), `"s3:ListBucket" ` + js(bucketARN)}
	if !slices.Equal(granted, want) {
		t.Errorf("Symbolicator's role gets %v on the bucket, want %v", granted, want)
	}
}

// TestSamBuildMetadata checks that every function is built by `sam build`
// through the Makefile: BuildMethod makefile, the Makefile at the root
// (ContextPath), the functions/<name> package as CodeUri.
func TestSamBuildMetadata(t *testing.T) {
	doc := opsTemplate(t)
	for id, fn := range opsResources(doc, samtemplate.TypeFunction) {
		md := path(fn, "Metadata")
		if js(md) != js(map[string]any{"BuildMethod": "makefile", "ContextPath": "."}) {
			t.Errorf("%s Metadata = %s, want BuildMethod makefile and ContextPath .", id, js(md))
		}
		code, _ := path(fn, "Properties", "CodeUri").(string)
		dir := strings.TrimSuffix(strings.TrimPrefix(code, "functions/"), "/")
		if code != "functions/"+dir+"/" || strings.Contains(dir, "/") {
			t.Errorf("%s CodeUri = %q, want functions/<name>/", id, code)
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", dir, "main.go")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Errorf("ContextPath . names the root Makefile: %v", err)
	}
}

// makeTarget runs the root Makefile's target from dir, as SAM's makefile
// builder does (make --makefile ROOT/Makefile build-ID, in a scratch
// folder, with ARTIFACTS_DIR set).
func makeTarget(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	mk := requireTool(t, "make")
	abs, err := filepath.Abs(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mk, append([]string{"--no-print-directory", "--makefile", abs}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// TestMakefileBuildTargets builds functions as `sam build` would, from a
// scratch folder, and checks each bootstrap is a static Linux executable
// for the template's architecture (or LAMBDA_ARCH's); every function of
// the template has a target, and a wrong logical id or a missing
// ARTIFACTS_DIR is refused with a message naming it.
func TestMakefileBuildTargets(t *testing.T) {
	tpl := loadTemplate(t)
	archs := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "x86_64": elf.EM_X86_64}
	var templateArch string
	for _, f := range tpl.Functions() {
		if len(f.Architectures) != 1 {
			t.Fatalf("%s architectures %v", f.LogicalID, f.Architectures)
		}
		templateArch = f.Architectures[0]
		// Every function has a target (make -n: what it would run).
		out, err := makeTarget(t, t.TempDir(), nil, "-n", "build-"+f.LogicalID, "ARTIFACTS_DIR=/tmp/unused")
		if err != nil || !bytes.Contains(out, []byte("./functions/$pkg")) {
			t.Errorf("make -n build-%s: %v\n%s", f.LogicalID, err, out)
		}
	}
	for _, tc := range []struct {
		fn, arch string
		env      []string
	}{
		{"ApiFunction", templateArch, nil},
		{"RecoverTaskFunction", "x86_64", []string{"LAMBDA_ARCH=x86_64"}},
	} {
		t.Run(tc.fn+"/"+tc.arch, func(t *testing.T) {
			artifacts := filepath.Join(t.TempDir(), ".aws-sam", "build", tc.fn)
			out, err := makeTarget(t, t.TempDir(), append(tc.env, "ARTIFACTS_DIR="+artifacts), "build-"+tc.fn)
			if err != nil {
				t.Fatalf("make build-%s: %v\n%s", tc.fn, err, out)
			}
			bin := filepath.Join(artifacts, "bootstrap")
			fi, err := os.Stat(bin)
			if err != nil {
				t.Fatalf("no bootstrap after make build-%s: %v\n%s", tc.fn, err, out)
			}
			if fi.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable: %v", bin, fi.Mode())
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("%s is not an ELF file: %v", bin, err)
			}
			defer f.Close()
			if f.Machine != archs[tc.arch] || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX || f.Type != elf.ET_EXEC {
				t.Errorf("%s: machine %v, OS ABI %v, type %v; want a %v executable for Linux", bin, f.Machine, f.OSABI, f.Type, archs[tc.arch])
			}
			if f.Section(".interp") != nil {
				t.Errorf("%s is dynamically linked; provided.al2023 wants a static bootstrap (CGO off)", bin)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown function", []string{"build-NoSuchFunction", "ARTIFACTS_DIR=/tmp/unused"}, "no functions/no-such/main.go"},
		{"no ARTIFACTS_DIR", []string{"build-ApiFunction", "ARTIFACTS_DIR="}, "ARTIFACTS_DIR is not set"},
		{"unknown architecture", []string{"build-ApiFunction", "ARTIFACTS_DIR=/tmp/unused", "LAMBDA_ARCH=mips"}, `architecture "mips"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := makeTarget(t, t.TempDir(), nil, tc.args...)
			if err == nil || !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("make %v: %v, want a failure saying %q:\n%s", tc.args, err, tc.want, out)
			}
		})
	}
}

// samTranslate runs scripts/sam-translate.py on a template file and
// returns the CloudFormation template the SAM translator makes of it.
func samTranslate(t *testing.T, file string) (map[string]any, []byte, error) {
	t.Helper()
	py := requireTool(t, "python3")
	if out, err := exec.Command(py, "-c", "import samtranslator").CombinedOutput(); err != nil {
		t.Fatalf("samtranslator is not installed (it comes with cfn-lint): run make deps\n%s", out)
	}
	cmd := exec.Command(py, filepath.Join(root, "scripts", "sam-translate.py"), file)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, stderr.Bytes(), err
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("sam-translate.py printed no JSON: %v\n%s", err, out)
	}
	return doc, stderr.Bytes(), nil
}

// TestSAMTranslation transforms the template with the SAM translator and
// checks what CloudFormation would be sent: every Ref, GetAtt and ${...}
// names something that exists after the transform (the queue policy
// names the rule SAM generates), the roles SAM generates hold exactly the
// table actions above and no Scan, the crash-upload failures go to the
// template's queues, and only the Symbolicator callers have a VpcConfig.
// A template the translator must refuse is refused.
func TestSAMTranslation(t *testing.T) {
	cfn, stderr, err := samTranslate(t, filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("the SAM translator refuses template.yaml: %v\n%s", err, stderr)
	}
	resources := cfn["Resources"].(map[string]any)
	params := cfn["Parameters"].(map[string]any)
	conds, _ := cfn["Conditions"].(map[string]any)
	exists := func(name string) bool {
		_, r := resources[name]
		_, p := params[name]
		return r || p || strings.HasPrefix(name, "AWS::")
	}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					if s, ok := x.(string); ok && !exists(s) {
						t.Errorf("%s: Ref %s names nothing", at, s)
					}
				case "Fn::GetAtt":
					if l, ok := x.([]any); ok && len(l) == 2 {
						if _, ok := resources[l[0].(string)]; !ok {
							t.Errorf("%s: GetAtt %v names no resource", at, l)
						}
					}
				case "Fn::Sub":
					s, _ := x.(string)
					vars := map[string]any{}
					if l, ok := x.([]any); ok {
						s, _ = l[0].(string)
						vars, _ = l[1].(map[string]any)
					}
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						name, _, _ := strings.Cut(m[1], ".")
						if _, local := vars[name]; !local && !exists(name) {
							t.Errorf("%s: ${%s} names nothing", at, m[1])
						}
					}
				case "Condition", "Fn::If":
					c := x
					if l, ok := x.([]any); ok {
						c = l[0]
					}
					if s, ok := c.(string); ok {
						if _, ok := conds[s]; !ok {
							t.Errorf("%s: condition %s does not exist", at, s)
						}
					}
				}
				walk(at+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", at, i), x)
			}
		}
	}
	walk("Resources", resources)
	walk("Outputs", cfn["Outputs"])

	want := wantTableActions(t)
	for fn := range storeMethods {
		role := resources[fn+"Role"]
		if role == nil {
			t.Errorf("the translator made no role %sRole", fn)
			continue
		}
		policies, _ := path(role, "Properties", "Policies").([]any)
		got := tableActions(t, fn+"Role", policies)
		if js(got) != js(want[fn]) {
			t.Errorf("%sRole: DynamoDB actions %s, want %s", fn, js(got), js(want[fn]))
		}
		if strings.Contains(js(role), "dynamodb:Scan") {
			t.Errorf("%sRole may Scan a table", fn)
		}
		vpc := path(resources[fn], "Properties", "VpcConfig")
		if (vpc != nil) != symbolicatorCallers[fn] {
			t.Errorf("%s: VpcConfig %s; only %v call Symbolicator", fn, js(vpc), symbolicatorCallers)
		}
	}
	rule := resources["CrashUploadFunctionCrashUploaded"]
	if rule == nil {
		t.Fatal("the translator made no rule CrashUploadFunctionCrashUploaded (CrashUploadDeadLetterQueuePolicy names it)")
	}
	targets, _ := path(rule, "Properties", "Targets").([]any)
	if len(targets) != 1 || js(path(targets[0], "DeadLetterConfig", "Arn")) != js(getAtt("CrashUploadDeadLetterQueue", "Arn")) {
		t.Errorf("the crash-upload rule's dead letters go to %s, want CrashUploadDeadLetterQueue", js(targets))
	}
	onFailure := path(resources["CrashUploadFunctionEventInvokeConfig"], "Properties", "DestinationConfig", "OnFailure", "Destination")
	if js(onFailure) != js(getAtt("CrashUploadFailureQueue", "Arn")) {
		t.Errorf("crash-upload's failed invocations go to %s, want CrashUploadFailureQueue", js(onFailure))
	}
	if !strings.Contains(js(resources["CrashUploadFunctionRole"]), js(getAtt("CrashUploadFailureQueue", "Arn"))) {
		t.Error("CrashUploadFunctionRole may not send to CrashUploadFailureQueue")
	}

	// A template the translator must refuse: DeadLetterConfig with both
	// Arn and Type.
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(src, []byte("              Arn: !GetAtt CrashUploadDeadLetterQueue.Arn\n"),
		[]byte("              Arn: !GetAtt CrashUploadDeadLetterQueue.Arn\n              Type: SQS\n"), 1)
	if bytes.Equal(broken, src) {
		t.Fatal("could not break the template: the DeadLetterConfig line moved")
	}
	file := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(file, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := samTranslate(t, file); err == nil || !bytes.Contains(stderr, []byte("DeadLetterConfig")) {
		t.Errorf("the translator accepted a DeadLetterConfig with both Arn and Type (%v):\n%s", err, stderr)
	}
}
