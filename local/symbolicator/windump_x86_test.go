package symbolicator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/pe"
	"github.com/symflow/symflow/local/symbolicator/unwind"
)

// x86Program is a freestanding C program for 32-bit Windows whose
// functions have frames of different sizes and kinds: __fastcall functions
// taking no stack arguments, cdecl and stdcall functions that do, a frame
// aligned to 32 bytes (clang sets up %ebp for it and its FrameData program
// aligns with "@"), and calls several levels deep.
const x86Program = `
typedef struct { __declspec(align(32)) int v[8]; } A32;
__declspec(noinline) int __fastcall f1(int a) { volatile int buf[3]; buf[a&1]=a; return buf[0] + a; }
__declspec(noinline) int __fastcall f2(int a, int b) { volatile int buf[17]; buf[a&15]=b; return f1(buf[2]) + f1(a) * b; }
__declspec(noinline) int __fastcall al(int a) { volatile A32 x; x.v[a&7]=a; return f2(x.v[1], a) + x.v[3]; }
__declspec(noinline) int cd(int a, int b, int c) { volatile int big[64]; big[a&63]=b; return al(big[5]) + f2(a, c) + big[c&63]; }
__declspec(noinline) int __stdcall sd(int a, int b) { volatile int z[5]; z[a&3]=b; return cd(z[1], a, b) + f1(b); }
__declspec(noinline) int __fastcall f3(void) { volatile int k[2]; k[1]=3; return sd(k[1], 2) + al(k[0]) + f2(1,2) + f1(k[1]); }
__declspec(noinline) int __fastcall f4(int a) { volatile int w[9]; w[a&7]=a; return f3() + f2(w[2], a) + al(w[4]); }
int main(void) { volatile int n = 9; return f4(n) + f3() + cd(n, 1, 2) + sd(n, n); }
`

// x86Variants are the ways the program is compiled: without frame pointers
// at -O0 and -O2 (where clang pushes call arguments), at -O2 with the
// arguments stored into a reserved area instead, and with frame pointers.
var x86Variants = []struct {
	name  string
	flags []string
}{
	{"O0", []string{"-O0", "-fomit-frame-pointer"}},
	{"O2", []string{"-O2", "-fomit-frame-pointer"}},
	{"O2-movargs", []string{"-O2", "-fomit-frame-pointer", "-mllvm", "-no-x86-call-frame-opt"}},
	{"O0-fp", []string{"-O0"}},
	{"O2-fp", []string{"-O2"}},
}

// x86Build is the program built for i686 Windows, read by the reference
// tools: functions from llvm-pdbutil's symbols, FrameData rows from
// llvm-pdbutil's FPO dump, instructions from llvm-objdump.
type x86Build struct {
	winBuild
	image *pe.File
	funcs []x86Func      // by RVA
	rows  []x86Row       // FrameData rows, by RVA
	insns []x86Insn      // by RVA
	sym   string         // a Breakpad .sym file written from the reference tools' text
	at    map[uint64]int // insns index by RVA
}

type x86Func struct {
	name       string
	start, end uint64 // RVAs
}

// x86Row is one row of llvm-pdbutil dump -fpo.
type x86Row struct {
	rva, size, locals, params, stack, prolog, saved uint64
	program                                         string
}

type x86Insn struct {
	rva, next uint64
	op, args  string
}

var (
	x86Once   sync.Once
	x86Builds []*x86Build
	x86Err    error
)

// x86BuildsFor compiles x86Program in every variant, once per test binary.
func x86BuildsFor(t *testing.T) []*x86Build {
	t.Helper()
	for _, n := range []string{"clang", "lld-link", "llvm-pdbutil", "llvm-objdump", "gcab"} {
		requireTool(t, n)
	}
	x86Once.Do(func() {
		dir, err := os.MkdirTemp("", "symbolicator-x86-")
		if err != nil {
			x86Err = err
			return
		}
		src := filepath.Join(dir, "prog.c")
		if err := os.WriteFile(src, []byte(x86Program), 0o644); err != nil {
			x86Err = err
			return
		}
		for _, v := range x86Variants {
			b, err := buildX86(dir, src, v.name, v.flags)
			if err != nil {
				x86Err = fmt.Errorf("%s: %w", v.name, err)
				return
			}
			x86Builds = append(x86Builds, b)
		}
	})
	if x86Err != nil {
		t.Fatal(x86Err)
	}
	return x86Builds
}

func x86Tool(dir string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

var (
	x86ProcRE    = regexp.MustCompile("S_[GL]PROC32 \\[size = \\d+\\] `([^`]+)`\\s*\\n\\s*parent = \\d+, end = \\d+, addr = ([0-9a-f]{4}):([0-9]+), code size = ([0-9]+)")
	x86SectionRE = regexp.MustCompile(`(?m)^\s*SECTION HEADER #(\d+)\s*\n\s*\S+ name\s*\n\s*[0-9A-Fa-f]+ virtual size\s*\n\s*([0-9A-Fa-f]+) virtual address`)
	x86RowRE     = regexp.MustCompile(`(?m)^([0-9A-F]{8}) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+\w+ \|\s+\w+ \|\s+\w+ \| (.*?) ?$`)
	x86InsnRE    = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$`)
)

func buildX86(dir, src, name string, flags []string) (*x86Build, error) {
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	cc := append([]string{"clang", "--target=i686-pc-windows-msvc", "-g", "-gcodeview", "-ffreestanding", "-fno-builtin", "-fno-stack-protector"}, flags...)
	cc = append(cc, "-c", src, "-o", "prog.obj")
	for _, c := range [][]string{cc, {"lld-link", "/debug", "/nodefaultlib", "/entry:main", "/subsystem:console", "prog.obj", "/out:prog.exe", "/pdb:prog.pdb"}} {
		if _, err := x86Tool(sub, c...); err != nil {
			return nil, err
		}
	}
	b := &x86Build{winBuild: winBuild{name: "x86-" + name, dir: sub, exe: filepath.Join(sub, "prog.exe"), pdb: filepath.Join(sub, "prog.pdb")}, at: map[uint64]int{}}
	data, err := os.ReadFile(b.exe)
	if err != nil {
		return nil, err
	}
	if b.image, err = pe.Open(data); err != nil {
		return nil, err
	}
	b.id, b.imageBase = b.image.Identity, b.image.ImageBase

	// Functions: S_GPROC32/S_LPROC32 at section:offset, sections' RVAs.
	syms, err := x86Tool(sub, "llvm-pdbutil", "dump", "-symbols", b.pdb)
	if err != nil {
		return nil, err
	}
	hdrs, err := x86Tool(sub, "llvm-pdbutil", "dump", "-section-headers", b.pdb)
	if err != nil {
		return nil, err
	}
	secRVA := map[uint64]uint64{}
	for _, m := range x86SectionRE.FindAllStringSubmatch(hdrs, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		v, _ := strconv.ParseUint(m[2], 16, 64)
		secRVA[n] = v
	}
	for _, m := range x86ProcRE.FindAllStringSubmatch(syms, -1) {
		sec, _ := strconv.ParseUint(m[2], 16, 64)
		off, _ := strconv.ParseUint(m[3], 10, 64)
		size, _ := strconv.ParseUint(m[4], 10, 64)
		base, ok := secRVA[sec]
		if !ok {
			return nil, fmt.Errorf("llvm-pdbutil: no section %d for %s", sec, m[1])
		}
		b.funcs = append(b.funcs, x86Func{name: m[1], start: base + off, end: base + off + size})
	}
	sort.Slice(b.funcs, func(i, j int) bool { return b.funcs[i].start < b.funcs[j].start })
	if len(b.funcs) < 8 {
		return nil, fmt.Errorf("llvm-pdbutil names %d functions:\n%s", len(b.funcs), syms)
	}

	// FrameData rows.
	fpo, err := x86Tool(sub, "llvm-pdbutil", "dump", "-fpo", b.pdb)
	if err != nil {
		return nil, err
	}
	for _, m := range x86RowRE.FindAllStringSubmatch(fpo, -1) {
		var v [7]uint64
		v[0], _ = strconv.ParseUint(m[1], 16, 64)
		for i := 1; i < 7; i++ {
			v[i], _ = strconv.ParseUint(m[i+1], 10, 64)
		}
		b.rows = append(b.rows, x86Row{rva: v[0], size: v[1], locals: v[2], params: v[3], stack: v[4], prolog: v[5], saved: v[6], program: m[8]})
	}
	if len(b.rows) == 0 {
		return nil, fmt.Errorf("llvm-pdbutil shows no FrameData:\n%s", fpo)
	}
	sort.SliceStable(b.rows, func(i, j int) bool { return b.rows[i].rva < b.rows[j].rva })

	// Instructions.
	dis, err := x86Tool(sub, "llvm-objdump", "-d", "--no-show-raw-insn", b.exe)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(dis, "\n") {
		m := x86InsnRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		va, err := strconv.ParseUint(m[1], 16, 64)
		if err != nil || va < b.imageBase {
			continue
		}
		if n := len(b.insns); n > 0 {
			b.insns[n-1].next = va - b.imageBase
		}
		b.at[va-b.imageBase] = len(b.insns)
		args, _, _ := strings.Cut(m[3], "#") // a comment: "# imm = 0x100"
		b.insns = append(b.insns, x86Insn{rva: va - b.imageBase, op: m[2], args: strings.TrimSpace(args)})
	}

	// The reference .sym: what Breakpad's dump_syms writes for a PDB
	// (FUNC per procedure, STACK WIN 4 per FrameData record), written
	// from llvm-pdbutil's text.
	var sym strings.Builder
	fmt.Fprintf(&sym, "MODULE windows x86 %s prog.pdb\n", x86BreakpadID(b.id.DebugID))
	for _, f := range b.funcs {
		fmt.Fprintf(&sym, "FUNC %x %x 0 %s\n", f.start, f.end-f.start, f.name)
	}
	for _, r := range b.rows {
		fmt.Fprintf(&sym, "STACK WIN 4 %x %x %x 0 %x %x %x %x 1 %s\n", r.rva, r.size, r.prolog, r.params, r.saved, r.locals, r.stack, r.program)
	}
	b.sym = sym.String()
	return b, nil
}

// x86BreakpadID is a debug id as Breakpad names symbol directories: the
// GUID's hex digits and the age, upper case, without dashes.
func x86BreakpadID(debugID string) string {
	return strings.ToUpper(strings.ReplaceAll(debugID[:36], "-", "") + debugID[37:])
}

func (b *x86Build) funcAt(rva uint64) *x86Func {
	i := sort.Search(len(b.funcs), func(i int) bool { return b.funcs[i].start > rva }) - 1
	if i < 0 || rva >= b.funcs[i].end {
		return nil
	}
	return &b.funcs[i]
}

// rowAt is the FrameData row covering rva: the one starting last at or
// before it (a function's rows share its end).
func (b *x86Build) rowAt(rva uint64) *x86Row {
	var best *x86Row
	for i := range b.rows {
		r := &b.rows[i]
		if r.rva <= rva && rva < r.rva+r.size {
			best = r
		}
	}
	return best
}

// bodyStart is where a function's last FrameData row starts: the end of
// the prologue the rows describe.
func (b *x86Build) bodyStart(f *x86Func) uint64 {
	s := f.start
	for _, r := range b.rows {
		if r.rva >= f.start && r.rva < f.end {
			s = max(s, r.rva)
		}
	}
	return s
}

// ebpFrame reports whether a function's body unwinds through %ebp.
func (b *x86Build) ebpFrame(f *x86Func) bool {
	r := b.rowAt(b.bodyStart(f))
	return r != nil && !strings.Contains(r.program, ".raSearch")
}

// x86Site is a call instruction: the caller, the callee, the bytes of
// arguments pushed just before it.
type x86Site struct {
	caller, callee *x86Func
	rva, ret       uint64
	pushed         uint64
}

var x86CallRE = regexp.MustCompile(`^0x([0-9a-f]+)`)

// sites lists the direct calls between the program's functions. A call
// whose arguments are not pushed right before it, after the prologue, by
// pushl instructions alone (a subl of %esp among them) is left out: the
// layout below would not know its stack.
func (b *x86Build) sites(t *testing.T) (out []x86Site) {
	for i, in := range b.insns {
		if in.op != "calll" {
			continue
		}
		m := x86CallRE.FindStringSubmatch(in.args)
		if m == nil {
			continue
		}
		to, _ := strconv.ParseUint(m[1], 16, 64)
		caller, callee := b.funcAt(in.rva), b.funcAt(to-b.imageBase)
		if caller == nil || callee == nil || callee.start != to-b.imageBase {
			continue
		}
		body := b.bodyStart(caller)
		pushed := uint64(0)
		j := i - 1
		for ; j >= 0 && b.insns[j].rva >= body && b.insns[j].op == "pushl"; j-- {
			pushed += 4
		}
		if j >= 0 && strings.HasSuffix(b.insns[j].args, "%esp") && (b.insns[j].op == "subl" || b.insns[j].op == "addl") {
			continue
		}
		out = append(out, x86Site{caller: caller, callee: callee, rva: in.rva, ret: in.next, pushed: pushed})
	}
	return out
}

// x86Stack is a thread's stack being laid out, from the top down, as the
// program's own instructions would leave it.
type x86Stack struct {
	t        *testing.T
	b        *x86Build
	base     uint64 // lowest address
	mem      []byte
	esp, ebp uint64
	regs     map[string]uint64 // ebx, esi, edi
}

func (s *x86Stack) push(v uint64) {
	s.esp -= 4
	if s.esp < s.base || s.esp+4 > s.base+uint64(len(s.mem)) {
		s.t.Fatalf("%s: stack overflow laying out the frames", s.b.name)
	}
	binary.LittleEndian.PutUint32(s.mem[s.esp-s.base:], uint32(v))
}

var x86ImmRE = regexp.MustCompile(`^\$(-?\d+), %esp$`)

// enter runs the prologue of f from its entry up to stop (exclusive), and
// for a function with a frame pointer also the pushes and stack
// adjustments that follow it (FrameData stops describing the frame once
// %ebp is set).
func (s *x86Stack) enter(f *x86Func, stop uint64, pastStop bool) {
	for i := s.b.at[f.start]; i < len(s.b.insns); i++ {
		in := s.b.insns[i]
		if in.rva >= stop {
			if !pastStop {
				return
			}
			if in.op != "subl" && in.op != "andl" && !(in.op == "pushl" && strings.HasPrefix(in.args, "%e")) {
				return
			}
		}
		switch {
		case in.op == "pushl" && strings.HasPrefix(in.args, "%e"):
			r := in.args[1:]
			switch r {
			case "ebp":
				s.push(s.ebp)
			default:
				s.push(s.regs[r]) // eax, ecx, edx: a word of locals
			}
		case in.op == "movl" && in.args == "%esp, %ebp":
			s.ebp = s.esp
		case in.op == "subl" || in.op == "andl":
			m := x86ImmRE.FindStringSubmatch(in.args)
			if m == nil {
				s.t.Fatalf("%s: %s+%#x: %s %s: not a prologue instruction", s.b.name, f.name, in.rva-f.start, in.op, in.args)
			}
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if in.op == "subl" {
				s.esp -= uint64(n)
			} else {
				s.esp &= uint64(n)
			}
		default:
			if in.rva >= stop {
				return
			}
			s.t.Fatalf("%s: %s+%#x: %s %s: not a prologue instruction", s.b.name, f.name, in.rva-f.start, in.op, in.args)
		}
	}
}

// x86Frame is one expected frame: where it is stopped and its stack
// pointer, the row that unwinds it and the arguments it pushed for its
// callee.
type x86Frame struct {
	fn       string
	eip, esp uint64
	row      *x86Row
	pushed   uint64
}

// x86Case is one thread: a chain of calls from main down to the function
// the thread is stopped in, at stop.
type x86Case struct {
	chain []x86Site // outermost first
	inner *x86Func
	stop  uint64 // RVA in inner
}

// layout lays the case's stack out from main's entry down: each function's
// prologue as its instructions run it, then the pushed arguments and the
// return address of the call to the next. Words nothing writes stay zero;
// main's return address is 0, the end of the stack. It returns the thread's
// registers and the frames a walk must find, innermost first.
func (c x86Case) layout(t *testing.T, b *x86Build, base uint64, size int) (*x86Stack, []x86Frame) {
	s := &x86Stack{t: t, b: b, base: base, mem: make([]byte, size), regs: map[string]uint64{"ebx": 0xb0b0, "esi": 0x5150, "edi": 0xd1d0, "eax": 0xa0a0, "ecx": 0xc0c0, "edx": 0xd0d0}}
	s.esp = base + uint64(size) - 0x100
	s.push(0) // main's return address
	var frames []x86Frame
	for _, site := range c.chain {
		ra := s.esp
		s.enter(site.caller, b.bodyStart(site.caller), b.ebpFrame(site.caller))
		if !b.ebpFrame(site.caller) {
			row := b.rowAt(b.bodyStart(site.caller))
			if got := ra - s.esp; got != row.locals+row.saved {
				t.Fatalf("%s: %s: the prologue takes %d bytes, FrameData says %d locals and %d saved", b.name, site.caller.name, got, row.locals, row.saved)
			}
		}
		for i := uint64(0); i < site.pushed; i += 4 {
			s.push(7 + i) // argument values: small numbers, no addresses
		}
		s.push(b.imageBase + site.ret)
		// The caller resumes at the return address, its stack pointer just
		// above it.
		frames = append(frames, x86Frame{fn: site.caller.name, eip: b.imageBase + site.ret, esp: s.esp + 4, row: b.rowAt(site.ret - 1), pushed: site.pushed})
	}
	// Stopped in the prologue, or at a call in the body made without
	// pushing arguments, where the stack is as the prologue left it.
	s.enter(c.inner, min(c.stop, b.bodyStart(c.inner)), false)
	frames = append(frames, x86Frame{fn: c.inner.name, eip: b.imageBase + c.stop, esp: s.esp, row: b.rowAt(c.stop)})
	// Innermost first.
	for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
		frames[i], frames[j] = frames[j], frames[i]
	}
	return s, frames
}

// x86Thread is one thread of an x86 dump: its stack and registers.
type x86Thread struct {
	stack                        *x86Stack
	eip, esp, ebp, ebx, esi, edi uint64
}

// writeX86Dump writes a 32-bit Windows minidump: the system info of an x86
// Windows machine, the image b as its one module (with its CodeView
// record), and threads with their stacks (also in the memory list) and
// CONTEXT_i386 registers. It stands for what MiniDumpWriteDump writes for a
// 32-bit process, reduced to the streams a stack walk reads; there is no
// exception stream, so every thread is walked alike.
func writeX86Dump(b *x86Build, threads []x86Thread) []byte {
	w := &winDump{buf: make([]byte, 32)}
	csd := w.string16("")
	// PROCESSOR_ARCHITECTURE_INTEL, level 6, Windows 10 (VER_PLATFORM_WIN32_NT).
	w.stream(7, le(uint16(0), uint16(6), uint16(0x5507), uint8(2), uint8(1), uint32(10), uint32(0), uint32(19045), uint32(2), csd, uint16(0), uint16(0), make([]byte, 24)))

	var list, mems []byte
	list = le(uint32(len(threads)))
	mems = le(uint32(len(threads)))
	for i, th := range threads {
		ctx := make([]byte, 716)
		put := func(off int, v uint64) { binary.LittleEndian.PutUint32(ctx[off:], uint32(v)) }
		put(0, 0x0001003f) // CONTEXT_i386 | CONTROL | INTEGER | SEGMENTS | FLOATING_POINT | DEBUG_REGISTERS | EXTENDED_REGISTERS
		put(156, th.edi)
		put(160, th.esi)
		put(164, th.ebx)
		put(180, th.ebp)
		put(184, th.eip)
		put(188, 0x23)
		put(192, 0x246)
		put(196, th.esp)
		put(200, 0x2b)
		ctxRVA := w.add(ctx)
		stackRVA := w.add(th.stack.mem)
		list = append(list, le(uint32(0x1000+i), uint32(0), uint32(0), uint32(0x20), uint64(0), th.stack.base, uint32(len(th.stack.mem)), stackRVA, uint32(len(ctx)), ctxRVA)...)
		mems = append(mems, le(th.stack.base, uint32(len(th.stack.mem)), stackRVA)...)
	}
	w.stream(3, list)
	w.stream(5, mems)

	guid := x86GUID(b.id.DebugID)
	cv := le(uint32(0x53445352), guid[:], x86Age(b.id.DebugID), []byte(`C:\app\prog.pdb`), uint8(0))
	cvRVA := w.add(cv)
	name := w.string16(`C:\app\prog.exe`)
	w.stream(4, le(uint32(1), b.imageBase, b.image.SizeOfImage, uint32(0), b.image.TimeDateStamp, name, make([]byte, 52), uint32(len(cv)), cvRVA, uint32(0), uint32(0), uint64(0), uint64(0)))

	dirRVA := w.add(nil)
	for _, d := range w.dir {
		w.buf = append(w.buf, le(d[0], d[1], d[2])...)
	}
	copy(w.buf, le(uint32(0x504d444d), uint32(0xa793), uint32(len(w.dir)), dirRVA, uint32(0), uint32(0x5ab8cee8), uint64(0)))
	return w.buf
}

// x86GUID is the RSDS GUID of a debug id, its first three fields stored
// little-endian.
func x86GUID(debugID string) [16]byte {
	var g [16]byte
	d, _ := parseDebugID(debugID)
	u := d.UUID
	copy(g[:], []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6]})
	copy(g[8:], u[8:])
	return g
}

func x86Age(debugID string) uint32 {
	d, _ := parseDebugID(debugID)
	return uint32(d.Appendix)
}

// x86Cases generates the threads of one build: for every function but
// main, stopped at the start of each of its FrameData rows (every state of
// its prologue, then its body) and at each call it makes without pushed
// arguments, under up to three chains of callers up to main picked at
// random among the program's call sites.
func x86Cases(t *testing.T, b *x86Build, r *rand.Rand) []x86Case {
	sites := b.sites(t)
	callers := map[string][]x86Site{}
	for _, s := range sites {
		callers[s.callee.name] = append(callers[s.callee.name], s)
	}
	var out []x86Case
	for i := range b.funcs {
		f := &b.funcs[i]
		if f.name == "main" || len(callers[f.name]) == 0 {
			continue
		}
		var stops []uint64
		for _, row := range b.rows {
			if row.rva >= f.start && row.rva < f.end {
				stops = append(stops, row.rva)
			}
		}
		for _, s := range sites {
			if s.caller == f && s.pushed == 0 && !b.ebpFrame(f) {
				stops = append(stops, s.rva)
			}
		}
		seen := map[string]bool{}
		for _, stop := range stops {
			for n := 0; n < 3; n++ {
				var chain []x86Site
				name := f.name
				for name != "main" && len(chain) < 10 {
					cs := callers[name]
					if len(cs) == 0 {
						break
					}
					s := cs[r.Intn(len(cs))]
					chain = append([]x86Site{s}, chain...)
					name = s.caller.name
				}
				if name != "main" {
					continue
				}
				key := fmt.Sprint(stop, chain)
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, x86Case{chain: chain, inner: f, stop: stop})
			}
		}
	}
	return out
}

// x86WalkedFrame is a frame as a walker reports it.
type x86WalkedFrame struct {
	eip, esp uint64
	trust    string
}

func (f x86WalkedFrame) String() string {
	return fmt.Sprintf("eip %#x esp %#x (%s)", f.eip, f.esp, f.trust)
}

var (
	x86ThreadRE = regexp.MustCompile(`^Thread (\d+)`)
	x86FrameRE  = regexp.MustCompile(`^ ?(\d+)  `)
	x86RegRE    = regexp.MustCompile(`(\w+) = 0x([0-9a-f]+)`)
)

// stackwalkThreads runs Breakpad's minidump_stackwalk over the dump with
// the build's reference .sym file, and returns every thread's frames.
func stackwalkThreads(t *testing.T, b *x86Build, dump []byte) [][]x86WalkedFrame {
	t.Helper()
	stackwalk, err := filepath.Abs(filepath.Join("..", "..", "node_modules", "minidump", "bin", "linux-x64", "minidump_stackwalk"))
	if err == nil {
		_, err = os.Stat(stackwalk)
	}
	if err != nil {
		t.Fatalf("minidump_stackwalk is not installed: run make deps")
	}
	dir := t.TempDir()
	symDir := filepath.Join(dir, "symbols", "prog.pdb", x86BreakpadID(b.id.DebugID))
	if err := os.MkdirAll(symDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(symDir, "prog.sym"), []byte(b.sym), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x86.dmp")
	if err := os.WriteFile(path, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, stackwalk, path, filepath.Join(dir, "symbols"))
	var threads [][]x86WalkedFrame
	for _, line := range strings.Split(out, "\n") {
		if m := x86ThreadRE.FindStringSubmatch(line); m != nil {
			threads = append(threads, nil)
			continue
		}
		if len(threads) == 0 {
			continue
		}
		th := &threads[len(threads)-1]
		if x86FrameRE.MatchString(line) {
			*th = append(*th, x86WalkedFrame{})
			continue
		}
		if len(*th) == 0 {
			continue
		}
		f := &(*th)[len(*th)-1]
		for _, m := range x86RegRE.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseUint(m[2], 16, 64)
			switch m[1] {
			case "eip":
				f.eip = v
			case "esp":
				f.esp = v
			}
		}
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "Found by: "); ok {
			f.trust = map[string]string{"given as instruction pointer in context": "context", "call frame info": "cfi", "previous frame's frame pointer": "fp", "stack scanning": "scan", "call frame info with scanning": "cfiscan"}[s]
			if f.trust == "" {
				f.trust = s
			}
		}
	}
	return threads
}

// symflowThreads walks the dump through the service's /minidump endpoint,
// with the image and PDB on a symstore server, and returns every thread's
// frames: the address Symbolicator reports (a caller's return address
// minus one) made back into the return address, and the trust.
func symflowThreads(t *testing.T, b *x86Build, dump []byte) ([][]x86WalkedFrame, map[string]any) {
	t.Helper()
	store := symstoreServer(t, []winBuild{b.winBuild})
	defer store.Close()
	_, srv := testService(t, Config{AllowLoopback: true})
	sources := fmt.Sprintf(`[{"type":"http","id":"microsoft-like","url":%q,"layout":{"type":"symstore"},"filters":{"filetypes":["pe","pdb"]}}]`, store.URL+"/")
	body, ct := minidumpBody(t, dump, sources)
	resp := doRequest(t, http.MethodPost, srv.URL+"/minidump", ct, body)
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("answer %d: %.800s", resp.Status, resp.Body)
	}
	var threads [][]x86WalkedFrame
	for _, st := range arr(t, resp.JSON["stacktraces"], "stacktraces") {
		var frames []x86WalkedFrame
		for _, fr := range arr(t, obj(t, st, "thread")["frames"], "frames") {
			fr := obj(t, fr, "frame")
			addr, _ := strconv.ParseUint(strings.TrimPrefix(fmt.Sprint(fr["instruction_addr"]), "0x"), 16, 64)
			trust := fmt.Sprint(fr["trust"])
			if trust != "context" {
				addr++
			}
			frames = append(frames, x86WalkedFrame{eip: addr, trust: trust})
		}
		threads = append(threads, frames)
	}
	return threads, obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
}

// TestX86MinidumpWalk walks 32-bit Windows minidumps whose threads' stacks
// were laid out as the program's own instructions leave them (see
// x86Case.layout), for every build variant, through the service (image
// and PDB from a symstore server) and through Breakpad's
// minidump_stackwalk with a .sym file written from llvm-pdbutil's dump of
// the same PDB.
//
// What each walker must find follows from its rules. Symbolicator's walk
// (rust-minidump, with no function information during the walk) computes
// .raSearch as esp + locals + saved registers; Breakpad adds the parameter
// size of the callee's callee (.cbCalleeParams), which is right where the
// caller pushed that many bytes of arguments and wrong where it stored
// them into its own frame (clang at -O0, or with
// -no-x86-call-frame-opt). So:
//
//   - symflow must find every expected frame, with its return address,
//     stack pointer and trust cfi, up to the first caller whose .raSearch
//     program is off by the arguments it pushed (none in the variants
//     that do not push arguments: those walks are complete);
//   - minidump_stackwalk must report the same frames as symflow for as long
//     as both walkers evaluate the same .raSearch (the context frame, then
//     every frame whose callee takes no stack parameters or that unwinds
//     through %ebp).
func TestX86MinidumpWalk(t *testing.T) {
	builds := x86BuildsFor(t)
	r := rand.New(rand.NewSource(16))
	var cases, frames, completed, agreed, bpFrames, beyond, refRight, oursRight int
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			cs := x86Cases(t, b, r)
			if len(cs) < 20 {
				t.Fatalf("%d cases", len(cs))
			}
			var threads []x86Thread
			var want [][]x86Frame
			for i, c := range cs {
				s, fr := c.layout(t, b, 0x00100000+uint64(i)*0x4000, 0x3000)
				threads = append(threads, x86Thread{stack: s, eip: fr[0].eip, esp: fr[0].esp, ebp: s.ebp, ebx: s.regs["ebx"], esi: s.regs["esi"], edi: s.regs["edi"]})
				want = append(want, fr)
			}
			dump := writeX86Dump(b, threads)
			ours, mod := symflowThreads(t, b, dump)
			if mod["debug_status"] != "found" || mod["unwind_status"] != "found" {
				t.Errorf("module %v", mod)
			}
			ref := stackwalkThreads(t, b, dump)
			// The answer carries no registers for callers: their esp comes
			// from the same walk run directly on the PDB's rules.
			p := x86PDB(t, b)
			for i := range ours {
				direct := x86DirectWalk(t, b, p, threads[i])
				for k := range ours[i] {
					if k < len(direct) && direct[k].eip == ours[i][k].eip && direct[k].trust == ours[i][k].trust {
						ours[i][k].esp = direct[k].esp
					}
				}
				if len(direct) != len(ours[i]) {
					t.Errorf("thread %d: the service walked %d frames, the direct walk %d", i, len(ours[i]), len(direct))
				}
			}
			if len(ours) != len(cs) || len(ref) != len(cs) {
				t.Fatalf("%d cases, symflow walked %d threads, minidump_stackwalk %d", len(cs), len(ours), len(ref))
			}
			c0, f0, a0 := cases, frames, agreed
			defer func() {
				t.Logf("%d cases: %d frames found by symflow as its rules determine, %d equal to minidump_stackwalk's", cases-c0, frames-f0, agreed-a0)
			}()
			for i, c := range cs {
				w := want[i]
				// sure: frames symflow's rules must find; same: frames both
				// walkers compute from the same inputs.
				// A caller whose .raSearch program misses the arguments it
				// pushed gives symflow a wrong caller of its own: frames
				// after it are not determined (complete is false).
				sure, same, complete := len(w), len(w), true
				for k := 1; k < len(w); k++ {
					raSearch := w[k].row != nil && strings.Contains(w[k].row.program, ".raSearch")
					if raSearch && w[k].pushed != 0 && complete {
						sure, complete = k+1, false
					}
					if raSearch && w[k-1].row != nil && w[k-1].row.params != 0 && same == len(w) {
						same = k + 1
					}
				}
				same = min(same, sure)
				var exp []x86WalkedFrame
				for k, f := range w {
					trust := "cfi"
					if k == 0 {
						trust = "context"
					}
					exp = append(exp, x86WalkedFrame{eip: f.eip, esp: f.esp, trust: trust})
				}
				got := ours[i]
				desc := func() string {
					var s []string
					for _, f := range w {
						s = append(s, fmt.Sprintf("%s@%#x pushed %d", f.fn, f.eip-b.imageBase, f.pushed))
					}
					return fmt.Sprintf("case %d (%s stopped at +%#x): %s", i, c.inner.name, c.stop-c.inner.start, strings.Join(s, " <- "))
				}
				for k := 0; k < sure; k++ {
					if k >= len(got) || got[k] != exp[k] {
						t.Errorf("%s:\nsymflow frame %d: %v, want %v\nsymflow: %v", desc(), k, at(got, k), exp[k], got)
						break
					}
				}
				if complete && len(got) != len(w) {
					t.Errorf("%s: symflow walked %d frames, want %d (main's return address ends the stack): %v", desc(), len(got), len(w), got)
				}
				cases++
				frames += sure
				if complete {
					completed++
				}
				for k := 0; k < same; k++ {
					if k >= len(ref[i]) || k >= len(got) || ref[i][k] != got[k] {
						t.Errorf("%s:\nframe %d: symflow %v, minidump_stackwalk %v\nminidump_stackwalk: %v", desc(), k, at(got, k), at(ref[i], k), ref[i])
						break
					}
					agreed++
				}
				bpFrames += len(w)
				beyond += len(w) - same
				// Beyond that, who still finds the expected frame.
				for k := same; k < len(w); k++ {
					if k < len(ref[i]) && ref[i][k] == exp[k] {
						refRight++
					}
					if k < len(got) && got[k] == exp[k] {
						oursRight++
					}
				}
			}
		})
	}
	t.Logf("%d cases in %d builds: symflow found all %d frames its rules determine (%d walks complete to main); %d frames compared with minidump_stackwalk and equal; %d of %d expected frames lie beyond where the two walkers' rules part (.cbCalleeParams), of which minidump_stackwalk finds %d and symflow %d", cases, len(builds), frames, completed, agreed, beyond, bpFrames, refRight, oursRight)
}

func at(fs []x86WalkedFrame, k int) any {
	if k < len(fs) {
		return fs[k]
	}
	return "none"
}

// x86PDB opens the build's PDB as the service does.
func x86PDB(t *testing.T, b *x86Build) *loadedFile {
	data, err := os.ReadFile(b.pdb)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pdb.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	return fromPDB(p)
}

// x86Modules is the walker's view of the one module, its rules from the
// PDB as the service gets them (loadedFile.unwindRules).
type x86Modules struct {
	base, size uint64
	f          *loadedFile
}

func (m x86Modules) CFI(addr uint64) unwind.Rules {
	if addr-m.base >= m.size {
		return nil
	}
	return m.f.unwindRules().rules(addr - m.base)
}

func (m x86Modules) Code(addr uint64) (bool, bool, bool) {
	if addr-m.base >= m.size {
		return false, false, false
	}
	if m.f.unwindRules().covers(addr - m.base) {
		return true, true, true
	}
	fr, ok := m.f.lookup(addr - m.base)
	return true, true, ok && len(fr) > 0
}

func (s *x86Stack) Read(addr uint64, size int) (uint64, bool) {
	if addr < s.base || addr-s.base+uint64(size) > uint64(len(s.mem)) {
		return 0, false
	}
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(s.mem[addr-s.base:])), true
	}
	return binary.LittleEndian.Uint64(s.mem[addr-s.base:]), true
}

// x86DirectWalk walks one thread with package unwind and the PDB's rules.
func x86DirectWalk(t *testing.T, b *x86Build, f *loadedFile, th x86Thread) []x86WalkedFrame {
	if f.unwindRules() == nil {
		t.Fatalf("%s: the PDB gives no unwind rules", b.name)
	}
	regs := map[string]uint64{"eip": th.eip, "esp": th.esp, "ebp": th.ebp, "ebx": th.ebx, "esi": th.esi, "edi": th.edi}
	frames, err := unwind.Walk(context.Background(), "x86", regs, th.stack, x86Modules{b.imageBase, uint64(b.image.SizeOfImage), f}, unwind.Options{OS: "windows", ModulesEnd: b.imageBase + uint64(b.image.SizeOfImage)})
	if err != nil {
		t.Fatal(err)
	}
	var out []x86WalkedFrame
	for _, fr := range frames {
		out = append(out, x86WalkedFrame{eip: fr.Resume, esp: fr.Registers["esp"], trust: fr.Trust})
	}
	return out
}
