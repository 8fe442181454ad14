package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/internal/crashtest"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"core"}, {"a", "b", "c"}, {"-nosuchflag", "a", "b"}} {
		var stderr bytes.Buffer
		if code := run(args, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "usage: core2minidump CORE OUT.dmp") && !strings.Contains(stderr.String(), "flag provided but not defined") {
			t.Errorf("run(%q) wrote %q", args, stderr.String())
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run([]string{filepath.Join(dir, "missing"), filepath.Join(dir, "out.dmp")}, &stderr); code != 1 {
		t.Errorf("a missing core: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "core2minidump: open ") {
		t.Errorf("a missing core: %q", stderr.String())
	}
}

// TestConvert converts real crashes on both CPUs, flags after the paths,
// and checks the dumps with minidump_dump and minidump_stackwalk.
func TestConvert(t *testing.T) {
	for _, s := range crashtest.Scenarios() {
		if s.Name != "c-threads-gcc-O2" {
			continue
		}
		for _, arch := range s.Arches {
			t.Run(string(arch), func(t *testing.T) {
				c := crashtest.Build(t, s, arch).Crash(t, crashtest.Captures(arch)[0])
				out := filepath.Join(t.TempDir(), "crash.dmp")
				var stderr bytes.Buffer
				if code := run([]string{c.Core, out, "-exe", c.Path, "-ip-memory=false"}, &stderr); code != 0 {
					t.Fatalf("exit %d: %s", code, stderr.String())
				}
				if info := crashtest.MinidumpDump(t, out); len(info.Errors) > 0 {
					t.Errorf("minidump_dump: %s", strings.Join(info.Errors, "\n"))
				}
				w := crashtest.Stackwalk(t, out, crashtest.SymbolStore(t, t.TempDir(), c.Path))
				if w.CrashThread < 0 || len(w.Threads[w.CrashThread].Frames) == 0 {
					t.Fatalf("no crashing thread:\n%s", w.Machine)
				}
				if f := w.Threads[w.CrashThread].Frames[0]; f.Function != s.CrashesIn {
					t.Errorf("crashing frame %q, want %s", f.Function, s.CrashesIn)
				}
				if w.CPUCount == 0 {
					t.Errorf("no CPU count with -host (the default)")
				}
			})
		}
	}
}
