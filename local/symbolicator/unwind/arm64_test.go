package unwind

import "testing"

const (
	a64ModA  = 0x0000_0001_0000_0000 // has CFI where a test says so
	a64ModB  = 0x0000_0001_0010_0000 // never has CFI
	a64Stack = 0x0000_0001_6f00_0000
	pacBits  = 0x002f_0000_0000_0000 // pointer-authentication bits above bit 47
)

func a64Modules(cfi ...cfiRange) *modules {
	return &modules{list: []module{{base: a64ModA, size: 0x10000, cfi: cfi}, {base: a64ModB, size: 0x10000}}}
}

// TestARM64CFI: the caller gets sp from .cfa, pc from .ra, the registers the
// rules recover, and the callee's x19…x28 and fp, never lr or x0…x18;
// pc, lr and fp come out stripped of authentication bits; x29 and x30 are
// names for fp and lr.
func TestARM64CFI(t *testing.T) {
	ra, ra2 := uint64(a64ModB+0x100), uint64(a64ModB+0x200)
	for _, names := range [][2]string{{"fp", "lr"}, {"x29", "x30"}} {
		t.Run(names[0], func(t *testing.T) {
			s := newStack(a64Stack, 8)
			sp := s.push((a64Stack+32)|pacBits, ra|pacBits)
			s.zeros(2)
			s.push(0, ra2) // frame 1's frame record, at a64Stack+32
			s.zeros(2)
			r := &rules{word: 8, cfaReg: "sp", cfaOff: 16, raOff: -8,
				saved: map[string]int64{names[0]: -16, names[1]: -8}}
			ms := a64Modules(cfiRange{a64ModA + 0x1000, a64ModA + 0x2000, r})
			regs := map[string]uint64{"pc": a64ModA + 0x1010, "sp": sp, "fp": 0xaaaa, "lr": 0xbbbb,
				"x0": 0x100, "x19": 0x19, "x28": 0x28}
			checkFrames(t, walk(t, "arm64", regs, s, ms, Options{}), []want{
				{TrustContext, a64ModA + 0x1010, a64ModA + 0x1010, regs},
				{TrustCFI, ra, ra - 4, map[string]uint64{"pc": ra, "sp": sp + 16, "fp": a64Stack + 32,
					"lr": ra, "x19": 0x19, "x28": 0x28}},
				// No CFI in module B: frame pointer. The caller's fp is zero,
				// so no lr is read; from there a zero fp means pc 0, which is
				// rejected, and the scan finds nothing.
				{TrustFP, ra2, ra2 - 4, map[string]uint64{"pc": ra2, "fp": 0, "sp": a64Stack + 48}},
			})
		})
	}
}

// TestARM64FramePointer: pc = *(fp+8), fp = *fp, sp = fp+16, and lr from the
// caller's own frame record; all stripped of authentication bits.
func TestARM64FramePointer(t *testing.T) {
	ra1, ra2 := uint64(a64ModA+0x100), uint64(a64ModB+0x200)
	s := newStack(a64Stack, 8)
	s.zeros(2)
	r1 := s.push(0, ra1|pacBits)
	s.zeros(2)
	r2 := s.push(0, ra2|pacBits)
	s.zeros(2)
	s.set(r1, r2|pacBits)
	regs := map[string]uint64{"pc": a64ModB + 0x10, "sp": a64Stack, "fp": r1}
	checkFrames(t, walk(t, "arm64", regs, s, a64Modules(), Options{}), []want{
		{TrustContext, a64ModB + 0x10, a64ModB + 0x10, regs},
		{TrustFP, ra1, ra1 - 4, map[string]uint64{"pc": ra1, "fp": r2, "sp": r1 + 16, "lr": ra2}},
		{TrustFP, ra2, ra2 - 4, map[string]uint64{"pc": ra2, "fp": 0, "sp": r2 + 16}},
	})
}

// TestARM64PACMask checks the stripping mask: every bit below the next
// power of two at or above max(2^47-1, end of the highest module).
func TestARM64PACMask(t *testing.T) {
	cases := []struct{ end, mask uint64 }{
		{0, 1<<47 - 1},
		{1<<47 - 1, 1<<47 - 1},
		{1 << 47, 1<<47 - 1}, // a power of two itself is lost, as in rust-minidump
		{1<<47 + 1, 1<<48 - 1},
		{1<<48 - 1, 1<<48 - 1},
		{1 << 63, 1<<63 - 1},
		{1<<63 + 1, ^uint64(0)},
		{^uint64(0), ^uint64(0)},
	}
	for _, c := range cases {
		if got := arm64PACMask(c.end); got != c.mask {
			t.Errorf("end %#x: mask %#x, want %#x", c.end, got, c.mask)
		}
	}

	// A module above 2^47 keeps bit 47 of return addresses into it.
	hi := uint64(0x0000_9000_0000_0000)
	s := newStack(a64Stack, 8)
	r := s.push(0, (hi+0x100)|1<<52)
	s.zeros(2)
	ms := &modules{list: []module{{base: hi, size: 0x10000}}}
	regs := map[string]uint64{"pc": hi + 0x10, "sp": a64Stack, "fp": r}
	got := walk(t, "arm64", regs, s, ms, Options{ModulesEnd: hi + 0x10000})
	if len(got) < 2 || got[1].Resume != hi+0x100 {
		t.Errorf("frames %+v; want frame 1 at %#x", got, hi+0x100)
	}
	got = walk(t, "arm64", regs, s, ms, Options{})
	if want := (hi + 0x100) & (1<<47 - 1); len(got) < 2 || got[1].Resume != want {
		t.Errorf("without ModulesEnd: frames %+v; want frame 1 at %#x (bit 47 stripped)", got, want)
	}
}

// TestARM64ZeroFramePointer: a zero fp gives pc 0, which is not canonical,
// so the frame pointer fails and scanning finds the caller.
func TestARM64ZeroFramePointer(t *testing.T) {
	ra := uint64(a64ModB + 0x100)
	s := newStack(a64Stack, 8)
	s.push(0, ra)
	s.zeros(1)
	regs := map[string]uint64{"pc": a64ModA + 0x10, "sp": a64Stack, "fp": 0}
	checkFrames(t, walk(t, "arm64", regs, s, a64Modules(), Options{}), []want{
		{TrustContext, a64ModA + 0x10, a64ModA + 0x10, regs},
		{TrustScan, ra, ra - 4, map[string]uint64{"pc": ra, "sp": a64Stack + 16}},
	})
}

// TestARM64UnchangedSP: an unchanged sp is allowed only with a new pc and
// either the context frame as callee or a caller found by CFI.
func TestARM64UnchangedSP(t *testing.T) {
	leaf := &rules{word: 8, cfaReg: "sp", raReg: "lr"}             // .cfa: sp .ra: lr
	normal := &rules{word: 8, cfaReg: "sp", cfaOff: 16, raOff: -8} // .cfa: sp+16 .ra: *(cfa-8)
	atSP := &rules{word: 8, cfaReg: "sp", cfaOff: 0, raOff: 0}     // .cfa: sp .ra: *sp
	ret1, ret2 := uint64(a64ModA+0x2010), uint64(a64ModB+0x100)

	t.Run("leaf at the context frame", func(t *testing.T) {
		s := newStack(a64Stack, 8)
		s.push(0, ret2)
		s.zeros(2)
		ms := a64Modules(cfiRange{a64ModA + 0x1000, a64ModA + 0x2000, leaf},
			cfiRange{a64ModA + 0x2000, a64ModA + 0x3000, normal})
		regs := map[string]uint64{"pc": a64ModA + 0x1010, "sp": a64Stack, "lr": ret1}
		checkFrames(t, walk(t, "arm64", regs, s, ms, Options{}), []want{
			{TrustContext, a64ModA + 0x1010, a64ModA + 0x1010, regs},
			{TrustCFI, ret1, ret1 - 4, map[string]uint64{"pc": ret1, "sp": a64Stack}},
			{TrustCFI, ret2, ret2 - 4, map[string]uint64{"pc": ret2, "sp": a64Stack + 16}},
		})
	})

	t.Run("same pc ends", func(t *testing.T) {
		s := newStack(a64Stack, 8)
		s.zeros(4)
		ms := a64Modules(cfiRange{a64ModA + 0x1000, a64ModA + 0x2000, leaf})
		regs := map[string]uint64{"pc": a64ModA + 0x1010, "sp": a64Stack, "lr": a64ModA + 0x1010}
		if got := walk(t, "arm64", regs, s, ms, Options{}); len(got) != 1 {
			t.Errorf("%d frames, want 1", len(got))
		}
	})

	t.Run("CFI caller after a CFI callee", func(t *testing.T) {
		// Frame 1 by normal rules; its pc is in atSP's range, which keeps sp
		// and reads the new pc at sp: allowed, the caller came from CFI.
		s := newStack(a64Stack, 8)
		s.push(0, a64ModA+0x3010)
		sp1 := s.push(ret2)
		s.zeros(2)
		ms := a64Modules(cfiRange{a64ModA + 0x1000, a64ModA + 0x2000, normal},
			cfiRange{a64ModA + 0x3000, a64ModA + 0x4000, atSP})
		regs := map[string]uint64{"pc": a64ModA + 0x1010, "sp": a64Stack}
		got := walk(t, "arm64", regs, s, ms, Options{})
		if len(got) < 3 || got[2].Trust != TrustCFI || got[2].Resume != ret2 || got[2].Registers["sp"] != sp1 {
			t.Fatalf("frames %+v", got)
		}
	})

	t.Run("frame pointer at the context frame", func(t *testing.T) {
		// fp 16 bytes below sp: the record gives the same sp; allowed for the
		// first unwind.
		s := newStack(a64Stack-16, 8)
		s.push(0, ret2)
		s.zeros(2)
		regs := map[string]uint64{"pc": a64ModA + 0x10, "sp": a64Stack, "fp": a64Stack - 16}
		checkFrames(t, walk(t, "arm64", regs, s, a64Modules(), Options{}), []want{
			{TrustContext, a64ModA + 0x10, a64ModA + 0x10, regs},
			{TrustFP, ret2, ret2 - 4, map[string]uint64{"pc": ret2, "fp": 0, "sp": a64Stack}},
		})
	})

	t.Run("frame pointer after a CFI frame ends", func(t *testing.T) {
		// Frame 1 by CFI with sp S+16 and fp S; frame S's record gives sp
		// S+16 again, from the frame pointer: the walk ends there.
		s := newStack(a64Stack, 8)
		s.push(0, ret2)
		s.zeros(2)
		r := &rules{word: 8, cfaReg: "sp", cfaOff: 16, raReg: "x0", set: map[string]uint64{"fp": a64Stack}}
		ms := a64Modules(cfiRange{a64ModA + 0x1000, a64ModA + 0x2000, r})
		regs := map[string]uint64{"pc": a64ModA + 0x1010, "sp": a64Stack, "x0": a64ModB + 0x300}
		got := walk(t, "arm64", regs, s, ms, Options{})
		if len(got) != 2 || got[1].Trust != TrustCFI {
			t.Errorf("frames %+v; want the context frame and one CFI frame", got)
		}
	})
}

// TestARM64GuessedLR: lr recovered by the frame pointer reaches CFI only when
// the rules start at the instruction being unwound.
func TestARM64GuessedLR(t *testing.T) {
	fn := uint64(a64ModA + 0x1000)
	p1, p2 := fn+4, uint64(a64ModB+0x200) // frame 1 returns right after fn's first instruction
	build := func() (*stack, map[string]uint64) {
		s := newStack(a64Stack, 8)
		s.zeros(2)
		r1 := s.push(0, p1)
		s.zeros(2)
		r2 := s.push(0, p2)
		s.zeros(2)
		s.set(r1, r2)
		return s, map[string]uint64{"pc": a64ModB + 0x10, "sp": a64Stack, "fp": r1}
	}
	entry := &rules{word: 8, cfaReg: "sp", raReg: "lr"} // .cfa: sp .ra: lr

	t.Run("hidden", func(t *testing.T) {
		s, regs := build()
		r1, r2 := regs["fp"], uint64(a64Stack+48)
		got := walk(t, "arm64", regs, s, a64Modules(cfiRange{fn, fn + 0x100, entry}), Options{})
		checkFrames(t, got, []want{
			{TrustContext, a64ModB + 0x10, a64ModB + 0x10, regs},
			{TrustFP, p1, fn, map[string]uint64{"pc": p1, "fp": r2, "sp": r1 + 16, "lr": p2}},
			// CFI cannot read lr, so the frame pointer goes on.
			{TrustFP, p2, p2 - 4, map[string]uint64{"pc": p2, "fp": 0, "sp": r2 + 16}},
		})
	})
	t.Run("at function start", func(t *testing.T) {
		s, regs := build()
		r1, r2 := regs["fp"], uint64(a64Stack+48)
		got := walk(t, "arm64", regs, s, a64Modules(cfiRange{fn, fn + 0x100, startRules{entry}}), Options{})
		checkFrames(t, got, []want{
			{TrustContext, a64ModB + 0x10, a64ModB + 0x10, regs},
			{TrustFP, p1, fn, map[string]uint64{"pc": p1, "fp": r2, "sp": r1 + 16, "lr": p2}},
			// .ra: lr with sp unchanged, allowed for a CFI caller; fp is
			// forwarded.
			{TrustCFI, p2, p2 - 4, map[string]uint64{"pc": p2, "fp": r2, "sp": r1 + 16}},
			{TrustFP, p2, p2 - 4, map[string]uint64{"pc": p2, "fp": 0, "sp": r2 + 16}},
		})
	})
}

// TestARM64CyclicFramePointer: a frame record pointing at itself gives the
// same sp and pc again, which ends the walk.
func TestARM64CyclicFramePointer(t *testing.T) {
	ra := uint64(a64ModB + 0x100)
	s := newStack(a64Stack, 8)
	s.zeros(2)
	x := s.push(0, ra)
	s.set(x, x)
	s.zeros(2)
	regs := map[string]uint64{"pc": a64ModA + 0x10, "sp": a64Stack, "fp": x}
	checkFrames(t, walk(t, "arm64", regs, s, a64Modules(), Options{}), []want{
		{TrustContext, a64ModA + 0x10, a64ModA + 0x10, regs},
		{TrustFP, ra, ra - 4, map[string]uint64{"pc": ra, "fp": x, "sp": x + 16, "lr": ra}},
	})
}

// TestARM64DefaultCap: CFI that bounces between two functions without
// moving sp satisfies every rust-minidump rule (the pc changes, the callers
// come from CFI) and would go on forever; DefaultMaxFrames stops it.
func TestARM64DefaultCap(t *testing.T) {
	a, b := uint64(a64ModA+0x1000), uint64(a64ModA+0x2000)
	ra := &rules{word: 8, cfaReg: "sp", raReg: "lr", set: map[string]uint64{"lr": a + 4}}
	rb := &rules{word: 8, cfaReg: "sp", raReg: "lr", set: map[string]uint64{"lr": b + 4}}
	s := newStack(a64Stack, 8)
	s.zeros(4)
	ms := a64Modules(cfiRange{a, a + 0x100, ra}, cfiRange{b, b + 0x100, rb})
	regs := map[string]uint64{"pc": a, "sp": a64Stack, "lr": b + 4}
	got := walk(t, "arm64", regs, s, ms, Options{})
	if len(got) != DefaultMaxFrames {
		t.Fatalf("%d frames, want %d", len(got), DefaultMaxFrames)
	}
	for i, f := range got[1:10] {
		want := b + 4
		if i%2 == 1 {
			want = a + 4
		}
		if f.Resume != want || f.Trust != TrustCFI {
			t.Fatalf("frame %d: %+v", i+1, f)
		}
	}
}
