package pdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// run runs a command in dir and returns its standard output, failing the
// test on error.
func run(t testing.TB, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// target is a Windows target the tests build for.
type target struct {
	name   string // "x64" or "x86"
	triple string
	base   uint64 // image base lld-link uses
}

var (
	x64 = target{"x64", "x86_64-pc-windows-msvc", 0x140000000}
	x86 = target{"x86", "i686-pc-windows-msvc", 0x400000}
)

// build compiles one freestanding source file for tg and links it with
// lld-link /debug, returning the paths of the image and its PDB.
func build(t testing.TB, dir, src string, tg target, opt string) (exe, pdbPath string) {
	t.Helper()
	driver := "clang"
	extra := []string{}
	if strings.HasSuffix(src, ".cpp") {
		driver = "clang++"
		extra = []string{"-fno-exceptions", "-fno-rtti"}
	}
	stem := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)) + "-" + tg.name + opt
	obj := stem + ".obj"
	args := append([]string{"--target=" + tg.triple, "-g", "-gcodeview", opt, "-ffreestanding", "-fno-builtin", "-fno-stack-protector", "-c", src, "-o", obj}, extra...)
	run(t, dir, nil, driver, args...)
	run(t, dir, nil, "lld-link", "/debug", "/nodefaultlib", "/entry:main", "/subsystem:console", obj, "/out:"+stem+".exe", "/pdb:"+stem+".pdb")
	return filepath.Join(dir, stem+".exe"), filepath.Join(dir, stem+".pdb")
}

// textSection returns the RVA and size of the image's .text section.
func textSection(t testing.TB, exe string) (rva, size uint64) {
	t.Helper()
	out := run(t, filepath.Dir(exe), nil, "llvm-objdump", "-h", exe)
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[1] == ".text" {
			s, err1 := strconv.ParseUint(f[2], 16, 64)
			v, err2 := strconv.ParseUint(f[3], 16, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("llvm-objdump -h: cannot read %q", l)
			}
			return v, s
		}
	}
	t.Fatalf("llvm-objdump -h %s: no .text section", exe)
	return 0, 0
}

// refFrame is one frame as llvm-symbolizer prints it.
type refFrame struct {
	Function string `json:"FunctionName"`
	File     string `json:"FileName"`
	Line     int    `json:"Line"`
}

func (f refFrame) String() string { return fmt.Sprintf("%s @ %s:%d", f.Function, f.File, f.Line) }

// llvmSymbolize asks llvm-symbolizer (which reads the PDB next to the
// image) for the inline chain at each virtual address, innermost first.
// It is LLVM 19's: LLVM 14's native PDB reader gives an inlined frame the
// line of the range after the one holding the address (its
// NativeInlineSiteSymbol::getLineOffset stops one annotation late), which
// later LLVM versions fixed.
func llvmSymbolize(t testing.TB, exe string, vas []uint64) [][]refFrame {
	t.Helper()
	var in bytes.Buffer
	for _, a := range vas {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	out := run(t, filepath.Dir(exe), in.Bytes(), "llvm-symbolizer-19", "--obj="+exe, "--inlines", "--output-style=JSON")
	var res [][]refFrame
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var r struct{ Symbol []refFrame }
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("llvm-symbolizer: %v in %q", err, l)
		}
		res = append(res, r.Symbol)
	}
	if len(res) != len(vas) {
		t.Fatalf("llvm-symbolizer answered %d of %d addresses", len(res), len(vas))
	}
	return res
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
