package asl

import (
	"fmt"
	"slices"
	"strings"
)

// choiceRule is one rule of a Choice state: either a comparison on
// Variable, or a combination (And, Or, Not). Only top-level rules have Next.
type choiceRule struct {
	variable *jsonPath
	op       string // comparison operator, e.g. "NumericLessThanPath"
	operand  any    // literal operand
	opPath   *jsonPath
	and, or  []*choiceRule
	not      *choiceRule
	next     string
}

var comparisonOps = []string{
	"StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals", "StringMatches",
	"NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals",
	"BooleanEquals",
	"TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals", "TimestampGreaterThanEquals",
	"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp",
}

// pathOps are the operators that have a …Path variant.
func hasPathVariant(op string) bool {
	return !strings.HasPrefix(op, "Is") && op != "StringMatches"
}

func (p *parser) choiceRule(qname, field string, raw any, top bool) *choiceRule {
	m, ok := asMap(raw)
	if !ok {
		p.errf(qname, field, "must be an object")
		return &choiceRule{}
	}
	r := &choiceRule{}
	var ops []string
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case k == "Next":
			if !top {
				p.errf(qname, field+".Next", "only top-level choice rules may have Next")
			}
			s, ok := v.(string)
			if !ok || s == "" {
				p.errf(qname, field+".Next", "must be a state name")
			}
			r.next = s
		case k == "Comment":
		case k == "Variable":
			s, ok := v.(string)
			if !ok {
				p.errf(qname, field+".Variable", "must be a path string")
				continue
			}
			jp, err := compilePath(s)
			if err != nil {
				p.errf(qname, field+".Variable", "%v", err)
				continue
			}
			r.variable = jp
		case k == "And" || k == "Or":
			ops = append(ops, k)
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				p.errf(qname, field+"."+k, "must be a non-empty array of rules")
				continue
			}
			for i, e := range list {
				sub := p.choiceRule(qname, fmt.Sprintf("%s.%s[%d]", field, k, i), e, false)
				if k == "And" {
					r.and = append(r.and, sub)
				} else {
					r.or = append(r.or, sub)
				}
			}
		case k == "Not":
			ops = append(ops, k)
			r.not = p.choiceRule(qname, field+".Not", v, false)
		default:
			base := strings.TrimSuffix(k, "Path")
			switch {
			case slices.Contains(comparisonOps, k):
				ops = append(ops, k)
				r.op, r.operand = k, v
				p.checkOperand(qname, field+"."+k, k, v)
			case base != k && slices.Contains(comparisonOps, base) && hasPathVariant(base):
				ops = append(ops, k)
				r.op = k
				s, ok := v.(string)
				if !ok {
					p.errf(qname, field+"."+k, "must be a path string")
					continue
				}
				jp, err := compilePath(s)
				if err != nil {
					p.errf(qname, field+"."+k, "%v", err)
					continue
				}
				r.opPath = jp
			default:
				p.errf(qname, field+"."+k, "unknown field or comparison operator")
			}
		}
	}
	if len(ops) != 1 {
		p.errf(qname, field, "a choice rule needs exactly one comparison operator or And/Or/Not, found %d", len(ops))
	}
	if r.op != "" && r.variable == nil {
		p.errf(qname, field+".Variable", "is required with %s", r.op)
	}
	if top && r.next == "" {
		p.errf(qname, field+".Next", "is required")
	}
	return r
}

func (p *parser) checkOperand(qname, field, op string, v any) {
	switch {
	case strings.HasPrefix(op, "String"):
		if _, ok := v.(string); !ok {
			p.errf(qname, field, "must be a string, got %s", typeName(v))
		}
	case strings.HasPrefix(op, "Numeric"):
		if _, ok := toFloat(v); !ok {
			p.errf(qname, field, "must be a number, got %s", typeName(v))
		}
	case strings.HasPrefix(op, "Timestamp"):
		s, ok := v.(string)
		if !ok {
			p.errf(qname, field, "must be a timestamp string, got %s", typeName(v))
		} else if _, err := parseTimestamp(s); err != nil {
			p.errf(qname, field, "%q is not an RFC 3339 timestamp", s)
		}
	default: // BooleanEquals and the Is… tests
		if _, ok := v.(bool); !ok {
			p.errf(qname, field, "must be a boolean, got %s", typeName(v))
		}
	}
}

// eval evaluates the rule. A Variable that selects nothing is a
// States.Runtime error except under IsPresent; an operand of the wrong type
// makes the comparison false, as in AWS.
func (r *choiceRule) eval(input, ctxObj any) (bool, *failure) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.eval(input, ctxObj)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.eval(input, ctxObj)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(input, ctxObj)
		return !ok, err
	}
	root := input
	if r.variable.context {
		root = ctxObj
	}
	val, found := r.variable.eval(root)
	if r.op == "IsPresent" {
		return found == r.operand.(bool), nil
	}
	if !found {
		return false, &failure{name: ErrRuntime, cause: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.src)}
	}
	op, operand := r.op, r.operand
	if r.opPath != nil {
		op = strings.TrimSuffix(op, "Path")
		root := input
		if r.opPath.context {
			root = ctxObj
		}
		v, ok := r.opPath.eval(root)
		if !ok {
			return false, &failure{name: ErrRuntime, cause: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.opPath.src)}
		}
		operand = v
	}
	return compare(op, val, operand), nil
}

func compare(op string, val, operand any) bool {
	switch op {
	case "IsNull":
		return (val == nil) == operand.(bool)
	case "IsNumeric":
		_, ok := toFloat(val)
		return ok == operand.(bool)
	case "IsString":
		_, ok := val.(string)
		return ok == operand.(bool)
	case "IsBoolean":
		_, ok := val.(bool)
		return ok == operand.(bool)
	case "IsTimestamp":
		s, ok := val.(string)
		if ok {
			_, err := parseTimestamp(s)
			ok = err == nil
		}
		return ok == operand.(bool)
	case "BooleanEquals":
		a, ok1 := val.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b
	case "StringMatches":
		a, ok1 := val.(string)
		b, ok2 := operand.(string)
		return ok1 && ok2 && wildcardMatch(b, a)
	}
	var c int
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := val.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		c = strings.Compare(a, b)
		op = strings.TrimPrefix(op, "String")
	case strings.HasPrefix(op, "Numeric"):
		a, ok1 := toFloat(val)
		b, ok2 := toFloat(operand)
		if !ok1 || !ok2 {
			return false
		}
		c = cmpFloat(a, b)
		op = strings.TrimPrefix(op, "Numeric")
	case strings.HasPrefix(op, "Timestamp"):
		as, ok1 := val.(string)
		bs, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		a, err1 := parseTimestamp(as)
		b, err2 := parseTimestamp(bs)
		if err1 != nil || err2 != nil {
			return false
		}
		c = a.Compare(b)
		op = strings.TrimPrefix(op, "Timestamp")
	default:
		return false
	}
	switch op {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// wildcardMatch implements StringMatches: * matches any run of characters,
// \* a literal star and \\ a literal backslash.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		r    rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) {
			toks = append(toks, tok{r: rs[i+1]})
			i++
			continue
		}
		toks = append(toks, tok{star: rs[i] == '*', r: rs[i]})
	}
	str := []rune(s)
	// Iterative glob matching with backtracking to the last star.
	pi, si, starP, starS := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(toks) && !toks[pi].star && toks[pi].r == str[si]:
			pi++
			si++
		case pi < len(toks) && toks[pi].star:
			starP, starS = pi, si
			pi++
		case starP >= 0:
			pi = starP + 1
			starS++
			si = starS
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].star {
		pi++
	}
	return pi == len(toks)
}
