// Package samtemplate reads symflow's AWS SAM template (template.yaml) for
// local mode, so that `symflow run` uses the very functions, environment,
// parameters and state machine definition the stack deploys.
//
// Values are resolved the way CloudFormation would resolve them in a stack
// named StackName in account AccountID and region Region: parameters take
// their overrides or defaults, !Ref and !GetAtt of the template's resources
// give local names and ARNs (a function X's ARN is
// arn:aws:lambda:us-east-1:000000000000:function:X; a resource is named by
// its logical id, a bucket's lowercased with dashes as S3 wants, unless its
// properties or WithNames name it), and Conditions, !If,
// !Sub, !Join, !Select, !Split, !FindInMap and !Base64 are evaluated.
// CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) and the long
// forms (Ref:, Fn::GetAtt:, ...) are both understood. What local mode cannot
// know (!ImportValue, !GetAZs, !Cidr, an attribute other than Arn or Name)
// is an error naming the function and the line.
package samtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Where local mode pretends the stack runs.
const (
	Region    = "us-east-1"
	AccountID = "000000000000"
	Partition = "aws"
	StackName = "symflow-local"
)

// Resource types the reader gives meaning to.
const (
	TypeFunction        = "AWS::Serverless::Function"
	TypeStateMachine    = "AWS::Serverless::StateMachine"
	typeLambdaFunction  = "AWS::Lambda::Function"
	typeSFNStateMachine = "AWS::StepFunctions::StateMachine"
	typeDynamoDBTable   = "AWS::DynamoDB::Table"
	typeS3Bucket        = "AWS::S3::Bucket"
	typeLogGroup        = "AWS::Logs::LogGroup"
	typeSQSQueue        = "AWS::SQS::Queue"
	typeSNSTopic        = "AWS::SNS::Topic"
	typeServerlessAPI   = "AWS::Serverless::Api"
)

// Parameter is one entry of the template's Parameters section.
type Parameter struct {
	Name        string
	Type        string // String, Number, CommaDelimitedList, ...
	Description string
	// Default is the template's default; HasDefault tells an empty default
	// from none.
	Default    string
	HasDefault bool
	// Value is the value in force: the override given to WithParameters,
	// else the default. IsSet is false when the parameter has neither, as
	// a deployment would refuse it.
	Value string
	IsSet bool
	// NoEcho parameters are secrets: never print Value.
	NoEcho         bool
	AllowedValues  []string
	AllowedPattern string
	// MinValue and MaxValue bound a Number, MinLength and MaxLength a
	// String; nil when the template sets none.
	MinValue, MaxValue   *float64
	MinLength, MaxLength *int
}

// Check reports whether v is a value CloudFormation would accept for the
// parameter: a number for a Number, within its bounds, matching its
// AllowedPattern and among its AllowedValues. The error names the
// parameter and, unless it is NoEcho, the value.
func (p Parameter) Check(v string) error {
	shown := strconv.Quote(v)
	if p.NoEcho {
		shown = "the value"
	}
	fail := func(format string, args ...any) error {
		return &ParameterError{Name: p.Name, Reason: shown + " " + fmt.Sprintf(format, args...)}
	}
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
		if p.NoEcho {
			return fail("is not one of its AllowedValues")
		}
		return fail("is not one of %s", strings.Join(p.AllowedValues, ", "))
	}
	if p.Type == "Number" {
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fail("is not a number")
		}
		if p.MinValue != nil && n < *p.MinValue {
			return fail("is below MinValue %g", *p.MinValue)
		}
		if p.MaxValue != nil && n > *p.MaxValue {
			return fail("is above MaxValue %g", *p.MaxValue)
		}
	}
	if p.MinLength != nil && len(v) < *p.MinLength {
		return fail("is shorter than MinLength %d", *p.MinLength)
	}
	if p.MaxLength != nil && len(v) > *p.MaxLength {
		return fail("is longer than MaxLength %d", *p.MaxLength)
	}
	if p.AllowedPattern != "" {
		// CloudFormation matches the whole value.
		re, err := regexp.Compile(`^(?:` + p.AllowedPattern + `)$`)
		if err != nil {
			return &ParameterError{Name: p.Name, Reason: fmt.Sprintf("AllowedPattern %q: %v", p.AllowedPattern, err)}
		}
		if !re.MatchString(v) {
			return fail("does not match AllowedPattern %s", p.AllowedPattern)
		}
	}
	return nil
}

// ParameterError is a parameter value, default or override, that the
// parameter's constraints refuse.
type ParameterError struct {
	Name   string
	Reason string
}

func (e *ParameterError) Error() string { return "parameter " + e.Name + ": " + e.Reason }

// Function is one AWS::Serverless::Function with Globals applied.
type Function struct {
	LogicalID string
	// CodeURI is the CodeUri as written (functions/lookup-sources/); Dir is its
	// last element (lookup-sources), the functions/<Dir> package and the
	// Makefile's bin/<Dir>/bootstrap.
	CodeURI string
	Dir     string
	// ARN is the function's local ARN, what !GetAtt LogicalID.Arn gives.
	ARN           string
	Runtime       string
	Handler       string
	Architectures []string
	MemorySize    int // MB; 0 when not set
	Timeout       int // seconds; 0 when not set
	// Environment is Globals' variables overlaid by the function's own,
	// sorted by name, values resolved.
	Environment []EnvVar
}

// Env returns the environment as a map, for a process or a getenv func.
func (f Function) Env() map[string]string {
	m := make(map[string]string, len(f.Environment))
	for _, v := range f.Environment {
		m[v.Name] = v.Value
	}
	return m
}

// EnvVar is one environment variable of a function.
type EnvVar struct {
	Name  string
	Value string
	// Ref is the parameter or resource the value is a plain !Ref of, empty
	// for anything else; local mode uses it to put its own resources'
	// names in place.
	Ref string
	// Secret is set when the value comes from a NoEcho parameter: never
	// print it.
	Secret bool
}

// StateMachine is the template's AWS::Serverless::StateMachine.
type StateMachine struct {
	LogicalID string
	Type      string // STANDARD or EXPRESS
	// DefinitionURI is the definition file, relative to the template's
	// directory.
	DefinitionURI string
	// Substitutions are the DefinitionSubstitutions, resolved.
	Substitutions map[string]string
	ARN           string
}

// Template is a parsed template with its parameters' values resolved. It
// is immutable; WithParameters returns a new one.
type Template struct {
	path      string // for errors
	dir       string
	top       *yaml.Node
	params    []Parameter
	resources map[string]*resource
	order     []string // resource logical ids in file order
	globalFn  *yaml.Node
	conds     map[string]*yaml.Node
	mappings  *yaml.Node
	names     map[string]string // physical name overrides

	functions []Function
	machines  []StateMachine
}

type resource struct {
	id        string
	typ       string
	props     *yaml.Node // mapping or nil
	condition string
	line      int
}

// Load reads and resolves the template at path with its parameters'
// defaults.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a template from data; name is used in errors and its
// directory is where DefinitionUri and CodeUri are relative to.
func Parse(name string, data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || deref(doc.Content[0]).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a template: the document is not a mapping", name)
	}
	t := &Template{
		path:      name,
		dir:       filepath.Dir(name),
		top:       deref(doc.Content[0]),
		resources: map[string]*resource{},
		conds:     map[string]*yaml.Node{},
	}
	if err := t.parse(); err != nil {
		return nil, err
	}
	if err := t.resolve(); err != nil {
		return nil, err
	}
	return t, nil
}

// posError is a problem at a place in the template: "file:line: msg".
type posError struct {
	file string
	line int // 0 when unknown
	msg  string
}

func (e *posError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	}
	return e.file + ": " + e.msg
}

func (t *Template) errorf(n *yaml.Node, format string, args ...any) error {
	e := &posError{file: t.path, msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.line = n.Line
	}
	return e
}

// within adds what was being resolved to err, keeping the position first:
// "template.yaml:12: function Fn: environment V: no resource X".
func within(err error, format string, args ...any) error {
	ctx := fmt.Sprintf(format, args...)
	var pe *posError
	if errors.As(err, &pe) {
		return &posError{file: pe.file, line: pe.line, msg: ctx + ": " + pe.msg}
	}
	return fmt.Errorf("%s: %w", ctx, err)
}

func (t *Template) parse() error {
	res := lookup(t.top, "Resources")
	if res == nil || res.Kind != yaml.MappingNode {
		return t.errorf(t.top, "no Resources section")
	}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, body := res.Content[i].Value, deref(res.Content[i+1])
		if body.Kind != yaml.MappingNode {
			return t.errorf(body, "resource %s: not a mapping", id)
		}
		typ := lookup(body, "Type")
		if typ == nil || typ.Kind != yaml.ScalarNode || typ.Value == "" {
			return t.errorf(body, "resource %s: no Type", id)
		}
		r := &resource{id: id, typ: typ.Value, props: lookup(body, "Properties"), line: res.Content[i].Line}
		if r.props != nil && r.props.Kind != yaml.MappingNode {
			return t.errorf(r.props, "resource %s: Properties is not a mapping", id)
		}
		if c := lookup(body, "Condition"); c != nil {
			r.condition = c.Value
		}
		if _, dup := t.resources[id]; dup {
			return t.errorf(res.Content[i], "resource %s defined twice", id)
		}
		t.resources[id] = r
		t.order = append(t.order, id)
	}
	if ps := lookup(t.top, "Parameters"); ps != nil {
		if ps.Kind != yaml.MappingNode {
			return t.errorf(ps, "Parameters is not a mapping")
		}
		for i := 0; i+1 < len(ps.Content); i += 2 {
			p, err := t.parameter(ps.Content[i].Value, deref(ps.Content[i+1]))
			if err != nil {
				return err
			}
			if _, clash := t.resources[p.Name]; clash {
				return t.errorf(ps.Content[i], "parameter %s has the name of a resource", p.Name)
			}
			t.params = append(t.params, p)
		}
	}
	if cs := lookup(t.top, "Conditions"); cs != nil && cs.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(cs.Content); i += 2 {
			t.conds[cs.Content[i].Value] = cs.Content[i+1]
		}
	}
	t.mappings = lookup(t.top, "Mappings")
	if g := lookup(t.top, "Globals"); g != nil {
		if f := lookup(g, "Function"); f != nil {
			if f.Kind != yaml.MappingNode {
				return t.errorf(f, "Globals.Function is not a mapping")
			}
			t.globalFn = f
		}
	}
	return nil
}

func (t *Template) parameter(name string, n *yaml.Node) (Parameter, error) {
	if n.Kind != yaml.MappingNode {
		return Parameter{}, t.errorf(n, "parameter %s: not a mapping", name)
	}
	p := Parameter{Name: name, Type: "String"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, deref(n.Content[i+1])
		switch k {
		case "Type":
			p.Type = v.Value
		case "Description":
			p.Description = v.Value
		case "Default":
			if v.Kind == yaml.SequenceNode { // a list default for a list type
				var parts []string
				for _, e := range v.Content {
					parts = append(parts, deref(e).Value)
				}
				p.Default = strings.Join(parts, ",")
			} else if v.Kind == yaml.ScalarNode {
				p.Default = v.Value
			} else {
				return Parameter{}, t.errorf(v, "parameter %s: Default is not a scalar", name)
			}
			p.HasDefault = true
		case "NoEcho":
			p.NoEcho = v.Value == "true" || v.Value == "True"
		case "AllowedPattern":
			p.AllowedPattern = v.Value
		case "AllowedValues":
			for _, e := range v.Content {
				p.AllowedValues = append(p.AllowedValues, deref(e).Value)
			}
		case "MinValue", "MaxValue":
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				return Parameter{}, t.errorf(v, "parameter %s: %s %q is not a number", name, k, v.Value)
			}
			if k == "MinValue" {
				p.MinValue = &f
			} else {
				p.MaxValue = &f
			}
		case "MinLength", "MaxLength":
			n, err := strconv.Atoi(v.Value)
			if err != nil {
				return Parameter{}, t.errorf(v, "parameter %s: %s %q is not a whole number", name, k, v.Value)
			}
			if k == "MinLength" {
				p.MinLength = &n
			} else {
				p.MaxLength = &n
			}
		}
	}
	if p.HasDefault {
		if err := p.Check(p.Default); err != nil {
			return Parameter{}, t.errorf(n, "default: %v", err)
		}
	}
	p.Value, p.IsSet = p.Default, p.HasDefault
	return p, nil
}

// Parameters returns the template's parameters in file order, with the
// values in force.
func (t *Template) Parameters() []Parameter {
	out := make([]Parameter, len(t.params))
	for i, p := range t.params {
		p.AllowedValues = slices.Clone(p.AllowedValues)
		p.MinValue, p.MaxValue = clonePtr(p.MinValue), clonePtr(p.MaxValue)
		p.MinLength, p.MaxLength = clonePtr(p.MinLength), clonePtr(p.MaxLength)
		out[i] = p
	}
	return out
}

// Parameter returns the named parameter.
func (t *Template) Parameter(name string) (Parameter, bool) {
	for _, p := range t.params {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// UnknownParameterError names an override for a parameter the template
// does not declare.
type UnknownParameterError struct{ Name string }

func (e *UnknownParameterError) Error() string {
	return fmt.Sprintf("template has no parameter %q", e.Name)
}

// WithParameters returns a copy of the template resolved with values
// overriding the parameters' defaults. An unknown name is an
// *UnknownParameterError; a value the parameter's constraints refuse (see
// Parameter.Check) a *ParameterError.
func (t *Template) WithParameters(values map[string]string) (*Template, error) {
	nt := t.clone()
	for name, v := range values {
		i := slices.IndexFunc(nt.params, func(p Parameter) bool { return p.Name == name })
		if i < 0 {
			return nil, &UnknownParameterError{Name: name}
		}
		p := &nt.params[i]
		if err := p.Check(v); err != nil {
			return nil, err
		}
		p.Value, p.IsSet = v, true
	}
	if err := nt.resolve(); err != nil {
		return nil, err
	}
	return nt, nil
}

// WithNames returns a copy of the template in which !Ref of the given
// resources (logical id → physical name) gives those names, and their ARNs
// are built from them: local mode names its tables and buckets itself. A
// name for a resource the template lacks is an error.
func (t *Template) WithNames(names map[string]string) (*Template, error) {
	nt := t.clone()
	nt.names = make(map[string]string, len(t.names)+len(names))
	for k, v := range t.names {
		nt.names[k] = v
	}
	for id, name := range names {
		if _, ok := nt.resources[id]; !ok {
			return nil, fmt.Errorf("%s: no resource %s to name %q", t.path, id, name)
		}
		nt.names[id] = name
	}
	if err := nt.resolve(); err != nil {
		return nil, err
	}
	return nt, nil
}

func (t *Template) clone() *Template {
	nt := *t
	nt.params = slices.Clone(t.params)
	return &nt
}

// Functions returns the template's functions in file order. Functions
// whose Condition is false are left out.
func (t *Template) Functions() []Function {
	out := make([]Function, len(t.functions))
	for i, f := range t.functions {
		f.Architectures = slices.Clone(f.Architectures)
		f.Environment = slices.Clone(f.Environment)
		out[i] = f
	}
	return out
}

// Function returns the function with the given logical id.
func (t *Template) Function(logicalID string) (Function, bool) {
	for _, f := range t.Functions() {
		if f.LogicalID == logicalID {
			return f, true
		}
	}
	return Function{}, false
}

// FunctionByDir returns the function whose CodeUri ends in dir (the
// functions/<dir> package).
func (t *Template) FunctionByDir(dir string) (Function, bool) {
	for _, f := range t.Functions() {
		if f.Dir == dir {
			return f, true
		}
	}
	return Function{}, false
}

// StateMachine returns the template's only state machine; a template with
// none or several is an error.
func (t *Template) StateMachine() (StateMachine, error) {
	switch len(t.machines) {
	case 0:
		return StateMachine{}, fmt.Errorf("%s: no %s resource", t.path, TypeStateMachine)
	case 1:
		sm := t.machines[0]
		sm.Substitutions = cloneMap(sm.Substitutions)
		return sm, nil
	}
	ids := make([]string, len(t.machines))
	for i, m := range t.machines {
		ids[i] = m.LogicalID
	}
	return StateMachine{}, fmt.Errorf("%s: several state machines (%s); local mode runs one", t.path, strings.Join(ids, ", "))
}

// Definition reads the state machine's DefinitionUri under root (the
// template's directory when root is empty) and returns it with every
// ${...} placeholder replaced by its DefinitionSubstitutions value. A
// placeholder with no substitution is an *UnknownPlaceholderError.
func (t *Template) Definition(root string) ([]byte, error) {
	sm, err := t.StateMachine()
	if err != nil {
		return nil, err
	}
	if root == "" {
		root = t.dir
	}
	file := filepath.Join(root, filepath.FromSlash(sm.DefinitionURI))
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read state machine definition: %w", err)
	}
	out, err := Substitute(raw, sm.Substitutions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	// A substituted value with a quote or backslash would break the JSON;
	// say so here rather than as a parse error far from the cause.
	if strings.EqualFold(filepath.Ext(file), ".json") && !json.Valid(out) {
		return nil, fmt.Errorf("%s: not valid JSON after substitution", file)
	}
	return out, nil
}

// resolve computes functions and state machines with the current values.
func (t *Template) resolve() error {
	r := &resolver{t: t, condCache: map[string]bool{}, condBusy: map[string]bool{}}
	var fns []Function
	var sms []StateMachine
	for _, id := range t.order {
		res := t.resources[id]
		if res.condition != "" {
			ok, err := r.condition(res.condition, nil)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		switch res.typ {
		case TypeFunction:
			f, err := r.function(res)
			if err != nil {
				return err
			}
			fns = append(fns, f)
		case TypeStateMachine:
			sm, err := r.stateMachine(res)
			if err != nil {
				return err
			}
			sms = append(sms, sm)
		}
	}
	t.functions, t.machines = fns, sms
	return nil
}

// property returns a function property, the function's own or Globals'.
func (t *Template) property(res *resource, name string) *yaml.Node {
	if n := lookup(res.props, name); n != nil {
		return n
	}
	return lookup(t.globalFn, name)
}

func (r *resolver) function(res *resource) (Function, error) {
	t := r.t
	f := Function{LogicalID: res.id}
	var err error
	str := func(name string) string {
		n := t.property(res, name)
		if n == nil || err != nil {
			return ""
		}
		var s string
		s, err = r.str(n)
		if err != nil {
			err = within(err, "function %s: %s", res.id, name)
		}
		return s
	}
	num := func(name string) int {
		s := str(name)
		if s == "" || err != nil {
			return 0
		}
		v, perr := strconv.Atoi(s)
		if perr != nil {
			err = t.errorf(t.property(res, name), "function %s: %s %q is not a whole number", res.id, name, s)
		}
		return v
	}
	f.Runtime = str("Runtime")
	f.Handler = str("Handler")
	f.MemorySize = num("MemorySize")
	f.Timeout = num("Timeout")
	if err != nil {
		return Function{}, err
	}
	code := lookup(res.props, "CodeUri")
	if code == nil {
		code = lookup(t.globalFn, "CodeUri")
	}
	if code == nil {
		return Function{}, t.errorf(res.props, "function %s: no CodeUri", res.id)
	}
	if deref(code).Kind == yaml.MappingNode && lookup(code, "Key") != nil && intrinsicName(code) == "" {
		return Function{}, t.errorf(code, "function %s: CodeUri is an S3 location; local mode needs a folder", res.id)
	}
	if f.CodeURI, err = r.str(code); err != nil {
		return Function{}, within(err, "function %s: CodeUri", res.id)
	}
	f.Dir = path.Base(strings.TrimRight(filepath.ToSlash(f.CodeURI), "/"))
	if a := t.property(res, "Architectures"); a != nil {
		v, err := r.eval(a)
		if err != nil {
			return Function{}, within(err, "function %s: Architectures", res.id)
		}
		list, ok := v.([]any)
		if !ok {
			return Function{}, t.errorf(a, "function %s: Architectures is not a list", res.id)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return Function{}, t.errorf(a, "function %s: Architectures holds a non-string", res.id)
			}
			f.Architectures = append(f.Architectures, s)
		}
	}
	if f.ARN, err = r.getAtt(res.id, "Arn", res.props); err != nil {
		return Function{}, err
	}
	env := map[string]EnvVar{}
	for _, scope := range []*yaml.Node{t.globalFn, res.props} {
		vars := lookup(lookup(scope, "Environment"), "Variables")
		if vars == nil {
			continue
		}
		if vars.Kind != yaml.MappingNode {
			return Function{}, t.errorf(vars, "function %s: Environment.Variables is not a mapping", res.id)
		}
		for i := 0; i+1 < len(vars.Content); i += 2 {
			name, vn := vars.Content[i].Value, vars.Content[i+1]
			v, err := r.eval(vn)
			if err != nil {
				return Function{}, within(err, "function %s: environment %s", res.id, name)
			}
			if _, none := v.(noValue); none {
				delete(env, name)
				continue
			}
			s, ok := v.(string)
			if !ok {
				return Function{}, t.errorf(vn, "function %s: environment %s is not a string", res.id, name)
			}
			ev := EnvVar{Name: name, Value: s}
			if fn, arg := intrinsic(vn); fn == "Ref" && arg.Kind == yaml.ScalarNode {
				ev.Ref = arg.Value
				if p, ok := t.Parameter(arg.Value); ok && p.NoEcho {
					ev.Secret = true
				}
			}
			env[name] = ev
		}
	}
	for _, v := range env {
		f.Environment = append(f.Environment, v)
	}
	sort.Slice(f.Environment, func(i, j int) bool { return f.Environment[i].Name < f.Environment[j].Name })
	return f, nil
}

func (r *resolver) stateMachine(res *resource) (StateMachine, error) {
	t := r.t
	sm := StateMachine{LogicalID: res.id, Type: "STANDARD", Substitutions: map[string]string{}}
	if n := lookup(res.props, "Type"); n != nil {
		s, err := r.str(n)
		if err != nil {
			return sm, within(err, "state machine %s: Type", res.id)
		}
		sm.Type = s
	}
	uri := lookup(res.props, "DefinitionUri")
	if uri == nil {
		if lookup(res.props, "Definition") != nil {
			return sm, t.errorf(res.props, "state machine %s: an inline Definition is not supported; use DefinitionUri", res.id)
		}
		return sm, t.errorf(res.props, "state machine %s: no DefinitionUri", res.id)
	}
	var err error
	if sm.DefinitionURI, err = r.str(uri); err != nil {
		return sm, within(err, "state machine %s: DefinitionUri", res.id)
	}
	if subs := lookup(res.props, "DefinitionSubstitutions"); subs != nil {
		if subs.Kind != yaml.MappingNode {
			return sm, t.errorf(subs, "state machine %s: DefinitionSubstitutions is not a mapping", res.id)
		}
		for i := 0; i+1 < len(subs.Content); i += 2 {
			name := subs.Content[i].Value
			s, err := r.str(subs.Content[i+1])
			if err != nil {
				return sm, within(err, "state machine %s: substitution %s", res.id, name)
			}
			sm.Substitutions[name] = s
		}
	}
	v, err := r.ref(res.id, res.props)
	if err != nil {
		return sm, err
	}
	sm.ARN, _ = v.(string)
	return sm, nil
}

// lookup returns the value of key in mapping m, nil when m is nil or has
// no such key.
func lookup(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}

// deref follows YAML aliases.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
