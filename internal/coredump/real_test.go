package coredump_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/symflow/symflow/internal/crashtest"
)

// mapsSource copies its own /proc/self/maps to maps.txt in its working
// directory, then crashes: the reference for the LinuxMaps stream the
// converter synthesizes from the core.
const mapsSource = `#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char buf[4096];
	size_t n;
	FILE *in = fopen("/proc/self/maps", "r");
	FILE *out = fopen("maps.txt", "w");
	void *heap = malloc(100000);
	if (!in || !out || !heap)
		return 2;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(out);
	*(volatile int *)0 = 1;
	return 0;
}
`

type mapsLine struct {
	start, end, offset uint64
	perms, path        string
}

var mapsRE = regexp.MustCompile(`^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+\s*(.*)$`)

func parseMaps(t *testing.T, text string) []mapsLine {
	t.Helper()
	var out []mapsLine
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		m := mapsRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("maps line %q", line)
		}
		l := mapsLine{perms: m[3], path: m[5]}
		l.start, _ = strconv.ParseUint(m[1], 16, 64)
		l.end, _ = strconv.ParseUint(m[2], 16, 64)
		l.offset, _ = strconv.ParseUint(m[4], 16, 64)
		out = append(out, l)
	}
	return out
}

// TestRealCores crashes a program that saved its own /proc/self/maps, on
// both CPUs and in every capture, and checks the dump against references
// that do not go through the converter: the process's own maps, eu-readelf's
// listing of the core's NT_FILE, and readelf's build IDs of the files.
func TestRealCores(t *testing.T) {
	s := crashtest.Scenario{
		Name: "maps", Lang: crashtest.C, Compiler: "gcc", Flags: []string{"-O1"},
		Source: mapsSource, Arches: []crashtest.Arch{crashtest.AMD64, crashtest.ARM64}, Signal: syscall.SIGSEGV,
	}
	for _, arch := range s.Arches {
		t.Run(string(arch), func(t *testing.T) {
			t.Parallel()
			p := crashtest.Build(t, s, arch)
			for _, capture := range crashtest.Captures(arch) {
				t.Run(string(capture), func(t *testing.T) {
					c := p.Crash(t, capture)
					dump, err := os.ReadFile(c.Minidump(t, c.Options()))
					if err != nil {
						t.Fatal(err)
					}
					d := minidumpDump(t, dump)
					saved, err := os.ReadFile(filepath.Join(filepath.Dir(c.Core), "maps.txt"))
					if err != nil {
						t.Fatal(err)
					}
					checkMaps(t, c, parseMaps(t, string(saved)), parseMaps(t, d.stream("MD_LINUX_MAPS")))
					checkModules(t, c, d)
				})
			}
		})
	}
}

// checkMaps compares the synthesized maps with the process's. Every file
// mapping must be there, with its range, permissions and offset; so must
// the stack and the vDSO. Anonymous mappings the core holds must be there
// with their permissions (the kernel dumps every one; gdb and qemu leave
// some out, and qemu's guest sees qemu's own view).
func checkMaps(t *testing.T, c *crashtest.Crash, real, got []mapsLine) {
	t.Helper()
	byStart := map[uint64]mapsLine{}
	for _, l := range got {
		byStart[l.start] = l
	}
	compared := 0
	for _, want := range real {
		g, ok := byStart[want.start]
		if ok {
			compared++
		}
		named := strings.HasPrefix(want.path, "/") || want.path == "[stack]" || want.path == "[vdso]"
		switch {
		case !ok && (named || c.Capture == crashtest.Kernel) && want.path != "[vsyscall]" && c.Capture != crashtest.QEMU:
			t.Errorf("mapping %x-%x %s %s is missing", want.start, want.end, want.perms, want.path)
		case !ok:
		case want.path == "[vsyscall]" && c.Capture == crashtest.GDB:
			// gdb cannot read the vsyscall page and writes its segment R E.
		case g.end != want.end || g.perms != want.perms:
			t.Errorf("mapping %x-%x %s %s is written %x-%x %s", want.start, want.end, want.perms, want.path, g.start, g.end, g.perms)
		case named && (g.path != want.path || g.offset != want.offset):
			t.Errorf("mapping %x-%x %s at 0x%x is written as %s at 0x%x", want.start, want.end, want.path, want.offset, g.path, g.offset)
		}
	}
	t.Logf("%s: %d of the process's %d mappings are in the dump's %d", c.Capture, compared, len(real), len(got))
	if compared < len(real)/2 {
		t.Errorf("only %d of the process's %d mappings are in the dump", compared, len(real))
	}
}

// checkModules compares the ModuleList with the files the core maps, as
// eu-readelf lists its NT_FILE note, and their build IDs, as readelf reads
// them from the files.
func checkModules(t *testing.T, c *crashtest.Crash, d *dumpOutput) {
	t.Helper()
	mods := d.all("MDRawModule")
	if len(mods) == 0 {
		t.Fatal("no modules")
	}
	// The program is the main module, first.
	expect(t, "main module", strings.Trim(mods[0].fields["(code_file)"], `"`), c.Path)
	expect(t, "main module build ID", mods[0].fields["(cv_record).build_id"], buildID(t, c.Path))
	if c.Capture == crashtest.QEMU {
		return // qemu writes no NT_FILE: the program is the only module
	}
	out, err := exec.Command(crashtest.Lookup(t, "eu-readelf"), "-n", c.Core).Output()
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ start, end uint64 }
	files := map[string]*span{}
	var order []string
	re := regexp.MustCompile(`(?m)^\s+([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) \d+\s+(/\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		start, _ := strconv.ParseUint(m[1], 16, 64)
		end, _ := strconv.ParseUint(m[2], 16, 64)
		off, _ := strconv.ParseUint(m[3], 16, 64)
		sp, ok := files[m[4]]
		if !ok {
			sp = &span{start: ^uint64(0)}
			files[m[4]] = sp
			order = append(order, m[4])
		}
		if off == 0 {
			sp.start = min(sp.start, start)
		}
		sp.end = max(sp.end, end)
	}
	if len(order) == 0 {
		t.Fatalf("eu-readelf lists no NT_FILE mappings:\n%s", out)
	}
	byBase := map[uint64]dumpBlock{}
	for _, m := range mods {
		byBase[m.num(t, "base_of_image")] = m
	}
	for _, path := range order {
		sp := files[path]
		m, ok := byBase[sp.start]
		if !ok {
			t.Errorf("no module at 0x%x for %s", sp.start, path)
			continue
		}
		expect(t, path+" size", m.num(t, "size_of_image"), sp.end-sp.start)
		if id := buildID(t, path); id != "" {
			expect(t, path+" build ID", m.fields["(cv_record).build_id"], id)
		}
		name := strings.Trim(m.fields["(code_file)"], `"`)
		if filepath.Dir(name) != filepath.Dir(path) {
			t.Errorf("module %s is named %s", path, name)
		}
	}
}

func buildID(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(crashtest.Lookup(t, "readelf"), "-n", path).Output()
	if err != nil {
		t.Fatalf("readelf -n %s: %v", path, err)
	}
	if m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
