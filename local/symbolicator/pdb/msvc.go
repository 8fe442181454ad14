package pdb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// demangleMSVC undecorates an MSVC C++ name the way Symbolicator shows it
// in a frame's "function": symbolic passes it to msvc-demangler with
// COMPLETE | NO_FUNCTION_RETURNS | SPACE_AFTER_COMMA | HUG_TYPE |
// NO_MS_KEYWORDS | NO_CLASS_TYPE, which gives the qualified name and the
// parameter list, and leaves out return type, calling convention, access
// ("public:"), "static"/"virtual", "class"/"struct" and __ptr64:
//
//	?bar@Foo@ns@@QEBAHPEBD@Z    ns::Foo::bar(char const*) const
//	??9@YA_NAEBVGURL@@0@Z       operator!=(GURL const&, GURL const&)
//	?LoadV8Snapshot@V8Initializer@gin@@SAXXZ    gin::V8Initializer::LoadV8Snapshot(void)
//
// ok is false when name is not a decoration it can read.
func demangleMSVC(name string) (s string, ok bool) {
	if len(name) > maxNameLen || !strings.HasPrefix(name, "?") {
		return "", false
	}
	p := &msParser{in: name}
	r, err := p.parse()
	if err != nil {
		return "", false
	}
	w := &msWriter{}
	w.serialize(r)
	if w.err != nil {
		return "", false
	}
	return w.sb.String(), true
}

var errMSVC = errors.New("malformed MSVC name")

// Storage classes (qualifiers) of a type.
const (
	scConst = 1 << iota
	scVolatile
	scFar
	scHuge
	scUnaligned
	scRestrict
	scPtr64
	scLValue
	scRValue
)

// Function classes of member functions.
const (
	fcPublic = 1 << iota
	fcProtected
	fcPrivate
	fcGlobal
	fcStatic
	fcVirtual
	fcFar
	fcThunk
)

type msNameKind int

const (
	nmSimple msNameKind = iota
	nmTemplate
	nmOperator
	nmDiscriminator
	nmParsed
	nmAnon
	nmInterface
	nmMD5
)

// Operators that need more than their text.
const (
	opCtor = iota + 1
	opDtor
	opConversion
	opVBTable
	opLocalStaticGuard
	opLocalStaticThreadGuard
	opLiteral
	opRTTITypeDescriptor
	opRTTIBaseClassDescriptor
	opText // any other: text in name.s
)

type msName struct {
	kind   msNameKind
	s      string // simple name, operator text, anonymous namespace id
	op     int
	opNum  []int32 // guard scope index, RTTI base class descriptor numbers
	tmpl   *msName
	params []*msType
	num    int32
	parsed *msResult
	typ    *msType // RTTI type descriptor
	id     int
}

type msSymbol struct {
	name  *msName
	scope []*msName // innermost first
}

type msTypeKind int

const (
	tyNone msTypeKind = iota
	tyMemberFunction
	tyMemberFunctionPointer
	tyNonMemberFunction
	tyVBTable
	tyVFTable
	tyVCallThunk
	tyTemplateParam
	tyThreadSafeStaticGuard
	tyConstant
	tyConstantString
	tyPtr
	tyRef
	tyRValueRef
	tyArray
	tyVar
	tyAlias
	tyClass // struct, union, class and enum: NO_CLASS_TYPE prints them alike
	tyPrimitive
	tyVarArgs
	tyEmptyPack
	tyNullptr
	tyRTTI
)

type msType struct {
	kind   msTypeKind
	sc     int
	fc     int
	params []*msType
	inner  *msType // pointee, element, return type, variable type
	sym    *msSymbol
	scope  []*msName
	num    int32
	prim   string
	id     int
}

type msResult struct {
	sym *msSymbol
	typ *msType
}

type msParser struct {
	in    string
	pos   int
	names []*msName
	types []*msType
	depth int
	ids   map[string]int
}

const msMaxDepth = 64

func (p *msParser) rest() string { return p.in[p.pos:] }

func (p *msParser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

func (p *msParser) get() (byte, error) {
	if p.pos >= len(p.in) {
		return 0, errMSVC
	}
	p.pos++
	return p.in[p.pos-1], nil
}

func (p *msParser) consume(s string) bool {
	if strings.HasPrefix(p.rest(), s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *msParser) expect(s string) error {
	if !p.consume(s) {
		return errMSVC
	}
	return nil
}

func (p *msParser) enter() error {
	p.depth++
	if p.depth > msMaxDepth {
		return errMSVC
	}
	return nil
}

func (p *msParser) leave() { p.depth-- }

func (p *msParser) parse() (*msResult, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if !p.consume("?") {
		return nil, errMSVC
	}
	if p.consume("?@") {
		j := p.pos
		for j < len(p.in) && isHexDigit(p.in[j]) {
			j++
		}
		if j-p.pos != 32 || j >= len(p.in) || p.in[j] != '@' {
			return nil, errMSVC
		}
		n := &msName{kind: nmMD5, s: p.in[p.pos:j]}
		p.pos = j + 1
		return &msResult{&msSymbol{name: n}, &msType{kind: tyNone}}, nil
	}
	if p.consume("$") {
		if p.consume("TSS") {
			d, ok := p.digit()
			if !ok {
				return nil, errMSVC
			}
			n := int32(d)
			for !p.consume("@") {
				d, ok := p.digit()
				if !ok || n > 1<<24 {
					return nil, errMSVC
				}
				n = n*10 + int32(d)
			}
			name, err := p.nestedName()
			if err != nil {
				return nil, err
			}
			scope, err := p.scope()
			if err != nil {
				return nil, err
			}
			if err := p.expect("4HA"); err != nil {
				return nil, err
			}
			return &msResult{&msSymbol{name, scope}, &msType{kind: tyThreadSafeStaticGuard, num: n}}, nil
		}
		name, err := p.templateName()
		if err != nil {
			return nil, err
		}
		return &msResult{&msSymbol{name: name}, &msType{kind: tyNone}}, nil
	}
	sym, err := p.readName(true)
	if err != nil {
		return nil, err
	}
	if sym.name.kind == nmOperator && (sym.name.op == opLocalStaticGuard || sym.name.op == opLocalStaticThreadGuard) {
		switch {
		case p.consume("4IA"), p.consume("5"):
		default:
			return nil, errMSVC
		}
		if p.pos < len(p.in) {
			n, err := p.number()
			if err != nil || n < 0 {
				return nil, errMSVC
			}
			sym.name.opNum = []int32{n}
		}
	}
	c, err := p.get()
	if err != nil {
		return &msResult{sym, &msType{kind: tyNone}}, nil
	}
	var t *msType
	switch {
	case c >= '0' && c <= '4':
		vt, err := p.varType(0)
		if err != nil {
			return nil, err
		}
		sc := p.storageClass()
		t = &msType{kind: tyVar, inner: vt, sc: sc, num: int32(c - '0')}
	case c == '6' || c == '7':
		q := p.qualifier()
		scope, err := p.scope()
		if err != nil {
			return nil, err
		}
		k := tyVFTable
		if c == '7' {
			k = tyVBTable
		}
		t = &msType{kind: k, sc: q, scope: scope}
	case c == '9':
		t = &msType{kind: tyNone}
	case c == 'Y':
		if _, err := p.callingConv(); err != nil {
			return nil, err
		}
		rsc, err := p.storageClassForReturn()
		if err != nil {
			return nil, err
		}
		ret, err := p.varType(rsc)
		if err != nil {
			return nil, err
		}
		params, err := p.funcParams()
		if err != nil {
			return nil, err
		}
		t = &msType{kind: tyNonMemberFunction, params: params, inner: ret}
	case c == '_':
		cb, err := p.get()
		if err != nil {
			return nil, err
		}
		var width int32
		switch cb {
		case '0':
			width = 1
		case '1':
			width = 2
		default:
			return nil, errMSVC
		}
		if t, err = p.encodedString(width); err != nil {
			return nil, err
		}
	case c == '$':
		if err := p.expect("B"); err != nil {
			return nil, err
		}
		off, err := p.number()
		if err != nil {
			return nil, err
		}
		if err := p.expect("A"); err != nil {
			return nil, err
		}
		if _, err := p.callingConv(); err != nil {
			return nil, err
		}
		t = &msType{kind: tyVCallThunk, num: off}
	case c == '8':
		t = &msType{kind: tyRTTI}
	default:
		fc, err := p.funcClass(c)
		if err != nil {
			return nil, err
		}
		this := 0
		if fc&fcStatic == 0 {
			this = p.funcQualifiers()
		}
		if _, err := p.callingConv(); err != nil {
			return nil, err
		}
		rsc, err := p.storageClassForReturn()
		if err != nil {
			return nil, err
		}
		ret, err := p.returnType(rsc)
		if err != nil {
			return nil, err
		}
		params, err := p.funcParams()
		if err != nil {
			return nil, err
		}
		t = &msType{kind: tyMemberFunction, fc: fc, params: params, sc: this, inner: ret}
	}
	return &msResult{sym, t}, nil
}

func (p *msParser) digit() (byte, bool) {
	if c := p.peek(); c >= '0' && c <= '9' {
		p.pos++
		return c - '0', true
	}
	return 0, false
}

// number reads <number> ::= [?] (<digit> | <hex digit A-P>+ @).
func (p *msParser) number() (int32, error) {
	neg := p.consume("?")
	if d, ok := p.digit(); ok {
		v := int32(d) + 1
		if neg {
			v = -v
		}
		return v, nil
	}
	var v uint32
	for i := p.pos; i < len(p.in); i++ {
		c := p.in[i]
		switch {
		case c == '@':
			p.pos = i + 1
			r := int32(v)
			if neg {
				r = -r
			}
			return r, nil
		case c >= 'A' && c <= 'P':
			v = v<<4 + uint32(c-'A')
		default:
			return 0, errMSVC
		}
	}
	return 0, errMSVC
}

func (p *msParser) str() (string, error) {
	i := strings.IndexByte(p.rest(), '@')
	if i < 0 {
		return "", errMSVC
	}
	s := p.in[p.pos : p.pos+i]
	p.pos += i + 1
	return s, nil
}

func (p *msParser) encodedString(width int32) (*msType, error) {
	length, err := p.number()
	if err != nil {
		return nil, err
	}
	if _, err := p.number(); err != nil { // CRC
		return nil, err
	}
	n := length
	if n > width*32 {
		n = width * 32
	}
	for i := int32(0); i < n; i++ {
		c, err := p.get()
		if err != nil {
			return nil, err
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$':
		case c == '?':
			e, err := p.get()
			if err != nil {
				return nil, err
			}
			switch {
			case e >= 'A' && e <= 'Z', e >= 'a' && e <= 'z', e >= '0' && e <= '9':
			case e == '$':
				hi, err1 := p.get()
				lo, err2 := p.get()
				if err1 != nil || err2 != nil || hi < 'A' || hi > 'P' || lo < 'A' || lo > 'P' {
					return nil, errMSVC
				}
			default:
				return nil, errMSVC
			}
		default:
			return nil, errMSVC
		}
	}
	return &msType{kind: tyConstantString}, nil
}

func (p *msParser) memorizeName(n *msName) {
	if len(p.names) >= 10 {
		return
	}
	k := p.nameID(n)
	for _, m := range p.names {
		if p.nameID(m) == k {
			return
		}
	}
	p.names = append(p.names, n)
}

func (p *msParser) memorizeType(t *msType) {
	if len(p.types) >= 10 {
		return
	}
	k := p.typeID(t)
	for _, m := range p.types {
		if p.typeID(m) == k {
			return
		}
	}
	p.types = append(p.types, t)
}

func (p *msParser) templateName() (*msName, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	savedN, savedT := p.names, p.types
	p.names, p.types = nil, nil
	name, err := p.unqualifiedName(false)
	if err != nil {
		return nil, err
	}
	params, err := p.params()
	if err != nil {
		return nil, err
	}
	p.names, p.types = savedN, savedT
	return &msName{kind: nmTemplate, tmpl: name, params: params}, nil
}

func (p *msParser) nestedName() (*msName, error) {
	if d, ok := p.digit(); ok {
		if int(d) >= len(p.names) {
			return nil, errMSVC
		}
		return p.names[d], nil
	}
	if p.consume("?") {
		if p.peek() == '?' {
			r, err := p.parse()
			if err != nil {
				return nil, err
			}
			return &msName{kind: nmParsed, parsed: r}, nil
		}
		if p.consume("$") {
			n, err := p.templateName()
			if err != nil {
				return nil, err
			}
			p.memorizeName(n)
			return n, nil
		}
		if p.consume("A") {
			id := ""
			if p.consume("0x") {
				j := p.pos
				for j < len(p.in) && isHexDigit(p.in[j]) {
					j++
				}
				id = "0x" + p.in[p.pos:j]
				p.pos = j
			}
			if err := p.expect("@"); err != nil {
				return nil, err
			}
			n := &msName{kind: nmAnon, s: id}
			if id != "" {
				p.memorizeName(n)
			}
			return n, nil
		}
		if p.consume("Q") {
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			if err := p.expect("@"); err != nil {
				return nil, err
			}
			n := &msName{kind: nmInterface, s: s}
			p.memorizeName(n)
			return n, nil
		}
		d, err := p.number()
		if err != nil {
			return nil, err
		}
		return &msName{kind: nmDiscriminator, num: d}, nil
	}
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	n := &msName{kind: nmSimple, s: s}
	p.memorizeName(n)
	return n, nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (p *msParser) unqualifiedName(function bool) (*msName, error) {
	if d, ok := p.digit(); ok {
		if int(d) >= len(p.names) {
			return nil, errMSVC
		}
		return p.names[d], nil
	}
	if p.consume("?$") {
		n, err := p.templateName()
		if err != nil {
			return nil, err
		}
		if !function {
			p.memorizeName(n)
		}
		return n, nil
	}
	if p.consume("?") {
		return p.specialName()
	}
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	n := &msName{kind: nmSimple, s: s}
	p.memorizeName(n)
	return n, nil
}

func (p *msParser) scope() ([]*msName, error) {
	var names []*msName
	for !p.consume("@") {
		if p.pos >= len(p.in) {
			return nil, errMSVC
		}
		n, err := p.nestedName()
		if err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, nil
}

func (p *msParser) readName(function bool) (*msSymbol, error) {
	n, err := p.unqualifiedName(function)
	if err != nil {
		return nil, err
	}
	s, err := p.scope()
	if err != nil {
		return nil, err
	}
	return &msSymbol{n, s}, nil
}

// funcQualifiers reads the qualifiers of a member function's this.
func (p *msParser) funcQualifiers() int {
	q := 0
	if p.consume("E") {
		q |= scPtr64
	}
	if p.consume("I") {
		q |= scRestrict
	}
	if p.consume("F") {
		q |= scUnaligned
	}
	switch p.peek() {
	case 'G':
		p.pos++
		q |= scLValue
	case 'H':
		p.pos++
		q |= scRValue
	}
	return q | p.qualifier()
}

func (p *msParser) funcType(qualifiers bool) (*msType, error) {
	this := 0
	if qualifiers {
		this = p.funcQualifiers()
	}
	if _, err := p.callingConv(); err != nil {
		return nil, err
	}
	sc := 0
	if p.consume("?") {
		sc = p.storageClass()
	}
	ret, err := p.varType(sc)
	if err != nil {
		return nil, err
	}
	params, err := p.funcParams()
	if err != nil {
		return nil, err
	}
	return &msType{kind: tyNonMemberFunction, params: params, inner: ret, sc: this}, nil
}

var msOperators = map[byte]string{
	'2': "operator new", '3': "operator delete", '4': "operator=", '5': "operator>>", '6': "operator<<",
	'7': "operator!", '8': "operator==", '9': "operator!=", 'A': "operator[]", 'C': "operator->",
	'D': "operator*", 'E': "operator++", 'F': "operator--", 'G': "operator-", 'H': "operator+",
	'I': "operator&", 'J': "operator->*", 'K': "operator/", 'L': "operator%", 'M': "operator<",
	'N': "operator<=", 'O': "operator>", 'P': "operator>=", 'Q': "operator,", 'R': "operator()",
	'S': "operator~", 'T': "operator^", 'U': "operator|", 'V': "operator&&", 'W': "operator||",
	'X': "operator*=", 'Y': "operator+=", 'Z': "operator-=",
}

var msOperators2 = map[byte]string{
	'0': "operator/=", '1': "operator%=", '2': "operator>>=", '3': "operator<<=", '4': "operator&=",
	'5': "operator|=", '6': "operator^=", '7': "`vftable'", '9': "`vcall'", 'A': "`typeof'",
	'C': "`string'", 'D': "`vbase destructor'", 'E': "`vector deleting destructor'",
	'F': "`default constructor closure'", 'G': "`scalar deleting destructor'",
	'H': "`vector constructor iterator'", 'I': "`vector destructor iterator'",
	'J': "`vector vbase constructor iterator'", 'K': "`virtual displacement map'",
	'L': "`eh vector constructor iterator'", 'M': "`eh vector destructor iterator'",
	'N': "`eh vector vbase constructor iterator'", 'O': "`copy constructor closure'",
	'S': "`local vftable'", 'T': "`local vftable constructor closure'", 'U': "operator new[]",
	'V': "operator delete[]", 'X': "`placement delete closure'", 'Y': "`placement delete[] closure'",
}

func (p *msParser) specialName() (*msName, error) {
	c, err := p.get()
	if err != nil {
		return nil, err
	}
	switch c {
	case '0':
		return &msName{kind: nmOperator, op: opCtor}, nil
	case '1':
		return &msName{kind: nmOperator, op: opDtor}, nil
	case 'B':
		return &msName{kind: nmOperator, op: opConversion, s: "operatorcast"}, nil
	case '_':
		c2, err := p.get()
		if err != nil {
			return nil, err
		}
		switch c2 {
		case '8':
			return &msName{kind: nmOperator, op: opVBTable, s: "`vbtable'"}, nil
		case 'B':
			return &msName{kind: nmOperator, op: opLocalStaticGuard}, nil
		case 'R':
			c3, err := p.get()
			if err != nil {
				return nil, err
			}
			switch c3 {
			case '0':
				if err := p.expect("?"); err != nil {
					return nil, err
				}
				sc := p.storageClass()
				t, err := p.varType(sc)
				if err != nil {
					return nil, err
				}
				return &msName{kind: nmOperator, op: opRTTITypeDescriptor, typ: t}, nil
			case '1':
				var nums []int32
				for i := 0; i < 4; i++ {
					n, err := p.number()
					if err != nil {
						return nil, err
					}
					nums = append(nums, n)
				}
				return &msName{kind: nmOperator, op: opRTTIBaseClassDescriptor, opNum: nums}, nil
			case '2':
				return &msName{kind: nmOperator, op: opText, s: "`RTTI Base Class Array'"}, nil
			case '3':
				return &msName{kind: nmOperator, op: opText, s: "`RTTI Class Hierarchy Descriptor'"}, nil
			case '4':
				return &msName{kind: nmOperator, op: opText, s: "`RTTI Complete Object Locator'"}, nil
			}
			return nil, errMSVC
		case '_':
			switch {
			case p.consume("L"):
				return &msName{kind: nmOperator, op: opText, s: " co_await"}, nil
			case p.consume("E"):
				return &msName{kind: nmOperator, op: opText, s: "`dynamic initializer'"}, nil
			case p.consume("F"):
				return &msName{kind: nmOperator, op: opText, s: "`dynamic atexit destructor'"}, nil
			case p.consume("J"):
				return &msName{kind: nmOperator, op: opLocalStaticThreadGuard}, nil
			case p.consume("K"):
				return &msName{kind: nmOperator, op: opLiteral, s: "operator \"\""}, nil
			}
			return nil, errMSVC
		}
		if s, ok := msOperators2[c2]; ok {
			return &msName{kind: nmOperator, op: opText, s: s}, nil
		}
		return nil, errMSVC
	}
	if s, ok := msOperators[c]; ok {
		return &msName{kind: nmOperator, op: opText, s: s}, nil
	}
	return nil, errMSVC
}

func (p *msParser) funcClass(c byte) (int, error) {
	thunk := func(fc int) (int, error) {
		if _, err := p.number(); err != nil {
			return 0, err
		}
		return fc | fcThunk, nil
	}
	switch c {
	case 'A':
		return fcPrivate, nil
	case 'B':
		return fcPrivate | fcFar, nil
	case 'C', 'D':
		return fcPrivate | fcStatic, nil
	case 'E', 'F':
		return fcPrivate | fcVirtual, nil
	case 'G':
		return thunk(fcPrivate | fcVirtual)
	case 'H':
		return thunk(fcPrivate | fcVirtual | fcFar)
	case 'I':
		return fcProtected, nil
	case 'J':
		return fcProtected | fcFar, nil
	case 'K':
		return fcProtected | fcStatic, nil
	case 'L':
		return fcProtected | fcStatic | fcFar, nil
	case 'M':
		return fcProtected | fcVirtual, nil
	case 'N':
		return fcProtected | fcVirtual | fcFar, nil
	case 'O':
		return thunk(fcProtected | fcVirtual)
	case 'P':
		return thunk(fcProtected | fcVirtual | fcFar)
	case 'Q':
		return fcPublic, nil
	case 'R':
		return fcPublic | fcFar, nil
	case 'S':
		return fcPublic | fcStatic, nil
	case 'T':
		return fcPublic | fcStatic | fcFar, nil
	case 'U':
		return fcPublic | fcVirtual, nil
	case 'V':
		return fcPublic | fcVirtual | fcFar, nil
	case 'W':
		return thunk(fcPublic | fcVirtual)
	case 'X':
		return thunk(fcPublic | fcVirtual | fcFar)
	case 'Y':
		return fcGlobal, nil
	case 'Z':
		return fcGlobal | fcFar, nil
	}
	return 0, errMSVC
}

func (p *msParser) qualifier() int {
	var q int
	switch p.peek() {
	case 'A', 'Q':
	case 'B', 'R':
		q = scConst
	case 'C', 'S':
		q = scVolatile
	case 'D', 'T':
		q = scConst | scVolatile
	default:
		return 0
	}
	p.pos++
	return q
}

func (p *msParser) callingConv() (byte, error) {
	c, err := p.get()
	if err != nil {
		return 0, err
	}
	switch c {
	case 'A', 'B', 'C', 'E', 'G', 'I':
		return c, nil
	}
	return 0, errMSVC
}

func (p *msParser) returnType(sc int) (*msType, error) {
	if p.consume("@") {
		return &msType{kind: tyNone}, nil
	}
	return p.varType(sc)
}

func (p *msParser) storageClass() int {
	var sc int
	switch p.peek() {
	case 'A', 'Q':
	case 'B', 'R':
		sc = scConst
	case 'C', 'S':
		sc = scVolatile
	case 'D', 'T':
		sc = scConst | scVolatile
	case 'E':
		sc = scFar
	case 'F':
		sc = scConst | scFar
	case 'G':
		sc = scVolatile | scFar
	case 'H':
		sc = scConst | scVolatile | scFar
	default:
		return 0
	}
	p.pos++
	return sc
}

func (p *msParser) storageClassForReturn() (int, error) {
	if !p.consume("?") {
		return 0, nil
	}
	c, err := p.get()
	if err != nil {
		return 0, err
	}
	switch c {
	case 'A':
		return 0, nil
	case 'B':
		return scConst, nil
	case 'C':
		return scVolatile, nil
	case 'D':
		return scConst | scVolatile, nil
	}
	return 0, errMSVC
}

func (p *msParser) memberFunctionPointer(readQualifiers bool) (*msType, error) {
	sym, err := p.readName(true)
	if err != nil {
		return nil, err
	}
	ptr64 := 0
	if p.consume("E") {
		ptr64 = scPtr64
	}
	var access, fc int
	if readQualifiers {
		access = p.qualifier() | ptr64
	} else {
		c, err := p.get()
		if err != nil {
			return nil, err
		}
		access = ptr64
		if fc, err = p.funcClass(c); err != nil {
			return nil, err
		}
	}
	if _, err := p.callingConv(); err != nil {
		return nil, err
	}
	rsc, err := p.storageClassForReturn()
	if err != nil {
		return nil, err
	}
	ret, err := p.returnType(rsc)
	if err != nil {
		return nil, err
	}
	params, err := p.funcParams()
	if err != nil {
		return nil, err
	}
	return &msType{kind: tyMemberFunctionPointer, sym: sym, fc: fc, params: params, sc: access, inner: ret}, nil
}

var msPrimitives = map[byte]string{
	'X': "void", 'D': "char", 'C': "signed char", 'E': "unsigned char", 'F': "short",
	'G': "unsigned short", 'H': "int", 'I': "unsigned int", 'J': "long", 'K': "unsigned long",
	'M': "float", 'N': "double", 'O': "long double",
}

var msPrimitives2 = map[byte]string{
	'N': "bool", 'J': "int64_t", 'K': "uint64_t", 'L': "int128_t", 'M': "uint128_t", 'W': "wchar_t", 'Q': "char8_t", 'S': "char16_t", 'U': "char32_t",
}

func (p *msParser) varType(sc int) (*msType, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.consume("W4") {
		sym, err := p.readName(false)
		if err != nil {
			return nil, err
		}
		return &msType{kind: tyClass, sym: sym, sc: sc}, nil
	}
	if p.consume("A6") {
		ft, err := p.funcType(false)
		if err != nil {
			return nil, err
		}
		return &msType{kind: tyRef, inner: ft, sc: sc}, nil
	}
	if p.consume("P6") {
		ft, err := p.funcType(false)
		if err != nil {
			return nil, err
		}
		return &msType{kind: tyPtr, inner: ft, sc: sc}, nil
	}
	if p.consume("P8") {
		return p.memberFunctionPointer(true)
	}
	if p.consume("$") {
		switch {
		case p.consume("0"):
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			return &msType{kind: tyConstant, num: n}, nil
		case p.consume("D"):
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			return &msType{kind: tyTemplateParam, num: n}, nil
		case p.consume("$BY"):
			return p.array()
		case p.consume("$Q"):
			t, err := p.pointee()
			if err != nil {
				return nil, err
			}
			return &msType{kind: tyRValueRef, inner: t, sc: sc}, nil
		case p.consume("S"), p.consume("$V"), p.consume("$Z"), p.consume("$$V"):
			return &msType{kind: tyEmptyPack}, nil
		case p.consume("$T"):
			return &msType{kind: tyNullptr}, nil
		case p.consume("$A6"):
			return p.funcType(false)
		case p.consume("$A8@@"):
			return p.funcType(true)
		case p.consume("$Y"):
			sym, err := p.readName(true)
			if err != nil {
				return nil, err
			}
			return &msType{kind: tyAlias, sym: sym, sc: sc}, nil
		}
		if p.consume("$C") {
			sc = p.qualifier()
		} else {
			switch p.peek() {
			case '1', 'H', 'I', 'J':
				p.pos++
				if err := p.expect("?"); err != nil {
					return nil, err
				}
				return p.memberFunctionPointer(false)
			}
		}
	}
	if p.consume("?") {
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		return &msType{kind: tyTemplateParam, num: -n}, nil
	}
	if d, ok := p.digit(); ok {
		if int(d) >= len(p.types) {
			return nil, errMSVC
		}
		return p.types[d], nil
	}
	c, err := p.get()
	if err != nil {
		return nil, err
	}
	switch c {
	case 'T', 'U', 'V':
		sym, err := p.readName(false)
		if err != nil {
			return nil, err
		}
		return &msType{kind: tyClass, sym: sym, sc: sc}, nil
	case 'A', 'B':
		t, err := p.pointee()
		if err != nil {
			return nil, err
		}
		if c == 'B' {
			sc = scVolatile
		}
		return &msType{kind: tyRef, inner: t, sc: sc}, nil
	case 'P', 'Q', 'R', 'S':
		t, err := p.pointee()
		if err != nil {
			return nil, err
		}
		switch c {
		case 'Q':
			sc = scConst
		case 'R':
			sc = scVolatile
		case 'S':
			sc = scConst | scVolatile
		}
		return &msType{kind: tyPtr, inner: t, sc: sc}, nil
	case 'Y':
		return p.array()
	case '_':
		c2, err := p.get()
		if err != nil {
			return nil, err
		}
		if s, ok := msPrimitives2[c2]; ok {
			return &msType{kind: tyPrimitive, prim: s, sc: sc}, nil
		}
		return nil, errMSVC
	}
	if s, ok := msPrimitives[c]; ok {
		return &msType{kind: tyPrimitive, prim: s, sc: sc}, nil
	}
	return nil, errMSVC
}

func (p *msParser) pointee() (*msType, error) {
	ptr64 := 0
	if p.consume("E") {
		ptr64 = scPtr64
	}
	sc := p.storageClass()
	return p.varType(sc | ptr64)
}

func (p *msParser) array() (*msType, error) {
	dims, err := p.number()
	if err != nil {
		return nil, err
	}
	if dims <= 0 || dims > msMaxDepth {
		return nil, errMSVC
	}
	t, _, err := p.nestedArray(dims)
	return t, err
}

func (p *msParser) nestedArray(dims int32) (*msType, int, error) {
	if dims > 0 {
		n, err := p.number()
		if err != nil {
			return nil, 0, err
		}
		inner, sc, err := p.nestedArray(dims - 1)
		if err != nil {
			return nil, 0, err
		}
		return &msType{kind: tyArray, num: n, inner: inner, sc: sc}, sc, nil
	}
	sc := 0
	if p.consume("$$C") {
		switch {
		case p.consume("B"):
			sc = scConst
		case p.consume("C"), p.consume("D"):
			sc = scConst | scVolatile
		case p.consume("A"):
		default:
			return nil, 0, errMSVC
		}
	}
	t, err := p.varType(0)
	return t, sc, err
}

func (p *msParser) params() ([]*msType, error) {
	var out []*msType
	for r := p.rest(); r != "" && r[0] != '@' && r[0] != 'Z'; r = p.rest() {
		if d, ok := p.digit(); ok {
			if int(d) >= len(p.types) {
				return nil, errMSVC
			}
			out = append(out, p.types[d])
			continue
		}
		before := p.pos
		t, err := p.varType(0)
		if err != nil {
			return nil, err
		}
		if p.pos-before > 1 {
			p.memorizeType(t)
		}
		out = append(out, t)
		if len(out) > 4096 {
			return nil, errMSVC
		}
	}
	switch {
	case p.consume("Z"):
		out = append(out, &msType{kind: tyVarArgs})
	case p.pos >= len(p.in):
	default:
		if err := p.expect("@"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *msParser) funcParams() ([]*msType, error) {
	var out []*msType
	if p.consume("X") {
		out = []*msType{{kind: tyPrimitive, prim: "void"}}
	} else {
		var err error
		if out, err = p.params(); err != nil {
			return nil, err
		}
	}
	return out, p.expect("Z")
}

// nameID and typeID give structural identities for the back-reference
// tables, which never hold two equal entries. Equal structures get equal
// numbers; a node's number is made from its fields and its children's
// numbers, so that shared subtrees are looked at once.
func (p *msParser) nameID(n *msName) int {
	if n == nil {
		return 0
	}
	if n.id == 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "N%d:%q:%d:%v:%d:%d:%d:%d(", n.kind, n.s, n.op, n.opNum, n.num, p.nameID(n.tmpl), p.typeID(n.typ), p.resultID(n.parsed))
		for _, t := range n.params {
			fmt.Fprintf(&b, "%d,", p.typeID(t))
		}
		n.id = p.intern(b.String())
	}
	return n.id
}

func (p *msParser) resultID(r *msResult) int {
	if r == nil {
		return 0
	}
	return p.intern(fmt.Sprintf("R%d:%d", p.symID(r.sym), p.typeID(r.typ)))
}

func (p *msParser) symID(s *msSymbol) int {
	if s == nil {
		return 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "S%d", p.nameID(s.name))
	for _, n := range s.scope {
		fmt.Fprintf(&b, "@%d", p.nameID(n))
	}
	return p.intern(b.String())
}

func (p *msParser) typeID(t *msType) int {
	if t == nil {
		return 0
	}
	if t.id == 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "T%d:%d:%d:%d:%q:%d:%d(", t.kind, t.sc, t.fc, t.num, t.prim, p.typeID(t.inner), p.symID(t.sym))
		for _, x := range t.params {
			fmt.Fprintf(&b, "%d,", p.typeID(x))
		}
		for _, n := range t.scope {
			fmt.Fprintf(&b, "@%d", p.nameID(n))
		}
		t.id = p.intern(b.String())
	}
	return t.id
}

func (p *msParser) intern(k string) int {
	if p.ids == nil {
		p.ids = map[string]int{}
	}
	id, ok := p.ids[k]
	if !ok {
		id = len(p.ids) + 1
		p.ids[k] = id
	}
	return id
}

// msWriter turns a parsed name into text. Like C declarations, types are
// written in two halves around the name: pre (return type, pointee) and
// post (parameter lists, array bounds).
type msWriter struct {
	sb    strings.Builder
	err   error
	depth int
	steps int // nodes visited: back-references make the tree a DAG, so bound the walk
}

func (w *msWriter) write(s string) {
	if w.err != nil {
		return
	}
	if w.sb.Len()+len(s) > maxNameLen {
		w.err = errTooLong
		return
	}
	w.sb.WriteString(s)
}

func (w *msWriter) last() byte {
	s := w.sb.String()
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// space writes a blank after a word, a sigil or a closing bracket.
func (w *msWriter) space() {
	if c := w.last(); isAlpha(c) || c == '*' || c == '&' || c == '>' || c == ')' {
		w.write(" ")
	}
}

func (w *msWriter) spacePre() {
	if c := w.last(); isAlpha(c) || c == '&' || c == '>' || c == ')' {
		w.write(" ")
	}
}

func (w *msWriter) enter() bool {
	w.depth++
	w.steps++
	if w.err == nil && (w.depth > 4*msMaxDepth || w.steps > 1<<14) {
		w.err = errTooLong
	}
	return w.err == nil
}

func (w *msWriter) serialize(r *msResult) {
	if !w.enter() {
		return
	}
	defer func() { w.depth-- }()
	// NO_FUNCTION_RETURNS: the symbol type's first half (access, return
	// type, calling convention) is not written.
	w.name(r.sym, r.typ)
	w.post(r.typ)
}

// callingConv writes nothing but the blank before where MSVC's keyword
// would go (NO_MS_KEYWORDS).
func (w *msWriter) callingConv() {
	if c := w.last(); c != ' ' && c != '(' {
		w.write(" ")
	}
}

func (w *msWriter) pre(t *msType) {
	if !w.enter() {
		return
	}
	defer func() { w.depth-- }()
	var sc int
	switch t.kind {
	case tyNone, tyEmptyPack, tyRTTI, tyConstantString:
		return
	case tyMemberFunction:
		if t.fc&fcThunk != 0 {
			w.write("[thunk]: ")
		}
		switch {
		case t.fc&fcPrivate != 0:
			w.write("private: ")
		case t.fc&fcProtected != 0:
			w.write("protected: ")
		case t.fc&fcPublic != 0:
			w.write("public: ")
		}
		if t.fc&fcStatic != 0 {
			w.write("static ")
		}
		if t.fc&fcVirtual != 0 {
			w.write("virtual ")
		}
		w.pre(t.inner)
		w.callingConv()
		return
	case tyMemberFunctionPointer:
		w.pre(t.inner)
		w.space()
		w.write("(")
		w.callingConv()
		w.space()
		w.space()
		w.name(t.sym, nil)
		w.write("::*")
		return
	case tyNonMemberFunction:
		w.pre(t.inner)
		w.callingConv()
		return
	case tyVCallThunk:
		w.write("[thunk]: ")
		w.callingConv()
		return
	case tyVBTable, tyVFTable:
		sc = t.sc
	case tyTemplateParam:
		w.write("`template-parameter" + strconv.Itoa(int(t.num)) + "'")
		return
	case tyThreadSafeStaticGuard:
		w.write("TSS" + strconv.Itoa(int(t.num)))
		return
	case tyConstant:
		w.write(strconv.Itoa(int(t.num)))
		return
	case tyVarArgs:
		w.write("...")
		return
	case tyPtr, tyRef, tyRValueRef:
		switch t.inner.kind {
		case tyMemberFunction, tyNonMemberFunction:
			w.pre(t.inner.inner)
			w.space()
			w.write("(")
			w.callingConv()
		case tyArray:
			w.pre(t.inner)
			w.space()
			w.write("(")
		default:
			w.pre(t.inner)
		}
		// HUG_TYPE: the sigil follows the type without a blank.
		switch t.kind {
		case tyPtr:
			w.write("*")
		case tyRef:
			w.write("&")
		default:
			w.write("&&")
		}
		sc = t.sc
	case tyArray:
		w.pre(t.inner)
		sc = t.sc
	case tyVar:
		switch t.num {
		case 0:
			w.write("private: static ")
		case 1:
			w.write("protected: static ")
		case 2:
			w.write("public: static ")
		}
		w.pre(t.inner)
		sc = t.sc
	case tyClass, tyAlias:
		w.name(t.sym, nil)
		sc = t.sc
	case tyPrimitive:
		w.write(t.prim)
		sc = t.sc
	case tyNullptr:
		w.write("std::nullptr_t")
		return
	}
	if sc&scConst != 0 {
		w.space()
		w.write("const")
	}
	if sc&scVolatile != 0 {
		w.space()
		w.write("volatile")
	}
}

func (w *msWriter) memfnQualifiers(sc int) {
	for _, q := range []struct {
		bit int
		s   string
	}{{scConst, "const"}, {scVolatile, "volatile"}, {scRestrict, "__restrict"}, {scLValue, "&"}, {scRValue, "&&"}} {
		if sc&q.bit != 0 {
			w.space()
			w.write(q.s)
		}
	}
}

func (w *msWriter) post(t *msType) {
	if !w.enter() {
		return
	}
	defer func() { w.depth-- }()
	switch t.kind {
	case tyMemberFunction, tyNonMemberFunction:
		w.write("(")
		w.types(t.params)
		w.write(")")
		w.memfnQualifiers(t.sc)
		w.post(t.inner)
	case tyMemberFunctionPointer:
		w.write(")(")
		w.types(t.params)
		w.write(")")
		w.post(t.inner)
		if t.sc&scConst != 0 {
			w.space()
			w.write("const")
		}
	case tyVBTable:
		w.scope(t.scope)
		w.write("'}")
	case tyPtr, tyRef:
		switch t.inner.kind {
		case tyMemberFunction, tyNonMemberFunction, tyArray:
			w.write(")")
		}
		w.post(t.inner)
	case tyArray:
		w.write("[" + strconv.Itoa(int(t.num)) + "]")
		w.post(t.inner)
	case tyVar:
		w.post(t.inner)
	case tyVFTable:
		if len(t.scope) > 0 {
			w.write("{for `")
			w.scope(t.scope)
			w.write("'}")
		}
	case tyVCallThunk:
		w.write("{" + strconv.Itoa(int(t.num)) + ", {flat}}")
	}
}

func (w *msWriter) types(ts []*msType) {
	i := 0
	for _, t := range ts {
		if t.kind == tyEmptyPack {
			continue
		}
		if i > 0 {
			w.write(", ")
		}
		i++
		w.pre(t)
		w.post(t)
	}
}

func (w *msWriter) operatorName(n *msName) {
	switch n.op {
	case opCtor:
		w.write("ctor")
	case opDtor:
		w.write("dtor")
	case opLocalStaticGuard, opLocalStaticThreadGuard:
		if n.op == opLocalStaticGuard {
			w.write("`local static guard'")
		} else {
			w.write("`local static thread guard'")
		}
		if len(n.opNum) > 0 {
			w.write("{" + strconv.Itoa(int(n.opNum[0])) + "}")
		}
	case opRTTITypeDescriptor:
		w.pre(n.typ)
		w.write("::`RTTI Type Descriptor'")
	case opRTTIBaseClassDescriptor:
		w.write(fmt.Sprintf("`RTTI Base Class Descriptor at (%d, %d, %d, %d)'", n.opNum[0], n.opNum[1], n.opNum[2], n.opNum[3]))
	default:
		w.write(n.s)
	}
}

func (w *msWriter) oneName(n *msName) {
	if !w.enter() {
		return
	}
	defer func() { w.depth-- }()
	switch n.kind {
	case nmOperator:
		w.space()
		w.operatorName(n)
	case nmSimple:
		w.write(n.s)
	case nmTemplate:
		w.oneName(n.tmpl)
		w.templateParams(n.params)
	case nmDiscriminator:
		w.write("`" + strconv.Itoa(int(n.num)) + "'")
	case nmParsed:
		w.write("`")
		w.serialize(n.parsed)
		w.write("'")
	case nmAnon:
		w.write("`anonymous namespace'")
	case nmInterface:
		w.write("[" + n.s + "]")
	case nmMD5:
		w.write("??@" + n.s + "@")
	}
}

func (w *msWriter) scope(names []*msName) {
	for i := len(names) - 1; i >= 0; i-- {
		w.oneName(names[i])
		if i > 0 {
			w.write("::")
		}
	}
}

func (w *msWriter) name(s *msSymbol, t *msType) {
	w.spacePre()
	literal := false
	if s.name.kind == nmOperator && s.name.op == opLiteral {
		w.space()
		w.write(s.name.s)
		literal = true
	}
	w.scope(s.scope)
	if len(s.scope) > 0 && !literal {
		w.write("::")
	}
	n := s.name
	switch n.kind {
	case nmOperator:
		switch n.op {
		case opCtor:
			if len(s.scope) == 0 {
				w.write("[invalid]")
				return
			}
			w.oneName(s.scope[0])
		case opDtor:
			if len(s.scope) == 0 {
				w.write("[invalid]")
				return
			}
			w.write("~")
			w.oneName(s.scope[0])
		case opVBTable:
			w.write("`vbtable'{for `")
		case opConversion:
			if t != nil && t.kind == tyMemberFunction {
				w.write("operator ")
				w.pre(t.inner)
				w.post(t.inner)
			} else {
				w.space()
				w.operatorName(n)
			}
		case opLiteral:
		default:
			w.space()
			w.operatorName(n)
		}
	case nmSimple:
		w.write(n.s)
	case nmTemplate:
		w.oneName(n.tmpl)
		w.templateParams(n.params)
	case nmDiscriminator:
		w.write("`" + strconv.Itoa(int(n.num)) + "'")
	case nmParsed:
		w.serialize(n.parsed)
	case nmInterface:
		w.write("[" + n.s + "]")
	case nmMD5:
		w.write("??@" + n.s + "@")
	case nmAnon:
		// Not produced by the parser for a symbol's own name.
	}
}

func (w *msWriter) templateParams(ps []*msType) {
	w.write("<")
	if len(ps) > 0 {
		w.types(ps)
		if w.last() == '>' {
			w.write(" ")
		}
	}
	w.write(">")
}
