package unwind

// 32-bit arm registers: r0…r10, fp (r11), ip (r12), sp (r13), lr (r14), pc
// (r15). The numbered names of the last five are accepted as aliases.
var armArch = &arch{
	ptrSize:     4,
	ip:          "pc",
	sp:          "sp",
	calleeSaved: []string{"r4", "r5", "r6", "r7", "r8", "r9", "r10", "fp"},
	regs: []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
		"fp", "ip", "sp", "lr", "pc"},
	aliases: map[string]string{"r11": "fp", "r12": "ip", "r13": "sp", "r14": "lr", "r15": "pc"},
	caller:  armCaller,
}

// armCaller finds the caller of the last frame by CFI, then (on iOS only)
// the frame pointer, then scanning, and applies rust-minidump's arm
// end-of-stack rules: a pc below 4096 ends the walk, and so does a stack
// pointer that does not increase, except that the first unwind from the
// context frame may keep it (a leaf function returns through lr without
// touching the stack). The caller's Instruction is its return address
// minus 2, the width of the smallest (Thumb) instruction.
func armCaller(w *walker, frames []Frame) (Frame, bool) {
	callee := &frames[len(frames)-1]
	f, ok := armByCFI(w, callee)
	if !ok {
		f, ok = armByFramePointer(w, callee)
	}
	if !ok {
		f, ok = armByScan(w, callee)
	}
	if !ok {
		return Frame{}, false
	}
	if f.Resume < 4096 {
		return Frame{}, false
	}
	sp, lastSP := f.Registers["sp"], callee.Registers["sp"]
	if sp <= lastSP && !(callee.Trust == TrustContext && sp == lastSP) {
		return Frame{}, false
	}
	f.Instruction = f.Resume - 2
	return f, true
}

// armByCFI unwinds by CFI; it needs the callee's sp.
func armByCFI(w *walker, callee *Frame) (Frame, bool) {
	if _, ok := callee.Registers["sp"]; !ok {
		return Frame{}, false
	}
	regs, ok := w.byCFI(callee, "", nil)
	if !ok {
		return Frame{}, false
	}
	return newCaller(regs, TrustCFI, "pc"), true
}

// armByFramePointer is used on iOS only: elsewhere lr and r11 may be general
// purpose registers, while iOS guarantees the frame-pointer convention. The
// callee pushed fp and lr and set fp to sp, so
//
//	caller fp = *fp, caller pc = *(fp + 4), caller sp = fp + 8.
//
// A callee fp of zero yields pc 0 and an unchanged sp, which ends the walk.
// Nothing else is validated.
func armByFramePointer(w *walker, callee *Frame) (Frame, bool) {
	if w.opts.OS != "ios" {
		return Frame{}, false
	}
	lastFP, okFP := callee.Registers["fp"]
	lastSP, okSP := callee.Registers["sp"]
	if !okFP || !okSP {
		return Frame{}, false
	}
	if lastFP >= 0xffffffff-8 {
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
		if pc, ok = w.read(lastFP + 4); !ok {
			return Frame{}, false
		}
		sp = lastFP + 8
	}
	return newCaller(map[string]uint64{"pc": pc, "fp": fp, "sp": sp}, TrustFP, "pc"), true
}

// armByScan looks for the first word at or above the callee's sp that passes
// seemsValidBySymbols (arm has no further address test), within the scan
// window: 160 words after the context frame, 40 otherwise. The caller's sp
// is just above that word; no fp is recovered. A word that cannot be read
// ends the scan.
func armByScan(w *walker, callee *Frame) (Frame, bool) {
	lastSP, ok := callee.Registers["sp"]
	if !ok {
		return Frame{}, false
	}
	n := scanWindow(callee, false)
	for i := uint64(0); i < n; i++ {
		addr, ok := w.add(lastSP, i*4)
		if !ok {
			return Frame{}, false
		}
		pc, ok := w.read(addr)
		if !ok {
			return Frame{}, false
		}
		if !w.seemsValidBySymbols(pc) {
			continue
		}
		sp, ok := w.add(addr, 4)
		if !ok {
			return Frame{}, false
		}
		return newCaller(map[string]uint64{"pc": pc, "sp": sp}, TrustScan, "pc"), true
	}
	return Frame{}, false
}
