package dwarfcfi

import (
	"encoding/binary"
)

// synth builds small call frame sections for tests: CIEs and FDEs with
// given instructions, in .eh_frame or .debug_frame layout.
type synth struct {
	kind Kind
	bo   interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	buf   []byte
	addr4 bool // .debug_frame FDE addresses are 4 bytes
}

func newSynth(kind Kind) *synth { return &synth{kind: kind, bo: binary.LittleEndian} }

func (s *synth) u8(v ...byte) { s.buf = append(s.buf, v...) }
func (s *synth) u16(v uint16) { s.buf = s.bo.AppendUint16(s.buf, v) }
func (s *synth) u32(v uint32) { s.buf = s.bo.AppendUint32(s.buf, v) }
func (s *synth) u64(v uint64) { s.buf = s.bo.AppendUint64(s.buf, v) }

func (s *synth) uleb(v uint64) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		s.buf = append(s.buf, c)
		if v == 0 {
			return
		}
	}
}

func (s *synth) sleb(v int64) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		s.buf = append(s.buf, c)
		if done {
			return
		}
	}
}

// entry appends a 32-bit length field and returns a function that fills
// it in once the body is written; the body is padded to 4 bytes.
func (s *synth) entry() func() {
	at := len(s.buf)
	s.u32(0)
	return func() {
		for (len(s.buf)-at)%4 != 0 {
			s.u8(0) // DW_CFA_nop
		}
		s.bo.PutUint32(s.buf[at:], uint32(len(s.buf)-at-4))
	}
}

// cieSpec describes a CIE. aug is the augmentation string; augData its
// data (for "z" strings).
type cieSpec struct {
	version   byte
	aug       string
	augData   []byte
	codeAlign uint64
	dataAlign int64
	ra        uint64
	instr     []byte
}

// cie appends a CIE and returns its offset.
func (s *synth) cie(c cieSpec) int {
	off := len(s.buf)
	done := s.entry()
	if s.kind == EHFrame {
		s.u32(0)
	} else {
		s.u32(0xffffffff)
	}
	if c.version == 0 {
		c.version = 1
	}
	s.u8(c.version)
	s.buf = append(s.buf, c.aug...)
	s.u8(0)
	if c.version >= 4 {
		s.u8(8, 0)
	}
	s.uleb(c.codeAlign)
	s.sleb(c.dataAlign)
	if c.version == 1 {
		s.u8(byte(c.ra))
	} else {
		s.uleb(c.ra)
	}
	if len(c.aug) > 0 && c.aug[0] == 'z' {
		s.uleb(uint64(len(c.augData)))
		s.u8(c.augData...)
	}
	s.u8(c.instr...)
	done()
	return off
}

// fde appends an FDE for [begin, begin+size) with CIE at cieOff. In
// .eh_frame the addresses are written as udata4 (the CIE must say "zR"
// with encoding 0x03), in .debug_frame as 8 bytes unless addr4 is set.
func (s *synth) fde(cieOff int, begin, size uint64, instr []byte) int {
	off := len(s.buf)
	done := s.entry()
	if s.kind == EHFrame {
		s.u32(uint32(len(s.buf) - cieOff))
		s.u32(uint32(begin))
		s.u32(uint32(size))
		s.uleb(0)
	} else if s.addr4 {
		s.u32(uint32(cieOff))
		s.u32(uint32(begin))
		s.u32(uint32(size))
	} else {
		s.u32(uint32(cieOff))
		s.u64(begin)
		s.u64(size)
	}
	s.u8(instr...)
	done()
	return off
}

// ops concatenates instruction fragments.
func ops(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func uleb(v uint64) []byte {
	s := &synth{bo: binary.LittleEndian}
	s.uleb(v)
	return s.buf
}

func sleb(v int64) []byte {
	s := &synth{bo: binary.LittleEndian}
	s.sleb(v)
	return s.buf
}

// Instruction helpers.
func defCFA(reg, off uint64) []byte { return ops([]byte{cfaDefCFA}, uleb(reg), uleb(off)) }
func defCFAOffset(off uint64) []byte {
	return ops([]byte{cfaDefCFAOffset}, uleb(off))
}
func offset(reg, factored uint64) []byte {
	if reg < 64 {
		return ops([]byte{cfaOffset | byte(reg)}, uleb(factored))
	}
	return ops([]byte{cfaOffsetExtended}, uleb(reg), uleb(factored))
}
func advance(delta byte) []byte { return []byte{cfaAdvanceLoc | delta} }
func block(op byte, reg uint64, expr ...byte) []byte {
	return ops([]byte{op}, uleb(reg), uleb(uint64(len(expr))), expr)
}

// amd64CIE is the CIE GCC emits for x86_64: CFA = rsp+8, rip at CFA-8.
var amd64CIE = cieSpec{aug: "zR", augData: []byte{peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16,
	instr: ops(defCFA(7, 8), offset(16, 1))}
