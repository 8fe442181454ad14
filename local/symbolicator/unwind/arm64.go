package unwind

import "math/bits"

// arm64 registers: x0…x28, fp (x29), lr (x30), sp, pc. x29 and x30 are
// accepted as aliases of fp and lr.
var arm64Arch = &arch{
	ptrSize: 8,
	ip:      "pc",
	sp:      "sp",
	// x19…x28 and fp are callee-saved in the AArch64 procedure call
	// standard; lr is not, so CFI must recover it to make it valid.
	calleeSaved: []string{"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp"},
	regs: []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9",
		"x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",
		"x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
		"fp", "lr", "sp", "pc"},
	aliases: map[string]string{"x29": "fp", "x30": "lr"},
	caller:  arm64Caller,
}

// arm64Caller finds the caller of the last frame by CFI, then the frame
// pointer, then scanning, and applies rust-minidump's arm64 end-of-stack
// rules:
//
//   - a pc below 4096 ends the walk;
//   - a stack pointer below the callee's ends the walk;
//   - an unchanged stack pointer is allowed only when the pc changed and
//     either the callee is the context frame (a leaf function keeps its
//     return address in lr and need not touch the stack) or the caller was
//     found by CFI (a function-entry row whose CFA is still sp+0); anything
//     else ends the walk, so the same frame cannot repeat forever.
//
// The caller's Instruction is its return address minus 4, the bl
// instruction (all arm64 instructions are 4 bytes).
func arm64Caller(w *walker, frames []Frame) (Frame, bool) {
	callee := &frames[len(frames)-1]
	f, ok := arm64ByCFI(w, callee)
	if !ok {
		f, ok = arm64ByFramePointer(w, callee)
	}
	if !ok {
		f, ok = arm64ByScan(w, callee)
	}
	if !ok {
		return Frame{}, false
	}
	if f.Resume < 4096 {
		return Frame{}, false
	}
	sp, lastSP := f.Registers["sp"], callee.Registers["sp"]
	if sp < lastSP {
		return Frame{}, false
	}
	if sp == lastSP {
		if f.Resume == callee.Registers["pc"] || !(callee.Trust == TrustContext || f.Trust == TrustCFI) {
			return Frame{}, false
		}
	}
	f.Instruction = f.Resume - 4
	return f, true
}

// arm64ByCFI unwinds by CFI; it needs the callee's sp. The recovered pc, and
// lr and fp when valid, are stripped of pointer-authentication bits.
//
// When the callee itself was found by the frame pointer, its lr is a guess
// read from the caller's frame record; the rules see it only if they start
// exactly at the callee's instruction (see FunctionStarter), as in
// rust-minidump.
func arm64ByCFI(w *walker, callee *Frame) (Frame, bool) {
	if _, ok := callee.Registers["sp"]; !ok {
		return Frame{}, false
	}
	hide := ""
	if callee.Trust == TrustFP {
		hide = "lr"
	}
	regs, ok := w.byCFI(callee, hide, nil)
	if !ok {
		return Frame{}, false
	}
	regs["pc"] = arm64Strip(w, regs["pc"])
	for _, r := range [...]string{"lr", "fp"} {
		if v, ok := regs[r]; ok {
			regs[r] = arm64Strip(w, v)
		}
	}
	return newCaller(regs, TrustCFI, "pc"), true
}

// arm64ByFramePointer assumes a normal (non-leaf) frame: the callee pushed
// the pair fp, lr and set fp to sp, so that
//
//	caller fp = *fp, caller pc = *(fp + 8), caller sp = fp + 16.
//
// Leaf functions cannot be told apart without CFI; assuming a normal frame
// is right for most frames and, for a leaf, skips its caller but keeps the
// rest of the walk in step (rust-minidump's reasoning).
//
// The caller's lr is read from the caller's own frame record, *(caller fp +
// 8), when the caller's fp is not zero and that word is readable: lr is
// volatile, but a non-leaf caller's frame record keeps the value it had on
// entry, which CFI at a function entry may need (".ra: lr").
//
// A callee fp of zero makes pc zero, which the canonical-address check
// rejects, so scanning takes over. fp, pc and lr are stripped of
// pointer-authentication bits. The stack is not otherwise validated
// (rust-minidump follows Breakpad there).
func arm64ByFramePointer(w *walker, callee *Frame) (Frame, bool) {
	lastFP, okFP := callee.Registers["fp"]
	lastSP, okSP := callee.Registers["sp"]
	if !okFP || !okSP {
		return Frame{}, false
	}
	if lastFP >= ^uint64(0)-16 {
		return Frame{}, false
	}
	var fp, pc, sp uint64
	if lastFP == 0 {
		fp, pc, sp = 0, 0, lastSP
	} else {
		var ok bool
		if fp, ok = w.read(lastFP); !ok {
			return Frame{}, false
		}
		if pc, ok = w.read(lastFP + 8); !ok {
			return Frame{}, false
		}
		sp = lastFP + 16
	}
	fp = arm64Strip(w, fp)
	pc = arm64Strip(w, pc)
	lr, haveLR := uint64(0), false
	if fp != 0 {
		if addr, ok := w.add(fp, 8); ok {
			if v, ok := w.read(addr); ok {
				lr, haveLR = arm64Strip(w, v), true
			}
		}
	}
	if arm64NonCanonical(pc) {
		return Frame{}, false
	}
	regs := map[string]uint64{"pc": pc, "fp": fp, "sp": sp}
	if haveLR {
		regs["lr"] = lr
	}
	return newCaller(regs, TrustFP, "pc"), true
}

// arm64ByScan looks for the first word at or above the callee's sp that
// seems a valid return address (see arm64SeemsValid), within the scan window
// (see scanWindow; extended after CFI frames on arm64). The caller's sp is
// just above that word; as in rust-minidump (and Breakpad) no fp is
// recovered and candidates are not stripped. A word that cannot be read ends
// the scan.
func arm64ByScan(w *walker, callee *Frame) (Frame, bool) {
	lastSP, ok := callee.Registers["sp"]
	if !ok {
		return Frame{}, false
	}
	n := scanWindow(callee, true)
	for i := uint64(0); i < n; i++ {
		addr, ok := w.add(lastSP, i*8)
		if !ok {
			return Frame{}, false
		}
		pc, ok := w.read(addr)
		if !ok {
			return Frame{}, false
		}
		if !arm64SeemsValid(w, pc) {
			continue
		}
		sp, ok := w.add(addr, 8)
		if !ok {
			return Frame{}, false
		}
		return newCaller(map[string]uint64{"pc": pc, "sp": sp}, TrustScan, "pc"), true
	}
	return Frame{}, false
}

// arm64SeemsValid is rust-minidump's scanning test for an arm64 return
// address: non-null, within the user address range (arm64NonCanonical), and
// passing seemsValidBySymbols.
func arm64SeemsValid(w *walker, pc uint64) bool {
	if pc == 0 || arm64NonCanonical(pc) {
		return false
	}
	return w.seemsValidBySymbols(pc)
}

// arm64NonCanonical rejects addresses in the first page and above the 52-bit
// user-space limit (0x000f_ffff_ffff_ffff).
func arm64NonCanonical(pc uint64) bool {
	return pc < 0x1000 || pc > 0x000f_ffff_ffff_ffff
}

// arm64Strip removes pointer-authentication bits (ARMv8.3, used on Apple
// platforms), which pushed return addresses and frame pointers carry in
// their high bits. How many bits are address depends on the system, so
// rust-minidump guesses: the highest address worth keeping is the larger of
// Apple's default 47-bit split (2^47-1) and the end of the highest module;
// the mask keeps every bit below the next power of two at or above it (all
// bits when there is none). The mask is applied unconditionally: it either
// clears authentication bits or changes nothing.
func arm64Strip(w *walker, ptr uint64) uint64 {
	return ptr & arm64PACMask(w.opts.ModulesEnd)
}

func arm64PACMask(modulesEnd uint64) uint64 {
	maxAddr := max(uint64(1)<<47-1, modulesEnd)
	if maxAddr > 1<<63 {
		return ^uint64(0)
	}
	// The next power of two at or above maxAddr (maxAddr ≥ 2^47-1 > 1).
	p := uint64(1) << bits.Len64(maxAddr-1)
	return p - 1
}
