package crashtest

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// GDBReport is gdb's reading of a core: the independent reference for the
// crashing thread, the signal and the backtraces.
type GDBReport struct {
	// CurrentLWP is the thread gdb selects on loading the core: the one
	// that took the signal.
	CurrentLWP uint32
	// Signal is the name in "Program terminated with signal SIGSEGV".
	Signal string
	// HasSiginfo is set when the core holds the thread's siginfo
	// ($_siginfo readable); then Signo, Code and Addr come from it.
	HasSiginfo bool
	Signo      int
	Code       int
	Addr       uint64
	Threads    []GDBThread
	Output     string
}

// GDBThread is one thread of "thread apply all bt".
type GDBThread struct {
	Num    int
	LWP    uint32
	Frames []GDBFrame
}

// GDBFrame is one line of a backtrace.
type GDBFrame struct {
	Level    int
	PC       uint64
	Function string // "??" when gdb knows none
	File     string // source file, if gdb has line info
	Line     int
	Library  string // "from LIB", for frames without line info
}

// Thread returns the thread with the given LWP, or nil.
func (r *GDBReport) Thread(lwp uint32) *GDBThread {
	for i := range r.Threads {
		if r.Threads[i].LWP == lwp {
			return &r.Threads[i]
		}
	}
	return nil
}

// Physical returns the thread's frames with inlined ones folded into the
// function they are inlined in: gdb lists an inlined call as its own frame
// at the same address as its caller, where Breakpad's walk (without
// INLINE records) has one frame named after the out-of-line function.
func (th *GDBThread) Physical() []GDBFrame {
	var out []GDBFrame
	for _, f := range th.Frames {
		if n := len(out); n > 0 && out[n-1].PC == f.PC {
			out[n-1] = f
			continue
		}
		out = append(out, f)
	}
	return out
}

// GDBBacktraces runs gdb (gdb-multiarch for arm64) over the program and core and
// parses every thread's backtrace and the signal.
func GDBBacktraces(t testing.TB, arch Arch, program, core string) *GDBReport {
	t.Helper()
	gdb := "gdb"
	if arch == ARM64 {
		gdb = "gdb-multiarch"
	}
	// Separate debug files (libc6-dbg's) are kept away: with them gdb adds
	// frames for tail calls it infers from DWARF call-site records, which
	// no CFI walker can see, and names libc's functions by their internal
	// names. Without them gdb walks system libraries by their .eh_frame
	// and .dynsym, as Breakpad does with dump_syms's output for them. The
	// programs' own DWARF is in the programs.
	noDebugDir := t.TempDir()
	r := run("", nil, Lookup(t, gdb), "-batch", "-nx",
		"-iex", "set debug-file-directory "+noDebugDir,
		"-iex", "set debuginfod enabled off",
		"-ex", "set width 0",
		"-ex", "set pagination off",
		"-ex", "set print frame-info location-and-address",
		"-ex", "set print frame-arguments none",
		"-ex", "info threads",
		"-ex", "thread apply all bt",
		"-ex", `printf "SIGINFO %d %d %#lx\n", $_siginfo.si_signo, $_siginfo.si_code, (unsigned long)$_siginfo._sifields._sigfault.si_addr`,
		program, core)
	// gdb exits 1 when its last command fails, as $_siginfo does for a
	// core without NT_SIGINFO: the output tells what it read.
	var exit *exec.ExitError
	if r.err != nil && !errors.As(r.err, &exit) {
		t.Fatalf("%s %s %s: %v\n%s%s", gdb, program, core, r.err, r.stdout, r.stderr)
	}
	rep, err := ParseGDB(r.stdout)
	if err != nil {
		t.Fatalf("%s %s %s: %v\n%s%s", gdb, program, core, err, r.stdout, r.stderr)
	}
	return rep
}

var (
	gdbTerminated = regexp.MustCompile(`^Program terminated with signal (SIG[A-Z0-9]+)`)
	gdbCurrent    = regexp.MustCompile(`^\*\s+\d+\s+.*?LWP (\d+)`)
	gdbThread     = regexp.MustCompile(`^Thread (\d+) \(.*?LWP (\d+)\)`)
	gdbFrame      = regexp.MustCompile(`^#(\d+)\s+(?:0x([0-9a-f]+) in )?(.*?) \(.*\)(?: at (.+):(\d+))?(?: from (.+))?$`)
	gdbSiginfo    = regexp.MustCompile(`^SIGINFO (-?\d+) (-?\d+) (0x[0-9a-f]+|0)$`)
)

// ParseGDB parses the output of the commands GDBBacktraces runs.
func ParseGDB(out string) (*GDBReport, error) {
	r := &GDBReport{Output: out}
	var th *GDBThread
	for _, line := range strings.Split(out, "\n") {
		switch {
		case gdbTerminated.MatchString(line):
			r.Signal = gdbTerminated.FindStringSubmatch(line)[1]
		case gdbCurrent.MatchString(line):
			n, _ := strconv.ParseUint(gdbCurrent.FindStringSubmatch(line)[1], 10, 32)
			r.CurrentLWP = uint32(n)
		case gdbThread.MatchString(line):
			m := gdbThread.FindStringSubmatch(line)
			num, _ := strconv.Atoi(m[1])
			lwp, _ := strconv.ParseUint(m[2], 10, 32)
			r.Threads = append(r.Threads, GDBThread{Num: num, LWP: uint32(lwp)})
			th = &r.Threads[len(r.Threads)-1]
		case gdbSiginfo.MatchString(line):
			m := gdbSiginfo.FindStringSubmatch(line)
			r.HasSiginfo = true
			r.Signo, _ = strconv.Atoi(m[1])
			r.Code, _ = strconv.Atoi(m[2])
			r.Addr, _ = strconv.ParseUint(strings.TrimPrefix(m[3], "0x"), 16, 64)
		case th != nil && strings.HasPrefix(line, "#"):
			m := gdbFrame.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("unparsed backtrace line %q", line)
			}
			f := GDBFrame{Function: m[3], File: m[4], Library: m[6]}
			f.Level, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				f.PC, _ = strconv.ParseUint(m[2], 16, 64)
			}
			if m[5] != "" {
				f.Line, _ = strconv.Atoi(m[5])
			}
			th.Frames = append(th.Frames, f)
		}
	}
	if len(r.Threads) == 0 {
		return nil, fmt.Errorf("no thread backtraces in gdb's output")
	}
	if r.CurrentLWP == 0 {
		return nil, fmt.Errorf("gdb selected no thread")
	}
	return r, nil
}
