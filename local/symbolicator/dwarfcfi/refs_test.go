package dwarfcfi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// refFDE is an FDE as a reference tool prints it.
type refFDE struct {
	off        uint64
	begin, end uint64
	rows       []refRow
	instrs     []string // llvm-dwarfdump: the instructions' names
	cols       []string // readelf: the register columns
}

// refRow is one row of a reference unwind table: llvm-dwarfdump's text
// after "0x...: ", or readelf's cells (CFA first, then one per column).
type refRow struct {
	addr  uint64
	text  string
	cells []string
}

// lastRows keeps the last row printed for each address: a row printed
// twice for one address is replaced before any code runs under it.
func lastRows(rows []refRow) []refRow {
	var out []refRow
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].addr == r.addr {
			out[n-1] = r
			continue
		}
		out = append(out, r)
	}
	return out
}

var (
	llvmSectionRE = regexp.MustCompile(`^\.(debug_frame|eh_frame) contents:`)
	llvmFDERE     = regexp.MustCompile(`^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.\.([0-9a-f]+)$`)
	entryRE       = regexp.MustCompile(`^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ CIE|^[0-9a-f]+ ZERO terminator`)
	llvmRowRE     = regexp.MustCompile(`^  0x([0-9a-f]+): (.*)$`)
	llvmInstrRE   = regexp.MustCompile(`^  (DW_CFA_[A-Za-z0-9_]+)`)
)

// llvmDump runs llvm-dwarfdump --debug-frame (which prints .debug_frame
// and .eh_frame) and returns the FDEs per section (".eh_frame" also for
// Mach-O's __eh_frame), by offset.
func llvmDump(t *testing.T, path string) map[string]map[uint64]*refFDE {
	t.Helper()
	out := output(t, "llvm-dwarfdump", "--debug-frame", path)
	res := map[string]map[uint64]*refFDE{}
	var sec map[uint64]*refFDE
	var cur *refFDE
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := llvmSectionRE.FindStringSubmatch(l); m != nil {
			sec = map[uint64]*refFDE{}
			res["."+m[1]] = sec
			cur = nil
			continue
		}
		if m := llvmFDERE.FindStringSubmatch(l); m != nil {
			cur = &refFDE{off: hex(t, m[1]), begin: hex(t, m[4]), end: hex(t, m[5])}
			sec[cur.off] = cur
			continue
		}
		if entryRE.MatchString(l) {
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		if m := llvmRowRE.FindStringSubmatch(l); m != nil {
			cur.rows = append(cur.rows, refRow{addr: hex(t, m[1]), text: m[2]})
		} else if m := llvmInstrRE.FindStringSubmatch(l); m != nil {
			cur.instrs = append(cur.instrs, m[1])
		}
	}
	return res
}

var (
	readelfSectionRE = regexp.MustCompile(`^Contents of the (\.[a-z_]+) section:`)
	readelfFDERE     = regexp.MustCompile(`^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) FDE cie=\S+\s+pc=([0-9a-f]+)\.\.([0-9a-f]+)$`)
	readelfHeaderRE  = regexp.MustCompile(`^\s+LOC\s+CFA\s*(.*)$`)
	readelfRowRE     = regexp.MustCompile(`^([0-9a-f]{8,16}) (.*)$`)
)

// readelfDump runs readelf --debug-dump=frames-interp and returns the FDEs
// per section, by offset.
func readelfDump(t *testing.T, path string) map[string]map[uint64]*refFDE {
	t.Helper()
	cmd := exec.Command(tool(t, "readelf"), "--debug-dump=frames-interp", "--debug-dump=no-follow-links", "--wide", path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("readelf %s: %v", path, err)
	}
	res := map[string]map[uint64]*refFDE{}
	var sec map[uint64]*refFDE
	var cur *refFDE
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := readelfSectionRE.FindStringSubmatch(l); m != nil {
			sec = map[uint64]*refFDE{}
			res[m[1]] = sec
			cur = nil
			continue
		}
		if m := readelfFDERE.FindStringSubmatch(l); m != nil {
			cur = &refFDE{off: hex(t, m[1]), begin: hex(t, m[4]), end: hex(t, m[5])}
			sec[cur.off] = cur
			continue
		}
		if entryRE.MatchString(l) {
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		if m := readelfHeaderRE.FindStringSubmatch(l); m != nil {
			cur.cols = strings.Fields(m[1])
			continue
		}
		if m := readelfRowRE.FindStringSubmatch(l); m != nil && cur.cols != nil {
			// "r0 (rax)" is one cell.
			var cells []string
			for _, f := range strings.Fields(m[2]) {
				if strings.HasPrefix(f, "(") && len(cells) > 0 {
					continue
				}
				cells = append(cells, f)
			}
			cur.rows = append(cur.rows, refRow{addr: hex(t, m[1]), cells: cells})
		}
	}
	return res
}

func hex(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("bad hex number %q", s)
	}
	return v
}

// regNames maps DWARF register numbers to the names the reference tools
// print, learnt from a probe object with a rule for every register.
type regNames struct {
	llvm    map[uint64]string
	readelf map[string]uint64
}

var (
	namesMu    sync.Mutex
	namesCache = map[Arch]*regNames{}
)

// probeRegs lists the registers of each architecture's probe and its
// usual return address column.
func probeRegs(a Arch) (regs []uint64, ra uint64) {
	add := func(lo, hi uint64) {
		for r := lo; r <= hi; r++ {
			regs = append(regs, r)
		}
	}
	switch a {
	case AMD64:
		add(0, 130)
		return regs, 16
	case X86:
		add(0, 60)
		return regs, 8
	case ARM64:
		add(0, 127)
		return regs, 30
	default:
		add(0, 20)
		add(256, 287)
		return regs, 14
	}
}

// names calibrates the reference tools' register names for arch. readelf
// prints the return address column as "ra", so a second probe with
// another return address column names the usual one.
func names(t *testing.T, a Arch) *regNames {
	t.Helper()
	namesMu.Lock()
	defer namesMu.Unlock()
	if n, ok := namesCache[a]; ok {
		return n
	}
	all, ra := probeRegs(a)
	var regs []uint64
	for _, r := range all {
		if r != ra {
			regs = append(regs, r)
		}
	}
	n := &regNames{llvm: map[uint64]string{}, readelf: map[string]uint64{}}
	other := uint64(1)
	probe(t, a, n, regs, ra)
	probe(t, a, n, []uint64{other, ra}, other)
	if len(n.llvm) != len(all) || len(n.readelf) < len(all)*3/4 {
		t.Fatalf("probes named %d registers for llvm-dwarfdump and %d for readelf, of %d", len(n.llvm), len(n.readelf), len(all))
	}
	namesCache[a] = n
	return n
}

// probe assembles a function with a DW_CFA_offset rule for each of regs
// (sorted) and return address column ra, and records the names the
// reference tools print for them.
func probe(t *testing.T, a Arch, n *regNames, regs []uint64, ra uint64) {
	var src strings.Builder
	if a == ARM {
		src.WriteString(".syntax unified\n.cfi_sections .debug_frame\n")
	}
	// The nop keeps the rules in the FDE: at the very start the assembler
	// would move them into the CIE.
	fmt.Fprintf(&src, ".text\nprobe:\n.cfi_startproc\n.cfi_return_column %d\nnop\n", ra)
	for _, r := range regs {
		fmt.Fprintf(&src, ".cfi_offset %d, -8\n", r)
	}
	src.WriteString("nop\n.cfi_endproc\n")
	dir := t.TempDir()
	in, obj := filepath.Join(dir, "probe.s"), filepath.Join(dir, "probe.o")
	if err := os.WriteFile(in, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var cmd []string
	switch a {
	case AMD64:
		cmd = []string{"gcc", "-c"}
	case X86:
		cmd = []string{"gcc", "-m32", "-c"}
	case ARM64:
		cmd = []string{"aarch64-linux-gnu-gcc", "-c"}
	case ARM:
		cmd = []string{"clang", "--target=armv7-linux-gnueabihf", "-c"}
	}
	output(t, cmd[0], append(cmd[1:], in, "-o", obj)...)
	// llvm-dwarfdump: the FDE's DW_CFA_offset lines, in order.
	re := regexp.MustCompile(`^  DW_CFA_offset(?:_extended)?: (\S+) -8$`)
	inFDE, i := false, 0
	for _, l := range strings.Split(string(output(t, "llvm-dwarfdump", "--debug-frame", obj)), "\n") {
		if strings.Contains(l, " FDE ") {
			inFDE = true
		}
		if m := re.FindStringSubmatch(l); m != nil && inFDE && i < len(regs) {
			n.llvm[regs[i]] = m[1]
			i++
		}
	}
	if i != len(regs) {
		t.Fatalf("llvm-dwarfdump named %d of the probe's %d registers", i, len(regs))
	}
	// readelf: the FDE's column header, in register order, with the
	// return address column as "ra" when it has a rule. readelf has no
	// column for registers beyond its table (x86_64: 126).
	cols := append([]uint64{ra}, regs...)
	sort.Slice(cols, func(i, j int) bool { return cols[i] < cols[j] })
	cols = slices.Compact(cols)
	found := false
	for _, fdes := range readelfDump(t, obj) {
		for _, f := range fdes {
			found = true
			j := 0
			for _, name := range f.cols {
				if j < len(cols) && cols[j] == ra && name != "ra" {
					j++
				}
				if j >= len(cols) {
					t.Fatalf("readelf printed more columns than the probe has registers: %v", f.cols)
				}
				if name != "ra" {
					n.readelf[name] = cols[j]
				} else if cols[j] != ra {
					t.Fatalf("readelf printed ra for register %d", cols[j])
				}
				j++
			}
		}
	}
	if !found {
		t.Fatalf("readelf printed no FDE for the probe")
	}
}

func (n *regNames) llvmName(r uint64) string {
	if s, ok := n.llvm[r]; ok {
		return s
	}
	return fmt.Sprintf("reg%d", r)
}

// llvmText formats a row as llvm-dwarfdump prints unwind rows.
func llvmText(r *Row, n *regNames) string {
	var b strings.Builder
	b.WriteString("CFA=")
	if r.CFA.Expr != nil {
		b.WriteString(llvmExpr(r.CFA.Expr, n, r.ptr, r.bo))
	} else {
		b.WriteString(n.llvmName(r.CFA.Reg))
		if r.CFA.Offset != 0 {
			fmt.Fprintf(&b, "%+d", r.CFA.Offset)
		}
	}
	type cell struct {
		reg  uint64
		text string
	}
	var cells []cell
	for _, rr := range r.Rules {
		var s string
		ru := rr.Rule
		switch ru.Kind {
		case RuleUndefined:
			s = "undefined"
		case RuleSameValue:
			s = "same"
		case RuleOffset, RuleValOffset:
			s = "CFA"
			if ru.Offset != 0 {
				s += fmt.Sprintf("%+d", ru.Offset)
			}
			if ru.Kind == RuleOffset {
				s = "[" + s + "]"
			}
		case RuleRegister:
			s = n.llvmName(ru.Reg)
		case RuleExpression:
			s = "[" + llvmExpr(ru.Expr, n, r.ptr, r.bo) + "]"
		case RuleValExpression:
			s = llvmExpr(ru.Expr, n, r.ptr, r.bo)
		}
		cells = append(cells, cell{rr.Reg, n.llvmName(rr.Reg) + "=" + s})
	}
	if r.RASigned {
		// LLVM models the return address signing state as register 34.
		cells = append(cells, cell{34, "reg34=1"})
		sort.SliceStable(cells, func(i, j int) bool { return cells[i].reg < cells[j].reg })
	}
	for i, c := range cells {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(c.text)
	}
	return b.String()
}

// opNames names the DW_OP operations; the operand kinds follow.
var opNames = map[byte]string{
	0x03: "addr", 0x06: "deref", 0x08: "const1u", 0x09: "const1s", 0x0a: "const2u", 0x0b: "const2s",
	0x0c: "const4u", 0x0d: "const4s", 0x0e: "const8u", 0x0f: "const8s", 0x10: "constu", 0x11: "consts",
	0x12: "dup", 0x13: "drop", 0x14: "over", 0x15: "pick", 0x16: "swap", 0x17: "rot", 0x19: "abs",
	0x1a: "and", 0x1b: "div", 0x1c: "minus", 0x1d: "mod", 0x1e: "mul", 0x1f: "neg", 0x20: "not",
	0x21: "or", 0x22: "plus", 0x23: "plus_uconst", 0x24: "shl", 0x25: "shr", 0x26: "shra", 0x27: "xor",
	0x28: "bra", 0x29: "eq", 0x2a: "ge", 0x2b: "gt", 0x2c: "le", 0x2d: "lt", 0x2e: "ne", 0x2f: "skip",
	0x90: "regx", 0x92: "bregx", 0x94: "deref_size", 0x96: "nop", 0x9c: "call_frame_cfa",
}

// llvmExpr formats a DWARF expression as llvm-dwarfdump does.
func llvmExpr(e []byte, n *regNames, ptr int, bo binary.ByteOrder) string {
	r := reader{b: e, bo: bo}
	var ops []string
	for r.off < len(e) && r.err == nil {
		op := r.u8()
		var s string
		switch {
		case op >= 0x30 && op <= 0x4f:
			s = fmt.Sprintf("DW_OP_lit%d", op-0x30)
		case op >= 0x50 && op <= 0x6f:
			s = fmt.Sprintf("DW_OP_reg%d %s", op-0x50, n.llvmName(uint64(op-0x50)))
		case op >= 0x70 && op <= 0x8f:
			s = fmt.Sprintf("DW_OP_breg%d %s%+d", op-0x70, n.llvmName(uint64(op-0x70)), r.sleb())
		default:
			name, ok := opNames[op]
			if !ok {
				return strings.Join(ops, ", ") + fmt.Sprintf(", <unknown op %#x>", op)
			}
			s = "DW_OP_" + name
			switch op {
			case 0x03:
				s += fmt.Sprintf(" 0x%x", r.uint(ptr))
			case 0x08, 0x15, 0x94:
				s += fmt.Sprintf(" 0x%x", r.u8())
			case 0x0a:
				s += fmt.Sprintf(" 0x%x", r.u16())
			case 0x0c:
				s += fmt.Sprintf(" 0x%x", r.u32())
			case 0x0e:
				s += fmt.Sprintf(" 0x%x", r.u64())
			case 0x10, 0x23:
				s += fmt.Sprintf(" 0x%x", r.uleb())
			case 0x09:
				s += fmt.Sprintf(" %+d", int8(r.u8()))
			case 0x0b, 0x28, 0x2f:
				s += fmt.Sprintf(" %+d", int16(r.u16()))
			case 0x0d:
				s += fmt.Sprintf(" %+d", int32(r.u32()))
			case 0x0f:
				s += fmt.Sprintf(" %+d", int64(r.u64()))
			case 0x11:
				s += fmt.Sprintf(" %+d", r.sleb())
			case 0x90:
				s += " " + n.llvmName(r.uleb())
			case 0x92:
				reg := r.uleb()
				s += fmt.Sprintf(" %s%+d", n.llvmName(reg), r.sleb())
			}
		}
		ops = append(ops, s)
	}
	if r.err != nil {
		ops = append(ops, "<decoding error>")
	}
	return strings.Join(ops, ", ")
}

// readelfCells formats a row as readelf's frames-interp cells for the
// given columns (CFA first).
func readelfCells(r *Row, cols []string, n *regNames) ([]string, error) {
	name := func(reg uint64) string {
		for s, v := range n.readelf {
			if v == reg {
				return s
			}
		}
		return fmt.Sprintf("r%d", reg)
	}
	var cells []string
	if r.CFA.Expr != nil {
		cells = append(cells, "exp")
	} else {
		cells = append(cells, fmt.Sprintf("%s%+d", name(r.CFA.Reg), r.CFA.Offset))
	}
	shown := map[uint64]bool{}
	for _, c := range cols {
		reg, ok := n.readelf[c]
		if c == "ra" {
			reg, ok = r.RA, true
		}
		if !ok {
			return nil, fmt.Errorf("readelf column %q is not a register the probe named", c)
		}
		shown[reg] = true
		rule, ok := r.Rule(reg)
		s := "u"
		if ok {
			switch rule.Kind {
			case RuleSameValue:
				s = "s"
			case RuleOffset:
				s = fmt.Sprintf("c%+d", rule.Offset)
			case RuleValOffset:
				s = fmt.Sprintf("v%+d", rule.Offset)
			case RuleRegister:
				s = fmt.Sprintf("r%d", rule.Reg)
			case RuleExpression:
				s = "exp"
			case RuleValExpression:
				s = "vexp"
			}
		}
		cells = append(cells, s)
	}
	for _, rr := range r.Rules {
		if !shown[rr.Reg] && rr.Rule.Kind != RuleUndefined {
			return nil, fmt.Errorf("rule for register %d, which readelf has no column for", rr.Reg)
		}
	}
	return cells, nil
}
