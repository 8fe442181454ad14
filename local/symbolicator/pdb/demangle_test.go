package pdb

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDemangleMSVCSymbolic checks the names symbolic's own tests expect
// from msvc-demangler with the options Symbolicator demangles with
// (parameters, no return type).
func TestDemangleMSVCSymbolic(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"??3@YAXPEAX@Z", "operator delete(void*)"},
		{"?LoadV8Snapshot@V8Initializer@gin@@SAXXZ", "gin::V8Initializer::LoadV8Snapshot(void)"},
		{"??9@YA_NAEBVGURL@@0@Z", "operator!=(GURL const&, GURL const&)"},
		{"??_GAtomSandboxedRenderFrameObserver@?A0x77c58568@atom@@UEAAPEAXI@Z", "atom::`anonymous namespace'::AtomSandboxedRenderFrameObserver::`scalar deleting destructor'(unsigned int)"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := demangleMSVC(tc.in)
			if !ok || got != tc.want {
				t.Errorf("demangleMSVC(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
			}
		})
	}
}

// TestDemangleName covers what Lookup shows for public symbols of other
// kinds: MD5-hashed names and C names stay, Itanium names lose their
// return type.
func TestDemangleName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"??@8ba8d245c9eca390356129098dbe9f73@", "??@8ba8d245c9eca390356129098dbe9f73@"},
		{"main", "main"},
		{"_ZN2ns3fooEi", "ns::foo(int)"},
		{"_Z3maxIiET_S0_S0_", "max<int>(int, int)"},
		{"?broken@@YA", "?broken@@YA"},
	} {
		if got := demangleName(tc.in); got != tc.want {
			t.Errorf("demangleName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUndecorateWin follows symbolic's symcache, which strips the C
// decorations of Windows symbols.
func TestUndecorateWin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"_main", "main"},
		{"_f@8", "f"},
		{"@fast@12", "fast"},
		{"vec@@16", "vec"},
		{"plain", "plain"},
		{"?f@@YAXXZ", "?f@@YAXXZ"},
		{"_x@y", "x@y"},
		{"ns::_f", "ns::_f"},
		{"@bad@x", "@bad@x"},
	} {
		if got := undecorateWin(tc.in); got != tc.want {
			t.Errorf("undecorateWin(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// moreManglings are names testdata/manglings.cpp declares but does not
// make clang emit.
var moreManglings = []string{
	"?prot@Widget@inner@outer@@IEAAXONM_N@Z",
	"?priv@Widget@inner@outer@@AEAAX_J_KFG@Z",
	"?run@Nested@Widget@inner@outer@@QEAAXPEAY03HAEAY112H@Z",
	"??_GWidget@inner@outer@@UEAAPEAXI@Z",
	"?g@@YAXP8S@@EBAHXZ@Z",
	"?h@@YAXAEAY1BA@5H@Z",
	"??Hns@@YA?AUP@0@AEBU10@0@Z",
	"?cv@S@@QEDAHXZ",
	"?rr@S@@QEIAAHXZ",
}

// msvcDemanglerForms are names msvc-demangler (and so symbolic, and so
// Symbolicator) writes differently from LLVM, with what it writes; ""
// where it cannot demangle them (pointers to data members, auto template
// arguments), so that the raw name is shown.
var msvcDemanglerForms = map[string]string{
	// Nested names are written with the same options: no return type.
	"?x@?1??f@@YAHXZ@4HA": "`f(void)'::`2'::x",
	// A function type as template argument keeps its blank.
	"??$f@$$A6AHH@Z@@YAXXZ": "f<int (int)>(void)",
	"?callback@inner@outer@@YAHP6AHHPEAD@ZP6AXXZP8Widget@12@EAAHH@ZPEQ312@H@Z": "",
	"?callback@inner@outer@@YAHP6AHHPAD@ZP6AXXZP8Widget@12@AEHH@ZPQ312@H@Z":    "",
	"??$value@$MH04@inner@outer@@YAHXZ":                                        "",
	"??$value@$MD0GD@@inner@outer@@YAHXZ":                                      "",
}

// TestDemangleMSVCAgainstLLVM compares the demangling of every MSVC name
// clang gives testdata/manglings.cpp (for x64 and x86) with llvm-undname's,
// set to leave out what Symbolicator's names leave out. The two
// demanglers differ in form only where normName says.
func TestDemangleMSVCAgainstLLVM(t *testing.T) {
	tool(t, "clang++")
	tool(t, "llvm-nm")
	tool(t, "llvm-undname-19")
	dir := t.TempDir()
	src, err := filepath.Abs("testdata/manglings.cpp")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tg := range []target{x64, x86} {
		obj := filepath.Join(dir, tg.name+".obj")
		run(t, dir, nil, "clang++", "--target="+tg.triple, "-std=c++17", "-fno-exceptions", "-fno-rtti", "-c", src, "-o", obj)
		for _, l := range strings.Split(string(run(t, dir, nil, "llvm-nm", obj)), "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && strings.HasPrefix(f[len(f)-1], "?") && !strings.HasPrefix(f[len(f)-1], "??_C@") {
				names[f[len(f)-1]] = true
			}
		}
	}
	for _, n := range moreManglings {
		names[n] = true
	}
	for n, want := range msvcDemanglerForms {
		got, ok := demangleMSVC(n)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("demangleMSVC(%q) = %q, %v; msvc-demangler gives %q", n, got, ok, want)
		}
		delete(names, n)
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	out := run(t, dir, nil, "llvm-undname-19", append([]string{"--no-access-specifier", "--no-calling-convention", "--no-member-type", "--no-return-type", "--no-variable-type"}, list...)...)
	// llvm-undname prints each name, then its demangling, then a blank line.
	ref := map[string]string{}
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if names[lines[i]] {
			ref[lines[i]] = lines[i+1]
			i++
		}
	}
	agree := 0
	for _, n := range list {
		got, ok := demangleMSVC(n)
		want, known := ref[n]
		switch {
		case !known:
			t.Errorf("llvm-undname did not answer for %s", n)
		case !ok:
			t.Errorf("%s: not demangled; llvm-undname: %q", n, want)
		case normName(got) != normName(want):
			t.Errorf("%s:\n got %q\nwant %q", n, got, want)
		default:
			agree++
		}
	}
	t.Logf("%d of %d names demangled as llvm-undname does", agree, len(list))
	if len(list) < 40 {
		t.Errorf("only %d names to compare", len(list))
	}
}

// TestDemangleMSVCBackrefBlowup: back-references let each parameter type
// repeat the previous one many times, so that a short name stands for an
// exponentially long one. Demangling must give up at the output limit
// without walking or keying the whole expansion.
func TestDemangleMSVCBackrefBlowup(t *testing.T) {
	var b strings.Builder
	b.WriteString("?f@@YAXPEAUS@@")
	for i := 0; i < 9; i++ {
		b.WriteString("P6AX" + strings.Repeat(string(rune('0'+i)), 40) + "@Z")
	}
	b.WriteString("@Z")
	name := b.String()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, ok := demangleMSVC(name)
	runtime.ReadMemStats(&after)
	if ok {
		t.Errorf("demangled %d bytes into %d", len(name), len(s))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Errorf("demangling %d bytes allocated %d bytes", len(name), got)
	}
	// One level less still fits: the walk is not cut short.
	short := "?f@@YAXPEAUS@@P6AX000@Z@Z"
	if s, ok := demangleMSVC(short); !ok || s != "f(S*, void (*)(S*, S*, S*))" {
		t.Errorf("demangleMSVC(%q) = %q, %v", short, s, ok)
	}
}
