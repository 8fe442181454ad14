// Package dwarfcfi reads DWARF call frame information — the .eh_frame
// section (with its .eh_frame_hdr search table), Mach-O's __eh_frame and
// .debug_frame (versions 1, 3 and 4) — and evaluates it: Find returns the
// unwind row for an address and Row.Unwind computes the caller's registers
// from the callee's, the way a stack walker needs them.
//
// Like debug/elf and debug/dwarf, the package only reads. Every read is
// bounds-checked, every loop is bounded by the input, allocations are
// bounded by what the input can hold, and hostile input yields an error,
// never a panic. Addresses are those of the file's own address space (the
// ELF or Mach-O vaddrs the section describes); callers convert from and to
// load addresses.
//
// Rows follow GCC's unwinder (libgcc), which compilers' output is written
// for: DW_CFA_remember_state saves the CFA rule along with the register
// rules, and DW_CFA_AARCH64_negate_ra_state toggles the return address
// signing state. The tests compare every row of binaries and objects built
// by GCC and clang for x86_64, aarch64, i386 and arm with readelf's and
// llvm-dwarfdump's unwind tables.
package dwarfcfi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Kind says which of the two layouts of call frame information a section
// uses. They share the instruction set but differ in how entries point at
// their CIE and how addresses are encoded.
type Kind uint8

const (
	// EHFrame is .eh_frame (ELF) or __eh_frame (Mach-O): CIE id 0, FDEs
	// point at their CIE relative to themselves, and CIE augmentations
	// choose how addresses are encoded (usually pc-relative).
	EHFrame Kind = iota + 1
	// DebugFrame is .debug_frame: CIE id all ones, FDEs hold the CIE's
	// section offset, and addresses are absolute.
	DebugFrame
)

func (k Kind) String() string {
	switch k {
	case EHFrame:
		return ".eh_frame"
	case DebugFrame:
		return ".debug_frame"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Arch is the CPU the section describes. It selects the canonical register
// names of Row.Unwind and the meaning of architecture-specific instructions.
type Arch uint8

const (
	AMD64 Arch = iota + 1 // x86_64
	ARM64                 // aarch64
	X86                   // i386
	ARM                   // 32-bit arm
)

func (a Arch) String() string {
	switch a {
	case AMD64:
		return "amd64"
	case ARM64:
		return "arm64"
	case X86:
		return "x86"
	case ARM:
		return "arm"
	}
	return fmt.Sprintf("Arch(%d)", uint8(a))
}

func (a Arch) ptrSize() int {
	if a == AMD64 || a == ARM64 {
		return 8
	}
	return 4
}

// Options describe where the section sits in the file, which the
// section's relative pointer encodings need.
type Options struct {
	Arch Arch
	// PtrSize is the address size in bytes, 4 or 8; 0 means Arch's own.
	PtrSize int
	// ByteOrder of the section; nil means little-endian.
	ByteOrder binary.ByteOrder
	// SectionAddr is the address (vaddr) of the section's first byte:
	// the base of pc-relative (DW_EH_PE_pcrel) and aligned pointers.
	SectionAddr uint64
	// TextAddr and DataAddr are the bases of DW_EH_PE_textrel and
	// DW_EH_PE_datarel pointers (for .eh_frame on i386, datarel is relative
	// to the GOT). Zero when the file does not use them.
	TextAddr, DataAddr uint64
	// Hdr, when set, is the parsed .eh_frame_hdr of this .eh_frame: Find
	// then looks addresses up in its sorted table and decodes just the FDE
	// it names, instead of indexing the whole section first.
	Hdr *Hdr
}

// Limits on hostile input.
const (
	// maxReg bounds DWARF register numbers in rules: the architectures
	// here use fewer than 300 (arm's VFP registers are 256-287).
	maxReg = 1024
	// maxStateDepth bounds DW_CFA_remember_state nesting; compilers nest
	// one or two levels.
	maxStateDepth = 64
	// maxWork bounds the effort of running one FDE's instructions:
	// instructions plus rules copied by remember/restore_state.
	maxWork = 1 << 20
	// maxLookBack bounds the search for an enclosing FDE when FDEs
	// overlap (only malformed or tombstoned tables have overlaps).
	maxLookBack = 32
)

// ErrNoFDE is returned (wrapped) by Find when no FDE covers the address.
var ErrNoFDE = errors.New("no FDE covers the address")

// Table is the parsed call frame information of one section. It is safe
// for concurrent use. It keeps a reference to the section's bytes, which
// must not change.
type Table struct {
	data []byte
	kind Kind
	opts Options
	bo   binary.ByteOrder
	ptr  int // address size, 4 or 8

	once    sync.Once
	fdes    []fdeRef // sorted by begin, then by end
	skipped int      // FDEs left out of fdes: see buildIndex
	idxErr  error
}

// fdeRef is one FDE in the table's index.
type fdeRef struct {
	begin, end uint64
	off        int // offset of the FDE's length field
	instr      int // its instructions: data[instr:instrEnd]
	instrEnd   int
	cie        *cie
}

// Parse reads the framing of a call frame section: the length and id of
// every entry up to the end or, in .eh_frame, up to the zero terminator
// (what follows it is ignored, as the GNU unwinder ignores it). An entry
// whose length runs past the section, or a zero length in .debug_frame,
// is an error.
//
// The content of CIEs and FDEs is decoded later, when Find, Covers or Len
// needs it. An FDE that cannot be decoded (unknown CIE version or
// augmentation, DW_EH_PE_indirect or funcrel address) is then left out
// rather than failing the table, because the rest of it is still good.
func Parse(section []byte, kind Kind, opts Options) (*Table, error) {
	if kind != EHFrame && kind != DebugFrame {
		return nil, fmt.Errorf("dwarfcfi: unknown section kind %d", kind)
	}
	t, err := newTable(section, opts)
	if err != nil {
		return nil, err
	}
	t.kind = kind
	if opts.Hdr != nil {
		if kind != EHFrame {
			return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr given for %v", kind)
		}
		if opts.Hdr.ehFrame != opts.SectionAddr {
			return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr describes .eh_frame at %#x, not the section at %#x", opts.Hdr.ehFrame, opts.SectionAddr)
		}
	}
	for off := 0; off < len(section); {
		e, err := t.entryAt(off)
		if err != nil {
			return nil, err
		}
		if e.terminator {
			break
		}
		off = e.end
	}
	return t, nil
}

// Find returns the unwind row in effect at addr: the FDE covering addr is
// found, and its CIE's initial instructions and its own instructions up to
// addr are run. The error wraps ErrNoFDE when no FDE covers addr.
//
// For a caller's frame, look up the return address minus one (inside the
// call instruction: a call can be a function's last instruction), unless
// the callee's row is a SignalFrame, whose return address is the
// interrupted instruction itself.
func (t *Table) Find(addr uint64) (*Row, error) {
	f, err := t.lookup(addr)
	if err != nil {
		return nil, err
	}
	return t.execute(f, addr)
}

// Covers reports whether an FDE covers addr, i.e. whether Find has rules
// for it (Find can still fail when the FDE's instructions are malformed).
func (t *Table) Covers(addr uint64) bool {
	_, err := t.lookup(addr)
	return err == nil
}

// Len returns the number of FDEs with a non-empty address range that
// could be decoded.
func (t *Table) Len() int {
	t.once.Do(t.buildIndex)
	return len(t.fdes)
}

// lookup finds the FDE covering addr, through the .eh_frame_hdr table when
// there is one and it has the answer, else through the index.
func (t *Table) lookup(addr uint64) (fdeRef, error) {
	if h := t.opts.Hdr; h != nil {
		if fa, ok := h.search(addr); ok && fa >= t.opts.SectionAddr && fa-t.opts.SectionAddr < uint64(len(t.data)) {
			if f, err := t.decodeFDEAt(int(fa - t.opts.SectionAddr)); err == nil && f.begin <= addr && addr < f.end {
				return f, nil
			}
		}
	}
	t.once.Do(t.buildIndex)
	fdes := t.fdes
	i := sort.Search(len(fdes), func(i int) bool { return fdes[i].begin > addr })
	for j := i - 1; j >= 0 && j >= i-maxLookBack; j-- {
		if fdes[j].begin <= addr && addr < fdes[j].end {
			return fdes[j], nil
		}
	}
	if t.idxErr != nil {
		return fdeRef{}, fmt.Errorf("dwarfcfi: %v: address %#x: %w (%v)", t.kind, addr, ErrNoFDE, t.idxErr)
	}
	return fdeRef{}, fmt.Errorf("dwarfcfi: %v: address %#x: %w", t.kind, addr, ErrNoFDE)
}

// buildIndex decodes every FDE and sorts them by address. FDEs that cannot
// be decoded, or cover nothing, are counted in skipped. Parse has checked
// the framing, so entryAt only fails here if the data changed.
func (t *Table) buildIndex() {
	cies := map[int]*cie{}
	for off := 0; off < len(t.data); {
		e, err := t.entryAt(off)
		if err != nil {
			t.idxErr = err
			break
		}
		if e.terminator {
			break
		}
		off = e.end
		if e.isCIE {
			continue
		}
		c, ok := cies[e.cieOff]
		if !ok {
			c, err = t.decodeCIE(e.cieOff)
			if err != nil {
				c = nil
			}
			cies[e.cieOff] = c
		}
		if c == nil {
			t.skipped++
			continue
		}
		f, err := t.decodeFDE(e, c)
		if err != nil || f.begin >= f.end {
			t.skipped++
			continue
		}
		t.fdes = append(t.fdes, f)
	}
	sort.Slice(t.fdes, func(i, j int) bool {
		a, b := t.fdes[i], t.fdes[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		return a.end < b.end
	})
}

// decodeFDEAt decodes the FDE whose length field is at off.
func (t *Table) decodeFDEAt(off int) (fdeRef, error) {
	e, err := t.entryAt(off)
	if err != nil {
		return fdeRef{}, err
	}
	if e.terminator || e.isCIE {
		return fdeRef{}, fmt.Errorf("dwarfcfi: %v: entry at %#x is not an FDE", t.kind, off)
	}
	c, err := t.decodeCIE(e.cieOff)
	if err != nil {
		return fdeRef{}, err
	}
	return t.decodeFDE(e, c)
}
