package asl

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// StateMachine is a parsed and validated definition. It is immutable and
// safe to run many executions of concurrently.
type StateMachine struct {
	comment        string
	startAt        string
	states         map[string]*state
	order          []string // state names, sorted
	flow           []string // state names breadth-first from StartAt
	timeoutSeconds int64
}

// StartAt returns the name of the first state.
func (sm *StateMachine) StartAt() string { return sm.startAt }

// StateNames returns the top-level state names in the order a reader
// follows them: breadth-first from StartAt along Next, Choices, Default and
// Catch transitions (the order Mermaid draws them in).
func (sm *StateMachine) StateNames() []string { return slices.Clone(sm.flow) }

// DefinitionError reports one problem in a definition. State is the state's
// name (with enclosing Map/Parallel states, joined by " > "), empty for
// top-level fields; Field is the offending field.
type DefinitionError struct {
	State string
	Field string
	Msg   string
}

func (e *DefinitionError) Error() string {
	switch {
	case e.State != "" && e.Field != "":
		return fmt.Sprintf("state %q: %s: %s", e.State, e.Field, e.Msg)
	case e.State != "":
		return fmt.Sprintf("state %q: %s", e.State, e.Msg)
	case e.Field != "":
		return fmt.Sprintf("%s: %s", e.Field, e.Msg)
	}
	return e.Msg
}

// optPath is a path field that may be absent, null, or a path.
type optPath struct {
	set  bool
	null bool
	src  string
	path *jsonPath
}

type retrier struct {
	errorEquals     []string
	intervalSeconds float64
	maxAttempts     int
	backoffRate     float64
	maxDelaySeconds float64 // 0: no cap
	jitterFull      bool
}

type catcher struct {
	errorEquals []string
	resultPath  optPath
	next        string
}

type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath, resultPath optPath
	parameters                        any
	hasParameters                     bool
	resultSelector                    any
	hasResultSelector                 bool
	result                            any
	hasResult                         bool

	// Task
	resource           string
	timeoutSeconds     int64
	timeoutSecondsPath *jsonPath
	heartbeatSeconds   int64
	retry              []retrier
	catch              []catcher

	// Choice
	choices []*choiceRule
	deflt   string

	// Wait
	seconds       int64
	hasSeconds    bool
	secondsPath   *jsonPath
	timestamp     time.Time
	hasTimestamp  bool
	timestampPath *jsonPath

	// Fail
	errName, cause       string
	errorPath, causePath *jsonPath

	// Map
	itemsPath          *jsonPath
	itemSelector       any
	hasItemSelector    bool
	processor          *StateMachine
	maxConcurrency     int64
	maxConcurrencyPath *jsonPath

	// Parallel
	branches []*StateMachine
}

// Parse parses and validates a definition written in the Amazon States
// Language (JSONPath query language). All problems found are returned
// together; each is a *DefinitionError naming the state and the field.
func Parse(def []byte) (*StateMachine, error) {
	v, err := decodeJSON(def)
	if err != nil {
		return nil, &DefinitionError{Msg: "definition is not valid JSON: " + err.Error()}
	}
	p := &parser{}
	sm := p.machine(v, "")
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return sm, nil
}

type parser struct {
	errs []error
}

func (p *parser) errf(stateName, field, format string, a ...any) {
	p.errs = append(p.errs, &DefinitionError{State: stateName, Field: field, Msg: fmt.Sprintf(format, a...)})
}

var topFields = []string{"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage", "ProcessorConfig"}

// machine parses a state machine object; prefix names the enclosing state
// for nested machines (Map processors, Parallel branches).
func (p *parser) machine(v any, prefix string) *StateMachine {
	obj, ok := asMap(v)
	where := strings.TrimSuffix(prefix, " > ")
	if !ok {
		p.errf(where, "", "state machine must be a JSON object, got %s", typeName(v))
		return nil
	}
	for k := range obj {
		if !slices.Contains(topFields, k) {
			p.errf(where, k, "unknown field")
		}
	}
	sm := &StateMachine{states: map[string]*state{}}
	if ql, ok := obj["QueryLanguage"]; ok && ql != "JSONPath" {
		p.errf(where, "QueryLanguage", "only JSONPath is supported, got %s", mustJSON(ql))
	}
	sm.comment, _ = obj["Comment"].(string)
	if t, ok := obj["TimeoutSeconds"]; ok {
		n, ok := toInt(t)
		if !ok || n <= 0 {
			p.errf(where, "TimeoutSeconds", "must be a positive integer, got %s", mustJSON(t))
		}
		sm.timeoutSeconds = n
	}
	start, ok := obj["StartAt"].(string)
	if !ok || start == "" {
		p.errf(where, "StartAt", "is required and must be a non-empty string")
	}
	sm.startAt = start
	states, ok := asMap(obj["States"])
	if !ok || len(states) == 0 {
		p.errf(where, "States", "is required and must be a non-empty object")
		return sm
	}
	// Keep definition order for Mermaid: re-read the keys in order.
	sm.order = sortedKeys(states)
	for _, name := range sm.order {
		if len(name) > 80 {
			p.errf(prefix+name, "", "state name longer than 80 characters")
		}
		st := p.state(prefix+name, name, states[name])
		if st != nil {
			sm.states[name] = st
		}
	}
	if start != "" {
		if _, ok := states[start]; !ok {
			p.errf(where, "StartAt", "names state %q, which does not exist", start)
		}
	}
	// Transitions must name existing states; every state must be reachable.
	check := func(from, field, to string) {
		if _, ok := states[to]; !ok {
			p.errf(prefix+from, field, "names state %q, which does not exist", to)
		}
	}
	for _, name := range sm.order {
		st := sm.states[name]
		if st == nil {
			continue
		}
		for _, t := range st.transitions() {
			check(name, t.field, t.to)
		}
	}
	if _, ok := states[start]; ok && len(p.errs) == 0 {
		seen := map[string]bool{start: true}
		queue := []string{start}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, t := range sm.states[n].transitions() {
				if !seen[t.to] {
					seen[t.to] = true
					queue = append(queue, t.to)
				}
			}
		}
		sm.flow = sm.flowOrder()
		for _, name := range sm.order {
			if !seen[name] {
				p.errf(prefix+name, "", "state is not reachable from StartAt %q", start)
			}
		}
	}
	return sm
}

// asMap gives an object value's members as a map (definitions are parsed
// from decoded documents, whose objects keep their order for templates).
func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case *object:
		return t.vals, true
	case map[string]any:
		return t, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// flowOrder lists the states reachable from StartAt, breadth-first.
func (sm *StateMachine) flowOrder() []string {
	seen := map[string]bool{sm.startAt: true}
	order := []string{}
	queue := []string{sm.startAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		st := sm.states[n]
		if st == nil {
			continue
		}
		order = append(order, n)
		for _, t := range st.transitions() {
			if !seen[t.to] {
				seen[t.to] = true
				queue = append(queue, t.to)
			}
		}
	}
	return order
}

type transition struct {
	field string
	to    string
	rule  *choiceRule // for Choices[i].Next
	errs  []string    // for Catch[i].Next: its ErrorEquals
}

func (st *state) transitions() []transition {
	var out []transition
	if st.next != "" {
		out = append(out, transition{field: "Next", to: st.next})
	}
	for i, c := range st.choices {
		out = append(out, transition{field: fmt.Sprintf("Choices[%d].Next", i), to: c.next, rule: c})
	}
	if st.deflt != "" {
		out = append(out, transition{field: "Default", to: st.deflt})
	}
	for i, c := range st.catch {
		if c.next != "" {
			out = append(out, transition{field: fmt.Sprintf("Catch[%d].Next", i), to: c.next, errs: c.errorEquals})
		}
	}
	return out
}

var commonFields = []string{"Type", "Comment"}

var fieldsByType = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Credentials"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "Cause", "ErrorPath", "CausePath"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath", "ItemSelector", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath", "Retry", "Catch", "ToleratedFailurePercentage", "ToleratedFailureCount", "Label", "ItemReader", "ItemBatcher", "ResultWriter"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch"},
}

func (p *parser) state(qname, name string, v any) *state {
	obj, ok := asMap(v)
	if !ok {
		p.errf(qname, "", "state must be a JSON object, got %s", typeName(v))
		return nil
	}
	st := &state{name: name}
	st.typ, _ = obj["Type"].(string)
	allowed, ok := fieldsByType[st.typ]
	if !ok {
		p.errf(qname, "Type", "must be one of Task, Pass, Choice, Wait, Succeed, Fail, Map, Parallel; got %s", mustJSON(obj["Type"]))
		return nil
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(allowed, k) && !slices.Contains(commonFields, k) {
			p.errf(qname, k, "field is not allowed in a %s state", st.typ)
		}
	}
	str := func(field string) (string, bool) {
		raw, ok := obj[field]
		if !ok {
			return "", false
		}
		s, ok := raw.(string)
		if !ok {
			p.errf(qname, field, "must be a string, got %s", typeName(raw))
			return "", false
		}
		return s, true
	}
	pathField := func(field string) *jsonPath {
		s, ok := str(field)
		if !ok {
			return nil
		}
		jp, err := compilePath(s)
		if err != nil {
			p.errf(qname, field, "%v", err)
			return nil
		}
		return jp
	}
	optPathField := func(field string, reference bool) optPath {
		raw, ok := obj[field]
		if !ok {
			return optPath{}
		}
		if raw == nil {
			return optPath{set: true, null: true}
		}
		jp := pathField(field)
		if jp == nil {
			return optPath{}
		}
		if reference && !jp.isReference() {
			p.errf(qname, field, "%q must be a reference path ($, .field, ['field'], [n])", jp.src)
		}
		return optPath{set: true, src: jp.src, path: jp}
	}
	intField := func(field string, min int64) (int64, bool) {
		raw, ok := obj[field]
		if !ok {
			return 0, false
		}
		n, ok := toInt(raw)
		if !ok || n < min {
			p.errf(qname, field, "must be an integer >= %d, got %s", min, mustJSON(raw))
			return 0, false
		}
		return n, true
	}

	// Transitions.
	next, hasNext := str("Next")
	st.next = next
	if raw, ok := obj["End"]; ok {
		b, ok := raw.(bool)
		if !ok {
			p.errf(qname, "End", "must be a boolean, got %s", typeName(raw))
		}
		st.end = b
	}
	switch st.typ {
	case "Choice", "Succeed", "Fail":
	default:
		if hasNext && st.end {
			p.errf(qname, "End", "a state cannot have both Next and End")
		} else if !hasNext && !st.end {
			p.errf(qname, "Next", "a %s state needs Next or \"End\": true", st.typ)
		}
	}

	st.inputPath = optPathField("InputPath", false)
	st.outputPath = optPathField("OutputPath", false)
	st.resultPath = optPathField("ResultPath", true)
	if raw, ok := obj["Parameters"]; ok {
		st.parameters, st.hasParameters = raw, true
		p.template(qname, "Parameters", raw)
	}
	if raw, ok := obj["ResultSelector"]; ok {
		st.resultSelector, st.hasResultSelector = raw, true
		p.template(qname, "ResultSelector", raw)
	}
	if raw, ok := obj["Result"]; ok {
		st.result, st.hasResult = raw, true
	}
	if st.typ == "Task" || st.typ == "Map" || st.typ == "Parallel" {
		st.retry = p.retriers(qname, obj["Retry"], obj)
		st.catch = p.catchers(qname, obj["Catch"], obj)
	}

	switch st.typ {
	case "Task":
		res, ok := str("Resource")
		if !ok || res == "" {
			p.errf(qname, "Resource", "is required")
		} else if !strings.HasPrefix(res, "arn:") {
			p.errf(qname, "Resource", "%q is not an ARN", res)
		}
		st.resource = res
		if n, ok := intField("TimeoutSeconds", 1); ok {
			st.timeoutSeconds = n
		}
		st.timeoutSecondsPath = pathField("TimeoutSecondsPath")
		if st.timeoutSeconds > 0 && st.timeoutSecondsPath != nil {
			p.errf(qname, "TimeoutSecondsPath", "cannot be used together with TimeoutSeconds")
		}
		if pathField("HeartbeatSecondsPath") != nil {
			if _, ok := obj["HeartbeatSeconds"]; ok {
				p.errf(qname, "HeartbeatSecondsPath", "cannot be used together with HeartbeatSeconds")
			}
		}
		if n, ok := intField("HeartbeatSeconds", 1); ok {
			st.heartbeatSeconds = n
			if st.timeoutSeconds > 0 && n >= st.timeoutSeconds {
				p.errf(qname, "HeartbeatSeconds", "must be smaller than TimeoutSeconds (%d)", st.timeoutSeconds)
			}
		}
		if res == lambdaInvoke {
			if _, ok := member(st.parameters, "FunctionName"); !ok {
				if _, ok := member(st.parameters, "FunctionName.$"); !ok {
					p.errf(qname, "Parameters", "%s needs Parameters.FunctionName", lambdaInvoke)
				}
			}
		}
	case "Choice":
		raw, ok := obj["Choices"].([]any)
		if !ok || len(raw) == 0 {
			p.errf(qname, "Choices", "is required and must be a non-empty array")
		}
		for i, r := range raw {
			st.choices = append(st.choices, p.choiceRule(qname, fmt.Sprintf("Choices[%d]", i), r, true))
		}
		st.deflt, _ = str("Default")
	case "Wait":
		count := 0
		if n, ok := intField("Seconds", 0); ok {
			st.seconds, st.hasSeconds = n, true
			count++
		} else if _, present := obj["Seconds"]; present {
			count++
		}
		if s, ok := str("Timestamp"); ok {
			count++
			t, err := parseTimestamp(s)
			if err != nil {
				p.errf(qname, "Timestamp", "%q is not an RFC 3339 timestamp", s)
			}
			st.timestamp, st.hasTimestamp = t, true
		}
		if st.secondsPath = pathField("SecondsPath"); st.secondsPath != nil {
			count++
		}
		if st.timestampPath = pathField("TimestampPath"); st.timestampPath != nil {
			count++
		}
		if count != 1 {
			p.errf(qname, "Seconds", "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
		}
	case "Fail":
		st.errName, _ = str("Error")
		st.cause, _ = str("Cause")
		st.errorPath = p.failPath(qname, "ErrorPath", obj)
		st.causePath = p.failPath(qname, "CausePath", obj)
		if _, ok := obj["Error"]; ok && st.errorPath != nil {
			p.errf(qname, "ErrorPath", "cannot be used together with Error")
		}
		if _, ok := obj["Cause"]; ok && st.causePath != nil {
			p.errf(qname, "CausePath", "cannot be used together with Cause")
		}
	case "Map":
		st.itemsPath = pathField("ItemsPath")
		if raw, ok := obj["ItemSelector"]; ok {
			st.itemSelector, st.hasItemSelector = raw, true
			p.template(qname, "ItemSelector", raw)
			if st.hasParameters {
				p.errf(qname, "ItemSelector", "cannot be used together with Parameters")
			}
		} else if st.hasParameters {
			// Legacy: Parameters of a Map state is its ItemSelector.
			st.itemSelector, st.hasItemSelector = st.parameters, true
		}
		st.hasParameters = false
		proc, hasProc := obj["ItemProcessor"]
		iter, hasIter := obj["Iterator"]
		switch {
		case hasProc && hasIter:
			p.errf(qname, "ItemProcessor", "cannot be used together with Iterator")
		case hasProc:
			if pc, ok := member(proc, "ProcessorConfig"); ok {
				if mode, ok := member(pc, "Mode"); ok && mode != "INLINE" {
					p.errf(qname, "ItemProcessor.ProcessorConfig.Mode", "only INLINE is supported, got %s", mustJSON(mode))
				}
			}
			st.processor = p.machine(proc, qname+" > ")
		case hasIter:
			st.processor = p.machine(iter, qname+" > ")
		default:
			p.errf(qname, "ItemProcessor", "is required")
		}
		if n, ok := intField("MaxConcurrency", 0); ok {
			st.maxConcurrency = n
		}
		st.maxConcurrencyPath = pathField("MaxConcurrencyPath")
		for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailurePercentage", "ToleratedFailureCount", "Label"} {
			if _, ok := obj[f]; ok {
				p.errf(qname, f, "distributed Map is not supported")
			}
		}
	case "Parallel":
		raw, ok := obj["Branches"].([]any)
		if !ok || len(raw) == 0 {
			p.errf(qname, "Branches", "is required and must be a non-empty array")
		}
		for i, b := range raw {
			st.branches = append(st.branches, p.machine(b, fmt.Sprintf("%s > Branches[%d] > ", qname, i)))
		}
	}
	return st
}

func (p *parser) failPath(qname, field string, obj map[string]any) *jsonPath {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		p.errf(qname, field, "must be a string, got %s", typeName(raw))
		return nil
	}
	if strings.HasPrefix(s, "States.") {
		if _, err := compileIntrinsic(s); err != nil {
			p.errf(qname, field, "%v", err)
		}
		// Intrinsics are evaluated at run time; keep a marker path.
		return &jsonPath{src: s}
	}
	jp, err := compilePath(s)
	if err != nil {
		p.errf(qname, field, "%v", err)
		return nil
	}
	return jp
}

// template checks a payload template (Parameters, ResultSelector,
// ItemSelector): every "key.$" value must be a valid path or intrinsic.
func (p *parser) template(qname, field string, v any) {
	if t, ok := asMap(v); ok {
		for _, k := range sortedKeys(t) {
			e := t[k]
			if strings.HasSuffix(k, ".$") {
				s, ok := e.(string)
				if !ok {
					p.errf(qname, field+"."+k, "must be a string path or intrinsic function, got %s", typeName(e))
					continue
				}
				if strings.HasPrefix(s, "$") {
					if _, err := compilePath(s); err != nil {
						p.errf(qname, field+"."+k, "%v", err)
					}
				} else if _, err := compileIntrinsic(s); err != nil {
					p.errf(qname, field+"."+k, "%v", err)
				}
				continue
			}
			p.template(qname, field+"."+k, e)
		}
		return
	}
	if t, ok := v.([]any); ok {
		for i, e := range t {
			p.template(qname, fmt.Sprintf("%s[%d]", field, i), e)
		}
	}
}

func (p *parser) errorEquals(qname, field string, raw any, last bool) []string {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		p.errf(qname, field+".ErrorEquals", "is required and must be a non-empty array of strings")
		return nil
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			p.errf(qname, field+".ErrorEquals", "must contain non-empty strings, got %s", mustJSON(e))
			continue
		}
		out = append(out, s)
	}
	if slices.Contains(out, errAll) {
		if len(out) != 1 {
			p.errf(qname, field+".ErrorEquals", "States.ALL must appear alone")
		}
		if !last {
			p.errf(qname, field+".ErrorEquals", "States.ALL must be in the last entry")
		}
	}
	return out
}

func (p *parser) retriers(qname string, raw any, obj map[string]any) []retrier {
	if _, ok := obj["Retry"]; !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		p.errf(qname, "Retry", "must be an array")
		return nil
	}
	var out []retrier
	for i, e := range list {
		field := fmt.Sprintf("Retry[%d]", i)
		m, ok := asMap(e)
		if !ok {
			p.errf(qname, field, "must be an object")
			continue
		}
		r := retrier{intervalSeconds: 1, maxAttempts: 3, backoffRate: 2}
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "ErrorEquals":
				r.errorEquals = p.errorEquals(qname, field, v, i == len(list)-1)
			case "IntervalSeconds":
				n, ok := toInt(v)
				if !ok || n < 1 {
					p.errf(qname, field+".IntervalSeconds", "must be an integer >= 1, got %s", mustJSON(v))
				}
				r.intervalSeconds = float64(n)
			case "MaxAttempts":
				n, ok := toInt(v)
				if !ok || n < 0 {
					p.errf(qname, field+".MaxAttempts", "must be an integer >= 0, got %s", mustJSON(v))
				}
				r.maxAttempts = int(n)
			case "BackoffRate":
				f, ok := toFloat(v)
				if !ok || f < 1 {
					p.errf(qname, field+".BackoffRate", "must be a number >= 1.0, got %s", mustJSON(v))
				}
				r.backoffRate = f
			case "MaxDelaySeconds":
				n, ok := toInt(v)
				if !ok || n < 1 {
					p.errf(qname, field+".MaxDelaySeconds", "must be an integer >= 1, got %s", mustJSON(v))
				}
				r.maxDelaySeconds = float64(n)
			case "JitterStrategy":
				switch v {
				case "FULL":
					r.jitterFull = true
				case "NONE":
				default:
					p.errf(qname, field+".JitterStrategy", "must be FULL or NONE, got %s", mustJSON(v))
				}
			case "Comment":
			default:
				p.errf(qname, field+"."+k, "unknown field")
			}
		}
		if _, ok := m["ErrorEquals"]; !ok {
			p.errf(qname, field+".ErrorEquals", "is required")
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) catchers(qname string, raw any, obj map[string]any) []catcher {
	if _, ok := obj["Catch"]; !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		p.errf(qname, "Catch", "must be an array")
		return nil
	}
	var out []catcher
	for i, e := range list {
		field := fmt.Sprintf("Catch[%d]", i)
		m, ok := asMap(e)
		if !ok {
			p.errf(qname, field, "must be an object")
			continue
		}
		c := catcher{}
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "ErrorEquals":
				c.errorEquals = p.errorEquals(qname, field, v, i == len(list)-1)
			case "Next":
				s, ok := v.(string)
				if !ok || s == "" {
					p.errf(qname, field+".Next", "must be a state name")
				}
				c.next = s
			case "ResultPath":
				if v == nil {
					c.resultPath = optPath{set: true, null: true}
					continue
				}
				s, ok := v.(string)
				if !ok {
					p.errf(qname, field+".ResultPath", "must be a string or null")
					continue
				}
				jp, err := compilePath(s)
				if err != nil {
					p.errf(qname, field+".ResultPath", "%v", err)
					continue
				}
				if !jp.isReference() {
					p.errf(qname, field+".ResultPath", "%q must be a reference path", s)
				}
				c.resultPath = optPath{set: true, src: s, path: jp}
			case "Comment":
			default:
				p.errf(qname, field+"."+k, "unknown field")
			}
		}
		if _, ok := m["ErrorEquals"]; !ok {
			p.errf(qname, field+".ErrorEquals", "is required")
		}
		if c.next == "" {
			p.errf(qname, field+".Next", "is required")
		}
		out = append(out, c)
	}
	return out
}

// parseTimestamp parses the RFC 3339 timestamps Step Functions accepts.
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	// AWS requires an uppercase T and Z; time.Parse accepts lowercase too.
	if strings.ContainsAny(s, "tz") {
		return time.Time{}, fmt.Errorf("timestamp %q must use uppercase T and Z", s)
	}
	return t, nil
}
