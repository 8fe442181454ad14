package crashtest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// agreements collects every run's agreement for the summary.
var agreements struct {
	sync.Mutex
	byArch map[Arch]Agreement
	runs   map[Arch]int
}

// TestScenarios crashes every scenario on both CPUs, in every way a core
// can be captured there, converts each core with internal/coredump, and
// checks the dump against the reference tools: minidump_dump reads it
// without errors; minidump_stackwalk, with dump_syms's symbols, names the
// same crashing thread, signal and fault address as gdb reads from the
// core, and walks the crashing thread to the same frames gdb does.
func TestScenarios(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		for _, s := range Scenarios() {
			for _, arch := range []Arch{AMD64, ARM64} {
				if !s.Supports(arch) {
					continue
				}
				t.Run(s.Name+"/"+string(arch), func(t *testing.T) {
					t.Parallel()
					p := Build(t, s, arch)
					for _, c := range Captures(arch) {
						t.Run(string(c), func(t *testing.T) {
							a := checkCrash(t, p.Run(t, c))
							agreements.Lock()
							if agreements.byArch == nil {
								agreements.byArch, agreements.runs = map[Arch]Agreement{}, map[Arch]int{}
							}
							agreements.byArch[arch] = agreements.byArch[arch].Add(a)
							agreements.runs[arch]++
							agreements.Unlock()
						})
					}
				})
			}
		}
	})
	var archs []string
	for arch, a := range agreements.byArch {
		archs = append(archs, fmt.Sprintf("%s (%d crashes): %v", arch, agreements.runs[arch], a))
	}
	sort.Strings(archs)
	t.Logf("agreement of minidump_stackwalk with gdb, crashing threads:\n%s", strings.Join(archs, "\n"))
}

func checkCrash(t *testing.T, r *Result) Agreement {
	s, walk, gdb := r.Scenario, r.Walk, r.GDB
	info := MinidumpDump(t, r.Dump)
	if len(info.Errors) > 0 {
		t.Errorf("minidump_dump reports errors:\n%s", strings.Join(info.Errors, "\n"))
	}

	// The crashing thread: gdb's selected thread, the dump's exception
	// thread, and the thread the walk marks as crashed are one.
	if info.ExceptionThreadID != gdb.CurrentLWP {
		t.Errorf("exception thread %d, gdb's current thread is LWP %d", info.ExceptionThreadID, gdb.CurrentLWP)
	}
	if walk.CrashThread < 0 || walk.CrashThread >= len(info.ThreadIDs) || walk.CrashThread >= len(walk.Threads) {
		t.Fatalf("the walk's crashed thread %d is not one of the dump's %d threads", walk.CrashThread, len(info.ThreadIDs))
	}
	if id := info.ThreadIDs[walk.CrashThread]; id != gdb.CurrentLWP {
		t.Errorf("the walk's crashed thread is %d, gdb's LWP %d", id, gdb.CurrentLWP)
	}
	if len(info.ThreadIDs) != len(gdb.Threads) {
		t.Errorf("the dump has %d threads, gdb %d", len(info.ThreadIDs), len(gdb.Threads))
	}

	// The signal and fault address.
	// gdb names the signal from the last NT_PRSTATUS's pr_cursig, which
	// qemu sets only for the crashing thread: with several threads gdb
	// names none.
	if gdb.Signal != "" && walk.Signal() != gdb.Signal {
		t.Errorf("the walk's crash reason %q, gdb's signal %s", walk.CrashReason, gdb.Signal)
	}
	if got, want := walk.Signal(), "SIG"+strings.ToUpper(signalName(s)); got != want {
		t.Errorf("the walk's crash reason %q, the scenario dies of %s", walk.CrashReason, want)
	}
	if int(info.ExceptionCode) != int(s.Signal) {
		t.Errorf("exception code %d, want signal %d", info.ExceptionCode, int(s.Signal))
	}
	if gdb.HasSiginfo {
		if gdb.Signo != int(info.ExceptionCode) || gdb.Code != int(int32(info.ExceptionFlags)) {
			t.Errorf("exception code/flags %d/%d, gdb's siginfo %d/%d", info.ExceptionCode, int32(info.ExceptionFlags), gdb.Signo, gdb.Code)
		}
		if faults(s) && walk.CrashAddress != gdb.Addr {
			t.Errorf("crash address 0x%x, gdb's si_addr 0x%x", walk.CrashAddress, gdb.Addr)
		}
	}
	th := gdb.Thread(gdb.CurrentLWP)
	if th == nil || len(th.Frames) == 0 {
		t.Fatalf("gdb has no backtrace for LWP %d:\n%s", gdb.CurrentLWP, gdb.Output)
	}
	switch {
	case s.FaultAtPC:
		if gdb.HasSiginfo && walk.CrashAddress != th.Frames[0].PC {
			t.Errorf("crash address 0x%x, the faulting instruction is at 0x%x", walk.CrashAddress, th.Frames[0].PC)
		}
	case s.Signal == syscall.SIGSEGV && gdb.HasSiginfo:
		if walk.CrashAddress != s.FaultAddr {
			t.Errorf("crash address 0x%x, the program touches 0x%x", walk.CrashAddress, s.FaultAddr)
		}
	case !faults(s) || !gdb.HasSiginfo:
		if walk.CrashAddress != 0 {
			t.Errorf("crash address 0x%x for %s without si_addr, want 0", walk.CrashAddress, gdb.Signal)
		}
	}

	// The crashing thread's frames against gdb's, and the function that
	// crashes among the program's own.
	a := Compare(s, walk.Threads[walk.CrashThread], th)
	if a.Walked < a.Frames || a.SameAddress < a.Walked || a.SameName < a.Named {
		t.Errorf("the walk disagrees with gdb: %v\n%s\nwalk:\n%s\ngdb:\n%s", a, strings.Join(a.Diffs, "\n"), walk.Machine, gdb.Output)
	}
	if fn := firstOwnFunction(s, th); fn != s.CrashesIn {
		t.Errorf("gdb's innermost function of the program is %q, the scenario crashes in %q", fn, s.CrashesIn)
	}
	t.Logf("%s: %v", r.Capture, a)
	return a
}

// faults reports whether the scenario's signal carries a fault address.
func faults(s Scenario) bool {
	switch s.Signal {
	case syscall.SIGILL, syscall.SIGTRAP, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV:
		return true
	}
	return false
}

func signalName(s Scenario) string {
	switch s.Signal {
	case syscall.SIGABRT:
		return "abrt"
	case syscall.SIGFPE:
		return "fpe"
	case syscall.SIGSEGV:
		return "segv"
	}
	return fmt.Sprint(int(s.Signal))
}

func firstOwnFunction(s Scenario, th *GDBThread) string {
	for _, f := range th.Physical() {
		if f.File != "" && s.OwnFile(f.File) {
			return f.Function
		}
	}
	return ""
}
