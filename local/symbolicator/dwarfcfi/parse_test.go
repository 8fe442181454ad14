package dwarfcfi

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"strings"
	"testing"
)

// fdeRaw appends an .eh_frame FDE whose body after the CIE pointer is given
// verbatim (addresses, augmentation data, instructions).
func (s *synth) fdeRaw(cieOff int, body ...byte) int {
	off := len(s.buf)
	done := s.entry()
	s.u32(uint32(len(s.buf) - cieOff))
	s.u8(body...)
	done()
	return off
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestEncodings covers the CIE augmentations and DW_EH_PE address
// encodings the reference tools cannot show: each table has one FDE, and
// Find must find it at the address the encoding gives, or the FDE must be
// left out when its address cannot be known.
func TestEncodings(t *testing.T) {
	const sectionAddr, textAddr, dataAddr = 0x10000, 0x20000, 0x30000
	body := ops(defCFAOffset(16))
	tests := []struct {
		name  string
		arch  Arch
		build func(s *synth)
		begin uint64 // 0: the FDE must be left out
		check func(t *testing.T, r *Row)
	}{
		{name: "datarel", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peDataRel | peSdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x100), le32(0x10), uleb(0), body)...)
		}, begin: dataAddr + 0x100},
		{name: "textrel", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peTextRel | peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x100), le32(0x10), uleb(0), body)...)
		}, begin: textAddr + 0x100},
		{name: "pcrel sdata4 backwards", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{pePCRel | peSdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			field := sectionAddr + uint64(len(s.buf)) + 8 // after the length and CIE pointer
			s.fdeRaw(c, ops(le32(uint32(0x8000-field)), le32(0x10), uleb(0), body)...)
		}, begin: 0x8000},
		{name: "aligned", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peAligned}, codeAlign: 1, dataAlign: -8, ra: 16})
			field := sectionAddr + uint64(len(s.buf)) + 8
			s.fdeRaw(c, ops(make([]byte, (8-field%8)%8), le64(0x5000), le64(0x10), uleb(0), body)...)
		}, begin: 0x5000},
		{name: "aligned, other offset", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peAligned}, codeAlign: 1, dataAlign: -8, ra: 16, instr: []byte{0, 0, 0, 0}})
			field := sectionAddr + uint64(len(s.buf)) + 8
			s.fdeRaw(c, ops(make([]byte, (8-field%8)%8), le64(0x6000), le64(0x10), uleb(0), body)...)
		}, begin: 0x6000},
		{name: "signed absptr", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peSigned}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le64(0x7000), le64(0x10), uleb(0), body)...)
		}, begin: 0x7000},
		{name: "absptr on a 32-bit target", arch: X86, build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peAbsptr}, codeAlign: 1, dataAlign: -4, ra: 8})
			s.fdeRaw(c, ops(le32(0x7100), le32(0x10), uleb(0), body)...)
		}, begin: 0x7100},
		{name: "old GCC eh augmentation", build: func(s *synth) {
			at := len(s.buf)
			done := s.entry()
			s.u32(0)
			s.u8(1)
			s.u8('e', 'h', 0)
			s.u64(0xdeadbeef) // exception data pointer
			s.uleb(1)
			s.sleb(-8)
			s.u8(16)
			s.u8(defCFA(7, 8)...)
			done()
			s.fdeRaw(at, ops(le64(0x7200), le64(0x10), body)...)
		}, begin: 0x7200},
		{name: "unknown letter after z is skipped", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zRSBX", augData: []byte{peUdata4, 0xaa, 0xbb}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7300), le32(0x10), uleb(0), body)...)
		}, begin: 0x7300, check: func(t *testing.T, r *Row) {
			if !r.SignalFrame {
				t.Error("augmentation S not seen")
			}
		}},
		{name: "personality and LSDA", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zPLR", augData: ops([]byte{peIndirect | pePCRel | peSdata4}, le32(0x1234), []byte{peAbsptr, peUdata4}), codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7400), le32(0x10), uleb(8), le64(0x9999), body)...)
		}, begin: 0x7400},
		{name: "indirect address", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peIndirect | peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7500), le32(0x10), uleb(0), body)...)
		}},
		{name: "funcrel address", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peFuncRel | peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7600), le32(0x10), uleb(0), body)...)
		}},
		{name: "omitted address encoding", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peOmit}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7700), le32(0x10), uleb(0), body)...)
		}},
		{name: "unknown pointer format", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "zR", augData: []byte{0x05}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7800), le32(0x10), uleb(0), body)...)
		}},
		{name: "unknown augmentation without z", build: func(s *synth) {
			c := s.cie(cieSpec{aug: "xyz", codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le64(0x7900), le64(0x10), body)...)
		}},
		{name: "CIE version 2", build: func(s *synth) {
			c := s.cie(cieSpec{version: 2, aug: "zR", augData: []byte{peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16})
			s.fdeRaw(c, ops(le32(0x7a00), le32(0x10), uleb(0), body)...)
		}},
		{name: "FDE pointing at an FDE", build: func(s *synth) {
			c := s.cie(amd64CIE)
			f := s.fde(c, 0x7b00, 0x10, body)
			s.fdeRaw(f, ops(le32(0x7c00), le32(0x10), uleb(0), body)...)
		}, begin: 0x7b00},
		{name: "empty range", build: func(s *synth) {
			c := s.cie(amd64CIE)
			s.fde(c, 0x7d00, 0, body)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynth(EHFrame)
			tc.build(s)
			arch := tc.arch
			if arch == 0 {
				arch = AMD64
			}
			tb, err := Parse(s.buf, EHFrame, Options{Arch: arch, SectionAddr: sectionAddr, TextAddr: textAddr, DataAddr: dataAddr})
			if err != nil {
				t.Fatal(err)
			}
			if tc.begin == 0 {
				if n := tb.Len(); n != 0 {
					t.Fatalf("Len = %d, want the FDE left out", n)
				}
				return
			}
			if n := tb.Len(); n != 1 {
				t.Fatalf("Len = %d, want 1 (skipped %d)", n, tb.skipped)
			}
			if tb.Covers(tc.begin-1) || !tb.Covers(tc.begin) || !tb.Covers(tc.begin+15) || tb.Covers(tc.begin+16) {
				t.Fatalf("FDE does not cover exactly %#x..%#x: %+v", tc.begin, tc.begin+16, tb.fdes)
			}
			r, err := tb.Find(tc.begin + 4)
			if err != nil {
				t.Fatal(err)
			}
			if r.CFA.Offset != 16 || r.Start != tc.begin || r.End != tc.begin+16 {
				t.Errorf("row %v over %#x..%#x", r, r.Start, r.End)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestDebugFrameLayouts covers .debug_frame CIE version 4 with its own
// address and segment selector sizes, and big-endian input.
func TestDebugFrameLayouts(t *testing.T) {
	t.Run("version 4, 4-byte addresses and a segment selector", func(t *testing.T) {
		s := newSynth(DebugFrame)
		at := len(s.buf)
		done := s.entry()
		s.u32(0xffffffff)
		s.u8(4, 0, 4, 2) // version, "", address size 4, segment selector size 2
		s.uleb(1)
		s.sleb(-8)
		s.uleb(16)
		s.u8(defCFA(7, 8)...)
		done()
		done = s.entry()
		s.u32(uint32(at))
		s.u16(0x55) // segment selector
		s.u32(0x8000)
		s.u32(0x20)
		s.u8(advance(4)...)
		s.u8(defCFAOffset(24)...)
		done()
		tb, err := Parse(s.buf, DebugFrame, Options{Arch: AMD64})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tb.Find(0x8010)
		if err != nil {
			t.Fatal(err)
		}
		if r.CFA.Offset != 24 || r.Start != 0x8004 || r.End != 0x8020 {
			t.Errorf("row %v over %#x..%#x", r, r.Start, r.End)
		}
	})
	t.Run("big-endian", func(t *testing.T) {
		s := newSynth(DebugFrame)
		s.bo = binary.BigEndian
		s.addr4 = true
		c := s.cie(cieSpec{codeAlign: 2, dataAlign: -4, ra: 14, instr: defCFA(13, 0)})
		s.fde(c, 0x12340, 0x40, ops(advance(2), defCFAOffset(8), offset(14, 1)))
		tb, err := Parse(s.buf, DebugFrame, Options{Arch: ARM, ByteOrder: binary.BigEndian})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tb.Find(0x12344)
		if err != nil {
			t.Fatal(err)
		}
		if rule, ok := r.Rule(14); r.CFA.Offset != 8 || !ok || rule.Kind != RuleOffset || rule.Offset != -4 {
			t.Errorf("row %v", r)
		}
	})
}

// hdrFor builds an .eh_frame_hdr for FDEs at the given section offsets
// with begin addresses, with table encoding datarel sdata4.
func hdrFor(hdrAddr, ehAddr uint64, entries [][2]uint64) []byte {
	s := newSynth(EHFrame)
	s.u8(1, pePCRel|peSdata4, peUdata4, peDataRel|peSdata4)
	s.u32(uint32(ehAddr - (hdrAddr + 4)))
	s.u32(uint32(len(entries)))
	for _, e := range entries {
		s.u32(uint32(e[0] - hdrAddr))
		s.u32(uint32(e[1] - hdrAddr))
	}
	return s.buf
}

// TestHdr checks lookups through .eh_frame_hdr: they decode only the FDE
// the table names, and fall back to the full index when the table has no
// (or a wrong) answer.
func TestHdr(t *testing.T) {
	const ehAddr, hdrAddr = 0x2000, 0x1000
	s := newSynth(EHFrame)
	c := s.cie(amd64CIE)
	var fdes [][2]uint64
	for i, begin := range []uint64{0x400000, 0x400100, 0x400200} {
		off := s.fde(c, begin, 0x80, ops(advance(byte(i+1)), defCFAOffset(uint64(16*(i+1)))))
		fdes = append(fdes, [2]uint64{begin, ehAddr + uint64(off)})
	}
	eh := s.buf
	find := func(t *testing.T, tb *Table) {
		t.Helper()
		for i, f := range fdes {
			r, err := tb.Find(f[0] + 0x10)
			if err != nil {
				t.Fatal(err)
			}
			if r.CFA.Offset != int64(16*(i+1)) || r.Start != f[0]+uint64(i+1) {
				t.Errorf("FDE %d: row %v at %#x", i, r, r.Start)
			}
		}
		for _, a := range []uint64{0x3fffff, 0x400080, 0x400280} {
			if _, err := tb.Find(a); !errors.Is(err, ErrNoFDE) {
				t.Errorf("Find(%#x) = %v, want ErrNoFDE", a, err)
			}
		}
	}
	t.Run("lookups use the table", func(t *testing.T) {
		h, err := ParseHdr(hdrFor(hdrAddr, ehAddr, fdes), Options{Arch: AMD64, SectionAddr: hdrAddr})
		if err != nil {
			t.Fatal(err)
		}
		if h.Len() != 3 || h.EHFrameAddr() != ehAddr {
			t.Fatalf("Len %d, EHFrameAddr %#x", h.Len(), h.EHFrameAddr())
		}
		tb, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: ehAddr, Hdr: h})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fdes {
			if r, err := tb.Find(f[0] + 0x10); err != nil || r.CFA.Offset != int64(16*(i+1)) {
				t.Fatalf("Find: %v, %v", r, err)
			}
		}
		if tb.fdes != nil {
			t.Error("hits through the table built the index")
		}
		find(t, tb)
	})
	t.Run("wrong table entries fall back to the index", func(t *testing.T) {
		bad := [][2]uint64{{0x400000, ehAddr + 1}, {0x400100, ehAddr}, {0x400200, ehAddr + 0x1000}}
		h, err := ParseHdr(hdrFor(hdrAddr, ehAddr, bad), Options{Arch: AMD64, SectionAddr: hdrAddr})
		if err != nil {
			t.Fatal(err)
		}
		tb, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: ehAddr, Hdr: h})
		if err != nil {
			t.Fatal(err)
		}
		find(t, tb)
	})
	t.Run("LEB128 table is not searchable", func(t *testing.T) {
		hd := hdrFor(hdrAddr, ehAddr, nil)
		hd[3] = peULEB128
		h, err := ParseHdr(hd, Options{Arch: AMD64, SectionAddr: hdrAddr})
		if err != nil || h.Len() != 0 {
			t.Fatalf("ParseHdr: %v, Len %d", err, h.Len())
		}
		tb, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: ehAddr, Hdr: h})
		if err != nil {
			t.Fatal(err)
		}
		find(t, tb)
	})
	for _, tc := range []struct {
		name string
		hdr  func() []byte
		err  string
	}{
		{"version 2", func() []byte { h := hdrFor(hdrAddr, ehAddr, fdes); h[0] = 2; return h }, "unsupported version 2"},
		{"truncated header", func() []byte { return []byte{1, 0x1b} }, "header: unexpected end"},
		{"count beyond the data", func() []byte { h := hdrFor(hdrAddr, ehAddr, fdes); return h[:len(h)-1] }, "fde_count 3 needs 24 bytes, 23 left"},
		{"indirect eh_frame pointer", func() []byte { h := hdrFor(hdrAddr, ehAddr, fdes); h[1] |= peIndirect; return h }, "eh_frame_ptr: DW_EH_PE_indirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHdr(tc.hdr(), Options{Arch: AMD64, SectionAddr: hdrAddr})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseHdr: %v, want %q", err, tc.err)
			}
		})
	}
	t.Run("header of another section", func(t *testing.T) {
		h, err := ParseHdr(hdrFor(hdrAddr, ehAddr, fdes), Options{Arch: AMD64, SectionAddr: hdrAddr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: ehAddr + 8, Hdr: h}); err == nil || !strings.Contains(err.Error(), "describes .eh_frame at 0x2000, not the section at 0x2008") {
			t.Errorf("Parse: %v", err)
		}
		if _, err := Parse(eh, DebugFrame, Options{Arch: AMD64, SectionAddr: ehAddr, Hdr: h}); err == nil {
			t.Error("Parse accepted an .eh_frame_hdr for .debug_frame")
		}
	})
}

// TestMalformed checks that broken tables yield errors naming the
// problem: framing errors from Parse, instruction errors from Find.
func TestMalformed(t *testing.T) {
	fde := func(instr []byte) []byte {
		s := newSynth(EHFrame)
		c := s.cie(amd64CIE)
		s.fde(c, 0x1000, 0x100, instr)
		return s.buf
	}
	nested := []byte{}
	for range maxStateDepth + 1 {
		nested = append(nested, cfaRememberState)
	}
	tests := []struct {
		name     string
		kind     Kind
		data     []byte
		parseErr string
		findErr  string
	}{
		{name: "length beyond the section", data: []byte{0x40, 0, 0, 0, 0, 0, 0, 0},
			parseErr: ".eh_frame: entry at 0x0: length 0x40 outside section of 0x8 bytes"},
		{name: "reserved length", data: []byte{0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0},
			parseErr: "reserved length value 0xfffffff0"},
		{name: "truncated length", data: []byte{0x10, 0},
			parseErr: "entry at 0x0: length field: unexpected end of data"},
		{name: "truncated 64-bit length", data: []byte{0xff, 0xff, 0xff, 0xff, 1, 0},
			parseErr: "64-bit length field: unexpected end of data"},
		{name: "too short for the id", data: []byte{2, 0, 0, 0, 0, 0},
			parseErr: "length 2 too short for its id field"},
		{name: "CIE pointer before the section", data: []byte{8, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0},
			parseErr: "FDE at 0x0: CIE pointer 0x10 points before the section"},
		{name: "CIE offset outside .debug_frame", kind: DebugFrame, data: []byte{8, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0},
			parseErr: "FDE at 0x0: CIE offset 0x10 outside section of 0xc bytes"},
		{name: "zero length in .debug_frame", kind: DebugFrame, data: []byte{0, 0, 0, 0},
			parseErr: ".debug_frame: entry at 0x0 has length 0"},
		{name: "remember_state nesting", data: fde(nested), findErr: "nests deeper than 64"},
		{name: "restore_state without remember_state", data: fde([]byte{cfaRestoreState}), findErr: "DW_CFA_restore_state at 0x29 without DW_CFA_remember_state"},
		{name: "unknown instruction", data: fde([]byte{0x3f}), findErr: "unknown instruction 0x3f at 0x29"},
		{name: "register out of range", data: fde(ops([]byte{cfaOffsetExtended}, uleb(5000), uleb(1))), findErr: "register number out of range: 5000"},
		{name: "truncated operand", data: fde([]byte{cfaAdvanceLoc4, 1}), findErr: "instruction 0x4 at 0x29: unexpected end of data"},
		{name: "GNU_window_save on x86_64", data: fde([]byte{cfaAArch64NegateRAState}), findErr: "DW_CFA_GNU_window_save is not defined for amd64"},
		{name: "def_cfa_offset after a CFA expression", data: fde(ops([]byte{cfaDefCFAExpression, 1, opLit0}, defCFAOffset(8))), findErr: "DW_CFA_def_cfa_offset with a CFA expression"},
		{name: "set_loc backwards", data: fde(ops([]byte{cfaSetLoc}, le32(0x800))), findErr: "DW_CFA_set_loc moves back from 0x1000 to 0x800"},
		{name: "advance overflows", data: fde(ops([]byte{cfaMIPSAdvanceLoc8}, le64(^uint64(0)))), findErr: "overflows"},
		{name: "location change in the CIE", data: func() []byte {
			s := newSynth(EHFrame)
			c := s.cie(cieSpec{aug: "zR", augData: []byte{peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16, instr: advance(1)})
			s.fde(c, 0x1000, 0x100, nil)
			return s.buf
		}(), findErr: "CIE at 0x0: instruction 0x41 at 0x11: location change in CIE initial instructions"},
		{name: "too many instructions", data: fde(make([]byte, maxWork+10)), findErr: "too many instructions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == 0 {
				kind = EHFrame
			}
			tb, err := Parse(tc.data, kind, Options{Arch: AMD64})
			if tc.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("Parse: %v, want %q", err, tc.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = tb.Find(0x10ff)
			if err == nil || !strings.Contains(err.Error(), tc.findErr) {
				t.Fatalf("Find: %v, want %q", err, tc.findErr)
			}
		})
	}
}

// TestDamage parses every prefix of a table and many copies with random
// bytes changed: none may panic, and whatever parses must answer Find and
// Unwind.
func TestDamage(t *testing.T) {
	s := newSynth(EHFrame)
	c := s.cie(amd64CIE)
	s.fde(c, 0x1000, 0x40, ops(advance(1), defCFAOffset(16), offset(6, 2), []byte{cfaRememberState}, advance(2),
		block(cfaExpression, 3, opBreg0+7, 8, opDeref), block(cfaValExpression, 12, opLit0+3, opBra, 0xfd, 0xff),
		[]byte{cfaRestoreState}, advance(3), []byte{cfaDefCFAExpression, 3, opBreg0 + 7, 0, opDeref}))
	s.fde(c, 0x2000, 0x40, ops(advance(1), defCFA(6, 16), []byte{cfaRegister, 3, 0, cfaUndefined, 16}))
	good := s.buf
	try := func(data []byte) {
		tb, err := Parse(data, EHFrame, Options{Arch: AMD64})
		if err != nil {
			return
		}
		tb.Len()
		for _, a := range []uint64{0x1000, 0x1001, 0x1003, 0x1010, 0x2000, 0x2005} {
			if r, err := tb.Find(a); err == nil {
				_ = r.String()
				r.Unwind(func(string) (uint64, bool) { return 0x7000, true }, fuzzMemory{})
			}
		}
	}
	for n := range len(good) + 1 {
		try(good[:n])
	}
	rng := rand.New(rand.NewSource(1))
	for range 20000 {
		d := append([]byte(nil), good...)
		for range 1 + rng.Intn(4) {
			d[rng.Intn(len(d))] = byte(rng.Intn(256))
		}
		try(d)
	}
}

// fuzzMemory answers every read with a value derived from the address.
type fuzzMemory struct{}

func (fuzzMemory) Read(addr uint64, size int) (uint64, bool) {
	return addr*0x9e3779b97f4a7c15 + uint64(size), addr%7 != 3
}
