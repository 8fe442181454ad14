// Package crashtest makes real crashes for tests: it builds small C and C++
// programs that crash, runs them to the crash on this machine (x86_64
// natively, arm64 under qemu-user), captures the core file (the kernel's,
// gdb's generate-core-file, or qemu's), converts it to a minidump with
// internal/coredump, and runs the reference tools over the results:
// Breakpad's dump_syms, minidump_dump and minidump_stackwalk, and gdb.
//
// Everything a test makes lives in its t.TempDir(). Each external tool runs
// under a generous deadline (Timeout); a missing tool fails the test with
// "X is not installed: run make deps", never skips it: a skipped crash test
// would pass unnoticed.
package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/coredump"
)

// Timeout is the deadline of each external command (a compiler, a crash
// run, gdb, a Breakpad tool). It is a deadline, not a wait: commands end in
// well under a second or two; only a hung tool meets it.
const Timeout = 3 * time.Minute

// Arch is a CPU the kit builds for.
type Arch string

// The CPUs: x86_64 runs natively, arm64 under qemu-aarch64.
const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// Capture is how a crash becomes a core file.
type Capture string

// The ways to capture a core.
const (
	// Kernel: the kernel writes the core (ulimit -c unlimited; this
	// machine's core_pattern is "core", in the crashing process's
	// directory). x86_64 only.
	Kernel Capture = "kernel"
	// GDB: the program runs under gdb, which writes the core with
	// generate-core-file when the signal stops it. x86_64 only.
	GDB Capture = "gdb"
	// QEMU: qemu-aarch64 writes the guest's core as
	// qemu_<prog>_<time>_<pid>.core. arm64 only.
	QEMU Capture = "qemu"
)

// Captures returns the ways a crash on arch can be captured.
func Captures(arch Arch) []Capture {
	if arch == ARM64 {
		return []Capture{QEMU}
	}
	return []Capture{Kernel, GDB}
}

// Lookup returns the path of an installed command, failing the test if it
// is missing.
func Lookup(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// BreakpadTool returns the path of one of Breakpad's tools (dump_syms,
// minidump_dump, minidump_stackwalk) shipped prebuilt by the npm package
// minidump under the module's node_modules/.
func BreakpadTool(t testing.TB, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("%s is not installed: run make deps (%v)", name, err)
	}
	p := filepath.Join(root, "node_modules", "minidump", "bin", "linux-x64", name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s is not installed: run make deps (no executable %s)", name, p)
	}
	return p
}

// moduleRoot finds the directory holding go.mod above the working
// directory (tests run in their package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// result is what a command did.
type result struct {
	stdout, stderr string
	err            error
}

// run runs a command in dir under the Timeout deadline.
func run(dir string, env []string, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: deadline of %v passed: %w", name, Timeout, ctx.Err())
	}
	return result{out.String(), errOut.String(), err}
}

// mustRun runs a command that must succeed.
func mustRun(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	r := run(dir, nil, name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// Program is a scenario built for one CPU.
type Program struct {
	Scenario Scenario
	Arch     Arch
	Dir      string   // the test's directory holding sources, binaries and cores
	Path     string   // the executable
	Libs     []string // shared libraries built for it (x86_64 only)
}

// Build compiles a scenario for arch in a new t.TempDir(). x86_64 programs
// are dynamically linked (with the scenario's library beside them, found
// by an $ORIGIN rpath); arm64 programs are static, so that qemu-aarch64
// runs them without an arm64 sysroot.
func Build(t testing.TB, s Scenario, arch Arch) *Program {
	t.Helper()
	if !s.Supports(arch) {
		t.Fatalf("scenario %s is not built for %s", s.Name, arch)
	}
	dir := t.TempDir()
	p := &Program{Scenario: s, Arch: arch, Dir: dir, Path: filepath.Join(dir, s.program())}
	ext := ".c"
	if s.Lang == CXX {
		ext = ".cc"
	}
	cc, base := s.compiler(t, arch)
	flags := append(append([]string{"-g", "-Wl,--build-id=sha1"}, s.Flags...), base...)
	if s.Threads {
		flags = append(flags, "-pthread")
	}
	var link []string
	if s.Library != "" {
		src := filepath.Join(dir, "lib"+ext)
		writeFile(t, src, s.Library)
		lib := filepath.Join(dir, "libcrash.so")
		mustRun(t, dir, cc[0], append(append(cc[1:], flags...), "-shared", "-fPIC", "-o", lib, src)...)
		p.Libs = append(p.Libs, lib)
		link = []string{"-L" + dir, "-lcrash", "-Wl,-rpath,$ORIGIN"}
	}
	src := filepath.Join(dir, "main"+ext)
	writeFile(t, src, s.Source)
	args := append(append(append(cc[1:], flags...), "-o", p.Path, src), link...)
	mustRun(t, dir, cc[0], args...)
	return p
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Crash is a program's crash captured in a core file.
type Crash struct {
	*Program
	Capture Capture
	Core    string // the core file
	Log     string // what the crash run printed (gdb's session for GDB)
}

// Crash runs the program to its crash and captures the core. The test
// fails if the program does not die by a signal or no core appears.
func (p *Program) Crash(t testing.TB, c Capture) *Crash {
	t.Helper()
	if !slicesContains(Captures(p.Arch), c) {
		t.Fatalf("capture %s is not available for %s", c, p.Arch)
	}
	dir := filepath.Join(p.Dir, string(c))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cr := &Crash{Program: p, Capture: c}
	switch c {
	case Kernel:
		r := run(dir, nil, Lookup(t, "sh"), "-c", `ulimit -c unlimited && exec "$0"`, p.Path)
		cr.Log = r.stdout + r.stderr
		mustHaveDied(t, r, cr.Log)
		cr.Core = filepath.Join(dir, "core")
	case GDB:
		core := filepath.Join(dir, "core")
		r := run(dir, nil, Lookup(t, "gdb"), "-batch", "-nx",
			// Separate debug files only slow gdb down here.
			"-iex", "set debug-file-directory "+t.TempDir(), "-iex", "set debuginfod enabled off",
			"-ex", "run", "-ex", "generate-core-file "+core, "-ex", "bt", "--args", p.Path)
		cr.Log = r.stdout + r.stderr
		if r.err != nil {
			t.Fatalf("gdb run of %s: %v\n%s", p.Path, r.err, cr.Log)
		}
		cr.Core = core
	case QEMU:
		// qemu-aarch64 writes the guest's core, then dies of the signal
		// itself, and the kernel would write qemu's own (host, x86_64,
		// hundreds of MB) core as "core": a directory of that name keeps
		// the kernel from creating it.
		hostCore := filepath.Join(dir, "core")
		if err := os.Mkdir(hostCore, 0o755); err != nil {
			t.Fatal(err)
		}
		r := run(dir, nil, Lookup(t, "sh"), "-c", `ulimit -c unlimited && exec "$1" "$0"`, p.Path, Lookup(t, "qemu-aarch64"))
		cr.Log = r.stdout + r.stderr
		mustHaveDied(t, r, cr.Log)
		os.Remove(hostCore) // fails if something landed in it, which the glob below would not see anyway
		cores, _ := filepath.Glob(filepath.Join(dir, "qemu_"+filepath.Base(p.Path)+"_*.core"))
		if len(cores) != 1 {
			t.Fatalf("qemu-aarch64 %s left %d guest cores (%v), want 1\n%s", p.Path, len(cores), cores, cr.Log)
		}
		cr.Core = cores[0]
	}
	if st, err := os.Stat(cr.Core); err != nil || st.Size() == 0 {
		t.Fatalf("%s crash of %s: no core file at %s (%v)\n%s", c, p.Path, cr.Core, err, cr.Log)
	}
	return cr
}

func mustHaveDied(t testing.TB, r result, log string) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) {
		t.Fatalf("the program did not crash (%v)\n%s", r.err, log)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the program exited without a signal: %v\n%s", r.err, log)
	}
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Options returns the coredump options for converting this crash: the
// program and its libraries as executables (a qemu-user core names no
// files), and, as Breakpad's writer would take them from the machine it
// runs on, this machine's uname and CPU count. The time is the core's.
func (c *Crash) Options() coredump.Options {
	opts := coredump.Options{
		Executables:        append([]string{c.Path}, c.Libs...),
		Uname:              HostUname(),
		NumberOfProcessors: runtime.NumCPU(),
	}
	if st, err := os.Stat(c.Core); err == nil {
		opts.Time = st.ModTime()
	}
	return opts
}

// HostUname returns this machine's uname.
func HostUname() coredump.Uname {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return coredump.Uname{}
	}
	return coredump.Uname{Sysname: cstr(u.Sysname[:]), Release: cstr(u.Release[:]), Version: cstr(u.Version[:]), Machine: cstr(u.Machine[:])}
}

// cstr reads a NUL-terminated utsname field (int8 or uint8 by platform).
func cstr[T int8 | uint8](b []T) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// Minidump converts the core with opts and writes the dump beside it,
// returning its path.
func (c *Crash) Minidump(t testing.TB, opts coredump.Options) string {
	t.Helper()
	f, err := os.Open(c.Core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dump, err := coredump.Convert(f, opts)
	if err != nil {
		t.Fatalf("converting %s: %v", c.Core, err)
	}
	path := strings.TrimSuffix(c.Core, ".core") + ".dmp"
	if err := os.WriteFile(path, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ReadCore parses the crash's core.
func (c *Crash) ReadCore(t testing.TB) *coredump.Core {
	t.Helper()
	f, err := os.Open(c.Core)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	core, err := coredump.ReadCore(f)
	if err != nil {
		t.Fatalf("reading %s: %v", c.Core, err)
	}
	return core
}

// Result is a crash with everything tests compare against: its minidump,
// the Breakpad symbol store for it, minidump_stackwalk's walk of the dump
// with that store, and gdb's reading of the core.
type Result struct {
	*Crash
	Dump    string
	Symbols string
	Walk    *Walk
	GDB     *GDBReport
}

// Run crashes the program with capture c, converts the core with the
// crash's default Options, and runs the reference tools.
func (p *Program) Run(t testing.TB, c Capture) *Result {
	t.Helper()
	cr := p.Crash(t, c)
	r := &Result{Crash: cr, Dump: cr.Minidump(t, cr.Options()), Symbols: cr.Symbols(t)}
	r.Walk = Stackwalk(t, r.Dump, r.Symbols)
	r.GDB = GDBBacktraces(t, p.Arch, p.Path, cr.Core)
	return r
}

// Run builds scenario s for arch and runs it with capture c.
func Run(t testing.TB, s Scenario, arch Arch, c Capture) *Result {
	t.Helper()
	return Build(t, s, arch).Run(t, c)
}
