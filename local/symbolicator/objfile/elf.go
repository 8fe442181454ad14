package objfile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/symflow/symflow/shared/debugfile"
)

// openELF reads identity, features and (when index is set) the symbol table
// and DWARF index of an ELF file. The compressed sections' claims are
// checked against opts.Inflate before any section is read, so that every inflation
// below (ours, and debug/elf's for the symbol and string tables, which
// stops at the claim) is bounded.
func openELF(data []byte, index bool, alt *supplement, opts Options) (*File, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, &MalformedError{Kind: "elf", What: "header", Err: err}
	}
	claimed, err := debugfile.CheckELFClaims(ef, data, opts.Inflate)
	if err != nil {
		return nil, &MalformedError{Kind: "elf", What: "compressed sections", Err: err}
	}
	if opts.Budget != nil && claimed > 0 {
		// The sections inflated below are garbage once the index is
		// built (it copies what it keeps).
		defer opts.Budget.Reserve(int64(claimed))()
	}
	f := &File{Identity: Identity{Kind: "elf", Arch: debugfile.ELFArch(ef.Machine)}}

	first := true
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && (first || p.Vaddr < f.LoadAddress) {
			f.LoadAddress, first = p.Vaddr, false
		}
	}

	if id := elfBuildID(ef, data); len(id) > 0 {
		f.CodeID = debugfile.ELFCodeID(id)
		f.DebugID = debugfile.ELFDebugID(id, ef.ByteOrder == binary.LittleEndian)
	} else if text := ef.Section(".text"); text != nil && text.Type != elf.SHT_NOBITS {
		b, err := elfSectionData(text, data)
		if err != nil {
			return nil, err
		}
		x := debugfile.TextHash(b)
		f.DebugID = debugfile.ELFDebugID(x[:], ef.ByteOrder == binary.LittleEndian)
	}

	hasCode, hasDebug := false, false
	for _, s := range ef.Sections {
		present := s.Type != elf.SHT_NOBITS && s.Size > 0
		switch {
		case !present:
		case s.Flags&elf.SHF_EXECINSTR != 0:
			hasCode = true
		case s.Name == ".eh_frame" || s.Name == ".debug_frame" || s.Name == ".zdebug_frame":
			f.Features.HasUnwindInfo = true
		case s.Name == ".debug_info" || s.Name == ".zdebug_info":
			hasDebug = true
		case s.Name == ".symtab":
			f.Features.HasSymbols = s.Size > uint64(symSize(ef))
		}
	}
	f.Features.HasDebugInfo = hasDebug && (elfSection(ef, "line") != nil)
	if s := ef.Section(".gnu_debugaltlink"); s != nil && s.Type != elf.SHT_NOBITS {
		b, err := elfSectionData(s, data)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(b, 0); i > 0 {
			f.AltLink = &AltLink{Path: string(b[:i]), BuildID: hex.EncodeToString(b[i+1:])}
		}
	}
	f.FileType = debugfile.FileType(hasCode, hasDebug)
	if !index {
		return f, nil
	}

	syms, err := elfSymbols(ef)
	if err != nil {
		return nil, err
	}
	f.symtab = newSymtab(syms)

	if hasDebug {
		// Relocatable objects need relocations applied to their DWARF;
		// linked files (executables, shared objects, debug companions) do not.
		if ef.Type == elf.ET_REL {
			return nil, fmt.Errorf("elf relocatable object (ET_REL) with DWARF needs linking first: %w", ErrUnsupported)
		}
		secs, err := elfDWARFSections(ef, data)
		if err != nil {
			return nil, err
		}
		idx, err := buildIndex(secs, ef.ByteOrder, "elf", alt)
		if err != nil {
			return nil, err
		}
		f.index = idx
		linkTwins(f.index, f.symtab)
	}
	return f, nil
}

// elfDWARFSections reads the DWARF sections the index needs.
func elfDWARFSections(ef *elf.File, data []byte) (map[string][]byte, error) {
	secs := map[string][]byte{}
	for _, name := range dwarfSectionNames {
		s := elfSection(ef, name)
		if s == nil {
			continue
		}
		b, err := elfSectionData(s, data)
		if err != nil {
			return nil, err
		}
		secs[name] = b
	}
	return secs, nil
}

// openSupplement reads a dwz supplementary file.
func openSupplement(data []byte) (*supplement, string, error) {
	if kindOf(data) != "elf" {
		return nil, "", fmt.Errorf("supplementary file: %w", ErrUnsupported)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, "", &MalformedError{Kind: "elf", What: "supplementary file header", Err: err}
	}
	if _, err := debugfile.CheckELFClaims(ef, data, debugfile.InflateLimits{}); err != nil {
		return nil, "", &MalformedError{Kind: "elf", What: "supplementary file's compressed sections", Err: err}
	}
	secs, err := elfDWARFSections(ef, data)
	if err != nil {
		return nil, "", err
	}
	sup, err := readSupplement(secs)
	if err != nil {
		return nil, "", &MalformedError{Kind: "elf", What: "supplementary file DWARF", Err: err}
	}
	return sup, hex.EncodeToString(elfBuildID(ef, data)), nil
}

// elfSection finds .debug_NAME or .zdebug_NAME.
func elfSection(ef *elf.File, name string) *elf.Section {
	if s := ef.Section(".debug_" + name); s != nil && s.Type != elf.SHT_NOBITS {
		return s
	}
	if s := ef.Section(".zdebug_" + name); s != nil && s.Type != elf.SHT_NOBITS {
		return s
	}
	return nil
}

// elfSectionData returns a section's contents, decompressed (SHF_COMPRESSED
// zlib/zstd or the GNU .zdebug format) to exactly the size its header
// claims; openELF has checked the claims against the bound. Uncompressed
// sections are sliced from data without a copy.
func elfSectionData(s *elf.Section, data []byte) ([]byte, error) {
	if s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Offset > uint64(len(data)) || s.FileSize > uint64(len(data))-s.Offset {
		return nil, &MalformedError{Kind: "elf", What: "section " + s.Name,
			Err: fmt.Errorf("extends past end of file (offset %d, size %d, file size %d)", s.Offset, s.FileSize, len(data))}
	}
	b, err := debugfile.ELFSectionData(s, data)
	if err != nil {
		return nil, &MalformedError{Kind: "elf", What: "compressed section", Err: err}
	}
	return b, nil
}

func elfBuildID(ef *elf.File, data []byte) []byte {
	if s := ef.Section(".note.gnu.build-id"); s != nil {
		if b, err := elfSectionData(s, data); err == nil {
			if id := debugfile.BuildIDNote(b, ef.ByteOrder); id != nil {
				return id
			}
		}
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := elfSectionData(s, data); err == nil {
				if id := debugfile.BuildIDNote(b, ef.ByteOrder); id != nil {
					return id
				}
			}
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE && p.Off <= uint64(len(data)) && p.Filesz <= uint64(len(data))-p.Off {
			if id := debugfile.BuildIDNote(data[p.Off:p.Off+p.Filesz], ef.ByteOrder); id != nil {
				return id
			}
		}
	}
	return nil
}

func symSize(ef *elf.File) int {
	if ef.Class == elf.ELFCLASS64 {
		return elf.Sym64Size
	}
	return elf.Sym32Size
}

// elfSymbols returns the symbols llvm-symbolizer would consider: defined
// functions, objects and untyped symbols from .symtab, or from .dynsym when
// there is no .symtab.
func elfSymbols(ef *elf.File) ([]symbol, error) {
	for _, name := range []string{".symtab", ".dynsym"} {
		if s := ef.Section(name); s != nil && s.Size/uint64(symSize(ef)) > maxSymbols {
			return nil, &MalformedError{Kind: "elf", What: "section " + name, Err: fmt.Errorf("%d bytes of symbols exceed the limit of %d symbols", s.Size, maxSymbols)}
		}
	}
	raw, err := ef.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		raw, err = ef.DynamicSymbols()
	}
	if errors.Is(err, elf.ErrNoSymbols) {
		return nil, nil
	}
	if err != nil {
		return nil, &MalformedError{Kind: "elf", What: "symbol table", Err: err}
	}
	out := make([]symbol, 0, len(raw))
	arm := ef.Machine == elf.EM_ARM || ef.Machine == elf.EM_AARCH64
	for _, s := range raw {
		typ := elf.ST_TYPE(s.Info)
		if typ != elf.STT_NOTYPE && typ != elf.STT_FUNC && typ != elf.STT_OBJECT && typ != elf.STT_GNU_IFUNC {
			continue
		}
		if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || s.Name == "" {
			continue
		}
		if arm && typ == elf.STT_NOTYPE && strings.HasPrefix(s.Name, "$") {
			continue
		}
		out = append(out, symbol{addr: s.Value, size: s.Size, name: s.Name, fn: typ == elf.STT_FUNC})
	}
	return out, nil
}
