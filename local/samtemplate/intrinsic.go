package samtemplate

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// resolver evaluates CloudFormation intrinsic functions against one
// template's parameter values and local resource names.
type resolver struct {
	t         *Template
	condCache map[string]bool
	condBusy  map[string]bool
	depth     int
	steps     int
}

// noValue is what Ref AWS::NoValue evaluates to: the enclosing property or
// list element is dropped.
type noValue struct{}

// maxDepth bounds nested evaluation, so a name that refers to itself is an
// error rather than a stack overflow.
const maxDepth = 64

// maxSteps bounds the nodes one resolution evaluates, so YAML aliases
// nested to expand exponentially are an error rather than a hang. A real
// template evaluates a few thousand.
const maxSteps = 200000

// shortTags maps CloudFormation's YAML short forms to the long names.
var shortTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!Join":         "Fn::Join",
	"!If":           "Fn::If",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!FindInMap":    "Fn::FindInMap",
	"!Base64":       "Fn::Base64",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!ImportValue":  "Fn::ImportValue",
	"!GetAZs":       "Fn::GetAZs",
	"!Cidr":         "Fn::Cidr",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// intrinsic reports the intrinsic function node n is a call of, in long
// form, and its argument. A short-form tag becomes the argument node
// without the tag; an unknown local tag is returned with a nil argument.
func intrinsic(n *yaml.Node) (string, *yaml.Node) {
	n = deref(n)
	if n == nil {
		return "", nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name, ok := shortTags[n.Tag]
		if !ok {
			return n.Tag, nil
		}
		arg := *n
		arg.Tag = ""
		return name, &arg
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		if k := n.Content[0].Value; k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, deref(n.Content[1])
		}
	}
	return "", nil
}

func intrinsicName(n *yaml.Node) string {
	name, _ := intrinsic(n)
	return name
}

// eval resolves n to a string, a []any, a map[string]any or noValue.
// Scalars of any YAML type are strings, as CloudFormation passes them.
func (r *resolver) eval(n *yaml.Node) (any, error) {
	n = deref(n)
	if n == nil {
		return "", nil
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxDepth {
		return nil, r.t.errorf(n, "references nest too deep: a name or value refers back to itself")
	}
	if r.steps++; r.steps > maxSteps {
		return nil, r.t.errorf(n, "values expand to more than %d nodes (aliases nested too deep?)", maxSteps)
	}
	if fn, arg := intrinsic(n); fn != "" {
		if arg == nil {
			return nil, r.t.errorf(n, "unknown tag %s", fn)
		}
		return r.call(n, fn, arg)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := r.eval(e)
			if err != nil {
				return nil, err
			}
			if _, none := v.(noValue); !none {
				out = append(out, v)
			}
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := r.eval(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			if _, none := v.(noValue); !none {
				out[n.Content[i].Value] = v
			}
		}
		return out, nil
	}
	return nil, r.t.errorf(n, "unexpected YAML node")
}

// str resolves n and requires a string.
func (r *resolver) str(n *yaml.Node) (string, error) {
	v, err := r.eval(n)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", r.t.errorf(n, "want a string, got %s", kind(v))
	}
	return s, nil
}

// strs resolves n and requires a list of strings.
func (r *resolver) strs(n *yaml.Node) ([]string, error) {
	v, err := r.eval(n)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, r.t.errorf(n, "want a list, got %s", kind(v))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, r.t.errorf(n, "element %d: want a string, got %s", i, kind(e))
		}
		out[i] = s
	}
	return out, nil
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case noValue:
		return "AWS::NoValue"
	}
	return fmt.Sprintf("%T", v)
}

// args returns the elements of a list argument, which must have n of them.
func (r *resolver) args(fn string, arg *yaml.Node, n int) ([]*yaml.Node, error) {
	if arg.Kind != yaml.SequenceNode || len(arg.Content) != n {
		return nil, r.t.errorf(arg, "%s takes a list of %d", fn, n)
	}
	return arg.Content, nil
}

func (r *resolver) call(at *yaml.Node, fn string, arg *yaml.Node) (any, error) {
	switch fn {
	case "Ref":
		if arg.Kind != yaml.ScalarNode {
			return nil, r.t.errorf(at, "Ref takes a name")
		}
		return r.ref(arg.Value, at)
	case "Fn::GetAtt":
		var id, attr string
		switch arg.Kind {
		case yaml.ScalarNode:
			var ok bool
			if id, attr, ok = strings.Cut(arg.Value, "."); !ok {
				return nil, r.t.errorf(at, "Fn::GetAtt %q: want Resource.Attribute", arg.Value)
			}
		case yaml.SequenceNode:
			parts, err := r.strs(arg)
			if err != nil {
				return nil, err
			}
			if len(parts) != 2 {
				return nil, r.t.errorf(at, "Fn::GetAtt takes [Resource, Attribute]")
			}
			id, attr = parts[0], parts[1]
		default:
			return nil, r.t.errorf(at, "Fn::GetAtt takes Resource.Attribute")
		}
		return r.getAtt(id, attr, at)
	case "Fn::Sub":
		switch arg.Kind {
		case yaml.ScalarNode:
			return r.sub(arg.Value, nil, at)
		case yaml.SequenceNode:
			a, err := r.args(fn, arg, 2)
			if err != nil {
				return nil, err
			}
			tmpl, err := r.str(a[0])
			if err != nil {
				return nil, err
			}
			vars := map[string]string{}
			m := deref(a[1])
			if m.Kind != yaml.MappingNode {
				return nil, r.t.errorf(m, "Fn::Sub variables must be a mapping")
			}
			for i := 0; i+1 < len(m.Content); i += 2 {
				s, err := r.str(m.Content[i+1])
				if err != nil {
					return nil, err
				}
				vars[m.Content[i].Value] = s
			}
			return r.sub(tmpl, vars, at)
		}
		return nil, r.t.errorf(at, "Fn::Sub takes a string or [string, variables]")
	case "Fn::Join":
		a, err := r.args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		delim, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		parts, err := r.strs(a[1])
		if err != nil {
			return nil, err
		}
		return strings.Join(parts, delim), nil
	case "Fn::Split":
		a, err := r.args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		delim, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		s, err := r.str(a[1])
		if err != nil {
			return nil, err
		}
		if delim == "" {
			return nil, r.t.errorf(at, "Fn::Split: empty delimiter")
		}
		var out []any
		for _, p := range strings.Split(s, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Select":
		a, err := r.args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		is, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		i, perr := strconv.Atoi(is)
		v, err := r.eval(a[1])
		if err != nil {
			return nil, err
		}
		list, ok := v.([]any)
		if !ok {
			return nil, r.t.errorf(at, "Fn::Select: want a list, got %s", kind(v))
		}
		if perr != nil || i < 0 || i >= len(list) {
			return nil, r.t.errorf(at, "Fn::Select: index %q out of range for %d elements", is, len(list))
		}
		return list[i], nil
	case "Fn::If":
		a, err := r.args(fn, arg, 3)
		if err != nil {
			return nil, err
		}
		name := deref(a[0])
		if name.Kind != yaml.ScalarNode {
			return nil, r.t.errorf(name, "Fn::If takes a condition name first")
		}
		ok, err := r.condition(name.Value, name)
		if err != nil {
			return nil, err
		}
		if ok {
			return r.eval(a[1])
		}
		return r.eval(a[2])
	case "Fn::FindInMap":
		a, err := r.args(fn, arg, 3)
		if err != nil {
			return nil, err
		}
		var keys [3]string
		for i := range a {
			if keys[i], err = r.str(a[i]); err != nil {
				return nil, err
			}
		}
		v := lookup(lookup(lookup(r.t.mappings, keys[0]), keys[1]), keys[2])
		if v == nil {
			return nil, r.t.errorf(at, "Fn::FindInMap: no %s.%s.%s in Mappings", keys[0], keys[1], keys[2])
		}
		return r.eval(v)
	case "Fn::Base64":
		s, err := r.str(arg)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		return nil, r.t.errorf(at, "%s belongs in Conditions or in the first argument of Fn::If", fn)
	}
	return nil, r.t.errorf(at, "%s is not supported in local mode", fn)
}

// sub expands an Fn::Sub template: ${Name} is a Ref (or a variable),
// ${Resource.Attribute} a GetAtt and ${!Literal} the text ${Literal}.
func (r *resolver) sub(tmpl string, vars map[string]string, at *yaml.Node) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return "", r.t.errorf(at, "Fn::Sub: ${ without a closing }")
		}
		name := strings.TrimSpace(tmpl[i+2 : i+j])
		tmpl = tmpl[i+j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + lit + "}")
			continue
		}
		if v, ok := vars[name]; ok {
			b.WriteString(v)
			continue
		}
		var v any
		var err error
		if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = r.getAtt(id, attr, at)
		} else {
			v, err = r.ref(name, at)
		}
		if err != nil {
			return "", err
		}
		s, ok := v.(string)
		if !ok {
			return "", r.t.errorf(at, "Fn::Sub: ${%s} is %s, not a string", name, kind(v))
		}
		b.WriteString(s)
	}
}

// ref is Ref: a pseudo parameter, a parameter's value or a resource's
// local name (ARN for a state machine or topic, URL for a queue).
func (r *resolver) ref(name string, at *yaml.Node) (any, error) {
	switch name {
	case "AWS::Region":
		return Region, nil
	case "AWS::AccountId":
		return AccountID, nil
	case "AWS::Partition":
		return Partition, nil
	case "AWS::StackName":
		return StackName, nil
	case "AWS::StackId":
		return arn("cloudformation", "stack/"+StackName+"/00000000-0000-0000-0000-000000000000"), nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return noValue{}, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if p, ok := r.t.Parameter(name); ok {
		if p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<") {
			var out []any
			if p.Value != "" {
				for _, e := range strings.Split(p.Value, ",") {
					out = append(out, strings.TrimSpace(e))
				}
			}
			return out, nil
		}
		return p.Value, nil
	}
	res, ok := r.t.resources[name]
	if !ok {
		return nil, r.t.errorf(at, "Ref %s: no parameter or resource of that name", name)
	}
	pn, err := r.physicalName(res)
	if err != nil {
		return nil, err
	}
	switch res.typ {
	case TypeStateMachine, typeSFNStateMachine:
		return arn("states", "stateMachine:"+pn), nil
	case typeSNSTopic:
		return arn("sns", pn), nil
	case typeSQSQueue:
		return "https://sqs." + Region + ".amazonaws.com/" + AccountID + "/" + pn, nil
	}
	return pn, nil
}

// getAtt is Fn::GetAtt for the attributes local mode can know: Arn, and
// Name of a state machine.
func (r *resolver) getAtt(id, attr string, at *yaml.Node) (string, error) {
	res, ok := r.t.resources[id]
	if !ok {
		return "", r.t.errorf(at, "Fn::GetAtt %s.%s: no resource %s", id, attr, id)
	}
	pn, err := r.physicalName(res)
	if err != nil {
		return "", err
	}
	switch attr {
	case "Arn":
		switch res.typ {
		case TypeFunction, typeLambdaFunction:
			return arn("lambda", "function:"+pn), nil
		case TypeStateMachine, typeSFNStateMachine:
			return arn("states", "stateMachine:"+pn), nil
		case typeDynamoDBTable:
			return arn("dynamodb", "table/"+pn), nil
		case typeS3Bucket:
			return "arn:" + Partition + ":s3:::" + pn, nil
		case typeLogGroup:
			return arn("logs", "log-group:"+pn+":*"), nil
		case typeSQSQueue:
			return arn("sqs", pn), nil
		}
	case "Name":
		switch res.typ {
		case TypeStateMachine, typeSFNStateMachine:
			return pn, nil
		}
	case "QueueName":
		if res.typ == typeSQSQueue {
			return pn, nil
		}
	case "TopicName":
		if res.typ == typeSNSTopic {
			return pn, nil
		}
	}
	return "", r.t.errorf(at, "Fn::GetAtt %s.%s: attribute %s of %s is not known in local mode", id, attr, attr, res.typ)
}

// physicalNameProps is the property that names each kind of resource.
var physicalNameProps = map[string]string{
	TypeFunction:        "FunctionName",
	typeLambdaFunction:  "FunctionName",
	TypeStateMachine:    "Name",
	typeSFNStateMachine: "StateMachineName",
	typeDynamoDBTable:   "TableName",
	typeS3Bucket:        "BucketName",
	typeLogGroup:        "LogGroupName",
	typeSQSQueue:        "QueueName",
	typeSNSTopic:        "TopicName",
	typeServerlessAPI:   "Name",
}

// physicalName is a resource's local name: the one given to WithNames,
// else the name its properties set, else its logical id (lowercased with
// dashes for a bucket, as S3 requires).
func (r *resolver) physicalName(res *resource) (string, error) {
	if n, ok := r.t.names[res.id]; ok {
		return n, nil
	}
	if prop, ok := physicalNameProps[res.typ]; ok {
		if n := lookup(res.props, prop); n != nil {
			// Not wrapped: a name that refers to itself would repeat
			// the context once per level.
			return r.str(n)
		}
	}
	if res.typ == typeS3Bucket {
		return kebab(res.id), nil
	}
	return res.id, nil
}

// condition evaluates the named condition once per resolution.
func (r *resolver) condition(name string, at *yaml.Node) (bool, error) {
	if v, ok := r.condCache[name]; ok {
		return v, nil
	}
	n, ok := r.t.conds[name]
	if !ok {
		return false, r.t.errorf(at, "no condition %s", name)
	}
	if r.condBusy[name] {
		return false, r.t.errorf(n, "condition %s refers to itself", name)
	}
	r.condBusy[name] = true
	defer delete(r.condBusy, name)
	v, err := r.condValue(n)
	if err != nil {
		return false, within(err, "condition %s", name)
	}
	r.condCache[name] = v
	return v, nil
}

func (r *resolver) condValue(n *yaml.Node) (bool, error) {
	n = deref(n)
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "Condition" {
		return r.condition(deref(n.Content[1]).Value, n)
	}
	fn, arg := intrinsic(n)
	if arg == nil {
		return false, r.t.errorf(n, "not a condition function")
	}
	switch fn {
	case "Condition":
		return r.condition(arg.Value, n)
	case "Fn::Equals":
		a, err := r.args(fn, arg, 2)
		if err != nil {
			return false, err
		}
		x, err := r.eval(a[0])
		if err != nil {
			return false, err
		}
		y, err := r.eval(a[1])
		if err != nil {
			return false, err
		}
		return fmt.Sprint(x) == fmt.Sprint(y), nil
	case "Fn::Not":
		a, err := r.args(fn, arg, 1)
		if err != nil {
			return false, err
		}
		v, err := r.condValue(a[0])
		return !v, err
	case "Fn::And", "Fn::Or":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) < 2 {
			return false, r.t.errorf(n, "%s takes a list of at least 2 conditions", fn)
		}
		all := fn == "Fn::And"
		for _, e := range arg.Content {
			v, err := r.condValue(e)
			if err != nil {
				return false, err
			}
			if v != all {
				return !all, nil
			}
		}
		return all, nil
	}
	return false, r.t.errorf(n, "%s is not a condition function", fn)
}

func arn(service, resource string) string {
	return "arn:" + Partition + ":" + service + ":" + Region + ":" + AccountID + ":" + resource
}

// kebab turns a logical id into a lowercase, dash-separated name:
// ResultsBucket → results-bucket, APIBucket → api-bucket.
func kebab(id string) string {
	rs := []rune(id)
	var b strings.Builder
	for i, c := range rs {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
