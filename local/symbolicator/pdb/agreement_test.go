package pdb

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// A build of a generated program, shared by the tests that compare with
// reference tools.
type builtPDB struct {
	name      string
	exe, pdb  string
	tg        target
	textStart uint64 // RVA
	textSize  uint64
}

var (
	buildsOnce sync.Once
	builds     []builtPDB
	buildsErr  string
)

// agreementBuilds compiles the generated programs (C++ and C, three and two
// seeds) for x64 and x86 at -O0 and -O2, once per test binary.
func agreementBuilds(t *testing.T) []builtPDB {
	t.Helper()
	for _, n := range []string{"clang", "clang++", "lld-link", "llvm-symbolizer-19", "llvm-objdump", "llvm-pdbutil"} {
		tool(t, n)
	}
	buildsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pdb-agreement-")
		if err != nil {
			buildsErr = err.Error()
			return
		}
		type prog struct {
			file string
			seed uint64
			cpp  bool
		}
		progs := []prog{{"gen1.cpp", 1, true}, {"gen2.cpp", 2, true}, {"gen3.cpp", 3, true}, {"gen4.c", 4, false}, {"gen5.c", 5, false}}
		var jobs []func(testing.TB) builtPDB
		for _, p := range progs {
			if err := os.WriteFile(filepath.Join(dir, p.file), []byte(genProgram(p.seed, p.cpp)), 0o644); err != nil {
				buildsErr = err.Error()
				return
			}
			for _, tg := range []target{x64, x86} {
				for _, opt := range []string{"-O0", "-O2"} {
					jobs = append(jobs, func(tb testing.TB) builtPDB {
						exe, pdbPath := build(tb, dir, p.file, tg, opt)
						rva, size := textSection(tb, exe)
						return builtPDB{name: fmt.Sprintf("%s/%s%s", p.file, tg.name, opt), exe: exe, pdb: pdbPath, tg: tg, textStart: rva - tg.base, textSize: size}
					})
				}
			}
		}
		builds = make([]builtPDB, len(jobs))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for i, job := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				builds[i] = job(t)
			}()
		}
		wg.Wait()
	})
	if buildsErr != "" {
		t.Fatal(buildsErr)
	}
	return builds
}

// baseName strips the parameter list and method qualifiers from a
// function name: "ns::S::get(int) const" -> "ns::S::get".
func baseName(s string) string {
	for {
		t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, " const"), " volatile"), " &")
		if t == s {
			break
		}
		s = t
	}
	if !strings.HasSuffix(s, ")") {
		return s
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return s[:i]
			}
		}
	}
	return s
}

// paramList returns what follows baseName: "(int) const".
func paramList(s string) string { return s[len(baseName(s)):] }

var (
	tagRE      = regexp.MustCompile(`\b(struct|class|union|enum) `)
	sigilRE    = regexp.MustCompile(` +([*&])`)
	ptr64RE    = regexp.MustCompile(` ?__ptr64`)
	int64RE    = regexp.MustCompile(`\b(__int64|int64_t)\b`)
	uint64RE   = regexp.MustCompile(`\buint64_t\b`)
	digitConst = regexp.MustCompile(`([0-9])const\b`)
	sigilConst = regexp.MustCompile(`([*&]) const\b`)
	callConvRE = regexp.MustCompile(`__(cdecl|thiscall|stdcall|fastcall) `)
	noTypeArg  = regexp.MustCompile(`<NoType>`)
)

// normName brings LLVM's and symbolic's spellings of a name together
// where they differ only in form: LLVM's demangler writes tags
// ("struct S"), a blank before sigils, "__int64", "(void)" and a blank
// after commas in template arguments (clang's own names have none),
// "*const", calling conventions inside pointer-to-member types, "dtor" for
// "destructor" in special names;
// msvc-demangler (symbolic) writes "int64_t" and, after a name ending in
// a digit, "S0const&"; symbolic's type formatter writes "<NoType>" for C
// varargs.
func normName(s string) string {
	normMu.Lock()
	n, ok := normCache[s]
	normMu.Unlock()
	if !ok {
		n = normNameUncached(s)
		normMu.Lock()
		normCache[s] = n
		normMu.Unlock()
	}
	return n
}

var (
	normMu    sync.Mutex
	normCache = map[string]string{}
)

func normNameUncached(s string) string {
	s = tagRE.ReplaceAllString(s, "")
	s = callConvRE.ReplaceAllString(s, "")
	s = ptr64RE.ReplaceAllString(s, "")
	s = sigilRE.ReplaceAllString(s, "$1")
	s = uint64RE.ReplaceAllString(s, "unsigned long long")
	s = int64RE.ReplaceAllString(s, "long long")
	s = digitConst.ReplaceAllString(s, "$1 const")
	s = sigilConst.ReplaceAllString(s, "${1}const")
	s = strings.ReplaceAll(s, " dtor'", " destructor'")
	s = noTypeArg.ReplaceAllString(s, "...")
	s = strings.ReplaceAll(s, "(void)", "()")
	s = strings.ReplaceAll(s, ", ", ",")
	return s
}

type agreement struct {
	addrs, covered, frames       int
	llvmPublicOnly               int // padding LLVM names after the preceding public symbol
	nameOK, fileOK, lineOK       int
	paramsCompared, paramsOK     int
	demangleCompared, demangleOK int
	chainLenOK                   int
	mismatches                   []string
}

func (a *agreement) add(b agreement) {
	a.addrs += b.addrs
	a.llvmPublicOnly += b.llvmPublicOnly
	a.covered += b.covered
	a.frames += b.frames
	a.nameOK += b.nameOK
	a.fileOK += b.fileOK
	a.lineOK += b.lineOK
	a.paramsCompared += b.paramsCompared
	a.paramsOK += b.paramsOK
	a.demangleCompared += b.demangleCompared
	a.demangleOK += b.demangleOK
	a.chainLenOK += b.chainLenOK
	a.mismatches = append(a.mismatches, b.mismatches...)
}

// compareWithLLVM looks up every address of the .text section and compares
// each frame with llvm-symbolizer's: the inline chain's length, every
// frame's file and line, and its name. Names are compared without their
// parameter lists (LLVM names inlined functions and static ones without
// parameters); where LLVM names a function from its decorated public
// symbol, the parameter lists are compared too, and so is this package's
// MSVC demangling of that public name.
func compareWithLLVM(t *testing.T, b builtPDB) agreement {
	f, err := Open(readFile(t, b.pdb))
	if err != nil {
		t.Fatalf("%s: %v", b.name, err)
	}
	publicAt := map[uint32]string{}
	for _, p := range f.publics {
		publicAt[p.rva] = p.name
	}
	vas := make([]uint64, b.textSize)
	for i := range vas {
		vas[i] = b.tg.base + b.textStart + uint64(i)
	}
	ref := llvmSymbolize(t, b.exe, vas)
	var a agreement
	miss := func(rva uint64, format string, args ...any) {
		a.mismatches = append(a.mismatches, fmt.Sprintf("%s rva %#x: %s", b.name, rva, fmt.Sprintf(format, args...)))
	}
	for i, va := range vas {
		rva := va - b.tg.base
		a.addrs++
		got, ok := f.Lookup(rva)
		want := ref[i]
		if len(want) == 1 && want[0].Function == "" {
			if ok {
				miss(rva, "llvm-symbolizer finds nothing, we find %q", got[0].Function)
			}
			continue
		}
		if !ok {
			// LLVM lets a public symbol reach up to the next one; symbolic
			// ends every function at its end, so that the padding after
			// it belongs to nobody. Count these apart.
			if len(want) == 1 && want[0].File == "" && want[0].Line == 0 && f.procAt(uint32(rva)) < 0 {
				a.llvmPublicOnly++
				continue
			}
			miss(rva, "nothing found, llvm-symbolizer finds %v", want)
			continue
		}
		a.covered++
		if len(got) != len(want) {
			miss(rva, "%d frames, llvm-symbolizer %d: %v vs %v", len(got), len(want), got, want)
			continue
		}
		a.chainLenOK++
		for j := range got {
			g, w := got[j], want[j]
			a.frames++
			outer := j == len(got)-1
			public := ""
			if outer {
				public = publicAt[uint32(g.SymAddr)]
			}
			if normName(baseName(g.Function)) == normName(baseName(w.Function)) {
				a.nameOK++
			} else {
				miss(rva, "frame %d name %q, llvm-symbolizer %q", j, g.Function, w.Function)
			}
			if g.AbsPath == w.File {
				a.fileOK++
			} else {
				miss(rva, "frame %d (%s) file %q, llvm-symbolizer %q", j, w.Function, g.AbsPath, w.File)
			}
			if g.Line == w.Line {
				a.lineOK++
			} else {
				miss(rva, "frame %d (%s) line %d, llvm-symbolizer %d", j, w.Function, g.Line, w.Line)
			}
			if outer && strings.HasPrefix(public, "?") {
				a.paramsCompared++
				// symbolic's type formatter does not print volatile.
				if normName(paramList(g.Function)) == normName(strings.ReplaceAll(paramList(w.Function), " volatile", "")) {
					a.paramsOK++
				} else {
					miss(rva, "parameters of %q, llvm-symbolizer %q", g.Function, w.Function)
				}
				a.demangleCompared++
				if d := demangleName(public); normName(d) == normName(w.Function) {
					a.demangleOK++
				} else {
					miss(rva, "%s demangles to %q, llvm-symbolizer %q", public, d, w.Function)
				}
			}
		}
	}
	return a
}

// TestAgreementWithLLVMSymbolizer is the acceptance test: every address of
// every generated program agrees with llvm-symbolizer.
func TestAgreementWithLLVMSymbolizer(t *testing.T) {
	var total agreement
	for _, b := range agreementBuilds(t) {
		a := compareWithLLVM(t, b)
		t.Logf("%-16s %5d addresses, %5d covered, %5d frames: names %d, files %d, lines %d, chains %d; parameters %d/%d, demangled %d/%d; padding LLVM gives the preceding public %d",
			b.name, a.addrs, a.covered, a.frames, a.nameOK, a.fileOK, a.lineOK, a.chainLenOK, a.paramsOK, a.paramsCompared, a.demangleOK, a.demangleCompared, a.llvmPublicOnly)
		total.add(a)
	}
	t.Logf("total: %d addresses, %d covered, %d frames: names %d, files %d, lines %d, chains %d/%d; parameters %d/%d, demangled %d/%d; padding LLVM gives the preceding public %d",
		total.addrs, total.covered, total.frames, total.nameOK, total.fileOK, total.lineOK, total.chainLenOK, total.covered, total.paramsOK, total.paramsCompared, total.demangleOK, total.demangleCompared, total.llvmPublicOnly)
	if n := len(total.mismatches); n > 0 {
		show := total.mismatches
		if len(show) > 40 {
			show = show[:40]
		}
		t.Errorf("%d disagreements with llvm-symbolizer, first ones:\n%s", n, strings.Join(show, "\n"))
	}
}

// TestInlineeNamesMatchProcedures checks the names of inlined functions
// (from LF_FUNC_ID and LF_MFUNC_ID records), whose parameter lists no
// reference tool prints, against the names of the same functions where a
// build has them out of line (S_GPROC32 and its type, which the agreement
// test checks against LLVM). Template functions are left out: their
// inlinee names carry no template arguments.
func TestInlineeNamesMatchProcedures(t *testing.T) {
	procNames := map[string]map[string]string{} // target -> base name -> full name
	type inl struct{ build, name string }
	var inlinees []inl
	for _, b := range agreementBuilds(t) {
		f, err := Open(readFile(t, b.pdb))
		if err != nil {
			t.Fatal(err)
		}
		key := b.name[:strings.Index(b.name, "/")] + "/" + b.tg.name
		if procNames[key] == nil {
			procNames[key] = map[string]string{}
		}
		fm := f.formatter()
		for _, p := range f.procs {
			if !strings.Contains(p.name, "<") {
				procNames[key][p.name] = fm.function(p.name, p.typ)
			}
		}
		for _, s := range f.sites {
			name, err := fm.id(s.inlinee)
			if err != nil {
				t.Errorf("%s: inlinee %#x: %v", b.name, s.inlinee, err)
				continue
			}
			inlinees = append(inlinees, inl{key, name})
		}
	}
	compared := 0
	for _, in := range inlinees {
		full, ok := procNames[in.build][baseName(in.name)]
		if !ok {
			continue
		}
		compared++
		if full != in.name {
			t.Errorf("%s: inlined %q, out of line %q", in.build, in.name, full)
		}
	}
	t.Logf("%d of %d inlined frames' names compared with out-of-line copies", compared, len(inlinees))
	if compared == 0 {
		t.Error("nothing compared")
	}
}
