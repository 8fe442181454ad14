// Package wasm reads the parts of a WebAssembly module that symbolication
// needs: its build id, the function bodies and their names, and the custom
// sections that carry DWARF. It only reads, checks every length against the
// input, and never allocates more than the input can describe.
//
// Addresses are file offsets, as Symbolicator uses them: a frame of a wasm
// module carries the offset of its instruction in the module file (what a
// browser prints as `wasm-function[3]:0x8c`). DWARF inside wasm counts
// addresses from the start of the code section's contents instead, so
// Module.CodeOffset is what turns one into the other.
//
// The identifiers are symbolic's: the code id is the build_id section's
// whole payload in lowercase hex, the debug id its first 16 bytes read as a
// UUID (the nil UUID when the payload is shorter). The payload is taken as
// it stands: Sentry's wasm-split writes 16 raw bytes, while LLVM's
// `wasm-ld --build-id` writes a length-prefixed vector, whose length byte
// then becomes part of the identifiers — as it does in Symbolicator.
package wasm

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/symflow/symflow/shared/debugfile"
)

// Limits on what a module may declare. A declared count is also checked
// against the bytes left, so these only bound pathological but well-formed
// input.
const (
	maxFunctions = 1 << 22
	maxImports   = 1 << 20
)

// ErrNotWasm is returned (wrapped) for input without the wasm magic.
var ErrNotWasm = errors.New("not a WebAssembly module")

// FormatError reports a module that cannot be read: Where names the section
// or structure, Offset the file offset at which reading failed.
type FormatError struct {
	Where  string
	Offset int
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wasm: %s at offset 0x%x: %s", e.Where, e.Offset, e.Msg)
}

// Function is a function defined in the module (imports have no body).
type Function struct {
	// Index is the function's index in the module's function index space
	// (imported functions first).
	Index uint32
	// Name comes from the "name" section; empty when the module has none.
	Name string
	// Addr is the file offset of the body's contents (its local
	// declarations), which is where DWARF's DW_AT_low_pc points.
	Addr uint64
	// Size reaches to the next body's Addr, so that the bodies cover the
	// code section without gaps; the last body ends where its bytes do.
	Size uint64
}

// Module is a parsed WebAssembly module.
type Module struct {
	// BuildID is the payload of the build_id custom section, nil without.
	BuildID []byte
	// CodeOffset is the file offset of the code section's contents; 0
	// without a code section (a debug companion).
	CodeOffset uint64
	// Functions are the defined functions in index order.
	Functions []Function
	// Sections holds the custom sections whose names start with ".", the
	// DWARF sections (".debug_info", ...), keyed by that name. The slices
	// alias the input.
	Sections map[string][]byte
	// ExternalDebugInfo and SourceMappingURL are the URLs held by the
	// custom sections of those names (WebAssembly tool conventions,
	// Debugging.md: a LEB128 length and that many UTF-8 bytes): where the
	// module's producer put its debug information, as emscripten's
	// -gseparate-dwarf and Sentry's wasm-split write it.
	//
	// They are read, not followed, as Symbolicator does: symbolic does not
	// look at these sections, and Sentry's browser SDK reports the URL as
	// the module's debug_file, but the companion is looked up by the build
	// id, as a wasm_debug file (<id[:2]>/<id[2:]>.debug in the native
	// layout, <id[:2]>/<id[2:]>/debuginfo in the unified one) on the
	// configured sources. A URL inside an uploaded file is never fetched:
	// it would let a file choose which host the service contacts.
	ExternalDebugInfo string
	SourceMappingURL  string
	// SectionErrors says why an optional custom section (external_debug_info,
	// sourceMappingURL) was set aside: each is a *FormatError naming the
	// section and the offset. Symbolicator reads these modules without
	// looking at those sections, so a broken one costs its URL, not the
	// module.
	SectionErrors []error
	// DefinesFunctions is whether the function section declares any
	// function: a module with code, rather than a debug companion.
	DefinesFunctions bool
}

// CodeID is the build id in lowercase hex, empty without one
// (debugfile.WasmCodeID, the rule debug-file uploads name modules by).
func (m *Module) CodeID() string { return debugfile.WasmCodeID(m.BuildID) }

// DebugID is the first 16 bytes of the build id as a UUID, or the nil UUID
// when there are fewer (debugfile.WasmDebugID).
func (m *Module) DebugID() string { return debugfile.WasmDebugID(m.BuildID) }

// HasDebugInfo is whether the module carries .debug_info.
func (m *Module) HasDebugInfo() bool { return len(m.Sections[".debug_info"]) > 0 }

// HasUnwindInfo is whether the module carries .debug_frame.
func (m *Module) HasUnwindInfo() bool { return len(m.Sections[".debug_frame"]) > 0 }

// Section ids of the core specification.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secCode     = 10
	secMaxID    = 13 // tag section (exception handling)
)

// Parse reads a module. It checks the structure symbolication relies on
// (section bounds and order of the known sections, the import, function,
// code and name sections); it does not validate instructions.
func Parse(data []byte) (*Module, error) {
	if len(data) < 8 || string(data[:4]) != "\x00asm" {
		return nil, fmt.Errorf("wasm: %w", ErrNotWasm)
	}
	if v := uint32(data[4]) | uint32(data[5])<<8 | uint32(data[6])<<16 | uint32(data[7])<<24; v != 1 {
		return nil, &FormatError{Where: "header", Offset: 4, Msg: fmt.Sprintf("version %d, want 1 (a component or a newer format)", v)}
	}
	m := &Module{Sections: map[string][]byte{}}
	var (
		importedFuncs uint32
		declared      = -1 // functions declared by the function section
		names         []nameEntry
		lastID        byte
		seen          [secMaxID + 1]bool
	)
	r := reader{data: data, pos: 8}
	for !r.done() {
		start := r.pos
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, &FormatError{Where: "section header", Offset: start, Msg: r.err.Error()}
		}
		if uint64(size) > uint64(len(data)-r.pos) {
			return nil, &FormatError{Where: sectionName(id), Offset: start, Msg: fmt.Sprintf("size 0x%x runs past the end of the file (0x%x bytes left)", size, len(data)-r.pos)}
		}
		body := reader{data: data[:r.pos+int(size)], pos: r.pos}
		r.pos += int(size)
		if id > secMaxID {
			return nil, &FormatError{Where: "section header", Offset: start, Msg: fmt.Sprintf("unknown section id %d", id)}
		}
		if id != secCustom {
			if seen[id] {
				return nil, &FormatError{Where: sectionName(id), Offset: start, Msg: "section appears twice"}
			}
			seen[id] = true
			if order(id) < order(lastID) {
				return nil, &FormatError{Where: sectionName(id), Offset: start, Msg: "section out of order"}
			}
			lastID = id
		}
		var err error
		switch id {
		case secCustom:
			err = m.custom(&body, &names)
		case secImport:
			importedFuncs, err = readImports(&body)
		case secFunction:
			n := body.count(1)
			for i := uint32(0); i < n && body.err == nil; i++ {
				body.u32() // type index
			}
			declared, err = int(n), body.err
			m.DefinesFunctions = n > 0
		case secCode:
			err = m.code(&body, importedFuncs, declared)
		}
		parsed := id == secImport || id == secFunction || id == secCode
		if err == nil && parsed && body.err == nil && !body.done() {
			err = fmt.Errorf("0x%x bytes left over", len(body.data)-body.pos)
		}
		if err == nil {
			err = body.err
		}
		if err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, &FormatError{Where: sectionName(id), Offset: body.pos, Msg: err.Error()}
		}
	}
	if declared > 0 && len(m.Functions) == 0 && !seen[secCode] {
		return nil, &FormatError{Where: "function section", Offset: len(data), Msg: fmt.Sprintf("declares %d functions but the module has no code section", declared)}
	}
	for _, n := range names {
		if n.index < importedFuncs {
			continue // imports have no body to name
		}
		if i := n.index - importedFuncs; uint64(i) < uint64(len(m.Functions)) {
			m.Functions[i].Name = n.name
		}
	}
	return m, nil
}

// order ranks the known sections in the order the specification requires.
// The data count section (12) comes before code, the tag section (13)
// between memory and global.
func order(id byte) int {
	switch id {
	case 12:
		return 95 // after element (9), before code (10)
	case 13:
		return 55 // after memory (5), before global (6)
	}
	return int(id) * 10
}

func sectionName(id byte) string {
	names := [...]string{"custom section", "type section", "import section", "function section", "table section",
		"memory section", "global section", "export section", "start section", "element section", "code section",
		"data section", "data count section", "tag section"}
	if int(id) < len(names) {
		return names[id]
	}
	return fmt.Sprintf("section %d", id)
}

type nameEntry struct {
	index uint32
	name  string
}

func (m *Module) custom(r *reader, names *[]nameEntry) error {
	name := r.name()
	if r.err != nil {
		return fmt.Errorf("custom section name: %w", r.err)
	}
	at, payload := r.pos, r.data[r.pos:]
	r.pos = len(r.data)
	where := func(err error) error { return fmt.Errorf("custom section %q: %w", name, err) }
	switch {
	case name == "build_id":
		m.BuildID = payload
	case strings.HasPrefix(name, "."):
		if _, dup := m.Sections[name]; dup {
			return where(errors.New("appears twice"))
		}
		m.Sections[name] = payload
	case name == "external_debug_info" || name == "sourceMappingURL":
		u, err := readURL(reader{data: r.data, pos: at})
		dst := &m.ExternalDebugInfo
		if name == "sourceMappingURL" {
			dst = &m.SourceMappingURL
		}
		switch {
		case err != nil:
			m.SectionErrors = append(m.SectionErrors, &FormatError{Where: fmt.Sprintf("custom section %q", name), Offset: at, Msg: err.Error()})
		case *dst != "":
			m.SectionErrors = append(m.SectionErrors, &FormatError{Where: fmt.Sprintf("custom section %q", name), Offset: at, Msg: "appears twice; the first one is kept"})
		default:
			*dst = u
		}
	case name == "name":
		// A broken name section costs the names, not the module: LLVM
		// and browsers treat it as optional too.
		*names = readFunctionNames(payload)
	}
	return nil
}

// readURL reads the payload of an external_debug_info or sourceMappingURL
// section (r covers the section, offsets in the file): one length-prefixed
// UTF-8 string that fills the section and names something.
func readURL(r reader) (string, error) {
	u := r.name()
	switch {
	case r.err != nil:
		return "", fmt.Errorf("URL: %w", r.err)
	case !r.done():
		return "", fmt.Errorf("0x%x bytes after the URL (the payload is a length-prefixed string and nothing else)", len(r.data)-r.pos)
	case u == "":
		return "", errors.New("empty URL")
	}
	return u, nil
}

// readImports counts the imported functions, which come first in the
// function index space.
func readImports(r *reader) (uint32, error) {
	n := r.count(3)
	if n > maxImports {
		return 0, fmt.Errorf("%d imports, more than %d", n, maxImports)
	}
	var funcs uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name() // module
		r.name() // field
		kind := r.byte()
		switch kind {
		case 0: // function: type index
			r.u32()
			funcs++
		case 1: // table: reference type, limits
			r.refType()
			r.limits()
		case 2: // memory
			r.limits()
		case 3: // global: value type, mutability
			r.valType()
			r.byte()
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			if r.err == nil {
				return 0, fmt.Errorf("import %d: unknown kind 0x%02x", i, kind)
			}
		}
	}
	return funcs, r.err
}

func (m *Module) code(r *reader, imported uint32, declared int) error {
	m.CodeOffset = uint64(r.pos)
	n := r.count(1)
	if r.err != nil {
		return r.err
	}
	if declared < 0 {
		declared = 0 // no function section declares none
	}
	if int(n) != declared {
		return fmt.Errorf("%d bodies for %d declared functions", n, declared)
	}
	if n > maxFunctions {
		return fmt.Errorf("%d functions, more than %d", n, maxFunctions)
	}
	m.Functions = make([]Function, 0, n)
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		if r.err != nil {
			return fmt.Errorf("body %d: %w", i, r.err)
		}
		if uint64(size) > uint64(len(r.data)-r.pos) {
			return fmt.Errorf("body %d: size 0x%x runs past the section (0x%x bytes left)", i, size, len(r.data)-r.pos)
		}
		if size == 0 {
			return fmt.Errorf("body %d: empty (a body ends with an end instruction)", i)
		}
		addr := uint64(r.pos)
		if k := len(m.Functions); k > 0 {
			m.Functions[k-1].Size = addr - m.Functions[k-1].Addr
		}
		m.Functions = append(m.Functions, Function{Index: imported + i, Addr: addr, Size: uint64(size)})
		r.pos += int(size)
	}
	return nil
}

// readFunctionNames reads subsection 1 (function names) of a name section.
// Anything unreadable ends the list there.
func readFunctionNames(payload []byte) []nameEntry {
	r := reader{data: payload}
	for !r.done() && r.err == nil {
		id := r.byte()
		size := r.u32()
		if r.err != nil || uint64(size) > uint64(len(r.data)-r.pos) {
			return nil
		}
		sub := reader{data: r.data[:r.pos+int(size)], pos: r.pos}
		r.pos += int(size)
		if id != 1 {
			continue
		}
		n := sub.count(2)
		out := make([]nameEntry, 0, n)
		for i := uint32(0); i < n; i++ {
			idx := sub.u32()
			name := sub.name()
			if sub.err != nil {
				return out
			}
			out = append(out, nameEntry{idx, name})
		}
		return out
	}
	return nil
}

// reader reads LEB128 numbers and vectors from data, remembering the first
// error; every read after it returns zero.
type reader struct {
	data []byte
	pos  int
	err  error
}

func (r *reader) done() bool { return r.pos >= len(r.data) }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.data) {
		r.fail("unexpected end at offset 0x%x", r.pos)
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		start := r.pos
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (bits-shift < 7 && uint64(b&0x7f)>>(bits-shift) != 0) {
			r.pos = start
			r.fail("LEB128 at offset 0x%x is longer than %d bits", start, bits)
			return 0
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// count reads a vector length and checks that the bytes left can hold that
// many elements of at least minSize bytes each, so that no allocation is
// larger than the input.
func (r *reader) count(minSize int) uint32 {
	at := r.pos
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(minSize) > uint64(len(r.data)-r.pos) {
		r.fail("vector at offset 0x%x claims %d entries, more than the 0x%x bytes left can hold", at, n, len(r.data)-r.pos)
		return 0
	}
	return n
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(r.data)-r.pos) {
		r.fail("name of 0x%x bytes at offset 0x%x runs past the end", n, r.pos)
		return ""
	}
	s := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	if !utf8.Valid(s) {
		r.fail("name at offset 0x%x is not UTF-8", r.pos-int(n))
		return ""
	}
	return string(s)
}

func (r *reader) limits() {
	flags := r.byte()
	if flags&^0x07 != 0 {
		r.fail("limits flags 0x%02x", flags)
		return
	}
	bits := uint(32)
	if flags&0x04 != 0 { // memory64
		bits = 64
	}
	r.uleb(bits)
	if flags&0x01 != 0 {
		r.uleb(bits)
	}
}

// valType reads a value type: a number, vector or reference type, where
// the typed-function-references proposal's (ref null? ht) forms carry a
// heap type.
func (r *reader) valType() {
	switch t := r.byte(); {
	case t >= 0x6f && t <= 0x7f, t >= 0x69 && t <= 0x6e:
	case t == 0x63 || t == 0x64:
		r.heapType()
	default:
		if r.err == nil {
			r.fail("value type 0x%02x", t)
		}
	}
}

func (r *reader) refType() {
	switch t := r.byte(); {
	case t >= 0x69 && t <= 0x74:
	case t == 0x63 || t == 0x64:
		r.heapType()
	default:
		if r.err == nil {
			r.fail("reference type 0x%02x", t)
		}
	}
}

// heapType reads a signed LEB128 (s33): an abstract heap type or a type
// index.
func (r *reader) heapType() {
	for i := 0; ; i++ {
		b := r.byte()
		if r.err != nil {
			return
		}
		if i >= 5 {
			r.fail("heap type longer than 33 bits")
			return
		}
		if b&0x80 == 0 {
			return
		}
	}
}
