package dwarfcfi

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// RuleKind says how a register of the caller is recovered.
type RuleKind uint8

const (
	// RuleUndefined: the register cannot be recovered (for the return
	// address column: this is the outermost frame).
	RuleUndefined RuleKind = iota + 1
	// RuleSameValue: the callee has not changed the register.
	RuleSameValue
	// RuleOffset: saved in memory at CFA+Offset.
	RuleOffset
	// RuleValOffset: the value is CFA+Offset itself.
	RuleValOffset
	// RuleRegister: saved in register Reg of the callee.
	RuleRegister
	// RuleExpression: saved in memory at the address Expr computes, with
	// the CFA pushed on its stack first.
	RuleExpression
	// RuleValExpression: the value Expr computes, with the CFA pushed first.
	RuleValExpression
)

func (k RuleKind) String() string {
	switch k {
	case RuleUndefined:
		return "undefined"
	case RuleSameValue:
		return "same_value"
	case RuleOffset:
		return "offset"
	case RuleValOffset:
		return "val_offset"
	case RuleRegister:
		return "register"
	case RuleExpression:
		return "expression"
	case RuleValExpression:
		return "val_expression"
	}
	return fmt.Sprintf("RuleKind(%d)", uint8(k))
}

// Rule is how one register of the caller is recovered.
type Rule struct {
	Kind   RuleKind
	Offset int64  // RuleOffset, RuleValOffset: bytes from the CFA
	Reg    uint64 // RuleRegister: DWARF register number
	Expr   []byte // RuleExpression, RuleValExpression: DWARF expression
}

// RegRule is the rule of DWARF register Reg.
type RegRule struct {
	Reg  uint64
	Rule Rule
}

// CFARule defines the canonical frame address: the value of register Reg
// plus Offset, or, when Expr is not nil, the value of the DWARF expression
// Expr (evaluated on an empty stack).
type CFARule struct {
	Reg    uint64
	Offset int64
	Expr   []byte
}

// Row is the unwind row in effect over [Start, End): how to compute the
// CFA and, per register, how to recover the caller's value. Expressions
// share the section's bytes.
type Row struct {
	Start, End uint64
	CFA        CFARule
	// Rules holds the registers with a rule, sorted by register number.
	// Registers without one are unspecified: by the ABIs' convention
	// callee-saved registers without a rule keep their value, which is
	// the stack walker's business.
	Rules []RegRule
	// RA is the return address column: its rule recovers the address the
	// caller resumes at.
	RA uint64
	// RASigned (aarch64, DW_CFA_AARCH64_negate_ra_state) says the return
	// address is signed with pointer authentication here: its top bits
	// hold a signature the walker must strip.
	RASigned bool
	// SignalFrame (augmentation 'S') says the frame was interrupted by a
	// signal rather than making a call: the return address is the
	// interrupted instruction itself, not the one after a call.
	SignalFrame bool

	arch Arch
	ptr  int
	bo   binary.ByteOrder
}

// Rule returns the rule of DWARF register reg; false means unspecified.
func (r *Row) Rule(reg uint64) (Rule, bool) {
	i := sort.Search(len(r.Rules), func(i int) bool { return r.Rules[i].Reg >= reg })
	if i < len(r.Rules) && r.Rules[i].Reg == reg {
		return r.Rules[i].Rule, true
	}
	return Rule{}, false
}

// String formats the row for humans, e.g. "CFA=rsp+16: rbp=[CFA-16], rip=[CFA-8]".
func (r *Row) String() string {
	var b strings.Builder
	b.WriteString("CFA=")
	if r.CFA.Expr != nil {
		fmt.Fprintf(&b, "expr(%x)", r.CFA.Expr)
	} else {
		fmt.Fprintf(&b, "%s%+d", r.regName(r.CFA.Reg), r.CFA.Offset)
	}
	for i, rr := range r.Rules {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(r.regName(rr.Reg) + "=")
		switch ru := rr.Rule; ru.Kind {
		case RuleOffset:
			fmt.Fprintf(&b, "[CFA%+d]", ru.Offset)
		case RuleValOffset:
			fmt.Fprintf(&b, "CFA%+d", ru.Offset)
		case RuleRegister:
			b.WriteString(r.regName(ru.Reg))
		case RuleExpression:
			fmt.Fprintf(&b, "[expr(%x)]", ru.Expr)
		case RuleValExpression:
			fmt.Fprintf(&b, "expr(%x)", ru.Expr)
		default:
			b.WriteString(ru.Kind.String())
		}
	}
	return b.String()
}

func (r *Row) regName(reg uint64) string {
	if n, ok := RegisterName(r.arch, reg); ok {
		return n
	}
	return fmt.Sprintf("r%d", reg)
}

// RegisterName returns the canonical name (the name minidump processors
// report) of DWARF register reg of arch, or false when the register has
// none (vector and floating-point registers).
//
// DWARF numbers: amd64 0-16 rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip;
// arm64 0-31 x0-x28 fp lr sp; x86 0-8 eax ecx edx ebx esp ebp esi edi eip,
// 9 efl (the ELF numbering: Darwin's i386 .eh_frame swaps esp and ebp);
// arm 0-15 r0-r10 fp ip sp lr pc.
func RegisterName(arch Arch, reg uint64) (string, bool) {
	var names []string
	switch arch {
	case AMD64:
		names = amd64Names
	case ARM64:
		names = arm64Names
	case X86:
		names = x86Names
	case ARM:
		names = armNames
	}
	if reg < uint64(len(names)) {
		return names[reg], true
	}
	return "", false
}

var (
	amd64Names = []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}
	arm64Names = []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9",
		"x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",
		"x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "lr", "sp"}
	x86Names = []string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "efl"}
	armNames = []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9",
		"r10", "fp", "ip", "sp", "lr", "pc"}
)
