package breakpad

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The corpus: generated programs built for three CPUs by gcc and clang,
// shared by the symbol and CFI tests of one run.

var corpusDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "breakpad-corpus-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	corpusDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type buildSpec struct {
	arch  string // "x86_64", "x86" or "arm64", as dump_syms names them
	cc    string
	cxx   bool
	opt   string // -O0 or -O2
	flags []string
	// lib builds the program's units as a shared library without libc:
	// there are no 32-bit libc headers here, and the units need none.
	lib  bool
	seed int64
}

func (s buildSpec) String() string {
	lang := "c"
	if s.cxx {
		lang = "c++"
	}
	return fmt.Sprintf("%s-%s-%s%s%s-seed%d", s.arch, lang, filepath.Base(s.cc), s.opt, strings.Join(s.flags, ""), s.seed)
}

// corpusSpecs lists the builds: C and C++ on x86_64 with gcc (DWARF 4:
// this dump_syms reads GCC's DWARF 5 range lists only partly and says so)
// and clang (DWARF 5), C on arm64 with gcc and clang, and C on 32-bit x86,
// each at -O0 and -O2, for one generated program; SYMFLOW_BREAKPAD_SEEDS=n
// builds n programs each. -short keeps the -O2 C builds.
func corpusSpecs(short bool) []buildSpec {
	nseeds := 1
	if n, err := strconv.Atoi(os.Getenv("SYMFLOW_BREAKPAD_SEEDS")); err == nil && n > 0 {
		nseeds = n
	}
	var specs []buildSpec
	for seed := int64(1); seed <= int64(nseeds); seed++ {
		for _, opt := range []string{"-O0", "-O2"} {
			for _, cxx := range []bool{false, true} {
				gcc, clang := "gcc", "clang"
				if cxx {
					gcc, clang = "g++", "clang++"
				}
				specs = append(specs,
					buildSpec{arch: "x86_64", cc: gcc, cxx: cxx, opt: opt, flags: []string{"-gdwarf-4"}, seed: seed},
					buildSpec{arch: "x86_64", cc: clang, cxx: cxx, opt: opt, flags: []string{"-g"}, seed: seed},
				)
			}
			specs = append(specs,
				buildSpec{arch: "arm64", cc: "aarch64-linux-gnu-gcc", opt: opt, flags: []string{"-gdwarf-4"}, seed: seed},
				buildSpec{arch: "arm64", cc: "clang", opt: opt, flags: []string{"--target=aarch64-linux-gnu", "-g"}, seed: seed},
				buildSpec{arch: "x86", cc: "gcc", opt: opt, flags: []string{"-m32", "-gdwarf-4"}, lib: true, seed: seed},
				buildSpec{arch: "x86", cc: "clang", opt: opt, flags: []string{"--target=i686-linux-gnu", "-g"}, lib: true, seed: seed},
			)
		}
	}
	if short {
		var kept []buildSpec
		for _, s := range specs {
			if !s.cxx && s.opt == "-O2" {
				kept = append(kept, s)
			}
		}
		specs = kept
	}
	return specs
}

var builds sync.Map // spec string → *builtBinary

type builtBinary struct {
	once sync.Once
	bin  string
	err  error
}

// build compiles spec once per run and returns the binary's path.
func build(t testing.TB, spec buildSpec) string {
	t.Helper()
	cc := requireTool(t, spec.cc)
	v, _ := builds.LoadOrStore(spec.String(), &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		dir := filepath.Join(corpusDir, spec.String())
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		srcs := genProgram(t, dir, spec.seed, spec.cxx)
		flags := append([]string{spec.opt}, spec.flags...)
		name := "prog"
		if spec.lib {
			srcs = srcs[:len(srcs)-1] // no main: it calls printf
			flags = append(flags, "-shared", "-nostdlib", "-fPIC")
			name = "libprog.so"
		}
		b.bin, b.err = compileIn(dir, name, cc, flags, srcs)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}
