package breakpad

import (
	"fmt"
	"strings"
	"testing"
)

// mapMemory is a stack of words at given addresses.
type mapMemory map[uint64]uint64

func (m mapMemory) Read(addr uint64, size int) (uint64, bool) {
	v, ok := m[addr]
	if size == 4 {
		v &= 0xffffffff
	}
	return v, ok
}

func regs(m map[string]uint64) func(string) (uint64, bool) {
	return func(name string) (uint64, bool) { v, ok := m[name]; return v, ok }
}

// The ARM64 rules of testdata/crlf.sym are dump_syms's for a function
// saving x29/x30, then restoring them: registers without "$", x29 as fp,
// x30 as lr, and ".ra: .ra", the "same value" rule of the return address
// column.
func TestCFIArm64(t *testing.T) {
	f := parseFile(t, "crlf.sym")
	callee := map[string]uint64{"sp": 0x7000, "fp": 0x7100, "lr": 0x4242, "pc": 0x14}
	mem := mapMemory{0x7000: 0x7200, 0x7008: 0x5555}
	tests := []struct {
		addr uint64
		want string
	}{
		{0x10, ".cfa=0x7000 .ra=0x4242"},
		{0x13, ".cfa=0x7000 .ra=0x4242"},
		{0x14, ".cfa=0x7010 .ra=0x5555 fp=0x7200"},
		{0x27, ".cfa=0x7010 .ra=0x5555 fp=0x7200"},
		{0x28, ".cfa=0x7000 .ra=0x4242 fp=0x7100"},
	}
	for _, tt := range tests {
		r, ok := f.CFI(tt.addr)
		if !ok {
			t.Fatalf("CFI(%#x): none", tt.addr)
		}
		got, err := r.Unwind(regs(callee), mem)
		if err != nil {
			t.Fatalf("CFI(%#x).Unwind: %v", tt.addr, err)
		}
		if s := fmtRegs(got); s != tt.want {
			t.Errorf("CFI(%#x).Unwind = %s, want %s", tt.addr, s, tt.want)
		}
	}
	if _, ok := f.CFI(0x30); ok {
		t.Error("CFI(0x30) found a record past the INIT range")
	}
}

func TestUnwindRules(t *testing.T) {
	tests := []struct {
		arch    string
		rules   string
		regs    map[string]uint64
		mem     mapMemory
		want    string // registers, or "error: ..." substring
		comment string
	}{
		{arch: "x86_64", rules: ".cfa: $rsp 16 + .ra: .cfa -8 + ^ $rbp: .cfa -16 + ^", regs: map[string]uint64{"rsp": 0x1000}, mem: mapMemory{0x1008: 0xaa, 0x1000: 0xbb},
			want: ".cfa=0x1010 .ra=0xaa rbp=0xbb"},
		{arch: "x86_64", rules: ".cfa: $rbp 16 + .ra: .cfa -8 + ^ $rbx: .cfa -24 + ^ $r12: $r13", regs: map[string]uint64{"rbp": 0x2000, "r13": 7}, mem: mapMemory{0x2008: 0xaa},
			want: ".cfa=0x2010 .ra=0xaa r12=0x7", comment: "a rule reading unmapped memory is left out"},
		{arch: "x86_64", rules: ".cfa: $rsp 8 + .ra: .cfa -8 + ^ $rbx: .undef", regs: map[string]uint64{"rsp": 0x1000}, mem: mapMemory{0x1000: 1},
			want: ".cfa=0x1008 .ra=0x1"},
		{arch: "x86_64", rules: ".cfa: $rsp 8 + .ra: .cfa -8 + ^ $rbx: $nosuch", regs: map[string]uint64{"rsp": 0x1000}, mem: mapMemory{0x1000: 1},
			want: ".cfa=0x1008 .ra=0x1"},
		{arch: "x86_64", rules: ".cfa: $rsp 24 + 16 @ .ra: .cfa 8 - 3 * 2 / 5 % ^", regs: map[string]uint64{"rsp": 0x1001}, mem: mapMemory{0x1: 9},
			want: ".cfa=0x1010 .ra=0x9", comment: "align, then ((cfa-8)*3/2)%5 = 1"},
		{arch: "x86_64", rules: ".cfa: $rsp 8 +", regs: map[string]uint64{"rsp": 0x1000}, want: "error: no .ra rule"},
		{arch: "x86_64", rules: ".ra: $rsp ^", regs: map[string]uint64{"rsp": 0x1000}, want: "error: no .cfa rule"},
		{arch: "x86_64", rules: ".cfa: .cfa 8 + .ra: $rip", regs: map[string]uint64{"rip": 1}, want: "error: .cfa used to compute itself"},
		{arch: "x86_64", rules: ".cfa: $rsp 8 .ra: $rip", regs: map[string]uint64{"rsp": 1, "rip": 1}, want: "error: expression leaves 2 values"},
		{arch: "x86_64", rules: ".cfa: $rsp + .ra: $rip", regs: map[string]uint64{"rsp": 1, "rip": 1}, want: "error: operand stack underflow"},
		{arch: "x86_64", rules: ".cfa: $rsp 0 / .ra: $rip", regs: map[string]uint64{"rsp": 1, "rip": 1}, want: "error: division by zero"},
		{arch: "x86_64", rules: ".cfa: $rsp 3 @ .ra: $rip", regs: map[string]uint64{"rsp": 1, "rip": 1}, want: "error: not a power of two"},
		{arch: "x86_64", rules: ".cfa: $rsp .ra: .cfa ^", regs: map[string]uint64{"rsp": 8}, want: "error: cannot read memory at 0x8"},
		{arch: "x86_64", rules: ".cfa: $rsp .ra: .undef", regs: map[string]uint64{"rsp": 8}, want: "error: undefined"},
		{arch: "x86_64", rules: "$rsp 8 + .ra: $rip", want: "error: does not start with a register name"},
		{arch: "x86_64", rules: ".cfa: .ra: $rip", want: "error: rule for .cfa has no expression"},
		{arch: "x86_64", rules: ".cfa: $rsp " + strings.Repeat("1 ", 65) + ".ra: $rip", regs: map[string]uint64{"rsp": 1, "rip": 1}, want: "error: operand stack overflow"},
		{arch: "x86", rules: ".cfa: $esp -8 + .ra: .cfa 4 - ^ $ebx: .cfa -8 + ^", regs: map[string]uint64{"esp": 4}, mem: mapMemory{0xfffffff8: 0x1234_5678_9abc_def0, 0xfffffff4: 0x77},
			want: ".cfa=0xfffffffc .ra=0x9abcdef0 ebx=0x77", comment: "32-bit arithmetic and 4-byte reads"},
		{arch: "arm", rules: ".cfa: sp 8 + .ra: .cfa -4 + ^ r11: .cfa -8 + ^ r4: r4", regs: map[string]uint64{"sp": 0x100, "r4": 5}, mem: mapMemory{0x104: 0x20, 0x100: 0x30},
			want: ".cfa=0x108 .ra=0x20 fp=0x30 r4=0x5"},
		{arch: "arm64", rules: ".cfa: $x29 16 + .ra: .cfa -8 + ^ $x29: .cfa -16 + ^ $x19: $x30", regs: map[string]uint64{"fp": 0x100, "lr": 3}, mem: mapMemory{0x108: 1, 0x100: 2},
			want: ".cfa=0x110 .ra=0x1 fp=0x2 x19=0x3", comment: "$-prefixed ARM names map like bare ones"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tt.rules), func(t *testing.T) {
			f, err := Parse([]byte(fmt.Sprintf("MODULE Linux %s 000102030405060708090A0B0C0D0E0F0 t\nSTACK CFI INIT 1000 10 %s\n", tt.arch, tt.rules)))
			if err != nil || f.StackErr != nil {
				t.Fatalf("Parse: %v %v", err, f.StackErr)
			}
			r, ok := f.CFI(0x1000)
			if !ok {
				t.Fatal("no CFI")
			}
			got, err := r.Unwind(regs(tt.regs), tt.mem)
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Unwind = %v, %v; want error containing %q", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unwind: %v", err)
			}
			if s := fmtRegs(got); s != tt.want {
				t.Errorf("Unwind = %s, want %s (%s)", s, tt.want, tt.comment)
			}
		})
	}
}

// The STACK WIN records of testdata/win.sym overlap the way PDB-derived
// files do; rust-minidump's repairs decide which record covers what.
func TestWinRecords(t *testing.T) {
	f := parseFile(t, "win.sym")
	if f.StackErr != nil {
		t.Fatal(f.StackErr)
	}
	tests := []struct {
		addr uint64
		want string // "type start+size" or ""
	}{
		{0x1000, "4 0x1000+0x4"}, // cut short by the record starting at 0x1004
		{0x1003, "4 0x1000+0x4"},
		{0x1004, "4 0x1004+0xfc"}, // the shorter record at 0x1004 is dropped
		{0x1010, "4 0x1004+0xfc"},
		{0x1100, "0 0x1000+0x200"}, // FPO where there is no FrameData
		{0x11ff, "0 0x1000+0x200"},
		{0x1200, ""},
		{0x2000, ""}, // FPO with a program string: inconsistent, dropped
		{0x3000, ""}, // FrameData without one, and type 2: dropped
	}
	for _, tt := range tests {
		w, ok := f.Win(tt.addr)
		got := ""
		if ok {
			got = fmt.Sprintf("%d %#x+%#x", w.Type, w.Start, w.Size)
		}
		if got != tt.want {
			t.Errorf("Win(%#x) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	w, _ := f.Win(0x1004)
	if !strings.HasSuffix(w.ProgramString, "$ebx $T0 4 - ^ =") || w.ParamsSize != 8 {
		t.Errorf("Win(0x1004) = %+v", w)
	}
	w, _ = f.Win(0x1100)
	if !w.AllocatesBasePointer || w.SavedRegsSize != 0xc || w.LocalsSize != 0x10 {
		t.Errorf("Win(0x1100) = %+v", w)
	}
}

func TestWinUnwindErrors(t *testing.T) {
	tests := []struct {
		program string
		want    string
	}{
		{"$eip $esp ^ =", "does not set $eip and $esp"},
		{"$eip $esp ^ = $esp $esp 4 + = 5", "1 values left on the stack"},
		{"$eip $nosuch ^ = $esp 0 =", "$nosuch is not set"},
		{"5 $esp =", `cannot assign to ""`},
		{".cbParams 4 =", `cannot assign to ".cbParams"`},
		{"$eip 0x10 =", `unknown token "0x10"`},
		{"$eip $esp 0 / =", "division by zero"},
		{"$eip $esp 6 @ =", "not a power of two"},
		{"$eip 8 ^ =", "cannot read memory at 0x8"},
		{"=", "operand stack underflow"},
		{strings.Repeat("1 ", 65), "operand stack overflow"},
	}
	for _, tt := range tests {
		w := WinRecord{Type: 4, Start: 0x1000, Size: 0x10, ProgramString: tt.program}
		_, err := w.Unwind(regs(map[string]uint64{"esp": 0x100, "ebp": 0x200}), mapMemory{0x100: 1})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: Unwind error %v, want %q", tt.program, err, tt.want)
		}
	}
	w := WinRecord{Type: 4, ProgramString: "$eip 0 = $esp 0 ="}
	if _, err := w.Unwind(regs(map[string]uint64{"esp": 0x100}), nil); err == nil || !strings.Contains(err.Error(), "esp and ebp are required") {
		t.Errorf("Unwind without ebp: %v", err)
	}
}
