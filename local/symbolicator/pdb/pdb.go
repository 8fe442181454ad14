// Package pdb reads Microsoft Program Database files (MSF 7.0), as
// link.exe and lld-link write them next to a PE image, and maps image
// addresses (RVAs) to functions, inlined functions, source files and lines.
// It also exposes the 32-bit x86 frame data (FPO and FrameData records)
// that stack walkers of Windows x86 dumps need.
//
// The package only reads. Open parses the container (superblock, block
// map, stream directory), the PDB information stream (GUID and age), the
// DBI stream (modules, section contributions, section headers, OMAP), every
// module stream (procedures, inline sites, C13 line information), the
// public symbols and the frame data, and builds an in-memory index.
// Lookup is then a binary search plus work proportional to one function's
// inline sites. Every count and offset read from the file is checked
// against what the file can hold before anything is allocated for it, no
// block may belong to two streams, and malformed input yields a
// *MalformedError naming the part that is broken; nothing panics.
//
// # Results
//
// Frames are innermost first, as llvm-symbolizer --inlines prints them:
// the inlined functions whose S_INLINESITE ranges hold the address, the
// deepest first, then the procedure (S_GPROC32, S_LPROC32 and their _ID
// variants) holding them. Each frame takes its line from its own range
// table at the address: an inlined frame from its site's binary
// annotations (starting at the inlinee's line in DEBUG_S_INLINEELINES),
// the procedure from the module's DEBUG_S_LINES. Compilers encode the call
// site of an inlined call as the caller's line over the callee's code, so
// every outer frame shows where it called the frame inside it.
//
// Names are those Symbolicator shows in a frame's "function", which come
// from symbolic's PDB reader (pdb-addr2line's type formatter, default
// flags): the procedure's name as the compiler wrote it (already qualified
// and undecorated, "ns::Foo::bar") followed by the parameter list rebuilt
// from the type information ("ns::Foo::bar(int, char const*) const"),
// without return type, calling convention or "static". Inlined functions
// are named from their LF_FUNC_ID/LF_MFUNC_ID record the same way
// ("ns::helper(int)"; clang leaves template arguments out of these).
// Addresses outside every procedure fall back to the public symbols
// (S_PUB32) of executable sections, as far as symbolic's symcache lets
// them reach: from the symbol up to the next public symbol or the start
// or end of the next procedure (the padding after a function belongs to
// nobody; llvm-symbolizer, which lets the preceding public symbol answer
// there, differs). Frame.Symbol is then the name symcache keeps (C names
// undecorated: "_main", "_f@8", "@g@4" become "main", "f", "g"; C++ names
// decorated) and Frame.Function its demangling as Symbolicator does it
// (MSVC names with parameters and without return type, calling
// convention or access: "ns::Foo::bar(int)"; Itanium names likewise).
//
// Addresses are RVAs: offsets from the image base of the PE file the PDB
// belongs to, which is also what Symbolicator looks PDB symbols up by.
package pdb

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned (wrapped) for input that is not an MSF 7.0
// file.
var ErrUnsupported = errors.New("not an MSF 7.0 program database")

// MalformedError reports input that is an MSF 7.0 file but cannot be read.
// What names the part that is broken ("stream directory", "DBI stream",
// "module 3 (foo.obj) symbols").
type MalformedError struct {
	What string
	Err  error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("malformed pdb: %s: %v", e.What, e.Err) }

func (e *MalformedError) Unwrap() error { return e.Err }

func malformed(what string, err error) error { return &MalformedError{What: what, Err: err} }

func malformedf(what, format string, args ...any) error {
	return &MalformedError{What: what, Err: fmt.Errorf(format, args...)}
}

// Identity is what identifies a PDB to a symbol server.
type Identity struct {
	// DebugID is "<GUID>-<age>" as symbolic formats it: the GUID of the
	// PDB information stream in lowercase with hyphens, then the age in
	// lowercase hex (left out when 0). The age comes from the DBI stream
	// when it has one, as symbolic takes it: tools that rewrite a PDB bump
	// the information stream's age without touching the image.
	DebugID string
	// GUID and Age are the raw values behind DebugID.
	GUID [16]byte
	Age  uint32
	// Arch is the CPU of the DBI stream's machine type, named as symbolic
	// names it: "x86", "x86_64", "arm", "arm64", "ppc"; "unknown" otherwise.
	Arch string
}

// Features says what the file contributes to symbolication, as symbolic
// reports it for PDBs: symbols and debug info always (finding out would
// mean reading every module), unwind information for 32-bit x86 (where the
// frame data lives in the PDB), never sources.
type Features struct {
	HasDebugInfo  bool
	HasUnwindInfo bool
	HasSymbols    bool
	HasSources    bool
}

// Frame is one function activation at an address: a procedure, one of the
// functions inlined into it, or a public symbol.
type Frame struct {
	// Function is the display name, see the package documentation.
	Function string
	// Symbol is the raw name as Symbolicator's raw_function has it: for a
	// public symbol the decorated C++ name (or the undecorated C name);
	// otherwise the same as Function (a PDB carries no other name for
	// procedures and inlinees).
	Symbol string
	// AbsPath is the source file as recorded (the compiler's absolute
	// path); empty when unknown.
	AbsPath string
	// Line is the source line; 0 when unknown.
	Line int
	// Lang is the language of the module (compiland) the function is in,
	// from its S_COMPILE3 record: "c", "cpp", "rust", "swift", "masm", ...;
	// empty when unknown. symbolic reports no language for PDB functions,
	// so a caller after Symbolicator's exact answer leaves it out.
	Lang string
	// SymAddr is the entry RVA of the procedure or public symbol; set on
	// the outermost frame only.
	SymAddr uint64
	// Inline reports an inlined frame.
	Inline bool
}

// File is an opened, indexed PDB. It is immutable and safe for concurrent
// use.
type File struct {
	Identity
	Features Features

	// Modules lists the compilands of the DBI stream.
	Modules []Module

	addr     addrMap
	tpi, ipi *typeStream
	names    stringTable

	files    []string    // interned source paths
	procs    []proc      // by start RVA
	procEnds []uint32    // ends of procs, sorted
	sites    []site      // grouped by proc, each proc's sites in pre-order
	ranges   []srange    // grouped by site
	modLines [][]lineRec // per module, by start
	contribs []contribRange
	publics  []public // by RVA
	frames   []FrameRecord
	defs     definitions // sizes of defined classes, for array bounds in names
}

// Module is one compilation unit (object file) of the DBI stream.
type Module struct {
	Name    string // module name, usually the object file path
	ObjFile string // object or library file it came from
	Lang    string // language from S_COMPILE3; "" when unknown
}

// Limits on untrusted input beyond what the file size bounds.
const (
	maxNameLen   = 4096 // longest formatted function name
	maxTypeDepth = 64   // nesting of types while formatting a name
	maxTypeSteps = 4096 // type records visited while formatting a name
	maxScopes    = 1024 // nesting of symbol scopes in a module
	maxInline    = 256  // nesting of inline sites
)

// recoverPanics turns panics inside Open and Identify into errors. The
// fuzz test switches it off so that panics are found and fixed rather than
// hidden.
var recoverPanics = true

func catch(err *error) {
	if !recoverPanics {
		return
	}
	if r := recover(); r != nil {
		*err = malformedf("unreadable structure", "%v", r)
	}
}
