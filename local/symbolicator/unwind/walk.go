// Package unwind walks a thread's stack the way rust-minidump's minidump-unwind
// crate does. getsentry/symbolicator walks minidumps with that crate, so the
// frames it reports, their trust and their registers are what this package
// reproduces.
//
// For every frame the walker asks, in order, as rust-minidump does:
//
//  1. call frame information (CFI): unwind rules for the frame's instruction,
//     supplied by the caller through [Modules] (DWARF CFI, Breakpad STACK CFI
//     or STACK WIN); the result is trusted without further checks;
//  2. the frame pointer: the conventional frame record the prologue pushes;
//  3. stack scanning: the first word at or above the stack pointer that looks
//     like a return address into code.
//
// The first method that yields a caller wins. The caller is then checked
// against the end-of-stack rules of its CPU (an instruction pointer in the
// first page ends the walk, so does a stack pointer that does not move up)
// and the walk goes on from it.
//
// A walk is bounded: every CPU demands that the stack pointer grows (with the
// narrow exceptions arm and arm64 allow, see their files), [Options.MaxFrames]
// caps the number of frames whatever the rules say, and the context is
// checked before every frame. The walker never panics on hostile memory or
// registers: all reads go through [Memory], all address arithmetic is checked
// for overflow.
//
// One file per CPU (amd64.go, arm64.go, x86.go, arm.go) holds that CPU's
// rules; walk.go holds what they share.
package unwind

import (
	"context"
	"fmt"
	"math/bits"
)

// Memory is the thread's stack memory. Read returns the little-endian
// unsigned value of size 4 or 8 bytes at addr, and false when any of those
// bytes is outside the memory.
//
// Pass the thread's own stack region only, as rust-minidump does: several
// checks ("the caller's frame pointer must point into the stack", "the
// caller's stack pointer must be readable") rely on reads outside the stack
// failing.
//
// Memory is an alias of an unnamed interface type so that packages which
// implement [Rules] can spell the same type without importing this one.
type Memory = interface {
	Read(addr uint64, size int) (uint64, bool)
}

// Rules are the unwind rules covering one instruction.
//
// Unwind computes the caller's registers from the callee's. get returns a
// callee register by canonical name (see the CPU files for the names) and
// false when that register is not known in the callee. The result holds
// ".cfa" (the canonical frame address, which becomes the caller's stack
// pointer) and ".ra" (the return address, which becomes the caller's
// instruction pointer) plus every register the rules recover, by canonical
// name. An error means the rules could not be evaluated; the walker then
// falls back to the frame pointer, as rust-minidump does.
//
// Rules may also implement [RuleLister] and [FunctionStarter].
type Rules interface {
	Unwind(get func(name string) (uint64, bool), mem Memory) (map[string]uint64, error)
}

// RuleLister is optionally implemented by [Rules]. HasRule reports whether
// the rules have a rule of their own for the register (canonical name),
// whether or not Unwind manages to recover it.
//
// rust-minidump forwards the callee's callee-saved registers to the caller
// unless the rules say otherwise, and drops a forwarded register whose own
// rule fails to evaluate (an undefined rule, an unreadable save slot). A
// result map cannot say "mentioned but lost", so rules that want that
// behaviour implement HasRule; without it a failed register keeps the
// callee's value.
type RuleLister interface {
	HasRule(name string) bool
}

// FunctionStarter is optionally implemented by [Rules]. AtFunctionStart
// reports whether the address the rules were looked up for is the first
// address of the range they describe: the address of a STACK CFI INIT
// record, the initial location of a DWARF FDE.
//
// arm64 uses it. A link register recovered from a frame record by
// frame-pointer unwinding is a guess; rust-minidump shows it to CFI only when
// the CFI rules start exactly at the instruction being unwound (a function
// entry, where "the return address is in lr" is the rule). Rules that do not
// implement this interface never see such a guessed lr.
type FunctionStarter interface {
	AtFunctionStart() bool
}

// Modules is the walker's view of the loaded modules, one per walk.
type Modules interface {
	// CFI returns the unwind rules covering addr (an absolute address), or
	// nil when no module holds addr or its module has no rules for it.
	CFI(addr uint64) Rules

	// Code reports whether addr (absolute) lies in a loaded module
	// (inModule) and, when that module has symbols (hasSymbols), whether a
	// function covers addr (inFunction).
	//
	// Scanning calls it with a candidate return address minus one, the
	// address inside the call instruction (see seemsValidBySymbols). In
	// rust-minidump "has symbols" means the symbol provider answered for the
	// module at all, and "covers" that it named a function (a FUNC, or a
	// PUBLIC that no later FUNC cuts off). Symbolicator's provider answers
	// from two sources: a module counts as having symbols only when both its
	// CFI (non-empty) and its debug information are loaded, and an address
	// counts as covered when either of them covers it.
	Code(addr uint64) (inModule, hasSymbols, inFunction bool)
}

// How a frame was found: the values Symbolicator reports in a frame's
// "trust" field (serde's lower-case spelling of rust-minidump's FrameTrust).
//
// The walker produces only TrustContext, TrustCFI, TrustFP and TrustScan, as
// rust-minidump's walkers do. TrustCFIScan is Breakpad's x86 "call frame info
// with scanning", which rust-minidump never produces; TrustPrewalked is for
// frames some other walker found, TrustNone for frames of unknown origin.
// rust-minidump's own text names differ: "frame_pointer" for fp, "cfi_scan"
// for cfiscan.
const (
	TrustNone      = "none"
	TrustScan      = "scan"
	TrustCFIScan   = "cfiscan"
	TrustFP        = "fp"
	TrustCFI       = "cfi"
	TrustPrewalked = "prewalked"
	TrustContext   = "context"
)

// Frame is one frame of a walk, innermost first.
type Frame struct {
	// Instruction is rust-minidump's frame.instruction, the address to look
	// the frame's code up by: for the context frame the instruction pointer
	// itself; for a caller the return address moved back into the call
	// instruction (minus 1 on amd64 and x86, minus 4 on arm64, minus 2 on
	// arm), so that a call to a function that never returns, placed last in
	// its function, still resolves to the calling function. The walker looks
	// up the next frame's CFI by this address, as rust-minidump does.
	Instruction uint64

	// Resume is rust-minidump's frame.resume_address: the frame's
	// instruction pointer register as recovered, for a caller the return
	// address itself. Symbolicator reports this value as a frame's
	// "instruction_addr" and leaves the adjustment to symbolication.
	Resume uint64

	// Trust says how the frame was found; one of the Trust constants.
	Trust string

	// Registers holds the frame's valid registers by canonical name and
	// nothing else: the whole given context for the context frame; for a
	// caller found by CFI the callee-saved registers forwarded from the
	// callee plus what the rules recovered; for the frame pointer and
	// scanning methods the few registers they recover.
	Registers map[string]uint64
}

// DefaultMaxFrames is the frame cap when [Options.MaxFrames] is zero.
//
// rust-minidump itself has no cap and relies on the stack pointer growing;
// Breakpad stops at 1<<20 frames (1024 in older releases) and Symbolicator
// keeps only the first 256 frames of each thread. 1024 bounds the work a
// hostile dump can cause while staying far above what Symbolicator reports.
const DefaultMaxFrames = 1024

// Options tune a walk.
type Options struct {
	// MaxFrames caps the number of frames, the context frame included.
	// Zero means DefaultMaxFrames.
	MaxFrames int

	// OS is the dump's operating system in lower case ("linux", "windows",
	// "macos", "ios", "android"). Two rules depend on it, as in
	// rust-minidump: amd64 frame-pointer unwinding on Windows searches for
	// the frame record (Windows lets the frame pointer point into the middle
	// of the frame), and 32-bit arm uses the frame pointer only on iOS.
	OS string

	// ModulesEnd is the end (base + size) of the loaded module with the
	// highest base address, or zero. arm64 uses it to strip pointer
	// authentication bits from recovered return addresses.
	ModulesEnd uint64
}

// arch holds one CPU's register names and its caller-finding rules.
type arch struct {
	ptrSize     int      // 4 or 8 bytes
	ip, sp      string   // canonical names of the instruction and stack pointers
	calleeSaved []string // forwarded from callee to caller by CFI unwinding
	regs        []string // every canonical register name of the CPU
	aliases     map[string]string
	// caller finds the caller of frames[len(frames)-1], or returns false
	// when the walk ends there.
	caller func(w *walker, frames []Frame) (Frame, bool)
}

var arches = map[string]*arch{
	"amd64": amd64Arch,
	"arm64": arm64Arch,
	"x86":   x86Arch,
	"arm":   armArch,
}

// walker is the state of one walk.
type walker struct {
	arch  *arch
	mem   Memory
	mods  Modules
	opts  Options
	known map[string]bool // arch.regs as a set
}

// Walk walks the stack of one thread. cpu is "amd64", "arm64", "x86" or
// "arm"; regs holds the thread context's valid registers by canonical name;
// stack is the thread's stack memory; mods answers CFI and code queries.
//
// The first frame is the context frame (trust "context"). Without registers
// there are no frames, and without stack memory only the context frame, as
// in rust-minidump. Walk returns the frames found so far and ctx's error when
// ctx is cancelled; the only other error is an unknown cpu.
func Walk(ctx context.Context, cpu string, regs map[string]uint64, stack Memory, mods Modules, opts Options) ([]Frame, error) {
	a, ok := arches[cpu]
	if !ok {
		return nil, fmt.Errorf("unwind: unsupported CPU %q (want amd64, arm64, x86 or arm)", cpu)
	}
	if len(regs) == 0 {
		return nil, nil
	}
	if opts.MaxFrames <= 0 {
		opts.MaxFrames = DefaultMaxFrames
	}
	w := &walker{arch: a, mem: stack, mods: mods, opts: opts, known: make(map[string]bool, len(a.regs))}
	for _, r := range a.regs {
		w.known[r] = true
	}

	top := make(map[string]uint64, len(regs))
	for name, v := range regs {
		top[name] = w.trunc(v)
	}
	ip := top[a.ip]
	frames := []Frame{{Instruction: ip, Resume: ip, Trust: TrustContext, Registers: top}}
	if stack == nil {
		return frames, nil
	}
	for len(frames) < opts.MaxFrames {
		if err := ctx.Err(); err != nil {
			return frames, err
		}
		f, ok := a.caller(w, frames)
		if !ok {
			break
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// trunc cuts v to the CPU's register width.
func (w *walker) trunc(v uint64) uint64 {
	if w.arch.ptrSize == 4 {
		return v & 0xffffffff
	}
	return v
}

// fits reports whether v fits the CPU's register width.
func (w *walker) fits(v uint64) bool {
	return w.arch.ptrSize == 8 || v <= 0xffffffff
}

// add returns a+b, or false when the sum overflows the CPU's address width,
// where rust-minidump's checked arithmetic gives up.
func (w *walker) add(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 || !w.fits(s) {
		return 0, false
	}
	return s, true
}

// read reads one pointer-sized word of stack memory.
func (w *walker) read(addr uint64) (uint64, bool) {
	if !w.fits(addr) {
		return 0, false
	}
	return w.mem.Read(addr, w.arch.ptrSize)
}

// readable reports whether a pointer-sized word at addr is in stack memory.
func (w *walker) readable(addr uint64) bool {
	_, ok := w.read(addr)
	return ok
}

// canonical maps a register name or alias to its canonical name, or "" when
// the CPU has no such register.
func (w *walker) canonical(name string) string {
	if c, ok := w.arch.aliases[name]; ok {
		return c
	}
	if w.known[name] {
		return name
	}
	return ""
}

// Scan window sizes in pointer-sized words, as rust-minidump (and Breakpad)
// use them: 40 words normally, four times that when the callee is trusted
// enough that a long gap is more likely frames without unwind information
// (JIT code) than garbage.
const (
	scanWords         = 40
	extendedScanWords = scanWords * 4
)

// scanWindow returns how many words to scan above the callee's stack
// pointer. rust-minidump extends the window after the context frame (the
// first frame of an unwind can be messy) and, on amd64 and arm64, after a
// frame found by CFI as well (to skip JIT frames between two frames with
// unwind information).
func scanWindow(callee *Frame, afterCFI bool) uint64 {
	if callee.Trust == TrustContext || (afterCFI && callee.Trust == TrustCFI) {
		return extendedScanWords
	}
	return scanWords
}

// seemsValidBySymbols is the module and symbol half of rust-minidump's
// "instruction seems valid" test for a scanned candidate return address.
//
// It checks the address one before the candidate, inside the call
// instruction: a call to a function that never returns may be the last
// instruction of its function, so its return address can lie past the
// function's end (observed with +[NSThread exit]); Breakpad subtracts one
// for the same reason. The address must lie in a loaded module (rejecting
// pointers into JIT code, heap and stack), and when that module has symbols,
// a function must cover it. A module without symbols accepts any address so
// that scanning still works without symbols.
func (w *walker) seemsValidBySymbols(candidate uint64) bool {
	if candidate <= 1 { // the address before it is null, or does not exist
		return false
	}
	if w.mods == nil {
		return false
	}
	inModule, hasSymbols, inFunction := w.mods.Code(candidate - 1)
	if !inModule {
		return false
	}
	return !hasSymbols || inFunction
}

// byCFI evaluates the CFI covering callee.Instruction, as rust-minidump's
// CFI walker does, and returns the caller's registers. Nothing about the
// result is validated beyond the evaluation succeeding: rust-minidump trusts
// CFI blindly, as Breakpad does, so that walks can continue through code it
// knows nothing about until CFI applies again.
//
// The caller starts with the callee's callee-saved registers that are valid
// in the callee (the rules may override or, through RuleLister, drop them);
// the instruction and stack pointers are never forwarded. ".cfa" becomes the
// caller's stack pointer and ".ra" its instruction pointer; then every other
// recovered register of the CPU is set, so a rule naming the stack or
// instruction pointer explicitly wins over ".cfa"/".ra". Registers the CPU
// does not have, and values too wide for a 32-bit CPU, are ignored; a
// ".cfa" or ".ra" too wide fails the method.
//
// get answers the rules' register questions from callee's registers; hide
// names a register the rules must not see (arm64's guessed lr), and extra
// adds pseudo-registers (x86's STACK WIN inputs).
func (w *walker) byCFI(callee *Frame, hide string, extra map[string]uint64) (map[string]uint64, bool) {
	if w.mods == nil {
		return nil, false
	}
	rules := w.mods.CFI(callee.Instruction)
	if rules == nil {
		return nil, false
	}
	if hide != "" {
		if fs, ok := rules.(FunctionStarter); ok && fs.AtFunctionStart() {
			hide = ""
		}
	}
	get := func(name string) (uint64, bool) {
		if v, ok := extra[name]; ok {
			return v, true
		}
		c := w.canonical(name)
		if c == "" || c == hide {
			return 0, false
		}
		v, ok := callee.Registers[c]
		return v, ok
	}
	out, err := rules.Unwind(get, w.mem)
	if err != nil {
		return nil, false
	}
	cfa, okCFA := out[".cfa"]
	ra, okRA := out[".ra"]
	if !okCFA || !okRA || !w.fits(cfa) || !w.fits(ra) {
		return nil, false
	}

	lister, _ := rules.(RuleLister)
	caller := make(map[string]uint64, len(w.arch.calleeSaved)+len(out))
	for _, r := range w.arch.calleeSaved {
		v, ok := callee.Registers[r]
		if !ok {
			continue
		}
		if lister != nil && w.mentioned(lister, r) {
			continue
		}
		caller[r] = v
	}
	caller[w.arch.sp] = cfa
	caller[w.arch.ip] = ra
	// Canonical names first, then aliases only where the canonical name is
	// absent, so the outcome does not depend on map order.
	for name, v := range out {
		if w.known[name] && w.fits(v) {
			caller[name] = v
		}
	}
	for name, v := range out {
		c, ok := w.arch.aliases[name]
		if !ok || !w.fits(v) {
			continue
		}
		if _, dup := out[c]; !dup {
			caller[c] = v
		}
	}
	return caller, true
}

// mentioned asks a RuleLister about a register under its canonical name and
// its aliases.
func (w *walker) mentioned(l RuleLister, reg string) bool {
	if l.HasRule(reg) {
		return true
	}
	for alias, c := range w.arch.aliases {
		if c == reg && l.HasRule(alias) {
			return true
		}
	}
	return false
}

// newCaller builds a caller frame from its registers; Instruction is set by
// the CPU's final step.
func newCaller(regs map[string]uint64, trust string, ip string) Frame {
	return Frame{Resume: regs[ip], Trust: trust, Registers: regs}
}
