package dynamodb

import (
	_ "embed"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"unicode"
)

// This file parses and evaluates DynamoDB expressions: condition, filter and
// key-condition expressions, update expressions and projection expressions.
// Attribute paths are top-level attribute names only; a nested path
// (a.b, a[0]) is rejected with a ValidationException that says so.

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokName  // #placeholder
	tokValue // :placeholder
	tokOp
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	isWord := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '#' || r == ':':
			j := i + 1
			for j < len(rs) && isWord(rs[j]) {
				j++
			}
			if j == i+1 {
				return nil, msgf("syntax error; token: %q, near: %q", string(r), near(rs, i))
			}
			kind := tokName
			if r == ':' {
				kind = tokValue
			}
			toks = append(toks, token{kind, string(rs[i:j]), i})
			i = j
		case isWord(r):
			j := i
			for j < len(rs) && isWord(rs[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, string(rs[i:j]), i})
			i = j
		default:
			op := string(r)
			if i+1 < len(rs) {
				two := string(rs[i : i+2])
				if two == "<>" || two == "<=" || two == ">=" {
					op = two
				}
			}
			if !strings.Contains("=<>(),+-.[]", op[:1]) {
				return nil, msgf("invalid character %q, near: %q", string(r), near(rs, i))
			}
			toks = append(toks, token{tokOp, op, i})
			i += len([]rune(op))
		}
	}
	return append(toks, token{tokEOF, "", len(rs)}), nil
}

func near(rs []rune, i int) string {
	end := min(i+12, len(rs))
	return string(rs[i:end])
}

// reservedWords are DynamoDB's reserved words, which an expression may not
// use as a bare attribute name. DynamoDB rejects them; so does this server,
// so that an expression that works here also works in AWS.
//
//go:embed reserved_words.txt
var reservedWordList string

var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(reservedWordList) {
		m[w] = true
	}
	return m
}()

// exprParser parses one expression, resolving placeholders and recording
// which were used so the caller can reject unused ones as DynamoDB does.
type exprParser struct {
	toks   []token
	pos    int
	names  map[string]string
	values map[string]json.RawMessage

	usedNames  map[string]bool
	usedValues map[string]bool
}

func newParser(names map[string]string, values map[string]json.RawMessage) *exprParser {
	return &exprParser{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

func (p *exprParser) reset(src string) error {
	toks, err := lex(src)
	if err != nil {
		return err
	}
	p.toks, p.pos = toks, 0
	return nil
}

// checkAllUsed fails when a placeholder was supplied but no expression used it.
func (p *exprParser) checkAllUsed() error {
	var unusedN, unusedV []string
	for k := range p.names {
		if !p.usedNames[k] {
			unusedN = append(unusedN, k)
		}
	}
	for k := range p.values {
		if !p.usedValues[k] {
			unusedV = append(unusedV, k)
		}
	}
	slices.Sort(unusedN)
	slices.Sort(unusedV)
	if len(unusedN) > 0 {
		return msgf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unusedN, ", "))
	}
	if len(unusedV) > 0 {
		return msgf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unusedV, ", "))
	}
	return nil
}

func (p *exprParser) peek() token { return p.toks[p.pos] }

func (p *exprParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *exprParser) isKeyword(t token, kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (p *exprParser) isOp(t token, op string) bool { return t.kind == tokOp && t.text == op }

func (p *exprParser) expectOp(op string) error {
	t := p.next()
	if !p.isOp(t, op) {
		return p.syntaxErr(t)
	}
	return nil
}

func (p *exprParser) syntaxErr(t token) error {
	if t.kind == tokEOF {
		return msgf("syntax error; unexpected end of expression")
	}
	return msgf("syntax error; token: %q, near position %d", t.text, t.pos)
}

func (p *exprParser) expectEOF() error {
	if t := p.peek(); t.kind != tokEOF {
		return p.syntaxErr(t)
	}
	return nil
}

// path parses an attribute name or #placeholder, rejecting nested paths.
func (p *exprParser) path() (string, error) {
	t := p.next()
	var name string
	switch t.kind {
	case tokName:
		n, ok := p.names[t.text]
		if !ok {
			return "", msgf("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		p.usedNames[t.text] = true
		name = n
	case tokIdent:
		if reservedWords[strings.ToLower(t.text)] {
			return "", msgf("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		name = t.text
	default:
		return "", p.syntaxErr(t)
	}
	if n := p.peek(); p.isOp(n, ".") || p.isOp(n, "[") {
		return "", msgf("nested attribute path at position %d is not supported by the embedded DynamoDB", n.pos)
	}
	return name, nil
}

func (p *exprParser) valueRef() (value, error) {
	t := p.next()
	if t.kind != tokValue {
		return value{}, p.syntaxErr(t)
	}
	raw, ok := p.values[t.text]
	if !ok {
		return value{}, msgf("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
	}
	p.usedValues[t.text] = true
	v, err := parseValue(raw)
	if err != nil {
		return value{}, msgf("ExpressionAttributeValues contains invalid value: %v for key %s", err, t.text)
	}
	return v, nil
}

// ---- conditions ----

type operand interface {
	get(it item) (value, bool)
}

type pathOperand struct{ name string }

func (o pathOperand) get(it item) (value, bool) {
	raw, ok := it[o.name]
	if !ok {
		return value{}, false
	}
	v, err := parseValue(raw)
	return v, err == nil
}

type constOperand struct{ v value }

func (o constOperand) get(item) (value, bool) { return o.v, true }

type sizeOperand struct{ name string }

func (o sizeOperand) get(it item) (value, bool) {
	v, ok := pathOperand(o).get(it)
	if !ok {
		return value{}, false
	}
	n, ok := size(v)
	if !ok {
		return value{}, false
	}
	return numberValue(new(big.Rat).SetInt64(int64(n))), true
}

type cond interface {
	eval(it item) bool
}

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ c cond }
type cmpCond struct {
	op   string
	l, r operand
}
type betweenCond struct{ v, lo, hi operand }
type inCond struct {
	v    operand
	list []operand
}
type funcCond struct {
	fn   string
	path string
	arg  operand
}

func (c andCond) eval(it item) bool { return c.a.eval(it) && c.b.eval(it) }
func (c orCond) eval(it item) bool  { return c.a.eval(it) || c.b.eval(it) }
func (c notCond) eval(it item) bool { return !c.c.eval(it) }

func (c cmpCond) eval(it item) bool {
	l, lok := c.l.get(it)
	r, rok := c.r.get(it)
	if !lok || !rok {
		// A missing attribute is unequal to everything and ordered
		// against nothing.
		return c.op == "<>" && lok != rok
	}
	switch c.op {
	case "=":
		return equal(l, r)
	case "<>":
		return !equal(l, r)
	}
	n, ok := compare(l, r)
	if !ok {
		return false
	}
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

func (c betweenCond) eval(it item) bool {
	v, ok1 := c.v.get(it)
	lo, ok2 := c.lo.get(it)
	hi, ok3 := c.hi.get(it)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	a, ok := compare(lo, v)
	b, ok2 := compare(v, hi)
	return ok && ok2 && a <= 0 && b <= 0
}

func (c inCond) eval(it item) bool {
	v, ok := c.v.get(it)
	if !ok {
		return false
	}
	for _, o := range c.list {
		if w, ok := o.get(it); ok && equal(v, w) {
			return true
		}
	}
	return false
}

func (c funcCond) eval(it item) bool {
	v, present := pathOperand{c.path}.get(it)
	switch c.fn {
	case "attribute_exists":
		return present
	case "attribute_not_exists":
		return !present
	}
	if !present {
		return false
	}
	arg, ok := c.arg.get(it)
	if !ok {
		return false
	}
	switch c.fn {
	case "attribute_type":
		return arg.typ == "S" && arg.str() == v.typ
	case "begins_with":
		switch {
		case v.typ == "S" && arg.typ == "S":
			return strings.HasPrefix(v.str(), arg.str())
		case v.typ == "B" && arg.typ == "B":
			return strings.HasPrefix(string(v.bytes()), string(arg.bytes()))
		}
		return false
	case "contains":
		switch v.typ {
		case "S":
			return arg.typ == "S" && strings.Contains(v.str(), arg.str())
		case "SS", "NS", "BS":
			if arg.typ != v.typ[:1] {
				return false
			}
			return slices.Contains(setKeys(v), setKeys(value{typ: v.typ, raw: mustJSON([]string{arg.str()})})[0])
		case "L":
			var l []json.RawMessage
			_ = json.Unmarshal(v.raw, &l)
			for _, raw := range l {
				if el, err := parseValue(raw); err == nil && equal(el, arg) {
					return true
				}
			}
		}
		return false
	}
	return false
}

// parseCondition parses a condition (or filter, or key-condition) expression.
func (p *exprParser) parseCondition(src string) (cond, error) {
	if err := p.reset(src); err != nil {
		return nil, err
	}
	c, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	if err := p.expectEOF(); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *exprParser) orExpr() (cond, error) {
	c, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "OR") {
		p.next()
		d, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		c = orCond{c, d}
	}
	return c, nil
}

func (p *exprParser) andExpr() (cond, error) {
	c, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "AND") {
		p.next()
		d, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		c = andCond{c, d}
	}
	return c, nil
}

func (p *exprParser) notExpr() (cond, error) {
	if p.isKeyword(p.peek(), "NOT") {
		p.next()
		c, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	return p.primary()
}

var condFuncs = map[string]int{ // name → number of arguments
	"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2,
}

func (p *exprParser) primary() (cond, error) {
	t := p.peek()
	if p.isOp(t, "(") {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	if t.kind == tokIdent && p.isOp(p.toks[p.pos+1], "(") {
		if nargs, ok := condFuncs[t.text]; ok {
			p.next()
			p.next()
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			fc := funcCond{fn: t.text, path: path}
			if nargs == 2 {
				if err := p.expectOp(","); err != nil {
					return nil, err
				}
				if fc.arg, err = p.operand(); err != nil {
					return nil, err
				}
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return fc, nil
		}
		if t.text != "size" {
			return nil, msgf("Invalid function name; function: %s", t.text)
		}
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	t = p.next()
	switch {
	case t.kind == tokOp && slices.Contains([]string{"=", "<>", "<", "<=", ">", ">="}, t.text):
		r, err := p.operand()
		if err != nil {
			return nil, err
		}
		return cmpCond{t.text, l, r}, nil
	case p.isKeyword(t, "BETWEEN"):
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.isKeyword(p.next(), "AND") {
			return nil, msgf("syntax error; BETWEEN needs AND")
		}
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		return betweenCond{l, lo, hi}, nil
	case p.isKeyword(t, "IN"):
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			list = append(list, o)
			if p.isOp(p.peek(), ",") {
				p.next()
				continue
			}
			break
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return inCond{l, list}, nil
	}
	return nil, p.syntaxErr(t)
}

func (p *exprParser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tokValue:
		v, err := p.valueRef()
		if err != nil {
			return nil, err
		}
		return constOperand{v}, nil
	case t.kind == tokIdent && t.text == "size" && p.isOp(p.toks[p.pos+1], "("):
		p.next()
		p.next()
		name, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return sizeOperand{name}, nil
	}
	name, err := p.path()
	if err != nil {
		return nil, err
	}
	return pathOperand{name}, nil
}

// ---- update expressions ----

// update is a parsed update expression.
type update struct {
	sets    []setAction
	removes []string
	adds    []addAction
	deletes []addAction
}

type setAction struct {
	path string
	val  updValue
}

type addAction struct {
	path string
	v    value
}

// updValue is the right-hand side of a SET action, computed against the
// item as it was before the update.
type updValue interface {
	compute(it item) (value, error)
}

type operandValue struct{ o operand }

func (u operandValue) compute(it item) (value, error) {
	v, ok := u.o.get(it)
	if !ok {
		return value{}, msgf("The provided expression refers to an attribute that does not exist in the item")
	}
	return v, nil
}

type arithValue struct {
	op   string
	a, b updValue
}

func (u arithValue) compute(it item) (value, error) {
	a, err := u.a.compute(it)
	if err != nil {
		return value{}, err
	}
	b, err := u.b.compute(it)
	if err != nil {
		return value{}, err
	}
	if a.typ != "N" || b.typ != "N" {
		return value{}, msgf("An operand in the update expression has an incorrect data type")
	}
	n := new(big.Rat)
	if u.op == "+" {
		n.Add(a.number(), b.number())
	} else {
		n.Sub(a.number(), b.number())
	}
	return numberValue(n), nil
}

type ifNotExistsValue struct {
	path string
	def  updValue
}

func (u ifNotExistsValue) compute(it item) (value, error) {
	if v, ok := (pathOperand{u.path}).get(it); ok {
		return v, nil
	}
	return u.def.compute(it)
}

type listAppendValue struct{ a, b updValue }

func (u listAppendValue) compute(it item) (value, error) {
	a, err := u.a.compute(it)
	if err != nil {
		return value{}, err
	}
	b, err := u.b.compute(it)
	if err != nil {
		return value{}, err
	}
	if a.typ != "L" || b.typ != "L" {
		return value{}, msgf("An operand in the update expression has an incorrect data type")
	}
	var la, lb []json.RawMessage
	_ = json.Unmarshal(a.raw, &la)
	_ = json.Unmarshal(b.raw, &lb)
	return value{typ: "L", raw: mustJSON(append(la, lb...))}, nil
}

func (p *exprParser) parseUpdate(src string) (*update, error) {
	if err := p.reset(src); err != nil {
		return nil, err
	}
	u := &update{}
	seen := map[string]bool{}
	seenClause := map[string]bool{}
	mark := func(path string) error {
		if seen[path] {
			return msgf("Invalid UpdateExpression: Two document paths overlap with each other; path: [%s]", path)
		}
		seen[path] = true
		return nil
	}
	for p.peek().kind != tokEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tokIdent || !slices.Contains([]string{"SET", "REMOVE", "ADD", "DELETE"}, clause) {
			return nil, p.syntaxErr(t)
		}
		if seenClause[clause] {
			return nil, msgf("Invalid UpdateExpression: The %q section can only be used once in an update expression", clause)
		}
		seenClause[clause] = true
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := mark(path); err != nil {
				return nil, err
			}
			switch clause {
			case "SET":
				if err := p.expectOp("="); err != nil {
					return nil, err
				}
				v, err := p.setValue()
				if err != nil {
					return nil, err
				}
				u.sets = append(u.sets, setAction{path, v})
			case "REMOVE":
				u.removes = append(u.removes, path)
			case "ADD", "DELETE":
				v, err := p.valueRef()
				if err != nil {
					return nil, err
				}
				a := addAction{path, v}
				if clause == "ADD" {
					u.adds = append(u.adds, a)
				} else {
					u.deletes = append(u.deletes, a)
				}
			}
			if !p.isOp(p.peek(), ",") {
				break
			}
			p.next()
		}
	}
	if len(seen) == 0 {
		return nil, msgf("Invalid UpdateExpression: The expression can not be empty")
	}
	return u, nil
}

func (p *exprParser) setValue() (updValue, error) {
	a, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); p.isOp(t, "+") || p.isOp(t, "-") {
		p.next()
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return arithValue{t.text, a, b}, nil
	}
	return a, nil
}

func (p *exprParser) setOperand() (updValue, error) {
	t := p.peek()
	if t.kind == tokIdent && p.isOp(p.toks[p.pos+1], "(") {
		switch t.text {
		case "if_not_exists":
			p.next()
			p.next()
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			def, err := p.setValue()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return ifNotExistsValue{path, def}, nil
		case "list_append":
			p.next()
			p.next()
			a, err := p.setValue()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			b, err := p.setValue()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return listAppendValue{a, b}, nil
		}
		return nil, msgf("Invalid function name; function: %s", t.text)
	}
	o, err := p.operand()
	if err != nil {
		return nil, err
	}
	if _, ok := o.(sizeOperand); ok {
		return nil, msgf("Invalid UpdateExpression: The function is not allowed in an update expression; function: size")
	}
	return operandValue{o}, nil
}

// apply computes the updated item from old (which it does not change).
func (u *update) apply(old item) (item, error) {
	next := old.clone()
	for _, s := range u.sets {
		v, err := s.val.compute(old)
		if err != nil {
			return nil, err
		}
		next[s.path] = v.wire()
	}
	for _, r := range u.removes {
		delete(next, r)
	}
	for _, a := range u.adds {
		cur, ok := pathOperand{a.path}.get(old)
		switch {
		case a.v.typ == "N" && !ok:
			next[a.path] = a.v.wire()
		case a.v.typ == "N" && cur.typ == "N":
			next[a.path] = numberValue(new(big.Rat).Add(cur.number(), a.v.number())).wire()
		case strings.HasSuffix(a.v.typ, "S") && len(a.v.typ) == 2 && (!ok || cur.typ == a.v.typ):
			var elems []string
			if ok {
				_ = json.Unmarshal(cur.raw, &elems)
			}
			var add []string
			_ = json.Unmarshal(a.v.raw, &add)
			have := map[string]bool{}
			if len(elems) > 0 {
				for _, k := range setKeys(value{typ: a.v.typ, raw: mustJSON(elems)}) {
					have[k] = true
				}
			}
			for _, e := range add {
				k := setKeys(value{typ: a.v.typ, raw: mustJSON([]string{e})})[0]
				if !have[k] {
					elems = append(elems, e)
					have[k] = true
				}
			}
			next[a.path] = value{typ: a.v.typ, raw: mustJSON(elems)}.wire()
		default:
			return nil, msgf("An operand in the update expression has an incorrect data type")
		}
	}
	for _, d := range u.deletes {
		cur, ok := pathOperand{d.path}.get(old)
		if !ok {
			continue
		}
		if cur.typ != d.v.typ || len(cur.typ) != 2 {
			return nil, msgf("An operand in the update expression has an incorrect data type")
		}
		var elems, drop []string
		_ = json.Unmarshal(cur.raw, &elems)
		_ = json.Unmarshal(d.v.raw, &drop)
		gone := map[string]bool{}
		for _, k := range setKeys(value{typ: d.v.typ, raw: mustJSON(drop)}) {
			gone[k] = true
		}
		var keep []string
		for _, e := range elems {
			if !gone[setKeys(value{typ: d.v.typ, raw: mustJSON([]string{e})})[0]] {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			delete(next, d.path)
		} else {
			next[d.path] = value{typ: d.v.typ, raw: mustJSON(keep)}.wire()
		}
	}
	return next, nil
}

// parseProjection parses a projection expression: attribute names separated
// by commas.
func (p *exprParser) parseProjection(src string) ([]string, error) {
	if err := p.reset(src); err != nil {
		return nil, err
	}
	var names []string
	for {
		n, err := p.path()
		if err != nil {
			return nil, err
		}
		names = append(names, n)
		if !p.isOp(p.peek(), ",") {
			break
		}
		p.next()
	}
	if err := p.expectEOF(); err != nil {
		return nil, err
	}
	return names, nil
}
