package unwind

// x86 (32-bit) registers: eax ecx edx ebx esp ebp esi edi eip efl. Values
// are 32 bits wide; stack words are 4 bytes.
var x86Arch = &arch{
	ptrSize:     4,
	ip:          "eip",
	sp:          "esp",
	calleeSaved: []string{"ebp", "ebx", "edi", "esi"},
	regs:        []string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "efl"},
	caller:      x86Caller,
}

// x86Caller finds the caller of the last frame by CFI (STACK CFI or STACK
// WIN, whichever the rules are), then the frame pointer, then scanning, and
// applies rust-minidump's x86 end-of-stack rules: an eip below 4096 ends the
// walk, and so does an esp that does not strictly increase. The caller's
// Instruction is its return address minus one.
func x86Caller(w *walker, frames []Frame) (Frame, bool) {
	callee := &frames[len(frames)-1]
	f, ok := x86ByCFI(w, callee, len(frames) > 1)
	if !ok {
		f, ok = x86ByFramePointer(w, callee)
	}
	if !ok {
		f, ok = x86ByScan(w, callee)
	}
	if !ok {
		return Frame{}, false
	}
	if f.Resume < 4096 {
		return Frame{}, false
	}
	if f.Registers["esp"] <= callee.Registers["esp"] {
		return Frame{}, false
	}
	f.Instruction = f.Resume - 1
	return f, true
}

// Pseudo-registers the walker answers for STACK WIN rules on x86, as
// rust-minidump's CFI walker supplies them to its STACK WIN evaluator.
const (
	// CalleeParamsReg is the size in bytes of the parameters the callee's
	// own callee (the grand-callee) took on the stack, which STACK WIN's
	// frame size includes. rust-minidump takes it from the grand-callee's
	// symbol (FUNC, PUBLIC or STACK WIN record); Symbolicator's symbol
	// provider never names functions during the walk, so there it is always
	// 0, and so it is here.
	CalleeParamsReg = ".cbCalleeParams"

	// GrandCalleeReg is 1 when the callee has a callee of its own (it is
	// not the context frame) and 0 otherwise. STACK WIN's frame-pointer
	// omission mode uses it to skip a return address left on the stack by a
	// system call in the context frame.
	GrandCalleeReg = ".hasGrandCallee"
)

// x86ByCFI unwinds by CFI; it needs the callee's esp. The rules can also ask
// for CalleeParamsReg and GrandCalleeReg.
//
// Breakpad checks a STACK WIN result and scans from it when the return
// address looks wrong ("call frame info with scanning"); rust-minidump, and
// so this walker, trusts it as is.
func x86ByCFI(w *walker, callee *Frame, hasGrandCallee bool) (Frame, bool) {
	if _, ok := callee.Registers["esp"]; !ok {
		return Frame{}, false
	}
	grand := uint64(0)
	if hasGrandCallee {
		grand = 1
	}
	extra := map[string]uint64{CalleeParamsReg: 0, GrandCalleeReg: grand}
	regs, ok := w.byCFI(callee, "", extra)
	if !ok {
		return Frame{}, false
	}
	return newCaller(regs, TrustCFI, "eip"), true
}

// x86ByFramePointer assumes the conventional prologue (CALL pushes the
// return address, the callee pushes ebp and copies esp to ebp):
//
//	caller eip = *(ebp + 4), caller ebp = *ebp, caller esp = ebp + 8.
//
// Only the callee's ebp is needed, and unlike amd64 nothing is validated:
// rust-minidump found that checking esp and ebp here lets scanning produce
// frames Breakpad does not.
func x86ByFramePointer(w *walker, callee *Frame) (Frame, bool) {
	lastBP, ok := callee.Registers["ebp"]
	if !ok {
		return Frame{}, false
	}
	if lastBP >= 0xffffffff-8 {
		return Frame{}, false
	}
	ip, ok := w.read(lastBP + 4)
	if !ok {
		return Frame{}, false
	}
	bp, ok := w.read(lastBP)
	if !ok {
		return Frame{}, false
	}
	regs := map[string]uint64{"eip": ip, "esp": lastBP + 8, "ebp": bp}
	return newCaller(regs, TrustFP, "eip"), true
}

// x86ByScan looks for the first word at or above the callee's esp that seems
// a valid return address (non-null and seemsValidBySymbols), within the scan
// window: 160 words after the context frame, 40 otherwise (rust-minidump's
// x86 walker does not extend it after CFI frames). The caller's esp is just
// above that word. A word that cannot be read ends the scan.
//
// Unless the candidate is the first word scanned, ebp is recovered as
// rust-minidump does: if the word below the return address holds a value
// above the return address and within maxFrameGap of that word, and that
// value points into the stack, a standard prologue saved it and it is the
// caller's ebp; otherwise, if the callee's ebp is known, at or above the
// caller's esp and points into the stack, it is passed on unchanged.
func x86ByScan(w *walker, callee *Frame) (Frame, bool) {
	lastSP, ok := callee.Registers["esp"]
	if !ok {
		return Frame{}, false
	}
	lastBP, haveBP := callee.Registers["ebp"]
	n := scanWindow(callee, false)
	for i := uint64(0); i < n; i++ {
		addr, ok := w.add(lastSP, i*4)
		if !ok {
			return Frame{}, false
		}
		ip, ok := w.read(addr)
		if !ok {
			return Frame{}, false
		}
		if ip == 0 || !w.seemsValidBySymbols(ip) {
			continue
		}
		sp, ok := w.add(addr, 4)
		if !ok {
			return Frame{}, false
		}
		regs := map[string]uint64{"eip": ip, "esp": sp}
		if i > 0 {
			bpAddr := addr - 4
			bp, ok := w.read(bpAddr)
			if !ok {
				return Frame{}, false
			}
			if bp > addr && bp-bpAddr <= maxFrameGap {
				if w.readable(bp) {
					regs["ebp"] = bp
				}
			} else if haveBP && lastBP >= sp && w.readable(lastBP) {
				regs["ebp"] = lastBP
			}
		}
		return newCaller(regs, TrustScan, "eip"), true
	}
	return Frame{}, false
}
