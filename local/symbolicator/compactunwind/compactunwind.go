// Package compactunwind reads Mach-O compact unwind information (the
// __TEXT,__unwind_info section, format version 1) and evaluates its
// encodings for x86_64 and arm64.
//
// The section maps function start offsets (relative to the image's __TEXT
// vmaddr) to 32-bit encodings through a two-level table: a first-level index
// of pages, each page either "regular" (offset, encoding pairs) or
// "compressed" (24-bit offsets relative to the page's first function, and
// 8-bit indices into the section's common encodings or the page's own). The
// layout and the encodings are those of LLVM's
// libunwind/include/mach-o/compact_unwind_encoding.h, and the evaluation
// follows libunwind's CompactUnwinder.
//
// Compact unwind describes a function's body, after the prologue and before
// the epilogue: one encoding covers the whole function, so results are
// exact at call sites (every frame but the innermost) and may be wrong
// while the innermost frame is still pushing or popping registers. When a
// function cannot be described compactly the encoding says "use DWARF": the
// Entry carries the offset of its FDE in __eh_frame and Unwind returns a
// *DWARFError so the caller can evaluate that FDE instead.
//
// The reader only reads: every offset and count is checked against the
// section, allocations are bounded by the section's size, and hostile input
// yields errors, never panics.
package compactunwind

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Second-level page kinds.
const (
	pageRegular    = 2
	pageCompressed = 3
)

const (
	headerSize     = 28 // seven uint32
	indexEntrySize = 12 // functionOffset, secondLevelPagesSectionOffset, lsdaIndexArraySectionOffset
	lsdaEntrySize  = 8  // functionOffset, lsdaOffset
)

// Table is a parsed __unwind_info section. Its methods are safe for
// concurrent use once Text is set (or left nil).
type Table struct {
	// Arch is "x86_64" or "arm64"; it selects how encodings are evaluated.
	Arch string
	// SectionAddr is the __unwind_info section's address in the file's
	// address space; TextBase is the image's __TEXT vmaddr, the base of
	// every function offset in the section.
	SectionAddr, TextBase uint64

	// Text, when set, returns n bytes of the image's code at addr (in the
	// file's address space). x86_64 STACK_IND encodings need it: their stack
	// size is the immediate of a sub instruction in the function's
	// prologue. Set it before calling Find; entries keep the accessor they
	// were found with.
	Text func(addr uint64, n int) ([]byte, bool)

	data          []byte
	common        []uint32
	personalities []uint32
	index         []indexEntry // first-level index; the last entry is the end sentinel
	pages         []page       // pages[i] belongs to index[i], for i < len(index)-1
}

type indexEntry struct {
	funcOff uint32 // first function offset the page covers (the sentinel: end of the covered range)
	pageOff uint32 // section offset of the second-level page (0 in the sentinel)
	lsdaOff uint32 // section offset of this page's slice of the LSDA index
}

// page is a validated second-level page header.
type page struct {
	kind       uint32
	entries    uint32 // section offset of the entry array
	count      uint32
	local      uint32 // compressed: section offset of the page-local encodings
	localCount uint32
}

// FormatError reports a malformed section.
type FormatError struct {
	Off uint64 // section offset of the offending structure
	Msg string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("compactunwind: at section offset 0x%x: %s", e.Off, e.Msg)
}

func ferr(off uint64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads an __unwind_info section. sectionAddr is the section's
// address and textBase the image's __TEXT vmaddr, both in the file's address
// space; arch is "x86_64" or "arm64".
//
// Parse checks the header, the common encodings, the personality array,
// the first-level index (sorted, ending in a sentinel entry) and every
// second-level page header and its arrays, so Find only reads within
// checked bounds.
func Parse(section []byte, sectionAddr, textBase uint64, arch string) (*Table, error) {
	switch arch {
	case "x86_64", "arm64":
	default:
		return nil, fmt.Errorf("compactunwind: unsupported architecture %q (want x86_64 or arm64)", arch)
	}
	if len(section) < headerSize {
		return nil, ferr(0, "header needs %d bytes, section has %d", headerSize, len(section))
	}
	if uint64(len(section)) > 1<<32 {
		return nil, ferr(0, "section of %d bytes is larger than 32-bit offsets can address", len(section))
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(section[off:]) }
	if v := u32(0); v != 1 {
		return nil, ferr(0, "version %d, want 1", v)
	}
	t := &Table{Arch: arch, SectionAddr: sectionAddr, TextBase: textBase, data: section}

	var err error
	if t.common, err = t.array32(u32(4), u32(8), "common encodings"); err != nil {
		return nil, err
	}
	if t.personalities, err = t.array32(u32(12), u32(16), "personality array"); err != nil {
		return nil, err
	}
	idxOff, idxCount := u32(20), u32(24)
	if err := t.span(uint64(idxOff), uint64(idxCount), indexEntrySize, "first-level index"); err != nil {
		return nil, err
	}
	if idxCount == 0 {
		return nil, ferr(20, "first-level index is empty (it needs at least the end sentinel)")
	}
	t.index = make([]indexEntry, idxCount)
	for i := range t.index {
		o := int(idxOff) + i*indexEntrySize
		t.index[i] = indexEntry{funcOff: u32(o), pageOff: u32(o + 4), lsdaOff: u32(o + 8)}
		if i > 0 && t.index[i].funcOff < t.index[i-1].funcOff {
			return nil, ferr(uint64(o), "first-level index entry %d: function offset 0x%x below the previous 0x%x",
				i, t.index[i].funcOff, t.index[i-1].funcOff)
		}
		if i > 0 && t.index[i].lsdaOff < t.index[i-1].lsdaOff {
			return nil, ferr(uint64(o), "first-level index entry %d: LSDA index offset 0x%x below the previous 0x%x",
				i, t.index[i].lsdaOff, t.index[i-1].lsdaOff)
		}
	}
	// The LSDA index runs from the first entry's lsdaOff to the sentinel's.
	first, last := t.index[0].lsdaOff, t.index[idxCount-1].lsdaOff
	if (last-first)%lsdaEntrySize != 0 {
		return nil, ferr(uint64(idxOff), "LSDA index 0x%x..0x%x is not a whole number of %d-byte entries", first, last, lsdaEntrySize)
	}
	if err := t.span(uint64(first), uint64(last-first)/lsdaEntrySize, lsdaEntrySize, "LSDA index"); err != nil {
		return nil, err
	}
	t.pages = make([]page, idxCount-1)
	for i := range t.pages {
		p, err := t.readPage(i)
		if err != nil {
			return nil, err
		}
		t.pages[i] = p
	}
	return t, nil
}

// span checks that count elements of size bytes at off lie in the section.
func (t *Table) span(off, count, size uint64, what string) error {
	n := uint64(len(t.data))
	if off > n || count > (n-off)/size {
		return ferr(off, "%s: %d entries of %d bytes at 0x%x run past the section's %d bytes", what, count, size, off, n)
	}
	return nil
}

func (t *Table) array32(off, count uint32, what string) ([]uint32, error) {
	if err := t.span(uint64(off), uint64(count), 4, what); err != nil {
		return nil, err
	}
	out := make([]uint32, count)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(t.data[int(off)+4*i:])
	}
	return out, nil
}

func (t *Table) readPage(i int) (page, error) {
	off := uint64(t.index[i].pageOff)
	what := fmt.Sprintf("second-level page %d", i)
	if off == 0 {
		return page{}, ferr(off, "%s: offset 0 (only the last first-level entry may be the sentinel)", what)
	}
	if off > uint64(len(t.data)) || uint64(len(t.data))-off < 8 {
		return page{}, ferr(off, "%s: header runs past the section's %d bytes", what, len(t.data))
	}
	d := t.data[off:]
	p := page{kind: binary.LittleEndian.Uint32(d)}
	entOff := uint64(binary.LittleEndian.Uint16(d[4:]))
	p.count = uint32(binary.LittleEndian.Uint16(d[6:]))
	p.entries = uint32(off + entOff)
	switch p.kind {
	case pageRegular:
		if err := t.span(off+entOff, uint64(p.count), 8, what+" entries"); err != nil {
			return page{}, err
		}
	case pageCompressed:
		if len(d) < 12 {
			return page{}, ferr(off, "%s: compressed header runs past the section's %d bytes", what, len(t.data))
		}
		if err := t.span(off+entOff, uint64(p.count), 4, what+" entries"); err != nil {
			return page{}, err
		}
		locOff := uint64(binary.LittleEndian.Uint16(d[8:]))
		p.localCount = uint32(binary.LittleEndian.Uint16(d[10:]))
		p.local = uint32(off + locOff)
		if err := t.span(off+locOff, uint64(p.localCount), 4, what+" encodings"); err != nil {
			return page{}, err
		}
	default:
		return page{}, ferr(off, "%s: unknown kind %d (want 2, regular, or 3, compressed)", what, p.kind)
	}
	return p, nil
}

// Covers reports whether the table has usable unwind information for addr
// (in the file's address space): an entry covers it and its encoding is not
// zero ("no unwind information", used for code such as stubs). A DWARF-mode
// entry counts as covered: its FDE is named.
func (t *Table) Covers(addr uint64) bool {
	e, ok := t.Find(addr)
	return ok && e.Encoding != 0
}

// Range returns the address range [lo, hi) the first-level index spans.
func (t *Table) Range() (lo, hi uint64) {
	return t.TextBase + uint64(t.index[0].funcOff), t.TextBase + uint64(t.index[len(t.index)-1].funcOff)
}

// Find returns the entry covering addr (in the file's address space): the
// last entry whose function offset is at or below addr, within the range
// the first-level index spans. Entries with encoding 0 are returned too
// (Unwind fails for them). ok is false when no entry covers addr or its
// encoding index is out of range.
func (t *Table) Find(addr uint64) (*Entry, bool) {
	if addr < t.TextBase || addr-t.TextBase > 0xffffffff {
		return nil, false
	}
	off := uint32(addr - t.TextBase)
	n := len(t.pages)
	if n == 0 || off < t.index[0].funcOff || off >= t.index[n].funcOff {
		return nil, false
	}
	// The last page whose first function offset is <= off.
	pi := sort.Search(n, func(i int) bool { return t.index[i].funcOff > off }) - 1
	// Pages with equal first offsets: the search lands on the last, which
	// may be empty; step back to one with entries.
	for pi >= 0 && t.pages[pi].count == 0 {
		pi--
	}
	if pi < 0 {
		return nil, false
	}
	p := &t.pages[pi]
	base := t.index[pi].funcOff
	ei := sort.Search(int(p.count), func(i int) bool { return t.entryOff(p, base, i) > off }) - 1
	if ei < 0 {
		return nil, false
	}
	start := t.entryOff(p, base, ei)
	end := t.index[pi+1].funcOff
	if ei+1 < int(p.count) {
		end = t.entryOff(p, base, ei+1)
	} else {
		// The next non-empty page's first entry, or the sentinel.
		for j := pi + 1; j < n; j++ {
			if t.pages[j].count > 0 {
				end = t.entryOff(&t.pages[j], t.index[j].funcOff, 0)
				break
			}
		}
	}
	enc, ok := t.encoding(p, ei)
	if !ok {
		return nil, false
	}
	e := &Entry{
		Addr:     addr,
		Start:    t.TextBase + uint64(start),
		Encoding: enc,
		arch:     t.Arch,
		text:     t.Text,
	}
	if end > start {
		e.End = t.TextBase + uint64(end)
	} else {
		e.End = e.Start
	}
	if pidx := (enc >> 28) & 3; pidx != 0 && int(pidx) <= len(t.personalities) {
		e.Personality = t.TextBase + uint64(t.personalities[pidx-1])
	}
	if enc&hasLSDA != 0 {
		e.LSDA = t.lsda(pi, start)
	}
	if e.usesDWARF() {
		e.FDEOffset = enc & 0x00ffffff
	}
	return e, true
}

// entryOff returns the function offset of entry i of a page.
func (t *Table) entryOff(p *page, base uint32, i int) uint32 {
	if p.kind == pageRegular {
		return binary.LittleEndian.Uint32(t.data[int(p.entries)+8*i:])
	}
	v := binary.LittleEndian.Uint32(t.data[int(p.entries)+4*i:])
	return base + v&0x00ffffff
}

// encoding returns entry i's encoding; ok is false when a compressed
// entry's encoding index is beyond both tables.
func (t *Table) encoding(p *page, i int) (uint32, bool) {
	if p.kind == pageRegular {
		return binary.LittleEndian.Uint32(t.data[int(p.entries)+8*i+4:]), true
	}
	idx := binary.LittleEndian.Uint32(t.data[int(p.entries)+4*i:]) >> 24
	if idx < uint32(len(t.common)) {
		return t.common[idx], true
	}
	idx -= uint32(len(t.common))
	if idx >= p.localCount {
		return 0, false
	}
	return binary.LittleEndian.Uint32(t.data[int(p.local)+4*int(idx):]), true
}

// lsda looks up the LSDA of the function at offset start among page pi's
// LSDA index entries (sorted by function offset); 0 when there is none.
func (t *Table) lsda(pi int, start uint32) uint64 {
	lo, hi := t.index[pi].lsdaOff, t.index[pi+1].lsdaOff
	n := int((hi - lo) / lsdaEntrySize)
	at := func(i int) (uint32, uint32) {
		o := int(lo) + i*lsdaEntrySize
		return binary.LittleEndian.Uint32(t.data[o:]), binary.LittleEndian.Uint32(t.data[o+4:])
	}
	i := sort.Search(n, func(i int) bool { f, _ := at(i); return f >= start })
	if i < n {
		if f, l := at(i); f == start {
			return t.TextBase + uint64(l)
		}
	}
	return 0
}

// Entries calls fn for every entry of the table in order, with its
// function start (file address space) and encoding, and stops early when fn
// returns false. Entries whose encoding index is invalid are reported with
// ok false.
func (t *Table) Entries(fn func(start uint64, encoding uint32, ok bool) bool) {
	for pi := range t.pages {
		p := &t.pages[pi]
		for i := 0; i < int(p.count); i++ {
			enc, ok := t.encoding(p, i)
			if !fn(t.TextBase+uint64(t.entryOff(p, t.index[pi].funcOff, i)), enc, ok) {
				return
			}
		}
	}
}
