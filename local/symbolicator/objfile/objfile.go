// Package objfile loads ELF and Mach-O executables and debug companions, and
// WebAssembly modules with DWARF in custom sections (see openWasm), and
// maps file-relative addresses to functions, source files and lines, with
// the whole inline chain.
//
// Open parses a file once and builds an in-memory index (sorted address
// intervals for the line table, and for functions painted with their
// innermost inlined subroutine); Lookup is then a binary search plus a walk
// up the inline chain. Results agree with llvm-symbolizer --inlining
// --functions=linkage (LLVM 14, the reference the tests run):
//
//   - Frames are innermost first. The innermost frame takes its file and line
//     from the line table; every outer frame takes them from the call site
//     (DW_AT_call_file, DW_AT_call_line) of the frame inside it.
//   - Paths are built as LLVM builds absolute paths: DW_AT_comp_dir, the
//     include directory and the file name, joined without cleaning ("." and
//     ".." stay as written). This also makes DWARF 5 relative include
//     directories absolute, which debug/dwarf does not do.
//   - Inlined frames are named by the linkage name (DW_AT_linkage_name or
//     DW_AT_MIPS_linkage_name, found through DW_AT_abstract_origin and
//     DW_AT_specification), else DW_AT_name. The outermost frame is named
//     from the symbol table when a symbol covers the address, as LLVM does:
//     GCC omits linkage names for functions in anonymous namespaces, clang
//     -gline-tables-only omits all of them. Without DWARF the symbol table
//     alone names the function, without file or line.
//
// Frame.Symbol is the raw name (the mangled linkage name, or the plain name
// for C and Go). Frame.Function is its demangling with parameters, as
// llvm-symbolizer prints by default ("ns::foo(int)"), but without the return
// type Itanium manglings of template functions carry (Symbolicator's
// "function" has none) and without clone suffixes (".constprop.0",
// ".isra.0", ".part.0", ".cold"). Demangling is GNU style ("> >").
//
// Debian's debug files are processed by dwz: File.AltLink then names a
// supplementary file, to be fetched by its build-id and passed to
// OpenWithSupplement.
//
// Compressed ELF sections (zlib or zstd SHF_COMPRESSED, GNU .zdebug) are
// inflated within a bound on the file's total decompressed size
// (debugfile.InflateLimits: by default the smaller of 2 GiB and 100 times
// the file's size), checked from the section headers before anything is
// inflated; a section whose data inflates past, or short of, the size its
// header claims is malformed. Decompression bombs therefore cost at most
// the bound, and usually nothing: their claims are refused first.
//
// Address 0 in linked ELF files is where linkers leave functions of
// discarded sections, so line sequences and functions starting there are
// ignored; Mach-O objects keep code at 0.
package objfile

import (
	"errors"
	"fmt"

	"github.com/symflow/symflow/shared/debugfile"
)

// Limits applied to untrusted input. Anything larger is reported as
// malformed rather than allocated.
const (
	maxSymbols   = 8 << 20
	maxLineRows  = 64 << 20
	maxNodes     = 32 << 20
	maxFatArches = 64
	maxLoadCmds  = 1 << 16
)

// recoverPanics turns panics inside Open and Identify into errors. The
// fuzz test switches it off so that panics are found and fixed rather than
// hidden.
var recoverPanics = true

// ErrUnsupported is returned (wrapped) for input that is not an ELF or
// Mach-O file, or an ELF/Mach-O variant this package does not read.
var ErrUnsupported = errors.New("unsupported object file format")

// MalformedError reports input that claims to be ELF or Mach-O but cannot be
// read. What names the part that is broken.
type MalformedError struct {
	Kind string // "elf", "macho" or "wasm"
	What string // e.g. "section .debug_info", "LC_UUID", "line table at 0x40"
	Err  error
}

func (e *MalformedError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("malformed %s: %s", e.Kind, e.What)
	}
	return fmt.Sprintf("malformed %s: %s: %v", e.Kind, e.What, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Identity is what identifies an object file to a symbol server.
type Identity struct {
	Kind     string `json:"kind"` // "elf" | "macho" | "wasm"
	Arch     string `json:"arch"` // "x86_64", "arm64", "x86", "arm", "wasm32", or the raw machine name
	CodeID   string `json:"code_id,omitempty"`
	DebugID  string `json:"debug_id"`
	FileType string `json:"file_type"` // "executable" | "debuginfo" | "both"
}

// Features says what a file can contribute to symbolication.
type Features struct {
	HasDebugInfo  bool `json:"has_debug_info"`
	HasUnwindInfo bool `json:"has_unwind_info"`
	HasSymbols    bool `json:"has_symbols"`
	HasSources    bool `json:"has_sources"`
}

// Frame is one function activation at an address: a real call frame or an
// inlined one.
type Frame struct {
	// Function is the demangled name with parameters and without return
	// type ("ns::foo(int)", "main.run", "add").
	Function string
	// Symbol is the raw linkage (mangled) name, or the plain name when the
	// function has none (C, Go).
	Symbol string
	// AbsPath is the absolute source path; empty when unknown.
	AbsPath string
	// Line is the source line; 0 when unknown.
	Line int
	// Lang is derived from DW_AT_language ("c", "cpp", "rust", "go", ...),
	// or guessed from the mangling when there is no DWARF.
	Lang string
	// SymAddr is the function's entry address; set on the outermost frame.
	SymAddr uint64
}

// File is a loaded, indexed object file. It is safe for concurrent Lookup.
type File struct {
	Identity
	Features Features
	// LoadAddress is the file's own base: ELF lowest PT_LOAD vaddr, Mach-O
	// __TEXT vmaddr. Lookup addresses are in this address space.
	LoadAddress uint64

	// AltLink is set when the DWARF refers to a dwz supplementary file
	// (.gnu_debugaltlink): fetch that file by AltLink.BuildID (debuginfod
	// serves it as debuginfo) and use OpenWithSupplement, else inlined
	// functions whose names live there come out unnamed.
	AltLink *AltLink

	index  *dwarfIndex // nil without DWARF
	symtab *symtab     // nil without symbols
}

// AltLink names a supplementary debug file shared by several debug files
// (written by dwz -m).
type AltLink struct {
	Path    string // as recorded, e.g. /usr/lib/debug/.dwz/x86_64-linux-gnu/libc6.debug
	BuildID string // lowercase hex
}

// Open parses an ELF or Mach-O file (a thin one, or the first architecture of
// a universal binary) and indexes its DWARF and symbol table, with the
// default decompression bound. It never panics: malformed input yields a
// *MalformedError, other formats wrap ErrUnsupported.
func Open(data []byte) (*File, error) {
	return OpenWith(data, Options{})
}

// OpenArch is Open that picks the slice with the given arch ("x86_64",
// "arm64", ...) from a Mach-O universal binary. An empty arch picks the first
// slice. For thin files arch is ignored.
func OpenArch(data []byte, arch string) (*File, error) {
	return OpenWith(data, Options{Arch: arch})
}

// Options tunes OpenWith and IdentifyWith. The zero value is Open's.
type Options struct {
	// Arch picks the slice of a universal binary; "" picks the first.
	Arch string
	// Inflate bounds the decompressed size of the file's compressed
	// sections, summed. A file whose section headers claim more is
	// refused before anything is inflated, with a *MalformedError
	// wrapping a *debugfile.InflateError that names the section, its
	// claim and the bound.
	Inflate debugfile.InflateLimits
	// Budget, when set, is reserved for the sum of the file's claims
	// while its sections are inflated and indexed, so that the parses a
	// process runs at once hold at most the budget's worth of
	// decompressed sections, however many there are.
	Budget Budget
}

// Budget bounds the decompressed bytes that parses running at once may
// hold. Reserve blocks until n bytes are free (a reservation larger than
// the whole budget waits for all of it) and returns the function that
// frees them.
type Budget interface {
	Reserve(n int64) (release func())
}

// OpenWith is Open with options.
func OpenWith(data []byte, opts Options) (f *File, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			f, err = nil, &MalformedError{Kind: kindOf(data), What: "unreadable structure", Err: fmt.Errorf("%v", r)}
		}
	}()
	switch kindOf(data) {
	case "elf":
		return openELF(data, true, nil, opts)
	case "macho":
		return openMachO(data, opts.Arch, true)
	case "wasm":
		return openWasm(data, true)
	}
	return nil, fmt.Errorf("open object file: %w", ErrUnsupported)
}

// OpenWithSupplement is Open for an ELF debug file whose DWARF refers to a
// dwz supplementary file (see File.AltLink); sup is that file's contents.
// The supplementary file's build-id must match the link.
func OpenWithSupplement(data, sup []byte) (f *File, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			f, err = nil, &MalformedError{Kind: "elf", What: "unreadable structure", Err: fmt.Errorf("%v", r)}
		}
	}()
	if kindOf(data) != "elf" {
		return nil, fmt.Errorf("open object file with supplement: %w", ErrUnsupported)
	}
	id, err := openELF(data, false, nil, Options{})
	if err != nil {
		return nil, err
	}
	if id.AltLink == nil {
		return nil, errors.New("open object file with supplement: the file has no .gnu_debugaltlink")
	}
	alt, altID, err := openSupplement(sup)
	if err != nil {
		return nil, err
	}
	if altID != id.AltLink.BuildID {
		return nil, fmt.Errorf("open object file with supplement: supplementary file has build-id %q, the link wants %q", altID, id.AltLink.BuildID)
	}
	return openELF(data, true, alt, Options{})
}

// Identify reads only the identity of a file (headers, build-id note or
// LC_UUID): it builds no index.
func Identify(data []byte) (Identity, error) {
	return IdentifyWith(data, Options{})
}

// IdentifyArch is Identify for the given arch of a universal binary.
func IdentifyArch(data []byte, arch string) (Identity, error) {
	return IdentifyWith(data, Options{Arch: arch})
}

// IdentifyWith is Identify with options. It checks the decompression
// bound as OpenWith does, so that a file refused by one is refused by the
// other.
func IdentifyWith(data []byte, opts Options) (id Identity, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			id, err = Identity{}, &MalformedError{Kind: kindOf(data), What: "unreadable structure", Err: fmt.Errorf("%v", r)}
		}
	}()
	var f *File
	switch kindOf(data) {
	case "elf":
		f, err = openELF(data, false, nil, opts)
	case "macho":
		f, err = openMachO(data, opts.Arch, false)
	case "wasm":
		f, err = openWasm(data, false)
	default:
		return Identity{}, fmt.Errorf("identify object file: %w", ErrUnsupported)
	}
	if err != nil {
		return Identity{}, err
	}
	return f.Identity, nil
}

// Merge combines a stripped executable with its debug companion (from
// objcopy --only-keep-debug, or a dSYM): identity and load address come from
// exe when it has them, the DWARF index from whichever file has one (debug
// first), and the symbol table from whichever has more symbols. Either
// argument may be nil. A debug companion alone already answers Lookup; Merge
// only matters when the executable carries symbols or identity the debug
// file lacks.
func Merge(exe, debug *File) *File {
	switch {
	case exe == nil:
		return debug
	case debug == nil:
		return exe
	}
	m := *exe
	if m.CodeID == "" {
		m.CodeID = debug.CodeID
	}
	if m.DebugID == "" {
		m.DebugID = debug.DebugID
	}
	if debug.index != nil {
		m.index = debug.index
		m.AltLink = debug.AltLink
	}
	if debug.symtab.len() > m.symtab.len() {
		m.symtab = debug.symtab
	}
	m.Features.HasDebugInfo = exe.Features.HasDebugInfo || debug.Features.HasDebugInfo
	m.Features.HasUnwindInfo = exe.Features.HasUnwindInfo || debug.Features.HasUnwindInfo
	m.Features.HasSymbols = exe.Features.HasSymbols || debug.Features.HasSymbols
	m.Features.HasSources = exe.Features.HasSources || debug.Features.HasSources
	if m.Features.HasDebugInfo {
		m.FileType = "both"
	}
	return &m
}

// LookupBatch looks up each address; a nil entry means no function covers
// it. It is a convenience for benchmarks and command-line tools.
func (f *File) LookupBatch(addrs []uint64) [][]Frame {
	out := make([][]Frame, len(addrs))
	for i, a := range addrs {
		out[i], _ = f.Lookup(a)
	}
	return out
}

func kindOf(data []byte) string {
	if len(data) >= 4 {
		switch string(data[:4]) {
		case "\x7fELF":
			return "elf"
		case "\x00asm":
			return "wasm"
		case "\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe", "\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe", "\xbe\xba\xfe\xca":
			return "macho"
		}
	}
	return ""
}
