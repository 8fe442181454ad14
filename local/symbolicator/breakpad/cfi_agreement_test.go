package breakpad

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// STACK CFI is checked against llvm-dwarfdump --eh-frame on the corpus:
// for every FDE of every binary, CFI at each row's first, middle and last
// address must return the STACK CFI INIT record of that FDE, and Unwind on
// synthetic registers and memory must give what the DWARF row gives.
//
// The rows come from interpreting the CFA instructions llvm-dwarfdump
// decodes (the interpreter is checked against llvm-dwarfdump's own row
// table), not from that table directly: LLVM 14 forgets to restore the CFA
// on DW_CFA_restore_state (at 0x1050 in GCC's -m32 "push %ebx ... pop
// %ebx; ret; 1050: ...; pop %ebx" it prints CFA=ESP+4 where the CFA is
// ESP+8, which dump_syms gets right). Rows whose CFA is a DWARF expression
// and registers whose rule is undefined or an expression are not compared:
// dump_syms cannot express them and keeps the previous rule.

type cfaRule struct {
	reg  string // llvm's name: RSP, ESP, WSP
	off  int64
	expr bool
}

type regRule struct {
	kind string // "offset" [CFA+off], "val" CFA+off, "reg", "same", "undefined", "expr"
	off  int64
	reg  string
}

type cfiState struct {
	cfa  cfaRule
	regs map[string]regRule
}

func (s cfiState) clone() cfiState {
	c := cfiState{cfa: s.cfa, regs: map[string]regRule{}}
	for k, v := range s.regs {
		c.regs[k] = v
	}
	return c
}

type cfiRow struct {
	addr, end uint64
	state     cfiState
	// afterRestoreState marks rows following DW_CFA_restore_state, where
	// llvm-dwarfdump 14's row table is wrong.
	afterRestoreState bool
}

type fde struct {
	start, end uint64
	rows       []cfiRow
	llvmRows   map[uint64]string // llvm-dwarfdump's row table
}

var (
	entryRE = regexp.MustCompile(`^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ (CIE|FDE)(?: cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.\.([0-9a-f]+))?`)
	instrRE = regexp.MustCompile(`^  (DW_CFA_\w+):\s*(.*)$`)
	rowRE   = regexp.MustCompile(`^  (0x[0-9a-f]+): (.*)$`)
)

// parseEHFrame reads llvm-dwarfdump --eh-frame output (.debug_frame and
// .eh_frame) and
// interprets every FDE's instructions after its CIE's.
func parseEHFrame(t testing.TB, out []byte) []fde {
	t.Helper()
	type cie struct{ instrs [][2]string }
	var fdes []fde
	cies := map[string]*cie{} // by section + offset
	section := ""
	var curCIE *cie
	var cur *fde
	var curInstrs [][2]string
	var curCIEOf *cie
	finish := func() {
		if cur != nil {
			cur.rows = interpretCFA(t, curCIEOf.instrs, curInstrs, cur.start, cur.end)
			fdes = append(fdes, *cur)
		}
		cur, curCIE, curInstrs = nil, nil, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ".eh_frame contents") || strings.HasPrefix(line, ".debug_frame contents") {
			finish()
			section = line
			continue
		}
		if m := entryRE.FindStringSubmatch(line); m != nil {
			finish()
			if m[2] == "CIE" {
				curCIE = &cie{}
				cies[section+m[1]] = curCIE
				continue
			}
			c := cies[section+m[3]]
			if c == nil {
				t.Fatalf("FDE %s refers to unknown CIE %s", m[1], m[3])
			}
			start, _ := strconv.ParseUint(m[4], 16, 64)
			end, _ := strconv.ParseUint(m[5], 16, 64)
			cur = &fde{start: start, end: end, llvmRows: map[uint64]string{}}
			curCIEOf = c
			continue
		}
		if m := instrRE.FindStringSubmatch(line); m != nil {
			switch {
			case curCIE != nil:
				curCIE.instrs = append(curCIE.instrs, [2]string{m[1], m[2]})
			case cur != nil:
				curInstrs = append(curInstrs, [2]string{m[1], m[2]})
			}
			continue
		}
		if m := rowRE.FindStringSubmatch(line); m != nil && cur != nil {
			a, _ := strconv.ParseUint(m[1], 0, 64)
			cur.llvmRows[a] = m[2]
		}
	}
	finish()
	return fdes
}

func atoi64(t testing.TB, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 0, 64)
	if err != nil {
		t.Fatalf("bad number %q in llvm-dwarfdump output", s)
	}
	return v
}

// interpretCFA runs the CIE's initial instructions and the FDE's, as DWARF
// 5 section 6.4 defines them, and returns the rows.
func interpretCFA(t testing.TB, cieInstrs, instrs [][2]string, start, end uint64) []cfiRow {
	t.Helper()
	st := cfiState{regs: map[string]regRule{}}
	var initial cfiState
	var saved []cfiState
	loc := start
	var rows []cfiRow
	restored := false
	emit := func(next uint64) {
		if next > loc {
			rows = append(rows, cfiRow{addr: loc, end: next, state: st.clone(), afterRestoreState: restored})
		}
		loc = next
	}
	exec := func(op, args string) {
		f := strings.Fields(args)
		switch op {
		case "DW_CFA_nop", "DW_CFA_GNU_args_size":
		case "DW_CFA_def_cfa", "DW_CFA_def_cfa_sf":
			st.cfa = cfaRule{reg: f[0], off: atoi64(t, f[1])}
		case "DW_CFA_def_cfa_register":
			st.cfa.reg, st.cfa.expr = f[0], false
		case "DW_CFA_def_cfa_offset", "DW_CFA_def_cfa_offset_sf":
			st.cfa.off = atoi64(t, f[0])
		case "DW_CFA_def_cfa_expression":
			st.cfa = cfaRule{expr: true}
		case "DW_CFA_offset", "DW_CFA_offset_extended", "DW_CFA_offset_extended_sf":
			st.regs[f[0]] = regRule{kind: "offset", off: atoi64(t, f[1])}
		case "DW_CFA_val_offset", "DW_CFA_val_offset_sf":
			st.regs[f[0]] = regRule{kind: "val", off: atoi64(t, f[1])}
		case "DW_CFA_register":
			st.regs[f[0]] = regRule{kind: "reg", reg: f[1]}
		case "DW_CFA_same_value":
			st.regs[f[0]] = regRule{kind: "same"}
		case "DW_CFA_undefined":
			st.regs[f[0]] = regRule{kind: "undefined"}
		case "DW_CFA_expression", "DW_CFA_val_expression":
			st.regs[f[0]] = regRule{kind: "expr"}
		case "DW_CFA_restore", "DW_CFA_restore_extended":
			if r, ok := initial.regs[f[0]]; ok {
				st.regs[f[0]] = r
			} else {
				delete(st.regs, f[0])
			}
		case "DW_CFA_remember_state":
			saved = append(saved, st.clone())
		case "DW_CFA_restore_state":
			if len(saved) == 0 {
				t.Fatalf("DW_CFA_restore_state without remember_state")
			}
			st = saved[len(saved)-1]
			saved = saved[:len(saved)-1]
			restored = true
		case "DW_CFA_advance_loc", "DW_CFA_advance_loc1", "DW_CFA_advance_loc2", "DW_CFA_advance_loc4":
			emit(loc + uint64(atoi64(t, f[0])))
		case "DW_CFA_set_loc":
			v, _ := strconv.ParseUint(f[0], 0, 64)
			emit(v)
		default:
			t.Fatalf("CFA instruction %s %s not understood by the test", op, args)
		}
	}
	for _, in := range cieInstrs {
		exec(in[0], in[1])
	}
	initial = st.clone()
	for _, in := range instrs {
		exec(in[0], in[1])
	}
	emit(end)
	return rows
}

// llvmRowString renders a state as llvm-dwarfdump 14 prints rows, for the
// check of the interpreter.
func llvmRowState(t testing.TB, row string) cfiState {
	t.Helper()
	st := cfiState{regs: map[string]regRule{}}
	cfaPart, regsPart, _ := strings.Cut(row, ": ")
	c := strings.TrimPrefix(cfaPart, "CFA=")
	if strings.HasPrefix(c, "DW_OP") {
		st.cfa.expr = true
	} else if i := strings.IndexAny(c, "+-"); i >= 0 {
		st.cfa = cfaRule{reg: c[:i], off: atoi64(t, c[i:])}
	} else {
		st.cfa = cfaRule{reg: c}
	}
	if regsPart == "" {
		return st
	}
	for _, part := range strings.Split(regsPart, ", ") {
		name, rule, ok := strings.Cut(part, "=")
		if !ok {
			continue // a piece of an expression
		}
		switch {
		case rule == "undefined":
			st.regs[name] = regRule{kind: "undefined"}
		case rule == "same":
			st.regs[name] = regRule{kind: "same"}
		case strings.HasPrefix(rule, "[CFA"):
			st.regs[name] = regRule{kind: "offset", off: atoi64(t, strings.TrimSuffix(rule[4:], "]"))}
		case strings.HasPrefix(rule, "CFA"):
			st.regs[name] = regRule{kind: "val", off: atoi64(t, rule[3:])}
		case strings.Contains(rule, "DW_OP"):
			st.regs[name] = regRule{kind: "expr"}
		default:
			st.regs[name] = regRule{kind: "reg", reg: rule}
		}
	}
	return st
}

func sameState(a, b cfiState) bool {
	if a.cfa != b.cfa || len(a.regs) != len(b.regs) {
		return false
	}
	for k, v := range a.regs {
		if b.regs[k] != v {
			return false
		}
	}
	return true
}

// llvmRegName maps llvm-dwarfdump's register names to canonical ones.
func llvmRegName(arch, r string) string {
	if arch == "arm64" {
		switch r {
		case "WSP", "SP":
			return "sp"
		case "W29", "X29", "FP":
			return "fp"
		case "W30", "X30", "LR":
			return "lr"
		}
		if len(r) > 1 && (r[0] == 'W' || r[0] == 'X') {
			return "x" + r[1:]
		}
		// DWARF registers 64-95 are the SIMD registers, which llvm
		// names by their byte view (B8) and dump_syms as v8.
		if len(r) > 1 && strings.ContainsRune("BHSDQV", rune(r[0])) {
			return "v" + r[1:]
		}
	}
	return strings.ToLower(r)
}

// synthetic registers and memory: every value is a hash of its name or
// address, so a rule reading the wrong register or slot gives a different
// value.
type synthetic struct{ mask uint64 }

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func (s synthetic) reg(name string) (uint64, bool) { return hash64("reg "+name) & s.mask, true }

func (s synthetic) Read(addr uint64, size int) (uint64, bool) {
	v := hash64(fmt.Sprintf("mem %#x", addr))
	if size == 4 {
		v &= 0xffffffff
	}
	return v & s.mask, true
}

type cfiAgreement struct {
	mu                                               sync.Mutex
	fdes, rows, addrs, regs, skippedCFA, skippedRegs int
	bad                                              []string
}

func (a *cfiAgreement) add(o *cfiAgreement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fdes += o.fdes
	a.rows += o.rows
	a.addrs += o.addrs
	a.regs += o.regs
	a.skippedCFA += o.skippedCFA
	a.skippedRegs += o.skippedRegs
	a.bad = append(a.bad, o.bad...)
}

func (a *cfiAgreement) String() string {
	return fmt.Sprintf("%d FDEs, %d rows, %d addresses: %d register values agree, %d disagreeing; not comparable: %d rows with a CFA expression, %d undefined or expression rules",
		a.fdes, a.rows, a.addrs, a.regs, len(a.bad), a.skippedCFA, a.skippedRegs)
}

func TestCFIAgreesWithLLVMDwarfdump(t *testing.T) {
	dwarfdump := requireTool(t, "llvm-dwarfdump")
	var total cfiAgreement
	t.Cleanup(func() { t.Logf("total: %v", &total) })
	for _, spec := range corpusSpecs(testing.Short()) {
		spec := spec
		t.Run(spec.String(), func(t *testing.T) {
			t.Parallel()
			bin := build(t, spec)
			f, _ := symFile(t, bin)
			if f.Module.Arch != spec.arch {
				t.Fatalf("MODULE arch %q, want %q", f.Module.Arch, spec.arch)
			}
			out := run(t, corpusDir, nil, dwarfdump, "--eh-frame", bin) // prints .debug_frame too
			var a cfiAgreement
			checkCFI(t, f, spec.arch, parseEHFrame(t, out), &a)
			total.add(&a)
			t.Logf("%v", &a)
			for i, b := range a.bad {
				if i == 10 {
					t.Errorf("... and %d more", len(a.bad)-10)
					break
				}
				t.Error(b)
			}
		})
	}
}

func checkCFI(t *testing.T, f *File, arch string, fdes []fde, a *cfiAgreement) {
	syn := synthetic{mask: ^uint64(0)}
	if f.ptrSize == 4 {
		syn.mask = 0xffffffff
	}
	get := func(name string) (uint64, bool) { return syn.reg(name) }
	raName := map[string]string{"x86_64": "rip", "x86": "eip", "arm64": "lr"}[arch]
	for _, fd := range fdes {
		if fd.end == fd.start {
			continue
		}
		a.fdes++
		// Check the interpreter against llvm-dwarfdump's rows where those
		// are right.
		for _, row := range fd.rows {
			if text, ok := fd.llvmRows[row.addr]; ok && !row.afterRestoreState {
				if want := llvmRowState(t, text); !sameState(row.state, want) {
					t.Fatalf("FDE %#x: interpreted row at %#x is %+v, llvm-dwarfdump prints %q", fd.start, row.addr, row.state, text)
				}
			}
		}
		for _, row := range fd.rows {
			a.rows++
			if row.state.cfa.expr {
				a.skippedCFA++
				continue
			}
			addrs := []uint64{row.addr, row.addr + (row.end-row.addr)/2, row.end - 1}
			for i, addr := range addrs {
				if i > 0 && addr == addrs[i-1] {
					continue
				}
				a.addrs++
				if msg := compareRow(f, syn, get, arch, raName, fd, row, addr, a); msg != "" {
					a.bad = append(a.bad, msg)
				}
			}
		}
	}
}

func compareRow(f *File, syn synthetic, get func(string) (uint64, bool), arch, raName string, fd fde, row cfiRow, addr uint64, a *cfiAgreement) string {
	rules, ok := f.CFI(addr)
	if !ok {
		return fmt.Sprintf("%#x (FDE %#x): no STACK CFI", addr, fd.start)
	}
	if rules.Start != fd.start {
		return fmt.Sprintf("%#x: STACK CFI INIT at %#x, FDE at %#x", addr, rules.Start, fd.start)
	}
	got, err := rules.Unwind(get, syn)
	if err != nil {
		return fmt.Sprintf("%#x: Unwind: %v (rules %+v)", addr, err, *rules)
	}
	st := row.state
	cfaReg, _ := syn.reg(llvmRegName(arch, st.cfa.reg))
	cfa := (cfaReg + uint64(st.cfa.off)) & syn.mask
	want := map[string]uint64{".cfa": cfa}
	skip := map[string]bool{}
	for name, r := range st.regs {
		c := llvmRegName(arch, name)
		if c == raName {
			c = ".ra"
		}
		switch r.kind {
		case "offset":
			want[c], _ = syn.Read((cfa+uint64(r.off))&syn.mask, f.ptrSize)
		case "val":
			want[c] = (cfa + uint64(r.off)) & syn.mask
		case "reg":
			want[c], _ = syn.reg(llvmRegName(arch, r.reg))
		case "same":
			want[c], _ = syn.reg(c)
		default: // undefined, expression
			skip[c] = true
			a.skippedRegs++
		}
	}
	if _, ok := want[".ra"]; !ok && !skip[".ra"] {
		want[".ra"], _ = syn.reg(raName) // the return address register keeps its value
	}
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing (want %#x)", name, w))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s = %#x, want %#x", name, g, w))
		default:
			a.regs++
		}
	}
	for name, g := range got {
		if _, ok := want[name]; ok || skip[name] {
			continue
		}
		// A rule dump_syms wrote that the row has no rule for must be a
		// "same value" rule (written for DW_CFA_restore).
		if w, _ := syn.reg(name); g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %#x, row has no rule for it", name, g))
		} else {
			a.regs++
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	sort.Strings(diffs)
	return fmt.Sprintf("%#x (FDE %#x): %s\n  rules %+v\n  row %+v", addr, fd.start, strings.Join(diffs, "; "), *rules, st)
}
