package objfile

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
)

// A reader of .debug_info's DIEs driven by the abbreviations, for the
// index build: it decodes the few attributes the index needs (names,
// references, address ranges, call sites) and skips every other
// attribute by its form's size, without building a dwarf.Entry (a slice
// of fields, each value boxed in an interface) per DIE. Profiles of
// large C and C++ files showed debug/dwarf's entry decoding as half of
// an index build. Values follow debug/dwarf's decoding exactly (the same
// forms give the same values), so the index is the one debug/dwarf's
// entries gave; the units' root DIEs, read once per unit, still come
// from debug/dwarf.

// DWARF forms (DWARF 2-5 and the GNU extensions debug/dwarf reads).
const (
	fAddr          = 0x01
	fBlock2        = 0x03
	fBlock4        = 0x04
	fData2         = 0x05
	fData4         = 0x06
	fData8         = 0x07
	fString        = 0x08
	fBlock         = 0x09
	fBlock1        = 0x0a
	fData1         = 0x0b
	fFlag          = 0x0c
	fSdata         = 0x0d
	fStrp          = 0x0e
	fUdata         = 0x0f
	fRefAddr       = 0x10
	fRef1          = 0x11
	fRef2          = 0x12
	fRef4          = 0x13
	fRef8          = 0x14
	fRefUdata      = 0x15
	fIndirect      = 0x16
	fSecOffset     = 0x17
	fExprloc       = 0x18
	fFlagPresent   = 0x19
	fStrx          = 0x1a
	fAddrx         = 0x1b
	fRefSup4       = 0x1c
	fStrpSup       = 0x1d
	fData16        = 0x1e
	fLineStrp      = 0x1f
	fRefSig8       = 0x20
	fImplicitConst = 0x21
	fLoclistx      = 0x22
	fRnglistx      = 0x23
	fRefSup8       = 0x24
	fStrx1         = 0x25
	fStrx2         = 0x26
	fStrx3         = 0x27
	fStrx4         = 0x28
	fAddrx1        = 0x29
	fAddrx2        = 0x2a
	fAddrx3        = 0x2b
	fAddrx4        = 0x2c
	fGNURefAlt     = 0x1f20
	fGNUStrpAlt    = 0x1f21
)

// Attributes the index reads.
const (
	atSibling        = 0x01
	atName           = 0x03
	atLowpc          = 0x11
	atHighpc         = 0x12
	atAbstractOrigin = 0x31
	atSpecification  = 0x47
	atEntrypc        = 0x52
	atRanges         = 0x55
	atCallFile       = 0x58
	atCallLine       = 0x59
	atLinkageName    = 0x6e
	atMIPSLinkage    = 0x2007
)

type abbrevAttr struct {
	attr     uint32
	form     uint32
	implicit int64
}

type abbrevEntry struct {
	tag      dwarf.Tag
	children bool
	attrs    []abbrevAttr
	// fixed is the size of the attributes when every form has one for
	// the unit's format, else -1.
	fixed int
}

// abbrevTable maps abbreviation codes to entries: a slice for the usual
// dense codes 1..n, a map for the rest.
type abbrevTable struct {
	dense  []*abbrevEntry
	sparse map[uint64]*abbrevEntry
}

func (t *abbrevTable) get(code uint64) *abbrevEntry {
	if code < uint64(len(t.dense)) {
		return t.dense[code]
	}
	return t.sparse[code]
}

// dieUnit is one unit of .debug_info.
type dieUnit struct {
	base      int // offset of the unit header (references are relative to it)
	data      int // offset of the first DIE
	end       int
	version   int
	asize     int
	dwarf64   bool
	utype     uint8
	abbrevOff uint64
	abbrevs   *abbrevTable

	// From the root DIE (DWARF 5 bases, the ranges' base address).
	strOffsetsBase, addrBase, rnglistsBase uint64
	rangeBase                              uint64
}

func (u *dieUnit) offsize() int {
	if u.dwarf64 {
		return 8
	}
	return 4
}

// dieSections are the sections DIE values refer into.
type dieSections struct {
	info, abbrev, str, lineStr, strOffsets, addr, ranges, rnglists []byte
	bo                                                             binary.ByteOrder
}

// readUnits lists the units of .debug_info as debug/dwarf does (units
// of length 0 skipped). dwarf.New has already checked the headers; a
// header it would refuse ends the list.
func readUnits(s *dieSections) ([]dieUnit, error) {
	var units []dieUnit
	r := &buf{b: s.info, bo: s.bo}
	for r.off < len(r.b) && r.err == nil {
		u := dieUnit{base: r.off}
		n := uint64(r.u32())
		if n == 0xffffffff {
			u.dwarf64 = true
			n = r.u64()
		} else if n >= 0xfffffff0 {
			return nil, errors.New("unit length has a reserved value")
		}
		if n == 0 {
			continue
		}
		if r.err != nil || n > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("unit at %#x: length %d exceeds the section", u.base, n)
		}
		u.end = r.off + int(n)
		r.b = s.info[:u.end]
		u.version = int(r.u16())
		if u.version < 2 || u.version > 5 {
			return nil, fmt.Errorf("unit at %#x: unsupported DWARF version %d", u.base, u.version)
		}
		if u.version >= 5 {
			u.utype = r.u8()
			u.asize = int(r.u8())
		}
		var abbrevOff uint64
		if u.dwarf64 {
			abbrevOff = r.u64()
		} else {
			abbrevOff = uint64(r.u32())
		}
		if u.version < 5 {
			u.asize = int(r.u8())
		}
		switch u.utype {
		case 4, 5: // skeleton, split compile: unit id
			r.u64()
		case 2, 6: // type, split type: signature and type offset
			r.u64()
			r.skip(u.offsize())
		}
		if r.err != nil {
			return nil, fmt.Errorf("unit at %#x: header: %w", u.base, r.err)
		}
		u.data, u.abbrevOff = r.off, abbrevOff
		units = append(units, u)
		r.b, r.off = s.info, u.end
	}
	return units, nil
}

// abbrevKey caches abbreviation tables by offset and by what their
// entries' fixed sizes depend on.
type abbrevKey struct {
	off      uint64
	asize    int
	dwarf64  bool
	version2 bool
}

// parseAbbrevs reads the abbreviation table at off as debug/dwarf does.
func parseAbbrevs(sec []byte, off uint64, u *dieUnit) (*abbrevTable, error) {
	if off > uint64(len(sec)) {
		off = uint64(len(sec))
	}
	r := &buf{b: sec, off: int(off), bo: binary.LittleEndian}
	t := &abbrevTable{}
	for {
		code := r.uleb()
		if r.err != nil {
			return nil, fmt.Errorf("abbreviations at %#x of .debug_abbrev: %w", off, r.err)
		}
		if code == 0 {
			break
		}
		a := &abbrevEntry{tag: dwarf.Tag(r.uleb()), children: r.u8() != 0}
		for r.err == nil {
			attr, form := r.uleb(), r.uleb()
			if attr == 0 && form == 0 {
				break
			}
			if len(a.attrs) >= 1<<16 {
				return nil, fmt.Errorf("abbreviation %d at %#x has too many attributes", code, off)
			}
			aa := abbrevAttr{attr: uint32(min(attr, 1<<32-1)), form: uint32(min(form, 1<<32-1))}
			if form == fImplicitConst {
				aa.implicit = r.sleb()
			}
			a.attrs = append(a.attrs, aa)
		}
		if r.err != nil {
			return nil, fmt.Errorf("abbreviations at %#x of .debug_abbrev: %w", off, r.err)
		}
		a.fixed = 0
		for _, aa := range a.attrs {
			n := formSize(aa.form, u)
			if n < 0 {
				a.fixed = -1
				break
			}
			a.fixed += n
		}
		// Codes are usually dense from 1: a slice, bounded by the bytes
		// the table takes (an entry takes at least 4).
		if code < uint64(len(sec))/2+16 && code < 1<<20 {
			for uint64(len(t.dense)) <= code {
				t.dense = append(t.dense, nil)
			}
			t.dense[code] = a
		} else {
			if t.sparse == nil {
				t.sparse = map[uint64]*abbrevEntry{}
			}
			t.sparse[code] = a
		}
	}
	return t, nil
}

// formSize is the size of a form's value in unit u, -1 when it varies.
func formSize(form uint32, u *dieUnit) int {
	switch form {
	case fAddr:
		return u.asize
	case fData1, fRef1, fFlag, fStrx1, fAddrx1:
		return 1
	case fData2, fRef2, fStrx2, fAddrx2:
		return 2
	case fStrx3, fAddrx3:
		return 3
	case fData4, fRef4, fRefSup4, fStrx4, fAddrx4:
		return 4
	case fData8, fRef8, fRefSig8, fRefSup8:
		return 8
	case fData16:
		return 16
	case fFlagPresent, fImplicitConst:
		return 0
	case fStrp, fLineStrp, fSecOffset, fStrpSup, fGNURefAlt, fGNUStrpAlt:
		return u.offsize()
	case fRefAddr:
		if u.version == 2 {
			return u.asize
		}
		return u.offsize()
	}
	return -1
}

// Kinds of decoded values, by the Go type debug/dwarf gives them.
const (
	vNone   = iota
	vUint   // uint64 (addresses, signatures, list indexes)
	vInt    // int64 (constants, section offsets, GNU alt references)
	vString // string
	vRef    // dwarf.Offset
	vOther  // blocks, flags, ...
)

// attrVal is one decoded attribute value.
type attrVal struct {
	kind uint8
	// addr: the form is an address (class address); alt: a GNU alt
	// reference or string (dwz).
	addr, alt bool
	form      uint32
	u         uint64 // also a string's offset in its section (sec)
	i         int64
	sec       uint8
}

// dieReader reads the DIEs of one unit.
type dieReader struct {
	buf
	s *dieSections
	u *dieUnit
}

// skipAttrs skips the attributes of a DIE with abbreviation a. It
// returns the DW_AT_sibling reference when wantSibling is set and the
// DIE has one.
func (r *dieReader) skipAttrs(a *abbrevEntry, wantSibling bool) (sibling int, ok bool) {
	if a.fixed >= 0 && !wantSibling {
		r.skip(a.fixed)
		return 0, false
	}
	for i := range a.attrs {
		aa := &a.attrs[i]
		if wantSibling && aa.attr == atSibling {
			v := r.value(aa)
			if v.kind == vRef {
				sibling, ok = int(v.u), true
			}
			continue
		}
		r.skipForm(aa.form)
	}
	return sibling, ok
}

// skipChildren skips the children of the DIE whose attributes were just
// read, if it has any: to its sibling when it names one past them (as
// debug/dwarf's Reader.SkipChildren does), else DIE by DIE.
func (r *dieReader) skipChildren(a *abbrevEntry, sibling int, hasSibling bool) {
	if !a.children {
		return
	}
	if hasSibling && sibling >= r.off && sibling <= len(r.b) {
		r.off = sibling
		return
	}
	for depth := 1; depth > 0 && r.err == nil; {
		if r.off >= len(r.b) {
			return
		}
		code := r.uleb()
		if code == 0 {
			depth--
			continue
		}
		c := r.u.abbrevs.get(code)
		if c == nil {
			r.fail(fmt.Errorf("unknown abbreviation %d at %#x", code, r.off))
			return
		}
		sib, ok := r.skipAttrs(c, c.children)
		if c.children {
			if ok && sib >= r.off && sib <= len(r.b) {
				r.off = sib
			} else {
				depth++
			}
		}
	}
}

// skipForm skips one value of form.
func (r *dieReader) skipForm(form uint32) {
	if n := formSize(form, r.u); n >= 0 {
		r.skip(n)
		return
	}
	switch form {
	case fString:
		i := r.off
		for i < len(r.b) && r.b[i] != 0 {
			i++
		}
		if i == len(r.b) {
			r.fail(errShort)
			return
		}
		r.off = i + 1
	case fBlock1:
		r.skip(int(r.u8()))
	case fBlock2:
		r.skip(int(r.u16()))
	case fBlock4:
		r.skip(int(r.u32()))
	case fBlock, fExprloc:
		r.skip(int(min(r.uleb(), 1<<62)))
	case fSdata:
		r.sleb()
	case fUdata, fRefUdata, fStrx, fAddrx, fLoclistx, fRnglistx:
		r.uleb()
	case fIndirect:
		f := r.uleb()
		if f == fIndirect || f > 1<<32-1 {
			r.fail(fmt.Errorf("indirect form %#x", f))
			return
		}
		r.skipForm(uint32(f))
	default:
		r.fail(fmt.Errorf("unknown attribute form %#x", form))
	}
}

// value decodes one attribute as debug/dwarf does.
func (r *dieReader) value(aa *abbrevAttr) attrVal {
	form := aa.form
	if form == fIndirect {
		f := r.uleb()
		if f > 1<<32-1 {
			r.fail(fmt.Errorf("indirect form %#x", f))
			return attrVal{}
		}
		form = uint32(f)
	}
	u := r.u
	v := attrVal{form: form}
	switch form {
	case fAddr:
		v.kind, v.addr, v.u = vUint, true, r.uint(u.asize)
	case fAddrx, fAddrx1, fAddrx2, fAddrx3, fAddrx4:
		var idx uint64
		switch form {
		case fAddrx:
			idx = r.uleb()
		case fAddrx1:
			idx = uint64(r.u8())
		case fAddrx2:
			idx = uint64(r.u16())
		case fAddrx3:
			idx = r.u24()
		case fAddrx4:
			idx = uint64(r.u32())
		}
		if r.s.addr == nil {
			r.fail(errors.New("DW_FORM_addrx with no .debug_addr section"))
			return attrVal{}
		}
		a, err := debugAddr(r.s, u, u.addrBase, idx)
		if err != nil {
			r.fail(err)
			return attrVal{}
		}
		v.kind, v.addr, v.u = vUint, true, a
	case fBlock1, fBlock2, fBlock4, fBlock, fExprloc, fData16, fFlag, fFlagPresent:
		r.skipForm(form)
		v.kind = vOther
	case fData1:
		v.kind, v.i = vInt, int64(r.u8())
	case fData2:
		v.kind, v.i = vInt, int64(r.u16())
	case fData4:
		v.kind, v.i = vInt, int64(r.u32())
	case fData8:
		v.kind, v.i = vInt, int64(r.u64())
	case fSdata:
		v.kind, v.i = vInt, r.sleb()
	case fUdata:
		v.kind, v.i = vInt, int64(r.uleb())
	case fImplicitConst:
		v.kind, v.i = vInt, aa.implicit
	case fRefAddr:
		v.kind = vRef
		if u.version == 2 {
			v.u = uint64(uint32(r.uint(u.asize)))
		} else {
			v.u = uint64(uint32(r.uint(u.offsize())))
		}
	case fRef1:
		v.kind, v.u = vRef, uint64(uint32(uint64(r.u8())+uint64(u.base)))
	case fRef2:
		v.kind, v.u = vRef, uint64(uint32(uint64(r.u16())+uint64(u.base)))
	case fRef4:
		v.kind, v.u = vRef, uint64(uint32(uint64(r.u32())+uint64(u.base)))
	case fRef8:
		v.kind, v.u = vRef, uint64(uint32(r.u64()+uint64(u.base)))
	case fRefUdata:
		v.kind, v.u = vRef, uint64(uint32(r.uleb()+uint64(u.base)))
	case fString:
		off := r.off
		r.skipForm(fString)
		v.kind, v.u, v.sec = vString, uint64(off), strInfo
	case fStrp, fLineStrp:
		off := r.uint(u.offsize())
		sec, which := r.s.str, uint8(strStr)
		if form == fLineStrp {
			if len(r.s.lineStr) == 0 {
				r.fail(errors.New("DW_FORM_line_strp with no .debug_line_str section"))
				return attrVal{}
			}
			sec, which = r.s.lineStr, strLineStr
		}
		if err := checkString(sec, off); err != nil {
			r.fail(err)
			return attrVal{}
		}
		v.kind, v.u, v.sec = vString, off, which
	case fStrx, fStrx1, fStrx2, fStrx3, fStrx4:
		var idx uint64
		switch form {
		case fStrx:
			idx = r.uleb()
		case fStrx1:
			idx = uint64(r.u8())
		case fStrx2:
			idx = uint64(r.u16())
		case fStrx3:
			idx = r.u24()
		case fStrx4:
			idx = uint64(r.u32())
		}
		if len(r.s.strOffsets) == 0 {
			r.fail(errors.New("DW_FORM_strx with no .debug_str_offsets section"))
			return attrVal{}
		}
		sz := uint64(u.offsize())
		if idx > (1<<62)/sz {
			r.fail(errors.New("DW_FORM_strx index out of range"))
			return attrVal{}
		}
		o := u.strOffsetsBase + idx*sz
		if o < u.strOffsetsBase || o > uint64(len(r.s.strOffsets)) || sz > uint64(len(r.s.strOffsets))-o {
			r.fail(errors.New("DW_FORM_strx offset out of range"))
			return attrVal{}
		}
		var so uint64
		if sz == 8 {
			so = r.s.bo.Uint64(r.s.strOffsets[o:])
		} else {
			so = uint64(r.s.bo.Uint32(r.s.strOffsets[o:]))
		}
		if err := checkString(r.s.str, so); err != nil {
			r.fail(err)
			return attrVal{}
		}
		v.kind, v.u, v.sec = vString, so, strStr
	case fStrpSup:
		r.skip(u.offsize())
		v.kind = vOther
	case fSecOffset, fGNURefAlt, fGNUStrpAlt:
		v.kind, v.i = vInt, int64(r.uint(u.offsize()))
		v.alt = form != fSecOffset
	case fRefSig8, fRefSup8:
		v.kind, v.u = vUint, r.u64()
	case fRefSup4:
		r.skip(4)
		v.kind = vOther
	case fLoclistx:
		v.kind, v.u = vUint, r.uleb()
	case fRnglistx:
		idx := r.uleb()
		if r.err != nil {
			return attrVal{}
		}
		off, err := resolveRnglistx(r.s, u, idx)
		if err != nil {
			r.fail(err)
			return attrVal{}
		}
		v.kind, v.u = vUint, off
	default:
		r.fail(fmt.Errorf("unknown attribute form %#x", form))
		return attrVal{}
	}
	if r.err != nil {
		return attrVal{}
	}
	return v
}

func (r *buf) u24() uint64 {
	if !r.need(3) {
		return 0
	}
	b := r.b[r.off : r.off+3]
	r.off += 3
	if r.bo == binary.BigEndian {
		return uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	}
	return uint64(b[2])<<16 | uint64(b[1])<<8 | uint64(b[0])
}

// checkString checks that a NUL-terminated string starts at off, as
// debug/dwarf reads DW_FORM_strp and its kin (and within the 4 GiB a
// dieStr addresses).
func checkString(sec []byte, off uint64) error {
	if off > uint64(len(sec)) {
		return fmt.Errorf("string offset %#x outside its section (%d bytes)", off, len(sec))
	}
	if off > 1<<32-1 {
		return fmt.Errorf("string offset %#x beyond 4 GiB", off)
	}
	if bytes.IndexByte(sec[off:], 0) < 0 {
		return fmt.Errorf("string at %#x is not terminated", off)
	}
	return nil
}

// debugAddr is the address at index idx of the unit's .debug_addr table.
func debugAddr(s *dieSections, u *dieUnit, base, idx uint64) (uint64, error) {
	sz := uint64(u.asize)
	if sz == 0 || idx > (1<<62)/sz {
		return 0, errors.New("address index out of range")
	}
	off := idx*sz + base
	if off < base || off > uint64(len(s.addr)) || sz > uint64(len(s.addr))-off {
		return 0, fmt.Errorf("address index %d outside .debug_addr", idx)
	}
	r := buf{b: s.addr, off: int(off), bo: s.bo}
	a := r.uint(int(sz))
	return a, r.err
}

// resolveRnglistx turns a DW_FORM_rnglistx index into an offset in
// .debug_rnglists through the unit's offset table.
func resolveRnglistx(s *dieSections, u *dieUnit, idx uint64) (uint64, error) {
	sz := uint64(u.offsize())
	if idx > (1<<62)/sz {
		return 0, errors.New("DW_FORM_rnglistx index out of range")
	}
	off := u.rnglistsBase + idx*sz
	if off < u.rnglistsBase || off > uint64(len(s.rnglists)) || sz > uint64(len(s.rnglists))-off {
		return 0, errors.New("DW_FORM_rnglistx offset out of range")
	}
	r := buf{b: s.rnglists, off: int(off), bo: s.bo}
	return u.rnglistsBase + r.uint(int(sz)), r.err
}

// dieRanges returns the address ranges of a DIE as dwarf.Data.Ranges
// does: [low, high) when both are there, then the range list DW_AT_ranges
// names, based at the unit's base address.
func dieRanges(s *dieSections, u *dieUnit, low, high, rng attrVal, ret [][2]uint64) ([][2]uint64, error) {
	if low.kind == vUint {
		hi, ok := uint64(0), false
		switch {
		case high.addr && high.kind == vUint:
			hi, ok = high.u, true
		case high.kind == vInt && isConstForm(high.form):
			hi, ok = low.u+uint64(high.i), true
		}
		if ok {
			ret = append(ret, [2]uint64{low.u, hi})
		}
	}
	if u.version >= 5 && s.rnglists != nil {
		switch {
		case rng.kind == vInt && rng.form == fSecOffset:
			return dwarf5Ranges(s, u, int64(rng.i), ret)
		case rng.kind == vUint && rng.form == fRnglistx:
			return dwarf5Ranges(s, u, int64(rng.u), ret)
		}
		return ret, nil
	}
	if rng.kind == vInt && s.ranges != nil {
		return dwarf2Ranges(s, u, rng.i, ret)
	}
	return ret, nil
}

// isConstForm reports forms of class constant.
func isConstForm(form uint32) bool {
	switch form {
	case fData1, fData2, fData4, fData8, fSdata, fUdata, fImplicitConst:
		return true
	}
	return false
}

func dwarf2Ranges(s *dieSections, u *dieUnit, off int64, ret [][2]uint64) ([][2]uint64, error) {
	if off < 0 || off > int64(len(s.ranges)) {
		return nil, fmt.Errorf("invalid range offset %d (max %d)", off, len(s.ranges))
	}
	if u.asize != 1 && u.asize != 2 && u.asize != 4 && u.asize != 8 {
		return ret, nil
	}
	base := u.rangeBase
	r := buf{b: s.ranges, off: int(off), bo: s.bo}
	maxAddr := ^uint64(0) >> uint((8-u.asize)*8)
	for r.off < len(r.b) {
		low, high := r.uint(u.asize), r.uint(u.asize)
		if low == 0 && high == 0 {
			break
		}
		if low == maxAddr {
			base = high
		} else {
			ret = append(ret, [2]uint64{base + low, base + high})
		}
	}
	return ret, nil
}

func dwarf5Ranges(s *dieSections, u *dieUnit, off int64, ret [][2]uint64) ([][2]uint64, error) {
	if off < 0 || off > int64(len(s.rnglists)) {
		return nil, fmt.Errorf("invalid rnglist offset %d (max %d)", off, len(s.rnglists))
	}
	base := u.rangeBase
	r := buf{b: s.rnglists, off: int(off), bo: s.bo}
	addr := func(idx uint64) (uint64, error) { return debugAddr(s, u, u.addrBase, idx) }
	for {
		if r.err != nil {
			return nil, r.err
		}
		switch r.u8() {
		case 0: // DW_RLE_end_of_list
			if r.err != nil {
				return nil, r.err
			}
			return ret, nil
		case 1: // DW_RLE_base_addressx
			b, err := addr(r.uleb())
			if err != nil {
				return nil, err
			}
			base = b
		case 2: // DW_RLE_startx_endx
			si, ei := r.uleb(), r.uleb()
			start, err := addr(si)
			if err != nil {
				return nil, err
			}
			end, err := addr(ei)
			if err != nil {
				return nil, err
			}
			ret = append(ret, [2]uint64{start, end})
		case 3: // DW_RLE_startx_length
			si, n := r.uleb(), r.uleb()
			start, err := addr(si)
			if err != nil {
				return nil, err
			}
			ret = append(ret, [2]uint64{start, start + n})
		case 4: // DW_RLE_offset_pair
			o1, o2 := r.uleb(), r.uleb()
			ret = append(ret, [2]uint64{base + o1, base + o2})
		case 5: // DW_RLE_base_address
			base = r.uint(u.asize)
		case 6: // DW_RLE_start_end
			start, end := r.uint(u.asize), r.uint(u.asize)
			ret = append(ret, [2]uint64{start, end})
		case 7: // DW_RLE_start_length
			start, n := r.uint(u.asize), r.uleb()
			ret = append(ret, [2]uint64{start, start + n})
		}
		if len(ret) > maxNodes {
			return nil, errors.New("range list too long")
		}
	}
}
