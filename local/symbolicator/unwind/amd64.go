package unwind

// amd64 (x86-64) registers: rax rdx rcx rbx rsi rdi rbp rsp r8…r15 rip.
var amd64Arch = &arch{
	ptrSize: 8,
	ip:      "rip",
	sp:      "rsp",
	// The System V callee-saved registers, as rust-minidump forwards them
	// (it does not add Windows' rdi and rsi).
	calleeSaved: []string{"rbx", "rbp", "r12", "r13", "r14", "r15"},
	regs: []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"},
	caller: amd64Caller,
}

// maxFrameGap bounds the distance between a saved frame pointer and the word
// it is saved in, when scanning recovers a frame pointer: 128 KiB, which a
// frame-size histogram of popular libraries found 99.5% of x86 frames to be
// under (rust-minidump uses the same bound on amd64 and x86).
const maxFrameGap = 128 * 1024

// amd64Caller finds the caller of the last frame by CFI, then the frame
// pointer, then scanning, and applies rust-minidump's amd64 end-of-stack
// rules: an instruction pointer below 4096 (basically null) ends the walk,
// and so does a stack pointer that does not strictly increase, which
// guarantees progress. The caller's Instruction is its return address minus
// one, inside the call instruction.
func amd64Caller(w *walker, frames []Frame) (Frame, bool) {
	callee := &frames[len(frames)-1]
	f, ok := amd64ByCFI(w, callee)
	if !ok {
		f, ok = amd64ByFramePointer(w, callee)
	}
	if !ok {
		f, ok = amd64ByScan(w, callee)
	}
	if !ok {
		return Frame{}, false
	}
	if f.Resume < 4096 {
		return Frame{}, false
	}
	if f.Registers["rsp"] <= callee.Registers["rsp"] {
		return Frame{}, false
	}
	f.Instruction = f.Resume - 1
	return f, true
}

// amd64ByCFI unwinds by CFI; it needs the callee's rsp.
func amd64ByCFI(w *walker, callee *Frame) (Frame, bool) {
	if _, ok := callee.Registers["rsp"]; !ok {
		return Frame{}, false
	}
	regs, ok := w.byCFI(callee, "", nil)
	if !ok {
		return Frame{}, false
	}
	return newCaller(regs, TrustCFI, "rip"), true
}

// amd64ByFramePointer assumes the conventional prologue (CALL pushes the
// return address, the callee pushes rbp and copies rsp to rbp), so that
//
//	caller rip = *(rbp + 8), caller rbp = *rbp, caller rsp = rbp + 16.
//
// As rust-minidump does, it needs the callee's rbp and rsp and rejects the
// result unless the frame pointers and stack pointers are well ordered
// (caller rsp above callee rbp, caller rbp at or above caller rsp), the
// caller's rbp points into stack memory, the return address is canonical,
// and the caller's rsp is above the callee's and readable.
//
// On Windows the frame pointer may point anywhere up to 240 bytes below the
// frame record, in 16-byte steps, so the record is searched for at rbp,
// rbp+16, …, rbp+240; the first offset passing the checks wins. A word that
// cannot be read ends the search.
func amd64ByFramePointer(w *walker, callee *Frame) (Frame, bool) {
	lastBP, okBP := callee.Registers["rbp"]
	lastSP, okSP := callee.Registers["rsp"]
	if !okBP || !okSP {
		return Frame{}, false
	}
	if lastBP >= ^uint64(0)-16 {
		return Frame{}, false
	}
	steps := uint64(0)
	if w.opts.OS == "windows" {
		steps = 15
	}
	for i := uint64(0); i <= steps; i++ {
		rec, ok := w.add(lastBP, i*16)
		if !ok {
			return Frame{}, false
		}
		ipAddr, ok := w.add(rec, 8)
		if !ok {
			return Frame{}, false
		}
		ip, ok := w.read(ipAddr)
		if !ok {
			return Frame{}, false
		}
		bp, ok := w.read(rec)
		if !ok {
			return Frame{}, false
		}
		sp, ok := w.add(rec, 16)
		if !ok {
			return Frame{}, false
		}
		if sp <= lastBP || bp < sp {
			continue
		}
		if !w.readable(bp) {
			return Frame{}, false
		}
		if amd64NonCanonical(ip) {
			continue
		}
		if sp <= lastSP || !w.readable(sp) {
			continue
		}
		regs := map[string]uint64{"rip": ip, "rsp": sp, "rbp": bp}
		return newCaller(regs, TrustFP, "rip"), true
	}
	return Frame{}, false
}

// amd64ByScan looks for the first word at or above the callee's rsp that
// seems a valid return address (see amd64SeemsValid), within the scan window
// (see scanWindow; extended after CFI frames on amd64). The caller's rsp is
// just above that word. A word that cannot be read ends the scan.
//
// It also tries to recover rbp, as rust-minidump does, when the callee's rbp
// is known and the candidate is not the first word scanned: if the callee's
// rbp points at the word just below the return address (a standard prologue
// saved the caller's rbp there) and the saved value lies above the return
// address, within maxFrameGap, and points into the stack, the saved value is
// the caller's rbp; otherwise, if the callee's rbp is at or above the
// caller's rsp, the callee presumably left rbp untouched and it is passed
// on. The caller's registers are rip, rsp and, when recovered, rbp.
func amd64ByScan(w *walker, callee *Frame) (Frame, bool) {
	lastSP, ok := callee.Registers["rsp"]
	if !ok {
		return Frame{}, false
	}
	lastBP, haveBP := callee.Registers["rbp"]
	n := scanWindow(callee, true)
	for i := uint64(0); i < n; i++ {
		addr, ok := w.add(lastSP, i*8)
		if !ok {
			return Frame{}, false
		}
		ip, ok := w.read(addr)
		if !ok {
			return Frame{}, false
		}
		if !amd64SeemsValid(w, ip) {
			continue
		}
		sp, ok := w.add(addr, 8)
		if !ok {
			return Frame{}, false
		}
		regs := map[string]uint64{"rip": ip, "rsp": sp}
		if haveBP && i > 0 {
			bpAddr := addr - 8
			bp, ok := w.read(bpAddr)
			if !ok {
				return Frame{}, false
			}
			if lastBP == bpAddr && bp > addr && bp-bpAddr <= maxFrameGap {
				if w.readable(bp) {
					regs["rbp"] = bp
				}
			} else if lastBP >= sp {
				regs["rbp"] = lastBP
			}
		}
		return newCaller(regs, TrustScan, "rip"), true
	}
	return Frame{}, false
}

// amd64SeemsValid is rust-minidump's strictest amd64 test for a return
// address, used only by scanning: it must be non-null, canonical, and pass
// seemsValidBySymbols. CFI and frame-pointer results are not held to it, so
// that walks can cross code without modules (system libraries, JIT code) with
// correct registers.
func amd64SeemsValid(w *walker, ip uint64) bool {
	if ip == 0 || amd64NonCanonical(ip) {
		return false
	}
	return w.seemsValidBySymbols(ip)
}

// amd64NonCanonical reports whether ptr lies in the hole between the lower
// and upper halves of a 48-bit address space. Bits 63…48 of a canonical
// address copy bit 47; five-level paging would widen that, but processes see
// 57-bit pointers only on request, and JavaScript engines' NaN boxing relies
// on 48 bits, so rust-minidump assumes 48.
func amd64NonCanonical(ptr uint64) bool {
	return ptr > 0x7fff_ffff_ffff && ptr < 0xffff_8000_0000_0000
}
