package dwarfcfi

import (
	"errors"
	"fmt"
)

// Unwind computes the caller's registers from the callee's, by this row's
// rules. get returns a callee register by canonical name (see
// RegisterName); mem reads the little-endian value of size 4 or 8 at an
// address of the crashed process.
//
// The result holds ".cfa", ".ra" — the value the return address column's
// rule recovers — and every other register whose rule recovers it, by
// canonical name:
//
//   - offset(N): the value in memory at CFA+N; val_offset(N): CFA+N;
//   - register(R): the callee's R; same_value: the callee's own value;
//   - expression(E): memory at the address E computes; val_expression(E):
//     the value E computes (both with the CFA pushed first);
//   - undefined: absent.
//
// The return address column appears only as ".ra" (as in Breakpad's
// symbol files). When its rule is undefined, ".ra" is absent and the error
// nil: the frame is the outermost one. When it has no rule it keeps its
// value, as Breakpad's dump_syms assumes (aarch64 and arm leaf functions
// return through lr, which their CIEs leave unspecified). Registers
// without a rule are left out: whether they keep their value is the
// walker's ABI knowledge. Registers without a canonical name (vector and
// floating-point registers) are left out too.
//
// An error means the CFA or the return address cannot be computed (a
// register or memory is unavailable, an expression is malformed); other
// registers that cannot be computed are just left out.
func (r *Row) Unwind(get func(name string) (uint64, bool), mem interface {
	Read(addr uint64, size int) (uint64, bool)
}) (map[string]uint64, error) {
	e := &evaluator{row: r, get: get, mem: mem}
	var cfa uint64
	if r.CFA.Expr != nil {
		v, err := e.eval(r.CFA.Expr, nil)
		if err != nil {
			return nil, fmt.Errorf("dwarfcfi: CFA expression: %w", err)
		}
		cfa = v
	} else {
		v, err := e.reg(r.CFA.Reg)
		if err != nil {
			return nil, fmt.Errorf("dwarfcfi: CFA: %w", err)
		}
		cfa = (v + uint64(r.CFA.Offset)) & e.mask()
	}
	out := map[string]uint64{".cfa": cfa}
	raDone := false
	for _, rr := range r.Rules {
		name, named := RegisterName(r.arch, rr.Reg)
		isRA := rr.Reg == r.RA
		if isRA {
			name, named, raDone = ".ra", true, true
		}
		if !named {
			continue
		}
		v, ok, err := e.recover(rr.Reg, rr.Rule, cfa)
		if err != nil {
			if isRA {
				return nil, fmt.Errorf("dwarfcfi: return address (%s): %w", r.regName(rr.Reg), err)
			}
			continue
		}
		if ok {
			out[name] = v
		}
	}
	if !raDone {
		if v, err := e.reg(r.RA); err == nil {
			out[".ra"] = v
		} else {
			return nil, fmt.Errorf("dwarfcfi: return address (%s, no rule): %w", r.regName(r.RA), err)
		}
	}
	return out, nil
}

// evaluator computes values for one Unwind call.
type evaluator struct {
	row *Row
	get func(string) (uint64, bool)
	mem interface {
		Read(addr uint64, size int) (uint64, bool)
	}
}

func (e *evaluator) mask() uint64 {
	if e.row.ptr == 4 {
		return 0xffffffff
	}
	return ^uint64(0)
}

// reg returns the callee's value of DWARF register n.
func (e *evaluator) reg(n uint64) (uint64, error) {
	name, ok := RegisterName(e.row.arch, n)
	if !ok {
		return 0, fmt.Errorf("register %d has no name on %v", n, e.row.arch)
	}
	v, ok := e.get(name)
	if !ok {
		return 0, fmt.Errorf("register %s unavailable", name)
	}
	return v & e.mask(), nil
}

// read reads size bytes of memory at addr.
func (e *evaluator) read(addr uint64, size int) (uint64, error) {
	if e.mem == nil {
		return 0, fmt.Errorf("memory at %#x unavailable", addr)
	}
	v, ok := e.mem.Read(addr, size)
	if !ok {
		return 0, fmt.Errorf("memory at %#x unavailable", addr)
	}
	return v, nil
}

// recover applies rule to register n; ok false means undefined.
func (e *evaluator) recover(n uint64, rule Rule, cfa uint64) (uint64, bool, error) {
	m := e.mask()
	switch rule.Kind {
	case RuleUndefined:
		return 0, false, nil
	case RuleSameValue:
		v, err := e.reg(n)
		return v, err == nil, err
	case RuleOffset:
		v, err := e.read((cfa+uint64(rule.Offset))&m, e.row.ptr)
		return v & m, err == nil, err
	case RuleValOffset:
		return (cfa + uint64(rule.Offset)) & m, true, nil
	case RuleRegister:
		v, err := e.reg(rule.Reg)
		return v, err == nil, err
	case RuleExpression:
		a, err := e.eval(rule.Expr, &cfa)
		if err != nil {
			return 0, false, err
		}
		v, err := e.read(a, e.row.ptr)
		return v & m, err == nil, err
	case RuleValExpression:
		v, err := e.eval(rule.Expr, &cfa)
		return v, err == nil, err
	}
	return 0, false, fmt.Errorf("unknown rule kind %d", rule.Kind)
}

// Limits of expression evaluation. CFI expressions are a handful of
// operations; the limits only stop hostile loops and stack growth.
const (
	maxExprSteps = 10000
	maxExprStack = 256
)

var errExprStack = errors.New("stack underflow")

// eval evaluates a DWARF expression, on a stack holding push when it is
// not nil, and returns the value on top of the stack at the end.
//
// It implements the operations call frame information uses: literals and
// constants, register-relative values (DW_OP_breg*), stack manipulation,
// memory reads, arithmetic, logic, comparisons and branches. Values are
// address-sized; division and comparisons are signed, as DWARF specifies
// for its generic type.
func (e *evaluator) eval(expr []byte, push *uint64) (uint64, error) {
	m := e.mask()
	size := e.row.ptr
	signed := func(v uint64) int64 { return int64(signExtend(v, size)) }
	stack := make([]uint64, 0, 8)
	if push != nil {
		stack = append(stack, *push&m)
	}
	r := reader{b: expr, bo: e.row.bo}
	need := func(n int) error {
		if len(stack) < n {
			return errExprStack
		}
		return nil
	}
	for steps := 0; r.off < len(expr); steps++ {
		if steps >= maxExprSteps {
			return 0, fmt.Errorf("expression runs more than %d steps", maxExprSteps)
		}
		if len(stack) > maxExprStack {
			return 0, fmt.Errorf("expression stack exceeds %d values", maxExprStack)
		}
		at := r.off
		op := r.u8()
		var err error
		pushv := func(v uint64) { stack = append(stack, v&m) }
		top := func() uint64 { return stack[len(stack)-1] }
		pop := func() uint64 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			return v
		}
		switch {
		case op >= opLit0 && op <= opLit0+31:
			pushv(uint64(op - opLit0))
		case op >= opBreg0 && op <= opBreg0+31:
			off := r.sleb()
			var v uint64
			if v, err = e.reg(uint64(op - opBreg0)); err == nil {
				pushv(v + uint64(off))
			}
		case op >= opReg0 && op <= opReg0+31 || op == opRegx:
			err = errors.New("register location (DW_OP_reg*) where a value is required")
		default:
			switch op {
			case opAddr:
				pushv(r.uint(size))
			case opConst1u:
				pushv(uint64(r.u8()))
			case opConst1s:
				pushv(uint64(int64(int8(r.u8()))))
			case opConst2u:
				pushv(uint64(r.u16()))
			case opConst2s:
				pushv(uint64(int64(int16(r.u16()))))
			case opConst4u:
				pushv(uint64(r.u32()))
			case opConst4s:
				pushv(uint64(int64(int32(r.u32()))))
			case opConst8u, opConst8s:
				pushv(r.u64())
			case opConstu:
				pushv(r.uleb())
			case opConsts:
				pushv(uint64(r.sleb()))
			case opBregx:
				n := r.uleb()
				off := r.sleb()
				var v uint64
				if r.err == nil {
					if v, err = e.reg(n); err == nil {
						pushv(v + uint64(off))
					}
				}
			case opDup:
				if err = need(1); err == nil {
					pushv(top())
				}
			case opDrop:
				if err = need(1); err == nil {
					pop()
				}
			case opOver:
				if err = need(2); err == nil {
					pushv(stack[len(stack)-2])
				}
			case opPick:
				i := int(r.u8())
				if err = need(i + 1); err == nil {
					pushv(stack[len(stack)-1-i])
				}
			case opSwap:
				if err = need(2); err == nil {
					n := len(stack)
					stack[n-1], stack[n-2] = stack[n-2], stack[n-1]
				}
			case opRot:
				if err = need(3); err == nil {
					n := len(stack)
					stack[n-1], stack[n-2], stack[n-3] = stack[n-2], stack[n-3], stack[n-1]
				}
			case opDeref, opDerefSize:
				n := size
				if op == opDerefSize {
					n = int(r.u8())
				}
				if r.err != nil {
					break
				}
				if n < 1 || n > size {
					err = fmt.Errorf("DW_OP_deref_size %d", n)
					break
				}
				if err = need(1); err == nil {
					var v uint64
					if v, err = e.readN(pop(), n); err == nil {
						pushv(v)
					}
				}
			case opAbs:
				if err = need(1); err == nil {
					if v := signed(top()); v < 0 {
						stack[len(stack)-1] = uint64(-v) & m
					}
				}
			case opNeg:
				if err = need(1); err == nil {
					pushv(uint64(-signed(pop())))
				}
			case opNot:
				if err = need(1); err == nil {
					pushv(^pop())
				}
			case opPlusUconst:
				n := r.uleb()
				if err = need(1); err == nil && r.err == nil {
					pushv(pop() + n)
				}
			case opAnd, opDiv, opMinus, opMod, opMul, opOr, opPlus, opShl, opShr, opShra, opXor,
				opEq, opGe, opGt, opLe, opLt, opNe:
				if err = need(2); err != nil {
					break
				}
				b, a := pop(), pop()
				var v uint64
				v, err = arith(op, a, b, signed)
				if err == nil {
					pushv(v)
				}
			case opSkip, opBra:
				d := int(int16(r.u16()))
				if r.err != nil {
					break
				}
				if op == opBra {
					if err = need(1); err != nil {
						break
					}
					if pop() == 0 {
						break
					}
				}
				to := r.off + d
				if to < 0 || to > len(expr) {
					err = fmt.Errorf("branch to %d outside expression of %d bytes", to, len(expr))
					break
				}
				r.off = to
			case opNop:
			default:
				err = fmt.Errorf("unsupported operation %#x", op)
			}
		}
		if r.err != nil {
			return 0, fmt.Errorf("operation %#x at %d: %w", op, at, r.err)
		}
		if err != nil {
			return 0, fmt.Errorf("operation %#x at %d: %w", op, at, err)
		}
	}
	if len(stack) == 0 {
		return 0, errors.New("expression leaves an empty stack")
	}
	return stack[len(stack)-1], nil
}

// readN reads n bytes (1 to 8) of memory at addr. Memory reads 4 or 8
// bytes, so smaller reads take the low bytes of a 4-byte read.
func (e *evaluator) readN(addr uint64, n int) (uint64, error) {
	switch {
	case n == 8:
		return e.read(addr, 8)
	case n == 4:
		return e.read(addr, 4)
	case n < 4:
		v, err := e.read(addr, 4)
		return v & (1<<(8*uint(n)) - 1), err
	default:
		v, err := e.read(addr, 8)
		return v & (1<<(8*uint(n)) - 1), err
	}
}

// arith applies a two-operand operation to a (second) and b (top).
func arith(op byte, a, b uint64, signed func(uint64) int64) (uint64, error) {
	b2u := func(c bool) uint64 {
		if c {
			return 1
		}
		return 0
	}
	switch op {
	case opAnd:
		return a & b, nil
	case opOr:
		return a | b, nil
	case opXor:
		return a ^ b, nil
	case opPlus:
		return a + b, nil
	case opMinus:
		return a - b, nil
	case opMul:
		return a * b, nil
	case opDiv:
		if b == 0 {
			return 0, errors.New("division by zero")
		}
		return uint64(signed(a) / signed(b)), nil
	case opMod:
		if b == 0 {
			return 0, errors.New("modulo by zero")
		}
		return a % b, nil
	case opShl:
		if b >= 64 {
			return 0, nil
		}
		return a << b, nil
	case opShr:
		if b >= 64 {
			return 0, nil
		}
		return a >> b, nil
	case opShra:
		if b >= 64 {
			b = 63
		}
		return uint64(signed(a) >> b), nil
	case opEq:
		return b2u(a == b), nil
	case opNe:
		return b2u(a != b), nil
	case opGe:
		return b2u(signed(a) >= signed(b)), nil
	case opGt:
		return b2u(signed(a) > signed(b)), nil
	case opLe:
		return b2u(signed(a) <= signed(b)), nil
	case opLt:
		return b2u(signed(a) < signed(b)), nil
	}
	return 0, fmt.Errorf("unsupported operation %#x", op)
}

// DW_OP operations.
const (
	opAddr       = 0x03
	opDeref      = 0x06
	opConst1u    = 0x08
	opConst1s    = 0x09
	opConst2u    = 0x0a
	opConst2s    = 0x0b
	opConst4u    = 0x0c
	opConst4s    = 0x0d
	opConst8u    = 0x0e
	opConst8s    = 0x0f
	opConstu     = 0x10
	opConsts     = 0x11
	opDup        = 0x12
	opDrop       = 0x13
	opOver       = 0x14
	opPick       = 0x15
	opSwap       = 0x16
	opRot        = 0x17
	opAbs        = 0x19
	opAnd        = 0x1a
	opDiv        = 0x1b
	opMinus      = 0x1c
	opMod        = 0x1d
	opMul        = 0x1e
	opNeg        = 0x1f
	opNot        = 0x20
	opOr         = 0x21
	opPlus       = 0x22
	opPlusUconst = 0x23
	opShl        = 0x24
	opShr        = 0x25
	opShra       = 0x26
	opXor        = 0x27
	opBra        = 0x28
	opEq         = 0x29
	opGe         = 0x2a
	opGt         = 0x2b
	opLe         = 0x2c
	opLt         = 0x2d
	opNe         = 0x2e
	opSkip       = 0x2f
	opLit0       = 0x30
	opReg0       = 0x50
	opBreg0      = 0x70
	opRegx       = 0x90
	opBregx      = 0x92
	opDerefSize  = 0x94
	opNop        = 0x96
)
