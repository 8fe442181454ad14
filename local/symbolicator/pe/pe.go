// Package pe reads Windows PE/COFF images (PE32 and PE32+) for
// symbolication: their identity as Symbolicator reports it, their exports
// as a symbol fallback, and x64 unwind information (.pdata and .xdata) with
// an unwinder that computes a caller's registers as Windows'
// RtlVirtualUnwind does.
//
// The package only reads. Open checks every offset and count against the
// input before it allocates, bounds every loop by what the input can hold,
// and never panics: malformed input yields a *MalformedError naming the
// part that is wrong, input that is no PE image wraps ErrUnsupported.
//
// # Identity
//
// Identity follows symbolic's PeObject (getsentry/symbolic,
// symbolic-debuginfo/src/pe.rs), which Symbolicator uses:
//
//   - CodeID is the COFF header's TimeDateStamp as eight lowercase hex
//     digits followed by the optional header's SizeOfImage in lowercase hex
//     without padding ("5ab38077" + "9000"). Symstore paths spell the same
//     value with an upper-case timestamp; that is the path builder's
//     business, not the identity's.
//   - DebugID comes from the first CodeView entry of the debug directory
//     holding an RSDS record: the GUID with its first three fields read
//     little-endian (the Microsoft GUID layout), printed as a lowercase
//     hyphenated UUID, then "-" and the age in lowercase hex when the age is
//     not zero. An entry whose MinorVersion is 0x504d (a Portable PDB)
//     takes the entry's TimeDateStamp as the age. An image without an RSDS
//     record has no debug id (symbolic reports the nil id; DebugID is "").
//   - DebugFile is the PDB path as the record holds it: the record's name
//     bytes minus the last one (the terminating NUL), invalid UTF-8 replaced
//     by U+FFFD.
//   - Arch is symbolic's name for the COFF machine: "x86", "x86_64",
//     "arm64", and "unknown" for the rest of what debug/pe reads (ARMNT,
//     which symbolic does not name either, and RISC-V).
//   - CodeFile is the image's name as its export directory records it
//     ("foo.dll"); "" for images without exports. Symbolicator takes a
//     module's code_file from the request, so this is a hint only.
//
// # Headers and sections
//
// The COFF and optional headers and the section table are read with
// debug/pe, which decodes them completely. Open first checks the parts
// debug/pe allocates for without bounding them by the input (the section
// table, every section's COFF relocations, the COFF symbol and string
// tables), so that debug/pe only ever allocates what the file holds.
// Everything debug/pe does not read (the debug directory, exports, .pdata,
// .xdata, code bytes) is read here from the image's bytes through the
// section table. debug/pe reads AMD64, ARM64, ARMNT, I386 and RISC-V
// images and refuses other machines (old ARM and PowerPC images,
// ARM64EC), which are reported as unsupported.
//
// x64 unwind information is read for AMD64 images only, as in symbolic;
// see Rules for how it unwinds.
package pe

import (
	"bytes"
	stdpe "debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/symflow/symflow/shared/debugfile"
)

// Limits applied to untrusted input.
const (
	// maxCodeViewName bounds the PDB path of an RSDS record, as goblin
	// (the reader symbolic uses) does: a longer record is malformed.
	maxCodeViewName = 1024
	// maxCString bounds names read from the image (export names, the DLL
	// name, forwarders).
	maxCString = 4096
	// maxDebugEntries bounds the debug directory entries examined.
	maxDebugEntries = 64
)

// recoverPanics turns panics inside Open and Identify into errors. The
// fuzz test switches it off so that panics are found and fixed rather than
// hidden.
var recoverPanics = true

// ErrUnsupported is returned (wrapped) for input that is not a PE image,
// and for PE variants this package does not read.
var ErrUnsupported = errors.New("unsupported PE file")

// MalformedError reports input that claims to be a PE image but cannot be
// read. What names the part that is broken.
type MalformedError struct {
	What string // e.g. "section table", "debug directory", "UNWIND_INFO at RVA 0x20ac"
	Err  error
}

func (e *MalformedError) Error() string {
	if e.Err == nil {
		return "malformed pe: " + e.What
	}
	return fmt.Sprintf("malformed pe: %s: %v", e.What, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

func malformed(what string, format string, args ...any) error {
	return &MalformedError{What: what, Err: fmt.Errorf(format, args...)}
}

// Identity is what identifies an image to a symbol server.
type Identity struct {
	Kind      string `json:"kind"` // always "pe"
	Arch      string `json:"arch"`
	CodeID    string `json:"code_id,omitempty"`
	DebugID   string `json:"debug_id,omitempty"`
	DebugFile string `json:"debug_file,omitempty"`
	CodeFile  string `json:"code_file,omitempty"`
	// FileType is "executable", or "both" when the image carries DWARF
	// (.debug_info), as MinGW images do.
	FileType string `json:"file_type"`
}

// Features says what an image can contribute to symbolication, as symbolic
// reports it for a PE file.
type Features struct {
	// HasDebugInfo: the image has a .debug_info section (DWARF).
	HasDebugInfo bool `json:"has_debug_info"`
	// HasUnwindInfo: an x64 image with a non-empty exception directory,
	// unless it is a packer stub (see File.Stub).
	HasUnwindInfo bool `json:"has_unwind_info"`
	// HasSymbols: the export directory names at least one export.
	HasSymbols bool `json:"has_symbols"`
	// HasSources is always false: PE images embed no sources.
	HasSources bool `json:"has_sources"`
}

// Section is one entry of the section table.
type Section struct {
	Name            string
	VirtualAddress  uint32 // RVA of the section
	VirtualSize     uint32
	Offset          uint32 // PointerToRawData
	Size            uint32 // SizeOfRawData
	Characteristics uint32
}

// File is an opened image. It is immutable and safe for concurrent use.
type File struct {
	Identity
	Features Features

	// Machine is the COFF header's machine field.
	Machine uint16
	// PE32Plus reports a PE32+ (64-bit) optional header.
	PE32Plus bool
	// ImageBase is the preferred load address. Symbolic uses it as the
	// image's load address: addresses in the file's own address space are
	// ImageBase + RVA.
	ImageBase uint64
	// TimeDateStamp and SizeOfImage make up the code id.
	TimeDateStamp, SizeOfImage uint32
	// Library reports IMAGE_FILE_DLL.
	Library bool
	// Stub reports a packer stub as symbolic detects it: an empty .pdata
	// section next to a section whose name starts with ".stub". Its unwind
	// information is not used.
	Stub bool
	// Sections is the section table in file order.
	Sections []Section

	data      []byte
	exports   []Export // address table order
	symbols   []Export // named exports by RVA, one per RVA
	functions []RuntimeFunction
	sorted    []RuntimeFunction // functions by Begin, for lookups
}

// Open parses an image: headers, debug directory, exports and the
// exception directory. The File refers to data, which must not change.
func Open(data []byte) (f *File, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			f, err = nil, &MalformedError{What: "unreadable structure", Err: fmt.Errorf("%v", r)}
		}
	}()
	return open(data, true)
}

// Identify reads only what makes up the identity (headers, the debug
// directory and the export directory's name).
func Identify(data []byte) (id Identity, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			id, err = Identity{}, &MalformedError{What: "unreadable structure", Err: fmt.Errorf("%v", r)}
		}
	}()
	f, err := open(data, false)
	if err != nil {
		return Identity{}, err
	}
	return f.Identity, nil
}

// Data directory indices.
const (
	dirExport    = 0
	dirException = 3
	dirDebug     = 6
)

// Machines symbolic names among those debug/pe reads.
const (
	machineI386  = 0x14c
	machineAMD64 = 0x8664
	machineARM64 = 0xaa64
)

func archName(m uint16) string {
	switch m {
	case machineI386:
		return "x86"
	case machineAMD64:
		return "x86_64"
	case machineARM64:
		return "arm64"
	}
	return "unknown"
}

// precheck validates what debug/pe would otherwise allocate for on the
// strength of header fields alone, and returns the offset of the COFF
// header.
func precheck(data []byte) error {
	if len(data) < 2 || data[0] != 'M' || data[1] != 'Z' {
		return fmt.Errorf("open pe: no MZ signature: %w", ErrUnsupported)
	}
	if len(data) < 0x40 {
		return malformed("DOS header", "file is %d bytes, the DOS header needs 64", len(data))
	}
	lfanew := uint64(binary.LittleEndian.Uint32(data[0x3c:]))
	if lfanew+24 > uint64(len(data)) {
		return malformed("PE header", "e_lfanew %#x points past the end of the %d-byte file", lfanew, len(data))
	}
	if string(data[lfanew:lfanew+4]) != "PE\x00\x00" {
		return fmt.Errorf("open pe: no PE signature at %#x (an MS-DOS or NE executable?): %w", lfanew, ErrUnsupported)
	}
	coff := data[lfanew+4:]
	nsect := uint64(binary.LittleEndian.Uint16(coff[2:]))
	optSize := uint64(binary.LittleEndian.Uint16(coff[16:]))
	table := lfanew + 24 + optSize
	if table+nsect*40 > uint64(len(data)) {
		return malformed("section table", "%d sections at %#x run past the end of the %d-byte file", nsect, table, len(data))
	}
	// debug/pe reads every section's COFF relocations into memory; images
	// have none, so their total must fit in the file.
	var relocBytes uint64
	for i := uint64(0); i < nsect; i++ {
		sh := data[table+i*40:]
		ptr := uint64(binary.LittleEndian.Uint32(sh[24:]))
		n := uint64(binary.LittleEndian.Uint16(sh[32:]))
		if n == 0 {
			continue
		}
		relocBytes += n * 10
		if ptr+n*10 > uint64(len(data)) || relocBytes > uint64(len(data)) {
			return malformed(fmt.Sprintf("section %d", i), "%d COFF relocations at %#x do not fit in the file", n, ptr)
		}
	}
	// debug/pe reads the COFF symbol and string tables (MinGW images have
	// them) in chunks of up to 10 MB whatever the file's size, and fails
	// the file when they are cut short: check them against the file.
	if ptr := uint64(binary.LittleEndian.Uint32(coff[8:])); ptr != 0 {
		n := uint64(binary.LittleEndian.Uint32(coff[12:]))
		if ptr+18*n > uint64(len(data)) {
			return malformed("COFF symbol table", "%d symbols at %#x do not fit in the %d-byte file", n, ptr, len(data))
		}
		str := ptr + 18*n
		if str+4 > uint64(len(data)) {
			return malformed("COFF string table", "no length at %#x: the file ends at %#x", str, len(data))
		}
		if l := uint64(binary.LittleEndian.Uint32(data[str:])); l > 4 && str+l > uint64(len(data)) {
			return malformed("COFF string table", "%d bytes at %#x run past the end of the %d-byte file", l, str, len(data))
		}
	}
	return nil
}

func open(data []byte, full bool) (*File, error) {
	if err := precheck(data); err != nil {
		return nil, err
	}
	sf, err := stdpe.NewFile(bytes.NewReader(data))
	if err != nil {
		if strings.HasPrefix(err.Error(), "unrecognized PE machine") {
			return nil, fmt.Errorf("open pe: %v: %w", err, ErrUnsupported)
		}
		return nil, &MalformedError{What: "headers", Err: err}
	}
	f := &File{data: data, Machine: sf.Machine, TimeDateStamp: sf.TimeDateStamp}
	f.Kind = "pe"
	f.Arch = archName(sf.Machine)
	f.Library = sf.Characteristics&stdpe.IMAGE_FILE_DLL != 0
	var dirs []stdpe.DataDirectory
	switch oh := sf.OptionalHeader.(type) {
	case *stdpe.OptionalHeader32:
		f.ImageBase = uint64(oh.ImageBase)
		f.SizeOfImage = oh.SizeOfImage
		dirs = oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	case *stdpe.OptionalHeader64:
		f.PE32Plus = true
		f.ImageBase = oh.ImageBase
		f.SizeOfImage = oh.SizeOfImage
		dirs = oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	default:
		// An object file (no optional header): symbolic has no code id,
		// and nothing here is about images.
		return nil, fmt.Errorf("open pe: no optional header (a COFF object, not an image): %w", ErrUnsupported)
	}
	f.CodeID = debugfile.PECodeID(f.TimeDateStamp, f.SizeOfImage)

	var pdataEmpty, hasStub bool
	for _, s := range sf.Sections {
		f.Sections = append(f.Sections, Section{
			Name: s.Name, VirtualAddress: s.VirtualAddress, VirtualSize: s.VirtualSize,
			Offset: s.Offset, Size: s.Size, Characteristics: s.Characteristics,
		})
		if s.Name == ".pdata" && s.Size == 0 {
			pdataEmpty = true
		}
		if len(s.Name) >= 5 && s.Name[:5] == ".stub" {
			hasStub = true
		}
		if s.Name == ".debug_info" {
			f.Features.HasDebugInfo = true
		}
	}
	f.Stub = pdataEmpty && hasStub
	f.FileType = debugfile.FileType(true, f.Features.HasDebugInfo)

	dir := func(i int) stdpe.DataDirectory {
		if i < len(dirs) {
			return dirs[i]
		}
		return stdpe.DataDirectory{}
	}
	if d := dir(dirDebug); d.VirtualAddress != 0 && d.Size != 0 {
		if err := f.readDebugDirectory(d); err != nil {
			return nil, err
		}
	}
	if d := dir(dirExport); d.VirtualAddress != 0 && d.Size != 0 {
		f.readExports(d, full)
	}
	if f.Machine == machineAMD64 {
		if d := dir(dirException); d.VirtualAddress != 0 && d.Size >= runtimeFunctionSize {
			if err := f.readExceptionDirectory(d, full); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// span returns the file bytes of the image at rva, at most n of them: the
// rest of the section's raw data when fewer are there. ok is false when
// rva lies in no section's raw data. Sections are searched in table order
// and the first holding rva wins.
func (f *File) span(rva, n uint32) (b []byte, ok bool) {
	for i := range f.Sections {
		s := &f.Sections[i]
		vsize := s.VirtualSize
		if vsize == 0 {
			vsize = s.Size
		}
		if rva < s.VirtualAddress || rva-s.VirtualAddress >= vsize {
			continue
		}
		delta := rva - s.VirtualAddress
		if delta >= s.Size {
			return nil, false // in the zero-filled tail
		}
		start := uint64(s.Offset) + uint64(delta)
		end := min(uint64(s.Offset)+uint64(s.Size), uint64(len(f.data)), start+uint64(n))
		if start >= end {
			return nil, false
		}
		return f.data[start:end], true
	}
	return nil, false
}

// bytesAt returns exactly n bytes at rva.
func (f *File) bytesAt(rva, n uint32) ([]byte, bool) {
	b, ok := f.span(rva, n)
	if !ok || uint32(len(b)) < n {
		return nil, false
	}
	return b, true
}

// inSection reports whether rva lies inside some section, as goblin's
// find_offset requires of an export's address.
func (f *File) inSection(rva uint32) bool {
	_, ok := f.span(rva, 1)
	return ok
}

// cstring reads a NUL-terminated string at rva (at most maxCString bytes).
func (f *File) cstring(rva uint32) (string, bool) {
	b, ok := f.span(rva, maxCString)
	if !ok {
		return "", false
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", false
	}
	return string(b[:i]), true
}

// Debug directory entry layout.
const (
	debugEntrySize     = 28
	debugTypeCodeView  = 2
	rsdsHeaderSize     = 24
	portablePDBVersion = 0x504d
)

// readDebugDirectory finds the first CodeView entry with an RSDS record,
// as goblin does (symbolic reads the identifier from it).
func (f *File) readDebugDirectory(d stdpe.DataDirectory) error {
	n := min(d.Size/debugEntrySize, maxDebugEntries)
	for i := uint32(0); i < n; i++ {
		e, ok := f.bytesAt(d.VirtualAddress+i*debugEntrySize, debugEntrySize)
		if !ok {
			return malformed("debug directory", "entry %d at RVA %#x is outside the file's sections", i, d.VirtualAddress+i*debugEntrySize)
		}
		if binary.LittleEndian.Uint32(e[12:]) != debugTypeCodeView {
			continue
		}
		stamp := binary.LittleEndian.Uint32(e[4:])
		minor := binary.LittleEndian.Uint16(e[10:])
		size := uint64(binary.LittleEndian.Uint32(e[16:]))
		rva := binary.LittleEndian.Uint32(e[20:])
		ptr := uint64(binary.LittleEndian.Uint32(e[24:]))
		if size < rsdsHeaderSize || size-rsdsHeaderSize > maxCodeViewName {
			return malformed("debug directory", "CodeView record of %d bytes (a record holds 24 bytes and a name of at most %d)", size, maxCodeViewName)
		}
		var rec []byte
		if ptr != 0 {
			if ptr+size > uint64(len(f.data)) {
				return malformed("debug directory", "CodeView record at file offset %#x (%d bytes) runs past the end of the %d-byte file", ptr, size, len(f.data))
			}
			rec = f.data[ptr : ptr+size]
		} else if rec, ok = f.bytesAt(rva, uint32(size)); !ok {
			return malformed("debug directory", "CodeView record at RVA %#x (%d bytes) is outside the file's sections", rva, size)
		}
		if string(rec[:4]) != "RSDS" {
			continue // NB10 (PDB 2.0) and older records carry no GUID
		}
		var guid [16]byte
		copy(guid[:], rec[4:20])
		age := binary.LittleEndian.Uint32(rec[20:])
		if minor == portablePDBVersion {
			age = stamp
		}
		f.DebugID = debugfile.GUIDAgeDebugID(guid, age)
		if name := rec[rsdsHeaderSize:]; len(name) > 0 {
			f.DebugFile = lossyUTF8(name[:len(name)-1])
		}
		return nil
	}
	return nil
}

// lossyUTF8 replaces every byte that does not start a valid UTF-8
// sequence with U+FFFD. Rust's from_utf8_lossy (symbolic's) replaces a
// truncated multi-byte sequence with a single U+FFFD where this writes one
// per byte; PDB paths are ASCII in practice.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out []rune
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r)
		b = b[n:]
	}
	return string(out)
}
