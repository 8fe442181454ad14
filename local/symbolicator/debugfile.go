package symbolicator

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"fmt"
	"strings"
	"sync"

	"github.com/symflow/symflow/local/symbolicator/breakpad"
	"github.com/symflow/symflow/local/symbolicator/compactunwind"
	"github.com/symflow/symflow/local/symbolicator/dwarfcfi"
	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/pe"
	"github.com/symflow/symflow/local/symbolicator/unwind"
	"github.com/symflow/symflow/shared/debugfile"
)

// loadedFile is a debug file the service can use, whatever its format: an
// object file (ELF, Mach-O, wasm) read by objfile, a Breakpad symbol file
// read by breakpad, a PE image or a PDB (windows.go). Symbolication looks functions up in it; stack walking asks
// it for unwind rules.
type loadedFile struct {
	kind     string // "elf", "macho", "wasm", "breakpad", "pe" or "pdb"
	arch     string
	codeID   string
	debugID  string
	load     uint64 // the file's own base: lookups are in its address space
	features objfile.Features

	obj   *objfile.File  // kind elf, macho or wasm
	syms  *breakpad.File // kind breakpad
	image *pe.File       // kind pe
	pdb   *pdb.File      // kind pdb
	data  []byte         // the file as downloaded: unwind sections are read from it on demand

	cfiOnce sync.Once
	cfi     cfiSource
}

func fromObject(f *objfile.File, data []byte) *loadedFile {
	return &loadedFile{kind: f.Kind, arch: f.Arch, codeID: f.CodeID, debugID: f.DebugID,
		load: f.LoadAddress, features: f.Features, obj: f, data: data}
}

// fromBreakpad describes a .sym file as symbolic does: symbols when it has
// FUNC or PUBLIC records, debug info when it has line records, unwind info
// when it has STACK records.
func fromBreakpad(f *breakpad.File) *loadedFile {
	lf := &loadedFile{kind: "breakpad", arch: breakpadArch(f.Module.Arch), codeID: strings.ToLower(f.CodeID), syms: f}
	if d, ok := parseDebugID(f.Module.ID); ok {
		lf.debugID = d.String()
	}
	lf.features = objfile.Features{HasSymbols: f.HasSymbols(), HasDebugInfo: f.HasLines(), HasUnwindInfo: f.HasStack()}
	return lf
}

// breakpadArch maps a MODULE record's architecture to the names modules
// report (symbolic's).
func breakpadArch(a string) string {
	switch a {
	case "x86_64", "amd64":
		return "x86_64"
	case "x86", "i386":
		return "x86"
	case "arm64", "aarch64":
		return "arm64"
	}
	return a
}

// lookup returns the frames at addr (in the file's address space),
// innermost first.
func (f *loadedFile) lookup(addr uint64) (frames []objfile.Frame, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			frames, ok = nil, false
		}
	}()
	switch {
	case f.obj != nil:
		return f.obj.Lookup(addr)
	case f.pdb != nil:
		return lookupPDB(f.pdb, addr)
	case f.image != nil:
		return lookupExports(f.image, addr)
	}
	bf, ok := f.syms.Lookup(addr)
	if !ok {
		return nil, false
	}
	frames = make([]objfile.Frame, len(bf))
	for i, b := range bf {
		frames[i] = objfile.Frame{Function: b.Function, Symbol: b.Symbol, AbsPath: b.File, Line: b.Line}
		if i == len(bf)-1 {
			frames[i].SymAddr = b.SymAddr
		}
	}
	return frames, true
}

// unwindRules returns the file's unwind information, read on first use.
func (f *loadedFile) unwindRules() cfiSource {
	f.cfiOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				f.cfi = nil
			}
		}()
		switch {
		case f.syms != nil:
			if f.syms.HasStack() {
				f.cfi = breakpadCFI{f.syms}
			}
		case f.kind == "elf":
			f.cfi = elfCFI(f.data)
		case f.kind == "macho":
			f.cfi = machoCFI(f.data, f.arch)
		case f.image != nil:
			if f.image.Features.HasUnwindInfo {
				f.cfi = peCFI{f.image}
			}
		}
	})
	return f.cfi
}

// cfiSource answers a stack walker's questions about one file, in the
// file's own address space.
type cfiSource interface {
	// rules returns the unwind rules covering addr, or nil.
	rules(addr uint64) unwind.Rules
	// covers reports whether any unwind rule covers addr.
	covers(addr uint64) bool
}

type breakpadCFI struct{ f *breakpad.File }

func (b breakpadCFI) rules(addr uint64) unwind.Rules {
	if r, ok := b.f.CFI(addr); ok {
		return r
	}
	if w, ok := b.f.Win(addr); ok {
		return w
	}
	return nil
}

func (b breakpadCFI) covers(addr uint64) bool { return b.rules(addr) != nil }

// dwarfCFI holds a file's DWARF CFI tables: .eh_frame first, then
// .debug_frame for code .eh_frame does not describe.
type dwarfCFI struct {
	arch   dwarfcfi.Arch
	tables []*dwarfcfi.Table
}

func (d dwarfCFI) rules(addr uint64) unwind.Rules {
	for _, t := range d.tables {
		if row, err := t.Find(addr); err == nil {
			return symbolicRow{row, d.arch}
		}
	}
	return nil
}

// symbolicRow evaluates a DWARF row as Symbolicator does, which walks
// with CFI that symbolic converted to Breakpad's STACK CFI: Breakpad has
// no "undefined" rule, so a return address the DWARF leaves undefined
// (glibc's _start and clone end the stack this way) keeps the ABI's rule
// instead, read below the CFA on x86 and from the link register on arm.
// The walk then finds the same garbage caller Symbolicator finds, and
// symbolication drops it the same way.
type symbolicRow struct {
	row  *dwarfcfi.Row
	arch dwarfcfi.Arch
}

func (s symbolicRow) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	out, err := s.row.Unwind(get, mem)
	if err != nil {
		return out, err
	}
	if _, ok := out[".ra"]; ok {
		return out, nil
	}
	if rule, ok := s.row.Rule(s.row.RA); !ok || rule.Kind != dwarfcfi.RuleUndefined {
		return out, nil
	}
	cfa, ok := out[".cfa"]
	if !ok {
		return out, nil
	}
	var ra uint64
	switch s.arch {
	case dwarfcfi.AMD64:
		ra, ok = mem.Read(cfa-8, 8)
	case dwarfcfi.X86:
		ra, ok = mem.Read(cfa-4, 4)
	default:
		ra, ok = get("lr")
	}
	if ok {
		out[".ra"] = ra
	}
	return out, nil
}

func (d dwarfCFI) covers(addr uint64) bool {
	for _, t := range d.tables {
		if t.Covers(addr) {
			return true
		}
	}
	return false
}

func cfiArch(arch string) (dwarfcfi.Arch, bool) {
	switch arch {
	case "x86_64":
		return dwarfcfi.AMD64, true
	case "arm64":
		return dwarfcfi.ARM64, true
	case "x86":
		return dwarfcfi.X86, true
	case "arm":
		return dwarfcfi.ARM, true
	}
	return 0, false
}

// elfCFI reads .eh_frame (with .eh_frame_hdr) and .debug_frame. Sections
// that are not in the file (SHT_NOBITS, as in split debug files) are
// skipped; nil when there is no CFI at all.
func elfCFI(data []byte) cfiSource {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	arch, ok := cfiArch(debugfile.ELFArch(ef.Machine))
	if !ok {
		return nil
	}
	// The file opened, so its compressed sections' claims are within the
	// decompression bound; a CFI section is also held to the file's size,
	// and inflated to exactly its claim.
	section := func(name string) (*elf.Section, []byte) {
		s := ef.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS || s.Size == 0 || s.Size > uint64(len(data)) {
			return nil, nil
		}
		b, err := debugfile.ELFSectionData(s, data)
		if err != nil {
			return nil, nil
		}
		return s, b
	}
	tables := dwarfCFI{arch: arch}
	if s, b := section(".eh_frame"); s != nil {
		opts := dwarfcfi.Options{Arch: arch, ByteOrder: ef.ByteOrder, SectionAddr: s.Addr}
		if got := ef.Section(".got"); got != nil {
			opts.DataAddr = got.Addr
		}
		if hs, hb := section(".eh_frame_hdr"); hs != nil {
			hopts := opts
			hopts.SectionAddr = hs.Addr
			if h, err := dwarfcfi.ParseHdr(hb, hopts); err == nil && h.EHFrameAddr() == s.Addr {
				opts.Hdr = h
			}
		}
		if t, err := dwarfcfi.Parse(b, dwarfcfi.EHFrame, opts); err == nil {
			tables.tables = append(tables.tables, t)
		}
	}
	if s, b := section(".debug_frame"); s != nil {
		if t, err := dwarfcfi.Parse(b, dwarfcfi.DebugFrame, dwarfcfi.Options{Arch: arch, ByteOrder: ef.ByteOrder}); err == nil {
			tables.tables = append(tables.tables, t)
		}
	}
	if len(tables.tables) == 0 {
		return nil
	}
	return tables
}

// machoCFI reads compact unwind information (__TEXT,__unwind_info) and
// DWARF CFI (__TEXT,__eh_frame, __DWARF,__debug_frame). As symbolic
// converts them for Symbolicator, the compact encoding describes a
// function unless it defers to DWARF (or has none), and then the DWARF
// rules do.
func machoCFI(data []byte, arch string) cfiSource {
	a, ok := cfiArch(arch)
	if !ok {
		return nil
	}
	mf, err := openMachO(data, arch)
	if err != nil {
		return nil
	}
	var src machoUnwind
	src.dwarf = dwarfCFI{arch: a}
	for _, sec := range []struct {
		seg, name string
		kind      dwarfcfi.Kind
	}{{"__TEXT", "__eh_frame", dwarfcfi.EHFrame}, {"__DWARF", "__debug_frame", dwarfcfi.DebugFrame}} {
		s := mf.Section(sec.name)
		if s == nil || s.Seg != sec.seg {
			continue
		}
		b, err := s.Data()
		if err != nil || len(b) == 0 {
			continue
		}
		if t, err := dwarfcfi.Parse(b, sec.kind, dwarfcfi.Options{Arch: a, ByteOrder: mf.ByteOrder, SectionAddr: s.Addr}); err == nil {
			src.dwarf.tables = append(src.dwarf.tables, t)
		}
	}
	if s := mf.Section("__unwind_info"); s != nil && s.Seg == "__TEXT" {
		textSeg := mf.Segment("__TEXT")
		if b, err := s.Data(); err == nil && textSeg != nil {
			if t, err := compactunwind.Parse(b, s.Addr, textSeg.Addr, arch); err == nil {
				if text := mf.Section("__text"); text != nil {
					if code, err := text.Data(); err == nil {
						t.Text = func(addr uint64, n int) ([]byte, bool) {
							if addr < text.Addr || addr-text.Addr > uint64(len(code)) || uint64(n) > uint64(len(code))-(addr-text.Addr) {
								return nil, false
							}
							off := addr - text.Addr
							return code[off : off+uint64(n)], true
						}
					}
				}
				src.compact = t
			}
		}
	}
	if src.compact == nil && len(src.dwarf.tables) == 0 {
		return nil
	}
	return src
}

// machoUnwind is a Mach-O file's unwind information: compact unwind
// first, DWARF CFI where the compact encoding defers to it.
type machoUnwind struct {
	compact *compactunwind.Table
	dwarf   dwarfCFI
}

func (m machoUnwind) rules(addr uint64) unwind.Rules {
	if m.compact != nil {
		if e, ok := m.compact.Find(addr); ok && e.Encoding != 0 && !e.UsesDWARF() {
			return e
		}
	}
	return m.dwarf.rules(addr)
}

func (m machoUnwind) covers(addr uint64) bool {
	return (m.compact != nil && m.compact.Covers(addr)) || m.dwarf.covers(addr)
}

// openMachO opens a thin Mach-O file or the slice of a universal one for
// arch.
func openMachO(data []byte, arch string) (*macho.File, error) {
	if fat, err := macho.NewFatFile(bytes.NewReader(data)); err == nil {
		for _, a := range fat.Arches {
			if debugfile.MachOArch(a.Cpu) == arch {
				return a.File, nil
			}
		}
		return nil, fmt.Errorf("no %s slice", arch)
	}
	return macho.NewFile(bytes.NewReader(data))
}
