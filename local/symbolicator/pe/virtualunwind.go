package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Memory is the stack of the thread being unwound. Read returns the
// little-endian value of size bytes (8 here) at addr, and false when any
// of them cannot be read. It has the method set of the stack walker's
// memory, so the walker's memory serves as is.
type Memory interface {
	Read(addr uint64, size int) (uint64, bool)
}

// Context is the x64 register state RtlVirtualUnwind works on.
type Context struct {
	RIP uint64
	// GPR holds the integer registers by Reg: RAX, RCX, RDX, RBX, RSP,
	// RBP, RSI, RDI, R8…R15.
	GPR [16]uint64
	// XMM holds XMM0–XMM15 as (low, high) 64-bit halves.
	XMM [16][2]uint64
}

// Position says where in its function an address was when it was
// unwound; it decides which unwind codes apply.
type Position uint8

const (
	// InBody: past the prologue and not in an epilogue; every code
	// applies.
	InBody Position = iota
	// InPrologue: only the codes of prologue instructions already
	// executed apply.
	InPrologue
	// InEpilogue: the epilogue's remaining instructions were emulated.
	InEpilogue
	// Leaf: no .pdata entry covers the address; the return address is at
	// RSP (File.VirtualUnwind only).
	Leaf
)

func (p Position) String() string {
	switch p {
	case InBody:
		return "body"
	case InPrologue:
		return "prologue"
	case InEpilogue:
		return "epilogue"
	case Leaf:
		return "leaf"
	}
	return fmt.Sprintf("Position(%d)", uint8(p))
}

// Unwound is the result of unwinding one frame.
type Unwound struct {
	// Context is the caller's: RIP is the return address, RSP the
	// caller's stack pointer, and every register the unwind codes (or the
	// epilogue) restore holds its saved value; the others are the
	// callee's, which the x64 calling convention makes the caller's for
	// nonvolatile registers.
	Context
	// EstablisherFrame is the frame base the function's SAVE_* codes are
	// relative to (RtlVirtualUnwind's EstablisherFrame): RSP after the
	// prologue, or the frame register minus FrameOffset.
	EstablisherFrame uint64
	// GPRFrom and XMMFrom give the stack address each restored register
	// was read from (the role of KNONVOLATILE_CONTEXT_POINTERS); 0 for
	// registers not restored.
	GPRFrom [16]uint64
	XMMFrom [16]uint64
	// Position is where in its function the address was.
	Position Position
	// MachineFrame reports that RIP and RSP came from a machine frame
	// (PUSH_MACHFRAME: an interrupt or exception frame) instead of a
	// return address.
	MachineFrame bool
}

// Rules are the unwind rules of the function covering one address: the
// .pdata entry, its UNWIND_INFO and those of its chained parents.
//
// VirtualUnwind unwinds as RtlVirtualUnwind does at that address.
// BodyUnwind and Unwind unwind as if the address were in the function's
// body, which is what Symbolicator's stack walk does: symbolic converts
// each RUNTIME_FUNCTION into one Breakpad STACK CFI INIT record holding the
// rules after the whole prologue, with no record for prologue or epilogue
// instructions.
//
// Rules satisfy the stack walker's rules interface (Unwind) and its
// optional RuleLister (HasRule). The walker looks a caller up by its return
// address minus one, which lies inside the call instruction; that is only
// right for rules that ignore where in the function an address is, one
// more reason Unwind is the body form.
type Rules struct {
	// RVA is the address the rules were looked up for.
	RVA uint32
	// Function is the .pdata entry covering RVA, indirect entries
	// followed.
	Function RuntimeFunction
	// Info is Function's UNWIND_INFO; Chain holds the parents' (entry and
	// info), innermost first. Both are nil when err is set.
	Info  *UnwindInfo
	Chain []ChainLink

	f   *File
	err error
}

// ChainLink is one chained parent: its .pdata entry and UNWIND_INFO.
type ChainLink struct {
	Function RuntimeFunction
	Info     *UnwindInfo
}

// Rules returns the unwind rules covering rva, or false when no .pdata
// entry covers it (a leaf function, or an image without x64 unwind
// information). An UNWIND_INFO that cannot be decoded does not hide the
// entry: its error comes back from the unwind methods.
//
// symbolic drops a whole image's unwind information when one UNWIND_INFO
// cannot be read; here only the functions that use it are affected.
func (f *File) Rules(rva uint32) (*Rules, bool) {
	rf, ok := f.FunctionAt(rva)
	if !ok {
		return nil, false
	}
	r := &Rules{RVA: rva, f: f}
	r.Function, r.err = f.resolve(rf)
	if r.err != nil {
		r.Function = rf
		return r, true
	}
	r.Info, r.err = f.decodeUnwindInfo(r.Function.UnwindData)
	info := r.Info
	for info != nil && info.Chained != nil && r.err == nil {
		if len(r.Chain) == maxChain {
			r.err = malformed(fmt.Sprintf("RUNTIME_FUNCTION %#x-%#x", rf.Begin, rf.End), "more than %d chained UNWIND_INFO (a loop?)", maxChain)
			break
		}
		parent, err := f.resolve(*info.Chained)
		if err != nil {
			r.err = err
			break
		}
		info, r.err = f.decodeUnwindInfo(parent.UnwindData)
		if r.err == nil {
			r.Chain = append(r.Chain, ChainLink{parent, info})
		}
	}
	if r.err != nil {
		r.Info, r.Chain = nil, nil
	}
	return r, true
}

// Err returns the error that makes the rules unusable (an UNWIND_INFO
// that cannot be decoded), or nil.
func (r *Rules) Err() error { return r.err }

// UnreadableError reports a stack read that failed during an unwind.
type UnreadableError struct {
	Addr uint64
	What string // e.g. "return address", "saved rbx"
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("pe unwind: cannot read the %s at %#x", e.What, e.Addr)
}

// errUnknownReg is wrapped when a register the unwind needs is unknown.
var errUnknownReg = errors.New("register unknown")

// state is the register state during one unwind.
type state struct {
	Context
	known   uint16 // bit i: GPR[i] is known
	restore uint16 // bit i: GPR[i] was restored
	from    [16]uint64
	xfrom   [16]uint64
	mem     Memory
	// lenient makes a save slot that cannot be read drop the register
	// (it becomes unknown) instead of failing the unwind, as Breakpad
	// rules evaluation does.
	lenient bool
}

func (s *state) reg(r Reg) (uint64, error) {
	if s.known&(1<<r) == 0 {
		return 0, fmt.Errorf("pe unwind: the callee's %s is needed: %w", r, errUnknownReg)
	}
	return s.GPR[r], nil
}

func (s *state) read(addr uint64, what string) (uint64, error) {
	v, ok := s.mem.Read(addr, 8)
	if !ok {
		return 0, &UnreadableError{Addr: addr, What: what}
	}
	return v, nil
}

// restoreGPR loads r from its save slot.
func (s *state) restoreGPR(r Reg, addr uint64) error {
	v, err := s.read(addr, "saved "+r.String())
	if err != nil {
		if !s.lenient || r == RSP {
			return err
		}
		s.known &^= 1 << r
		s.restore |= 1 << r
		s.from[r] = addr
		return nil
	}
	s.GPR[r] = v
	s.known |= 1 << r
	s.restore |= 1 << r
	s.from[r] = addr
	return nil
}

func (s *state) restoreXMM(r Reg, addr uint64) error {
	lo, ok1 := s.mem.Read(addr, 8)
	hi, ok2 := s.mem.Read(addr+8, 8)
	if !ok1 || !ok2 {
		if s.lenient {
			return nil
		}
		return &UnreadableError{Addr: addr, What: fmt.Sprintf("saved xmm%d", r&15)}
	}
	s.XMM[r&15] = [2]uint64{lo, hi}
	s.xfrom[r&15] = addr
	return nil
}

func (s *state) rsp() (uint64, error) { return s.reg(RSP) }

func (s *state) setRSP(v uint64) {
	s.GPR[RSP] = v
	s.known |= 1 << RSP
}

// VirtualUnwind computes the caller's context as RtlVirtualUnwind does
// for an instruction at r.RVA (the RIP of the innermost frame, or a
// caller's return address): in the prologue only the codes of executed
// instructions apply; in an epilogue (recognised from the code bytes as
// Windows recognises it: add rsp or lea rsp, pops, then ret, a jmp out of
// the function or an indirect jmp) the rest of the epilogue is emulated;
// elsewhere every code applies, chained parents included. Every register
// the unwind needs must be in ctx, and every stack read must succeed.
func (r *Rules) VirtualUnwind(ctx *Context, mem Memory) (*Unwound, error) {
	s := state{Context: *ctx, known: 0xffff, mem: mem}
	return r.unwind(&s, false)
}

// BodyUnwind computes the caller's context as if r.RVA were in the
// function's body: every code applies and no epilogue is looked for. This
// is Symbolicator's reading of x64 unwind information.
func (r *Rules) BodyUnwind(ctx *Context, mem Memory) (*Unwound, error) {
	s := state{Context: *ctx, known: 0xffff, mem: mem}
	return r.unwind(&s, true)
}

// Unwind is BodyUnwind on registers by name, for the stack walker. get
// returns a callee register by its lower-case name ("rsp", "rbp", "r12",
// "rip"). The result holds ".cfa" (the caller's rsp), ".ra" (the return
// address) and every register the codes restore; a register whose save
// slot cannot be read is left out, as Breakpad leaves out a register whose
// rule fails. Unwind fails when a register it needs (rsp, the frame
// register) is unknown or the return address cannot be read.
func (r *Rules) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	s := state{mem: mem, lenient: true}
	for i, name := range regNames {
		if v, ok := get(name); ok {
			s.GPR[i] = v
			s.known |= 1 << i
		}
	}
	s.RIP, _ = get("rip")
	u, err := r.unwind(&s, true)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{".cfa": u.GPR[RSP], ".ra": u.RIP}
	for i := range regNames {
		if i != int(RSP) && s.restore&(1<<i) != 0 && s.known&(1<<i) != 0 {
			out[regNames[i]] = u.GPR[i]
		}
	}
	return out, nil
}

// HasRule reports whether the codes restore the register named (a push or
// a save of it anywhere in the function or its chained parents).
func (r *Rules) HasRule(name string) bool {
	if r.err != nil {
		return false
	}
	for _, info := range r.infos() {
		for _, c := range info.Codes {
			switch c.Op {
			case OpPushNonvol, OpSaveNonvol, OpSaveNonvolFar:
				if c.Reg.String() == name {
					return true
				}
			}
		}
	}
	return false
}

func (r *Rules) infos() []*UnwindInfo {
	out := []*UnwindInfo{r.Info}
	for _, l := range r.Chain {
		out = append(out, l.Info)
	}
	return out
}

// unwind is RtlVirtualUnwind (as in the Windows Research Kernel's
// RtlVirtualUnwind and RtlpUnwindPrologue), with body forcing every code
// to apply and no epilogue check.
func (r *Rules) unwind(s *state, body bool) (*Unwound, error) {
	if r.err != nil {
		return nil, r.err
	}
	info := r.Info
	prolog := r.RVA - r.Function.Begin
	if body {
		prolog = ^uint32(0)
	}

	// The establisher frame: RSP, or the frame register minus its offset
	// once SET_FPREG has executed.
	var frame uint64
	var err error
	useFP := false
	if info.HasFrameRegister {
		if prolog >= uint32(info.PrologSize) || info.Flags&FlagChainInfo != 0 {
			useFP = true
		} else {
			for _, c := range info.Codes {
				if c.Op == OpSetFPReg {
					useFP = prolog >= uint32(c.CodeOffset)
					break
				}
			}
		}
	}
	if useFP {
		fp, err := s.reg(info.FrameRegister)
		if err != nil {
			return nil, err
		}
		frame = fp - uint64(info.FrameOffset)
	} else if frame, err = s.rsp(); err != nil {
		return nil, err
	}

	u := &Unwound{EstablisherFrame: frame}
	if !body && prolog >= uint32(info.PrologSize) {
		if ok, err := r.epilogue(s, info); err != nil {
			return nil, err
		} else if ok {
			u.Position = InEpilogue
			return r.finish(s, u), nil
		}
	}
	if prolog < uint32(info.PrologSize) {
		u.Position = InPrologue
	}

	machine := false
	fn := r.Function
	for link := 0; ; link++ {
		for _, c := range info.Codes {
			if c.Op == OpEpilog || prolog < uint32(c.CodeOffset) {
				continue
			}
			switch c.Op {
			case OpPushNonvol:
				sp, err := s.rsp()
				if err != nil {
					return nil, err
				}
				if err := s.restoreGPR(c.Reg, sp); err != nil {
					return nil, err
				}
				s.setRSP(s.GPR[RSP] + 8) // a pushed rsp pops into rsp, then the pop adds 8
			case OpAllocSmall, OpAllocLarge:
				sp, err := s.rsp()
				if err != nil {
					return nil, err
				}
				s.setRSP(sp + uint64(c.Value))
			case OpSetFPReg:
				fp, err := s.reg(info.FrameRegister)
				if err != nil {
					return nil, err
				}
				s.setRSP(fp - uint64(info.FrameOffset))
			case OpSaveNonvol, OpSaveNonvolFar:
				if err := s.restoreGPR(c.Reg, frame+uint64(c.Value)); err != nil {
					return nil, err
				}
			case OpSaveXMM128, OpSaveXMM128Far:
				if err := s.restoreXMM(c.Reg, frame+uint64(c.Value)); err != nil {
					return nil, err
				}
			case OpPushMachFrame:
				sp, err := s.rsp()
				if err != nil {
					return nil, err
				}
				if c.Value != 0 {
					sp += 8 // the error code
				}
				ip, err := s.read(sp, "machine frame's rip")
				if err != nil {
					return nil, err
				}
				nsp, err := s.read(sp+24, "machine frame's rsp")
				if err != nil {
					return nil, err
				}
				s.RIP = ip
				s.setRSP(nsp)
				machine = true
			}
		}
		if link == len(r.Chain) {
			break
		}
		fn, info = r.Chain[link].Function, r.Chain[link].Info
		if !body {
			prolog = r.RVA - fn.Begin
		}
	}
	if !machine {
		sp, err := s.rsp()
		if err != nil {
			return nil, err
		}
		ra, err := s.read(sp, "return address")
		if err != nil {
			return nil, err
		}
		s.RIP = ra
		s.setRSP(sp + 8)
	}
	u.MachineFrame = machine
	return r.finish(s, u), nil
}

func (r *Rules) finish(s *state, u *Unwound) *Unwound {
	u.Context = s.Context
	u.GPRFrom = s.from
	u.XMMFrom = s.xfrom
	return u
}

// Opcode bytes the epilogue check looks for.
const (
	rexW       = 0x48
	opAddImm8  = 0x83
	opAddImm32 = 0x81
	opLea      = 0x8d
	opPop      = 0x58
	opRet      = 0xc3
	opRetImm   = 0xc2
	opRep      = 0xf3
	opJmp8     = 0xeb
	opJmp32    = 0xe9
	opJmpInd   = 0xff
	// maxEpilogue bounds the bytes examined: an add or lea (7 bytes),
	// pops of all 16 registers (2 bytes each), and the final jump.
	maxEpilogue = 7 + 16*2 + 16
)

// epilogue recognises and emulates an epilogue at r.RVA as
// RtlVirtualUnwind does; ok is false when r.RVA is not in one.
func (r *Rules) epilogue(s *state, info *UnwindInfo) (ok bool, err error) {
	code, _ := r.f.span(r.RVA, maxEpilogue)
	at := func(i int) int {
		if i < len(code) {
			return int(code[i])
		}
		return -1
	}
	i := 0
	frameReg := Reg(0)
	switch {
	case at(0) == rexW && at(1) == opAddImm8 && at(2) == 0xc4:
		i = 4
	case at(0) == rexW && at(1) == opAddImm32 && at(2) == 0xc4:
		i = 7
	case at(0)&0xfe == rexW && at(1) == opLea && at(2) >= 0:
		frameReg = Reg((at(0)&1)<<3 | at(2)&7)
		if frameReg != 0 && info.HasFrameRegister && frameReg == info.FrameRegister {
			switch at(2) & 0xf8 {
			case 0x60:
				i = 4
			case 0xa0:
				i = 7
			}
		}
	}
	for {
		if b := at(i); b >= 0 && b&0xf8 == opPop {
			i++
		} else if b >= 0 && b&0xf0 == 0x40 && at(i+1) >= 0 && at(i+1)&0xf8 == opPop {
			i += 2
		} else {
			break
		}
	}
	switch b := at(i); {
	case b == opRet || b == opRetImm || (b == opRep && at(i+1) == opRet):
		ok = true
	case b == opJmp8 || b == opJmp32:
		target := int64(r.RVA) + int64(i)
		if b == opJmp8 {
			if at(i+1) < 0 {
				return false, nil
			}
			target += 2 + int64(int8(at(i+1)))
		} else {
			d, ok := r.f.bytesAt(r.RVA+uint32(i)+1, 4)
			if !ok {
				return false, nil
			}
			target += 5 + int64(int32(binary.LittleEndian.Uint32(d)))
		}
		t := uint32(target)
		if target < 0 || target > 0xffffffff {
			ok = true // outside the image: a jump to another function
		} else if !r.Function.Contains(t) {
			primary, same := r.f.sameFunction(r.Function, t)
			ok = !same || t == primary.Begin
		} else {
			ok = t == r.Function.Begin && info.Flags&FlagChainInfo == 0
		}
	case b == opJmpInd && at(i+1) == 0x25:
		ok = true // jmp [rip+disp32]: a tail call through the import table
	case b >= 0 && b&0xf8 == rexW && at(i+1) == opJmpInd && at(i+2) >= 0 && at(i+2)&0x38 == 0x20:
		ok = true // rex.w jmp r/m64: marks a tail call
	}
	if !ok {
		return false, nil
	}

	// Emulate the epilogue from r.RVA.
	i = 0
	if at(0)&0xf8 == rexW {
		switch at(1) {
		case opAddImm8:
			sp, err := s.rsp()
			if err != nil {
				return false, err
			}
			s.setRSP(sp + uint64(int64(int8(at(3)))))
			i = 4
		case opAddImm32:
			sp, err := s.rsp()
			if err != nil {
				return false, err
			}
			s.setRSP(sp + uint64(int64(int32(binary.LittleEndian.Uint32(code[3:7])))))
			i = 7
		case opLea:
			var disp int64
			switch at(2) & 0xf8 {
			case 0x60:
				disp, i = int64(int8(at(3))), 4
			case 0xa0:
				disp, i = int64(int32(binary.LittleEndian.Uint32(code[3:7]))), 7
			}
			if i != 0 {
				fp, err := s.reg(frameReg)
				if err != nil {
					return false, err
				}
				s.setRSP(fp + uint64(disp))
			}
		}
	}
	for {
		var reg Reg
		if b := at(i); b&0xf8 == opPop {
			reg, i = Reg(b&7), i+1
		} else if b&0xf0 == 0x40 && at(i+1)&0xf8 == opPop {
			reg, i = Reg((b&1)<<3|at(i+1)&7), i+2
		} else {
			break
		}
		sp, err := s.rsp()
		if err != nil {
			return false, err
		}
		if err := s.restoreGPR(reg, sp); err != nil {
			return false, err
		}
		s.setRSP(s.GPR[RSP] + 8)
	}
	sp, err := s.rsp()
	if err != nil {
		return false, err
	}
	ra, err := s.read(sp, "return address")
	if err != nil {
		return false, err
	}
	s.RIP = ra
	s.setRSP(sp + 8)
	return true, nil
}

// primary follows a function entry's chain to the entry that holds the
// prologue.
func (f *File) primary(rf RuntimeFunction) (RuntimeFunction, bool) {
	for n := 0; n <= maxChain; n++ {
		r, err := f.resolve(rf)
		if err != nil {
			return rf, false
		}
		info, err := f.decodeUnwindInfo(r.UnwindData)
		if err != nil {
			return rf, false
		}
		if info.Chained == nil {
			return r, true
		}
		rf = *info.Chained
	}
	return rf, false
}

// sameFunction is RtlpSameFunction: whether target lies in the function
// (primary entry and chained fragments) rf belongs to, and that function's
// primary entry.
func (f *File) sameFunction(rf RuntimeFunction, target uint32) (RuntimeFunction, bool) {
	p1, ok := f.primary(rf)
	if !ok {
		return rf, false
	}
	tf, ok := f.FunctionAt(target)
	if !ok {
		return p1, false
	}
	p2, ok := f.primary(tf)
	if !ok || p1 != p2 {
		return p1, false
	}
	return p1, true
}

// VirtualUnwind unwinds the frame whose registers ctx holds, in an image
// loaded at imageBase: the .pdata entry covering ctx.RIP decides how
// (Rules.VirtualUnwind); without one the function is a leaf whose return
// address is at RSP, as Windows unwinds it.
func (f *File) VirtualUnwind(imageBase uint64, ctx *Context, mem Memory) (*Unwound, error) {
	rel := ctx.RIP - imageBase
	if ctx.RIP >= imageBase && rel <= 0xffffffff {
		if r, ok := f.Rules(uint32(rel)); ok {
			return r.VirtualUnwind(ctx, mem)
		}
	}
	s := state{Context: *ctx, known: 0xffff, mem: mem}
	sp := s.GPR[RSP]
	ra, err := s.read(sp, "return address")
	if err != nil {
		return nil, err
	}
	s.RIP = ra
	s.setRSP(sp + 8)
	return &Unwound{Context: s.Context, EstablisherFrame: sp, Position: Leaf}, nil
}
