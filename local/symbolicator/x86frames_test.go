package symbolicator

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/breakpad"
	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/unwind"
)

// fdRec is a FrameData record as clang writes one for the body of an FPO
// function: .raSearch over locals and saved registers.
func fdRec(rva, size, locals, saved uint32, prog string) pdb.FrameRecord {
	return pdb.FrameRecord{Type: 4, RVA: rva, Size: size, LocalsSize: locals, SavedRegsSize: saved, ProgramString: prog}
}

const raSearchProg = "$T0 .raSearch = $eip $T0 ^ = $esp $T0 4 + ="

// TestStackWinText checks which frame records become STACK WIN lines and
// that what is written always reads back without a STACK error (one
// malformed line would lose the module's whole unwind information).
func TestStackWinText(t *testing.T) {
	tests := []struct {
		name string
		recs []pdb.FrameRecord
		want []string // STACK WIN lines, in order
	}{
		{"framedata", []pdb.FrameRecord{fdRec(0x1000, 0x20, 8, 4, raSearchProg)},
			[]string{"STACK WIN 4 1000 20 0 0 0 4 8 0 1 " + raSearchProg}},
		{"all fields", []pdb.FrameRecord{{Type: 4, RVA: 0x10, Size: 0x30, PrologSize: 3, ParamsSize: 12, SavedRegsSize: 8, LocalsSize: 0x40, MaxStackSize: 0x50, ProgramString: "  " + raSearchProg + "  "}},
			[]string{"STACK WIN 4 10 30 3 0 c 8 40 50 1 " + raSearchProg}},
		{"fpo", []pdb.FrameRecord{{Type: 0, RVA: 0x2000, Size: 0x40, LocalsSize: 12, ParamsSize: 8, PrologSize: 5, SavedRegsSize: 8, AllocatesBasePointer: true}},
			[]string{"STACK WIN 0 2000 40 5 0 8 8 c 0 0 1"}},
		{"fpo of another frame type", []pdb.FrameRecord{{Type: 0, RVA: 0x2000, Size: 0x40, FrameKind: 3}}, nil},
		{"fpo where framedata starts", []pdb.FrameRecord{fdRec(0x2000, 0x10, 0, 0, raSearchProg), {Type: 0, RVA: 0x2000, Size: 0x40}},
			[]string{"STACK WIN 4 2000 10 0 0 0 0 0 0 1 " + raSearchProg}},
		{"repeated record", []pdb.FrameRecord{fdRec(0x1000, 0x20, 8, 4, raSearchProg), fdRec(0x1000, 0x20, 16, 4, raSearchProg)},
			[]string{"STACK WIN 4 1000 20 0 0 0 4 8 0 1 " + raSearchProg}},
		{"size beyond 2^31", []pdb.FrameRecord{fdRec(0x1000, 0xffffff6e, 0, 0, raSearchProg)}, nil},
		{"no program", []pdb.FrameRecord{fdRec(0x1000, 0x20, 0, 0, " \t ")}, nil},
		{"line break in program", []pdb.FrameRecord{fdRec(0x1000, 0x20, 0, 0, "$T0 .raSearch =\n$eip $T0 ^ =\r\n$esp $T0 4 + =")},
			[]string{"STACK WIN 4 1000 20 0 0 0 0 0 0 1 $T0 .raSearch = $eip $T0 ^ =  $esp $T0 4 + ="}},
		{"invalid UTF-8", []pdb.FrameRecord{fdRec(0x1000, 0x20, 0, 0, "$T0 \xff=")},
			[]string{"STACK WIN 4 1000 20 0 0 0 0 0 0 1 $T0 \uFFFD="}},
		{"unknown type", []pdb.FrameRecord{{Type: 2, RVA: 0x1000, Size: 0x10}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := string(stackWinText(tc.recs))
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "MODULE windows x86 ") {
				t.Fatalf("first line %q", lines[0])
			}
			if got, want := strings.Join(lines[1:], "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("STACK WIN lines:\n%s\nwant:\n%s", got, want)
			}
			f, err := breakpad.Parse([]byte(text))
			if err != nil || f.StackErr != nil {
				t.Fatalf("reading back: %v, %v", err, f.StackErr)
			}
		})
	}
}

// x86Mem is a little-endian stack at base.
type x86Mem struct {
	base uint64
	b    []byte
}

func (m x86Mem) Read(addr uint64, size int) (uint64, bool) {
	if addr < m.base || addr-m.base+uint64(size) > uint64(len(m.b)) {
		return 0, false
	}
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(m.b[addr-m.base:])), true
	}
	return binary.LittleEndian.Uint64(m.b[addr-m.base:]), true
}

func (m x86Mem) put(addr uint64, v uint32) { binary.LittleEndian.PutUint32(m.b[addr-m.base:], v) }

// TestWinRules checks what rust-minidump adds to a record's evaluation,
// through pdbCFI as the walk gets it.
func TestWinRules(t *testing.T) {
	const base = 0x10000
	regs := func(kv ...any) func(string) (uint64, bool) {
		m := map[string]uint64{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = uint64(kv[i+1].(int))
		}
		return func(n string) (uint64, bool) { v, ok := m[n]; return v, ok }
	}
	tests := []struct {
		name    string
		rec     pdb.FrameRecord
		regs    func(string) (uint64, bool)
		stack   map[uint64]uint32
		want    map[string]uint64 // eip, esp, ebp
		wantErr string
	}{
		{
			// .raSearch is ebp + 4 when the program aligns, whatever esp
			// and the frame sizes say.
			name:  "aligning program searches from ebp",
			rec:   pdb.FrameRecord{Type: 4, RVA: 0x1000, Size: 0x40, LocalsSize: 0x100, ProgramString: "$T1 .raSearch = $T0 $T1 4 - 32 @ = $eip $T1 ^ = $esp $T1 4 + = $ebp $T1 4 - ^ ="},
			regs:  regs("eip", 0x401010, "esp", base+0x20, "ebp", base+0x80, "unwind.grand", 0),
			stack: map[uint64]uint32{base + 0x84: 0x401234, base + 0x80: base + 0x200},
			want:  map[string]uint64{"eip": 0x401234, "esp": base + 0x88, "ebp": base + 0x200},
		},
		{
			name:    "aligning program without ebp",
			rec:     pdb.FrameRecord{Type: 4, RVA: 0x1000, Size: 0x40, ProgramString: "$T1 .raSearch = $T0 $T1 4 - 32 @ = $eip $T1 ^ = $esp $T1 4 + ="},
			regs:    regs("eip", 0x401010, "esp", base+0x20),
			wantErr: "%ebp is unknown",
		},
		{
			// A system call's return address left on the stack in the
			// context frame is skipped.
			name:  "fpo leftover return address",
			rec:   pdb.FrameRecord{Type: 0, RVA: 0x1000, Size: 0x40, LocalsSize: 8},
			regs:  regs("eip", 0x401010, "esp", base+0x20, "ebp", 0x77, unwind.GrandCalleeReg, 0),
			stack: map[uint64]uint32{base + 0x28: 0x401010, base + 0x2c: 0x402000},
			want:  map[string]uint64{"eip": 0x402000, "esp": base + 0x30, "ebp": 0x77},
		},
		{
			// Not in the context frame: the word is the return address.
			name:  "fpo same word in a caller",
			rec:   pdb.FrameRecord{Type: 0, RVA: 0x1000, Size: 0x40, LocalsSize: 8},
			regs:  regs("eip", 0x401010, "esp", base+0x20, "ebp", 0x77, unwind.GrandCalleeReg, 1),
			stack: map[uint64]uint32{base + 0x28: 0x401010, base + 0x2c: 0x402000},
			want:  map[string]uint64{"eip": 0x401010, "esp": base + 0x2c, "ebp": 0x77},
		},
		{name: "program fails", rec: fdRec(0x1000, 0x40, 0, 0, "$eip $T9 ^ ="), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: "$T9 is not set"},
		{name: "division by zero", rec: fdRec(0x1000, 0x40, 0, 0, "$T0 4 0 / = $eip $T0 = $esp $T0 ="), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: "division by zero"},
		{name: "unknown token", rec: fdRec(0x1000, 0x40, 0, 0, "$eip 4 foo + = $esp 8 ="), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: `unknown token "foo"`},
		{name: "unreadable return address", rec: fdRec(0x1000, 0x40, 0x10000, 0, raSearchProg), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: "cannot read memory"},
		{name: "no eip", rec: fdRec(0x1000, 0x40, 0, 0, "$esp $esp 4 + ="), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: "does not set $eip"},
		{name: "operands left", rec: fdRec(0x1000, 0x40, 0, 0, raSearchProg+" 1 2"), regs: regs("eip", 0x401010, "esp", base+0x20, "ebp", 0), wantErr: "left on the stack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := x86Mem{base, make([]byte, 0x400)}
			for a, v := range tc.stack {
				mem.put(a, v)
			}
			src := &pdbCFI{recs: []pdb.FrameRecord{tc.rec}}
			r := src.rules(0x1010)
			if r == nil {
				t.Fatalf("no rules at 0x1010 (%v)", src.err)
			}
			if !src.covers(0x1010) || src.covers(0x1000+uint64(tc.rec.Size)) {
				t.Errorf("covers: the record spans [%#x, %#x)", tc.rec.RVA, tc.rec.RVA+tc.rec.Size)
			}
			got, err := r.Unwind(tc.regs, mem)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %#x, want %#x (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// TestWinRulesRegisters: a STACK WIN caller gets ebp and ebx from the
// callee unless the program sets them, never esi and edi, and no ebx
// after an FPO function that allocates %ebp (rust-minidump's rules).
func TestWinRulesRegisters(t *testing.T) {
	const base = 0x10000
	for _, tc := range []struct {
		name string
		rec  pdb.FrameRecord
		want map[string]uint64
	}{
		{"framedata", fdRec(0x1000, 0x100, 0, 0, raSearchProg), map[string]uint64{"ebp": 0xe0, "ebx": 0xb0}},
		{"framedata sets esi", fdRec(0x1000, 0x100, 0, 0, raSearchProg+" $esi 5 ="), map[string]uint64{"ebp": 0xe0, "ebx": 0xb0, "esi": 5}},
		{"fpo", pdb.FrameRecord{Type: 0, RVA: 0x1000, Size: 0x100}, map[string]uint64{"ebp": 0xe0, "ebx": 0xb0}},
		{"fpo allocating ebp", pdb.FrameRecord{Type: 0, RVA: 0x1000, Size: 0x100, SavedRegsSize: 8, AllocatesBasePointer: true}, map[string]uint64{"ebp": 0xee}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The return address above the saved registers, %ebp saved at
			// the bottom of them.
			mem := x86Mem{base, make([]byte, 0x400)}
			mem.put(base+0x20+uint64(tc.rec.SavedRegsSize), 0x401500)
			if tc.rec.AllocatesBasePointer {
				mem.put(base+0x20+uint64(tc.rec.SavedRegsSize)-8, 0xee)
			}
			src := &pdbCFI{recs: []pdb.FrameRecord{tc.rec}}
			mods := oneModule{base: 0x400000, size: 0x10000, cfi: src}
			regs := map[string]uint64{"eip": 0x401010, "esp": base + 0x20, "ebp": 0xe0, "ebx": 0xb0, "esi": 0x50, "edi": 0xd0}
			frames, err := unwind.Walk(context.Background(), "x86", regs, mem, mods, unwind.Options{OS: "windows", MaxFrames: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 2 || frames[1].Trust != unwind.TrustCFI || frames[1].Resume != 0x401500 {
				t.Fatalf("frames %+v", frames)
			}
			got := map[string]uint64{}
			for _, r := range []string{"ebp", "ebx", "esi", "edi"} {
				if v, ok := frames[1].Registers[r]; ok {
					got[r] = v
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("caller registers %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("caller %s = %#x, want %#x (all %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// oneModule is one module whose rules come from a cfiSource.
type oneModule struct {
	base, size uint64
	cfi        cfiSource
}

func (m oneModule) CFI(addr uint64) unwind.Rules {
	if addr-m.base >= m.size {
		return nil
	}
	return m.cfi.rules(addr - m.base)
}

func (m oneModule) Code(addr uint64) (bool, bool, bool) {
	if addr-m.base >= m.size {
		return false, false, false
	}
	return true, true, m.cfi.covers(addr - m.base)
}

// TestWinRulesFallBack: a program that cannot be evaluated is no frame of
// its own; the walk goes on by the frame pointer, as rust-minidump's does.
func TestWinRulesFallBack(t *testing.T) {
	const base = 0x10000
	mem := x86Mem{base, make([]byte, 0x400)}
	mem.put(base+0x100, base+0x200) // saved ebp
	mem.put(base+0x104, 0x401800)   // return address above it
	for _, prog := range []string{"", "$eip", "= = =", "$T0 .raSearch = $eip $T0 ^", "$eip 0 0 / = $esp 4 =", "$eip 1 3 @ = $esp 4 =", strings.Repeat("1 ", 10000)} {
		src := &pdbCFI{recs: []pdb.FrameRecord{fdRec(0x1000, 0x100, 0, 0, prog)}}
		regs := map[string]uint64{"eip": 0x401010, "esp": base + 0x20, "ebp": base + 0x100}
		frames, err := unwind.Walk(context.Background(), "x86", regs, mem, oneModule{0x400000, 0x10000, src}, unwind.Options{OS: "windows", MaxFrames: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 2 || frames[1].Trust != unwind.TrustFP || frames[1].Resume != 0x401800 {
			t.Errorf("program %.40q: frames %+v, want the caller by frame pointer", prog, frames)
		}
	}
}

// FuzzX86FrameRecords: whatever frame records a PDB holds, the STACK WIN
// text written for them reads back without a STACK error, and evaluating
// the rules at any address neither panics nor yields a caller that does
// not fit 32 bits.
func FuzzX86FrameRecords(f *testing.F) {
	f.Add([]byte("\x04\x00\x10\x00\x00\x20\x00\x00\x00\x08\x04"), raSearchProg)
	f.Add([]byte("\x00\x00\x20\x00\x00\x40\x00\x00\x00\x0c\x08\x01"), "")
	f.Add([]byte("\x04\x00\x10\x00\x00\xff\xff\xff\xff\x00\x00"), "$T1 .raSearch = $T0 $T1 4 - 32 @ = $eip $T1 ^ = $esp $T1 4 + =\n$x")
	f.Fuzz(func(t *testing.T, raw []byte, prog string) {
		var recs []pdb.FrameRecord
		for len(raw) >= 12 && len(recs) < 64 {
			r := pdb.FrameRecord{
				Type:          int(raw[0]&1) * 4,
				RVA:           binary.LittleEndian.Uint32(raw[1:]) & 0xffff,
				Size:          binary.LittleEndian.Uint32(raw[5:]),
				LocalsSize:    uint32(raw[9]) * 4,
				SavedRegsSize: uint32(raw[10]&7) * 4,
				ParamsSize:    uint32(raw[11]) * 4,
				FrameKind:     int(raw[0]>>1) & 3,
			}
			r.AllocatesBasePointer = raw[0]&8 != 0
			if r.Type == 4 {
				r.ProgramString = prog
			}
			if r.Size != 0 && uint64(r.RVA)+uint64(r.Size) <= math.MaxUint32 {
				recs = append(recs, r)
			}
			raw = raw[12:]
		}
		src := &pdbCFI{recs: recs}
		text := stackWinText(recs)
		if bf, err := breakpad.Parse(text); err != nil || bf.StackErr != nil {
			t.Fatalf("the written records do not read back: %v %v\n%s", err, bf.StackErr, text)
		}
		mem := x86Mem{0x10000, make([]byte, 0x200)}
		for i := range mem.b {
			mem.b[i] = byte(i * 7)
		}
		for _, r := range recs {
			for _, a := range []uint64{uint64(r.RVA), uint64(r.RVA) + uint64(r.Size) - 1} {
				rules := src.rules(a)
				if rules == nil {
					continue
				}
				get := func(n string) (uint64, bool) {
					switch n {
					case "eip":
						return 0x401000, true
					case "esp":
						return 0x10040, true
					case "ebp":
						return 0x10100, true
					}
					return 0, false
				}
				out, err := rules.Unwind(get, mem)
				if err == nil && (out[".ra"] > math.MaxUint32 || out[".cfa"] > math.MaxUint32) {
					t.Fatalf("caller %v does not fit 32 bits", out)
				}
			}
		}
		if src.err != nil {
			t.Fatal(src.err)
		}
	})
}
