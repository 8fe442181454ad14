package asl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Intrinsic functions: a small recursive-descent parser over
//
//	call  := NAME '(' [arg {',' arg}] ')'
//	arg   := 'string' | number | true | false | null | path | call
//
// String literals use \' \\ \{ and \} escapes; paths start with $ or $$ and
// run to the next top-level ',' or ')'. Every failure, at parse or at
// evaluation time, is reported as States.IntrinsicFailure.

// maxIntrinsicDepth bounds nesting so hostile definitions cannot exhaust the
// stack.
const maxIntrinsicDepth = 32

type exprKind int

const (
	exprString exprKind = iota
	exprNumber
	exprBool
	exprNull
	exprPath
	exprCall
)

type intrinsicExpr struct {
	kind exprKind
	str  string // unescaped string literal, or the path source
	raw  string // string literal as written (States.Format reads its escapes)
	num  any
	b    bool
	path *jsonPath
	name string
	args []*intrinsicExpr
}

var intrinsicCache sync.Map // string → *intrinsicExpr

func compileIntrinsic(src string) (*intrinsicExpr, error) {
	if e, ok := intrinsicCache.Load(src); ok {
		return e.(*intrinsicExpr), nil
	}
	p := &intrinsicParser{src: src}
	p.space()
	e, err := p.call(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("intrinsic %q: unexpected %q after the call", src, p.src[p.pos:])
	}
	intrinsicCache.Store(src, e)
	return e, nil
}

type intrinsicParser struct {
	src string
	pos int
}

func (p *intrinsicParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

func (p *intrinsicParser) errf(format string, a ...any) error {
	return fmt.Errorf("intrinsic %q at offset %d: %s", p.src, p.pos, fmt.Sprintf(format, a...))
}

func (p *intrinsicParser) call(depth int) (*intrinsicExpr, error) {
	if depth > maxIntrinsicDepth {
		return nil, p.errf("nested too deeply")
	}
	start := p.pos
	for p.pos < len(p.src) && (isIdentByte(p.src[p.pos]) || p.src[p.pos] == '.') {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		return nil, p.errf("expected a function name")
	}
	if _, ok := intrinsics[name]; !ok {
		return nil, p.errf("unknown function %q", name)
	}
	p.space()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.errf("expected '(' after %s", name)
	}
	p.pos++
	e := &intrinsicExpr{kind: exprCall, name: name}
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return e, nil
	}
	for {
		p.space()
		a, err := p.arg(depth)
		if err != nil {
			return nil, err
		}
		e.args = append(e.args, a)
		p.space()
		if p.pos >= len(p.src) {
			return nil, p.errf("missing ')'")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] == ')' {
			p.pos++
			return e, nil
		}
		return nil, p.errf("expected ',' or ')', found %q", p.src[p.pos])
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (p *intrinsicParser) arg(depth int) (*intrinsicExpr, error) {
	if p.pos >= len(p.src) {
		return nil, p.errf("missing argument")
	}
	c := p.src[p.pos]
	switch {
	case c == '\'':
		return p.stringLit()
	case c == '$':
		return p.pathArg()
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && strings.IndexByte("0123456789.eE+-", p.src[p.pos]) >= 0 {
			p.pos++
		}
		text := p.src[start:p.pos]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.errf("bad number %q", text)
		}
		return &intrinsicExpr{kind: exprNumber, num: number(f)}, nil
	case strings.HasPrefix(p.src[p.pos:], "true") && !p.identContinues(4):
		p.pos += 4
		return &intrinsicExpr{kind: exprBool, b: true}, nil
	case strings.HasPrefix(p.src[p.pos:], "false") && !p.identContinues(5):
		p.pos += 5
		return &intrinsicExpr{kind: exprBool}, nil
	case strings.HasPrefix(p.src[p.pos:], "null") && !p.identContinues(4):
		p.pos += 4
		return &intrinsicExpr{kind: exprNull}, nil
	case isIdentByte(c):
		return p.call(depth + 1)
	}
	return nil, p.errf("unexpected %q", c)
}

func (p *intrinsicParser) identContinues(n int) bool {
	i := p.pos + n
	return i < len(p.src) && (isIdentByte(p.src[i]) || p.src[i] == '.')
}

func (p *intrinsicParser) stringLit() (*intrinsicExpr, error) {
	p.pos++ // opening quote
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\\' {
			if p.pos+1 >= len(p.src) {
				return nil, p.errf("dangling escape in string")
			}
			n := p.src[p.pos+1]
			switch n {
			case '\'', '\\', '{', '}':
				b.WriteByte(n)
			default:
				return nil, p.errf("unknown escape \\%c in string", n)
			}
			p.pos += 2
			continue
		}
		if c == '\'' {
			raw := p.src[start:p.pos]
			p.pos++
			return &intrinsicExpr{kind: exprString, str: b.String(), raw: raw}, nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return nil, p.errf("unterminated string")
}

// pathArg reads a path up to the next ',' or ')' outside brackets and quotes.
func (p *intrinsicParser) pathArg() (*intrinsicExpr, error) {
	start := p.pos
	depth := 0
	var quote byte
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if quote != 0 {
			if c == '\\' {
				p.pos += 2
				continue
			}
			if c == quote {
				quote = 0
			}
			p.pos++
			continue
		}
		switch c {
		case '\'', '"':
			if depth > 0 {
				quote = c
			}
		case '[':
			depth++
		case ']':
			depth--
		case ',', ')', ' ':
			if depth <= 0 {
				goto done
			}
		}
		p.pos++
	}
done:
	src := p.src[start:min(p.pos, len(p.src))]
	path, err := compilePath(src)
	if err != nil {
		return nil, p.errf("%v", err)
	}
	return &intrinsicExpr{kind: exprPath, str: src, path: path}, nil
}

// evalIntrinsic evaluates a compiled call against the state input and the
// context object.
func evalIntrinsic(e *intrinsicExpr, input, ctxObj any) (any, error) {
	switch e.kind {
	case exprString:
		return e.str, nil
	case exprNumber:
		return e.num, nil
	case exprBool:
		return e.b, nil
	case exprNull:
		return nil, nil
	case exprPath:
		root := input
		if e.path.context {
			root = ctxObj
		}
		v, ok := e.path.eval(root)
		if !ok {
			return nil, fmt.Errorf("path %s selected nothing", e.str)
		}
		return v, nil
	}
	args := make([]any, len(e.args))
	for i, a := range e.args {
		v, err := evalIntrinsic(a, input, ctxObj)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	fn := intrinsics[e.name]
	if len(args) < fn.min || (fn.max >= 0 && len(args) > fn.max) {
		if fn.min == fn.max {
			return nil, fmt.Errorf("%s takes %d arguments, got %d", e.name, fn.min, len(args))
		}
		return nil, fmt.Errorf("%s takes %d to %d arguments, got %d", e.name, fn.min, fn.max, len(args))
	}
	v, err := fn.call(e, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return v, nil
}

type intrinsicFunc struct {
	min, max int // max < 0: variadic
	call     func(e *intrinsicExpr, args []any) (any, error)
}

var intrinsics map[string]intrinsicFunc

func init() {
	intrinsics = map[string]intrinsicFunc{
		"States.Format":         {1, -1, fnFormat},
		"States.StringToJson":   {1, 1, fnStringToJSON},
		"States.JsonToString":   {1, 1, fnJSONToString},
		"States.Array":          {0, -1, func(_ *intrinsicExpr, a []any) (any, error) { return a, nil }},
		"States.ArrayPartition": {2, 2, fnArrayPartition},
		"States.ArrayContains":  {2, 2, fnArrayContains},
		"States.ArrayRange":     {3, 3, fnArrayRange},
		"States.ArrayGetItem":   {2, 2, fnArrayGetItem},
		"States.ArrayLength":    {1, 1, fnArrayLength},
		"States.ArrayUnique":    {1, 1, fnArrayUnique},
		"States.Base64Encode":   {1, 1, fnBase64Encode},
		"States.Base64Decode":   {1, 1, fnBase64Decode},
		"States.Hash":           {2, 2, fnHash},
		"States.JsonMerge":      {3, 3, fnJSONMerge},
		"States.MathRandom":     {2, 3, fnMathRandom},
		"States.MathAdd":        {2, 2, fnMathAdd},
		"States.StringSplit":    {2, 2, fnStringSplit},
		"States.UUID":           {0, 0, func(*intrinsicExpr, []any) (any, error) { return uuid.NewString(), nil }},
	}
}

// maxIntrinsicString is AWS's limit on the strings Base64 and Hash accept.
const maxIntrinsicString = 10000

func argString(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("argument %d must be a string, got %s", i+1, typeName(args[i]))
	}
	return s, nil
}

func argArray(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, fmt.Errorf("argument %d must be an array, got %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func argInt(args []any, i int) (int64, error) {
	n, ok := toInt(args[i])
	if !ok {
		return 0, fmt.Errorf("argument %d must be an integer, got %s", i+1, mustJSON(args[i]))
	}
	return n, nil
}

func fnFormat(e *intrinsicExpr, args []any) (any, error) {
	tmpl, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	// A literal template keeps its escapes: \{ and \} are literal braces, so
	// only an unescaped {} is a placeholder.
	escaped := false
	if len(e.args) > 0 && e.args[0].kind == exprString {
		tmpl, escaped = e.args[0].raw, true
	}
	vals := args[1:]
	var b strings.Builder
	used := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if escaped && c == '\\' && i+1 < len(tmpl) {
			b.WriteByte(tmpl[i+1])
			i++
			continue
		}
		if c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
			if used >= len(vals) {
				return nil, errors.New("more {} placeholders than arguments")
			}
			switch v := vals[used].(type) {
			case string:
				b.WriteString(v)
			case *object, map[string]any, []any:
				return nil, fmt.Errorf("argument %d must be a string, number, boolean or null, got %s", used+2, typeName(v))
			default:
				b.WriteString(mustJSON(v))
			}
			used++
			i++
			continue
		}
		b.WriteByte(c)
	}
	if used != len(vals) {
		return nil, fmt.Errorf("%d arguments for %d {} placeholders", len(vals), used)
	}
	return b.String(), nil
}

func fnStringToJSON(_ *intrinsicExpr, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("argument is not JSON: %v", err)
	}
	return v, nil
}

func fnJSONToString(_ *intrinsicExpr, args []any) (any, error) {
	b, err := encodeJSON(args[0])
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func fnArrayPartition(_ *intrinsicExpr, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	n, err := argInt(args, 1)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("chunk size must be positive, got %d", n)
	}
	out := []any{}
	for i := 0; i < len(a); i += int(n) {
		end := min(len(a), i+int(n))
		out = append(out, append([]any(nil), a[i:end]...))
	}
	return out, nil
}

func fnArrayContains(_ *intrinsicExpr, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	for _, v := range a {
		if jsonEqual(v, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(_ *intrinsicExpr, args []any) (any, error) {
	var n [3]int64
	for i := range n {
		v, err := argInt(args, i)
		if err != nil {
			return nil, err
		}
		n[i] = v
	}
	start, end, step := n[0], n[1], n[2]
	if step == 0 {
		return nil, errors.New("step must not be 0")
	}
	out := []any{}
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		if len(out) == 1000 {
			return nil, errors.New("result would have more than 1000 items")
		}
		out = append(out, intNumber(v))
	}
	return out, nil
}

func fnArrayGetItem(_ *intrinsicExpr, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	i, err := argInt(args, 1)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, fmt.Errorf("index %d out of range for an array of %d items", i, len(a))
	}
	return a[i], nil
}

func fnArrayLength(_ *intrinsicExpr, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	return intNumber(int64(len(a))), nil
}

func fnArrayUnique(_ *intrinsicExpr, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
outer:
	for _, v := range a {
		for _, w := range out {
			if jsonEqual(v, w) {
				continue outer
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func fnBase64Encode(_ *intrinsicExpr, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	if len(s) > maxIntrinsicString {
		return nil, fmt.Errorf("input longer than %d characters", maxIntrinsicString)
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *intrinsicExpr, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	if len(s) > maxIntrinsicString {
		return nil, fmt.Errorf("input longer than %d characters", maxIntrinsicString)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("argument is not base64: %v", err)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("decoded data is not UTF-8 text")
	}
	return string(b), nil
}

func fnHash(_ *intrinsicExpr, args []any) (any, error) {
	var data string
	switch v := args[0].(type) {
	case string:
		data = v
	case nil:
		return nil, errors.New("argument 1 must not be null")
	default:
		data = mustJSON(v)
	}
	if len(data) > maxIntrinsicString {
		return nil, fmt.Errorf("input longer than %d characters", maxIntrinsicString)
	}
	alg, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported algorithm %q (MD5, SHA-1, SHA-256, SHA-384, SHA-512)", alg)
	}
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(_ *intrinsicExpr, args []any) (any, error) {
	aKeys, aVals, ok1 := members(args[0])
	bKeys, bVals, ok2 := members(args[1])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("arguments 1 and 2 must be objects, got %s and %s", typeName(args[0]), typeName(args[1]))
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, fmt.Errorf("argument 3 must be a boolean, got %s", typeName(args[2]))
	}
	if deep {
		return nil, errors.New("deep merge (argument 3 true) is not supported; pass false")
	}
	out := newObject(len(aKeys) + len(bKeys))
	for _, k := range aKeys {
		out.set(k, aVals[k])
	}
	for _, k := range bKeys {
		out.set(k, bVals[k])
	}
	return out, nil
}

// fnMathRandom returns an integer in [start, end); with a seed the sequence is
// reproducible, as in AWS (though not the same numbers AWS draws).
func fnMathRandom(_ *intrinsicExpr, args []any) (any, error) {
	start, err := argInt(args, 0)
	if err != nil {
		return nil, err
	}
	end, err := argInt(args, 1)
	if err != nil {
		return nil, err
	}
	if end <= start {
		return nil, fmt.Errorf("end %d must be greater than start %d", end, start)
	}
	var r *rand.Rand
	if len(args) == 3 {
		seed, err := argInt(args, 2)
		if err != nil {
			return nil, err
		}
		r = rand.New(rand.NewPCG(uint64(seed), 0))
	} else {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return intNumber(start + r.Int64N(end-start)), nil
}

func fnMathAdd(_ *intrinsicExpr, args []any) (any, error) {
	a, ok1 := toFloat(args[0])
	b, ok2 := toFloat(args[1])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("arguments must be numbers, got %s and %s", typeName(args[0]), typeName(args[1]))
	}
	sum := a + b
	if math.IsInf(sum, 0) || math.IsNaN(sum) {
		return nil, errors.New("sum is out of range")
	}
	return number(sum), nil
}

// fnStringSplit splits on every character of the delimiter string and drops
// empty pieces, as AWS documents ("This.is+a,test" with ".+," → 4 pieces).
func fnStringSplit(_ *intrinsicExpr, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	d, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) }) {
		out = append(out, part)
	}
	return out, nil
}
