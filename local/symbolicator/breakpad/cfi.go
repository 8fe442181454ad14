package breakpad

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// stack handles a line after the first STACK record.
func (p *parser) stack(raw string) {
	prev := p.curCFI
	p.curCFI = -1
	switch {
	case strings.HasPrefix(raw, "STACK CFI INIT"):
		p.cfiInit(raw)
	case strings.HasPrefix(raw, "STACK CFI"):
		// A delta belongs to the INIT record it follows without any other
		// line in between; others are ignored, malformed ones skipped.
		if prev >= 0 {
			p.curCFI = prev
			p.cfiDelta(raw, prev)
		}
	case strings.HasPrefix(raw, "STACK WIN"):
		p.stackWin(raw)
	}
}

func (p *parser) stackFail(record, format string, args ...any) {
	if p.f.StackErr == nil {
		p.f.StackErr = p.errorf(record, format, args...)
	}
}

func (p *parser) cfiInit(raw string) {
	s := trim(raw)
	c := cursor{s[len("STACK CFI INIT"):]}
	if !c.space() {
		p.stackFail("STACK CFI INIT", "malformed")
		return
	}
	addr, err := c.hexField("address", 64, true)
	if err != nil {
		p.stackFail("STACK CFI INIT", "%v", err)
		return
	}
	size, err := c.hexField("size", 64, true)
	if err != nil {
		p.stackFail("STACK CFI INIT", "%v", err)
		return
	}
	if !utf8.ValidString(c.s) {
		p.stackFail("STACK CFI INIT", "not UTF-8")
		return
	}
	p.f.cfi = append(p.f.cfi, cfiRec{addr: addr, size: size, rules: c.s})
	p.curCFI = len(p.f.cfi) - 1
}

func (p *parser) cfiDelta(raw string, init int) {
	s := trim(raw)
	c := cursor{s[len("STACK CFI"):]}
	if !c.space() {
		return
	}
	addr, err := c.hexField("address", 64, true)
	if err != nil || !utf8.ValidString(c.s) {
		return
	}
	p.pendingDeltas = append(p.pendingDeltas, pendingDelta{init: init, cfiDelta: cfiDelta{addr: addr, rules: c.s}})
}

// CFI returns the STACK CFI rules in effect at addr, a module-relative
// address as in the file: the rules of the STACK CFI INIT record covering
// addr, updated by each of its STACK CFI records at an address up to addr
// and inside the INIT range, a later rule for a register replacing an
// earlier one. ok is false when no INIT record covers addr (or StackErr is
// set). Of overlapping INIT records the one with the lowest start (then the
// shortest) counts, and the others are dropped, as rust-minidump does.
//
// The rules are parsed here; malformed rules make Unwind fail.
func (f *File) CFI(addr uint64) (r *Rules, ok bool) {
	i := sort.Search(len(f.cfi), func(i int) bool { return f.cfi[i].addr > addr }) - 1
	if i < 0 {
		return nil, false
	}
	rec := &f.cfi[i]
	end := rec.addr + rec.size
	if end < rec.addr {
		end = ^uint64(0)
	}
	if addr >= end {
		return nil, false
	}
	r = &Rules{Start: rec.addr, Size: rec.size, ptrSize: f.ptrSize, arch: f.Module.Arch, raReg: f.raReg}
	r.add(rec.rules)
	for _, d := range f.deltas[rec.delta0:rec.delta1] {
		if d.addr > addr {
			break
		}
		if d.addr >= rec.addr {
			r.add(d.rules)
		}
	}
	return r, true
}

// Rules are the STACK CFI rules in effect at one address. Each rule is a
// postfix expression: numbers, registers ($rsp, sp, x29), .cfa, and the
// operators + - * / % @ (align down to a power of two) and ^ (read a
// pointer-sized word). Rules satisfies the unwinder's rules interface.
type Rules struct {
	// Start and Size are the range of the STACK CFI INIT record.
	Start, Size uint64
	// CFA and RA are the expressions for the canonical frame address and
	// the return address; "" when the records set none.
	CFA, RA string
	// Regs maps canonical register names (see Unwind) to the expressions
	// that recover the caller's value.
	Regs map[string]string

	ptrSize int
	arch    string
	raReg   string
	err     error
}

func (r *Rules) add(rules string) {
	if r.err != nil {
		return
	}
	var name, expr string
	flush := func() error {
		if name == "" {
			return nil
		}
		if expr == "" {
			return fmt.Errorf("rule for %s has no expression", name)
		}
		switch name {
		case ".cfa":
			r.CFA = expr
		case ".ra":
			r.RA = expr
		default:
			if r.Regs == nil {
				r.Regs = map[string]string{}
			}
			r.Regs[canonicalReg(r.arch, name)] = expr
		}
		return nil
	}
	c := cursor{rules}
	c.space()
	for c.s != "" {
		tok := c.word()
		if strings.HasSuffix(tok, ":") {
			if err := flush(); err != nil {
				r.err = err
				return
			}
			name = strings.TrimSuffix(tok, ":")
			if name == "" || name == "$" {
				r.err = fmt.Errorf("empty register name in %q", rules)
				return
			}
			expr = ""
		} else {
			if name == "" {
				r.err = fmt.Errorf("%q does not start with a register name", rules)
				return
			}
			// Keep the expression as the original text from its first to
			// its last token.
			if expr == "" {
				expr = tok
			} else {
				expr = expr + " " + tok
			}
		}
		c.space()
	}
	if err := flush(); err != nil {
		r.err = err
	}
}

// canonicalReg maps a register name of a .sym file to the name the
// unwinder uses: "$" is dropped, and on ARM the frame pointer and link
// register get their role names (x29 fp, x30 lr; r11 fp, r12 ip, r13 sp,
// r14 lr, r15 pc).
func canonicalReg(arch, name string) string {
	name = strings.TrimPrefix(name, "$")
	a := strings.ToLower(arch)
	switch {
	case strings.HasPrefix(a, "arm64") || a == "aarch64":
		switch name {
		case "x29":
			return "fp"
		case "x30":
			return "lr"
		case "x31":
			return "sp"
		}
	case strings.HasPrefix(a, "arm"):
		switch name {
		case "r11":
			return "fp"
		case "r12":
			return "ip"
		case "r13":
			return "sp"
		case "r14":
			return "lr"
		case "r15":
			return "pc"
		}
	}
	return name
}

// maxStack bounds the operand stack of one expression.
const maxStack = 64

// Unwind computes the caller's registers. get returns a callee register by
// canonical name ("rsp", "rip", "sp", "fp", "lr", "x19", "esp", ...); mem
// reads the stack. The result holds ".cfa", ".ra" (the return address) and
// every register whose rule evaluates, by canonical name; a register whose
// rule fails (unknown input register, unreadable memory) is left out, as
// Breakpad and rust-minidump leave it out. Unwind fails when the .cfa or
// .ra rule is missing or fails.
//
// .cfa is computed first and may not use itself; the other rules may use
// it. In an expression, .ra stands for the callee's register of the return
// address column (lr on ARM), which dump_syms writes for a "same value"
// rule of that column. Arithmetic wraps at the pointer size of the
// module's architecture, and ^ reads that many bytes.
func (r *Rules) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	if r.err != nil {
		return nil, fmt.Errorf("breakpad: STACK CFI at %#x: %v", r.Start, r.err)
	}
	if r.CFA == "" {
		return nil, fmt.Errorf("breakpad: STACK CFI at %#x: no .cfa rule", r.Start)
	}
	if r.RA == "" {
		return nil, fmt.Errorf("breakpad: STACK CFI at %#x: no .ra rule", r.Start)
	}
	ev := cfiEval{r: r, get: get, mem: mem}
	cfa, err := ev.eval(r.CFA, 0, false)
	if err != nil {
		return nil, fmt.Errorf("breakpad: STACK CFI at %#x: .cfa: %q: %v", r.Start, r.CFA, err)
	}
	ra, err := ev.eval(r.RA, cfa, true)
	if err != nil {
		return nil, fmt.Errorf("breakpad: STACK CFI at %#x: .ra: %q: %v", r.Start, r.RA, err)
	}
	out := make(map[string]uint64, len(r.Regs)+2)
	out[".cfa"] = cfa
	out[".ra"] = ra
	for name, expr := range r.Regs {
		if v, err := ev.eval(expr, cfa, true); err == nil {
			out[name] = v
		}
	}
	return out, nil
}

type cfiEval struct {
	r   *Rules
	get func(string) (uint64, bool)
	mem interface {
		Read(addr uint64, size int) (uint64, bool)
	}
}

var errUndef = errors.New("register is undefined (.undef)")

func (e *cfiEval) mask(v uint64) uint64 {
	if e.r.ptrSize == 4 {
		return v & 0xffffffff
	}
	return v
}

func (e *cfiEval) eval(expr string, cfa uint64, haveCFA bool) (uint64, error) {
	var stack [maxStack]uint64
	n := 0
	pop2 := func() (uint64, uint64, error) {
		if n < 2 {
			return 0, 0, errors.New("operand stack underflow")
		}
		n -= 2
		return stack[n], stack[n+1], nil
	}
	c := cursor{expr}
	c.space()
	for c.s != "" {
		tok := c.word()
		c.space()
		var v uint64
		switch tok {
		case "+", "-", "*", "/", "%", "@":
			a, b, err := pop2()
			if err != nil {
				return 0, err
			}
			switch tok {
			case "+":
				v = a + b
			case "-":
				v = a - b
			case "*":
				v = a * b
			case "/", "%":
				b = e.mask(b)
				if b == 0 {
					return 0, errors.New("division by zero")
				}
				a = e.mask(a)
				if tok == "/" {
					v = a / b
				} else {
					v = a % b
				}
			case "@":
				b = e.mask(b)
				if b == 0 || b&(b-1) != 0 {
					return 0, fmt.Errorf("cannot align to %d, not a power of two", b)
				}
				v = a &^ (b - 1)
			}
		case "^":
			if n < 1 {
				return 0, errors.New("operand stack underflow")
			}
			n--
			addr := e.mask(stack[n])
			if e.mem == nil {
				return 0, fmt.Errorf("no memory to read %#x", addr)
			}
			x, ok := e.mem.Read(addr, e.r.ptrSize)
			if !ok {
				return 0, fmt.Errorf("cannot read memory at %#x", addr)
			}
			v = x
		case ".cfa":
			if !haveCFA {
				return 0, errors.New(".cfa used to compute itself")
			}
			v = cfa
		case ".undef":
			return 0, errUndef
		case ".ra":
			if e.r.raReg == "" {
				return 0, fmt.Errorf(".ra has no register on %s", e.r.arch)
			}
			x, ok := e.get(e.r.raReg)
			if !ok {
				return 0, fmt.Errorf("register %s unknown", e.r.raReg)
			}
			v = x
		default:
			if x, ok := parseInt(tok); ok {
				v = x
				break
			}
			if tok == "=" || strings.HasPrefix(tok, ".") {
				return 0, fmt.Errorf("unexpected %q", tok)
			}
			name := canonicalReg(e.r.arch, tok)
			x, ok := e.get(name)
			if !ok {
				return 0, fmt.Errorf("register %s unknown", name)
			}
			v = x
		}
		if n == maxStack {
			return 0, errors.New("operand stack overflow")
		}
		stack[n] = e.mask(v)
		n++
	}
	if n != 1 {
		return 0, fmt.Errorf("expression leaves %d values, want 1", n)
	}
	return stack[0], nil
}

// parseInt parses an optionally negative decimal literal that fits in 64
// bits, two's complement for negative values.
func parseInt(s string) (uint64, bool) {
	neg := strings.HasPrefix(s, "-")
	v, ok := parseDec(strings.TrimPrefix(s, "-"))
	if !ok {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -v, true
	}
	return v, true
}
