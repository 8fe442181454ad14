package objfile

import (
	"cmp"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync/atomic"
)

// dwarfSectionNames are the DWARF sections the index reads, without the
// ".debug_" prefix.
var dwarfSectionNames = []string{"abbrev", "info", "str", "line", "ranges", "line_str", "str_offsets", "addr", "rnglists"}

// dwarfIndex is the lookup structure built once per file.
type dwarfIndex struct {
	files []string    // global file table (absolute paths)
	lines []lineEntry // sorted by addr; file < 0 marks the end of a sequence
	segs  []segment   // sorted by addr; node < 0 marks a gap
	nodes []node
	// names are the raw (linkage) names of the nodes; display holds each
	// one's demangled form once a lookup asked for it. Demangling every
	// name when the file is opened made opening large C++ files slow, and
	// a request needs few of them.
	names   []string
	display []atomic.Pointer[string]
	langs   []string // per unit
	// dart marks units produced by the Dart VM: their functions keep the
	// DWARF names, since Dart's symbol-table mangling is lossy (symbolic).
	dart []bool
}

type lineEntry struct {
	addr uint64
	file int32
	line uint32
}

// segment starts an address interval whose innermost function (real or
// inlined) is node; the interval ends where the next segment starts.
type segment struct {
	addr uint64
	node int32
}

// node is a subprogram with code (a root, parent < 0) or an inlined
// subroutine inside one.
type node struct {
	parent   int32
	name     int32  // index into dwarfIndex.names
	callFile int32  // global file id of DW_AT_call_file, -1 when absent
	callLine uint32 // DW_AT_call_line
	unit     int32
	entry    uint64 // roots: the function's entry address
	// nameAddr is, for roots, the lowest address of the function's ranges:
	// where symbolic looks for a symbol to name the function.
	nameAddr uint64
}

// dieName holds the naming attributes of a subprogram or inlined
// subroutine DIE.
type dieName struct {
	name, linkage string
	origin, spec  dwarf.Offset
	// originAlt and specAlt say the reference points into the
	// supplementary file (DW_FORM_GNU_ref_alt from dwz).
	originAlt, specAlt bool
}

// supplement is what a dwz supplementary file (.gnu_debugaltlink)
// contributes: its string table and the names of its subprogram DIEs.
type supplement struct {
	str   []byte
	names map[dwarf.Offset]dieName
}

type interval struct {
	lo, hi uint64
	node   int32
	depth  int32
	root   int32
}

type indexBuilder struct {
	d       *dwarf.Data
	idx     *dwarfIndex
	fileIDs map[string]int32
	names   map[dwarf.Offset]dieName
	nodeDIE []dieName
	nameIDs map[string]int32
	ivs     []interval
	depth   []int32
	root    []int32
	rows    []lineRow

	rangeBuf [][2]uint64

	// unitEnds are the end offsets of the units of .debug_info, in order.
	// cuEnd is the end of the unit whose root DIE the walk last saw (0:
	// none), cuBase that root's entry pc, low pc and address base: what
	// dwarf.Data.Ranges would otherwise re-read from the root for every DIE
	// with DW_AT_ranges.
	unitEnds []dwarf.Offset
	cuEnd    dwarf.Offset
	cuBase   []dwarf.Field
	fieldBuf []dwarf.Field

	alt *supplement // nil without a supplementary file

	// zeroIsDiscarded drops code at address 0: in linked ELF files that is
	// where the linker leaves functions of discarded sections. Mach-O
	// objects have real code at 0.
	zeroIsDiscarded bool
}

// buildIndex indexes the DWARF in secs (keyed by section name without the
// ".debug_" prefix).
func buildIndex(secs map[string][]byte, bo binary.ByteOrder, kind string, alt *supplement) (*dwarfIndex, error) {
	malformed := func(what string, err error) error {
		return &MalformedError{Kind: kind, What: what, Err: err}
	}
	if len(secs["info"]) == 0 {
		return nil, nil
	}
	d, err := newDWARF(secs)
	if err != nil {
		return nil, &MalformedError{Kind: kind, What: "DWARF", Err: err}
	}
	b := &indexBuilder{
		alt:     alt,
		d:       d,
		idx:     &dwarfIndex{},
		fileIDs: map[string]int32{},
		names:   map[dwarf.Offset]dieName{},
		nameIDs: map[string]int32{},

		zeroIsDiscarded: kind == "elf",
	}
	b.unitEnds = unitEnds(secs["info"], bo)
	if err := b.walk(secs, bo); err != nil {
		return nil, malformed("section .debug_info", err)
	}
	b.resolveNames()
	b.buildSegments()
	b.sortLines()
	return b.idx, nil
}

func newDWARF(secs map[string][]byte) (*dwarf.Data, error) {
	d, err := dwarf.New(secs["abbrev"], nil, nil, secs["info"], secs["line"], nil, secs["ranges"], secs["str"])
	if err != nil {
		return nil, fmt.Errorf("section .debug_info: %w", err)
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := secs[name]; b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, fmt.Errorf("section .debug_%s: %w", name, err)
			}
		}
	}
	return d, nil
}

// readSupplement collects the subprogram names of a dwz supplementary
// file, whose references all point within itself.
func readSupplement(secs map[string][]byte) (*supplement, error) {
	d, err := newDWARF(secs)
	if err != nil {
		return nil, err
	}
	sup := &supplement{str: secs["str"], names: map[dwarf.Offset]dieName{}}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("section .debug_info: %w", err)
		}
		if e == nil {
			return sup, nil
		}
		switch e.Tag {
		case dwarf.TagSubprogram:
			dn := dieNameOf(e, nil)
			dn.originAlt, dn.specAlt = dn.origin != 0, dn.spec != 0
			sup.names[e.Offset] = dn
			if e.Children {
				r.SkipChildren()
			}
		case 0, dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagNamespace, dwarf.TagClassType, dwarf.TagStructType,
			dwarf.TagUnionType, dwarf.TagModule, dwarf.TagInterfaceType:
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

func (b *indexBuilder) fileID(path string) int32 {
	if id, ok := b.fileIDs[path]; ok {
		return id
	}
	id := int32(len(b.idx.files))
	b.idx.files = append(b.idx.files, path)
	b.fileIDs[path] = id
	return id
}

func (b *indexBuilder) walk(secs map[string][]byte, bo binary.ByteOrder) error {
	r := b.d.Reader()
	var stack []int32 // context node per open DIE level; -1: none
	var unitFiles []int32
	unit := int32(-1)
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		if e.Tag == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagSkeletonUnit:
			stack = stack[:0]
			unit = int32(len(b.idx.langs))
			b.idx.langs = append(b.idx.langs, langName(e.Val(dwarf.AttrLanguage)))
			producer, _ := e.Val(dwarf.AttrProducer).(string)
			b.idx.dart = append(b.idx.dart, producer == "Dart VM")
			b.rememberRoot(e)
			unitFiles, err = b.unitLines(e, secs, bo)
			if err != nil {
				return err
			}
			if e.Children {
				stack = append(stack, -1)
			}
			continue
		case dwarf.TagTypeUnit:
			r.SkipChildren()
			stack = stack[:0]
			continue
		}
		if unit < 0 { // no compile unit yet: malformed, nothing to attach to
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		ctx := int32(-1)
		if len(stack) > 0 {
			ctx = stack[len(stack)-1]
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			dn := dieNameOf(e, b.alt)
			if e.Tag == dwarf.TagSubprogram {
				b.names[e.Offset] = dn
			}
			var ranges [][2]uint64
			if e.Tag == dwarf.TagSubprogram || ctx >= 0 {
				if rg, ok := lowHigh(e); ok {
					b.rangeBuf = append(b.rangeBuf[:0], rg)
					ranges = b.rangeBuf
				} else if e.AttrField(dwarf.AttrRanges) != nil {
					ranges, err = b.ranges(e)
					if err != nil {
						return fmt.Errorf("ranges of DIE at %#x: %w", e.Offset, err)
					}
				}
			}
			ranges = slices.DeleteFunc(ranges, func(rg [2]uint64) bool {
				return (rg[0] == 0 && b.zeroIsDiscarded) || rg[1] <= rg[0] || isTombstone(rg[0])
			})
			if len(ranges) == 0 {
				if e.Children {
					r.SkipChildren()
				}
				continue
			}
			if len(b.idx.nodes) >= maxNodes {
				return fmt.Errorf("more than %d functions and inlined subroutines", maxNodes)
			}
			n := node{parent: -1, callFile: -1, unit: unit}
			depth := int32(0)
			id := int32(len(b.idx.nodes))
			root := id
			if e.Tag == dwarf.TagInlinedSubroutine {
				n.parent = ctx
				depth = b.depth[ctx] + 1
				root = b.root[ctx]
				if cf, ok := e.Val(dwarf.AttrCallFile).(int64); ok && cf >= 0 && cf < int64(len(unitFiles)) {
					n.callFile = unitFiles[cf]
				}
				if cl, ok := e.Val(dwarf.AttrCallLine).(int64); ok && cl > 0 && cl < 1<<32 {
					n.callLine = uint32(cl)
				}
			} else {
				n.entry = ranges[0][0]
				if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok && lo != 0 {
					n.entry = lo
				}
				n.nameAddr = ranges[0][0]
				for _, rg := range ranges {
					n.nameAddr = min(n.nameAddr, rg[0])
				}
			}
			b.idx.nodes = append(b.idx.nodes, n)
			b.nodeDIE = append(b.nodeDIE, dn)
			b.depth = append(b.depth, depth)
			b.root = append(b.root, root)
			for _, rg := range ranges {
				b.ivs = append(b.ivs, interval{lo: rg[0], hi: rg[1], node: id, depth: depth, root: root})
			}
			if e.Children {
				stack = append(stack, id)
			}
		case dwarf.TagLexDwarfBlock, dwarf.TagTryDwarfBlock, dwarf.TagCatchDwarfBlock:
			if e.Children {
				stack = append(stack, ctx)
			}
		case dwarf.TagNamespace, dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagModule, dwarf.TagInterfaceType:
			if e.Children {
				stack = append(stack, -1)
			}
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

// unitEnds lists where each unit of .debug_info ends, from the unit
// headers' lengths. It stops at the first header it cannot read; DIEs past
// that are left to dwarf.Data.Ranges.
func unitEnds(info []byte, bo binary.ByteOrder) []dwarf.Offset {
	var ends []dwarf.Offset
	off := uint64(0)
	n := uint64(len(info))
	for off+4 <= n {
		length, hdr := uint64(bo.Uint32(info[off:])), uint64(4)
		if length == 0xffffffff {
			if off+12 > n {
				break
			}
			length, hdr = bo.Uint64(info[off+4:]), 12
		} else if length >= 0xfffffff0 {
			break
		}
		if length > n-off-hdr {
			break
		}
		off += hdr + length
		ends = append(ends, dwarf.Offset(off))
	}
	return ends
}

// rememberRoot keeps what Ranges needs of a unit's root DIE.
func (b *indexBuilder) rememberRoot(e *dwarf.Entry) {
	b.cuEnd, b.cuBase = 0, b.cuBase[:0]
	i := sort.Search(len(b.unitEnds), func(i int) bool { return b.unitEnds[i] > e.Offset })
	if i == len(b.unitEnds) {
		return
	}
	b.cuEnd = b.unitEnds[i]
	for _, a := range []dwarf.Attr{dwarf.AttrEntrypc, dwarf.AttrLowpc, dwarf.AttrAddrBase} {
		if f := e.AttrField(a); f != nil {
			b.cuBase = append(b.cuBase, *f)
		}
	}
}

// ranges is b.d.Ranges(e) for a DIE with DW_AT_ranges. Within the unit
// whose root was remembered, it hands Ranges a stand-in root entry (the
// DIE's DW_AT_ranges and the root's base fields): Ranges then takes the
// base from it instead of parsing the unit's root DIE again, the same
// values at a fraction of the cost.
func (b *indexBuilder) ranges(e *dwarf.Entry) ([][2]uint64, error) {
	rf := e.AttrField(dwarf.AttrRanges)
	if b.cuEnd == 0 || e.Offset >= b.cuEnd || rf == nil ||
		e.AttrField(dwarf.AttrLowpc) != nil || e.AttrField(dwarf.AttrHighpc) != nil || e.AttrField(dwarf.AttrEntrypc) != nil {
		return b.d.Ranges(e)
	}
	b.fieldBuf = append(append(b.fieldBuf[:0], *rf), b.cuBase...)
	root := dwarf.Entry{Offset: e.Offset, Tag: dwarf.TagCompileUnit, Field: b.fieldBuf}
	return b.d.Ranges(&root)
}

// lowHigh reads DW_AT_low_pc/DW_AT_high_pc (an address, or an offset from
// low_pc) without the unit lookups dwarf.Data.Ranges does for every DIE.
func lowHigh(e *dwarf.Entry) ([2]uint64, bool) {
	if e.AttrField(dwarf.AttrRanges) != nil {
		return [2]uint64{}, false
	}
	low, ok := e.Val(dwarf.AttrLowpc).(uint64)
	if !ok {
		return [2]uint64{}, false
	}
	hf := e.AttrField(dwarf.AttrHighpc)
	if hf == nil {
		return [2]uint64{}, false
	}
	switch v := hf.Val.(type) {
	case uint64:
		if hf.Class == dwarf.ClassAddress {
			return [2]uint64{low, v}, true
		}
	case int64:
		if hf.Class == dwarf.ClassConstant && v >= 0 {
			return [2]uint64{low, low + uint64(v)}, true
		}
	}
	return [2]uint64{}, false
}

func isTombstone(a uint64) bool {
	return a >= 0xfffffffe && (a <= 0xffffffff || a >= 0xfffffffffffffffe)
}

// dieNameOf reads the naming attributes of a DIE. Strings and references
// into a dwz supplementary file are resolved with alt when there is one.
func dieNameOf(e *dwarf.Entry, alt *supplement) dieName {
	var dn dieName
	str := func(f dwarf.Field) string {
		switch v := f.Val.(type) {
		case string:
			return v
		case int64:
			if f.Class == dwarf.ClassStringAlt && alt != nil && v >= 0 {
				s, _ := strAt(alt.str, uint64(v))
				return s
			}
		}
		return ""
	}
	ref := func(f dwarf.Field) (dwarf.Offset, bool) {
		switch v := f.Val.(type) {
		case dwarf.Offset:
			return v, false
		case int64:
			if f.Class == dwarf.ClassReferenceAlt && v > 0 && v < 1<<32 {
				return dwarf.Offset(v), true
			}
		}
		return 0, false
	}
	for _, f := range e.Field {
		switch f.Attr {
		case dwarf.AttrName:
			dn.name = str(f)
		case dwarf.AttrLinkageName, attrMIPSLinkageName:
			if s := str(f); s != "" {
				dn.linkage = s
			}
		case dwarf.AttrAbstractOrigin:
			dn.origin, dn.originAlt = ref(f)
		case dwarf.AttrSpecification:
			dn.spec, dn.specAlt = ref(f)
		}
	}
	return dn
}

// unitLines parses the unit's line program and appends its rows to the
// global line table. It returns the unit's file numbers mapped to global
// file ids.
func (b *indexBuilder) unitLines(cu *dwarf.Entry, secs map[string][]byte, bo binary.ByteOrder) ([]int32, error) {
	off, ok := cu.Val(dwarf.AttrStmtList).(int64)
	if !ok || secs["line"] == nil {
		return nil, nil
	}
	compDir, _ := cu.Val(dwarf.AttrCompDir).(string)
	// Rows are kept one sequence at a time and added to the table with
	// the program's own file numbers, mapped to global ids once the
	// program (and so its file table) is read. Buffering a whole unit's
	// rows first cost a large slice grown again and again for one-unit
	// programs (SQLite's amalgamation has half a million rows).
	start := len(b.idx.lines)
	b.rows = b.rows[:0]
	tooMany := false
	lt, err := parseLineProgram(secs["line"], uint64(off), bo, compDir, secs["str"], secs["line_str"], func(r lineRow) {
		if tooMany {
			return
		}
		if len(b.rows)+len(b.idx.lines) >= maxLineRows {
			tooMany = true
			return
		}
		b.rows = append(b.rows, r)
		if r.end {
			b.addSequence(b.rows)
			b.rows = b.rows[:0]
		}
	})
	if err != nil {
		return nil, fmt.Errorf("line table at %#x: %w", off, err)
	}
	if tooMany {
		return nil, fmt.Errorf("line table at %#x: more than %d rows", off, maxLineRows)
	}
	ids := make([]int32, len(lt.files))
	for i, p := range lt.files {
		ids[i] = b.fileID(p)
	}
	for i := range b.idx.lines[start:] {
		e := &b.idx.lines[start+i]
		if e.file >= 0 {
			if int(e.file) < len(ids) {
				e.file = ids[e.file]
			} else {
				e.file = -2 // unknown file
			}
		}
	}
	return ids, nil
}

// addSequence adds one line sequence (its last row ends it) to the table,
// with the program's file numbers (unitLines maps them).
func (b *indexBuilder) addSequence(seq []lineRow) {
	if len(seq) < 2 || (seq[0].addr == 0 && b.zeroIsDiscarded) || isTombstone(seq[0].addr) {
		return
	}
	for j := 0; j+1 < len(seq); j++ {
		if seq[j].addr >= seq[j+1].addr {
			continue // rows at one address: the last one wins, as in LLVM
		}
		fid := int32(-2) // unknown file
		if f := seq[j].file; f <= math.MaxInt32 {
			fid = int32(f)
		}
		b.idx.lines = append(b.idx.lines, lineEntry{addr: seq[j].addr, file: fid, line: seq[j].line})
	}
	b.idx.lines = append(b.idx.lines, lineEntry{addr: seq[len(seq)-1].addr, file: -1})
}

// sortLines orders the line table by address; at one address a sequence
// end sorts before a row so that an adjacent sequence's first row wins.
func (b *indexBuilder) sortLines() {
	slices.SortStableFunc(b.idx.lines, func(x, y lineEntry) int {
		if c := cmp.Compare(x.addr, y.addr); c != 0 {
			return c
		}
		return cmp.Compare(gapRank(x), gapRank(y))
	})
	b.idx.lines = slices.Clip(b.idx.lines)
}

func gapRank(e lineEntry) int {
	if e.file == -1 {
		return 0
	}
	return 1
}

// resolveNames names every node: the linkage name found on the DIE or by
// following DW_AT_abstract_origin / DW_AT_specification, else DW_AT_name
// found the same way.
func (b *indexBuilder) resolveNames() {
	for i, dn := range b.nodeDIE {
		sym := b.find(dn, func(d dieName) string { return d.linkage }, 0)
		if sym == "" {
			sym = b.find(dn, func(d dieName) string { return d.name }, 0)
		}
		id, ok := b.nameIDs[sym]
		if !ok {
			id = int32(len(b.idx.names))
			b.idx.names = append(b.idx.names, sym)
			b.nameIDs[sym] = id
		}
		b.idx.nodes[i].name = id
	}
	b.idx.names = slices.Clip(b.idx.names)
	b.idx.display = make([]atomic.Pointer[string], len(b.idx.names))
	b.nodeDIE, b.names = nil, nil
}

// function returns the display name of name i, demangling it once.
func (ix *dwarfIndex) function(i int32) string {
	if p := ix.display[i].Load(); p != nil {
		return *p
	}
	fn := demangleName(ix.names[i])
	ix.display[i].Store(&fn)
	return fn
}

func (b *indexBuilder) find(dn dieName, attr func(dieName) string, depth int) string {
	if s := attr(dn); s != "" || depth > 16 {
		return s
	}
	for _, r := range []struct {
		off dwarf.Offset
		alt bool
	}{{dn.origin, dn.originAlt}, {dn.spec, dn.specAlt}} {
		if r.off == 0 {
			continue
		}
		names := b.names
		if r.alt {
			if b.alt == nil {
				continue
			}
			names = b.alt.names
		}
		if next, ok := names[r.off]; ok {
			if s := b.find(next, attr, depth+1); s != "" {
				return s
			}
		}
	}
	return ""
}

// buildSegments paints each root function's address ranges with the
// innermost inlined subroutine covering each byte, then merges all roots
// into one sorted segment list.
func (b *indexBuilder) buildSegments() {
	ivs := b.ivs
	slices.SortFunc(ivs, func(x, y interval) int {
		if c := cmp.Compare(x.root, y.root); c != 0 {
			return c
		}
		if c := cmp.Compare(x.lo, y.lo); c != 0 {
			return c
		}
		if c := cmp.Compare(x.depth, y.depth); c != 0 {
			return c
		}
		return cmp.Compare(y.hi, x.hi)
	})
	type piece struct {
		lo, hi uint64
		node   int32
	}
	var pieces []piece
	emit := func(lo, hi uint64, n int32) {
		if lo >= hi {
			return
		}
		if k := len(pieces) - 1; k >= 0 && pieces[k].hi == lo && pieces[k].node == n {
			pieces[k].hi = hi
			return
		}
		pieces = append(pieces, piece{lo, hi, n})
	}
	var stack []interval
	for i := 0; i < len(ivs); {
		j := i
		for j < len(ivs) && ivs[j].root == ivs[i].root {
			j++
		}
		stack = stack[:0]
		var pos uint64
		for _, v := range ivs[i:j] {
			for len(stack) > 0 && stack[len(stack)-1].hi <= v.lo {
				t := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				emit(max(pos, t.lo), t.hi, t.node)
				pos = max(pos, t.hi)
			}
			if len(stack) > 0 {
				emit(max(pos, stack[len(stack)-1].lo), v.lo, stack[len(stack)-1].node)
				if v.hi > stack[len(stack)-1].hi {
					v.hi = stack[len(stack)-1].hi
				}
			}
			pos = max(pos, v.lo)
			if v.hi > v.lo {
				stack = append(stack, v)
			}
		}
		for len(stack) > 0 {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			emit(max(pos, t.lo), t.hi, t.node)
			pos = max(pos, t.hi)
		}
		i = j
	}
	b.ivs = nil
	slices.SortStableFunc(pieces, func(x, y piece) int { return cmp.Compare(x.lo, y.lo) })
	segs := make([]segment, 0, len(pieces)+len(pieces)/4)
	var end uint64
	for _, p := range pieces {
		if p.lo < end {
			p.lo = end // overlapping functions: the first one keeps the bytes
		}
		if p.lo >= p.hi {
			continue
		}
		if len(segs) > 0 && p.lo > end {
			segs = append(segs, segment{addr: end, node: -1})
		}
		segs = append(segs, segment{addr: p.lo, node: p.node})
		end = p.hi
	}
	if len(segs) > 0 {
		segs = append(segs, segment{addr: end, node: -1})
	}
	b.idx.segs = segs
}

// langName maps DW_AT_language to Symbolicator's language names. It knows
// exactly the languages symbolic knows: the later codes (C17 0x2c, C++17
// 0x2a, C++20 0x2b, assembler) are "unknown" there, so frames of such units
// carry no lang, as in Symbolicator's answers.
func langName(v any) string {
	l, ok := v.(int64)
	if !ok {
		return ""
	}
	switch l {
	case 0x01, 0x02, 0x0c, 0x1d: // C89, C, C99, C11
		return "c"
	case 0x04, 0x19, 0x1a, 0x21: // C++, C++03, C++11, C++14
		return "cpp"
	case 0x10:
		return "objc"
	case 0x11:
		return "objcpp"
	case 0x16:
		return "go"
	case 0x1c:
		return "rust"
	case 0x1e:
		return "swift"
	case 0x13:
		return "d"
	}
	return ""
}

// attrMIPSLinkageName is DW_AT_MIPS_linkage_name, which older GCC emit and
// debug/dwarf has no name for.
const attrMIPSLinkageName dwarf.Attr = 0x2007
