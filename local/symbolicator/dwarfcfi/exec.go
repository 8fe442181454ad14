package dwarfcfi

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
)

// DW_CFA instructions. The first three carry an operand in their low six
// bits.
const (
	cfaAdvanceLoc             = 0x40
	cfaOffset                 = 0x80
	cfaRestore                = 0xc0
	cfaNop                    = 0x00
	cfaSetLoc                 = 0x01
	cfaAdvanceLoc1            = 0x02
	cfaAdvanceLoc2            = 0x03
	cfaAdvanceLoc4            = 0x04
	cfaOffsetExtended         = 0x05
	cfaRestoreExtended        = 0x06
	cfaUndefined              = 0x07
	cfaSameValue              = 0x08
	cfaRegister               = 0x09
	cfaRememberState          = 0x0a
	cfaRestoreState           = 0x0b
	cfaDefCFA                 = 0x0c
	cfaDefCFARegister         = 0x0d
	cfaDefCFAOffset           = 0x0e
	cfaDefCFAExpression       = 0x0f
	cfaExpression             = 0x10
	cfaOffsetExtendedSF       = 0x11
	cfaDefCFASF               = 0x12
	cfaDefCFAOffsetSF         = 0x13
	cfaValOffset              = 0x14
	cfaValOffsetSF            = 0x15
	cfaValExpression          = 0x16
	cfaMIPSAdvanceLoc8        = 0x1d
	cfaAArch64NegateRAState   = 0x2d // DW_CFA_GNU_window_save on SPARC
	cfaGNUArgsSize            = 0x2e
	cfaGNUNegativeOffsetExtnd = 0x2f
)

// state is the part of a row that DW_CFA_remember_state saves.
type state struct {
	cfa      CFARule
	rules    []RegRule // sorted by register
	raSigned bool
}

func (s state) clone() state {
	s.rules = slices.Clone(s.rules)
	return s
}

// machine runs CFA instructions.
type machine struct {
	t       *Table
	c       *cie
	loc     uint64
	st      state
	initial []RegRule // rules after the CIE's instructions, for DW_CFA_restore
	stack   []state
	work    int
}

// execute runs the CIE's initial instructions and FDE f's instructions up
// to addr and returns the row in effect at addr.
func (t *Table) execute(f fdeRef, addr uint64) (*Row, error) {
	c := f.cie
	m := &machine{t: t, c: c, loc: f.begin}
	if _, _, err := m.run(c.instr, c.end, true, addr); err != nil {
		return nil, fmt.Errorf("dwarfcfi: %v: CIE at %#x: %w", t.kind, c.off, err)
	}
	m.initial = slices.Clone(m.st.rules)
	m.stack = nil
	next, stopped, err := m.run(f.instr, f.instrEnd, false, addr)
	if err != nil {
		return nil, fmt.Errorf("dwarfcfi: %v: FDE at %#x: %w", t.kind, f.off, err)
	}
	end := f.end
	if stopped && next < end {
		end = next
	}
	return &Row{
		Start:       m.loc,
		End:         end,
		CFA:         m.st.cfa,
		Rules:       m.st.rules,
		RA:          c.ra,
		RASigned:    m.st.raSigned,
		SignalFrame: c.signal,
		arch:        t.opts.Arch,
		ptr:         t.ptr,
		bo:          t.bo,
	}, nil
}

var errBadRegister = errors.New("register number out of range")

// run executes data[start:end]. In a CIE (cie true) location changes are
// errors. It stops before an advance past addr and returns the location
// the advance would have reached.
func (m *machine) run(start, end int, cie bool, addr uint64) (next uint64, stopped bool, err error) {
	t, c := m.t, m.c
	r := reader{b: t.data[:end], off: start, bo: t.bo}
	// advance moves the location by delta code alignment units; it reports
	// whether addr lies before the new location.
	advance := func(delta uint64) (bool, error) {
		if cie {
			return false, errors.New("location change in CIE initial instructions")
		}
		hi, d := bits.Mul64(delta, c.codeAlign)
		n := m.loc + d
		if hi != 0 || n < m.loc || n > t.mask() {
			return false, fmt.Errorf("location %#x + %d overflows", m.loc, delta)
		}
		if n > addr {
			next = n
			return true, nil
		}
		m.loc = n
		return false, nil
	}
	reg := func() uint64 {
		v := r.uleb()
		if v >= maxReg && r.err == nil {
			r.fail(fmt.Errorf("%w: %d", errBadRegister, v))
		}
		return v
	}
	block := func() []byte { return r.bytes(r.uleb()) }
	for r.off < end {
		m.work++
		if m.work > maxWork {
			return 0, false, errors.New("too many instructions")
		}
		at := r.off
		op := r.u8()
		var stop bool
		var err error
		switch op & 0xc0 {
		case cfaAdvanceLoc:
			stop, err = advance(uint64(op & 0x3f))
		case cfaOffset:
			n := uint64(op & 0x3f)
			m.set(n, Rule{Kind: RuleOffset, Offset: int64(r.uleb()) * c.dataAlign})
		case cfaRestore:
			m.restore(uint64(op & 0x3f))
		default:
			switch op {
			case cfaNop:
			case cfaSetLoc:
				if cie {
					return 0, false, errors.New("DW_CFA_set_loc in CIE initial instructions")
				}
				var n uint64
				if t.kind == DebugFrame {
					n = r.uint(c.addrSize)
				} else {
					n, err = t.readPointer(&r, c.fdeEnc, t.ptr)
				}
				if err == nil && r.err == nil {
					if n < m.loc {
						err = fmt.Errorf("DW_CFA_set_loc moves back from %#x to %#x", m.loc, n)
					} else if n > addr {
						next, stop = n, true
					} else {
						m.loc = n
					}
				}
			case cfaAdvanceLoc1:
				if d := uint64(r.u8()); r.err == nil {
					stop, err = advance(d)
				}
			case cfaAdvanceLoc2:
				if d := uint64(r.u16()); r.err == nil {
					stop, err = advance(d)
				}
			case cfaAdvanceLoc4:
				if d := uint64(r.u32()); r.err == nil {
					stop, err = advance(d)
				}
			case cfaMIPSAdvanceLoc8:
				if d := r.u64(); r.err == nil {
					stop, err = advance(d)
				}
			case cfaOffsetExtended:
				n := reg()
				m.set(n, Rule{Kind: RuleOffset, Offset: int64(r.uleb()) * c.dataAlign})
			case cfaOffsetExtendedSF:
				n := reg()
				m.set(n, Rule{Kind: RuleOffset, Offset: r.sleb() * c.dataAlign})
			case cfaGNUNegativeOffsetExtnd:
				n := reg()
				m.set(n, Rule{Kind: RuleOffset, Offset: -int64(r.uleb()) * c.dataAlign})
			case cfaValOffset:
				n := reg()
				m.set(n, Rule{Kind: RuleValOffset, Offset: int64(r.uleb()) * c.dataAlign})
			case cfaValOffsetSF:
				n := reg()
				m.set(n, Rule{Kind: RuleValOffset, Offset: r.sleb() * c.dataAlign})
			case cfaRestoreExtended:
				m.restore(reg())
			case cfaUndefined:
				m.set(reg(), Rule{Kind: RuleUndefined})
			case cfaSameValue:
				m.set(reg(), Rule{Kind: RuleSameValue})
			case cfaRegister:
				n := reg()
				m.set(n, Rule{Kind: RuleRegister, Reg: reg()})
			case cfaExpression:
				n := reg()
				m.set(n, Rule{Kind: RuleExpression, Expr: block()})
			case cfaValExpression:
				n := reg()
				m.set(n, Rule{Kind: RuleValExpression, Expr: block()})
			case cfaRememberState:
				if len(m.stack) >= maxStateDepth {
					return 0, false, fmt.Errorf("DW_CFA_remember_state at %#x nests deeper than %d", at, maxStateDepth)
				}
				m.work += len(m.st.rules)
				m.stack = append(m.stack, m.st.clone())
			case cfaRestoreState:
				if len(m.stack) == 0 {
					return 0, false, fmt.Errorf("DW_CFA_restore_state at %#x without DW_CFA_remember_state", at)
				}
				m.st = m.stack[len(m.stack)-1]
				m.stack = m.stack[:len(m.stack)-1]
				m.work += len(m.st.rules)
			case cfaDefCFA:
				n := reg()
				m.st.cfa = CFARule{Reg: n, Offset: int64(r.uleb())}
			case cfaDefCFASF:
				n := reg()
				m.st.cfa = CFARule{Reg: n, Offset: r.sleb() * c.dataAlign}
			case cfaDefCFARegister:
				n := reg()
				if m.st.cfa.Expr != nil {
					err = errors.New("DW_CFA_def_cfa_register with a CFA expression")
				}
				m.st.cfa.Reg = n
			case cfaDefCFAOffset:
				if m.st.cfa.Expr != nil {
					err = errors.New("DW_CFA_def_cfa_offset with a CFA expression")
				}
				m.st.cfa.Offset = int64(r.uleb())
			case cfaDefCFAOffsetSF:
				if m.st.cfa.Expr != nil {
					err = errors.New("DW_CFA_def_cfa_offset_sf with a CFA expression")
				}
				m.st.cfa.Offset = r.sleb() * c.dataAlign
			case cfaDefCFAExpression:
				if e := block(); r.err == nil {
					m.st.cfa = CFARule{Expr: e}
				}
			case cfaGNUArgsSize:
				// The size of outgoing arguments, for landing pads; it does
				// not change how registers are recovered.
				r.uleb()
			case cfaAArch64NegateRAState:
				if t.opts.Arch != ARM64 {
					return 0, false, fmt.Errorf("instruction %#x at %#x: DW_CFA_GNU_window_save is not defined for %v", op, at, t.opts.Arch)
				}
				m.st.raSigned = !m.st.raSigned
			default:
				return 0, false, fmt.Errorf("unknown instruction %#x at %#x", op, at)
			}
		}
		if r.err != nil {
			return 0, false, fmt.Errorf("instruction %#x at %#x: %w", op, at, r.err)
		}
		if err != nil {
			return 0, false, fmt.Errorf("instruction %#x at %#x: %w", op, at, err)
		}
		if stop {
			return next, true, nil
		}
	}
	return 0, false, nil
}

// find returns the index of reg in rules, or where it would be inserted.
func find(rules []RegRule, reg uint64) (int, bool) {
	i := sort.Search(len(rules), func(i int) bool { return rules[i].Reg >= reg })
	return i, i < len(rules) && rules[i].Reg == reg
}

func (m *machine) set(reg uint64, rule Rule) {
	if reg >= maxReg {
		return // the reader has failed already
	}
	i, ok := find(m.st.rules, reg)
	if ok {
		m.st.rules[i].Rule = rule
		return
	}
	m.st.rules = slices.Insert(m.st.rules, i, RegRule{Reg: reg, Rule: rule})
}

// restore gives reg the rule it had after the CIE's instructions, or
// none.
func (m *machine) restore(reg uint64) {
	if i, ok := find(m.initial, reg); ok {
		m.set(reg, m.initial[i].Rule)
		return
	}
	if i, ok := find(m.st.rules, reg); ok {
		m.st.rules = slices.Delete(m.st.rules, i, i+1)
	}
}
