package samtemplate_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/samtemplate"
)

const intrinsics = "testdata/intrinsics.yaml"

func load(t *testing.T, file string) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(file)
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return tpl
}

func function(t *testing.T, tpl *samtemplate.Template, id string) samtemplate.Function {
	t.Helper()
	f, ok := tpl.Function(id)
	if !ok {
		t.Fatalf("no function %s", id)
	}
	return f
}

func TestIntrinsics(t *testing.T) {
	f := function(t, load(t, intrinsics), "Worker")
	want := map[string]string{
		"TABLE":        "Table",
		"STAGE":        "dev",
		"OVERRIDDEN":   "own",
		"SUB":          "data-bucket/us-east-1/dev/${Literal}",
		"SUB_VARS":     "hello, dev",
		"SUB_ATT":      "arn:aws:dynamodb:us-east-1:000000000000:table/Table",
		"JOIN":         "000000000000:aws:amazonaws.com",
		"JOIN_LIST":    "a.example,b.example",
		"SELECT":       "y",
		"SELECT_PARAM": "a.example",
		"IF":           "development",
		"AND_OR":       "either",
		"BASE64":       "aGk=",
		"LONG_REF":     "symflow-local-named",
		"LONG_ATT":     "arn:aws:s3:::data-bucket",
		"LIST_ATT":     "arn:aws:logs:us-east-1:000000000000:log-group:/symflow/test:*",
		"FN_ARN":       "arn:aws:lambda:us-east-1:000000000000:function:named-helper",
		"SM_ARN":       "arn:aws:states:us-east-1:000000000000:stateMachine:Machine",
		"SM_NAME":      "Machine",
		"SECRET":       "",
		"URL":          "",
		"STACK_ID":     "arn:aws:cloudformation:us-east-1:000000000000:stack/symflow-local/00000000-0000-0000-0000-000000000000",
		"PLAIN":        "42",
	}
	got := f.Env()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s is missing", k)
		} else if g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected variable %s = %q", k, got[k])
		}
	}
	names := make([]string, len(f.Environment))
	for i, v := range f.Environment {
		names[i] = v.Name
		switch v.Name {
		case "SECRET":
			if !v.Secret || v.Ref != "Token" {
				t.Errorf("SECRET: Secret %v, Ref %q; want a secret Ref of Token", v.Secret, v.Ref)
			}
		case "TABLE":
			if v.Ref != "Table" || v.Secret {
				t.Errorf("TABLE: Ref %q, Secret %v; want Ref Table", v.Ref, v.Secret)
			}
		case "SUB":
			if v.Ref != "" {
				t.Errorf("SUB: Ref %q, want none (not a plain Ref)", v.Ref)
			}
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("environment is not sorted by name: %v", names)
	}
}

func TestGlobals(t *testing.T) {
	tpl := load(t, intrinsics)
	for _, tc := range []struct {
		id      string
		dir     string
		arch    []string
		memory  int
		timeout int
		arn     string
	}{
		{"Worker", "worker", []string{"arm64"}, 128, 30, "arn:aws:lambda:us-east-1:000000000000:function:Worker"},
		{"Helper", "helper", []string{"x86_64"}, 128, 10, "arn:aws:lambda:us-east-1:000000000000:function:named-helper"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			f := function(t, tpl, tc.id)
			if f.Dir != tc.dir || !slices.Equal(f.Architectures, tc.arch) || f.MemorySize != tc.memory || f.Timeout != tc.timeout || f.ARN != tc.arn {
				t.Errorf("got dir %q arch %v memory %d timeout %d arn %s; want %q %v %d %d %s",
					f.Dir, f.Architectures, f.MemorySize, f.Timeout, f.ARN, tc.dir, tc.arch, tc.memory, tc.timeout, tc.arn)
			}
			if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" {
				t.Errorf("runtime %q handler %q, want the Globals'", f.Runtime, f.Handler)
			}
			if f.Env()["STAGE"] != "dev" {
				t.Errorf("Globals' STAGE is missing: %v", f.Env())
			}
		})
	}
	if _, ok := tpl.Function("ProdOnly"); ok {
		t.Error("ProdOnly's condition IsProd is false, yet the function is listed")
	}
	if f, ok := tpl.FunctionByDir("helper"); !ok || f.LogicalID != "Helper" {
		t.Errorf("FunctionByDir(helper) = %v, %v", f.LogicalID, ok)
	}
	if _, ok := tpl.FunctionByDir("nothing"); ok {
		t.Error("FunctionByDir(nothing) found a function")
	}
}

func TestWithParameters(t *testing.T) {
	base := load(t, intrinsics)
	tpl, err := base.WithParameters(map[string]string{"Stage": "prod", "Token": "t0ken-value", "Url": "http://127.0.0.1:3021/"})
	if err != nil {
		t.Fatal(err)
	}
	env := function(t, tpl, "Worker").Env()
	for k, v := range map[string]string{"IF": "production", "IF_NOVALUE": "set", "AND_OR": "both", "SECRET": "t0ken-value", "URL": "http://127.0.0.1:3021/"} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if m := function(t, tpl, "Worker").MemorySize; m != 1024 {
		t.Errorf("MemorySize = %d, want 1024 from Mappings.Sizes.prod", m)
	}
	if _, ok := tpl.Function("ProdOnly"); !ok {
		t.Error("ProdOnly is missing although IsProd holds")
	}
	p, _ := tpl.Parameter("Url")
	if !p.IsSet || p.Value != "http://127.0.0.1:3021/" || p.HasDefault {
		t.Errorf("Url parameter = %+v", p)
	}
	// The original is unchanged.
	if env := function(t, base, "Worker").Env(); env["IF"] != "development" {
		t.Errorf("WithParameters changed the original: IF = %q", env["IF"])
	}
	if p, _ := base.Parameter("Url"); p.IsSet {
		t.Errorf("Url is set in the original: %+v", p)
	}

	_, err = base.WithParameters(map[string]string{"Nope": "x"})
	var unknown *samtemplate.UnknownParameterError
	if !errors.As(err, &unknown) || unknown.Name != "Nope" {
		t.Errorf("unknown parameter: err = %v, want *UnknownParameterError naming Nope", err)
	}
	_, err = base.WithParameters(map[string]string{"Stage": "qa"})
	if err == nil || !strings.Contains(err.Error(), "Stage") || !strings.Contains(err.Error(), "dev, prod") {
		t.Errorf("value outside AllowedValues: err = %v, want it to name Stage and the allowed values", err)
	}
}

func TestParameters(t *testing.T) {
	ps := load(t, intrinsics).Parameters()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if want := []string{"Stage", "Token", "Hosts", "Url"}; !slices.Equal(names, want) {
		t.Fatalf("parameters %v, want %v in file order", names, want)
	}
	if p := ps[0]; p.Default != "dev" || !p.HasDefault || !p.IsSet || p.Value != "dev" || !slices.Equal(p.AllowedValues, []string{"dev", "prod"}) {
		t.Errorf("Stage = %+v", p)
	}
	if p := ps[1]; !p.NoEcho || !p.HasDefault || p.Default != "" {
		t.Errorf("Token = %+v", p)
	}
	if p := ps[2]; p.Type != "CommaDelimitedList" {
		t.Errorf("Hosts = %+v", p)
	}
	if p := ps[3]; p.HasDefault || p.IsSet {
		t.Errorf("Url = %+v, want no default and not set", p)
	}
	ps[0].AllowedValues[0] = "changed"
	if p, _ := load(t, intrinsics).Parameter("Stage"); p.AllowedValues[0] != "dev" {
		t.Error("Parameters shares AllowedValues with the template")
	}
}

func TestWithNames(t *testing.T) {
	base := load(t, intrinsics)
	tpl, err := base.WithNames(map[string]string{"DataBucket": "symflow-data", "Worker": "worker-fn"})
	if err != nil {
		t.Fatal(err)
	}
	w := function(t, tpl, "Worker")
	if got := w.Env()["SUB"]; got != "symflow-data/us-east-1/dev/${Literal}" {
		t.Errorf("SUB = %q", got)
	}
	if got := w.Env()["LONG_ATT"]; got != "arn:aws:s3:::symflow-data" {
		t.Errorf("LONG_ATT = %q", got)
	}
	if w.ARN != "arn:aws:lambda:us-east-1:000000000000:function:worker-fn" {
		t.Errorf("ARN = %s", w.ARN)
	}
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	if sm.Substitutions["WorkerArn"] != w.ARN || sm.Substitutions["Bucket"] != "symflow-data" {
		t.Errorf("substitutions %v do not follow the names", sm.Substitutions)
	}
	if _, err := base.WithNames(map[string]string{"Ghost": "x"}); err == nil || !strings.Contains(err.Error(), "Ghost") {
		t.Errorf("naming a missing resource: err = %v, want it to name Ghost", err)
	}
}

func TestStateMachineAndDefinition(t *testing.T) {
	tpl := load(t, intrinsics)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	if sm.LogicalID != "Machine" || sm.Type != "EXPRESS" || sm.DefinitionURI != "statemachine/machine.asl.json" ||
		sm.ARN != "arn:aws:states:us-east-1:000000000000:stateMachine:Machine" {
		t.Errorf("state machine = %+v", sm)
	}
	want := map[string]string{
		"WorkerArn": "arn:aws:lambda:us-east-1:000000000000:function:Worker",
		"HelperArn": "arn:aws:lambda:us-east-1:000000000000:function:named-helper",
		"Bucket":    "data-bucket",
	}
	for k, v := range want {
		if sm.Substitutions[k] != v {
			t.Errorf("substitution %s = %q, want %q", k, sm.Substitutions[k], v)
		}
	}
	sm.Substitutions["WorkerArn"] = "changed"
	if again, _ := tpl.StateMachine(); again.Substitutions["WorkerArn"] != want["WorkerArn"] {
		t.Error("StateMachine shares its substitutions map with the template")
	}
	for _, root := range []string{"", "testdata"} {
		def, err := tpl.Definition(root)
		if err != nil {
			t.Fatalf("Definition(%q): %v", root, err)
		}
		s := string(def)
		if strings.Count(s, want["WorkerArn"]) != 3 || !strings.Contains(s, want["HelperArn"]) || !strings.Contains(s, `"bucket": "data-bucket"`) {
			t.Errorf("Definition(%q) did not substitute every placeholder:\n%s", root, s)
		}
		if !strings.Contains(s, "keeps ${Literal} as text") {
			t.Errorf("Definition(%q): ${!Literal} should become ${Literal}:\n%s", root, s)
		}
	}
	if _, err := tpl.Definition(t.TempDir()); err == nil || !strings.Contains(err.Error(), "machine.asl.json") {
		t.Errorf("Definition under a root without the file: err = %v, want it to name the file", err)
	}
}

func TestSubstitute(t *testing.T) {
	for _, tc := range []struct {
		name    string
		def     string
		subs    map[string]string
		want    string
		unknown []string
	}{
		{"none", `{"a": 1}`, nil, `{"a": 1}`, nil},
		{"one", `{"r": "${A}"}`, map[string]string{"A": "x"}, `{"r": "x"}`, nil},
		{"twice", `${A}${A}`, map[string]string{"A": "x"}, `xx`, nil},
		{"escape", `${!A} ${A}`, map[string]string{"A": "x"}, `${A} x`, nil},
		{"dollar without brace", `$.a $$.b`, nil, `$.a $$.b`, nil},
		{"unknown", `${A} ${B} ${C} ${B}`, map[string]string{"A": "x"}, "", []string{"B", "C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := samtemplate.Substitute([]byte(tc.def), tc.subs)
			if tc.unknown != nil {
				var ue *samtemplate.UnknownPlaceholderError
				if !errors.As(err, &ue) || !slices.Equal(ue.Names, tc.unknown) {
					t.Fatalf("err = %v, want unknown placeholders %v", err, tc.unknown)
				}
				for _, n := range tc.unknown {
					if !strings.Contains(err.Error(), "${"+n+"}") {
						t.Errorf("error %q does not name ${%s}", err, n)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := samtemplate.Substitute([]byte(`"a": "${A"`), nil); err == nil || !strings.Contains(err.Error(), "closing") {
		t.Errorf("unclosed ${: err = %v", err)
	}
	if got := samtemplate.Placeholders([]byte(`${B} ${A} ${!C} ${B}`)); !slices.Equal(got, []string{"B", "A"}) {
		t.Errorf("Placeholders = %v, want [B A]", got)
	}
}

// TestDefinitionErrors checks a definition whose placeholder has no
// substitution, and one a substitution turns into invalid JSON.
func TestDefinitionErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("sm/def.asl.json", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${FnArn}", "Next": "B"}, "B": {"Type": "Task", "Resource": "${Missing}", "End": true}}}`)
	tplFile := write("template.yaml", `
Parameters:
  Quote:
    Type: String
    Default: 'say "hi"'
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: bin/fn/}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: sm/def.asl.json
      DefinitionSubstitutions:
        FnArn: !GetAtt Fn.Arn
        Missing: !Ref Quote
`)
	tpl := load(t, tplFile)
	if _, err := tpl.Definition(""); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("a substitution with a quote: err = %v, want not valid JSON", err)
	}
	write("sm/def.asl.json", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${FnArn}", "Next": "B"}, "B": {"Type": "Task", "Resource": "${Unlisted}", "End": true}}}`)
	_, err := tpl.Definition("")
	var ue *samtemplate.UnknownPlaceholderError
	if !errors.As(err, &ue) || !slices.Equal(ue.Names, []string{"Unlisted"}) || !strings.Contains(err.Error(), "${Unlisted}") {
		t.Errorf("unknown placeholder: err = %v, want *UnknownPlaceholderError naming ${Unlisted}", err)
	}
}

// TestParseErrors feeds templates local mode cannot resolve; each error
// must name what is wrong, and where.
func TestParseErrors(t *testing.T) {
	fn := func(env string) string {
		return "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: bin/fn/\n      Environment:\n        Variables:\n          V: " + env + "\n"
	}
	for _, tc := range []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"not yaml", "Resources: [", []string{"not YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"not a mapping"}},
		{"no resources", "Parameters: {}\n", []string{"no Resources"}},
		{"no type", "Resources:\n  X:\n    Properties: {}\n", []string{"resource X", "no Type"}},
		{"unknown tag", fn("!Reff Fn"), []string{"unknown tag !Reff", ":8:"}},
		{"missing ref", fn("!Ref Nothing"), []string{"Ref Nothing", "no parameter or resource"}},
		{"missing getatt", fn("!GetAtt Nothing.Arn"), []string{"Fn::GetAtt Nothing.Arn", "no resource Nothing"}},
		{"unknown attribute", fn("!GetAtt Fn.Version"), []string{"Fn::GetAtt Fn.Version", "not known in local mode"}},
		{"getatt without dot", fn("!GetAtt Fn"), []string{"want Resource.Attribute"}},
		{"import", fn("!ImportValue shared-thing"), []string{"Fn::ImportValue is not supported"}},
		{"azs", fn("!Select [0, !GetAZs '']"), []string{"Fn::GetAZs is not supported"}},
		{"unclosed sub", fn("!Sub '${Fn'"), []string{"closing }"}},
		{"select out of range", fn("!Select [3, [a, b]]"), []string{"Fn::Select", "out of range"}},
		{"join of a mapping", fn("!Join [',', {a: b}]"), []string{"want a list"}},
		{"list value", fn("[a, b]"), []string{"environment V is not a string"}},
		{"missing condition", fn("!If [Nope, a, b]"), []string{"no condition Nope"}},
		{"condition outside conditions", fn("!Equals [a, b]"), []string{"Fn::Equals belongs in Conditions"}},
		{"condition cycle", "Conditions:\n  A: !Condition B\n  B: !Condition A\n" + fn("!If [A, x, y]"), []string{"refers to itself"}},
		{"find in map", fn("!FindInMap [M, a, b]"), []string{"no M.a.b in Mappings"}},
		{"bad timeout", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: bin/fn/\n      Timeout: soon\n", []string{"Timeout", "not a whole number"}},
		{"no codeuri", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: bootstrap}\n", []string{"function Fn", "no CodeUri"}},
		{"s3 codeuri", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {Bucket: b, Key: k.zip}\n", []string{"S3 location"}},
		{"self-named bucket", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref B\n" + strings.TrimPrefix(fn("!Ref B"), "Resources:\n"), []string{"refers back to itself", ":5:"}},
		{"inline definition", "Resources:\n  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      Definition: {StartAt: A}\n", []string{"inline Definition"}},
		{"alias bomb", aliasBomb(), []string{"Architectures", "expand to more than"}},
		{"parameter named like a resource", "Parameters:\n  Fn: {Type: String}\n" + fn("x"), []string{"parameter Fn has the name of a resource"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samtemplate.Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

// aliasBomb is a template whose Architectures, through YAML aliases nested
// nine deep, expand to a billion nodes.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("Anchors:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "  a%d: &a%d [%s]\n", i, i, strings.Repeat(ref+", ", 9)+ref)
	}
	b.WriteString("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: bin/fn/\n      Architectures: *a8\n")
	return b.String()
}

func TestStateMachineCount(t *testing.T) {
	sm := func(id string) string {
		return "  " + id + ":\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionUri: sm.json\n"
	}
	none, err := samtemplate.Parse("t.yaml", []byte("Resources:\n  B:\n    Type: AWS::S3::Bucket\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.StateMachine(); err == nil || !strings.Contains(err.Error(), "no AWS::Serverless::StateMachine") {
		t.Errorf("no state machine: err = %v", err)
	}
	if _, err := none.Definition(""); err == nil {
		t.Error("Definition without a state machine succeeded")
	}
	two, err := samtemplate.Parse("t.yaml", []byte("Resources:\n"+sm("One")+sm("Two")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := two.StateMachine(); err == nil || !strings.Contains(err.Error(), "One, Two") {
		t.Errorf("two state machines: err = %v, want both named", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := samtemplate.Load(filepath.Join(t.TempDir(), "template.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want os.ErrNotExist", err)
	}
}

func TestParameterConstraints(t *testing.T) {
	tpl, err := samtemplate.Parse("t.yaml", []byte(`
Parameters:
  Seconds: {Type: Number, Default: 5, MinValue: 0, MaxValue: 40}
  Url: {Type: String, AllowedPattern: "https?://.+"}
  Name: {Type: String, Default: abc, MinLength: 2, MaxLength: 4}
  Key: {Type: String, NoEcho: true, MinLength: 8}
Resources:
  B: {Type: AWS::S3::Bucket}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		param, value string
		want         string // "" when accepted
	}{
		{"Seconds", "40", ""},
		{"Seconds", "2.5", ""},
		{"Seconds", "41", "above MaxValue 40"},
		{"Seconds", "-1", "below MinValue 0"},
		{"Seconds", "soon", "not a number"},
		{"Url", "http://127.0.0.1:3021/", ""},
		{"Url", "ftp://x", "does not match AllowedPattern"},
		{"Url", "xhttp://x", "does not match AllowedPattern"},
		{"Name", "ab", ""},
		{"Name", "a", "shorter than MinLength 2"},
		{"Name", "abcde", "longer than MaxLength 4"},
		{"Key", "short", "the value is shorter than MinLength 8"},
	} {
		t.Run(tc.param+"="+tc.value, func(t *testing.T) {
			_, err := tpl.WithParameters(map[string]string{tc.param: tc.value})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *samtemplate.ParameterError
			if !errors.As(err, &pe) || pe.Name != tc.param || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a *ParameterError for %s containing %q", err, tc.param, tc.want)
			}
		})
	}
	_, err = samtemplate.Parse("t.yaml", []byte("Parameters:\n  N: {Type: Number, Default: 50, MaxValue: 40}\nResources:\n  B: {Type: AWS::S3::Bucket}\n"))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2: default: parameter N") {
		t.Errorf("a default above MaxValue: err = %v", err)
	}
}

// TestNoSecretInErrors checks that a NoEcho parameter's refused value is
// not repeated in the error.
func TestNoSecretInErrors(t *testing.T) {
	tpl, err := samtemplate.Parse("t.yaml", []byte("Parameters:\n  Key:\n    Type: String\n    NoEcho: true\n    AllowedValues: [a, b]\nResources:\n  B:\n    Type: AWS::S3::Bucket\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.WithParameters(map[string]string{"Key": "very-secret-value"})
	if err == nil || strings.Contains(err.Error(), "very-secret-value") || !strings.Contains(err.Error(), "Key") {
		t.Errorf("err = %v, want it to name Key and not the value", err)
	}
}

// TestSymflowTemplate reads the project's own template.
func TestSymflowTemplate(t *testing.T) {
	tpl := load(t, filepath.Join("..", "..", "template.yaml"))
	var dirs []string
	for _, f := range tpl.Functions() {
		dirs = append(dirs, f.Dir)
		if want := "arn:aws:lambda:us-east-1:000000000000:function:" + f.LogicalID; f.ARN != want {
			t.Errorf("%s ARN = %s, want %s", f.LogicalID, f.ARN, want)
		}
	}
	want := []string{"lookup-sources", "submit-task", "poll-task", "recover-task", "process-response", "prepare-components", "api", "crash-upload"}
	if !slices.Equal(dirs, want) {
		t.Errorf("function dirs %v, want %v", dirs, want)
	}
	def, err := tpl.Definition(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(def), "${") {
		t.Error("a placeholder is left in the definition")
	}
	if p, ok := tpl.Parameter("SystemTokenArn"); !ok || p.NoEcho || p.Default != "" {
		t.Errorf("SystemTokenArn = %+v, %v; want an optional parameter naming where the token is kept", p, ok)
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{intrinsics, filepath.Join("..", "..", "template.yaml")} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("Resources:\n  A: &a\n    Type: AWS::S3::Bucket\n  B: *a\n"))
	f.Add([]byte("Conditions:\n  C: !And [!Condition C, !Condition C]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Condition: C\n    Properties: {CodeUri: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := samtemplate.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		tpl.Functions()
		tpl.Parameters()
		tpl.StateMachine()
		for _, p := range tpl.Parameters() {
			tpl.WithParameters(map[string]string{p.Name: "x"})
		}
	})
}
