package unwind

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// The fakes below stand in for the real stack memory, module list and CFI
// packages (minidump, dwarfcfi, breakpad), which are written in parallel.
// They implement only the contracts Walk documents, so each test can lay out
// a stack word by word and state what rust-minidump's rules make of it.

// stackMem is stack memory: bytes starting at base.
type stackMem struct {
	base  uint64
	bytes []byte
}

func (m *stackMem) Read(addr uint64, size int) (uint64, bool) {
	if size != 4 && size != 8 || addr < m.base {
		return 0, false
	}
	off := addr - m.base
	if off > uint64(len(m.bytes)) || uint64(len(m.bytes))-off < uint64(size) {
		return 0, false
	}
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(m.bytes[off:])), true
	}
	return binary.LittleEndian.Uint64(m.bytes[off:]), true
}

// stack builds stack memory upwards from base, one word at a time.
type stack struct {
	mem  stackMem
	word int // 4 or 8
}

func newStack(base uint64, word int) *stack {
	return &stack{mem: stackMem{base: base}, word: word}
}

// here returns the address the next word goes to.
func (s *stack) here() uint64 { return s.mem.base + uint64(len(s.mem.bytes)) }

// push appends words and returns the address of the first.
func (s *stack) push(vals ...uint64) uint64 {
	at := s.here()
	for _, v := range vals {
		if s.word == 4 {
			s.mem.bytes = binary.LittleEndian.AppendUint32(s.mem.bytes, uint32(v))
		} else {
			s.mem.bytes = binary.LittleEndian.AppendUint64(s.mem.bytes, v)
		}
	}
	return at
}

// zeros appends n zero words and returns the address of the first.
func (s *stack) zeros(n int) uint64 {
	at := s.here()
	s.mem.bytes = append(s.mem.bytes, make([]byte, n*s.word)...)
	return at
}

// set overwrites the word at addr.
func (s *stack) set(addr, v uint64) {
	off := addr - s.mem.base
	if s.word == 4 {
		binary.LittleEndian.PutUint32(s.mem.bytes[off:], uint32(v))
	} else {
		binary.LittleEndian.PutUint64(s.mem.bytes[off:], v)
	}
}

// module is a loaded module: [base, base+size), optionally with symbols
// (functions, [start, end) absolute) and CFI.
type module struct {
	base, size uint64
	symbols    bool
	funcs      [][2]uint64
	cfi        []cfiRange
}

type cfiRange struct {
	start, end uint64
	rules      Rules
}

// modules is a fake Modules over a list of modules. It records the
// addresses Code was asked about.
type modules struct {
	list  []module
	asked []uint64
}

func (ms *modules) find(addr uint64) *module {
	for i := range ms.list {
		m := &ms.list[i]
		if addr >= m.base && addr-m.base < m.size {
			return m
		}
	}
	return nil
}

func (ms *modules) CFI(addr uint64) Rules {
	m := ms.find(addr)
	if m == nil {
		return nil
	}
	for _, c := range m.cfi {
		if addr >= c.start && addr < c.end {
			return c.rules
		}
	}
	return nil
}

func (ms *modules) Code(addr uint64) (inModule, hasSymbols, inFunction bool) {
	ms.asked = append(ms.asked, addr)
	m := ms.find(addr)
	if m == nil {
		return false, false, false
	}
	if !m.symbols {
		return true, false, false
	}
	for _, f := range m.funcs {
		if addr >= f[0] && addr < f[1] {
			return true, true, true
		}
	}
	return true, true, false
}

// rules are simple CFI rules in the shape STACK CFI rows take:
//
//	.cfa = cfaReg + cfaOff
//	.ra  = *(cfa + raOff), or raReg when raReg is set
//	reg  = *(cfa + off) for every saved reg, or a constant for every set reg
//
// Registers in lost are named by the rules but cannot be recovered.
type rules struct {
	word   int
	cfaReg string
	cfaOff int64
	raReg  string
	raOff  int64
	saved  map[string]int64
	set    map[string]uint64
	lost   []string
	asked  []string // register names get was called with
}

func (r *rules) Unwind(get func(string) (uint64, bool), mem Memory) (map[string]uint64, error) {
	r.asked = append(r.asked, r.cfaReg)
	base, ok := get(r.cfaReg)
	if !ok {
		return nil, fmt.Errorf("no %s", r.cfaReg)
	}
	cfa := base + uint64(r.cfaOff)
	out := map[string]uint64{".cfa": cfa}
	if r.raReg != "" {
		r.asked = append(r.asked, r.raReg)
		v, ok := get(r.raReg)
		if !ok {
			return nil, fmt.Errorf("no %s", r.raReg)
		}
		out[".ra"] = v
	} else {
		v, ok := mem.Read(cfa+uint64(r.raOff), r.word)
		if !ok {
			return nil, fmt.Errorf("ra unreadable")
		}
		out[".ra"] = v
	}
	for reg, off := range r.saved {
		if v, ok := mem.Read(cfa+uint64(off), r.word); ok {
			out[reg] = v
		}
	}
	maps.Copy(out, r.set)
	return out, nil
}

// listingRules are rules that also say which registers they name.
type listingRules struct{ *rules }

func (r listingRules) HasRule(name string) bool {
	_, saved := r.saved[name]
	_, set := r.set[name]
	return saved || set || slices.Contains(r.lost, name)
}

// startRules are rules looked up at the first address they cover.
type startRules struct{ *rules }

func (startRules) AtFunctionStart() bool { return true }

// want is the expected part of a frame.
type want struct {
	trust       string
	resume      uint64
	instruction uint64
	regs        map[string]uint64
}

// checkFrames compares a walk with the expected frames, registers exactly.
func checkFrames(t *testing.T, got []Frame, want []want) {
	t.Helper()
	if len(got) != len(want) {
		for i, f := range got {
			t.Logf("frame %d: %s resume %#x regs %s", i, f.Trust, f.Resume, fmtRegs(f.Registers))
		}
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i, w := range want {
		f := got[i]
		if f.Trust != w.trust || f.Resume != w.resume || f.Instruction != w.instruction {
			t.Errorf("frame %d: got %s resume %#x instruction %#x, want %s resume %#x instruction %#x",
				i, f.Trust, f.Resume, f.Instruction, w.trust, w.resume, w.instruction)
		}
		if w.regs != nil && !maps.Equal(f.Registers, w.regs) {
			t.Errorf("frame %d registers:\n got  %s\n want %s", i, fmtRegs(f.Registers), fmtRegs(w.regs))
		}
	}
}

func fmtRegs(r map[string]uint64) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(r)) {
		s += fmt.Sprintf("%s=%#x ", k, r[k])
	}
	return s
}
