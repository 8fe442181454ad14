package pdb

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// typeStream is the TPI or IPI stream: type (or id) records numbered from
// a first index, usually 0x1000.
type typeStream struct {
	data  []byte   // the records
	begin uint32   // index of the first record
	offs  []uint32 // offset of each record in data
}

// Leaf kinds read here.
const (
	lfModifier   = 0x1001
	lfPointer    = 0x1002
	lfProcedure  = 0x1008
	lfMFunction  = 0x1009
	lfArgList    = 0x1201
	lfArray      = 0x1503
	lfClass      = 0x1504
	lfStructure  = 0x1505
	lfUnion      = 0x1506
	lfEnum       = 0x1507
	lfInterface  = 0x1519
	lfFuncID     = 0x1601
	lfMFuncID    = 0x1602
	lfStringID   = 0x1605
	lfSubstrList = 0x1604
)

func parseTypeStream(b []byte, what string) (*typeStream, error) {
	c := cursor{b: b}
	_ = c.u32() // version
	hdr := c.u32()
	begin := c.u32()
	end := c.u32()
	size := c.u32()
	if c.err != nil {
		return nil, malformed(what, c.err)
	}
	if hdr < 56 || uint64(hdr) > uint64(len(b)) || uint64(size) > uint64(len(b))-uint64(hdr) {
		return nil, malformedf(what, "header of %d bytes and %d bytes of records do not fit in %d bytes", hdr, size, len(b))
	}
	if end < begin {
		return nil, malformedf(what, "type indices %#x to %#x run backwards", begin, end)
	}
	t := &typeStream{data: b[hdr : hdr+size], begin: begin}
	// Each record takes at least 4 bytes, which bounds the index.
	n := uint64(end - begin)
	if max := uint64(size) / 4; n > max {
		n = max
	}
	t.offs = make([]uint32, 0, n)
	for off := 0; off+4 <= len(t.data) && uint64(len(t.offs)) < uint64(end-begin); {
		l, _ := u16at(t.data, off)
		if l < 2 || off+2+int(l) > len(t.data) {
			return nil, malformedf(what, "record %#x at offset %d has length %d, %d bytes left", begin+uint32(len(t.offs)), off, l, len(t.data)-off-2)
		}
		t.offs = append(t.offs, uint32(off))
		off += 2 + int(l)
	}
	return t, nil
}

// record returns the kind and contents of record ti.
func (t *typeStream) record(ti uint32) (kind uint16, body []byte, ok bool) {
	if t == nil || ti < t.begin || uint64(ti-t.begin) >= uint64(len(t.offs)) {
		return 0, nil, false
	}
	off := int(t.offs[ti-t.begin])
	l, _ := u16at(t.data, off)
	kind, _ = u16at(t.data, off+2)
	return kind, t.data[off+4 : off+2+int(l)], true
}

// nameFormatter rebuilds function signatures from type records the way
// pdb-addr2line's TypeFormatter does with its default flags (no return
// type, no "static", a space after commas, class names without "class"),
// which is what symbolic names PDB functions with.
type nameFormatter struct {
	tpi, ipi *typeStream
	defs     *definitions
	ptrSize  uint64
	sb       strings.Builder
	depth    int
	steps    int // records visited, bounded: records may refer to each other many times over
	err      error
}

// errTooLong stops formatting a name that would not fit maxNameLen.
var errTooLong = fmt.Errorf("name longer than %d bytes", maxNameLen)

func (f *nameFormatter) w(s string) {
	if f.err != nil {
		return
	}
	if f.sb.Len()+len(s) > maxNameLen {
		f.err = errTooLong
		return
	}
	f.sb.WriteString(s)
}

func (f *nameFormatter) failf(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// function formats a procedure's name with the parameters of its type
// (an LF_PROCEDURE or LF_MFUNCTION); with type 0 or a type of another kind
// the name is returned as it is. A type that cannot be read gives the name
// as it is too, as symbolic falls back to it.
func (f *nameFormatter) function(name string, ti uint32) string {
	if ti == 0 {
		return nameOrOmitted(name)
	}
	f.sb.Reset()
	f.err, f.steps = nil, 0
	kind, body, ok := f.tpi.record(ti)
	if !ok {
		return name
	}
	switch kind {
	case lfMFunction:
		f.w(nameOrOmitted(name))
		f.methodArgs(body, true)
	case lfProcedure:
		f.w(nameOrOmitted(name))
		c := cursor{b: body}
		c.skip(4 + 1 + 1 + 2)
		args := c.u32()
		if c.err != nil {
			return name
		}
		f.w("(")
		f.typeIndex(args)
		f.w(")")
	default:
		return name
	}
	if f.err != nil {
		return name
	}
	return f.sb.String()
}

// id formats an inlinee's LF_FUNC_ID or LF_MFUNC_ID record: scope or
// class, name and parameters.
func (f *nameFormatter) id(id uint32) (string, error) {
	f.sb.Reset()
	f.err, f.steps = nil, 0
	f.emitID(id)
	if f.err != nil {
		return "", f.err
	}
	return f.sb.String(), nil
}

func nameOrOmitted(name string) string {
	if name == "" {
		return "<name omitted>"
	}
	return name
}

func (f *nameFormatter) enter() bool {
	f.steps++
	switch {
	case f.err != nil:
		return false
	case f.depth >= maxTypeDepth:
		f.failf("types nested deeper than %d", maxTypeDepth)
		return false
	case f.steps > maxTypeSteps:
		f.failf("more than %d type records for one name", maxTypeSteps)
		return false
	}
	f.depth++
	return true
}

func (f *nameFormatter) emitID(id uint32) {
	if !f.enter() {
		return
	}
	defer func() { f.depth-- }()
	kind, body, ok := f.ipi.record(id)
	if !ok {
		f.w(fmt.Sprintf("<missing type 0x%x>", id))
		return
	}
	c := cursor{b: body}
	switch kind {
	case lfMFuncID:
		parent, typ := c.u32(), c.u32()
		name := c.cstr()
		tk, tb, ok := f.tpi.record(typ)
		if !ok || tk != lfMFunction {
			f.failf("member function id %#x has type %#x, not a member function", id, typ)
			return
		}
		f.typeIndex(parent)
		f.w("::")
		f.w(nameOrOmitted(name))
		f.methodArgs(tb, true)
	case lfFuncID:
		scope, typ := c.u32(), c.u32()
		name := c.cstr()
		tk, tb, ok := f.tpi.record(typ)
		if !ok || tk != lfProcedure {
			f.failf("function id %#x has type %#x, not a procedure", id, typ)
			return
		}
		if scope != 0 {
			f.emitID(scope)
			f.w("::")
		}
		f.w(nameOrOmitted(name))
		pc := cursor{b: tb}
		pc.skip(8)
		args := pc.u32()
		f.w("(")
		f.typeIndex(args)
		f.w(")")
	case lfStringID:
		c.skip(4)
		name := c.cstr()
		if isAnonymousNamespace(name) {
			f.w("`anonymous namespace'")
		} else {
			f.w(name)
		}
	case lfSubstrList:
		n := c.u32()
		f.w("\"")
		for i := uint32(0); i < n && c.err == nil; i++ {
			if i > 0 {
				f.w("\" \"")
			}
			f.typeIndex(c.u32())
		}
		f.w("\"")
	default:
		f.failf("id %#x is a record of kind %#x", id, kind)
	}
	if c.err != nil {
		f.failf("id %#x: %v", id, c.err)
	}
}

// isAnonymousNamespace recognises the "?A0x<hex>" scope names MSVC gives
// anonymous namespaces.
func isAnonymousNamespace(s string) bool {
	rest, ok := strings.CutPrefix(s, "?A0x")
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.ParseUint(rest, 16, 32)
	return err == nil
}

// methodArgs writes "(args)" for an LF_MFUNCTION body, and " const" for a
// const method when allowConst.
func (f *nameFormatter) methodArgs(body []byte, allowConst bool) {
	c := cursor{b: body}
	_ = c.u32() // return type
	class := c.u32()
	this := c.u32()
	c.skip(1 + 1 + 2)
	args := c.u32()
	if c.err != nil {
		f.failf("member function type: %v", c.err)
		return
	}
	ak, ab, ok := f.tpi.record(args)
	if !ok || ak != lfArgList {
		f.failf("argument list %#x is not an argument list", args)
		return
	}
	isConst, extra := false, uint32(0)
	if this != 0 {
		// A "this" that does not point to the class (Rust associated
		// functions) is the first argument in disguise.
		ptc, constant := f.pointsToClass(this, class)
		if ptc {
			isConst = constant
		} else {
			extra = this
		}
	}
	f.w("(")
	if extra != 0 {
		f.typeIndex(extra)
		f.argList(ab, true)
	} else {
		f.argList(ab, false)
	}
	f.w(")")
	if isConst && allowConst {
		f.w(" const")
	}
}

// pointsToClass reports whether ptr is a pointer to class, and if so
// whether to a const one.
func (f *nameFormatter) pointsToClass(ptr, class uint32) (bool, bool) {
	k, b, ok := f.tpi.record(ptr)
	if !ok || k != lfPointer || len(b) < 4 {
		return false, false
	}
	under, _ := u32at(b, 0)
	if under == class {
		return true, false
	}
	mk, mb, ok := f.tpi.record(under)
	if ok && mk == lfModifier && len(mb) >= 6 {
		if u, _ := u32at(mb, 0); u == class {
			attr, _ := u16at(mb, 4)
			return true, attr&1 != 0
		}
	}
	return false, false
}

func (f *nameFormatter) argList(body []byte, commaFirst bool) {
	c := cursor{b: body}
	n := c.u32()
	if c.err != nil || uint64(n) > uint64(c.left())/4 {
		f.failf("argument list of %d entries in %d bytes", n, len(body))
		return
	}
	for i := uint32(0); i < n && f.err == nil; i++ {
		if i > 0 || commaFirst {
			f.w(", ")
		}
		f.typeIndex(c.u32())
	}
}

func (f *nameFormatter) typeIndex(ti uint32) {
	if f.err != nil {
		return
	}
	if ti < 0x1000 {
		f.primitive(ti, false)
		return
	}
	k, b, ok := f.tpi.record(ti)
	if !ok {
		f.w(fmt.Sprintf("<missing type 0x%x>", ti))
		return
	}
	f.typeRecord(ti, k, b)
}

func (f *nameFormatter) typeRecord(ti uint32, kind uint16, b []byte) {
	if !f.enter() {
		return
	}
	defer func() { f.depth-- }()
	c := cursor{b: b}
	switch kind {
	case lfClass, lfStructure, lfInterface:
		c.skip(2 + 2 + 4 + 4 + 4)
		c.numeric()
		f.w(c.cstr())
	case lfUnion:
		c.skip(2 + 2 + 4)
		c.numeric()
		f.w(c.cstr())
	case lfEnum:
		c.skip(2 + 2 + 4 + 4)
		f.w(c.cstr())
	case lfMFunction:
		// A member function type on its own (not behind a pointer).
		f.w("()")
		f.methodArgs(b, false)
	case lfProcedure:
		c.skip(8)
		args := c.u32()
		f.w("()(")
		f.typeIndex(args)
	case lfArgList:
		f.argList(b, false)
	case lfPointer:
		f.pointer(b, false)
	case lfArray:
		f.array(b)
	case lfModifier:
		under := c.u32()
		attr := c.u16()
		f.modifier(under, attr&1 != 0)
	default:
		f.w(fmt.Sprintf("<unimplemented type kind 0x%x>", kind))
	}
	if c.err != nil {
		f.failf("type %#x: %v", ti, c.err)
	}
}

func (f *nameFormatter) modifier(under uint32, constant bool) {
	if under < 0x1000 {
		f.primitive(under, constant)
		return
	}
	k, b, ok := f.tpi.record(under)
	if !ok {
		f.w(fmt.Sprintf("<missing type 0x%x>", under))
		return
	}
	if k == lfPointer {
		f.pointer(b, constant)
		return
	}
	if constant {
		f.w("const ")
	}
	f.typeRecord(under, k, b)
}

// Pointer modes of LF_POINTER attributes.
const (
	ptrModePointer  = 0
	ptrModeLRef     = 1
	ptrModeMember   = 2
	ptrModeMemberFn = 3
	ptrModeRRef     = 4
)

type ptrAttr struct {
	pointerConst, pointeeConst bool
	mode                       uint32
}

func (f *nameFormatter) pointer(b []byte, isConst bool) {
	under, _ := u32at(b, 0)
	attr, _ := u32at(b, 4)
	attrs := []ptrAttr{{pointerConst: attr&(1<<10) != 0 || isConst, mode: (attr >> 5) & 7}}
	for steps := 0; ; steps++ {
		if steps > maxTypeDepth {
			f.failf("pointers nested deeper than %d", maxTypeDepth)
			return
		}
		if under < 0x1000 {
			f.otherPointer(under, 0, nil, attrs)
			return
		}
		k, rb, ok := f.tpi.record(under)
		if !ok {
			f.w(fmt.Sprintf("<missing type 0x%x>", under))
			return
		}
		switch k {
		case lfPointer:
			a, _ := u32at(rb, 4)
			attrs = append(attrs, ptrAttr{pointerConst: a&(1<<10) != 0, mode: (a >> 5) & 7})
			under, _ = u32at(rb, 0)
			continue
		case lfModifier:
			mu, _ := u32at(rb, 0)
			ma, _ := u16at(rb, 4)
			attrs[len(attrs)-1].pointeeConst = ma&1 != 0
			if mu >= 0x1000 {
				if pk, pb, ok := f.tpi.record(mu); ok && pk == lfPointer {
					a, _ := u32at(pb, 4)
					attrs = append(attrs, ptrAttr{pointerConst: a&(1<<10) != 0, mode: (a >> 5) & 7})
					under, _ = u32at(pb, 0)
					continue
				}
			}
			under = mu
			if under < 0x1000 {
				f.otherPointer(under, 0, nil, attrs)
				return
			}
			if k2, b2, ok := f.tpi.record(under); ok {
				f.pointerTo(under, k2, b2, attrs)
			} else {
				f.w(fmt.Sprintf("<missing type 0x%x>", under))
			}
			return
		default:
			f.pointerTo(under, k, rb, attrs)
			return
		}
	}
}

// pointerTo writes a pointer (chain) to a record that is not a pointer.
func (f *nameFormatter) pointerTo(ti uint32, k uint16, b []byte, attrs []ptrAttr) {
	switch k {
	case lfMFunction:
		// ret (Class::*)(args)
		c := cursor{b: b}
		ret := c.u32()
		class := c.u32()
		_, _ = c.u32(), c.u8()
		fattr := c.u8()
		f.returnType(ret, fattr)
		f.w("(")
		f.typeIndex(class)
		f.attributes(attrs, false, false)
		f.w(")")
		f.methodArgs(b, false)
	case lfProcedure:
		c := cursor{b: b}
		ret := c.u32()
		_ = c.u8()
		fattr := c.u8()
		c.skip(2)
		args := c.u32()
		f.returnType(ret, fattr)
		f.w("(")
		f.attributes(attrs, false, false)
		f.w(")(")
		f.typeIndex(args)
		f.w(")")
	default:
		f.otherPointer(ti, k, b, attrs)
	}
}

func (f *nameFormatter) returnType(ret uint32, funcAttr uint8) {
	const constructor = 0x02
	if funcAttr&constructor == 0 {
		f.typeIndex(ret)
		f.w(" ")
	}
}

func (f *nameFormatter) otherPointer(ti uint32, k uint16, b []byte, attrs []ptrAttr) {
	start := f.sb.Len()
	if ti < 0x1000 {
		f.primitive(ti, false)
	} else {
		f.typeRecord(ti, k, b)
	}
	prevSigil := false
	if s := f.sb.String(); len(s) > start {
		last := s[len(s)-1]
		prevSigil = last == '*' || last == '&'
	}
	f.attributes(attrs, true, prevSigil)
}

// attributes writes the sigils of a pointer chain, innermost first, each
// with the const qualifiers of its pointee and of itself.
func (f *nameFormatter) attributes(attrs []ptrAttr, spaceFirst, prevSigil bool) {
	_ = prevSigil // only matters with a space before pointers, which symbolic does not ask for
	atStart := true
	for i := len(attrs) - 1; i >= 0; i-- {
		a := attrs[i]
		if a.pointeeConst {
			if !atStart || spaceFirst {
				f.w(" ")
			}
			f.w("const")
		}
		atStart = false
		switch a.mode {
		case ptrModePointer:
			f.w("*")
		case ptrModeLRef:
			f.w("&")
		case ptrModeMember, ptrModeMemberFn:
			f.w("::*")
		case ptrModeRRef:
			f.w("&&")
		default:
			f.failf("pointer mode %d is not known", a.mode)
		}
		if a.pointerConst {
			f.w(" const")
		}
	}
}

// array writes "elem[n][m]", the counts derived from the byte sizes the
// records carry.
func (f *nameFormatter) array(b []byte) {
	var dims []uint64
	cur := b
	var base uint32
	for steps := 0; ; steps++ {
		if steps > maxTypeDepth {
			f.failf("arrays nested deeper than %d", maxTypeDepth)
			return
		}
		c := cursor{b: cur}
		elem := c.u32()
		_ = c.u32()
		dims = append(dims, c.numeric())
		if c.err != nil {
			f.failf("array: %v", c.err)
			return
		}
		if elem >= 0x1000 {
			if k, nb, ok := f.tpi.record(elem); ok && k == lfArray {
				cur = nb
				continue
			}
		}
		base = elem
		break
	}
	baseSize := f.typeSize(base, 0)
	f.typeIndex(base)
	for i, d := range dims {
		next := baseSize
		if i+1 < len(dims) {
			next = dims[i+1]
		}
		if next != 0 {
			f.w("[" + strconv.FormatUint(d/next, 10) + "]")
		} else {
			f.w("[]")
		}
	}
}

// typeSize is the size in bytes of a type, as far as array dimensions need
// it; 0 when unknown.
func (f *nameFormatter) typeSize(ti uint32, depth int) uint64 {
	if depth > maxTypeDepth {
		return 0
	}
	if ti < 0x1000 {
		if ti&0x700 != 0 {
			return f.ptrSize
		}
		return primitiveSize(ti & 0xff)
	}
	k, b, ok := f.tpi.record(ti)
	if !ok {
		return 0
	}
	c := cursor{b: b}
	switch k {
	case lfClass, lfStructure, lfInterface:
		c.skip(2)
		prop := c.u16()
		c.skip(12)
		size := c.numeric()
		name := c.cstr()
		unique := ""
		if prop&0x200 != 0 {
			unique = c.cstr()
		}
		if prop&0x80 != 0 { // forward reference: find the definition
			if s, ok := f.definitionSize(ti, k, name, unique); ok {
				return s
			}
		}
		return size
	case lfUnion:
		c.skip(2)
		prop := c.u16()
		c.skip(4)
		size := c.numeric()
		name := c.cstr()
		unique := ""
		if prop&0x200 != 0 {
			unique = c.cstr()
		}
		if prop&0x80 != 0 {
			if s, ok := f.definitionSize(ti, k, name, unique); ok {
				return s
			}
		}
		return size
	case lfPointer:
		a, _ := u32at(b, 4)
		return uint64((a >> 13) & 0x3f)
	case lfMFunction, lfProcedure:
		return f.ptrSize
	case lfArray:
		c.skip(8)
		return c.numeric()
	case lfModifier:
		return f.typeSize(c.u32(), depth+1)
	case lfEnum:
		c.skip(4)
		return f.typeSize(c.u32(), depth+1)
	}
	return 0
}

// definitionSize finds the size of the record that defines a forward
// reference: the one of the same kind and (unique) name without the
// forward-reference flag.
func (f *nameFormatter) definitionSize(_ uint32, kind uint16, name, unique string) (uint64, bool) {
	if f.defs == nil {
		return 0, false
	}
	key := unique
	if key == "" {
		key = name
	}
	size, ok := f.defs.get(f.tpi)[defKey{kind, key}]
	return size, ok
}

type defKey struct {
	kind uint16
	name string
}

// definitions maps the (unique) names of defined classes, structures and
// unions to their sizes. It is built on first use, once per File.
type definitions struct {
	once sync.Once
	m    map[defKey]uint64
}

func (d *definitions) get(tpi *typeStream) map[defKey]uint64 {
	d.once.Do(func() {
		d.m = map[defKey]uint64{}
		if tpi == nil {
			return
		}
		for i := range tpi.offs {
			k, b, _ := tpi.record(tpi.begin + uint32(i))
			if k != lfClass && k != lfStructure && k != lfInterface && k != lfUnion {
				continue
			}
			c := cursor{b: b}
			c.skip(2)
			prop := c.u16()
			if k == lfUnion {
				c.skip(4)
			} else {
				c.skip(12)
			}
			size := c.numeric()
			n := c.cstr()
			u := ""
			if prop&0x200 != 0 {
				u = c.cstr()
			}
			if u == "" {
				u = n
			}
			if c.err != nil || prop&0x80 != 0 {
				continue
			}
			if _, dup := d.m[defKey{k, u}]; !dup {
				d.m[defKey{k, u}] = size
			}
		}
	})
	return d.m
}

func primitiveSize(kind uint32) uint64 {
	switch kind {
	case 0x10, 0x20, 0x70, 0x68, 0x69, 0x30, 0x7c:
		return 1
	case 0x71, 0x7a, 0x11, 0x21, 0x72, 0x73, 0x46, 0x31:
		return 2
	case 0x7b, 0x12, 0x22, 0x74, 0x75, 0x40, 0x45, 0x32, 0x08:
		return 4
	case 0x76, 0x77, 0x13, 0x23, 0x41, 0x50, 0x33:
		return 8
	case 0x78, 0x79, 0x14, 0x24, 0x43, 0x51:
		return 16
	case 0x44:
		return 6
	case 0x42:
		return 10
	case 0x52:
		return 20
	case 0x53:
		return 32
	}
	return 0
}

// primitiveNames are the names pdb-addr2line gives CodeView's built-in
// types.
var primitiveNames = map[uint32]string{
	0x00: "<NoType>", 0x03: "void", 0x08: "HRESULT",
	0x10: "signed char", 0x20: "unsigned char", 0x70: "char", 0x71: "wchar_t",
	0x7a: "char16_t", 0x7b: "char32_t", 0x7c: "char8_t",
	0x68: "int8_t", 0x69: "uint8_t",
	0x11: "short", 0x21: "unsigned short", 0x72: "int16_t", 0x73: "uint16_t",
	0x12: "long", 0x22: "unsigned long", 0x74: "int", 0x75: "unsigned int",
	0x13: "long long", 0x23: "unsigned long long", 0x76: "int64_t", 0x77: "uint64_t",
	0x14: "int128_t", 0x78: "int128_t", 0x24: "uint128_t", 0x79: "uint128_t",
	0x46: "float16_t", 0x40: "float", 0x45: "float", 0x44: "float48_t", 0x41: "double",
	0x42: "long double", 0x43: "long double",
	0x50: "complex<float>", 0x51: "complex<double>", 0x52: "complex<long double>", 0x53: "complex<long double>",
	0x30: "bool", 0x31: "bool16_t", 0x32: "bool32_t", 0x33: "bool64_t",
}

func (f *nameFormatter) primitive(ti uint32, isConst bool) {
	name, ok := primitiveNames[ti&0xff]
	if !ok {
		f.w(fmt.Sprintf("<unimplemented type kind 0x%x>", ti))
		return
	}
	switch {
	case ti&0x700 != 0 && isConst:
		f.w(name + " const*")
	case ti&0x700 != 0:
		f.w(name + "*")
	case isConst:
		f.w("const " + name)
	default:
		f.w(name)
	}
}
