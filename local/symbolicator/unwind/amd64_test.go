package unwind

import (
	"context"
	"maps"
	"testing"
)

// Two modules at the places rust-minidump's own amd64 tests use, and a
// canonical stack address.
const (
	mod1      = 0x0000_7400_c000_0000
	mod2      = 0x0000_7500_b000_0000
	modSize   = 0x10000
	stackBase = 0x0000_7ffe_0000_0000
)

func walk(t *testing.T, cpu string, regs map[string]uint64, s *stack, ms *modules, opts Options) []Frame {
	t.Helper()
	frames, err := Walk(context.Background(), cpu, regs, &s.mem, ms, opts)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func withRegs(base map[string]uint64, kv ...any) map[string]uint64 {
	m := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(uint64)
	}
	return m
}

// TestAMD64CFI: CFI is tried first and trusted; the caller gets rsp from
// .cfa, rip from .ra, what the rules recover, and the callee-saved registers
// (rbx rbp r12 r13 r14 r15) the callee had, never rax & co.
func TestAMD64CFI(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	build := func(r Rules) (*stack, *modules, map[string]uint64) {
		s := newStack(stackBase, 8)
		sp := s.push(0x5555, ra) // saved rbx, return address
		s.zeros(4)
		ms := &modules{list: []module{
			{base: mod1, size: modSize, cfi: []cfiRange{{mod1 + 0x4000, mod1 + 0x5000, r}}},
			{base: mod2, size: modSize},
		}}
		regs := map[string]uint64{"rip": mod1 + 0x4010, "rsp": sp, "rbx": 0x1111, "rbp": 0x2222, "rax": 0x3333, "r12": 0x4444}
		return s, ms, regs
	}
	base := func() *rules {
		return &rules{word: 8, cfaReg: "rsp", cfaOff: 16, raOff: -8, saved: map[string]int64{"rbx": -16}}
	}
	ctxFrame := func(regs map[string]uint64) want {
		return want{TrustContext, mod1 + 0x4010, mod1 + 0x4010, regs}
	}

	t.Run("forwarding", func(t *testing.T) {
		s, ms, regs := build(base())
		// The caller (in mod2, which has no CFI) has rbp 0x2222, which is not
		// stack memory, so the frame pointer fails, and the scan above it
		// meets only zeros before memory ends: two frames.
		checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
			ctxFrame(regs),
			{TrustCFI, ra, ra - 1, map[string]uint64{
				"rip": ra, "rsp": stackBase + 16, "rbx": 0x5555, "rbp": 0x2222, "r12": 0x4444}},
		})
	})

	t.Run("lost register without HasRule stays forwarded", func(t *testing.T) {
		r := base()
		r.lost = []string{"r12"}
		s, ms, regs := build(r)
		got := walk(t, "amd64", regs, s, ms, Options{})
		if v, ok := got[1].Registers["r12"]; !ok || v != 0x4444 {
			t.Errorf("r12 = %#x, %v; want forwarded 0x4444", v, ok)
		}
	})

	t.Run("lost register with HasRule is dropped", func(t *testing.T) {
		r := base()
		r.lost = []string{"r12"}
		s, ms, regs := build(listingRules{r})
		got := walk(t, "amd64", regs, s, ms, Options{})
		if v, ok := got[1].Registers["r12"]; ok {
			t.Errorf("r12 = %#x; want it dropped", v)
		}
		if got[1].Registers["rbx"] != 0x5555 || got[1].Registers["rbp"] != 0x2222 {
			t.Errorf("registers %s; want rbx recovered and rbp forwarded", fmtRegs(got[1].Registers))
		}
	})

	t.Run("explicit rsp and rip win over .cfa and .ra; foreign names ignored", func(t *testing.T) {
		r := base()
		r.set = map[string]uint64{"rsp": stackBase + 24, "rip": ra + 0x10, "eip": 7, "xmm0": 9}
		s, ms, regs := build(r)
		checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
			ctxFrame(regs),
			{TrustCFI, ra + 0x10, ra + 0xf, map[string]uint64{
				"rip": ra + 0x10, "rsp": stackBase + 24, "rbx": 0x5555, "rbp": 0x2222, "r12": 0x4444}},
		})
	})

	t.Run("rules see the callee's registers", func(t *testing.T) {
		r := base()
		r.cfaReg = "rax" // rax = 0x3333: .ra is read from 0x333b, outside the stack
		s, ms, regs := build(r)
		got := walk(t, "amd64", regs, s, ms, Options{})
		if len(r.asked) == 0 || r.asked[0] != "rax" {
			t.Fatalf("rules asked %v", r.asked)
		}
		// CFI failed; the frame pointer (rbp 0x2222) fails; the scan finds
		// ra at the second word.
		checkFrames(t, got, []want{ctxFrame(regs),
			{TrustScan, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": stackBase + 16}}})
	})
}

// TestAMD64FramePointer follows rust-minidump's "caller pushed rbp" case:
// without CFI the conventional frame record gives the caller.
func TestAMD64FramePointer(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	s := newStack(stackBase, 8)
	s.zeros(2)
	// Junk that is no return address: outside modules, or inside modules but
	// unused because the frame pointer succeeds first.
	s.push(mod1-0x1000_0000, mod2, mod1+0x1000, mod2+0xaaaa)
	rbp0 := s.here()
	s.push(0, ra) // saved rbp (patched below), return address
	sp1 := s.zeros(4)
	rbp1 := s.push(0) // the caller's frame record: end of stack
	s.set(rbp0, rbp1)

	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	regs := map[string]uint64{"rip": mod1 + 0x200, "rbp": rbp0, "rsp": stackBase}
	checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
		{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
		// From frame 1, rbp1's record is unreadable past its first word and
		// the scan above sp1 finds only zeros.
		{TrustFP, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": sp1, "rbp": rbp1}},
	})
}

// TestAMD64FramePointerChecks: a frame record is taken only when
// rust-minidump's checks pass; otherwise scanning takes over. The stack is
// [saved rbp, return address, ra, 0, 0] with rbp pointing at its start.
func TestAMD64FramePointerChecks(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	cases := []struct {
		name    string
		savedBP func(rec, next uint64) uint64
		ret     uint64
		trust   string // of frame 1
		sp      uint64 // frame 1's rsp, relative to the record
	}{
		{"good record", func(rec, next uint64) uint64 { return next }, ra, TrustFP, 16},
		// The scan finds the return address in the record itself.
		{"saved rbp below caller rsp", func(rec, next uint64) uint64 { return rec + 8 }, ra, TrustScan, 16},
		{"saved rbp outside the stack", func(rec, next uint64) uint64 { return next + 0x1000 }, ra, TrustScan, 16},
		// The non-canonical word is no return address for the scan either.
		{"non-canonical return address", func(rec, next uint64) uint64 { return next }, 0x0000_8000_0000_1000, TrustScan, 24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(stackBase, 8)
			rec := s.push(0, c.ret)
			s.push(ra)
			next := s.zeros(2)
			s.set(rec, c.savedBP(rec, next))
			ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
			regs := map[string]uint64{"rip": mod1 + 0x200, "rbp": rec, "rsp": stackBase}
			got := walk(t, "amd64", regs, s, ms, Options{})
			if len(got) < 2 {
				t.Fatalf("%d frames", len(got))
			}
			if got[1].Trust != c.trust || got[1].Resume != ra || got[1].Registers["rsp"] != rec+c.sp {
				t.Errorf("frame 1: %s resume %#x %s; want %s rsp %#x", got[1].Trust, got[1].Resume,
					fmtRegs(got[1].Registers), c.trust, rec+c.sp)
			}
		})
	}
}

// TestAMD64WindowsFramePointer: on Windows the frame record may lie up to
// 240 bytes above rbp in 16-byte steps (rust-minidump searches for it); on
// other systems the same stack is scanned.
func TestAMD64WindowsFramePointer(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	s := newStack(stackBase, 8)
	s.zeros(2)
	s.push(0xb000_0000, 0xb000_0000)
	rbp0 := s.push(0xc000_1000, 0xb000_aaaa) // rbp points here, into the frame
	rec := s.push(0, ra)                     // the real record, 16 bytes up
	sp1 := s.zeros(4)
	rbp1 := s.push(0)
	s.set(rec, rbp1)
	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	regs := map[string]uint64{"rip": mod1 + 0x200, "rbp": rbp0, "rsp": stackBase}

	t.Run("windows", func(t *testing.T) {
		checkFrames(t, walk(t, "amd64", regs, s, ms, Options{OS: "windows"}), []want{
			{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
			{TrustFP, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": sp1, "rbp": rbp1}},
		})
	})
	t.Run("linux", func(t *testing.T) {
		// At rbp itself the saved rbp (0xc0001000) is below the caller's rsp:
		// rejected. Scanning finds ra; the word below it (rbp1) is not where
		// the callee's rbp points and the callee's rbp is below the caller's
		// rsp, so no rbp is recovered.
		checkFrames(t, walk(t, "amd64", regs, s, ms, Options{OS: "linux"}), []want{
			{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
			{TrustScan, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": sp1}},
		})
	})
}

// TestAMD64ScanWithoutSymbols follows rust-minidump's case: scanning
// through three frames, only addresses inside modules count, and rbp is
// recovered only when plausible.
func TestAMD64ScanWithoutSymbols(t *testing.T) {
	ra1, ra2 := uint64(mod2+0x100), uint64(mod2+0x900)
	s := newStack(stackBase, 8)
	s.zeros(2)
	s.push(mod1-0x1000_0000, mod2+0x2000_0000) // junk outside modules
	s.push(ra1)
	sp1 := s.zeros(2)
	s.push(mod1-0x1000_0000, mod2+0x2000_0000)
	rbp1 := s.push(stackBase) // where a saved rbp would be, but bogus
	s.push(ra2)
	sp2 := s.zeros(4)

	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	regs := map[string]uint64{"rip": mod1 + 0x200, "rbp": rbp1, "rsp": stackBase}
	checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
		{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
		// The frame pointer fails: the saved rbp (stackBase) is below the
		// caller's rsp. The callee's rbp is above the caller's rsp: passed on.
		{TrustScan, ra1, ra1 - 1, map[string]uint64{"rip": ra1, "rsp": sp1, "rbp": rbp1}},
		// rbp points just below ra2, but the value saved there is below ra2:
		// not a frame pointer, and rbp1 is below sp2: no rbp.
		{TrustScan, ra2, ra2 - 1, map[string]uint64{"rip": ra2, "rsp": sp2}},
	})
}

// TestAMD64ScanWithSymbols: with symbols, a candidate must fall in a
// function, not merely in a module.
func TestAMD64ScanWithSymbols(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	s := newStack(stackBase, 8)
	s.zeros(2)
	s.push(mod1 - 0x1000_0000) // outside modules
	s.push(mod2)               // module start: the address before it is outside
	s.push(mod1 + 0x1000)      // inside mod1, outside its function
	s.push(mod2 + 0xaaaa)      // inside mod2, outside its function
	s.push(ra)
	sp1 := s.zeros(4)
	rbp1 := s.here()

	ms := &modules{list: []module{
		{base: mod1, size: modSize, symbols: true, funcs: [][2]uint64{{mod1 + 0x100, mod1 + 0x500}}},
		{base: mod2, size: modSize, symbols: true, funcs: [][2]uint64{{mod2 + 0x100, mod2 + 0x500}}},
	}}
	regs := map[string]uint64{"rip": mod1 + 0x200, "rbp": rbp1, "rsp": stackBase}
	checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
		{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
		{TrustScan, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": sp1, "rbp": rbp1}},
	})
	// Every candidate was checked one byte back, inside its call.
	for _, a := range ms.asked {
		if a == mod2 || a == mod1+0x1000 {
			t.Errorf("Code asked about %#x, the candidate itself rather than the byte before it", a)
		}
	}
}

// TestScanValidity checks rust-minidump's "instruction seems valid" rules on
// single candidates: the byte before the candidate must be in a module and,
// with symbols, in a function; amd64 also rejects non-canonical addresses,
// arm64 the first page and addresses above 52 bits.
func TestScanValidity(t *testing.T) {
	const fn = mod2 + 0x100
	symMods := []module{
		{base: mod2, size: modSize, symbols: true, funcs: [][2]uint64{{fn, fn + 0x10}}},
		{base: mod1, size: modSize}, // no symbols
		// Fake modules spanning the amd64 hole and arm64's user-space limit.
		{base: 0x0000_7fff_ffff_0000, size: 0x20000},
		{base: 0x000f_ffff_ffff_0000, size: 0x20000},
	}
	cases := []struct {
		cpu       string
		candidate uint64
		valid     bool
	}{
		{"amd64", fn + 1, true},
		{"amd64", fn + 0x10, true},      // one past the function: the byte before is inside
		{"amd64", fn, false},            // the byte before the function
		{"amd64", mod2, false},          // the byte before the module
		{"amd64", mod1 + modSize, true}, // one past a module without symbols
		{"amd64", mod1 + 0x8000, true},
		{"amd64", mod1 - 0x10, false},
		{"amd64", 0, false},
		{"amd64", 0x0000_8000_0000_0010, false}, // in a module, not canonical
		{"amd64", 0x0000_7fff_ffff_fff0, true},
		{"arm64", 0x0000_8000_0000_0010, true},
		{"arm64", 0x0010_0000_0000_0008, false}, // above 52 bits
		{"arm64", 0x000f_ffff_ffff_fff0, true},
		{"arm64", fn, false},
		{"arm64", fn + 4, true},
	}
	for _, c := range cases {
		s := newStack(stackBase, 8)
		s.push(c.candidate)
		s.zeros(1)
		ms := &modules{list: symMods}
		regs := map[string]uint64{"rip": mod1 + 0x200, "rsp": stackBase}
		if c.cpu == "arm64" {
			regs = map[string]uint64{"pc": mod1 + 0x200, "sp": stackBase}
		}
		got := walk(t, c.cpu, regs, s, ms, Options{})
		if found := len(got) == 2; found != c.valid {
			t.Errorf("%s candidate %#x: found %v, want %v", c.cpu, c.candidate, found, c.valid)
		}
	}
}

// TestScanWindow: the scan looks at 40 words above the stack pointer, 160
// after the context frame and, on amd64 and arm64, after a CFI frame; x86 and
// arm keep 40 after CFI frames.
func TestScanWindow(t *testing.T) {
	type setup struct {
		cpu  string
		word int
		ip   string
		sp   string
	}
	cpus := map[string]setup{
		"amd64": {"amd64", 8, "rip", "rsp"},
		"arm64": {"arm64", 8, "pc", "sp"},
		"x86":   {"x86", 4, "eip", "esp"},
		"arm":   {"arm", 4, "pc", "sp"},
	}
	const (
		base  = 0x7ff0_0000
		codeA = 0x0040_0000 // has CFI at [codeA+0x1000, codeA+0x2000)
		codeB = 0x0050_0000 // no CFI
	)
	cases := []struct {
		cpu   string
		after string // trust of the frame the scan starts from
		k     int    // word index of the return address above that frame's sp
		found bool
	}{
		{"amd64", TrustContext, 159, true}, {"amd64", TrustContext, 160, false},
		{"amd64", TrustScan, 39, true}, {"amd64", TrustScan, 40, false},
		{"amd64", TrustCFI, 159, true}, {"amd64", TrustCFI, 160, false},
		{"arm64", TrustContext, 159, true}, {"arm64", TrustContext, 160, false},
		{"arm64", TrustScan, 39, true}, {"arm64", TrustScan, 40, false},
		{"arm64", TrustCFI, 159, true}, {"arm64", TrustCFI, 160, false},
		{"x86", TrustContext, 159, true}, {"x86", TrustContext, 160, false},
		{"x86", TrustScan, 39, true}, {"x86", TrustScan, 40, false},
		{"x86", TrustCFI, 39, true}, {"x86", TrustCFI, 40, false},
		{"arm", TrustContext, 159, true}, {"arm", TrustContext, 160, false},
		{"arm", TrustScan, 39, true}, {"arm", TrustScan, 40, false},
		{"arm", TrustCFI, 39, true}, {"arm", TrustCFI, 40, false},
	}
	for _, c := range cases {
		u := cpus[c.cpu]
		s := newStack(base, u.word)
		r := &rules{word: u.word, cfaReg: u.sp, cfaOff: int64(u.word), raOff: -int64(u.word)}
		ms := &modules{list: []module{
			{base: codeA, size: 0x10000, cfi: []cfiRange{{codeA + 0x1000, codeA + 0x2000, r}}},
			{base: codeB, size: 0x10000},
		}}
		ip := uint64(codeA + 0x100) // no CFI: the context frame is scanned from
		frames := 2
		switch c.after {
		case TrustScan:
			s.push(codeB + 0x10) // frame 1 by scanning, at word 0
			frames = 3
		case TrustCFI:
			ip = codeA + 0x1010
			s.push(codeB + 0x10) // frame 1 by CFI: .ra = *(sp), .cfa = sp + word
			frames = 3
		}
		s.zeros(c.k)
		s.push(codeB + 0x20)
		s.zeros(2)
		regs := map[string]uint64{u.ip: ip, u.sp: base}
		got := walk(t, c.cpu, regs, s, ms, Options{})
		if len(got) >= 2 && got[1].Trust != c.after && c.after != TrustContext {
			t.Fatalf("%s: frame 1 by %s, want %s", c.cpu, got[1].Trust, c.after)
		}
		if want := frames - 1; !c.found && len(got) != want || c.found && len(got) != frames {
			t.Errorf("%s after %s, return address at word %d: %d frames, found=%v wanted", c.cpu, c.after, c.k, len(got), c.found)
		}
	}
}

// TestAMD64EndOfStack: a caller with an instruction pointer below 4096 or a
// stack pointer that does not strictly increase ends the walk, whatever
// method found it; no other method is tried for that frame. Here CFI finds
// it (.cfa = rsp + off, .ra = rax) while a good frame record waits unused.
func TestAMD64EndOfStack(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	cases := []struct {
		name   string
		cfaOff int64
		ra     uint64
		frames int
	}{
		{"pc zero", 16, 0, 1},
		{"pc 0xfff", 16, 0xfff, 1},
		// Frame 2: the forwarded rbp's record would give an rsp equal to
		// frame 1's, so the frame pointer fails; the scan finds nothing.
		{"pc 0x1000", 16, 0x1000, 2},
		{"sp unchanged", 0, ra, 1},
		{"sp down", -8, ra, 1},
		// Frame 2 by the forwarded rbp's record, which is above frame 1.
		{"sp up", 8, ra, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(stackBase, 8)
			s.zeros(1)
			rec := s.push(0, ra)
			s.zeros(2)
			next := s.push(0)
			s.set(rec, next)
			r := &rules{word: 8, cfaReg: "rsp", cfaOff: c.cfaOff, raReg: "rax"}
			ms := &modules{list: []module{
				{base: mod1, size: modSize, cfi: []cfiRange{{mod1, mod1 + modSize, r}}},
				{base: mod2, size: modSize},
			}}
			regs := map[string]uint64{"rip": mod1 + 0x200, "rsp": stackBase + 8, "rbp": rec, "rax": c.ra}
			got := walk(t, "amd64", regs, s, ms, Options{})
			if len(got) != c.frames {
				t.Fatalf("%d frames, want %d", len(got), c.frames)
			}
			if c.frames > 1 && (got[1].Trust != TrustCFI || got[1].Resume != c.ra || got[1].Instruction != c.ra-1) {
				t.Errorf("frame 1: %+v", got[1])
			}
			if c.frames > 2 && (got[2].Trust != TrustFP || got[2].Registers["rsp"] != rec+16) {
				t.Errorf("frame 2: %+v", got[2])
			}
		})
	}
}

// TestAMD64CyclicFramePointer: an rbp that points at itself is no frame
// record (the saved rbp is below the caller's rsp), so the walk falls back to
// scanning and ends.
func TestAMD64CyclicFramePointer(t *testing.T) {
	ra := uint64(mod2 + 0x110)
	s := newStack(stackBase, 8)
	s.zeros(2)
	x := s.push(0, ra)
	s.set(x, x)
	s.zeros(3)
	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	regs := map[string]uint64{"rip": mod1 + 0x200, "rsp": stackBase, "rbp": x}
	checkFrames(t, walk(t, "amd64", regs, s, ms, Options{}), []want{
		{TrustContext, mod1 + 0x200, mod1 + 0x200, regs},
		// rbp points just below ra but saved x is not above ra, and x is below
		// the caller's rsp: no rbp, and so no frame pointer for frame 2.
		{TrustScan, ra, ra - 1, map[string]uint64{"rip": ra, "rsp": x + 16}},
	})
}

// fpChain lays out n conventional amd64 frame records and returns the
// registers of the innermost frame and the return addresses, innermost
// first.
func fpChain(n int) (*stack, map[string]uint64, []uint64) {
	s := newStack(stackBase, 8)
	var recs, ras []uint64
	for i := range n {
		s.zeros(2)
		ra := uint64(mod2 + 0x100 + 0x10*uint64(i))
		recs = append(recs, s.push(0, ra))
		ras = append(ras, ra)
	}
	last := s.push(0)
	for i, r := range recs {
		next := last
		if i+1 < len(recs) {
			next = recs[i+1]
		}
		s.set(r, next)
	}
	s.zeros(2)
	return s, map[string]uint64{"rip": mod1 + 0x200, "rsp": stackBase, "rbp": recs[0]}, ras
}

// TestFrameCap: MaxFrames caps a walk, the context frame included.
func TestFrameCap(t *testing.T) {
	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	s, regs, ras := fpChain(50)
	all := walk(t, "amd64", regs, s, ms, Options{})
	if len(all) != 51 {
		t.Fatalf("uncapped walk: %d frames, want 51", len(all))
	}
	for i, f := range all[1:] {
		if f.Trust != TrustFP || f.Resume != ras[i] {
			t.Fatalf("frame %d: %+v, want fp at %#x", i+1, f, ras[i])
		}
	}
	if got := walk(t, "amd64", regs, s, ms, Options{MaxFrames: 10}); len(got) != 10 {
		t.Errorf("MaxFrames 10: %d frames", len(got))
	}
	if got := walk(t, "amd64", regs, s, ms, Options{MaxFrames: 1}); len(got) != 1 {
		t.Errorf("MaxFrames 1: %d frames", len(got))
	}
}

// TestWalkContext: a cancelled context stops the walk after the frames found
// so far.
func TestWalkContext(t *testing.T) {
	ms := &modules{list: []module{{base: mod1, size: modSize}, {base: mod2, size: modSize}}}
	s, regs, _ := fpChain(5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := Walk(ctx, "amd64", regs, &s.mem, ms, Options{})
	if err != context.Canceled || len(got) != 1 || got[0].Trust != TrustContext {
		t.Errorf("got %d frames, %v; want the context frame and context.Canceled", len(got), err)
	}
}

// TestWalkInputs: an unknown CPU is an error; no registers means no frames;
// no stack memory means only the context frame.
func TestWalkInputs(t *testing.T) {
	if _, err := Walk(context.Background(), "mips", map[string]uint64{"pc": 1}, nil, nil, Options{}); err == nil {
		t.Error("mips: no error")
	}
	if got, err := Walk(context.Background(), "amd64", nil, nil, nil, Options{}); err != nil || got != nil {
		t.Errorf("no registers: %v, %v", got, err)
	}
	regs := map[string]uint64{"rip": mod1, "rsp": stackBase}
	got, err := Walk(context.Background(), "amd64", regs, nil, &modules{}, Options{})
	if err != nil || len(got) != 1 || got[0].Resume != mod1 || got[0].Instruction != mod1 {
		t.Errorf("no stack: %+v, %v", got, err)
	}
	// A nil Modules is no modules: nothing to unwind by CFI or scan into.
	s, regs, _ := fpChain(2)
	got, err = Walk(context.Background(), "amd64", regs, &s.mem, nil, Options{})
	if err != nil || len(got) != 3 {
		t.Errorf("nil modules: %d frames, %v; want the frame-pointer chain", len(got), err)
	}
}
