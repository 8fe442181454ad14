package compactunwind

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The prologue test runs each function's prologue, as llvm-objdump
// disassembles it, on a synthetic machine state: the caller's registers
// hold known values, the return address is where the call put it. At the
// function's first call (the body), Unwind must give back the caller's
// stack pointer, the return address and the value of every callee-saved
// register it reports, and must report every callee-saved register the
// prologue saved. This checks the decoded meaning of each encoding against
// the code the compiler actually emitted.

const (
	stackTop   = 0x7ff0_0000_8000 // the caller's stack pointer after the call
	returnAddr = 0x0000_0001_2345_6780
	garbage    = 0xdead_0000_0000_0000
)

var (
	reFunc  = regexp.MustCompile(`^([0-9a-f]+) <(.+)>:$`)
	reInsn  = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$`)
	reSect  = regexp.MustCompile(`^Disassembly of section (\S+):`)
	reImm   = regexp.MustCompile(`^\$(-?(?:0x[0-9a-f]+|\d+))$`)
	reA64SP = regexp.MustCompile(`^\[sp(?:, #(-?\d+))?\](!?)$`)
)

type insn struct {
	addr     uint64
	mnemonic string
	ops      []string
}

type function struct {
	name  string
	addr  uint64
	insns []insn
}

// disassemble returns the functions of the image's __text section.
func disassemble(t *testing.T, path string) []function {
	out := run(t, tool(t, "llvm-objdump"), "-d", "--no-show-raw-insn", path)
	var fns []function
	inText := false
	for _, line := range strings.Split(out, "\n") {
		if m := reSect.FindStringSubmatch(line); m != nil {
			inText = m[1] == "__TEXT,__text"
			continue
		}
		if !inText {
			continue
		}
		if m := reFunc.FindStringSubmatch(line); m != nil {
			a, _ := strconv.ParseUint(m[1], 16, 64)
			fns = append(fns, function{name: m[2], addr: a})
			continue
		}
		m := reInsn.FindStringSubmatch(line)
		if m == nil || len(fns) == 0 {
			continue
		}
		a, _ := strconv.ParseUint(m[1], 16, 64)
		rest := m[3]
		for _, c := range []string{"##", ";", "//"} {
			if i := strings.Index(rest, c); i >= 0 {
				rest = rest[:i]
			}
		}
		fns[len(fns)-1].insns = append(fns[len(fns)-1].insns, insn{a, m[2], splitOps(strings.TrimSpace(rest))})
	}
	return fns
}

// splitOps splits operands at top-level commas (not inside brackets).
func splitOps(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, strings.TrimSpace(s[start:]))
	}
	return out
}

// machine is the synthetic state: registers by canonical name and 8-byte
// memory words.
type machine struct {
	regs  map[string]uint64
	mem   map[uint64]uint64
	saved map[string]bool // callee-saved registers stored by the prologue
}

func (m *machine) Read(addr uint64, size int) (uint64, bool) {
	v, ok := m.mem[addr]
	if size == 4 {
		v &= 0xffffffff
	}
	return v, ok
}

func (m *machine) get(name string) (uint64, bool) { v, ok := m.regs[name]; return v, ok }

func parseNum(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 0, 64)
	return v, err == nil
}

var x64Canon = map[string]string{
	"%rbx": "rbx", "%ebx": "rbx", "%rbp": "rbp", "%ebp": "rbp", "%rsp": "rsp", "%esp": "rsp",
	"%r12": "r12", "%r12d": "r12", "%r13": "r13", "%r13d": "r13",
	"%r14": "r14", "%r14d": "r14", "%r15": "r15", "%r15d": "r15",
}

var x64CalleeSaved = []string{"rbx", "rbp", "r12", "r13", "r14", "r15"}

// runX64 executes an x86_64 prologue up to the first control transfer.
// ok is false when the prologue does something this emulator does not
// model (stack realignment).
func runX64(f function) (*machine, uint64, bool) {
	m := &machine{regs: map[string]uint64{"rsp": stackTop - 8}, mem: map[uint64]uint64{stackTop - 8: returnAddr}, saved: map[string]bool{}}
	for i, r := range x64CalleeSaved {
		m.regs[r] = 0x1111_0000_0000 + uint64(i)*0x101
	}
	for _, in := range f.insns {
		mn := in.mnemonic
		if strings.HasPrefix(mn, "call") || strings.HasPrefix(mn, "j") || strings.HasPrefix(mn, "ret") || mn == "ud2" {
			return m, in.addr, true
		}
		dst := ""
		if len(in.ops) > 0 {
			dst = x64Canon[in.ops[len(in.ops)-1]]
		}
		switch {
		case mn == "pushq" && len(in.ops) == 1:
			v := uint64(garbage)
			if r, ok := x64Canon[in.ops[0]]; ok {
				v = m.regs[r]
				m.saved[r] = true
			}
			m.regs["rsp"] -= 8
			m.mem[m.regs["rsp"]] = v
		case mn == "movq" && len(in.ops) == 2 && in.ops[0] == "%rsp" && in.ops[1] == "%rbp":
			m.regs["rbp"] = m.regs["rsp"]
		case mn == "subq" && len(in.ops) == 2 && in.ops[1] == "%rsp":
			im := reImm.FindStringSubmatch(in.ops[0])
			if im == nil {
				return nil, 0, false
			}
			n, _ := parseNum(im[1])
			m.regs["rsp"] -= uint64(n)
		case dst == "rsp":
			return nil, 0, false // realignment, dynamic allocation
		case dst != "" && strings.HasPrefix(mn, "mov") || strings.HasPrefix(mn, "lea") || strings.HasPrefix(mn, "xor") || strings.HasPrefix(mn, "add"):
			if dst != "" {
				if dst == "rbp" && !m.saved["rbp"] {
					return nil, 0, false
				}
				m.regs[dst] = garbage | 0xbad
			}
		}
	}
	return nil, 0, false
}

var a64CalleeSaved = []string{"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp"}

func a64Canon(r string) string {
	switch r {
	case "x29", "fp":
		return "fp"
	case "x30", "lr":
		return "lr"
	}
	if strings.HasPrefix(r, "w") {
		return "x" + r[1:]
	}
	return r
}

// runARM64 executes an arm64 prologue up to the first branch.
func runARM64(f function) (*machine, uint64, bool) {
	m := &machine{regs: map[string]uint64{"sp": stackTop, "lr": returnAddr, "fp": 0x2222_0000_0000}, mem: map[uint64]uint64{}, saved: map[string]bool{}}
	for i := 19; i <= 28; i++ {
		m.regs[fmt.Sprintf("x%d", i)] = 0x1111_0000_0000 + uint64(i)*0x101
	}
	for i := 8; i <= 15; i++ {
		m.regs[fmt.Sprintf("d%d", i)] = 0x3333_0000_0000 + uint64(i)
	}
	val := func(r string) uint64 {
		if v, ok := m.regs[a64Canon(r)]; ok {
			return v
		}
		return garbage
	}
	store := func(r string, addr uint64) {
		c := a64Canon(r)
		if _, ok := m.regs[c]; ok {
			m.saved[c] = true
		}
		m.mem[addr] = val(r)
	}
	for _, in := range f.insns {
		mn, ops := in.mnemonic, in.ops
		switch {
		case mn == "bl" || mn == "b" || strings.HasPrefix(mn, "b.") || mn == "ret" || mn == "br" || mn == "blr" ||
			mn == "cbz" || mn == "cbnz" || mn == "tbz" || mn == "tbnz" || mn == "brk":
			return m, in.addr, true
		case (mn == "stp" || mn == "str") && len(ops) >= 2:
			mem := ops[len(ops)-1]
			sm := reA64SP.FindStringSubmatch(mem)
			if sm == nil {
				continue // a store relative to another base: not a save
			}
			off, _ := parseNum(sm[1])
			if sm[1] == "" {
				off = 0
			}
			if sm[2] == "!" {
				m.regs["sp"] += uint64(off)
				off = 0
			}
			base := m.regs["sp"] + uint64(off)
			if mn == "stp" {
				store(ops[0], base)
				store(ops[1], base+8)
			} else if c := a64Canon(ops[0]); strings.HasPrefix(ops[0], "x") || strings.HasPrefix(ops[0], "d") || c == "fp" || c == "lr" {
				store(ops[0], base)
			}
		case mn == "sub" && len(ops) >= 3 && ops[0] == "sp" && ops[1] == "sp":
			n, ok := parseNum(strings.TrimPrefix(ops[2], "#"))
			if !ok {
				return nil, 0, false
			}
			if len(ops) == 4 && ops[3] == "lsl #12" {
				n <<= 12
			}
			m.regs["sp"] -= uint64(n)
		case mn == "mov" && len(ops) == 2 && a64Canon(ops[0]) == "fp" && ops[1] == "sp":
			m.regs["fp"] = m.regs["sp"]
		case mn == "add" && len(ops) == 3 && a64Canon(ops[0]) == "fp" && ops[1] == "sp":
			n, ok := parseNum(strings.TrimPrefix(ops[2], "#"))
			if !ok {
				return nil, 0, false
			}
			m.regs["fp"] = m.regs["sp"] + uint64(n)
		case len(ops) > 0 && ops[0] == "sp":
			return nil, 0, false // realignment, dynamic allocation
		case len(ops) > 0 && !strings.HasPrefix(mn, "st") && !strings.HasPrefix(mn, "cmp") && !strings.HasPrefix(mn, "tst"):
			if c := a64Canon(ops[0]); c == "fp" {
				return nil, 0, false
			} else if _, ok := m.regs[c]; ok && c != "sp" {
				m.regs[c] = garbage | 0xbad
			}
		}
	}
	return nil, 0, false
}

func TestPrologueSemantics(t *testing.T) {
	imgs := buildAll(t)
	checked, skipped := map[string]int{}, map[string]int{}
	for _, img := range imgs {
		t.Run(img.name, func(t *testing.T) {
			tab, _ := load(t, img)
			for _, f := range disassemble(t, img.path) {
				var m *machine
				var body uint64
				var ok bool
				callee := x64CalleeSaved
				caller := map[string]uint64{".cfa": stackTop, ".ra": returnAddr}
				if img.arch == "x86_64" {
					m, body, ok = runX64(f)
					caller["rsp"], caller["rip"] = stackTop, returnAddr
				} else {
					m, body, ok = runARM64(f)
					callee = a64CalleeSaved
					caller["sp"], caller["pc"] = stackTop, returnAddr
				}
				if !ok {
					skipped[img.arch+" unmodelled prologue"]++
					continue
				}
				for k, v := range m.regs {
					if _, set := caller[k]; !set {
						caller[k] = v
					}
				}
				// The initial values, before the prologue changed them.
				init := map[string]uint64{}
				if img.arch == "x86_64" {
					for i, r := range x64CalleeSaved {
						init[r] = 0x1111_0000_0000 + uint64(i)*0x101
					}
				} else {
					for i := 19; i <= 28; i++ {
						init[fmt.Sprintf("x%d", i)] = 0x1111_0000_0000 + uint64(i)*0x101
					}
					init["fp"], init["lr"] = 0x2222_0000_0000, returnAddr
				}
				e, found := tab.Find(body)
				if _, hi := tab.Range(); !found && body >= hi {
					// ld64.lld 14 ends the table early when it folds a run
					// of identical encodings at the end of __text.
					skipped[img.arch+" beyond the table's end"]++
					continue
				}
				if !found {
					t.Errorf("%s: no entry at its body 0x%x", f.name, body)
					continue
				}
				mode := e.Mode()
				if img.arch == "arm64" && e.Encoding&0xfff != 0 || img.arch == "x86_64" && mode != "frame" && e.Encoding&0x1c00 != 0 ||
					img.arch == "x86_64" && mode == "frame" && e.Encoding&0x7fff != 0 {
					mode += "+saves"
				}
				out, err := e.Unwind(m.get, m)
				if err != nil {
					if e.UsesDWARF() || e.Encoding == 0 {
						skipped[img.arch+" "+mode]++
						continue
					}
					t.Errorf("%s (encoding 0x%08x, %s): %v", f.name, e.Encoding, mode, err)
					continue
				}
				bad := false
				for k, v := range out {
					want, known := caller[k]
					if k != ".cfa" && k != ".ra" && k != "rsp" && k != "rip" && k != "sp" && k != "pc" {
						want, known = init[k]
					}
					if !known || v != want {
						t.Errorf("%s (encoding 0x%08x, %s): %s = 0x%x, want 0x%x (known %v)", f.name, e.Encoding, mode, k, v, want, known)
						bad = true
					}
				}
				for _, k := range []string{".cfa", ".ra"} {
					if _, ok := out[k]; !ok {
						t.Errorf("%s: no %s", f.name, k)
						bad = true
					}
				}
				for _, r := range callee {
					if m.saved[r] {
						if _, ok := out[r]; !ok {
							t.Errorf("%s (encoding 0x%08x, %s): the prologue saves %s, Unwind does not restore it", f.name, e.Encoding, mode, r)
							bad = true
						}
						if !e.HasRule(r) {
							t.Errorf("%s: HasRule(%s) false for a saved register", f.name, r)
						}
					}
				}
				if !bad {
					checked[img.arch+" "+mode]++
				}
			}
		})
	}
	t.Logf("unwound correctly from the body: %v; not evaluated: %v", checked, skipped)
}
