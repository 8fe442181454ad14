package unwind

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tool returns the path of an external program the test needs, failing the
// test when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// TestFramePointerAgainstGDB checks frame-pointer walks against gdb's
// backtraces of real crashes. It builds small static C programs with frame
// pointers (gcc and clang, several optimisation levels and call depths,
// amd64 natively and arm64 under qemu-user), lets each crash under gdb,
// takes the registers and the stack memory at the crash, and walks them with
// no CFI. Every frame gdb reports (it stops at main) must come out of the
// walk at the same address, the callers found by the frame pointer.
func TestFramePointerAgainstGDB(t *testing.T) {
	type target struct {
		cpu      string
		cc       []string // compilers
		gdb      string
		qemu     string
		regNames []string
	}
	amd64Regs := []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}
	var arm64Regs []string
	for i := range 31 {
		arm64Regs = append(arm64Regs, fmt.Sprintf("x%d", i))
	}
	arm64Regs = append(arm64Regs, "sp", "pc")
	targets := []target{
		{cpu: "amd64", cc: []string{"gcc", "clang"}, gdb: "gdb", regNames: amd64Regs},
		{cpu: "arm64", cc: []string{"aarch64-linux-gnu-gcc"}, gdb: "gdb-multiarch", qemu: "qemu-aarch64", regNames: arm64Regs},
	}
	for _, tg := range targets {
		for _, cc := range tg.cc {
			for _, opt := range []string{"-O0", "-O2"} {
				for _, depth := range []int{2, 12} {
					name := fmt.Sprintf("%s/%s%s/depth%d", tg.cpu, cc, opt, depth)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						ccPath := tool(t, cc)
						gdbPath := tool(t, tg.gdb)
						qemuPath := ""
						if tg.qemu != "" {
							qemuPath = tool(t, tg.qemu)
						}
						dir := t.TempDir()
						bin := buildCrasher(t, dir, ccPath, opt, depth)
						crash := crashUnderGDB(t, dir, bin, gdbPath, qemuPath, tg.regNames)
						checkAgainstGDB(t, tg.cpu, bin, crash)
					})
				}
			}
		}
	}
}

// buildCrasher writes and compiles a program whose main calls f0 … fN, the
// last of which crashes by writing through a null pointer after calling an
// opaque function (so that it, too, sets up a frame record).
func buildCrasher(t *testing.T, dir, cc, opt string, depth int) string {
	var src strings.Builder
	src.WriteString("__attribute__((noinline)) void sink(int x) { __asm__ volatile(\"\" : : \"r\"(x) : \"memory\"); }\n")
	fmt.Fprintf(&src, "__attribute__((noinline)) int f%d(int x) { sink(x); *(volatile int *)0 = x; return x; }\n", depth)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&src, "__attribute__((noinline)) int f%d(int x) { return f%d(x + 1) + 1; }\n", i, i+1)
	}
	src.WriteString("int main(int argc, char **argv) { (void)argv; return f0(argc); }\n")
	c := filepath.Join(dir, "crash.c")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "crash")
	out, err := exec.Command(cc, opt, "-static", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls",
		"-fno-inline", "-o", bin, c).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return bin
}

// gdbCrash is what gdb saw at the crash.
type gdbCrash struct {
	pcs   []uint64 // frame addresses, innermost first
	names []string
	regs  map[string]uint64
	stack stackMem
}

// crashUnderGDB runs bin under gdb (through qemu's gdb stub on a Unix socket
// when qemu is set) until it crashes and returns the backtrace, the
// registers and the stack memory from the stack pointer up.
func crashUnderGDB(t *testing.T, dir, bin, gdbPath, qemu string, regNames []string) gdbCrash {
	t.Helper()
	stackFile := filepath.Join(dir, "stack.bin")
	start := `gdb.execute("run")`
	var q *exec.Cmd
	if qemu != "" {
		sock := filepath.Join(dir, "gdb.sock")
		q = exec.Command(qemu, "-g", sock, bin)
		if err := q.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = q.Process.Kill(); _ = q.Wait() }()
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		start = fmt.Sprintf("gdb.execute(%q)\ngdb.execute(\"continue\")", "target remote "+sock)
	}
	quoted := make([]string, len(regNames))
	for i, r := range regNames {
		quoted[i] = strconv.Quote(r)
	}
	script := fmt.Sprintf(`import gdb
%s
f = gdb.newest_frame()
while f is not None:
    print("FRAME %%#x %%s" %% (f.pc(), f.name()))
    f = f.older()
for r in [%s]:
    print("REG %%s %%#x" %% (r, int(gdb.parse_and_eval("$" + r)) & 0xffffffffffffffff))
sp = int(gdb.parse_and_eval("$sp")) & 0xffffffffffffffff
inf = gdb.selected_inferior()
data = b""
addr = sp
limit = sp + 256 * 1024
while addr < limit:
    n = 4096 - addr %% 4096
    try:
        data += bytes(inf.read_memory(addr, n))
    except gdb.MemoryError:
        break
    addr += n
open(%q, "wb").write(data)
print("STACK %%#x" %% sp)
`, start, strings.Join(quoted, ", "), stackFile)
	py := filepath.Join(dir, "crash.py")
	if err := os.WriteFile(py, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gdbPath, "-batch", "-nx", "-x", py, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	c := gdbCrash{regs: map[string]uint64{}}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "FRAME":
			pc, err := strconv.ParseUint(f[1], 0, 64)
			if err != nil {
				t.Fatalf("gdb frame %q", sc.Text())
			}
			c.pcs = append(c.pcs, pc)
			c.names = append(c.names, f[2])
		case len(f) == 3 && f[0] == "REG":
			v, err := strconv.ParseUint(f[2], 0, 64)
			if err != nil {
				t.Fatalf("gdb register %q", sc.Text())
			}
			c.regs[f[1]] = v
		case len(f) == 2 && f[0] == "STACK":
			sp, err := strconv.ParseUint(f[1], 0, 64)
			if err != nil {
				t.Fatalf("gdb stack %q", sc.Text())
			}
			c.stack.base = sp
		}
	}
	if len(c.pcs) == 0 || c.stack.base == 0 {
		t.Fatalf("no crash seen by gdb:\n%s", out)
	}
	if c.stack.bytes, err = os.ReadFile(stackFile); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkAgainstGDB walks gdb's registers and stack with the executable's
// code as the only module and no CFI, and compares with gdb's frames.
func checkAgainstGDB(t *testing.T, cpu, bin string, c gdbCrash) {
	t.Helper()
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	m := module{base: ^uint64(0)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			m.base = min(m.base, p.Vaddr)
			m.size = max(m.size, p.Vaddr+p.Memsz) // end for now
		}
	}
	m.size -= m.base

	regs := c.regs
	if cpu == "arm64" {
		regs["fp"], regs["lr"] = regs["x29"], regs["x30"]
		delete(regs, "x29")
		delete(regs, "x30")
	}
	frames, err := Walk(context.Background(), cpu, regs, &c.stack, &modules{list: []module{m}}, Options{OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	if c.names[len(c.names)-1] != "main" {
		t.Fatalf("gdb's backtrace ends in %s, not main", c.names[len(c.names)-1])
	}
	for i, pc := range c.pcs {
		if i >= len(frames) {
			t.Fatalf("walk ended after %d frames; gdb has %d (%v)", len(frames), len(c.pcs), c.names)
		}
		f := frames[i]
		wantTrust := TrustFP
		if i == 0 {
			wantTrust = TrustContext
		}
		if f.Resume != pc || f.Trust != wantTrust {
			t.Errorf("frame %d (%s): walk %s at %#x, gdb at %#x", i, c.names[i], f.Trust, f.Resume, pc)
		}
	}
}
