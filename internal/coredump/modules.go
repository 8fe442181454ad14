package coredump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Auxiliary vector keys used here.
const (
	atPHDR        = 3
	atBASE        = 7
	atENTRY       = 9
	atRANDOM      = 25
	atSYSINFOEHDR = 33
)

const (
	pageSize = 4096
	// vdsoName is what Breakpad's Linux dumper calls the vDSO.
	vdsoName = "linux-gate.so"
	// maxNoteRead bounds the PT_NOTE bytes read to find a build ID.
	maxNoteRead = 64 << 10
)

// module is one entry of the ModuleList: a mapped file (or the vDSO).
type module struct {
	base, end uint64
	name      string // the path written to the dump
	file      string // where its bytes can be read now; "" if nowhere
	id        []byte // the identifier of the CodeView record; nil for none
}

// space reads the crashed process's memory: from the core where it was
// dumped, else from the file a mapping maps (text is rarely dumped, but
// it is the file's own bytes).
type space struct {
	core  *Core
	files []FileMap // sorted by Start
	open  func(path string) string
	cache map[string]*os.File
}

func (s *space) close() {
	for _, f := range s.cache {
		if f != nil {
			f.Close()
		}
	}
}

// file opens the file a core names, through the caller's path mapping; nil
// if it cannot be read here.
func (s *space) file(path string) *os.File {
	if f, ok := s.cache[path]; ok {
		return f
	}
	var f *os.File
	if p := s.open(path); p != "" {
		// Only regular files: opening a FIFO a hostile core names would block.
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			f, _ = os.Open(p)
		}
	}
	s.cache[path] = f
	return f
}

// read returns n bytes at addr, or an error if the core does not hold them
// all and no mapped file can supply them.
func (s *space) read(addr, n uint64) ([]byte, error) {
	if s.core.Dumped(addr, n) == n {
		return s.core.ReadMemory(addr, n)
	}
	i, found := slices.BinarySearchFunc(s.files, addr, func(f FileMap, a uint64) int {
		switch {
		case f.End <= a:
			return -1
		case f.Start > a:
			return 1
		}
		return 0
	})
	if !found || addr+n > s.files[i].End || addr+n < addr {
		return nil, fmt.Errorf("coredump: memory 0x%x+0x%x is neither in the core nor in one mapped file", addr, n)
	}
	m := s.files[i]
	f := s.file(m.Path)
	if f == nil {
		return nil, fmt.Errorf("coredump: memory 0x%x+0x%x: not in the core, and %s cannot be read here", addr, n, m.Path)
	}
	return readFull(f, m.Offset+(addr-m.Start), n, m.Path)
}

// findModules lists the dump's modules: one per mapped file, as named by
// NT_FILE (or placed by the auxiliary vector for the executables the
// caller names, when the core has no NT_FILE), plus the vDSO. The main
// executable, the one holding AT_ENTRY, comes first, as Breakpad puts it.
func findModules(s *space) []module {
	var mods []module
	open := map[string]int{} // path → index in mods of its module being built
	for _, f := range s.files {
		i, ok := open[f.Path]
		if !ok || f.Offset == 0 {
			// A mapping at offset 0 starts a module: the ELF header is there.
			mods = append(mods, module{base: f.Start, end: f.End, name: f.Path})
			open[f.Path] = len(mods) - 1
			continue
		}
		mods[i].end = max(mods[i].end, f.End)
	}
	if vdso, ok := s.core.AuxvValue(atSYSINFOEHDR); ok && vdso != 0 {
		if seg, ok := s.core.Segment(vdso); ok {
			if magic, err := s.core.ReadMemory(vdso, 4); err == nil && string(magic) == "\x7fELF" {
				mods = append(mods, module{base: vdso, end: seg.End(), name: vdsoName})
			}
		}
	}
	slices.SortStableFunc(mods, func(a, b module) int {
		switch {
		case a.base < b.base:
			return -1
		case a.base > b.base:
			return 1
		}
		return 0
	})
	if entry, ok := s.core.AuxvValue(atENTRY); ok {
		for i, m := range mods {
			if m.base <= entry && entry < m.end {
				mods = slices.Insert(slices.Delete(mods, i, i+1), 0, m)
				break
			}
		}
	}
	for i := range mods {
		m := &mods[i]
		if m.name != vdsoName {
			if f := s.file(m.name); f != nil {
				m.file = f.Name()
				if soname := soName(f); soname != "" {
					m.name = path.Join(path.Dir(m.name), soname)
				}
			}
		}
		m.id = moduleID(s, m)
	}
	return mods
}

// soName returns the file's DT_SONAME. Breakpad's writer names a module by
// it (its path's base name replaced), because dump_syms names the symbol
// file by it and minidump_stackwalk looks symbols up by the module's base
// name: /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30, mapped, is written
// as …/libstdc++.so.6.
func soName(f *os.File) string {
	e, err := elf.NewFile(f)
	if err != nil {
		return ""
	}
	names, err := e.DynString(elf.DT_SONAME)
	if err != nil || len(names) == 0 || strings.ContainsRune(names[0], '/') {
		return ""
	}
	return names[0]
}

// moduleID returns the identifier Breakpad's writer would record: the GNU
// build ID from the module's notes, read from the crashed process's memory
// when the core holds them (the kernel dumps the first page of every ELF
// mapping), else from the file; failing a build ID, the XOR of the first
// page of .text in 16-byte blocks, which is what dump_syms then uses too.
func moduleID(s *space, m *module) []byte {
	if id := buildIDFromMemory(s, m.base); id != nil {
		return id
	}
	if m.file == "" {
		return nil
	}
	f, err := elf.Open(m.file)
	if err != nil {
		return nil
	}
	defer f.Close()
	if id := buildIDFromFile(f); id != nil {
		return id
	}
	return textHash(f)
}

// buildIDFromMemory reads the ELF header at base from the core, then its
// program headers, then its PT_NOTE segments, relocated by the load bias.
func buildIDFromMemory(s *space, base uint64) []byte {
	eh, err := s.core.ReadMemory(base, 64)
	if err != nil || string(eh[:4]) != "\x7fELF" || eh[4] != 2 || eh[5] != 1 {
		return nil
	}
	phoff, phentsize, phnum := le.Uint64(eh[32:]), uint64(le.Uint16(eh[54:])), uint64(le.Uint16(eh[56:]))
	if phentsize != 56 || phnum == 0 || phnum > 512 || phoff > 1<<20 {
		return nil
	}
	ph, err := s.core.ReadMemory(base+phoff, phnum*56)
	if err != nil {
		return nil
	}
	bias, biasKnown := uint64(0), false
	for i := uint64(0); i < phnum; i++ {
		p := ph[56*i:]
		if le.Uint32(p) == ptLoad && le.Uint64(p[8:]) == 0 { // the segment that maps the header
			bias, biasKnown = base-(le.Uint64(p[16:])&^(pageSize-1)), true
			break
		}
	}
	if !biasKnown {
		return nil
	}
	for i := uint64(0); i < phnum; i++ {
		p := ph[56*i:]
		if le.Uint32(p) != ptNote {
			continue
		}
		size := min(le.Uint64(p[32:]), maxNoteRead)
		notes, err := s.core.ReadMemory(bias+le.Uint64(p[16:]), size)
		if err != nil {
			continue
		}
		if id := findBuildID(notes, le.Uint64(p[48:])); id != nil {
			return id
		}
	}
	return nil
}

func buildIDFromFile(f *elf.File) []byte {
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := readFull(p.Open().(io.ReaderAt), 0, min(p.Filesz, maxNoteRead), "PT_NOTE")
		if err != nil {
			continue
		}
		if id := findBuildID(notes, p.Align); id != nil {
			return id
		}
	}
	for _, sec := range f.Sections {
		if sec.Type != elf.SHT_NOTE || sec.Size > maxNoteRead {
			continue
		}
		notes, err := sec.Data()
		if err != nil {
			continue
		}
		if id := findBuildID(notes, sec.Addralign); id != nil {
			return id
		}
	}
	return nil
}

// findBuildID scans ELF notes for NT_GNU_BUILD_ID. Notes are 4-byte aligned
// unless their segment says 8.
func findBuildID(notes []byte, align uint64) []byte {
	pad := func(n uint64) uint64 { return (n + 3) &^ 3 }
	if align == 8 {
		pad = func(n uint64) uint64 { return (n + 7) &^ 7 }
	}
	for off := uint64(0); off+12 <= uint64(len(notes)); {
		namesz, descsz, typ := uint64(le.Uint32(notes[off:])), uint64(le.Uint32(notes[off+4:])), le.Uint32(notes[off+8:])
		nameOff := off + 12
		descOff := nameOff + pad(namesz)
		if namesz > uint64(len(notes)) || descsz > uint64(len(notes)) || descOff+descsz > uint64(len(notes)) {
			return nil
		}
		if typ == 3 && string(bytes.TrimRight(notes[nameOff:nameOff+namesz], "\x00")) == "GNU" && descsz > 0 {
			return slices.Clone(notes[descOff : descOff+descsz])
		}
		off = descOff + pad(descsz)
	}
	return nil
}

// textHash is Breakpad's identifier for an ELF file without a build ID:
// the first 4096 bytes of .text folded by XOR into 16 bytes.
func textHash(f *elf.File) []byte {
	sec := f.Section(".text")
	if sec == nil || sec.Type == elf.SHT_NOBITS || sec.Size == 0 {
		return nil
	}
	text, err := readFull(sec.Open().(io.ReaderAt), 0, min(sec.Size, pageSize), ".text")
	if err != nil {
		return nil
	}
	id := make([]byte, 16)
	for i, c := range text {
		id[i%16] ^= c
	}
	return id
}

// placeExecutables lays out, for a core without NT_FILE (qemu-user writes
// none), the mappings of the executables the caller names: the main
// program where AT_PHDR and AT_ENTRY put it, the dynamic loader at
// AT_BASE. Each becomes FileMaps as the loader would have mapped its
// PT_LOAD segments.
func placeExecutables(c *Core, paths []string) ([]FileMap, error) {
	var out []FileMap
	for _, path := range paths {
		maps, err := placeExecutable(c, path)
		if err != nil {
			return nil, fmt.Errorf("coredump: executable %s: %w", path, err)
		}
		out = append(out, maps...)
	}
	return out, nil
}

func placeExecutable(c *Core, path string) ([]FileMap, error) {
	raw, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	f, err := elf.NewFile(raw)
	if err != nil {
		return nil, err
	}
	bias, err := loadBias(c, f, raw)
	if err != nil {
		return nil, err
	}
	var out []FileMap
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		start := (bias + p.Vaddr) &^ (pageSize - 1)
		end := (bias + p.Vaddr + p.Filesz + pageSize - 1) &^ (pageSize - 1)
		out = append(out, FileMap{Start: start, End: end, Offset: p.Off &^ (pageSize - 1), Path: path})
	}
	return out, nil
}

// loadBias finds where f was loaded: as the main program if AT_PHDR and
// AT_ENTRY agree with its headers, as the interpreter if it is a shared
// object without PT_INTERP and AT_BASE is set.
func loadBias(c *Core, f *elf.File, raw io.ReaderAt) (uint64, error) {
	if phdr, ok := c.AuxvValue(atPHDR); ok {
		if entry, ok := c.AuxvValue(atENTRY); ok {
			if v, ok := phdrVaddr(f, raw); ok && f.Entry+(phdr-v) == entry {
				return phdr - v, nil
			}
		}
	}
	hasInterp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	if base, ok := c.AuxvValue(atBASE); ok && base != 0 && f.Type == elf.ET_DYN && !hasInterp {
		return base, nil
	}
	return 0, errors.New("the auxiliary vector places it nowhere (it is neither the crashed program, by AT_PHDR and AT_ENTRY, nor its dynamic loader)")
}

// phdrVaddr is the address the program headers are loaded at, before
// relocation: PT_PHDR's, else computed from the PT_LOAD holding e_phoff.
func phdrVaddr(f *elf.File, raw io.ReaderAt) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_PHDR {
			return p.Vaddr, true
		}
	}
	var eh [40]byte // debug/elf does not export e_phoff, at byte 32
	if _, err := raw.ReadAt(eh[:], 0); err != nil {
		return 0, false
	}
	phoff := binary.LittleEndian.Uint64(eh[32:])
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off <= phoff && phoff < p.Off+p.Filesz {
			return p.Vaddr + (phoff - p.Off), true
		}
	}
	return 0, false
}

// cleanDeleted strips the " (deleted)" the kernel appends to the path of a
// file that was unlinked while mapped.
func cleanDeleted(path string) string {
	return strings.TrimSuffix(path, " (deleted)")
}

// resolver returns the function that says where a file named in the core
// can be read here: an executable named with the same path or base name,
// else where the caller's PathMap says, else the path itself if it is a
// regular file.
func resolver(opts *Options) func(string) string {
	return func(path string) string {
		clean := cleanDeleted(path)
		for _, exe := range opts.Executables {
			if exe == clean {
				return exe
			}
		}
		for _, exe := range opts.Executables {
			if filepath.Base(exe) == filepath.Base(clean) {
				return exe
			}
		}
		if opts.PathMap != nil {
			return opts.PathMap(path)
		}
		if st, err := os.Stat(clean); err == nil && st.Mode().IsRegular() {
			return clean
		}
		return ""
	}
}
