package pe

import (
	"fmt"
	"math/rand"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The unwinder is checked on synthetic stacks. Each stands for a thread
// stopped at one instruction of a function of a generated image: a caller
// with known registers called the function (or an interrupt pushed a
// machine frame), and the function's prologue ran up to that instruction,
// pushing and saving the caller's registers where its unwind codes say it
// does, then clobbering the registers it saved. Unwinding must give back
// the caller's RIP, RSP and every saved register, and leave every other
// register as the callee had it.
//
// The stacks are built from llvm-readobj's decoding of the unwind codes
// and llvm-objdump's disassembly, not from this package's decoding:
// positions are every instruction of each prologue, every return address
// after a call, and every instruction of each epilogue (add rsp or lea
// rsp, pops, then ret or a jump out of the function, which is what Windows
// recognises); the callee's registers inside an epilogue come from running
// the disassembled epilogue instructions before the position.

// stackMem is a sparse stack: written words read back, the rest of the
// region reads as a pattern, and everything outside it is unreadable.
type stackMem struct {
	lo, hi uint64
	bytes  map[uint64]byte
	reads  int
}

func newStackMem(lo, hi uint64) *stackMem {
	return &stackMem{lo: lo, hi: hi, bytes: map[uint64]byte{}}
}

func (m *stackMem) write(addr, v uint64) {
	for i := uint64(0); i < 8; i++ {
		m.bytes[addr+i] = byte(v >> (8 * i))
	}
}

func (m *stackMem) Read(addr uint64, size int) (uint64, bool) {
	m.reads++
	if addr < m.lo || addr+uint64(size) > m.hi || addr+uint64(size) < addr {
		return 0, false
	}
	var v uint64
	for i := 0; i < size; i++ {
		b, ok := m.bytes[addr+uint64(i)]
		if !ok {
			b = byte((addr + uint64(i)) * 0x9d)
		}
		v |= uint64(b) << (8 * i)
	}
	return v, true
}

// code is one unwind code as llvm-readobj prints it.
type code struct {
	off    uint64
	op     string
	reg    int // GPR or XMM number
	value  uint64
	errors bool // PUSH_MACHFRAME with error code
}

var (
	gprByName = map[string]int{"RAX": 0, "RCX": 1, "RDX": 2, "RBX": 3, "RSP": 4, "RBP": 5, "RSI": 6, "RDI": 7,
		"R8": 8, "R9": 9, "R10": 10, "R11": 11, "R12": 12, "R13": 13, "R14": 14, "R15": 15}
	codeRE = regexp.MustCompile(`^0x([0-9A-F]+): (\w+)(?: reg=(\w+))?(?:,? ?offset=0x([0-9A-F]+))?(?: size=(\d+))?(?: errcode=(yes|no))?$`)
)

func parseCode(t *testing.T, s string) code {
	t.Helper()
	m := codeRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("unwind code %q not understood", s)
	}
	c := code{op: m[2], errors: m[6] == "yes", reg: -1}
	c.off, _ = strconv.ParseUint(m[1], 16, 8)
	if m[3] != "" {
		if strings.HasPrefix(m[3], "XMM") {
			c.reg, _ = strconv.Atoi(m[3][3:])
		} else {
			c.reg = gprByName[m[3]]
		}
	}
	if m[4] != "" {
		c.value, _ = strconv.ParseUint(m[4], 16, 64)
	}
	if m[5] != "" {
		c.value, _ = strconv.ParseUint(m[5], 10, 64)
	}
	return c
}

// insn is one disassembled instruction.
type insn struct {
	addr, next uint64 // VAs
	raw        []byte
	mnem, args string
}

var insnRE = regexp.MustCompile(`^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*(\S+)(?:\s+(.*?))?\s*$`)

func disassemble(t *testing.T, path string) []insn {
	t.Helper()
	var out []insn
	for _, line := range strings.Split(run(t, tool(t, "llvm-objdump"), "-d", path), "\n") {
		m := insnRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		addr, _ := strconv.ParseUint(m[1], 16, 64)
		var raw []byte
		for _, h := range strings.Fields(m[2]) {
			b, _ := strconv.ParseUint(h, 16, 8)
			raw = append(raw, byte(b))
		}
		if i := strings.Index(m[4], "#"); i >= 0 {
			m[4] = strings.TrimSpace(m[4][:i])
		}
		out = append(out, insn{addr: addr, next: addr + uint64(len(raw)), raw: raw, mnem: m[3], args: m[4]})
	}
	return out
}

// unit is a function entry with its chain as llvm-readobj shows them.
type unit struct {
	fn       roFunction
	codes    []code
	parent   *unit
	frameReg int // -1 without
}

func (u *unit) chain() []*unit {
	var out []*unit
	for c := u; c != nil; c = c.parent {
		out = append(out, c)
	}
	return out
}

func (u *unit) primary() *unit {
	for u.parent != nil {
		u = u.parent
	}
	return u
}

// position is an instruction a frame can be stopped at.
type position struct {
	va   uint64
	kind Position
	// For InEpilogue: the epilogue's instructions before va (with a mov
	// of the frame register to rsp that may precede it), and those from
	// va on.
	epilogue, rest []insn
}

// frameSim is the result of building a stack for a position.
type frameSim struct {
	callee       Context
	want         Context // the caller as unwinding must find it
	saved        [16]bool
	savedXMM     [16]bool
	callerRSP    uint64
	machineFrame bool
}

func regOperand(s string) int {
	if r, ok := gprByName[strings.ToUpper(strings.TrimPrefix(s, "%"))]; ok {
		return r
	}
	return -1
}

// simulate builds the stack for u at va.
func simulate(t *testing.T, u *unit, pos position, mem *stackMem, rng *rand.Rand) frameSim {
	t.Helper()
	var caller Context
	for i := range caller.GPR {
		caller.GPR[i] = rng.Uint64()
	}
	for i := range caller.XMM {
		caller.XMM[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	s0 := mem.hi - 0x1000 - uint64(rng.Intn(64))*16
	caller.GPR[RSP] = s0
	caller.RIP = 0x7ff7_1234_0000 + uint64(rng.Intn(1<<16))

	chain := u.chain()
	// Execution order: the primary's codes first (in reverse file order),
	// then each fragment's.
	type step struct {
		c        code
		executed bool
		u        *unit
	}
	var steps []step
	for i := len(chain) - 1; i >= 0; i-- {
		cu := chain[i]
		rel := pos.va - cu.fn.begin
		inThis := cu == u
		for j := len(cu.codes) - 1; j >= 0; j-- {
			c := cu.codes[j]
			steps = append(steps, step{c: c, executed: !inThis || rel >= c.off, u: cu})
		}
	}

	// The frame base the saves are relative to: RSP after the whole
	// prologue, or RSP when the frame register was set.
	rsp := s0
	if len(steps) == 0 || steps[0].c.op != "PUSH_MACHFRAME" {
		rsp -= 8 // the return address
	}
	base := uint64(0)
	haveFP := false
	for _, st := range steps {
		switch st.c.op {
		case "PUSH_MACHFRAME":
			rsp -= 40
			if st.c.errors {
				rsp -= 8
			}
		case "PUSH_NONVOL":
			rsp -= 8
		case "ALLOC_SMALL", "ALLOC_LARGE":
			rsp -= st.c.value
		case "SET_FPREG":
			base, haveFP = rsp, true
		}
	}
	if !haveFP {
		base = rsp
	}

	var sim frameSim
	sim.callee = caller
	var movSaved [16]bool // saved with mov (SAVE_NONVOL), not push
	rsp = s0
	if len(steps) > 0 && steps[0].c.op == "PUSH_MACHFRAME" {
		sim.machineFrame = true
		rsp -= 40
		if steps[0].c.errors {
			rsp -= 8
			mem.write(rsp, 0x0e)
		}
		at := rsp
		if steps[0].c.errors {
			at += 8
		}
		mem.write(at, caller.RIP)
		mem.write(at+8, 0x33)
		mem.write(at+16, 0x246)
		mem.write(at+24, s0)
		mem.write(at+32, 0x2b)
	} else {
		rsp -= 8
		mem.write(rsp, caller.RIP)
	}
	fpReg := -1
	var fpVal uint64
	for _, st := range steps {
		if !st.executed {
			continue
		}
		c := st.c
		switch c.op {
		case "PUSH_NONVOL":
			rsp -= 8
			mem.write(rsp, caller.GPR[c.reg])
			sim.saved[c.reg] = true
		case "ALLOC_SMALL", "ALLOC_LARGE":
			rsp -= c.value
		case "SET_FPREG":
			fpReg, fpVal = c.reg, rsp+c.value
		case "SAVE_NONVOL", "SAVE_NONVOL_FAR":
			mem.write(base+c.value, caller.GPR[c.reg])
			sim.saved[c.reg] = true
			movSaved[c.reg] = true
		case "SAVE_XMM128", "SAVE_XMM128_FAR":
			mem.write(base+c.value, caller.XMM[c.reg][0])
			mem.write(base+c.value+8, caller.XMM[c.reg][1])
			sim.savedXMM[c.reg] = true
		}
	}
	// The function may now change every register it saved.
	for r := range sim.saved {
		if sim.saved[r] {
			sim.callee.GPR[r] = rng.Uint64()
		}
	}
	for x := range sim.savedXMM {
		if sim.savedXMM[x] {
			sim.callee.XMM[x] = [2]uint64{rng.Uint64(), rng.Uint64()}
		}
	}
	if fpReg >= 0 {
		sim.callee.GPR[fpReg] = fpVal
	}
	sim.callee.GPR[RSP] = rsp
	sim.callee.RIP = pos.va
	sim.callerRSP = s0

	if pos.kind != InEpilogue {
		// The caller as unwinding must find it: saved registers back,
		// the others as the callee has them.
		sim.want = sim.callee
		sim.want.RIP, sim.want.GPR[RSP] = caller.RIP, s0
		for r := range sim.saved {
			if sim.saved[r] {
				sim.want.GPR[r] = caller.GPR[r]
			}
			if sim.savedXMM[r] {
				sim.want.XMM[r] = caller.XMM[r]
			}
		}
		return sim
	}

	// Before an epilogue the body restores what it saved with mov and
	// movaps; inside it, the instructions before the position ran.
	for r := range movSaved {
		if movSaved[r] {
			sim.callee.GPR[r] = caller.GPR[r]
		}
		if sim.savedXMM[r] {
			sim.callee.XMM[r] = caller.XMM[r]
		}
	}
	for _, in := range pos.epilogue {
		execute(t, &sim.callee, in, mem)
	}
	// The caller is what the rest of the epilogue leaves.
	sim.want = sim.callee
	for _, in := range pos.rest {
		execute(t, &sim.want, in, mem)
	}
	if sim.want.RIP != caller.RIP || sim.want.GPR[RSP] != s0 {
		t.Fatalf("%#x: running the epilogue gives rip %#x rsp %#x, the caller had %#x %#x: the stack is built wrong",
			pos.va, sim.want.RIP, sim.want.GPR[RSP], caller.RIP, s0)
	}
	return sim
}

// execute runs one disassembled epilogue instruction on ctx: add rsp,
// lea rsp, mov fp to rsp, pop, and the final return or jump (which pops
// the return address as a return would).
func execute(t *testing.T, ctx *Context, in insn, mem *stackMem) {
	t.Helper()
	ops := strings.Split(in.args, ", ")
	switch {
	case strings.HasPrefix(in.mnem, "add") && len(ops) == 2 && ops[1] == "%rsp":
		v, err := strconv.ParseUint(strings.TrimPrefix(ops[0], "$"), 0, 64)
		if err != nil {
			t.Fatalf("%#x: %s %s: %v", in.addr, in.mnem, in.args, err)
		}
		ctx.GPR[RSP] += v
	case strings.HasPrefix(in.mnem, "lea") && len(ops) == 2 && ops[1] == "%rsp":
		m := regexp.MustCompile(`^(-?(?:0x)?[0-9a-f]*)\((%\w+)\)$`).FindStringSubmatch(ops[0])
		if m == nil {
			t.Fatalf("%#x: %s %s not understood", in.addr, in.mnem, in.args)
		}
		d := int64(0)
		if m[1] != "" {
			d, _ = strconv.ParseInt(m[1], 0, 64)
		}
		ctx.GPR[RSP] = ctx.GPR[regOperand(m[2])] + uint64(d)
	case strings.HasPrefix(in.mnem, "mov") && len(ops) == 2 && ops[1] == "%rsp" && regOperand(ops[0]) >= 0:
		ctx.GPR[RSP] = ctx.GPR[regOperand(ops[0])]
	case strings.HasPrefix(in.mnem, "pop"):
		r := regOperand(in.args)
		v, _ := mem.Read(ctx.GPR[RSP], 8)
		ctx.GPR[r] = v
		ctx.GPR[RSP] += 8
	case strings.HasPrefix(in.mnem, "ret") || strings.HasPrefix(in.mnem, "jmp"):
		v, _ := mem.Read(ctx.GPR[RSP], 8)
		ctx.RIP = v
		ctx.GPR[RSP] += 8
	default:
		t.Fatalf("%#x: epilogue instruction %s %s not understood", in.addr, in.mnem, in.args)
	}
}

// positions lists where frames of u are checked: prologue instructions,
// return addresses after calls, epilogue instructions.
func positions(u *unit, code []insn, family map[uint64]bool, frameReg int) []position {
	lo := sort.Search(len(code), func(i int) bool { return code[i].addr >= u.fn.begin })
	hi := sort.Search(len(code), func(i int) bool { return code[i].addr >= u.fn.end })
	fn := code[lo:hi]
	var out []position
	seen := map[uint64]bool{}
	add := func(p position) {
		if !seen[p.va] {
			seen[p.va] = true
			out = append(out, p)
		}
	}
	// Epilogues first: their positions take precedence over return sites.
	for i, in := range fn {
		if !isTerminal(in, family) {
			continue
		}
		start := i
		for start > 0 && strings.HasPrefix(fn[start-1].mnem, "pop") {
			start--
		}
		if start > 0 {
			p := fn[start-1]
			ops := strings.Split(p.args, ", ")
			if len(ops) == 2 && ops[1] == "%rsp" && (strings.HasPrefix(p.mnem, "add") && len(p.raw) > 0 && p.raw[0] == 0x48 ||
				strings.HasPrefix(p.mnem, "lea") && frameReg >= 0 && strings.HasSuffix(ops[0], "("+"%"+strings.ToLower(Reg(frameReg).String())+")")) {
				start--
			}
		}
		// Instructions just before the epilogue that move rsp are no part
		// of it for Windows: a mov of the frame register to rsp (the frame
		// is unwound through the frame register there) and the pop of a
		// register a chained fragment pushed (the body's rules still hold
		// before it). The stack they leave is the epilogue's.
		pre := start
		for pre > 0 && (strings.HasPrefix(fn[pre-1].mnem, "pop") ||
			frameReg >= 0 && strings.HasPrefix(fn[pre-1].mnem, "mov") && fn[pre-1].args == "%"+Reg(frameReg).String()+", %rsp") {
			pre--
		}
		if pre < start {
			add(position{va: fn[pre].addr, kind: InBody})
		}
		for j := start; j <= i; j++ {
			add(position{va: fn[j].addr, kind: InEpilogue, epilogue: fn[pre:j], rest: fn[j : i+1]})
		}
	}
	for _, in := range fn {
		if in.addr-u.fn.begin <= u.fn.prologSize {
			kind := InPrologue
			if in.addr-u.fn.begin == u.fn.prologSize {
				kind = InBody
			}
			add(position{va: in.addr, kind: kind})
		}
	}
	for i, in := range fn {
		if strings.HasPrefix(in.mnem, "call") && i+1 < len(fn) {
			add(position{va: fn[i+1].addr, kind: InBody})
		}
	}
	return out
}

// isTerminal reports an instruction that ends an epilogue as Windows
// sees it: a return, a jump out of the function, or an indirect jump
// through memory or with REX.W.
func isTerminal(in insn, family map[uint64]bool) bool {
	switch {
	case strings.HasPrefix(in.mnem, "ret"):
		return true
	case in.mnem == "jmp" || in.mnem == "jmpq":
		if strings.HasPrefix(in.args, "*") {
			return len(in.raw) >= 2 && in.raw[0] == 0xff && in.raw[1] == 0x25 ||
				len(in.raw) >= 3 && in.raw[0]&0xf8 == 0x48 && in.raw[1] == 0xff && in.raw[2]&0x38 == 0x20
		}
		m := regexp.MustCompile(`^0x([0-9a-f]+)`).FindStringSubmatch(in.args)
		if m == nil {
			return false
		}
		target, _ := strconv.ParseUint(m[1], 16, 64)
		return !family[target]
	}
	return false
}

func TestVirtualUnwindSyntheticStacks(t *testing.T) {
	readobj := tool(t, "llvm-readobj")
	counts := map[Position]int{}
	total := 0
	for _, img := range images(t) {
		if !img.x64 {
			continue
		}
		t.Run(img.name, func(t *testing.T) {
			f := openImage(t, img)
			fns := parseReadobjUnwind(t, run(t, readobj, "--unwind", img.path))
			code := disassemble(t, img.path)
			units := map[uint64]*unit{}
			for _, fn := range fns {
				u := &unit{fn: fn, frameReg: -1}
				for _, c := range fn.codes {
					u.codes = append(u.codes, parseCode(t, c))
				}
				if fn.frameReg != "-" {
					u.frameReg = gprByName[strings.Fields(fn.frameReg)[0]]
				}
				units[fn.begin] = u
			}
			for _, u := range units {
				if u.fn.chained != nil {
					u.parent = units[u.fn.chained[0]]
					if u.parent == nil {
						t.Fatalf("chained entry at %#x names a parent at %#x with no entry", u.fn.begin, u.fn.chained[0])
					}
				}
			}
			var begins []uint64
			for b := range units {
				begins = append(begins, b)
			}
			sort.Slice(begins, func(i, j int) bool { return begins[i] < begins[j] })

			loadBase := uint64(0x7ff6_8000_0000) // not the preferred base: unwinding must not depend on it
			rng := rand.New(rand.NewSource(int64(len(img.data))))
			for _, b := range begins {
				u := units[b]
				// The function's family: its primary entry and every
				// fragment chained to it (jumps among them are no tail
				// calls); any entry's start counts as outside.
				family := map[uint64]bool{}
				for _, o := range units {
					if o.primary() == u.primary() {
						for _, in := range code {
							if in.addr >= o.fn.begin && in.addr < o.fn.end {
								family[in.addr] = true
							}
						}
					}
				}
				delete(family, u.primary().fn.begin)
				frameReg := -1
				for _, c := range u.chain() {
					if c.frameReg >= 0 {
						frameReg = c.frameReg
						break
					}
				}
				for _, pos := range positions(u, code, family, frameReg) {
					mem := newStackMem(0x10_0000_0000-8<<20, 0x10_0000_0000)
					sim := simulate(t, u, pos, mem, rng)
					where := fmt.Sprintf("%s: function %#x at %#x (%s)", img.name, u.fn.begin, pos.va, pos.kind)

					callee := sim.callee
					callee.RIP = pos.va - f.ImageBase + loadBase
					got, err := f.VirtualUnwind(loadBase, &callee, mem)
					if err != nil {
						t.Errorf("%s: %v", where, err)
						continue
					}
					checkUnwound(t, where, got, sim)
					if got.Position != pos.kind {
						t.Errorf("%s: position %s", where, got.Position)
					}
					counts[pos.kind]++
					total++

					if pos.kind != InBody {
						continue
					}
					// Symbolicator's reading agrees in the body.
					r, ok := f.Rules(uint32(pos.va - f.ImageBase))
					if !ok {
						t.Fatalf("%s: no rules", where)
					}
					body, err := r.BodyUnwind(&callee, mem)
					if err != nil {
						t.Errorf("%s: BodyUnwind: %v", where, err)
						continue
					}
					checkUnwound(t, where+" BodyUnwind", body, sim)
					checkNamed(t, where, r, sim, mem)
				}
			}
		})
	}
	if counts[InPrologue] == 0 || counts[InEpilogue] == 0 || counts[InBody] == 0 {
		t.Errorf("positions checked: %v; every kind must occur", counts)
	}
	t.Logf("%d frames unwound on synthetic stacks: %v", total, counts)
}

func checkUnwound(t *testing.T, where string, got *Unwound, sim frameSim) {
	t.Helper()
	if got.RIP != sim.want.RIP || got.GPR[RSP] != sim.callerRSP {
		t.Errorf("%s: caller rip %#x rsp %#x, want %#x %#x", where, got.RIP, got.GPR[RSP], sim.want.RIP, sim.callerRSP)
	}
	for r := 0; r < 16; r++ {
		if r != int(RSP) && got.GPR[r] != sim.want.GPR[r] {
			t.Errorf("%s: caller %s = %#x, want %#x (saved: %v)", where, Reg(r), got.GPR[r], sim.want.GPR[r], sim.saved[r])
		}
		if got.XMM[r] != sim.want.XMM[r] {
			t.Errorf("%s: caller xmm%d = %#x, want %#x (saved: %v)", where, r, got.XMM[r], sim.want.XMM[r], sim.savedXMM[r])
		}
	}
	if got.MachineFrame != sim.machineFrame {
		t.Errorf("%s: machine frame %v, want %v", where, got.MachineFrame, sim.machineFrame)
	}
}

// checkNamed runs the stack walker's entry point, Unwind by register
// names, and HasRule.
func checkNamed(t *testing.T, where string, r *Rules, sim frameSim, mem Memory) {
	t.Helper()
	get := func(name string) (uint64, bool) {
		if name == "rip" {
			return sim.callee.RIP, true
		}
		for i, n := range regNames {
			if n == name {
				return sim.callee.GPR[i], true
			}
		}
		return 0, false
	}
	out, err := r.Unwind(get, mem)
	if err != nil {
		t.Errorf("%s: Unwind: %v", where, err)
		return
	}
	if out[".cfa"] != sim.callerRSP || out[".ra"] != sim.want.RIP {
		t.Errorf("%s: Unwind .cfa %#x .ra %#x, want %#x %#x", where, out[".cfa"], out[".ra"], sim.callerRSP, sim.want.RIP)
	}
	for i, n := range regNames {
		if i == int(RSP) {
			continue
		}
		v, ok := out[n]
		if ok != sim.saved[i] || ok && v != sim.want.GPR[i] {
			t.Errorf("%s: Unwind %s = %#x, %v; want %#x, %v", where, n, v, ok, sim.want.GPR[i], sim.saved[i])
		}
		if r.HasRule(n) != sim.saved[i] {
			t.Errorf("%s: HasRule(%s) = %v, want %v", where, n, r.HasRule(n), sim.saved[i])
		}
	}
}
