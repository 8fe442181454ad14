package pdb

import (
	"fmt"
	"sort"
)

// proc is a procedure (or a separated piece of one) with its RVA range.
type proc struct {
	start, end     uint32
	name           string
	typ            uint32 // LF_PROCEDURE/LF_MFUNCTION in the TPI, or an IPI id when idType
	idType         bool
	module         int32
	siteLo, siteHi int32 // its inline sites in File.sites
}

// site is an S_INLINESITE: an inlined call inside a procedure, with the
// code ranges of the inlined function and their source lines.
type site struct {
	parent           int32 // enclosing site, or -1 when directly in the procedure
	depth            int32
	inlinee          uint32 // IPI id of the LF_FUNC_ID or LF_MFUNC_ID
	rangeLo, rangeHi int32
}

// srange is a piece of an inlined function's code with its source line.
type srange struct {
	start, end uint32
	line       uint32
	file       int32
}

// lineRec is a DEBUG_S_LINES entry: code of the procedure's own body (or
// the call site of what was inlined there) and its source line.
type lineRec struct {
	start, end uint32
	line       uint32
	file       int32
}

// Symbol record kinds.
const (
	sEnd           = 0x0006
	sCompile       = 0x0001
	sThunk32       = 0x1102
	sBlock32       = 0x1103
	sWith32        = 0x1104
	sPub32         = 0x110E
	sLProc32       = 0x110F
	sGProc32       = 0x1110
	sCompile2      = 0x1116
	sGManProc      = 0x112A
	sLManProc      = 0x112B
	sSepCode       = 0x1132
	sCompile3      = 0x113C
	sLProc32ID     = 0x1146
	sGProc32ID     = 0x1147
	sInlineSite    = 0x114D
	sInlineSiteEnd = 0x114E
	sProcIDEnd     = 0x114F
	sLProc32DPC    = 0x1155
	sLProc32DPCID  = 0x1156
	sInlineSite2   = 0x115D
)

// C13 debug subsection kinds.
const (
	debugSLines        = 0xF2
	debugSFileChksms   = 0xF4
	debugSInlineeLines = 0xF6
)

// moduleParser reads one module stream into the File's tables.
type moduleParser struct {
	f       *File
	index   int
	what    string
	chksums []byte
	fileIdx map[uint32]int32 // checksum offset -> File.files index
	inlinee map[uint32]inlineeSrc
	lines   []lineRec
}

type inlineeSrc struct {
	file uint32 // checksum offset
	line uint32
}

func (f *File) parseModule(index int, m *moduleInfo, ms *msf, interned map[string]int32) ([]lineRec, error) {
	p := &moduleParser{f: f, index: index, fileIdx: map[uint32]int32{}, inlinee: map[uint32]inlineeSrc{}}
	p.what = fmt.Sprintf("module %d (%s)", index, m.name)
	data, ok, err := ms.optionalStream(m.stream, p.what)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	end := uint64(m.symBytes) + uint64(m.c11) + uint64(m.c13)
	if end > uint64(len(data)) {
		return nil, malformedf(p.what, "symbols (%d bytes), C11 lines (%d) and C13 lines (%d) do not fit the %d-byte stream", m.symBytes, m.c11, m.c13, len(data))
	}
	if m.symBytes != 0 && m.symBytes < 4 {
		return nil, malformedf(p.what, "symbol substream of %d bytes has no room for its signature", m.symBytes)
	}
	c13 := data[m.symBytes+m.c11 : end]
	if err := p.parseC13(c13, interned); err != nil {
		return nil, err
	}
	if m.symBytes >= 4 {
		if err := p.parseSymbols(data[4:m.symBytes], interned); err != nil {
			return nil, err
		}
	}
	return p.lines, nil
}

func (p *moduleParser) file(chk uint32, interned map[string]int32) int32 {
	if i, ok := p.fileIdx[chk]; ok {
		return i
	}
	idx := int32(-1)
	if nameOff, ok := u32at(p.chksums, int(chk)); ok && int64(chk) <= int64(len(p.chksums)) {
		name := p.f.names.get(nameOff)
		if name != "" {
			if j, ok := interned[name]; ok {
				idx = j
			} else {
				idx = int32(len(p.f.files))
				p.f.files = append(p.f.files, name)
				interned[name] = idx
			}
		}
	}
	p.fileIdx[chk] = idx
	return idx
}

// parseC13 reads the C13 subsections: file checksums first (lines refer to
// them), then lines and inlinee lines.
func (p *moduleParser) parseC13(b []byte, interned map[string]int32) error {
	type sub struct {
		kind uint32
		data []byte
	}
	var subs []sub
	c := cursor{b: b}
	for c.left() >= 8 {
		kind := c.u32()
		n := c.u32()
		if uint64(n) > uint64(c.left()) {
			return malformedf(p.what+" C13 line information", "subsection %#x of %d bytes at offset %d, %d left", kind, n, c.off-8, c.left())
		}
		subs = append(subs, sub{kind &^ 0x80000000, c.take(int(n))})
		c.align(4)
	}
	for _, s := range subs {
		if s.kind == debugSFileChksms {
			p.chksums = s.data
		}
	}
	for _, s := range subs {
		switch s.kind {
		case debugSLines:
			if err := p.parseLines(s.data, interned); err != nil {
				return err
			}
		case debugSInlineeLines:
			if err := p.parseInlineeLines(s.data); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *moduleParser) parseLines(b []byte, interned map[string]int32) error {
	what := p.what + " DEBUG_S_LINES"
	c := cursor{b: b}
	off := c.u32()
	seg := c.u16()
	flags := c.u16()
	size := c.u32()
	if c.err != nil {
		return malformed(what, c.err)
	}
	type entry struct {
		off, line uint32
		file      int32
	}
	var entries []entry
	for c.left() > 0 {
		chk := c.u32()
		n := c.u32()
		blockSize := c.u32()
		if c.err != nil {
			return malformed(what, c.err)
		}
		per := uint64(8)
		if flags&1 != 0 {
			per = 12
		}
		if uint64(n)*per > uint64(c.left()) || uint64(blockSize) < 12+uint64(n)*per || uint64(blockSize)-12 > uint64(c.left()) {
			return malformedf(what, "file block of %d lines (%d bytes) does not fit in %d bytes", n, blockSize, c.left())
		}
		block := cursor{b: c.take(int(blockSize) - 12)}
		file := p.file(chk, interned)
		for i := uint32(0); i < n; i++ {
			o := block.u32()
			fl := block.u32()
			entries = append(entries, entry{o, fl & 0xFFFFFF, file})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	first := entries[0].line
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].off < entries[j].off })
	// As LLVM reads line tables, code from the start of the contribution
	// up to the first entry has the first entry's line (the contribution
	// often starts with inlined code), and the last entry runs to the end
	// of the contribution.
	if entries[0].off > 0 {
		entries = append([]entry{{0, first, entries[0].file}}, entries...)
	}
	for i, e := range entries {
		endOff := size
		if i+1 < len(entries) {
			endOff = entries[i+1].off
		}
		if endOff <= e.off {
			continue
		}
		start, ok := p.f.addr.rva(seg, off+e.off)
		if !ok {
			continue
		}
		end := start + (endOff - e.off)
		if end < start {
			continue
		}
		p.lines = append(p.lines, lineRec{start: start, end: end, line: e.line, file: e.file})
	}
	return nil
}

func (p *moduleParser) parseInlineeLines(b []byte) error {
	what := p.what + " DEBUG_S_INLINEELINES"
	c := cursor{b: b}
	sig := c.u32()
	if sig != 0 && sig != 1 {
		return malformedf(what, "signature %d is not 0 or 1", sig)
	}
	for c.left() > 0 {
		id, file, line := c.u32(), c.u32(), c.u32()
		if sig == 1 {
			n := c.u32()
			if uint64(n) > uint64(c.left())/4 {
				return malformedf(what, "%d extra files do not fit in %d bytes", n, c.left())
			}
			c.skip(4 * int(n))
		}
		if c.err != nil {
			return malformed(what, c.err)
		}
		if _, dup := p.inlinee[id]; !dup {
			p.inlinee[id] = inlineeSrc{file, line}
		}
	}
	return nil
}

type scope struct {
	proc    int32 // index in File.procs of the procedure this scope is in, or -1
	site    int32 // index in File.sites of the innermost site, or -1
	baseSeg uint16
	baseOff uint32
	skip    bool // inside a procedure or site that is left out
}

func startsScope(kind uint16) bool {
	switch kind {
	case sGProc32, sLProc32, sGProc32ID, sLProc32ID, sLProc32DPC, sLProc32DPCID,
		sBlock32, sThunk32, sWith32, sInlineSite, sInlineSite2, sSepCode, sGManProc, sLManProc:
		return true
	}
	return false
}

func (p *moduleParser) parseSymbols(b []byte, interned map[string]int32) error {
	f := p.f
	what := p.what + " symbols"
	stack := []scope{{proc: -1, site: -1}}
	lastProc := int32(-1)
	var lastProcSeg uint16
	var lastProcOff uint32
	lang := ""
	for off := 0; off+4 <= len(b); {
		l, _ := u16at(b, off)
		kind, _ := u16at(b, off+2)
		if l < 2 || off+2+int(l) > len(b) {
			return malformedf(what, "record at offset %d has length %d, %d bytes left", off+4, l, len(b)-off-2)
		}
		body := b[off+4 : off+2+int(l)]
		off += 2 + int(l)
		cur := stack[len(stack)-1]

		switch kind {
		case sEnd, sProcIDEnd, sInlineSiteEnd:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		case sCompile, sCompile2, sCompile3:
			if len(body) >= 1 {
				if kind == sCompile {
					if len(body) >= 2 {
						lang = languageName(body[1])
					}
				} else {
					lang = languageName(body[0])
				}
				if p.index < len(f.Modules) && f.Modules[p.index].Lang == "" {
					f.Modules[p.index].Lang = lang
				}
			}
			continue
		}
		if !startsScope(kind) {
			continue
		}
		if len(stack) > maxScopes {
			return malformedf(what, "scopes nested deeper than %d", maxScopes)
		}
		next := cur
		c := cursor{b: body}
		switch kind {
		case sGProc32, sLProc32, sGProc32ID, sLProc32ID, sLProc32DPC, sLProc32DPCID:
			c.skip(12)
			length := c.u32()
			c.skip(8)
			typ := c.u32()
			so := c.u32()
			seg := c.u16()
			_ = c.u8()
			name := c.cstr()
			if c.err != nil {
				return malformedf(what, "procedure record at offset %d: %v", off, c.err)
			}
			next = scope{proc: -1, site: -1, skip: true}
			if start, ok := f.addr.rva(seg, so); ok && uint64(start)+uint64(length) <= 1<<32 {
				pi := int32(len(f.procs))
				f.procs = append(f.procs, proc{start: start, end: start + length, name: name, typ: typ,
					idType: kind == sGProc32ID || kind == sLProc32ID || kind == sLProc32DPCID,
					module: int32(p.index), siteLo: int32(len(f.sites)), siteHi: int32(len(f.sites))})
				next = scope{proc: pi, site: -1, baseSeg: seg, baseOff: so}
				lastProc, lastProcSeg, lastProcOff = pi, seg, so
			}
		case sSepCode:
			c.skip(8)
			length := c.u32()
			_ = c.u32()
			so := c.u32()
			parentOff := c.u32()
			seg := c.u16()
			parentSeg := c.u16()
			next = scope{proc: -1, site: -1, skip: true}
			if c.err == nil && lastProc >= 0 && parentOff == lastProcOff && parentSeg == lastProcSeg {
				if start, ok := f.addr.rva(seg, so); ok && uint64(start)+uint64(length) <= 1<<32 {
					lp := f.procs[lastProc]
					pi := int32(len(f.procs))
					f.procs = append(f.procs, proc{start: start, end: start + length, name: lp.name, typ: lp.typ, idType: lp.idType,
						module: int32(p.index), siteLo: int32(len(f.sites)), siteHi: int32(len(f.sites))})
					next = scope{proc: pi, site: -1, baseSeg: lastProcSeg, baseOff: lastProcOff}
				}
			}
		case sInlineSite, sInlineSite2:
			c.skip(8)
			id := c.u32()
			if kind == sInlineSite2 {
				_ = c.u32()
			}
			if c.err != nil || cur.skip || cur.proc < 0 {
				next = scope{proc: -1, site: -1, skip: true}
				break
			}
			depth := int32(0)
			if cur.site >= 0 {
				depth = f.sites[cur.site].depth + 1
			}
			src, known := p.inlinee[id]
			if !known || depth >= maxInline {
				// symbolic leaves out inlinees the module does not list,
				// and everything inside them.
				next = scope{proc: -1, site: -1, skip: true}
				break
			}
			si := int32(len(f.sites))
			s := site{parent: cur.site, depth: depth, inlinee: id, rangeLo: int32(len(f.ranges))}
			p.annotations(body[c.off:], cur.baseSeg, cur.baseOff, src, interned)
			s.rangeHi = int32(len(f.ranges))
			f.sites = append(f.sites, s)
			f.procs[cur.proc].siteHi = int32(len(f.sites))
			next = cur
			next.site = si
		default: // blocks, thunks, ...: same procedure, same site
		}
		stack = append(stack, next)
	}
	return nil
}

// Binary annotation opcodes of S_INLINESITE.
const (
	baInvalid                       = 0
	baCodeOffset                    = 1
	baChangeCodeOffsetBase          = 2
	baChangeCodeOffset              = 3
	baChangeCodeLength              = 4
	baChangeFile                    = 5
	baChangeLineOffset              = 6
	baChangeLineEndDelta            = 7
	baChangeRangeKind               = 8
	baChangeColumnStart             = 9
	baChangeColumnEndDelta          = 10
	baChangeCodeOffsetAndLineOffset = 11
	baChangeCodeLengthAndCodeOffset = 12
	baChangeColumnEnd               = 13
)

// annotations runs an inline site's binary annotations and appends the
// code ranges they describe to File.ranges. Each code offset change starts
// a range; a range without explicit length ends where the next one starts.
// This is the reading of the pdb crate (and so symbolic), which LLVM's
// agrees with on what compilers emit.
func (p *moduleParser) annotations(b []byte, seg uint16, base uint32, src inlineeSrc, interned map[string]int32) {
	f := p.f
	c := cursor{b: b}
	u := func() (uint32, bool) {
		b1 := c.u8()
		if c.err != nil {
			return 0, false
		}
		if b1&0x80 == 0 {
			return uint32(b1), true
		}
		b2 := c.u8()
		if b1&0xc0 == 0x80 {
			return uint32(b1&0x3f)<<8 | uint32(b2), c.err == nil
		}
		b3, b4 := c.u8(), c.u8()
		if b1&0xe0 == 0xc0 {
			return uint32(b1&0x1f)<<24 | uint32(b2)<<16 | uint32(b3)<<8 | uint32(b4), c.err == nil
		}
		return 0, false
	}
	signed := func(v uint32) int32 {
		if v&1 != 0 {
			return -int32(v >> 1)
		}
		return int32(v >> 1)
	}
	codeOff := uint32(0)
	line := int64(src.line)
	file := src.file
	open := -1 // index in f.ranges of a range still waiting for its end
	lo := len(f.ranges)
	emit := func(length uint32, hasLength bool) {
		start, ok := f.addr.rva(seg, base+codeOff)
		if open >= 0 && f.ranges[open].end == 0 {
			if ok && start > f.ranges[open].start {
				f.ranges[open].end = start
			} else {
				f.ranges = f.ranges[:open]
			}
			open = -1
		}
		if !ok || line < 0 || line > 0xFFFFFFFF {
			return
		}
		r := srange{start: start, line: uint32(line), file: p.file(file, interned)}
		if hasLength {
			r.end = start + length
			if r.end <= start {
				return
			}
		}
		f.ranges = append(f.ranges, r)
		if !hasLength {
			open = len(f.ranges) - 1
		}
	}
	for c.left() > 0 {
		op, ok := u()
		if !ok || op == baInvalid {
			break
		}
		switch op {
		case baCodeOffset:
			v, _ := u()
			codeOff = v
			emit(0, false)
		case baChangeCodeOffsetBase:
			u()
		case baChangeCodeOffset:
			v, _ := u()
			codeOff += v
			emit(0, false)
		case baChangeCodeLength:
			v, _ := u()
			if open >= 0 && f.ranges[open].end == 0 {
				r := &f.ranges[open]
				r.end = r.start + v
				if r.end <= r.start {
					f.ranges = f.ranges[:open]
				}
				open = -1
			}
			codeOff += v
		case baChangeFile:
			v, _ := u()
			file = v
		case baChangeLineOffset:
			v, _ := u()
			line += int64(signed(v))
		case baChangeLineEndDelta, baChangeRangeKind, baChangeColumnStart, baChangeColumnEnd:
			u()
		case baChangeColumnEndDelta:
			u()
		case baChangeCodeOffsetAndLineOffset:
			v, _ := u()
			line += int64(signed(v >> 4))
			codeOff += v & 0xf
			emit(0, false)
		case baChangeCodeLengthAndCodeOffset:
			length, _ := u()
			delta, _ := u()
			codeOff += delta
			emit(length, true)
		default:
			c.off = len(c.b) // unknown opcode: the rest cannot be decoded
		}
	}
	if open >= 0 && f.ranges[open].end == 0 {
		// Never closed: it covers nothing.
		f.ranges = f.ranges[:open]
	}
	// Keep the site's ranges ordered for the lookup.
	rs := f.ranges[lo:]
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
}

func languageName(l byte) string {
	switch l {
	case 0:
		return "c"
	case 1:
		return "cpp"
	case 3:
		return "masm"
	case 17:
		return "objc"
	case 18:
		return "objcpp"
	case 19:
		return "swift"
	case 21:
		return "rust"
	case 'D':
		return "d"
	}
	return ""
}
