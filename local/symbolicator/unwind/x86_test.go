package unwind

import (
	"fmt"
	"testing"
)

const (
	x86ModA  = 0x0804_0000 // CFI where a test says so
	x86ModB  = 0x0900_0000 // no CFI
	x86Stack = 0xbff0_0000
)

func x86Modules(cfi ...cfiRange) *modules {
	return &modules{list: []module{{base: x86ModA, size: 0x10000, cfi: cfi}, {base: x86ModB, size: 0x10000}}}
}

// winRules stand in for STACK WIN rules: they use the pseudo-registers the
// walker supplies on x86 and report them back in eax and ecx.
//
//	.cfa = esp + 8 + .cbCalleeParams, .ra = *(cfa-4), ebp = *(cfa-8)
type winRules struct{}

func (winRules) Unwind(get func(string) (uint64, bool), mem Memory) (map[string]uint64, error) {
	esp, ok1 := get("esp")
	params, ok2 := get(CalleeParamsReg)
	grand, ok3 := get(GrandCalleeReg)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("missing inputs")
	}
	cfa := esp + 8 + params
	ra, ok1 := mem.Read(cfa-4, 4)
	ebp, ok2 := mem.Read(cfa-8, 4)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("unreadable")
	}
	return map[string]uint64{".cfa": cfa, ".ra": ra, "ebp": ebp, "eax": grand, "ecx": params}, nil
}

// TestX86CFI: CFI (here shaped like STACK WIN) forwards ebp ebx edi esi and
// sees the grand-callee pseudo-registers: no grand-callee for the context
// frame, one afterwards, and a grand-callee parameter size of 0.
func TestX86CFI(t *testing.T) {
	ra1, ra2 := uint64(x86ModA+0x110), uint64(x86ModB+0x10)
	s := newStack(x86Stack, 4)
	s.push(0x4444, ra1, 0, ra2)
	s.zeros(2)
	ms := x86Modules(cfiRange{x86ModA, x86ModA + 0x1000, winRules{}})
	regs := map[string]uint64{"eip": x86ModA + 0x10, "esp": x86Stack, "ebp": 0x1234, "ebx": 0x77, "esi": 0x55, "eax": 0x99}
	checkFrames(t, walk(t, "x86", regs, s, ms, Options{}), []want{
		{TrustContext, x86ModA + 0x10, x86ModA + 0x10, regs},
		{TrustCFI, ra1, ra1 - 1, map[string]uint64{"eip": ra1, "esp": x86Stack + 8, "ebp": 0x4444,
			"eax": 0, "ecx": 0, "ebx": 0x77, "esi": 0x55}},
		// From frame 2, ebp 0 gives no frame record (address 4 is not stack)
		// and the scan finds nothing.
		{TrustCFI, ra2, ra2 - 1, map[string]uint64{"eip": ra2, "esp": x86Stack + 16, "ebp": 0,
			"eax": 1, "ecx": 0, "ebx": 0x77, "esi": 0x55}},
	})
}

// TestX86Width: on a 32-bit CPU a .cfa or .ra wider than 32 bits fails CFI;
// other wide values are ignored; context registers are cut to 32 bits.
func TestX86Width(t *testing.T) {
	ra := uint64(x86ModB + 0x10)
	build := func(r *rules) (*stack, *modules, map[string]uint64) {
		s := newStack(x86Stack, 4)
		s.push(0, ra)
		s.zeros(2)
		return s, x86Modules(cfiRange{x86ModA, x86ModA + 0x1000, r}),
			map[string]uint64{"eip": x86ModA + 0x10, "esp": x86Stack, "ebx": 0x1_0000_0077}
	}
	t.Run("wide register ignored", func(t *testing.T) {
		s, ms, regs := build(&rules{word: 4, cfaReg: "esp", cfaOff: 8, raOff: -4, set: map[string]uint64{"ebx": 1 << 40}})
		got := walk(t, "x86", regs, s, ms, Options{})
		if got[0].Registers["ebx"] != 0x77 {
			t.Errorf("context ebx %#x, want 0x77", got[0].Registers["ebx"])
		}
		if len(got) < 2 || got[1].Trust != TrustCFI || got[1].Registers["ebx"] != 0x77 {
			t.Errorf("frames %+v; want frame 1 by CFI with ebx forwarded", got)
		}
	})
	t.Run("context registers are cut", func(t *testing.T) {
		s, ms, regs := build(&rules{word: 4, cfaReg: "esp", cfaOff: 8, raReg: "eax"})
		regs["eax"] = 1 << 40 // cut to 0 in the context frame; the rules see 0
		got := walk(t, "x86", regs, s, ms, Options{})
		// .ra 0 is a valid evaluation: CFI wins and the walk ends at pc 0.
		if len(got) != 1 {
			t.Errorf("%d frames, want 1", len(got))
		}
	})
	t.Run("wide ra fails", func(t *testing.T) {
		s, ms, regs := build(&rules{word: 4, cfaReg: "esp", cfaOff: 8, raOff: -4, set: map[string]uint64{".ra": 1<<32 | ra}})
		got := walk(t, "x86", regs, s, ms, Options{})
		// CFI fails, no ebp, the scan finds ra.
		if len(got) != 2 || got[1].Trust != TrustScan || got[1].Resume != ra {
			t.Errorf("frames %+v; want frame 1 by scanning", got)
		}
	})
	t.Run("wide cfa fails", func(t *testing.T) {
		s, ms, regs := build(&rules{word: 4, cfaReg: "esp", cfaOff: 1 << 33, raReg: "eip"})
		got := walk(t, "x86", regs, s, ms, Options{})
		// CFI fails, no ebp, the scan finds ra.
		if len(got) != 2 || got[1].Trust != TrustScan || got[1].Resume != ra {
			t.Errorf("frames %+v; want frame 1 by scanning", got)
		}
	})
}

// TestX86FramePointer: eip = *(ebp+4), ebp = *ebp, esp = ebp+8, with no
// validation; a record pointing at itself repeats esp, which ends the walk.
func TestX86FramePointer(t *testing.T) {
	ra := uint64(x86ModB + 0x10)
	s := newStack(x86Stack, 4)
	s.zeros(2)
	x := s.push(0, ra)
	s.set(x, x)
	s.zeros(2)
	regs := map[string]uint64{"eip": x86ModA + 0x10, "esp": x86Stack, "ebp": x}
	checkFrames(t, walk(t, "x86", regs, s, x86Modules(), Options{}), []want{
		{TrustContext, x86ModA + 0x10, x86ModA + 0x10, regs},
		{TrustFP, ra, ra - 1, map[string]uint64{"eip": ra, "esp": x + 8, "ebp": x}},
	})
}

// TestX86ScanRecoversEBP: unlike amd64, x86 scanning takes the word below the
// return address as the caller's ebp whenever it lies just above, within
// 128 KiB, and in the stack, even with no ebp in the callee. That ebp's
// record then holds eip 0: the frame pointer "succeeds" and the walk ends.
func TestX86ScanRecoversEBP(t *testing.T) {
	ra := uint64(x86ModB + 0x10)
	s := newStack(x86Stack, 4)
	s.push(0, x86Stack+16, ra)
	s.zeros(4)
	regs := map[string]uint64{"eip": x86ModA + 0x10, "esp": x86Stack}
	checkFrames(t, walk(t, "x86", regs, s, x86Modules(), Options{}), []want{
		{TrustContext, x86ModA + 0x10, x86ModA + 0x10, regs},
		{TrustScan, ra, ra - 1, map[string]uint64{"eip": ra, "esp": x86Stack + 12, "ebp": x86Stack + 16}},
	})
}

const (
	armModA  = 0x0001_0000
	armModB  = 0x0002_0000
	armStack = 0x7eff_0000
)

func armModules(cfi ...cfiRange) *modules {
	return &modules{list: []module{{base: armModA, size: 0x10000, cfi: cfi}, {base: armModB, size: 0x10000}}}
}

// TestARMLeaf: a leaf's CFI (.cfa: sp, .ra: lr) keeps sp; that is allowed
// only when unwinding the context frame. Instruction is the return address
// minus 2.
func TestARMLeaf(t *testing.T) {
	ret := uint64(armModB + 0x100)
	leaf := &rules{word: 4, cfaReg: "sp", raReg: "lr"}
	atSP := &rules{word: 4, cfaReg: "sp", raOff: 0} // .cfa: sp .ra: *sp

	t.Run("context", func(t *testing.T) {
		s := newStack(armStack, 4)
		s.zeros(2)
		ms := armModules(cfiRange{armModA + 0x1000, armModA + 0x2000, leaf})
		regs := map[string]uint64{"pc": armModA + 0x1010, "sp": armStack, "lr": ret, "r4": 4, "r0": 1}
		checkFrames(t, walk(t, "arm", regs, s, ms, Options{}), []want{
			{TrustContext, armModA + 0x1010, armModA + 0x1010, regs},
			{TrustCFI, ret, ret - 2, map[string]uint64{"pc": ret, "sp": armStack, "r4": 4}},
		})
	})
	t.Run("later", func(t *testing.T) {
		// Frame 1 by scanning lands in atSP's range, which keeps sp: end.
		s := newStack(armStack, 4)
		s.push(armModA + 0x3010)
		s.push(ret)
		s.zeros(2)
		ms := armModules(cfiRange{armModA + 0x3000, armModA + 0x4000, atSP})
		regs := map[string]uint64{"pc": armModA + 0x10, "sp": armStack}
		got := walk(t, "arm", regs, s, ms, Options{})
		if len(got) != 2 || got[1].Trust != TrustScan {
			t.Errorf("frames %+v; want the context frame and a scanned frame", got)
		}
	})
	t.Run("r11 names fp", func(t *testing.T) {
		s := newStack(armStack, 4)
		s.zeros(2)
		r := &rules{word: 4, cfaReg: "r13", raReg: "r14", set: map[string]uint64{"r11": 0xf00}}
		ms := armModules(cfiRange{armModA + 0x1000, armModA + 0x2000, r})
		regs := map[string]uint64{"pc": armModA + 0x1010, "sp": armStack, "lr": ret}
		got := walk(t, "arm", regs, s, ms, Options{})
		if len(got) < 2 || got[1].Registers["fp"] != 0xf00 || got[1].Resume != ret {
			t.Errorf("frames %+v", got)
		}
	})
}

// TestARMFramePointer: 32-bit arm follows the frame pointer (pc = *(fp+4),
// fp = *fp, sp = fp+8) on iOS only; elsewhere it scans. On iOS a zero fp
// gives pc 0 and ends the walk.
func TestARMFramePointer(t *testing.T) {
	ret := uint64(armModB + 0x100)
	s := newStack(armStack, 4)
	s.zeros(2)
	rec := s.push(0, ret)
	s.zeros(2)
	regs := map[string]uint64{"pc": armModA + 0x10, "sp": armStack, "fp": rec}
	checkFrames(t, walk(t, "arm", regs, s, armModules(), Options{OS: "ios"}), []want{
		{TrustContext, armModA + 0x10, armModA + 0x10, regs},
		{TrustFP, ret, ret - 2, map[string]uint64{"pc": ret, "fp": 0, "sp": rec + 8}},
	})
	checkFrames(t, walk(t, "arm", regs, s, armModules(), Options{OS: "linux"}), []want{
		{TrustContext, armModA + 0x10, armModA + 0x10, regs},
		{TrustScan, ret, ret - 2, map[string]uint64{"pc": ret, "sp": rec + 8}},
	})
	zero := withRegs(regs, "fp", uint64(0))
	if got := walk(t, "arm", zero, s, armModules(), Options{OS: "ios"}); len(got) != 1 {
		t.Errorf("ios, fp 0: %d frames, want 1", len(got))
	}
	if got := walk(t, "arm", zero, s, armModules(), Options{OS: "linux"}); len(got) != 2 {
		t.Errorf("linux, fp 0: %d frames, want 2", len(got))
	}
}
