package breakpad

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// WinRecord is a STACK WIN record: how to unwind 32-bit x86 code described
// by Windows FPO (type 0) or FrameData (type 4) debug information.
type WinRecord struct {
	Type          int    // 0 (FPO) or 4 (FrameData)
	Start, Size   uint64 // module-relative range covered
	PrologSize    uint32
	EpilogSize    uint32
	ParamsSize    uint32 // bytes of arguments the function takes
	SavedRegsSize uint32 // bytes of callee-saved registers it pushes
	LocalsSize    uint32 // bytes of locals
	MaxStackSize  uint32
	// ProgramString recovers the caller's registers (type 4), e.g.
	// "$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + =".
	ProgramString string
	// AllocatesBasePointer says whether an FPO function (type 0) saves %ebp
	// and uses it as a general register.
	AllocatesBasePointer bool
}

func (p *parser) stackWin(raw string) {
	s := trim(raw)
	c := cursor{s[len("STACK WIN"):]}
	const rec = "STACK WIN"
	if !c.space() {
		p.stackFail(rec, "malformed")
		return
	}
	// symbolic reads a type of one character 0-4; any other word is an
	// unknown type, which it keeps and everyone ignores.
	w := c.word()
	typ := -1
	if w[0] >= '0' && w[0] <= '4' {
		if len(w) != 1 {
			p.stackFail(rec, "type %q is not one of 0-4", w)
			return
		}
		typ = int(w[0] - '0')
	}
	if !c.space() {
		p.stackFail(rec, "nothing after the type")
		return
	}
	var v [8]uint64
	for i, f := range [8]struct {
		what string
		bits int
	}{{"rva", 32}, {"code size", 32}, {"prolog size", 16}, {"epilog size", 16}, {"parameter size", 32}, {"saved register size", 16}, {"local size", 32}, {"max stack size", 32}} {
		x, err := c.hexField(f.what, f.bits, true)
		if err != nil {
			p.stackFail(rec, "%v", err)
			return
		}
		v[i] = x
	}
	hasProgram := c.word() != "0"
	if !c.space() {
		p.stackFail(rec, "nothing after has_program_string")
		return
	}
	r := WinRecord{
		Type: typ, Start: v[0], Size: v[1],
		PrologSize: uint32(v[2]), EpilogSize: uint32(v[3]), ParamsSize: uint32(v[4]),
		SavedRegsSize: uint32(v[5]), LocalsSize: uint32(v[6]), MaxStackSize: uint32(v[7]),
	}
	if hasProgram {
		if !utf8.ValidString(c.s) {
			p.stackFail(rec, "not UTF-8")
			return
		}
		r.ProgramString = c.s
	} else {
		r.AllocatesBasePointer = c.word() != "0"
		if c.s != "" {
			p.stackFail(rec, "unexpected %q after allocates_base_pointer", trim(c.s))
			return
		}
	}
	// rust-minidump discards records whose type and has_program_string
	// disagree, and ignores types other than 0 and 4.
	if (typ == 4) != hasProgram || (typ != 0 && typ != 4) {
		return
	}
	p.rawWin = append(p.rawWin, r)
}

// splitWin separates FrameData and FPO records and resolves overlaps the way
// rust-minidump does: a record overlapping the previous one of its type and
// starting later cuts that one short (PDBs often give every record of a
// function the function's whole length); one starting at or before it is
// dropped unless identical; then the first in address order wins.
func splitWin(recs []WinRecord) (fd, fpo []WinRecord) {
	add := func(list []WinRecord, r WinRecord) []WinRecord {
		if r.Size == 0 {
			return list
		}
		if n := len(list); n > 0 {
			last := &list[n-1]
			if overlap(last.Start, last.Size, r.Start, r.Size) {
				if r.Start > last.Start {
					last.Size = r.Start - last.Start
				} else if last.Start != r.Start || last.Size != r.Size {
					return list
				}
			}
		}
		return append(list, r)
	}
	for _, r := range recs {
		if r.Type == 4 {
			fd = add(fd, r)
		} else {
			fpo = add(fpo, r)
		}
	}
	span := func(r *WinRecord) (uint64, uint64) { return r.Start, r.Size }
	return dropOverlaps(fd, span), dropOverlaps(fpo, span)
}

func overlap(a, an, b, bn uint64) bool {
	aEnd, bEnd := a+an-1, b+bn-1 // inclusive; sizes are non-zero
	if aEnd < a {
		aEnd = ^uint64(0)
	}
	if bEnd < b {
		bEnd = ^uint64(0)
	}
	return a <= bEnd && b <= aEnd
}

// Win returns the STACK WIN record covering addr, a module-relative
// address: a FrameData record (type 4) when there is one, else an FPO
// record (type 0), the preference of Breakpad and rust-minidump. ok is
// false when none covers addr (or StackErr is set).
func (f *File) Win(addr uint64) (r *WinRecord, ok bool) {
	for _, list := range [2][]WinRecord{f.winFD, f.winFPO} {
		i := sort.Search(len(list), func(i int) bool { return list[i].Start > addr }) - 1
		if i < 0 {
			continue
		}
		w := list[i]
		if addr-w.Start < w.Size {
			return &w, true
		}
	}
	return nil, false
}

// The programs Breakpad evaluates for FPO records: eip is the word at
// .raSearchStart and esp the address above it; an FPO function that
// allocates %ebp saved it at the bottom of its saved-register area, one that
// does not leaves the caller's %ebp untouched.
const (
	fpoProgramBP   = "$eip .raSearchStart ^ = $ebp $esp .cbCalleeParams + .cbSavedRegs + 8 - ^ = $esp .raSearchStart 4 + ="
	fpoProgramNoBP = "$eip .raSearchStart ^ = $esp .raSearchStart 4 + ="
)

// x86Regs are the registers Breakpad takes from a STACK WIN program.
var x86Regs = [...]string{"eip", "esp", "ebp", "ebx", "esi", "edi"}

// Unwind computes the caller's registers of a 32-bit x86 frame, with the
// same contract as Rules.Unwind, the way Breakpad's x86 stack walker
// evaluates STACK WIN records. It runs the record's program string (type 4),
// or for type 0 the program Breakpad uses for FPO data.
//
// get supplies the callee's registers by canonical name (esp and ebp are
// required, ebx is used when present) and these values the walker knows:
//
//	.cbCalleeParams  parameter size of the callee's callee (default 0)
//	.raSearchStart   where the return address is expected. Breakpad starts
//	                 from esp + .cbCalleeParams + .cbLocals + .cbSavedRegs,
//	                 moves it to the first of the next words that looks like
//	                 a return address, and uses ebp + 4 instead when the
//	                 program aligns (contains "@"); the default is the
//	                 unadjusted start.
//	.raSearch        default .raSearchStart
//
// .cbParams, .cbSavedRegs and .cbLocals come from the record. Programs
// assign with "=" to $-variables ($T0, $eip, ...), and "=" glued to the
// next token ("=$eip") is split, as Breakpad does for MSVC output.
//
// The result holds eip, esp and ebp, and ebx, esi and edi when the program
// assigns them, plus ".ra" (eip) and ".cfa" (esp). ebp is the callee's when
// the program leaves it alone, as in Breakpad; an FPO function that does
// not allocate %ebp also passes ebx through. Unwind fails when the program
// fails, leaves values on its stack, or does not set $eip and $esp.
// Arithmetic is 32-bit and ^ reads 4 bytes.
func (w *WinRecord) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	esp, ok1 := get("esp")
	ebp, ok2 := get("ebp")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("breakpad: STACK WIN at %#x: callee esp and ebp are required", w.Start)
	}
	ebx, haveEBX := get("ebx")
	program := w.ProgramString
	if w.Type == 0 {
		program = fpoProgramNoBP
		if w.AllocatesBasePointer {
			program = fpoProgramBP
		} else if haveEBX {
			program += " $ebx $ebx ="
		}
	}
	ev := winEval{vars: map[string]uint32{}, mem: mem}
	ev.vars["$esp"] = uint32(esp)
	ev.vars["$ebp"] = uint32(ebp)
	if haveEBX {
		ev.vars["$ebx"] = uint32(ebx)
	}
	calleeParams := uint32(0)
	if v, ok := get(".cbCalleeParams"); ok {
		calleeParams = uint32(v)
	}
	raSearchStart := uint32(esp) + calleeParams + w.LocalsSize + w.SavedRegsSize
	if v, ok := get(".raSearchStart"); ok {
		raSearchStart = uint32(v)
	}
	raSearch := raSearchStart
	if v, ok := get(".raSearch"); ok {
		raSearch = uint32(v)
	}
	ev.vars[".cbCalleeParams"] = calleeParams
	ev.vars[".cbParams"] = w.ParamsSize
	ev.vars[".cbSavedRegs"] = w.SavedRegsSize
	ev.vars[".cbLocals"] = w.LocalsSize
	ev.vars[".raSearchStart"] = raSearchStart
	ev.vars[".raSearch"] = raSearch

	if err := ev.run(program); err != nil {
		return nil, fmt.Errorf("breakpad: STACK WIN at %#x: %q: %v", w.Start, program, err)
	}
	if !ev.assigned["$eip"] || !ev.assigned["$esp"] {
		return nil, fmt.Errorf("breakpad: STACK WIN at %#x: %q does not set $eip and $esp", w.Start, program)
	}
	out := map[string]uint64{}
	for _, r := range x86Regs {
		if ev.assigned["$"+r] || r == "ebp" {
			out[r] = uint64(ev.vars["$"+r])
		}
	}
	out[".ra"] = out["eip"]
	out[".cfa"] = out["esp"]
	return out, nil
}

type winEval struct {
	vars     map[string]uint32
	assigned map[string]bool
	mem      interface {
		Read(addr uint64, size int) (uint64, bool)
	}
	stack []winVal
}

// winVal is an operand: a literal value, or an identifier looked up when
// an operator needs its value (so that "=" can assign to it).
type winVal struct {
	ident string
	val   uint32
}

// maxVars bounds the variables a program may create.
const maxVars = 64

func (e *winEval) run(program string) error {
	e.assigned = map[string]bool{}
	e.stack = make([]winVal, 0, 16)
	c := cursor{program}
	c.space()
	for c.s != "" {
		tok := c.word()
		c.space()
		if len(tok) > 1 && tok[0] == '=' {
			if err := e.token("="); err != nil {
				return err
			}
			tok = tok[1:]
		}
		if err := e.token(tok); err != nil {
			return err
		}
	}
	if len(e.stack) != 0 {
		return fmt.Errorf("%d values left on the stack", len(e.stack))
	}
	return nil
}

func (e *winEval) pop() (winVal, error) {
	if len(e.stack) == 0 {
		return winVal{}, errors.New("operand stack underflow")
	}
	v := e.stack[len(e.stack)-1]
	e.stack = e.stack[:len(e.stack)-1]
	return v, nil
}

func (e *winEval) popValue() (uint32, error) {
	v, err := e.pop()
	if err != nil {
		return 0, err
	}
	if v.ident == "" {
		return v.val, nil
	}
	x, ok := e.vars[v.ident]
	if !ok {
		return 0, fmt.Errorf("%s is not set", v.ident)
	}
	return x, nil
}

func (e *winEval) push(v winVal) error {
	if len(e.stack) == maxStack {
		return errors.New("operand stack overflow")
	}
	e.stack = append(e.stack, v)
	return nil
}

func (e *winEval) token(tok string) error {
	switch tok {
	case "+", "-", "*", "/", "%", "@":
		b, err := e.popValue()
		if err != nil {
			return err
		}
		a, err := e.popValue()
		if err != nil {
			return err
		}
		var v uint32
		switch tok {
		case "+":
			v = a + b
		case "-":
			v = a - b
		case "*":
			v = a * b
		case "/", "%":
			if b == 0 {
				return errors.New("division by zero")
			}
			if tok == "/" {
				v = a / b
			} else {
				v = a % b
			}
		case "@":
			if b == 0 || b&(b-1) != 0 {
				return fmt.Errorf("cannot align to %d, not a power of two", b)
			}
			v = a &^ (b - 1)
		}
		return e.push(winVal{val: v})
	case "^":
		a, err := e.popValue()
		if err != nil {
			return err
		}
		if e.mem == nil {
			return fmt.Errorf("no memory to read %#x", a)
		}
		x, ok := e.mem.Read(uint64(a), 4)
		if !ok {
			return fmt.Errorf("cannot read memory at %#x", a)
		}
		return e.push(winVal{val: uint32(x)})
	case "=":
		v, err := e.popValue()
		if err != nil {
			return err
		}
		id, err := e.pop()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(id.ident, "$") {
			return fmt.Errorf("cannot assign to %q", id.ident)
		}
		if _, ok := e.vars[id.ident]; !ok && len(e.vars) >= maxVars {
			return errors.New("too many variables")
		}
		e.vars[id.ident] = v
		e.assigned[id.ident] = true
		return nil
	}
	if x, ok := parseInt(tok); ok && (x <= 0xffffffff || x >= 0xffffffff80000000) {
		return e.push(winVal{val: uint32(x)})
	}
	if tok[0] != '$' && tok[0] != '.' {
		return fmt.Errorf("unknown token %q", tok)
	}
	return e.push(winVal{ident: tok})
}
