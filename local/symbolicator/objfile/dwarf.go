package objfile

import (
	"cmp"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
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
	// twins maps a mangled name to the symbol-table entry with the same
	// name (twinOf), so that a name both tables hold is demangled once.
	twins   []int32
	twinTab *symtab
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
	name, linkage dieStr
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
	// literals are the strings its names refer to (strLiteral).
	literals []string
}

// dieStr is where a name's string is: its section and offset, checked
// to hold a terminated string when the DIE was read. Names are kept this
// way and made strings only for the names the index keeps: most
// subprogram DIEs of a C++ file (declarations in classes) never name a
// function with code.
type dieStr struct {
	off uint32
	sec uint8 // strNone, ...
}

// Where a dieStr is.
const (
	strNone    = iota
	strInfo    // DW_FORM_string, in .debug_info
	strStr     // .debug_str
	strLineStr // .debug_line_str
	strAltStr  // the supplementary file's .debug_str
	strLiteral // the supplementary file's literals
)

// text returns the string ds refers to.
func (b *indexBuilder) text(ds dieStr) string {
	var sec []byte
	switch ds.sec {
	case strInfo:
		sec = b.secs.info
	case strStr:
		sec = b.secs.str
	case strLineStr:
		sec = b.secs.lineStr
	case strAltStr:
		if b.alt != nil {
			sec = b.alt.str
		}
	case strLiteral:
		if b.alt != nil && int(ds.off) < len(b.alt.literals) {
			return b.alt.literals[ds.off]
		}
		return ""
	default:
		return ""
	}
	s, _ := strAt(sec, uint64(ds.off))
	return s
}

// empty reports whether ds is no string or the empty one.
func (b *indexBuilder) empty(ds dieStr) bool {
	switch ds.sec {
	case strNone:
		return true
	case strLiteral:
		return b.text(ds) == ""
	}
	var sec []byte
	switch ds.sec {
	case strInfo:
		sec = b.secs.info
	case strStr:
		sec = b.secs.str
	case strLineStr:
		sec = b.secs.lineStr
	case strAltStr:
		if b.alt != nil {
			sec = b.alt.str
		}
	}
	return int(ds.off) >= len(sec) || sec[ds.off] == 0
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
	// subprograms are the names of the subprogram DIEs by offset, in
	// the order the walk met them (ascending; sorted if not).
	subprograms []offsetName
	nodeDIE     []dieName
	nameIDs     map[string]int32
	ivs         []interval
	depth       []int32
	root        []int32

	rangeBuf [][2]uint64

	abbrevs map[abbrevKey]*abbrevTable
	// sibling is the DW_AT_sibling of the DIE function or walkUnit read
	// last, when hasSibling.
	sibling    int
	hasSibling bool

	alt  *supplement // nil without a supplementary file
	secs *dieSections

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
		nameIDs: map[string]int32{},
		abbrevs: map[abbrevKey]*abbrevTable{},

		zeroIsDiscarded: kind == "elf",
	}
	// Functions and inlined subroutines take 50 to 300 bytes of
	// .debug_info each in the files measured: the tables are sized for
	// the denser end at once, as growing them by doubling touched twice
	// the memory (page faults, in a new process, cost more than the
	// copies). The kept node table is trimmed afterwards.
	est := min(len(secs["info"])/64+16, maxNodes)
	b.idx.nodes = make([]node, 0, est)
	b.nodeDIE = make([]dieName, 0, est)
	b.depth, b.root = make([]int32, 0, est), make([]int32, 0, est)
	b.ivs = make([]interval, 0, est+est/4)
	b.subprograms = make([]offsetName, 0, est/2)
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
	lit := func(s string) dieStr {
		if s == "" {
			return dieStr{}
		}
		sup.literals = append(sup.literals, s)
		return dieStr{off: uint32(len(sup.literals) - 1), sec: strLiteral}
	}
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
			rn := dieNameOf(e, nil)
			dn := dieName{name: lit(rn.name), linkage: lit(rn.linkage), origin: rn.origin, spec: rn.spec}
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

// dieSections returns the sections the DIE reader reads.
func newDIESections(secs map[string][]byte, bo binary.ByteOrder) *dieSections {
	return &dieSections{info: secs["info"], abbrev: secs["abbrev"], str: secs["str"], lineStr: secs["line_str"],
		strOffsets: secs["str_offsets"], addr: secs["addr"], ranges: secs["ranges"], rnglists: secs["rnglists"], bo: bo}
}

// prepareUnit reads what the DIE reader needs of a unit: its
// abbreviations (shared by units with the same table and format) and,
// from its root DIE e, the bases of DWARF 5's indexed forms (debug/dwarf
// reads them for DWARF 5 units only) and the ranges' base address (the
// root's entry pc, else its low pc, as dwarf.Data.Ranges takes it).
func (b *indexBuilder) prepareUnit(s *dieSections, u *dieUnit, e *dwarf.Entry) error {
	key := abbrevKey{u.abbrevOff, u.asize, u.dwarf64, u.version == 2}
	t := b.abbrevs[key]
	if t == nil {
		var err error
		if t, err = parseAbbrevs(s.abbrev, u.abbrevOff, u); err != nil {
			return err
		}
		b.abbrevs[key] = t
	}
	u.abbrevs = t
	if e == nil {
		return nil
	}
	if u.version >= 5 {
		if v, ok := e.Val(dwarf.AttrAddrBase).(int64); ok {
			u.addrBase = uint64(v)
		}
		if v, ok := e.Val(dwarf.AttrStrOffsetsBase).(int64); ok {
			u.strOffsetsBase = uint64(v)
		}
		if v, ok := e.Val(dwarf.AttrRnglistsBase).(int64); ok {
			u.rnglistsBase = uint64(v)
		}
	}
	if v, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
		u.rangeBase = v
	} else if v, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
		u.rangeBase = v
	}
	return nil
}

// walk reads every unit's DIEs: the root through debug/dwarf (once per
// unit), the rest with the DIE reader.
func (b *indexBuilder) walk(secs map[string][]byte, bo binary.ByteOrder) error {
	s := newDIESections(secs, bo)
	b.secs = s
	units, err := readUnits(s)
	if err != nil {
		return err
	}
	cr := b.d.Reader()
	lines := b.startLines(secs, bo)
	var stack []int32 // context node per open DIE level; -1: none
	for i := range units {
		u := &units[i]
		if err := b.prepareUnit(s, u, nil); err != nil {
			return lines.finish(int32(len(b.idx.langs)), err)
		}
		r := &dieReader{buf: buf{b: s.info[:u.end], off: u.data, bo: bo}, s: s, u: u}
		code := r.uleb()
		if r.err != nil {
			return lines.finish(int32(len(b.idx.langs)), fmt.Errorf("unit at %#x: %w", u.base, r.err))
		}
		if code == 0 {
			continue
		}
		a := u.abbrevs.get(code)
		if a == nil {
			return lines.finish(int32(len(b.idx.langs)), fmt.Errorf("unit at %#x: unknown abbreviation %d", u.base, code))
		}
		switch a.tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagSkeletonUnit:
		default: // type units, and anything else that is not code
			continue
		}
		cr.Seek(dwarf.Offset(u.data))
		e, err := cr.Next()
		if err != nil {
			return lines.finish(int32(len(b.idx.langs)), err)
		}
		if e == nil || int(e.Offset) != u.data {
			return lines.finish(int32(len(b.idx.langs)), fmt.Errorf("unit at %#x: no root DIE", u.base))
		}
		if err := b.prepareUnit(s, u, e); err != nil {
			return lines.finish(int32(len(b.idx.langs)), err)
		}
		r.skipAttrs(a, false)
		unit := int32(len(b.idx.langs))
		b.idx.langs = append(b.idx.langs, langName(e.Val(dwarf.AttrLanguage)))
		producer, _ := e.Val(dwarf.AttrProducer).(string)
		b.idx.dart = append(b.idx.dart, producer == "Dart VM")
		lines.add(e)
		stack = stack[:0]
		if a.children {
			stack = append(stack, -1)
		}
		err = b.walkUnit(r, unit, stack)
		if err == nil && r.err != nil {
			err = fmt.Errorf("unit at %#x: %w", u.base, r.err)
		}
		if err != nil {
			return lines.finish(unit, err)
		}
	}
	return lines.finish(-1, nil)
}

// lineJobs parses the units' line programs on another goroutine while
// the DIEs are walked (the machine's second core; SQLite's amalgamation
// is one unit, so units cannot be shared out). Inlined subroutines keep
// their DW_AT_call_file numbers until the unit's file table is known.
type lineJobs struct {
	b    *indexBuilder
	jobs chan *dwarf.Entry
	done chan struct{}
	ids  [][]int32 // per unit: file numbers to global ids
	err  error
	bad  int32 // the unit whose line program failed
}

func (b *indexBuilder) startLines(secs map[string][]byte, bo binary.ByteOrder) *lineJobs {
	l := &lineJobs{b: b, jobs: make(chan *dwarf.Entry, 64), done: make(chan struct{}), bad: -1}
	go func() {
		defer close(l.done)
		defer func() {
			if r := recover(); r != nil { // the reader never panics; if it did, not here
				l.err, l.bad = fmt.Errorf("line table reader failed: %v", r), int32(len(l.ids))
				for range l.jobs {
				}
			}
		}()
		for e := range l.jobs {
			if l.err != nil {
				continue
			}
			ids, err := b.unitLines(e, secs, bo)
			if err != nil {
				l.err, l.bad = err, int32(len(l.ids))
			}
			l.ids = append(l.ids, ids)
		}
	}()
	return l
}

func (l *lineJobs) add(cu *dwarf.Entry) { l.jobs <- cu }

// finish waits for the line programs and maps the call files. A line
// program's error comes first when its unit is not after the one whose
// DIEs failed (walkErr, in unit walkUnit), as when units were read one
// after the other.
func (l *lineJobs) finish(walkUnit int32, walkErr error) error {
	close(l.jobs)
	<-l.done
	if l.err != nil && (walkErr == nil || l.bad <= walkUnit) {
		return l.err
	}
	if walkErr != nil {
		return walkErr
	}
	nodes := l.b.idx.nodes
	for i := range nodes {
		n := &nodes[i]
		if n.callFile < 0 {
			continue
		}
		ids := l.ids[n.unit]
		if int(n.callFile) < len(ids) {
			n.callFile = ids[n.callFile]
		} else {
			n.callFile = -1
		}
	}
	return nil
}

// walkUnit indexes the DIEs below a unit's root.
func (b *indexBuilder) walkUnit(r *dieReader, unit int32, stack []int32) error {
	end := len(r.b)
	for r.off < end && r.err == nil {
		off := r.off
		code := r.uleb()
		if code == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		a := r.u.abbrevs.get(code)
		if a == nil {
			return fmt.Errorf("DIE at %#x: unknown abbreviation %d", off, code)
		}
		ctx := int32(-1)
		if len(stack) > 0 {
			ctx = stack[len(stack)-1]
		}
		switch a.tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			id, err := b.function(r, a, off, unit, ctx)
			if err != nil {
				return err
			}
			if id < 0 {
				r.skipChildren(a, b.sibling, b.hasSibling)
				continue
			}
			if a.children {
				stack = append(stack, id)
			}
		case dwarf.TagLexDwarfBlock, dwarf.TagTryDwarfBlock, dwarf.TagCatchDwarfBlock:
			r.skipAttrs(a, false)
			if a.children {
				stack = append(stack, ctx)
			}
		case dwarf.TagNamespace, dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagModule, dwarf.TagInterfaceType:
			r.skipAttrs(a, false)
			if a.children {
				stack = append(stack, -1)
			}
		default:
			sib, ok := r.skipAttrs(a, a.children)
			b.sibling, b.hasSibling = sib, ok
			r.skipChildren(a, b.sibling, b.hasSibling)
		}
	}
	return nil
}

// function indexes a subprogram or inlined subroutine DIE at off whose
// abbreviation a has just been read, and returns its node, or -1 when it
// has no code (its children are then to be skipped, b.sibling says
// where to).
func (b *indexBuilder) function(r *dieReader, a *abbrevEntry, off int, unit int32, ctx int32) (int32, error) {
	fa := b.functionAttrs(r, a)
	if r.err != nil {
		return -1, fmt.Errorf("DIE at %#x: %w", off, r.err)
	}
	dn, low, high, callFile, callLine := fa.name, fa.low, fa.high, fa.callFile, fa.callLine
	inlined := a.tag == dwarf.TagInlinedSubroutine
	if !inlined {
		b.subprograms = append(b.subprograms, offsetName{dwarf.Offset(off), dn})
	}
	var ranges [][2]uint64
	if !inlined || ctx >= 0 {
		switch {
		case !fa.hasRanges && low.kind == vUint && (high.addr && high.kind == vUint || high.kind == vInt && isConstForm(high.form) && high.i >= 0):
			hi := high.u
			if !high.addr {
				hi = low.u + uint64(high.i)
			}
			b.rangeBuf = append(b.rangeBuf[:0], [2]uint64{low.u, hi})
			ranges = b.rangeBuf
		case fa.hasRanges:
			var err error
			ranges, err = dieRanges(r.s, r.u, low, high, fa.ranges, b.rangeBuf[:0])
			if err != nil {
				return -1, fmt.Errorf("ranges of DIE at %#x: %w", off, err)
			}
			b.rangeBuf = ranges[:0]
		}
	}
	ranges = slices.DeleteFunc(ranges, func(rg [2]uint64) bool {
		return (rg[0] == 0 && b.zeroIsDiscarded) || rg[1] <= rg[0] || isTombstone(rg[0])
	})
	if len(ranges) == 0 {
		return -1, nil
	}
	if len(b.idx.nodes) >= maxNodes {
		return -1, fmt.Errorf("more than %d functions and inlined subroutines", maxNodes)
	}
	n := node{parent: -1, callFile: -1, unit: unit}
	depth := int32(0)
	id := int32(len(b.idx.nodes))
	root := id
	if inlined {
		n.parent = ctx
		depth = b.depth[ctx] + 1
		root = b.root[ctx]
		// The unit's file number, made a global file id once the
		// unit's line program is read (lineJobs.finish).
		if cf := callFile.i; callFile.kind == vInt && cf >= 0 && cf < math.MaxInt32 {
			n.callFile = int32(cf)
		}
		if cl := callLine.i; callLine.kind == vInt && cl > 0 && cl < 1<<32 {
			n.callLine = uint32(cl)
		}
	} else {
		n.entry = ranges[0][0]
		if low.kind == vUint && low.u != 0 {
			n.entry = low.u
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
	return id, nil
}

// functionAttrs are the attributes of a subprogram or inlined
// subroutine DIE the index reads.
type functionAttrs struct {
	name                                  dieName
	low, high, ranges, callFile, callLine attrVal
	hasRanges                             bool
}

// functionAttrs reads the attributes of a DIE with abbreviation a, and
// sets b.sibling.
func (b *indexBuilder) functionAttrs(r *dieReader, a *abbrevEntry) functionAttrs {
	var fa functionAttrs
	b.sibling, b.hasSibling = 0, false
	for i := range a.attrs {
		aa := &a.attrs[i]
		switch aa.attr {
		case atName:
			fa.name.name = b.str(r.value(aa))
		case atLinkageName, atMIPSLinkage:
			if s := b.str(r.value(aa)); !b.empty(s) {
				fa.name.linkage = s
			}
		case atAbstractOrigin:
			fa.name.origin, fa.name.originAlt = ref(r.value(aa))
		case atSpecification:
			fa.name.spec, fa.name.specAlt = ref(r.value(aa))
		case atLowpc:
			fa.low = r.value(aa)
		case atHighpc:
			fa.high = r.value(aa)
		case atRanges:
			fa.ranges, fa.hasRanges = r.value(aa), true
		case atCallFile:
			fa.callFile = r.value(aa)
		case atCallLine:
			fa.callLine = r.value(aa)
		case atSibling:
			if v := r.value(aa); v.kind == vRef {
				b.sibling, b.hasSibling = int(v.u), true
			}
		default:
			r.skipForm(aa.form)
		}
	}
	return fa
}

// str is a name attribute's string as dieNameOf reads it.
func (b *indexBuilder) str(v attrVal) dieStr {
	switch {
	case v.kind == vString:
		return dieStr{off: uint32(v.u), sec: v.sec}
	case v.kind == vInt && v.form == fGNUStrpAlt && b.alt != nil && v.i >= 0 && v.i < 1<<32:
		if _, err := strAt(b.alt.str, uint64(v.i)); err == nil {
			return dieStr{off: uint32(v.i), sec: strAltStr}
		}
	}
	return dieStr{}
}

// ref is a reference attribute as dieNameOf reads it: an offset in this
// file, or in the supplementary file (alt).
func ref(v attrVal) (dwarf.Offset, bool) {
	switch {
	case v.kind == vRef:
		return dwarf.Offset(v.u), false
	case v.kind == vInt && v.form == fGNURefAlt && v.i > 0 && v.i < 1<<32:
		return dwarf.Offset(v.i), true
	}
	return 0, false
}

func isTombstone(a uint64) bool {
	return a >= 0xfffffffe && (a <= 0xffffffff || a >= 0xfffffffffffffffe)
}

// rawName is the naming attributes of a DIE as debug/dwarf reads them.
type rawName struct {
	name, linkage      string
	origin, spec       dwarf.Offset
	originAlt, specAlt bool
}

// dieNameOf reads the naming attributes of a DIE. Strings and references
// into a dwz supplementary file are resolved with alt when there is one.
func dieNameOf(e *dwarf.Entry, alt *supplement) rawName {
	var dn rawName
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
	// Rows go straight into the table, with the program's own file
	// numbers, mapped to global ids once the program (and so its file
	// table) is read. Buffering rows first cost a large slice grown again
	// and again for one-unit programs (SQLite's amalgamation has half a
	// million rows in one sequence).
	start := len(b.idx.lines)
	if b.idx.lines == nil {
		// A row takes at least a byte of the line programs; most take
		// two or three.
		b.idx.lines = make([]lineEntry, 0, min(len(secs["line"])/3+16, maxLineRows))
	}
	var seq lineSeq
	tooMany := false
	lt, err := parseLineProgram(secs["line"], uint64(off), bo, compDir, secs["str"], secs["line_str"], func(r lineRow) {
		if tooMany {
			return
		}
		if len(b.idx.lines) >= maxLineRows {
			tooMany = true
			return
		}
		b.addRow(&seq, r)
	})
	if err != nil {
		return nil, fmt.Errorf("line table at %#x: %w", off, err)
	}
	if tooMany {
		return nil, fmt.Errorf("line table at %#x: more than %d rows", off, maxLineRows)
	}
	if seq.rows > 0 {
		b.idx.lines = b.idx.lines[:seq.start] // a sequence without its end is dropped
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

// lineSeq is the state of the line sequence being added: whether it is
// kept, how many rows it had, and its last row, held back until the next
// row shows whether it covers any address.
type lineSeq struct {
	start   int // where its rows start in the table
	rows    int
	skip    bool
	pending lineRow
}

// addRow adds the rows of one line sequence (its last row ends it) to the
// table, with the program's file numbers (unitLines maps them). A
// sequence of fewer than two rows, or one starting at address 0 in a
// linked file or at a tombstone, is dropped; of rows at one address the
// last one wins, as in LLVM.
func (b *indexBuilder) addRow(s *lineSeq, r lineRow) {
	if s.rows == 0 {
		s.start = len(b.idx.lines)
		s.skip = (r.addr == 0 && b.zeroIsDiscarded) || isTombstone(r.addr)
	}
	s.rows++
	if s.skip {
		if r.end {
			*s = lineSeq{}
		}
		return
	}
	if s.rows > 1 && s.pending.addr < r.addr {
		fid := int32(-2) // unknown file
		if f := s.pending.file; f <= math.MaxInt32 {
			fid = int32(f)
		}
		b.idx.lines = append(b.idx.lines, lineEntry{addr: s.pending.addr, file: fid, line: s.pending.line})
	}
	s.pending = r
	if r.end {
		if s.rows >= 2 {
			b.idx.lines = append(b.idx.lines, lineEntry{addr: r.addr, file: -1})
		}
		*s = lineSeq{}
	}
}

// sortLines orders the line table by address; at one address a sequence
// end sorts before a row so that an adjacent sequence's first row wins.
func (b *indexBuilder) sortLines() {
	order := func(x, y lineEntry) int {
		if c := cmp.Compare(x.addr, y.addr); c != 0 {
			return c
		}
		return cmp.Compare(gapRank(x), gapRank(y))
	}
	// Sequences usually come in address order already.
	if !slices.IsSortedFunc(b.idx.lines, order) {
		slices.SortStableFunc(b.idx.lines, order)
	}
	if cap(b.idx.lines) > len(b.idx.lines)+len(b.idx.lines)/4 {
		b.idx.lines = slices.Clone(b.idx.lines) // the estimate was generous: keep what is used
	}
	b.idx.lines = slices.Clip(b.idx.lines)
}

func gapRank(e lineEntry) int {
	if e.file == -1 {
		return 0
	}
	return 1
}

// offsetName is a subprogram DIE's naming attributes and offset.
type offsetName struct {
	off dwarf.Offset
	dn  dieName
}

// resolveNames names every node: the linkage name found on the DIE or by
// following DW_AT_abstract_origin / DW_AT_specification, else DW_AT_name
// found the same way.
func (b *indexBuilder) resolveNames() {
	if !slices.IsSortedFunc(b.subprograms, func(x, y offsetName) int { return cmp.Compare(x.off, y.off) }) {
		slices.SortFunc(b.subprograms, func(x, y offsetName) int { return cmp.Compare(x.off, y.off) })
	}
	// Names are made strings once per place, and kept once per content.
	byPlace := map[dieStr]int32{}
	for i, dn := range b.nodeDIE {
		ds := b.find(dn, true, 0)
		if b.empty(ds) {
			ds = b.find(dn, false, 0)
		}
		id, ok := byPlace[ds]
		if !ok {
			sym := b.text(ds)
			if id, ok = b.nameIDs[sym]; !ok {
				id = int32(len(b.idx.names))
				b.idx.names = append(b.idx.names, sym)
				b.nameIDs[sym] = id
			}
			byPlace[ds] = id
		}
		b.idx.nodes[i].name = id
	}
	b.idx.names = slices.Clip(b.idx.names)
	if cap(b.idx.nodes) > len(b.idx.nodes)+len(b.idx.nodes)/4 {
		b.idx.nodes = slices.Clone(b.idx.nodes)
	}
	b.idx.display = make([]atomic.Pointer[string], len(b.idx.names))
	b.nodeDIE, b.subprograms = nil, nil
}

// function returns the display name of name i, demangling it once.
func (ix *dwarfIndex) function(i int32) string {
	if p := ix.display[i].Load(); p != nil {
		return *p
	}
	if ix.twins != nil && ix.twins[i] >= 0 {
		return ix.twinTab.function(int(ix.twins[i]))
	}
	fn := demangleName(ix.names[i])
	ix.display[i].Store(&fn)
	return fn
}

func (b *indexBuilder) find(dn dieName, linkage bool, depth int) dieStr {
	s := dn.name
	if linkage {
		s = dn.linkage
	}
	if !b.empty(s) || depth > 16 {
		return s
	}
	for _, r := range []struct {
		off dwarf.Offset
		alt bool
	}{{dn.origin, dn.originAlt}, {dn.spec, dn.specAlt}} {
		if r.off == 0 {
			continue
		}
		var next dieName
		var ok bool
		if r.alt {
			if b.alt == nil {
				continue
			}
			next, ok = b.alt.names[r.off]
		} else if i, found := slices.BinarySearchFunc(b.subprograms, r.off, func(e offsetName, off dwarf.Offset) int { return cmp.Compare(e.off, off) }); found {
			next, ok = b.subprograms[i].dn, true
		}
		if ok {
			if s := b.find(next, linkage, depth+1); !b.empty(s) {
				return s
			}
		}
	}
	return dieStr{}
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
