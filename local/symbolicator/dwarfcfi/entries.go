package dwarfcfi

import (
	"errors"
	"fmt"
	"strings"
)

// entry is the framing of one CIE or FDE.
type entry struct {
	off        int  // offset of the length field
	end        int  // offset just past the entry
	body       int  // offset just past the id / CIE pointer field
	is64       bool // 64-bit DWARF format
	terminator bool // .eh_frame's zero terminator
	isCIE      bool
	cieOff     int // FDEs: offset of their CIE
}

// entryAt reads the framing of the entry at off: its length, its format
// and whether it is a CIE or which CIE an FDE points at.
func (t *Table) entryAt(off int) (entry, error) {
	r := reader{b: t.data, off: off, bo: t.bo}
	e := entry{off: off}
	length := uint64(r.u32())
	if r.err != nil {
		return e, fmt.Errorf("dwarfcfi: %v: entry at %#x: length field: %v", t.kind, off, r.err)
	}
	if length == 0 {
		if t.kind == EHFrame {
			// The zero terminator ends .eh_frame (crtend.o puts it last).
			e.terminator = true
			e.end = r.off
			return e, nil
		}
		return e, fmt.Errorf("dwarfcfi: %v: entry at %#x has length 0", t.kind, off)
	}
	if length == 0xffffffff {
		e.is64 = true
		length = r.u64()
		if r.err != nil {
			return e, fmt.Errorf("dwarfcfi: %v: entry at %#x: 64-bit length field: %v", t.kind, off, r.err)
		}
	} else if length >= 0xfffffff0 {
		return e, fmt.Errorf("dwarfcfi: %v: entry at %#x: reserved length value %#x", t.kind, off, length)
	}
	if length > uint64(r.left()) {
		return e, fmt.Errorf("dwarfcfi: %v: entry at %#x: length %#x outside section of %#x bytes", t.kind, off, length, len(t.data))
	}
	e.end = r.off + int(length)
	r.b = t.data[:e.end]
	idOff := r.off
	var id, cieID uint64
	switch {
	case t.kind == EHFrame:
		// The LSB fixes .eh_frame's CIE id and CIE pointer at 4 bytes,
		// also in the 64-bit format.
		id = uint64(r.u32())
	case e.is64:
		id, cieID = r.u64(), 0xffffffffffffffff
	default:
		id, cieID = uint64(r.u32()), 0xffffffff
	}
	if r.err != nil {
		return e, fmt.Errorf("dwarfcfi: %v: entry at %#x: length %d too short for its id field", t.kind, off, length)
	}
	e.body = r.off
	if id == cieID {
		e.isCIE = true
		return e, nil
	}
	if t.kind == EHFrame {
		// The CIE pointer counts back from the pointer field itself.
		if id > uint64(idOff) {
			return e, fmt.Errorf("dwarfcfi: %v: FDE at %#x: CIE pointer %#x points before the section", t.kind, off, id)
		}
		e.cieOff = idOff - int(id)
	} else {
		if id >= uint64(len(t.data)) {
			return e, fmt.Errorf("dwarfcfi: %v: FDE at %#x: CIE offset %#x outside section of %#x bytes", t.kind, off, id, len(t.data))
		}
		e.cieOff = int(id)
	}
	return e, nil
}

// cie is a decoded Common Information Entry.
type cie struct {
	off        int
	version    uint8
	aug        string
	codeAlign  uint64
	dataAlign  int64
	ra         uint64
	addrSize   int  // size of FDE addresses in .debug_frame
	segSize    int  // size of the segment selector before them (version 4)
	augData    bool // 'z': FDEs carry augmentation data
	fdeEnc     byte // 'R': encoding of FDE addresses in .eh_frame
	signal     bool // 'S': FDEs describe signal frames
	instr, end int  // initial instructions
}

// DW_EH_PE pointer encodings (LSB, "DWARF Extensions").
const (
	peAbsptr   = 0x00
	peULEB128  = 0x01
	peUdata2   = 0x02
	peUdata4   = 0x03
	peUdata8   = 0x04
	peSigned   = 0x08
	peSLEB128  = 0x09
	peSdata2   = 0x0a
	peSdata4   = 0x0b
	peSdata8   = 0x0c
	pePCRel    = 0x10
	peTextRel  = 0x20
	peDataRel  = 0x30
	peFuncRel  = 0x40
	peAligned  = 0x50
	peIndirect = 0x80
	peOmit     = 0xff
)

// errIndirect reports a DW_EH_PE_indirect address: its value is stored in
// memory of the running process, which a file does not have.
var errIndirect = errors.New("DW_EH_PE_indirect address needs process memory: unsupported")

// decodeCIE decodes the CIE at off.
func (t *Table) decodeCIE(off int) (*cie, error) {
	e, err := t.entryAt(off)
	if err != nil {
		return nil, err
	}
	if e.terminator || !e.isCIE {
		return nil, fmt.Errorf("dwarfcfi: %v: entry at %#x is not a CIE", t.kind, off)
	}
	c, err := t.parseCIE(e)
	if err != nil {
		return nil, fmt.Errorf("dwarfcfi: %v: CIE at %#x: %w", t.kind, off, err)
	}
	return c, nil
}

func (t *Table) parseCIE(e entry) (*cie, error) {
	r := reader{b: t.data[:e.end], off: e.body, bo: t.bo}
	c := &cie{off: e.off, addrSize: t.ptr, fdeEnc: peAbsptr}
	c.version = r.u8()
	switch {
	case r.err != nil:
		return nil, r.err
	case c.version == 1 || c.version == 3:
	case c.version == 4 && t.kind == DebugFrame:
	default:
		return nil, fmt.Errorf("unsupported version %d", c.version)
	}
	c.aug = r.cstring()
	if c.version >= 4 {
		c.addrSize = int(r.u8())
		c.segSize = int(r.u8())
		if r.err == nil && c.addrSize != 2 && c.addrSize != 4 && c.addrSize != 8 {
			return nil, fmt.Errorf("unsupported address size %d", c.addrSize)
		}
		if r.err == nil && c.segSize > 8 {
			return nil, fmt.Errorf("unsupported segment selector size %d", c.segSize)
		}
	}
	if strings.HasPrefix(c.aug, "eh") {
		// GCC before 3.0: the address of exception data precedes the
		// alignment factors.
		r.bytes(uint64(t.ptr))
	}
	c.codeAlign = r.uleb()
	c.dataAlign = r.sleb()
	if c.version == 1 {
		c.ra = uint64(r.u8())
	} else {
		c.ra = r.uleb()
	}
	if r.err != nil {
		return nil, r.err
	}
	if c.ra >= maxReg {
		return nil, fmt.Errorf("return address register %d out of range", c.ra)
	}
	switch {
	case strings.HasPrefix(c.aug, "z"):
		c.augData = true
		n := r.uleb()
		if r.err == nil && n > uint64(r.left()) {
			return nil, fmt.Errorf("augmentation data of %d bytes exceeds the entry", n)
		}
		end := r.off + int(n)
		a := reader{b: t.data[:end], off: r.off, bo: t.bo}
		r.off = end
	letters:
		for _, ch := range c.aug[1:] {
			switch ch {
			case 'L': // LSDA encoding; the LSDA pointer lives in FDEs
				a.u8()
			case 'P': // personality routine: encoding and pointer
				enc := a.u8()
				if a.err == nil {
					if _, err := t.readPointer(&a, enc, t.ptr); err != nil && err != errIndirect {
						return nil, fmt.Errorf("personality pointer: %w", err)
					}
				}
			case 'R':
				c.fdeEnc = a.u8()
			case 'S':
				c.signal = true
			case 'B', 'G':
				// aarch64: return addresses are signed with the B key;
				// stack is MTE tagged. Neither changes the rules.
			default:
				// 'z' gives the data's length, so the rest can be skipped.
				break letters
			}
		}
		if a.err != nil {
			return nil, fmt.Errorf("augmentation data %q: %v", c.aug, a.err)
		}
		if c.fdeEnc == peOmit {
			return nil, errors.New("FDE address encoding DW_EH_PE_omit")
		}
	case c.aug == "" || c.aug == "eh":
	default:
		// Without 'z' the size of unknown augmentation data is unknown, so
		// the initial instructions cannot be found.
		return nil, fmt.Errorf("unknown augmentation %q", c.aug)
	}
	if r.err != nil {
		return nil, r.err
	}
	c.instr, c.end = r.off, e.end
	return c, nil
}

// decodeFDE decodes the address range and instructions of FDE e.
func (t *Table) decodeFDE(e entry, c *cie) (fdeRef, error) {
	r := reader{b: t.data[:e.end], off: e.body, bo: t.bo}
	f := fdeRef{off: e.off, cie: c}
	var size uint64
	if t.kind == DebugFrame {
		r.bytes(uint64(c.segSize))
		f.begin = r.uint(c.addrSize)
		size = r.uint(c.addrSize)
	} else {
		var err error
		f.begin, err = t.readPointer(&r, c.fdeEnc, t.ptr)
		if err != nil {
			return f, fmt.Errorf("dwarfcfi: %v: FDE at %#x: address: %w", t.kind, e.off, err)
		}
		size, err = t.readPointer(&r, c.fdeEnc&0x0f, t.ptr)
		if err != nil {
			return f, fmt.Errorf("dwarfcfi: %v: FDE at %#x: size: %w", t.kind, e.off, err)
		}
	}
	if c.augData {
		n := r.uleb()
		r.bytes(n)
	}
	if r.err != nil {
		return f, fmt.Errorf("dwarfcfi: %v: FDE at %#x: %v", t.kind, e.off, r.err)
	}
	f.instr, f.instrEnd = r.off, e.end
	f.end = (f.begin + size) & t.mask()
	if f.end < f.begin {
		// The range wraps around the address space: clip it.
		f.end = t.mask()
	}
	return f, nil
}

// mask keeps the low address-size bytes of a value.
func (t *Table) mask() uint64 {
	if t.ptr == 4 {
		return 0xffffffff
	}
	return ^uint64(0)
}

// readPointer reads a pointer in DW_EH_PE encoding enc at r's position;
// size is the size of DW_EH_PE_absptr.
func (t *Table) readPointer(r *reader, enc byte, size int) (uint64, error) {
	if enc == peOmit {
		return 0, errors.New("DW_EH_PE_omit where a pointer is required")
	}
	app := enc & 0x70
	if app == peAligned {
		// The pointer is an absptr at the next address-size boundary.
		addr := t.opts.SectionAddr + uint64(r.off)
		pad := (uint64(size) - addr%uint64(size)) % uint64(size)
		r.bytes(pad)
	}
	field := t.opts.SectionAddr + uint64(r.off)
	var v uint64
	switch enc & 0x0f {
	case peAbsptr:
		v = r.uint(size)
	case peSigned:
		v = signExtend(r.uint(size), size)
	case peULEB128:
		v = r.uleb()
	case peUdata2:
		v = uint64(r.u16())
	case peUdata4:
		v = uint64(r.u32())
	case peUdata8:
		v = r.u64()
	case peSLEB128:
		v = uint64(r.sleb())
	case peSdata2:
		v = uint64(int64(int16(r.u16())))
	case peSdata4:
		v = uint64(int64(int32(r.u32())))
	case peSdata8:
		v = r.u64()
	default:
		return 0, fmt.Errorf("unknown pointer format in encoding %#x", enc)
	}
	if r.err != nil {
		return 0, r.err
	}
	switch app {
	case peAbsptr, peAligned:
	case pePCRel:
		v += field
	case peTextRel:
		v += t.opts.TextAddr
	case peDataRel:
		v += t.opts.DataAddr
	case peFuncRel:
		return 0, fmt.Errorf("DW_EH_PE_funcrel pointer (encoding %#x) outside an FDE: unsupported", enc)
	default:
		return 0, fmt.Errorf("unknown pointer application in encoding %#x", enc)
	}
	v &= t.mask()
	if enc&peIndirect != 0 {
		return v, errIndirect
	}
	return v, nil
}

// signExtend sign-extends the low size bytes of v.
func signExtend(v uint64, size int) uint64 {
	if size >= 8 || size <= 0 {
		return v
	}
	shift := uint(64 - 8*size)
	return uint64(int64(v<<shift) >> shift)
}
