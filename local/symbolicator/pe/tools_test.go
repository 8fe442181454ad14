package pe

import (
	"bytes"
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

// tool finds an external program and fails the test when it is not
// installed.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/lib/llvm-14/bin", "/usr/lib/llvm-15/bin", "/usr/lib/llvm-16/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run make deps", name)
	return ""
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// image is one linked PE file built for the tests.
type image struct {
	name   string // e.g. "frames-x64-O2"
	path   string // the .dll or .exe
	pdb    string // its PDB
	x64    bool
	exe    bool
	data   []byte
	source string // what it was built from, for messages
}

// variant says how to build one image.
type variant struct {
	name    string
	target  string // clang --target
	sources []string
	flags   []string
	link    []string // extra lld-link arguments
	exe     bool
	entry   string
}

func variants() []variant {
	const x64, x86 = "x86_64-pc-windows-msvc", "i686-pc-windows-msvc"
	var out []variant
	for _, fl := range [][]string{{"-O0"}, {"-O1"}, {"-O2"}, {"-Os"}, {"-O2", "-fno-omit-frame-pointer"}, {"-O0", "-fno-omit-frame-pointer"}} {
		out = append(out, variant{
			name:    "frames-x64" + strings.Join(fl, ""),
			target:  x64,
			sources: []string{"frames.c", "names.cpp", "rt.c"},
			flags:   fl,
			link:    []string{"/export:forwarded=kernel32.Sleep", "/export:ordinal_only,@40,NONAME"},
		})
	}
	for _, fl := range [][]string{{"-O0"}, {"-O2"}} {
		out = append(out, variant{
			name:    "frames-x86" + strings.Join(fl, ""),
			target:  x86,
			sources: []string{"frames.c", "names.cpp", "rt.c"},
			flags:   fl,
		})
	}
	out = append(out, variant{name: "allops", target: x64, sources: []string{"allops.s"}, exe: true, entry: "asm_main"})
	return out
}

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
	builtImgs  []image
)

// images builds every variant once per test binary.
func images(t testing.TB) []image {
	t.Helper()
	clang, lld := tool(t, "clang"), tool(t, "lld-link")
	// Read the sources here so that go test's cache notices when they
	// change (clang reads them in another process).
	for _, v := range variants() {
		for _, src := range v.sources {
			if _, err := os.ReadFile(filepath.Join("testdata", src)); err != nil {
				t.Fatal(err)
			}
		}
	}
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "pe-test-")
		if imagesErr != nil {
			return
		}
		for _, v := range variants() {
			img, err := build(clang, lld, imagesDir, v)
			if err != nil {
				imagesErr = err
				return
			}
			builtImgs = append(builtImgs, img)
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return builtImgs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}

func build(clang, lld, dir string, v variant) (image, error) {
	var objs []string
	for _, src := range v.sources {
		obj := filepath.Join(dir, v.name+"-"+strings.TrimSuffix(src, filepath.Ext(src))+".obj")
		args := append([]string{"--target=" + v.target, "-g", "-gcodeview", "-c", filepath.Join("testdata", src), "-o", obj}, v.flags...)
		if strings.HasSuffix(src, ".cpp") {
			args = append(args, "-x", "c++")
		}
		if out, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
			return image{}, fmt.Errorf("clang %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		objs = append(objs, obj)
	}
	ext, entry := ".dll", "main"
	if v.exe {
		ext = ".exe"
	}
	if v.entry != "" {
		entry = v.entry
	}
	out := filepath.Join(dir, v.name+ext)
	pdb := filepath.Join(dir, v.name+".pdb")
	args := []string{"/debug", "/nodefaultlib", "/entry:" + entry, "/subsystem:console", "/out:" + out, "/pdb:" + pdb}
	if !v.exe {
		args = append(args, "/dll")
	}
	args = append(append(args, v.link...), objs...)
	if o, err := exec.Command(lld, args...).CombinedOutput(); err != nil {
		return image{}, fmt.Errorf("lld-link %s: %v\n%s", strings.Join(args, " "), err, o)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return image{}, err
	}
	return image{name: v.name, path: out, pdb: pdb, x64: strings.HasPrefix(v.target, "x86_64"), exe: v.exe,
		data: data, source: strings.Join(v.sources, "+") + " " + strings.Join(v.flags, " ")}, nil
}

func openImage(t testing.TB, img image) *File {
	t.Helper()
	f, err := Open(img.data)
	if err != nil {
		t.Fatalf("%s: Open: %v", img.name, err)
	}
	return f
}

// hexField finds "Key: ... (0xNN)" or "Key: 0xNN" in llvm-readobj output
// and returns the number.
func hexField(t testing.TB, text, key string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `: (?:.*\()?0x([0-9A-Fa-f]+)\)?\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in llvm-readobj output:\n%s", key, text)
	}
	v, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func decField(t testing.TB, text, key string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `: (\d+)\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in llvm-readobj output:\n%s", key, text)
	}
	v, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func strField(t testing.TB, text, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `: (.*?)\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in llvm-readobj output:\n%s", key, text)
	}
	return m[1]
}
