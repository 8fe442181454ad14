package dwarfcfi

import (
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/seeds from the generated corpus")

// fuzzOptions decodes the first byte of a fuzz input: bit 0 chooses
// .debug_frame, bits 1-2 the architecture, bit 3 big-endian.
func fuzzOptions(b byte) (Kind, Options) {
	kind := EHFrame
	if b&1 != 0 {
		kind = DebugFrame
	}
	opts := Options{Arch: Arch(1 + (b>>1)&3), SectionAddr: 0x10000, TextAddr: 0x20000, DataAddr: 0x30000}
	if b&8 != 0 {
		opts.ByteOrder = binary.BigEndian
	}
	return kind, opts
}

func fuzzFlags(kind Kind, a Arch) byte {
	b := byte(a-1) << 1
	if kind == DebugFrame {
		b |= 1
	}
	return b
}

// fuzzSeeds are small tables with every kind of instruction.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	s := newSynth(EHFrame)
	c := s.cie(amd64CIE)
	s.fde(c, 0x1000, 0x40, ops(advance(1), defCFAOffset(16), offset(6, 2), []byte{cfaRememberState}, advance(2),
		block(cfaExpression, 3, opBreg0+7, 8, opDeref), block(cfaValExpression, 12, opLit0+3, opLit0+1, opMinus, opDup, opBra, 0xfa, 0xff),
		[]byte{cfaRestoreState, cfaGNUArgsSize, 8}, advance(3), []byte{cfaDefCFAExpression, 3, opBreg0 + 7, 0, opDeref}))
	s.fde(c, 0x2000, 0x40, ops(advance(1), defCFA(6, 16), []byte{cfaRegister, 3, 0, cfaUndefined, 16, cfaSameValue, 13},
		[]byte{cfaValOffset, 14, 2, cfaRestore | 6, cfaAdvanceLoc2, 4, 0, cfaSetLoc}, le32(0x2030), []byte{cfaDefCFASF, 7, 0x7e}))
	seeds = append(seeds, append([]byte{fuzzFlags(EHFrame, AMD64)}, s.buf...))

	s = newSynth(EHFrame)
	c = s.cie(cieSpec{aug: "zRB", augData: []byte{peUdata4}, codeAlign: 4, dataAlign: -8, ra: 30, instr: defCFA(31, 0)})
	s.fde(c, 0x3000, 0x40, ops(advance(1), []byte{cfaAArch64NegateRAState}, advance(1), defCFAOffset(32), offset(29, 4), offset(30, 3),
		offset(72, 2), advance(2), []byte{cfaAArch64NegateRAState}))
	seeds = append(seeds, append([]byte{fuzzFlags(EHFrame, ARM64)}, s.buf...))

	s = newSynth(DebugFrame)
	s.addr4 = true
	c = s.cie(cieSpec{codeAlign: 2, dataAlign: -4, ra: 14, instr: defCFA(13, 0)})
	s.fde(c, 0x4000, 0x20, ops(advance(2), defCFAOffset(8), offset(14, 1), offset(11, 2)))
	seeds = append(seeds, append([]byte{fuzzFlags(DebugFrame, ARM)}, s.buf...))
	return seeds
}

// FuzzParse parses a section, looks up addresses in and around its FDEs
// and unwinds the rows found. Rows must contain the address they were
// found for, and an unwind that succeeds must give the CFA.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "seeds", "*.bin"))
	for _, p := range files {
		if d, err := os.ReadFile(p); err == nil {
			f.Add(d)
		}
	}
	get := func(name string) (uint64, bool) { return uint64(len(name)) * 0x1111, name != "r15" }
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		kind, opts := fuzzOptions(data[0])
		tb, err := Parse(data[1:], kind, opts)
		if err != nil {
			return
		}
		tb.Len()
		addrs := []uint64{0, 0x1000, 0x10000, ^uint64(0)}
		for i, f := range tb.fdes {
			if i == 8 {
				break
			}
			addrs = append(addrs, f.begin, f.begin+1, f.begin+(f.end-f.begin)/2, f.end-1, f.end)
		}
		for _, a := range addrs {
			tb.Covers(a)
			r, err := tb.Find(a)
			if err != nil {
				continue
			}
			if a < r.Start || a >= r.End {
				t.Fatalf("Find(%#x) returned the row over %#x..%#x", a, r.Start, r.End)
			}
			_ = r.String()
			out, err := r.Unwind(get, fuzzMemory{})
			if err != nil {
				continue
			}
			if _, ok := out[".cfa"]; !ok {
				t.Fatalf("Unwind at %#x succeeded without a CFA: %v", a, out)
			}
		}
	})
}

// FuzzParseHdr parses an .eh_frame_hdr and uses it for a fixed .eh_frame:
// whatever the header says, lookups must give the answers the section
// alone gives.
func FuzzParseHdr(f *testing.F) {
	s := newSynth(EHFrame)
	c := s.cie(amd64CIE)
	var entries [][2]uint64
	for i, begin := range []uint64{0x400000, 0x400100, 0x400200} {
		off := s.fde(c, begin, 0x80, ops(advance(byte(i+1)), defCFAOffset(uint64(16*(i+1)))))
		entries = append(entries, [2]uint64{begin, 0x2000 + uint64(off)})
	}
	eh := s.buf
	plain, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: 0x2000})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hdrFor(0x1000, 0x2000, entries))
	f.Add(hdrFor(0x1000, 0x2000, [][2]uint64{{0x400000, 0x2001}, {0x400100, 0x2000}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHdr(data, Options{Arch: AMD64, SectionAddr: 0x1000})
		if err != nil {
			return
		}
		h.Len()
		tb, err := Parse(eh, EHFrame, Options{Arch: AMD64, SectionAddr: h.EHFrameAddr(), Hdr: h})
		if err != nil {
			return
		}
		if h.EHFrameAddr() != 0x2000 {
			return // the FDEs' pc-relative addresses would differ
		}
		for _, a := range []uint64{0, 0x3fffff, 0x400000, 0x400001, 0x400090, 0x400150, 0x4001ff, 0x40027f, 0x400280} {
			r1, err1 := tb.Find(a)
			r2, err2 := plain.Find(a)
			if (err1 == nil) != (err2 == nil) || (err1 == nil && (r1.String() != r2.String() || r1.Start != r2.Start || r1.End != r2.End)) {
				t.Fatalf("Find(%#x) through the header: %v, %v; without: %v, %v", a, r1, err1, r2, err2)
			}
		}
	})
}

// TestSeeds rewrites testdata/seeds (with -update): the call frame
// sections of a few generated objects, as FuzzParse inputs.
func TestSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the fuzz seeds")
	}
	want := map[string]bool{"gas-x86_64-asm.o": true, "gas-x86_64-encodings.o": true, "gas-i386-asm.o": true,
		"gas-aarch64-asm.o": true, "clang-armv7-asm.o": true, "clang-macho-arm64-asm.o": true}
	dir := filepath.Join("testdata", "seeds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range corpus(t) {
		if !want[s.name] {
			continue
		}
		for _, sec := range loadSections(t, s.path) {
			b := fuzzFlags(sec.kind, sec.opts.Arch)
			name := strings.TrimSuffix(s.name, ".o") + strings.ReplaceAll(sec.name, ".", "-") + ".bin"
			if err := os.WriteFile(filepath.Join(dir, name), append([]byte{b}, sec.data...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
