package dwarfcfi

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"maps"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// memory is test memory: 8-byte little-endian words by address, plus
// whatever bytes were set individually.
type memory map[uint64]byte

func (m memory) put(addr, v uint64) {
	for i := range uint64(8) {
		m[addr+i] = byte(v >> (8 * i))
	}
}

func (m memory) put32(addr uint64, v uint32) {
	for i := range uint64(4) {
		m[addr+i] = byte(v >> (8 * i))
	}
}

func (m memory) Read(addr uint64, size int) (uint64, bool) {
	if size != 4 && size != 8 {
		return 0, false
	}
	var v uint64
	for i := range size {
		b, ok := m[addr+uint64(i)]
		if !ok {
			return 0, false
		}
		v |= uint64(b) << (8 * i)
	}
	return v, true
}

func getter(regs map[string]uint64) func(string) (uint64, bool) {
	return func(name string) (uint64, bool) {
		v, ok := regs[name]
		return v, ok
	}
}

// TestUnwindRules runs small tables through Find and Unwind: each rule
// kind, with registers and memory chosen so that every expected value is
// distinct.
func TestUnwindRules(t *testing.T) {
	regs := map[string]uint64{"rsp": 0x1000, "rbp": 0x2000, "rbx": 0x3000, "rax": 0x4000, "r12": 0x5000, "r13": 0x6000, "r14": 0x7000, "r15": 0x8000, "rip": 0x400010}
	mem := memory{}
	for a := uint64(0xf00); a < 0x1200; a += 8 {
		mem.put(a, 0xa0000000+a) // every word holds its address, tagged
	}
	m := func(a uint64) uint64 { return 0xa0000000 + a }
	tests := []struct {
		name  string
		cie   cieSpec
		instr []byte
		regs  map[string]uint64
		want  map[string]uint64
		err   string
	}{
		{name: "offset", cie: amd64CIE,
			instr: ops(defCFAOffset(16), offset(6, 2)),
			want:  map[string]uint64{".cfa": 0x1010, ".ra": m(0x1008), "rbp": m(0x1000)}},
		{name: "val_offset", cie: amd64CIE,
			instr: ops(defCFAOffset(16), []byte{cfaValOffset}, uleb(3), uleb(3)),
			want:  map[string]uint64{".cfa": 0x1010, ".ra": m(0x1008), "rbx": 0x1010 - 24}},
		{name: "val_offset_sf", cie: amd64CIE,
			instr: ops([]byte{cfaValOffsetSF}, uleb(3), sleb(-2)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "rbx": 0x1008 + 16}},
		{name: "register", cie: amd64CIE,
			instr: ops([]byte{cfaRegister}, uleb(12), uleb(0)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "r12": 0x4000}},
		{name: "same_value", cie: amd64CIE,
			instr: ops([]byte{cfaSameValue}, uleb(13)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "r13": 0x6000}},
		{name: "undefined", cie: amd64CIE,
			instr: ops([]byte{cfaUndefined}, uleb(14)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000)}},
		{name: "expression with the CFA pushed", cie: amd64CIE,
			// rbx is saved at the address CFA-16.
			instr: block(cfaExpression, 3, opLit0+16, opMinus),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "rbx": m(0x1008 - 16)}},
		{name: "val_expression with the CFA pushed", cie: amd64CIE,
			instr: block(cfaValExpression, 3, opPlusUconst, 100),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "rbx": 0x1008 + 100}},
		{name: "def_cfa_expression", cie: amd64CIE,
			// CFA = [rsp+0x100] (a word holding 0xa0001100), rip saved at
			// rsp+0x108 through an expression.
			instr: ops([]byte{cfaDefCFAExpression, 4, opBreg0 + 7, 0x80, 0x02, opDeref},
				block(cfaExpression, 16, opBreg0+7, 0x88, 0x02)),
			want: map[string]uint64{".cfa": m(0x1100), ".ra": m(0x1108)}},
		{name: "return address undefined: outermost frame", cie: amd64CIE,
			instr: ops([]byte{cfaUndefined}, uleb(16)),
			want:  map[string]uint64{".cfa": 0x1008}},
		{name: "GNU_negative_offset_extended", cie: amd64CIE,
			// -(-1)*-8: rbx at CFA+8... with data alignment -8, offset 1 means +8.
			instr: ops(defCFAOffset(0x18), []byte{cfaGNUNegativeOffsetExtnd}, uleb(3), uleb(1)),
			want:  map[string]uint64{".cfa": 0x1018, ".ra": m(0x1010), "rbx": m(0x1020)}},
		{name: "GNU_args_size changes nothing", cie: amd64CIE,
			instr: ops([]byte{cfaGNUArgsSize}, uleb(32)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000)}},
		{name: "restore_state restores the CFA", cie: amd64CIE,
			instr: ops(defCFAOffset(32), offset(3, 2), []byte{cfaRememberState}, defCFAOffset(8),
				[]byte{cfaRestore | 3}, advance(1), []byte{cfaRestoreState}),
			want: map[string]uint64{".cfa": 0x1020, ".ra": m(0x1018), "rbx": m(0x1010)}},
		{name: "restore returns to the CIE's rule", cie: cieSpec{aug: "zR", augData: []byte{peUdata4}, codeAlign: 1, dataAlign: -8, ra: 16,
			instr: ops(defCFA(7, 8), offset(16, 1), offset(6, 2))},
			instr: ops(offset(6, 3), []byte{cfaRestore | 6}),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000), "rbp": m(0x1008 - 16)}},
		{name: "CFA register unavailable", cie: amd64CIE, regs: map[string]uint64{"rbp": 1},
			err: "CFA: register rsp unavailable"},
		{name: "return address unreadable", cie: amd64CIE,
			instr: defCFAOffset(0x800),
			err:   "return address (rip): memory at 0x17f8 unavailable"},
		{name: "other register unreadable: left out", cie: amd64CIE,
			instr: ops(offset(3, 0x100)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000)}},
		{name: "register without a canonical name: left out", cie: amd64CIE,
			instr: ops(offset(17, 2)),
			want:  map[string]uint64{".cfa": 0x1008, ".ra": m(0x1000)}},
		{name: "bad CFA expression", cie: amd64CIE,
			instr: []byte{cfaDefCFAExpression, 1, opDrop},
			err:   "CFA expression: operation 0x13 at 0: stack underflow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynth(EHFrame)
			c := s.cie(tc.cie)
			s.fde(c, 0x400000, 0x100, tc.instr)
			tb, err := Parse(s.buf, EHFrame, Options{Arch: AMD64})
			if err != nil {
				t.Fatal(err)
			}
			row, err := tb.Find(0x400010)
			if err != nil {
				t.Fatal(err)
			}
			r := regs
			if tc.regs != nil {
				r = tc.regs
			}
			got, err := row.Unwind(getter(r), mem)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Unwind error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unwind: %v (row %v)", err, row)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("Unwind = %#x, want %#x (row %v)", got, tc.want, row)
			}
		})
	}
}

// TestUnwindArchitectures checks register naming and address size per
// architecture.
func TestUnwindArchitectures(t *testing.T) {
	t.Run("arm64 leaf: return address in lr", func(t *testing.T) {
		s := newSynth(EHFrame)
		c := s.cie(cieSpec{aug: "zR", augData: []byte{peUdata4}, codeAlign: 4, dataAlign: -8, ra: 30, instr: defCFA(31, 0)})
		// x29 and x30 saved; d8 (72) too, which has no canonical name.
		s.fde(c, 0x1000, 0x40, ops(advance(1), defCFAOffset(32), offset(29, 4), offset(30, 3), offset(72, 2), offset(19, 1)))
		tb, err := Parse(s.buf, EHFrame, Options{Arch: ARM64})
		if err != nil {
			t.Fatal(err)
		}
		regs := map[string]uint64{"sp": 0x8000, "lr": 0x1234, "fp": 0x9000}
		mem := memory{}
		for a := uint64(0x8000); a < 0x8020; a += 8 {
			mem.put(a, 0xb0000000+a)
		}
		leaf, err := tb.Find(0x1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := leaf.Unwind(getter(regs), mem)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]uint64{".cfa": 0x8000, ".ra": 0x1234}; !maps.Equal(got, want) {
			t.Errorf("leaf: %#x, want %#x", got, want)
		}
		body, err := tb.Find(0x1004)
		if err != nil {
			t.Fatal(err)
		}
		got, err = body.Unwind(getter(regs), mem)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]uint64{".cfa": 0x8020, ".ra": 0xb0008008, "fp": 0xb0008000, "x19": 0xb0008018}; !maps.Equal(got, want) {
			t.Errorf("body: %#x, want %#x", got, want)
		}
	})
	t.Run("x86 wraps at 32 bits", func(t *testing.T) {
		s := newSynth(EHFrame)
		c := s.cie(cieSpec{aug: "zR", augData: []byte{peUdata4}, codeAlign: 1, dataAlign: -4, ra: 8, instr: ops(defCFA(4, 4), offset(8, 1))})
		s.fde(c, 0x1000, 0x10, ops(defCFAOffset(8), offset(5, 2)))
		tb, err := Parse(s.buf, EHFrame, Options{Arch: X86})
		if err != nil {
			t.Fatal(err)
		}
		mem := memory{}
		mem.put32(0, 0x11111111)
		mem.put32(0xfffffffc, 0x22222222)
		row, err := tb.Find(0x1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := row.Unwind(getter(map[string]uint64{"esp": 0xfffffffc}), mem)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]uint64{".cfa": 4, ".ra": 0x11111111, "ebp": 0x22222222}; !maps.Equal(got, want) {
			t.Errorf("got %#x, want %#x", got, want)
		}
	})
	t.Run("arm names fp and lr", func(t *testing.T) {
		s := newSynth(DebugFrame)
		s.addr4 = true
		c := s.cie(cieSpec{codeAlign: 2, dataAlign: -4, ra: 14, instr: defCFA(13, 0)})
		s.fde(c, 0x1000, 0x10, ops(defCFAOffset(8), offset(14, 1), offset(11, 2)))
		tb, err := Parse(s.buf, DebugFrame, Options{Arch: ARM})
		if err != nil {
			t.Fatal(err)
		}
		mem := memory{}
		mem.put32(0x100, 0x3333)
		mem.put32(0x104, 0x4444)
		row, err := tb.Find(0x1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := row.Unwind(getter(map[string]uint64{"sp": 0x100}), mem)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]uint64{".cfa": 0x108, ".ra": 0x4444, "fp": 0x3333}; !maps.Equal(got, want) {
			t.Errorf("got %#x, want %#x", got, want)
		}
	})
}

// TestExpressions evaluates the DWARF operations call frame information
// uses, with the CFA (0x1000) pushed first as for DW_CFA_val_expression.
func TestExpressions(t *testing.T) {
	mem := memory{}
	mem.put(0x2000, 0x1122334455667788)
	regs := map[string]uint64{"rsp": 0x2000, "rbp": 0x10, "rip": 0x400000}
	c8 := func(v uint64) []byte {
		b := make([]byte, 9)
		b[0] = opConst8u
		binary.LittleEndian.PutUint64(b[1:], v)
		return b
	}
	neg1 := c8(^uint64(0))
	tests := []struct {
		name string
		expr []byte
		want uint64
		err  string
	}{
		{"cfa", nil, 0x1000, ""},
		{"lit", []byte{opLit0 + 31}, 31, ""},
		{"const1u", []byte{opConst1u, 0xff}, 0xff, ""},
		{"const1s", []byte{opConst1s, 0xff}, ^uint64(0), ""},
		{"const2u", []byte{opConst2u, 0x34, 0x12}, 0x1234, ""},
		{"const2s", []byte{opConst2s, 0xfe, 0xff}, ^uint64(1), ""},
		{"const4u", []byte{opConst4u, 0x78, 0x56, 0x34, 0x12}, 0x12345678, ""},
		{"const4s", []byte{opConst4s, 0xff, 0xff, 0xff, 0xff}, ^uint64(0), ""},
		{"const8u", c8(0x123456789), 0x123456789, ""},
		{"constu", ops([]byte{opConstu}, uleb(300)), 300, ""},
		{"consts", ops([]byte{opConsts}, sleb(-300)), uint64(1<<64 - 300), ""},
		{"addr", []byte{opAddr, 1, 0, 0, 0, 0, 0, 0, 0}, 1, ""},
		{"breg", ops([]byte{opBreg0 + 6}, sleb(-4)), 0xc, ""},
		{"bregx", ops([]byte{opBregx}, uleb(7), sleb(8)), 0x2008, ""},
		{"breg unavailable", []byte{opBreg0 + 3, 0}, 0, "register rbx unavailable"},
		{"dup", []byte{opDup, opPlus}, 0x2000, ""},
		{"drop", []byte{opLit0 + 1, opDrop}, 0x1000, ""},
		{"over", []byte{opLit0 + 1, opOver}, 0x1000, ""},
		{"pick", []byte{opLit0 + 1, opLit0 + 2, opPick, 2}, 0x1000, ""},
		{"pick too deep", []byte{opPick, 1}, 0, "stack underflow"},
		{"swap", []byte{opLit0 + 1, opSwap}, 0x1000, ""},
		{"rot", []byte{opLit0 + 1, opLit0 + 2, opRot, opDrop, opDrop}, 0x2, ""},
		{"deref", []byte{opBreg0 + 7, 0, opDeref}, 0x1122334455667788, ""},
		{"deref_size 1", []byte{opBreg0 + 7, 0, opDerefSize, 1}, 0x88, ""},
		{"deref_size 2", []byte{opBreg0 + 7, 0, opDerefSize, 2}, 0x7788, ""},
		{"deref_size 4", []byte{opBreg0 + 7, 0, opDerefSize, 4}, 0x55667788, ""},
		{"deref_size 6", []byte{opBreg0 + 7, 0, opDerefSize, 6}, 0x334455667788, ""},
		{"deref_size 9", []byte{opBreg0 + 7, 0, opDerefSize, 9}, 0, "DW_OP_deref_size 9"},
		{"deref unreadable", []byte{opDeref}, 0, "memory at 0x1000 unavailable"},
		{"abs", ops(neg1, []byte{opAbs}), 1, ""},
		{"neg", []byte{opNeg}, uint64(1<<64 - 0x1000), ""},
		{"not", []byte{opNot}, ^uint64(0x1000), ""},
		{"and", []byte{opConst2u, 0xff, 0x10, opAnd}, 0x1000, ""},
		{"or", []byte{opLit0 + 1, opOr}, 0x1001, ""},
		{"xor", []byte{opDup, opXor}, 0, ""},
		{"plus", []byte{opLit0 + 5, opPlus}, 0x1005, ""},
		{"plus_uconst", ops([]byte{opPlusUconst}, uleb(0x234)), 0x1234, ""},
		{"minus", []byte{opLit0 + 5, opMinus}, 0xffb, ""},
		{"mul", []byte{opLit0 + 3, opMul}, 0x3000, ""},
		{"div is signed", ops(neg1, []byte{opLit0 + 7, opMul, opLit0 + 2, opDiv}), ^uint64(2), ""},
		{"div by zero", []byte{opLit0, opDiv}, 0, "division by zero"},
		{"mod", []byte{opLit0 + 7, opMod}, 0x1000 % 7, ""},
		{"mod by zero", []byte{opLit0, opMod}, 0, "modulo by zero"},
		{"shl", []byte{opLit0 + 4, opShl}, 0x10000, ""},
		{"shr", []byte{opLit0 + 4, opShr}, 0x100, ""},
		{"shr of negative is logical", ops(neg1, []byte{opConst1u, 60, opShr}), 0xf, ""},
		{"shra of negative keeps the sign", ops(neg1, []byte{opLit0 + 4, opShra}), ^uint64(0), ""},
		{"shl by 64", []byte{opConst1u, 64, opShl}, 0, ""},
		{"eq", []byte{opDup, opEq}, 1, ""},
		{"ne", []byte{opDup, opNe}, 0, ""},
		{"lt is signed", ops(neg1, []byte{opLit0, opLt}), 1, ""},
		{"gt", ops([]byte{opLit0 + 1}, neg1, []byte{opGt}), 1, ""},
		{"ge", []byte{opDup, opGe}, 1, ""},
		{"le", []byte{opLit0 + 1, opLe}, 0, ""},
		{"skip", []byte{opSkip, 1, 0, opDrop, opLit0 + 9}, 9, ""},
		{"bra taken", []byte{opLit0 + 1, opBra, 1, 0, opDrop}, 0x1000, ""},
		{"bra not taken", []byte{opLit0, opBra, 1, 0, opDrop, opLit0 + 2}, 2, ""},
		{"nop", []byte{opNop}, 0x1000, ""},
		// A loop counting the CFA down from 3: lit3, (dup, bra +?)…
		{"loop", []byte{opLit0 + 3, opLit0 + 1, opMinus, opDup, opBra, 0xfa, 0xff}, 0, ""},
		{"endless loop hits the step limit", []byte{opSkip, 0xfd, 0xff}, 0, "more than 10000 steps"},
		{"stack growth is bounded", []byte{opDup, opSkip, 0xfc, 0xff}, 0, "stack exceeds 256 values"},
		{"branch outside", []byte{opSkip, 0x10, 0}, 0, "branch to 19 outside expression"},
		{"underflow", []byte{opDrop, opDrop}, 0, "stack underflow"},
		{"empty at the end", []byte{opDrop}, 0, "empty stack"},
		{"register location", []byte{opReg0 + 1}, 0, "DW_OP_reg"},
		{"unknown operation", []byte{0xe0}, 0, "unsupported operation 0xe0"},
		{"truncated operand", []byte{opConst4u, 1}, 0, "unexpected end"},
	}
	row := &Row{arch: AMD64, ptr: 8, bo: binary.LittleEndian}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &evaluator{row: row, get: getter(regs), mem: mem}
			cfa := uint64(0x1000)
			got, err := e.eval(tc.expr, &cfa)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("eval = %#x, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("eval = %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
	t.Run("32-bit values wrap", func(t *testing.T) {
		e := &evaluator{row: &Row{arch: X86, ptr: 4, bo: binary.LittleEndian}, get: getter(nil), mem: mem}
		cfa := uint64(0xfffffff0)
		for _, tc := range []struct {
			expr []byte
			want uint64
		}{
			{[]byte{opLit0 + 0x10, opPlus}, 0},
			{[]byte{opLit0 + 4, opShra}, 0xffffffff},
			{[]byte{opLit0, opLt}, 1},
			{[]byte{opNeg}, 0x10},
			{[]byte{opConst1s, 0xff}, 0xffffffff},
		} {
			if got, err := e.eval(tc.expr, &cfa); err != nil || got != tc.want {
				t.Errorf("eval(%x) = %#x, %v; want %#x", tc.expr, got, err, tc.want)
			}
		}
	})
}

// parseDump reads the "reg NAME VALUE", "ra I VALUE", "mem ADDR VALUE"
// and "KEY VALUE" lines the test programs print.
func parseDump(t *testing.T, out []byte) (regs map[string]uint64, ras []uint64, mem memory, kv map[string]string) {
	t.Helper()
	regs, mem, kv = map[string]uint64{}, memory{}, map[string]string{}
	num := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("bad number %q in program output", s)
		}
		return v
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "reg":
			regs[f[1]] = num(f[2])
		case len(f) == 3 && f[0] == "ra":
			ras = append(ras, num(f[2]))
		case len(f) == 3 && f[0] == "mem":
			mem.put(num(f[1]), num(f[2]))
		case len(f) == 2:
			kv[f[0]] = f[1]
		}
	}
	return
}

// ehFrameTable parses the .eh_frame of an ELF file, with its
// .eh_frame_hdr when there is one.
func ehFrameTable(t *testing.T, path string) *Table {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	arch := AMD64
	if f.Machine == elf.EM_AARCH64 {
		arch = ARM64
	}
	eh := f.Section(".eh_frame")
	if eh == nil {
		t.Fatalf("%s: no .eh_frame", path)
	}
	opts := Options{Arch: arch, SectionAddr: eh.Addr}
	// Static executables have no .eh_frame_hdr.
	if hdr := f.Section(".eh_frame_hdr"); hdr != nil {
		hd, err := hdr.Data()
		if err != nil {
			t.Fatal(err)
		}
		if opts.Hdr, err = ParseHdr(hd, Options{Arch: arch, SectionAddr: hdr.Addr}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := eh.Data()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Parse(data, EHFrame, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestWalk unwinds real stacks: walk.c's innermost function prints the
// registers getcontext saved, the stack above them and the return address
// each function of its call chain received; unwinding from the saved
// registers with the binary's .eh_frame must find each of those return
// addresses in turn. On aarch64 (run under qemu with pointer
// authentication) the return addresses saved on the stack are signed, and
// the rows must say so.
func TestWalk(t *testing.T) {
	tool(t, "qemu-aarch64")
	type variant struct {
		name string
		cmd  []string
		run  []string
		arch Arch
	}
	var vs []variant
	for _, cc := range []string{"gcc", "clang"} {
		for _, fl := range []string{"-O0", "-O2", "-O2 -fomit-frame-pointer", "-Os -fno-omit-frame-pointer"} {
			vs = append(vs, variant{name: cc + " " + fl, arch: AMD64,
				cmd: append(append([]string{cc, "-no-pie"}, strings.Fields(fl)...), "SRC", "-o", "OUT")})
		}
	}
	for _, fl := range []string{"-O0", "-O2", "-Os -fomit-frame-pointer", "-O2 -mbranch-protection=pac-ret", "-O2 -mbranch-protection=pac-ret+leaf+b-key"} {
		vs = append(vs, variant{name: "aarch64-gcc " + fl, arch: ARM64, run: []string{"qemu-aarch64", "-cpu", "max"},
			cmd: append(append([]string{"aarch64-linux-gnu-gcc", "-static"}, strings.Fields(fl)...), "SRC", "-o", "OUT")})
	}
	src, err := filepath.Abs("testdata/src/walk.c")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "walk")
			args := make([]string, len(v.cmd))
			for i, a := range v.cmd {
				args[i] = strings.NewReplacer("SRC", src, "OUT", bin).Replace(a)
			}
			output(t, args[0], args[1:]...)
			run := append(append([]string{}, v.run...), bin)
			cmd := exec.Command(tool(t, run[0]), run[1:]...)
			cmd.Dir = t.TempDir() // qemu may leave core files
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			regs, ras, mem, _ := parseDump(t, out)
			if len(ras) != 6 {
				t.Fatalf("program printed %d return addresses", len(ras))
			}
			tb := ehFrameTable(t, bin)
			pcName, spName := "rip", "rsp"
			if v.arch == ARM64 {
				pcName, spName = "pc", "sp"
			}
			addr := regs[pcName]
			signed := 0
			for i, want := range ras {
				row, err := tb.Find(addr)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				out, err := row.Unwind(getter(regs), mem)
				if err != nil {
					t.Fatalf("frame %d at %#x (%v): %v", i, addr, row, err)
				}
				ra, ok := out[".ra"]
				if !ok {
					t.Fatalf("frame %d at %#x: no return address", i, addr)
				}
				if row.RASigned {
					signed++
					ra &= 1<<48 - 1 // strip the pointer authentication code
				}
				if ra != want {
					t.Fatalf("frame %d at %#x (%v): return address %#x, want %#x", i, addr, row, ra, want)
				}
				next := maps.Clone(regs)
				for k, v := range out {
					next[k] = v
				}
				next[spName] = out[".cfa"]
				next[pcName] = ra
				regs = next
				addr = ra - 1 // inside the call instruction
			}
			if strings.Contains(v.name, "pac-ret") && signed == 0 {
				t.Error("no row said the return address is signed")
			}
			if !strings.Contains(v.name, "pac-ret") && signed != 0 {
				t.Errorf("%d rows said the return address is signed", signed)
			}
		})
	}
}

// TestSignalFrame unwinds through glibc's signal trampoline __restore_rt in
// the system's libc.so.6, whose CFI computes the CFA and every register
// with DWARF expressions over the ucontext the kernel saved: all
// registers of the interrupted code must come back.
func TestSignalFrame(t *testing.T) {
	src, err := filepath.Abs("testdata/src/sigframe.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sigframe")
	output(t, "gcc", "-O0", "-fno-omit-frame-pointer", src, "-o", bin)
	out := output(t, bin)
	regs, _, mem, kv := parseDump(t, out)
	if len(regs) != 17 || kv["module"] == "" {
		t.Fatalf("unexpected program output:\n%s", out)
	}
	num := func(k string) uint64 {
		v, err := strconv.ParseUint(kv[k], 0, 64)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	tb := ehFrameTable(t, kv["module"])
	addr := num("ret") - num("base")
	row, err := tb.Find(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !row.SignalFrame || row.CFA.Expr == nil {
		t.Fatalf("row at %#x of %s is no signal frame with a CFA expression: %v", addr, kv["module"], row)
	}
	got, err := row.Unwind(getter(map[string]uint64{"rsp": num("sp")}), mem)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{".cfa": regs["rsp"], ".ra": regs["rip"]}
	for k, v := range regs {
		if k != "rip" {
			want[k] = v
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("Unwind through __restore_rt:\n got %#x\nwant %#x", got, want)
	}
}

// TestRASignState checks the aarch64 return address signing state row by
// row on hand-written CFI (testdata/src/cfi_aarch64.s), where it follows
// from the instructions: DW_CFA_AARCH64_negate_ra_state after each
// pacibsp/paciasp and autibsp/autiasp, and DW_CFA_restore_state bringing
// back the state remembered before the epilogue.
func TestRASignState(t *testing.T) {
	obj := filepath.Join(t.TempDir(), "cfi.o")
	output(t, "aarch64-linux-gnu-gcc", "-c", filepath.Join("testdata", "src", "cfi_aarch64.s"), "-o", obj)
	secs := loadSections(t, obj)
	if len(secs) != 1 {
		t.Fatalf("%d call frame sections", len(secs))
	}
	tb, err := Parse(secs[0].data, secs[0].kind, secs[0].opts)
	if err != nil {
		t.Fatal(err)
	}
	// signed_b covers 0x0..0x30, signed_a 0x30..0x44.
	signed := func(a uint64) bool {
		return (a >= 0x4 && a < 0x1c) || (a >= 0x20 && a < 0x30) || (a >= 0x34 && a < 0x40)
	}
	for a := uint64(0); a < 0x44; a += 4 {
		r, err := tb.Find(a)
		if err != nil {
			t.Fatalf("Find(%#x): %v", a, err)
		}
		if r.RASigned != signed(a) {
			t.Errorf("Find(%#x).RASigned = %v, want %v", a, r.RASigned, signed(a))
		}
	}
}
