package crashtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rerun the tools to rewrite testdata/ fixtures and golden files")

// fixtures are real tool outputs kept in testdata/, from these crashes.
var fixtures = []struct {
	name, scenario string
	arch           Arch
	capture        Capture
}{
	{"threads-amd64-kernel", "c-threads-gcc-O2", AMD64, Kernel},
	{"cxx-amd64-gdb", "cxx-uncaught-gcc-O0", AMD64, GDB},
	{"abort-arm64-qemu", "c-abort-gcc-O2", ARM64, QEMU},
}

type parsed struct {
	Walk *Walk
	GDB  *GDBReport
	Dump *DumpInfo
}

// TestParseFixtures parses recorded outputs of minidump_stackwalk, gdb and
// minidump_dump and compares the result with golden files; -update reruns
// the crashes and tools to record them afresh.
func TestParseFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			base := filepath.Join("testdata", fx.name)
			if *update {
				record(t, base, fx.scenario, fx.arch, fx.capture)
			}
			read := func(ext string) string {
				b, err := os.ReadFile(base + ext)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			w, err := ParseStackwalk(read(".stackwalk-m.txt"), read(".stackwalk.txt"))
			if err != nil {
				t.Fatal(err)
			}
			g, err := ParseGDB(read(".gdb.txt"))
			if err != nil {
				t.Fatal(err)
			}
			d := ParseMinidumpDump(read(".minidump_dump.txt"), "")
			w.Machine, w.Text, g.Output, d.Output = "", "", "", ""

			// What the three tools say of one crash must fit together.
			if len(w.Threads) != len(d.ThreadIDs) || len(g.Threads) != len(d.ThreadIDs) {
				t.Errorf("threads: walk %d, gdb %d, dump %d", len(w.Threads), len(g.Threads), len(d.ThreadIDs))
			}
			if w.CrashThread < 0 || d.ThreadIDs[w.CrashThread] != g.CurrentLWP || d.ExceptionThreadID != g.CurrentLWP {
				t.Errorf("crashing thread: walk index %d, dump %d, gdb LWP %d", w.CrashThread, d.ExceptionThreadID, g.CurrentLWP)
			}
			if len(w.Modules) != len(d.Modules) {
				t.Errorf("modules: walk %d, dump %d", len(w.Modules), len(d.Modules))
			}
			for i, m := range w.Modules {
				if i < len(d.Modules) && (m.Base != d.Modules[i].Base || m.Max != d.Modules[i].Base+d.Modules[i].Size-1) {
					t.Errorf("module %d: walk 0x%x-0x%x, dump 0x%x+0x%x", i, m.Base, m.Max, d.Modules[i].Base, d.Modules[i].Size)
				}
			}

			got, err := json.MarshalIndent(parsed{w, g, d}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := base + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("parsed %s differs from %s (run with -update after checking the tools' outputs):\n%s", fx.name, golden, got)
			}
		})
	}
}

// record reruns a crash and saves the tools' raw outputs.
func record(t *testing.T, base, scenario string, arch Arch, capture Capture) {
	t.Helper()
	var s Scenario
	for _, sc := range Scenarios() {
		if sc.Name == scenario {
			s = sc
		}
	}
	r := Run(t, s, arch, capture)
	dump := run("", nil, BreakpadTool(t, "minidump_dump"), r.Dump)
	var kept []string
	for _, line := range strings.Split(dump.stdout, "\n") {
		if !strings.HasPrefix(line, "0x") { // memory in hex: large, and not parsed
			kept = append(kept, line)
		}
	}
	for ext, text := range map[string]string{
		".stackwalk-m.txt":   r.Walk.Machine,
		".stackwalk.txt":     r.Walk.Text,
		".gdb.txt":           r.GDB.Output,
		".minidump_dump.txt": strings.Join(kept, "\n"),
	} {
		if err := os.WriteFile(base+ext, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseGDBLines(t *testing.T) {
	out := strings.Join([]string{
		"Program terminated with signal SIGABRT, Aborted.",
		"* 1    LWP 77          0x0000000000413aa0 in __pthread_kill_implementation.constprop.0 ()",
		"Thread 1 (LWP 77):",
		"#0  0x0000000000413aa0 in __pthread_kill_implementation.constprop.0 ()",
		"#1  0x00007f0000001000 in ?? () from /lib/x86_64-linux-gnu/libc.so.6",
		"#2  0x0000555555555257 in ns::Widget::operator() (this=..., x=...) at /src/main.cc:16",
		"#3  0x0000555555555257 in caller<int> (v=...) at /src/main.cc:20",
		"#4  0x0000555555555300 in (anonymous namespace)::helper () at /src/a b/main.cc:31",
		"SIGINFO 6 -6 0x4d2",
	}, "\n")
	r, err := ParseGDB(out)
	if err != nil {
		t.Fatal(err)
	}
	expectEq(t, "signal", r.Signal, "SIGABRT")
	expectEq(t, "current", r.CurrentLWP, uint32(77))
	expectEq(t, "signo", r.Signo, 6)
	expectEq(t, "code", r.Code, -6)
	expectEq(t, "addr", r.Addr, uint64(0x4d2))
	f := r.Threads[0].Frames
	want := []GDBFrame{
		{0, 0x413aa0, "__pthread_kill_implementation.constprop.0", "", 0, ""},
		{1, 0x7f0000001000, "??", "", 0, "/lib/x86_64-linux-gnu/libc.so.6"},
		{2, 0x555555555257, "ns::Widget::operator()", "/src/main.cc", 16, ""},
		{3, 0x555555555257, "caller<int>", "/src/main.cc", 20, ""},
		{4, 0x555555555300, "(anonymous namespace)::helper", "/src/a b/main.cc", 31, ""},
	}
	for i := range want {
		if i >= len(f) || f[i] != want[i] {
			t.Errorf("frame %d: got %+v, want %+v", i, f[i], want[i])
		}
	}
	// The inlined call at frame 2 folds into frame 3, its caller at the
	// same address.
	phys := r.Threads[0].Physical()
	expectEq(t, "physical frames", len(phys), 4)
	expectEq(t, "folded frame", phys[2].Function, "caller<int>")
}

func TestBareFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"main":                          "main",
		"load(char const*)":             "load",
		"config::Parser::parse() const": "config::Parser::parse",
		"int shapes::total_area<shapes::Shape>(shapes::Shape const* const*, int, int const*)": "shapes::total_area<shapes::Shape>",
		"ns::F::operator()(int) const":                                "ns::F::operator()",
		"ns::F::operator new(unsigned long)":                          "ns::F::operator new",
		"(anonymous namespace)::helper()":                             "(anonymous namespace)::helper",
		"std::vector<int, std::allocator<int> >::at(unsigned long) &": "std::vector<int, std::allocator<int> >::at",
	} {
		if got := BareFunctionName(in); got != want {
			t.Errorf("BareFunctionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func expectEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func FuzzParseStackwalk(f *testing.F) {
	for _, fx := range fixtures {
		m, _ := os.ReadFile(filepath.Join("testdata", fx.name+".stackwalk-m.txt"))
		h, _ := os.ReadFile(filepath.Join("testdata", fx.name+".stackwalk.txt"))
		f.Add(string(m), string(h))
	}
	f.Add("0|0|m|f|x|1|0x1\n", "Thread 0\n 0  m!f\n    Found by: stack scanning\n")
	f.Fuzz(func(t *testing.T, machine, text string) {
		w, err := ParseStackwalk(machine, text)
		if err == nil && w == nil {
			t.Fatal("nil walk without an error")
		}
	})
}

func FuzzParseGDB(f *testing.F) {
	for _, fx := range fixtures {
		b, _ := os.ReadFile(filepath.Join("testdata", fx.name+".gdb.txt"))
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		r, err := ParseGDB(out)
		if err == nil && (r == nil || r.CurrentLWP == 0) {
			t.Fatal("a report without a current thread and without an error")
		}
	})
}

func FuzzParseMinidumpDump(f *testing.F) {
	for _, fx := range fixtures {
		b, _ := os.ReadFile(filepath.Join("testdata", fx.name+".minidump_dump.txt"))
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		ParseMinidumpDump(out, out)
	})
}
