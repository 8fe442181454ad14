package objfile

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// tool returns the path of a command the tests need, failing the test when
// it is missing.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// run runs a command in dir and fails the test on error.
func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// copyTestdata copies testdata/<sub> into dir/<sub>, so that builds run with
// relative source paths under a fresh compilation directory.
func copyTestdata(t testing.TB, dir string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join("testdata", sub))); err != nil {
			t.Fatal(err)
		}
	}
}

// refFrame is one frame printed by a reference tool.
type refFrame struct {
	Function string
	File     string // "" when unknown
	Line     int
}

func (f refFrame) String() string { return fmt.Sprintf("%s @ %s:%d", f.Function, f.File, f.Line) }

// llvmSymbolize runs one llvm-symbolizer over all addresses (batched on
// stdin) and returns the inline chain per address, innermost first.
func llvmSymbolize(t testing.TB, obj string, addrs []uint64, extra ...string) [][]refFrame {
	t.Helper()
	args := append([]string{"--obj=" + obj, "--inlining", "--functions=linkage", "--output-style=LLVM"}, extra...)
	out := runBatch(t, tool(t, "llvm-symbolizer"), args, addrs)
	var res [][]refFrame
	var cur []refFrame
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			if cur != nil {
				res = append(res, cur)
				cur = nil
			}
			continue
		}
		if i+1 >= len(lines) {
			t.Fatalf("llvm-symbolizer: truncated output at %q", l)
		}
		loc := lines[i+1]
		i++
		// file:line:column; the file may itself contain colons.
		parts := strings.Split(loc, ":")
		if len(parts) < 3 {
			t.Fatalf("llvm-symbolizer: unexpected location %q", loc)
		}
		ln, _ := strconv.Atoi(parts[len(parts)-2])
		file := strings.Join(parts[:len(parts)-2], ":")
		if file == "??" {
			file = ""
		}
		cur = append(cur, refFrame{Function: l, File: file, Line: ln})
	}
	if cur != nil {
		res = append(res, cur)
	}
	if len(res) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d addresses, asked %d", len(res), len(addrs))
	}
	return res
}

var discriminator = regexp.MustCompile(` \(discriminator \d+\)$`)

// addr2line runs binutils addr2line -a -f -i -C over all addresses.
func addr2line(t testing.TB, obj string, addrs []uint64) [][]refFrame {
	t.Helper()
	out := runBatch(t, tool(t, "addr2line"), []string{"-a", "-f", "-i", "-C", "-e", obj}, addrs)
	var res [][]refFrame
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := 0; i < len(lines); {
		if !strings.HasPrefix(lines[i], "0x") {
			t.Fatalf("addr2line: expected an address, got %q", lines[i])
		}
		i++
		var cur []refFrame
		for i+1 < len(lines) && !strings.HasPrefix(lines[i], "0x") {
			loc := discriminator.ReplaceAllString(lines[i+1], "")
			k := strings.LastIndexByte(loc, ':')
			file, lnStr := loc, "0"
			if k >= 0 {
				file, lnStr = loc[:k], loc[k+1:]
			}
			ln, _ := strconv.Atoi(lnStr)
			if file == "??" {
				file = ""
			}
			cur = append(cur, refFrame{Function: lines[i], File: file, Line: ln})
			i += 2
		}
		res = append(res, cur)
	}
	if len(res) != len(addrs) {
		t.Fatalf("addr2line answered %d addresses, asked %d", len(res), len(addrs))
	}
	return res
}

func runBatch(t testing.TB, bin string, args []string, addrs []uint64) string {
	t.Helper()
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// sampleAddrs lists addresses inside the defined functions of an ELF file's
// symbol table: every byte when there are at most limit of them, else an
// even stride over all of them.
func sampleAddrs(t testing.TB, path string, limit int) []uint64 {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	type span struct{ lo, hi uint64 }
	var spans []span
	total := uint64(0)
	seen := map[uint64]bool{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Section == elf.SHN_UNDEF || seen[s.Value] {
			continue
		}
		seen[s.Value] = true
		spans = append(spans, span{s.Value, s.Value + s.Size})
		total += s.Size
	}
	stride := uint64(1)
	if total > uint64(limit) {
		stride = total/uint64(limit) + 1
	}
	var out []uint64
	n := uint64(0)
	for _, sp := range spans {
		for a := sp.lo; a < sp.hi; a++ {
			if n%stride == 0 {
				out = append(out, a)
			}
			n++
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no function addresses to sample", path)
	}
	return out
}

// buildCache holds binaries built once per test process and shared by the
// tests that only read them.
var buildCache struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildCache.dir != "" {
		os.RemoveAll(buildCache.dir)
	}
	os.Exit(code)
}

// built is compile with the result shared: callers must not modify the
// file or write next to it.
func built(t testing.TB, compiler, src string, flags ...string) string {
	t.Helper()
	buildCache.Lock()
	defer buildCache.Unlock()
	key := compiler + "\x00" + src + "\x00" + strings.Join(flags, "\x00")
	if p, ok := buildCache.paths[key]; ok {
		return p
	}
	if buildCache.dir == "" {
		d, err := os.MkdirTemp("", "objfile-builds-")
		if err != nil {
			t.Fatal(err)
		}
		buildCache.dir, buildCache.paths = d, map[string]string{}
	}
	dir := filepath.Join(buildCache.dir, strconv.Itoa(len(buildCache.paths)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := compile(t, dir, compiler, src, flags...)
	buildCache.paths[key] = p
	return p
}
