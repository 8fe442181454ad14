package compactunwind

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encoding bits shared by every architecture.
const (
	notFunctionStart = 0x80000000
	hasLSDA          = 0x40000000
	modeMask         = 0x0f000000
)

// x86_64 modes and fields.
const (
	x64ModeRBPFrame  = 0x01000000
	x64ModeStackImmd = 0x02000000
	x64ModeStackInd  = 0x03000000
	x64ModeDWARF     = 0x04000000
)

// arm64 modes and register pairs.
const (
	arm64ModeFrameless = 0x02000000
	arm64ModeDWARF     = 0x03000000
	arm64ModeFrame     = 0x04000000
)

// x86_64 register numbers in encodings: 1 rbx, 2 r12, 3 r13, 4 r14, 5 r15,
// 6 rbp; 0 is "no register".
var x64Regs = [...]string{"", "rbx", "r12", "r13", "r14", "r15", "rbp"}

// arm64 saved general-purpose pairs, in the order they sit below the frame
// record (x19 nearest): bit, first, second.
var arm64Pairs = [...]struct {
	bit  uint32
	a, b string
}{
	{0x001, "x19", "x20"},
	{0x002, "x21", "x22"},
	{0x004, "x23", "x24"},
	{0x008, "x25", "x26"},
	{0x010, "x27", "x28"},
	{0x100, "", ""}, // d8, d9
	{0x200, "", ""}, // d10, d11
	{0x400, "", ""}, // d12, d13
	{0x800, "", ""}, // d14, d15
}

// Entry is the unwind information covering one address: the function (or
// range) it belongs to and its encoding. It implements the walker's rules
// contract through Unwind.
type Entry struct {
	// Addr is the address the entry was found for; Start and End bound the
	// range the encoding covers (End is the next entry's start). All are in
	// the file's address space.
	Addr, Start, End uint64
	// Encoding is the raw 32-bit compact unwind encoding.
	Encoding uint32
	// Personality is the address of the pointer to the personality routine
	// (in the file's address space), 0 when the encoding names none.
	Personality uint64
	// LSDA is the address of the language-specific data area when the
	// encoding has one and the LSDA index lists it, else 0.
	LSDA uint64
	// FDEOffset is, for DWARF-mode encodings (see UsesDWARF), the offset of
	// the function's FDE in the image's __eh_frame section.
	FDEOffset uint32

	arch string
	text func(addr uint64, n int) ([]byte, bool)
}

// UsesDWARF reports whether the encoding defers to a DWARF FDE in
// __eh_frame (at FDEOffset) instead of describing the frame itself.
func (e *Entry) UsesDWARF() bool { return e.usesDWARF() }

func (e *Entry) usesDWARF() bool {
	m := e.Encoding & modeMask
	return e.arch == "x86_64" && m == x64ModeDWARF || e.arch == "arm64" && m == arm64ModeDWARF
}

// AtFunctionStart reports whether the entry was looked up for the first
// address of its range. At a function's first instruction nothing has been
// pushed yet, so the body's rules do not hold there; callers that know this
// can prefer other information.
func (e *Entry) AtFunctionStart() bool { return e.Addr == e.Start }

// Mode names the encoding's mode: "frame", "frameless", "frameless-indirect"
// (x86_64 STACK_IND), "dwarf", "none" (encoding 0) or "unknown".
func (e *Entry) Mode() string {
	if e.Encoding == 0 {
		return "none"
	}
	m := e.Encoding & modeMask
	switch e.arch {
	case "x86_64":
		switch m {
		case x64ModeRBPFrame:
			return "frame"
		case x64ModeStackImmd:
			return "frameless"
		case x64ModeStackInd:
			return "frameless-indirect"
		case x64ModeDWARF:
			return "dwarf"
		}
	case "arm64":
		switch m {
		case arm64ModeFrame:
			return "frame"
		case arm64ModeFrameless:
			return "frameless"
		case arm64ModeDWARF:
			return "dwarf"
		}
	}
	return "unknown"
}

// DWARFError is Unwind's error for DWARF-mode entries: the caller should
// evaluate the FDE at Offset in __eh_frame instead.
type DWARFError struct {
	Start  uint64 // the function's start address
	Offset uint32 // the FDE's offset in __eh_frame
}

func (e *DWARFError) Error() string {
	return fmt.Sprintf("compactunwind: function at 0x%x: use the DWARF FDE at __eh_frame offset 0x%x", e.Start, e.Offset)
}

// ErrNoInfo is Unwind's error for encoding 0: the linker had no unwind
// information for the range (stubs, hand-written assembly).
var ErrNoInfo = errors.New("compactunwind: no unwind information (encoding 0)")

// slot is one register the encoding restores: its caller value is the
// 8-byte word at addr.
type slot struct {
	name string
	addr uint64
}

// plan is a decoded encoding, evaluated against one register state.
type plan struct {
	cfa    uint64
	raAt   uint64 // return address in memory at raAt (when !raReg)
	raReg  string // or in this callee register (arm64 frameless: lr)
	slots  []slot
	spName string
	ipName string
}

// HasRule reports whether Unwind has a rule of its own for the register
// (canonical name): the stack and instruction pointers, the frame pointer
// in frame mode, and every register the encoding says was saved.
func (e *Entry) HasRule(name string) bool {
	names, err := e.rules()
	if err != nil {
		return false
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// rules lists the registers the encoding recovers, without evaluating.
func (e *Entry) rules() ([]string, error) {
	get := func(string) (uint64, bool) { return 0, true }
	p, err := e.plan(get, true)
	if err != nil {
		return nil, err
	}
	out := []string{p.spName, p.ipName}
	if p.raReg == "" && e.arch == "arm64" {
		out = append(out, "lr")
	}
	for _, s := range p.slots {
		out = append(out, s.name)
	}
	return out, nil
}

// Unwind computes the caller's registers from the callee's by the entry's
// encoding. get returns a callee register by canonical name (x86_64: rbx
// rbp r12 r13 r14 r15 rip rsp; arm64: x19…x28, fp, lr, sp, pc); mem reads
// the little-endian value of size 4 or 8 at an address of the crashed
// process.
//
// The result holds ".cfa" (the caller's stack pointer), ".ra" (the return
// address), the stack and instruction pointers under their names (rsp/rip,
// sp/pc) and every callee-saved register the encoding restores:
//
//   - x86_64 frame (RBP_FRAME): cfa = rbp+16, ra = [rbp+8], rbp = [rbp],
//     and the saved registers from rbp-8·offset upwards;
//   - x86_64 frameless (STACK_IMMD, STACK_IND): cfa = rsp+size,
//     ra = [cfa-8], the saved registers just below the return address; for
//     STACK_IND the size is read from the function's sub instruction
//     through Table.Text;
//   - arm64 frame: cfa = fp+16, fp = [fp], lr = ra = [fp+8], the saved pairs
//     from fp-8 downwards (x19 at fp-8, x20 at fp-16, …; d8–d15 pairs take
//     their slots but are not reported);
//   - arm64 frameless: cfa = sp+size, ra = lr, the saved pairs from cfa-8
//     downwards.
//
// An error means the CFA or the return address cannot be computed: a
// missing register, unreadable memory, a DWARF-mode entry (*DWARFError,
// the FDE offset is in the error and in FDEOffset), encoding 0 (ErrNoInfo)
// or an encoding that is invalid or that this package cannot evaluate. A
// saved register whose slot cannot be read is left out.
func (e *Entry) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	p, err := e.plan(get, false)
	if err != nil {
		return nil, err
	}
	var ra uint64
	if p.raReg != "" {
		v, ok := get(p.raReg)
		if !ok {
			return nil, fmt.Errorf("compactunwind: return address: register %s unavailable", p.raReg)
		}
		ra = v
	} else {
		v, ok := mem.Read(p.raAt, 8)
		if !ok {
			return nil, fmt.Errorf("compactunwind: return address: cannot read memory at 0x%x", p.raAt)
		}
		ra = v
	}
	out := make(map[string]uint64, len(p.slots)+5)
	out[".cfa"] = p.cfa
	out[".ra"] = ra
	out[p.spName] = p.cfa
	out[p.ipName] = ra
	if e.arch == "arm64" && p.raReg == "" {
		out["lr"] = ra
	}
	for _, s := range p.slots {
		if v, ok := mem.Read(s.addr, 8); ok {
			out[s.name] = v
		}
	}
	return out, nil
}

// plan decodes the encoding against the callee's registers. With dry set
// it only lists registers (no memory or code is read, and a STACK_IND size
// is not needed).
func (e *Entry) plan(get func(string) (uint64, bool), dry bool) (*plan, error) {
	if e.Encoding == 0 {
		return nil, ErrNoInfo
	}
	if e.usesDWARF() {
		return nil, &DWARFError{Start: e.Start, Offset: e.FDEOffset}
	}
	reg := func(name string) (uint64, error) {
		v, ok := get(name)
		if !ok {
			return 0, fmt.Errorf("compactunwind: register %s unavailable", name)
		}
		return v, nil
	}
	switch e.arch {
	case "x86_64":
		return e.planX64(reg, dry)
	case "arm64":
		return e.planARM64(reg)
	}
	return nil, fmt.Errorf("compactunwind: unsupported architecture %q", e.arch)
}

func (e *Entry) planX64(reg func(string) (uint64, error), dry bool) (*plan, error) {
	enc := e.Encoding
	switch enc & modeMask {
	case x64ModeRBPFrame:
		rbp, err := reg("rbp")
		if err != nil {
			return nil, err
		}
		p := &plan{cfa: rbp + 16, raAt: rbp + 8, spName: "rsp", ipName: "rip"}
		p.slots = append(p.slots, slot{"rbp", rbp})
		offset := uint64(enc>>16) & 0xff
		regs := enc & 0x7fff
		at := rbp - 8*offset
		for i := 0; i < 5; i++ {
			r := regs & 7
			switch {
			case r == 0:
			case r <= 5:
				p.slots = append(p.slots, slot{x64Regs[r], at})
			default:
				return nil, fmt.Errorf("compactunwind: encoding 0x%08x: invalid register %d in RBP frame slot %d", enc, r, i)
			}
			at += 8
			regs >>= 3
		}
		return p, nil
	case x64ModeStackImmd, x64ModeStackInd:
		rsp, err := reg("rsp")
		if err != nil {
			return nil, err
		}
		sizeField := (enc >> 16) & 0xff
		adjust := (enc >> 13) & 7
		count := int((enc >> 10) & 7)
		perm := enc & 0x3ff
		size := uint64(sizeField) * 8
		if enc&modeMask == x64ModeStackInd {
			if dry {
				size = 8 * uint64(count+1)
			} else {
				imm, err := e.subImmediate(sizeField)
				if err != nil {
					return nil, err
				}
				size = uint64(imm) + 8*uint64(adjust)
			}
		}
		if count > 6 {
			return nil, fmt.Errorf("compactunwind: encoding 0x%08x: %d saved registers (at most 6)", enc, count)
		}
		if size < 8*uint64(count+1) {
			return nil, fmt.Errorf("compactunwind: encoding 0x%08x: stack size %d cannot hold the return address and %d registers", enc, size, count)
		}
		regs, err := unpermute(count, perm)
		if err != nil {
			return nil, fmt.Errorf("compactunwind: encoding 0x%08x: %w", enc, err)
		}
		p := &plan{cfa: rsp + size, raAt: rsp + size - 8, spName: "rsp", ipName: "rip"}
		at := rsp + size - 8 - 8*uint64(count)
		for _, r := range regs {
			p.slots = append(p.slots, slot{x64Regs[r], at})
			at += 8
		}
		return p, nil
	}
	return nil, fmt.Errorf("compactunwind: encoding 0x%08x: unknown x86_64 mode %d", enc, (enc&modeMask)>>24)
}

// subImmediate reads the 32-bit immediate of the stack-allocating sub
// instruction at offset off into the function (STACK_IND).
func (e *Entry) subImmediate(off uint32) (uint32, error) {
	if e.text == nil {
		return 0, fmt.Errorf("compactunwind: function at 0x%x: STACK_IND encoding 0x%08x needs the function's code (Table.Text is not set)", e.Start, e.Encoding)
	}
	at := e.Start + uint64(off)
	b, ok := e.text(at, 4)
	if !ok || len(b) < 4 {
		return 0, fmt.Errorf("compactunwind: function at 0x%x: cannot read the stack size at 0x%x", e.Start, at)
	}
	return binary.LittleEndian.Uint32(b), nil
}

// unpermute decodes the frameless register permutation: a Lehmer code of
// count registers chosen from the six numbered 1…6, in mixed radix
// (120, 24, 6, 2, 1 for six or five registers; 60, 12, 3, 1 for four;
// 20, 4, 1 for three; 5, 1 for two). The result lists register numbers in
// the order they sit on the stack, lowest address first.
func unpermute(count int, perm uint32) ([]int, error) {
	var radix []uint32
	switch count {
	case 0:
		return nil, nil
	case 1:
		radix = []uint32{1}
	case 2:
		radix = []uint32{5, 1}
	case 3:
		radix = []uint32{20, 4, 1}
	case 4:
		radix = []uint32{60, 12, 3, 1}
	case 5:
		radix = []uint32{120, 24, 6, 2, 1}
	case 6:
		radix = []uint32{120, 24, 6, 2, 1, 1}
	}
	digits := make([]uint32, count)
	for i, r := range radix {
		if count == 6 && i == 5 {
			digits[i] = 0
			break
		}
		digits[i] = perm / r
		perm -= digits[i] * r
	}
	var used [7]bool
	out := make([]int, count)
	for i, d := range digits {
		n := uint32(0)
		found := false
		for u := 1; u <= 6; u++ {
			if used[u] {
				continue
			}
			if n == d {
				out[i], used[u], found = u, true, true
				break
			}
			n++
		}
		if !found {
			return nil, fmt.Errorf("register permutation digit %d of %d is out of range", d, count)
		}
	}
	return out, nil
}

func (e *Entry) planARM64(reg func(string) (uint64, error)) (*plan, error) {
	enc := e.Encoding
	var p *plan
	var at uint64
	switch enc & modeMask {
	case arm64ModeFrame:
		fp, err := reg("fp")
		if err != nil {
			return nil, err
		}
		p = &plan{cfa: fp + 16, raAt: fp + 8, spName: "sp", ipName: "pc"}
		p.slots = append(p.slots, slot{"fp", fp})
		at = fp - 8
	case arm64ModeFrameless:
		sp, err := reg("sp")
		if err != nil {
			return nil, err
		}
		size := 16 * uint64((enc>>12)&0xfff)
		p = &plan{cfa: sp + size, raReg: "lr", spName: "sp", ipName: "pc"}
		at = p.cfa - 8
	default:
		return nil, fmt.Errorf("compactunwind: encoding 0x%08x: unknown arm64 mode %d", enc, (enc&modeMask)>>24)
	}
	for _, pr := range arm64Pairs {
		if enc&pr.bit == 0 {
			continue
		}
		if pr.a != "" {
			p.slots = append(p.slots, slot{pr.a, at}, slot{pr.b, at - 8})
		}
		at -= 16
	}
	return p, nil
}
