package objfile

import (
	"debug/elf"
	"debug/macho"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// agreementCase builds one binary into dir. It returns the path the
// reference tools symbolize, the path whose symbol table lists the
// addresses to sample, and our File for it.
type agreementCase struct {
	name  string
	build func(t *testing.T, dir string) (toolObj, sampleObj string, f *File)
}

const sampleLimit = 6000

// TestAgreement builds C, C++ and Go programs with gcc, clang and go in
// several DWARF flavours and checks that Lookup agrees with llvm-symbolizer
// on every sampled address: function names, files, lines and the whole
// inline chain. Where addr2line disagrees with llvm-symbolizer the address is
// logged; llvm-symbolizer is the reference.
func TestAgreement(t *testing.T) {
	tool(t, "llvm-symbolizer")
	tool(t, "addr2line")
	for _, c := range agreementCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			toolObj, sampleObj, f := c.build(t, dir)
			addrs := sampleAddrs(t, sampleObj, sampleLimit)
			checkAgreement(t, f, toolObj, addrs)
		})
	}
}

func agreementCases(t *testing.T) []agreementCase {
	cc := func(compiler, src string, flags ...string) func(t *testing.T, dir string) (string, string, *File) {
		return func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, compiler, src, flags...)
			return out, out, openPath(t, out)
		}
	}
	cases := []agreementCase{
		{"gcc-c-dwarf5", cc("gcc", "c", "-O2", "-g", "-gdwarf-5")},
		{"gcc-c-dwarf4", cc("gcc", "c", "-O2", "-g", "-gdwarf-4")},
		{"g++-dwarf5", cc("g++", "cpp", "-O2", "-g", "-gdwarf-5")},
		{"g++-dwarf4", cc("g++", "cpp", "-O2", "-g", "-gdwarf-4")},
		{"gcc-c-O0", cc("gcc", "c", "-O0", "-g")},
		{"g++-shared-library", cc("g++", "cpp", "-O2", "-g", "-shared", "-fPIC")},
		// Only .dynsym is left: names come from the dynamic symbols.
		{"g++-shared-library-stripped", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "g++", "cpp", "-O2", "-g", "-shared", "-fPIC")
			stripped := filepath.Join(dir, "lib.stripped")
			run(t, dir, "strip", "--strip-all", "-o", stripped, out)
			return stripped, out, openPath(t, stripped)
		}},
		{"gcc-c-gz-zlib", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "gcc", "c", "-O2", "-g", "-gz=zlib")
			requireCompressed(t, out, ".debug_info", elf.COMPRESS_ZLIB)
			return out, out, openPath(t, out)
		}},
		{"g++-gz-zlib", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "g++", "cpp", "-O2", "-g", "-gz=zlib")
			requireCompressed(t, out, ".debug_info", elf.COMPRESS_ZLIB)
			return out, out, openPath(t, out)
		}},
		{"gcc-c-zdebug", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "gcc", "c", "-O2", "-g", "-gdwarf-4")
			z := filepath.Join(dir, "out.z")
			run(t, dir, "objcopy", "--compress-debug-sections=zlib-gnu", out, z)
			ef, err := elf.Open(z)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			if ef.Section(".zdebug_info") == nil {
				t.Fatalf("objcopy --compress-debug-sections=zlib-gnu made no .zdebug_info")
			}
			return z, out, openPath(t, z)
		}},
		{"g++-split-debug", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "g++", "cpp", "-O2", "-g")
			run(t, dir, "objcopy", "--only-keep-debug", out, "out.debug")
			run(t, dir, "objcopy", "--strip-debug", "--add-gnu-debuglink=out.debug", out, "out.stripped")
			stripped, debug := openPath(t, filepath.Join(dir, "out.stripped")), openPath(t, filepath.Join(dir, "out.debug"))
			if stripped.Features.HasDebugInfo || stripped.FileType != "executable" {
				t.Errorf("stripped: features %+v file type %q, want no debug info, executable", stripped.Features, stripped.FileType)
			}
			if !debug.Features.HasDebugInfo || debug.FileType != "debuginfo" {
				t.Errorf("debug companion: features %+v file type %q, want debug info, debuginfo", debug.Features, debug.FileType)
			}
			if stripped.CodeID == "" || stripped.CodeID != debug.CodeID || stripped.DebugID != debug.DebugID {
				t.Errorf("ids differ: stripped %s/%s debug %s/%s", stripped.CodeID, stripped.DebugID, debug.CodeID, debug.DebugID)
			}
			// The debug file alone must answer as the merged pair does.
			t.Run("debug-alone", func(t *testing.T) {
				checkAgreement(t, debug, filepath.Join(dir, "out.stripped"), sampleAddrs(t, out, 2000))
			})
			return filepath.Join(dir, "out.stripped"), out, Merge(stripped, debug)
		}},
		{"clang-c", cc("clang", "c", "-O2", "-g")},
		{"clang++", cc("clang++", "cpp", "-O2", "-g")},
		{"clang-c-dwarf4", cc("clang", "c", "-O2", "-gdwarf-4")},
		// No linkage names in DWARF: the outer frame is named from the
		// symbol table, inlined frames by their short names.
		{"clang++-line-tables-only", cc("clang++", "cpp", "-O2", "-gline-tables-only")},
		// Discarded sections leave line sequences and functions at address
		// 0 that must not shadow real code.
		{"g++-gc-sections", cc("g++", "cpp", "-O2", "-g", "-ffunction-sections", "-Wl,--gc-sections")},
		{"go", goBuild()},
		{"go-nocompress", goBuild("-ldflags=-compressdwarf=false")},
	}
	// Debian's gcc 12 has no -gz=zstd, but objcopy from binutils 2.40 can
	// recompress with zstd; probe both.
	if probe(t, "gcc", "-gz=zstd") {
		cases = append(cases, agreementCase{"gcc-c-gz-zstd", func(t *testing.T, dir string) (string, string, *File) {
			out := compile(t, dir, "gcc", "c", "-O2", "-g", "-gz=zstd")
			requireCompressed(t, out, ".debug_info", elf.COMPRESS_ZSTD)
			return out, out, openPath(t, out)
		}})
	}
	if probe(t, "objcopy", "--compress-debug-sections=zstd") {
		cases = append(cases, agreementCase{"g++-objcopy-zstd", func(t *testing.T, dir string) (string, string, *File) {
			out := built(t, "g++", "cpp", "-O2", "-g")
			zst := filepath.Join(dir, "out.zst")
			run(t, dir, "objcopy", "--compress-debug-sections=zstd", out, zst)
			requireCompressed(t, zst, ".debug_info", elf.COMPRESS_ZSTD)
			// llvm-symbolizer 14 cannot read zstd sections: the tools read
			// the uncompressed original, which has the same code and DWARF.
			return out, out, openPath(t, zst)
		}})
	} else {
		t.Log("objcopy here cannot write zstd-compressed debug sections; zstd is not covered")
	}
	return cases
}

// compile copies testdata/src into dir and compiles every source file there
// with relative paths, so DWARF 5 include directories are relative to
// DW_AT_comp_dir.
func compile(t testing.TB, dir, compiler, src string, flags ...string) string {
	t.Helper()
	tool(t, compiler)
	copyTestdata(t, dir, src)
	files, _ := filepath.Glob(filepath.Join(dir, src, "*.c*"))
	args := append([]string{}, flags...)
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		args = append(args, rel)
	}
	args = append(args, "-I", src, "-o", "out")
	run(t, dir, compiler, args...)
	return filepath.Join(dir, "out")
}

func goBuild(flags ...string) func(t *testing.T, dir string) (string, string, *File) {
	return func(t *testing.T, dir string) (string, string, *File) {
		out := buildGo(t, dir, flags...)
		return out, out, openPath(t, out)
	}
}

// buildGo builds testdata/goprog into dir with the go command.
func buildGo(t testing.TB, dir string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, "goprog")
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "main.go")
	cmd := exec.Command(tool(t, "go"), args...)
	cmd.Dir = filepath.Join("testdata", "goprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func openPath(t testing.TB, path string) *File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(data)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return f
}

func requireCompressed(t *testing.T, path, section string, ct elf.CompressionType) {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	s := ef.Section(section)
	if s == nil || s.Flags&elf.SHF_COMPRESSED == 0 {
		t.Fatalf("%s: %s is not SHF_COMPRESSED", path, section)
	}
	// debug/elf exposes the compression type only through the header.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := elf.CompressionType(ef.ByteOrder.Uint32(raw[s.Offset:]))
	if got != ct {
		t.Fatalf("%s: %s compressed with %v, want %v", path, section, got, ct)
	}
}

// probe reports whether a tool accepts the given zstd flag: gcc compiling
// and linking a trivial program, or objcopy copying it.
func probe(t *testing.T, name string, flag string) bool {
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte("int main(void){return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "p")
	if name == "gcc" {
		return exec.Command("gcc", flag, "-g", "-o", bin, src).Run() == nil
	}
	if err := exec.Command("gcc", "-g", "-o", bin, src).Run(); err != nil {
		t.Fatalf("gcc: %v", err)
	}
	return exec.Command(name, flag, bin, bin+".out").Run() == nil
}

var (
	toolClone = regexp.MustCompile(`( \[clone [^\]]*\]| \(\.[a-z_]+(\.[0-9]+)*\))+$`)
)

// normFunction removes what the tools print beyond our Function: clone
// suffixes and Go's ABI wrapper suffix, and spacing that differs between
// demanglers (GNU and LLVM 14 print "> >", later LLVM ">>").
func normFunction(s string) string {
	s = toolClone.ReplaceAllString(s, "")
	s = cloneSuffix.ReplaceAllString(s, "")
	// Demanglers differ in whether they space ">>" and "operator< <T>".
	for strings.Contains(s, "> >") {
		s = strings.ReplaceAll(s, "> >", ">>")
	}
	s = strings.ReplaceAll(s, "< <", "<<")
	return strings.TrimSuffix(s, ".abi0")
}

// sameFunction compares our name with a tool's: equal after normalising,
// or equal but for the return type the tools print for template functions.
func sameFunction(ours, theirs string) bool {
	ours, theirs = normFunction(ours), normFunction(theirs)
	return ours == theirs || strings.HasSuffix(theirs, " "+ours)
}

// knownDemangleBugs lists symbols that github.com/ianlancetaylor/demangle
// demangles differently from c++filt and llvm-cxxfilt: the library counts
// substitutions wrongly after clang's "sr3std<name>I...E" unresolved names
// (it prints "(double, ...)" where both tools print "(double*, ...)").
// Frames with these symbols are still checked for file and line.
var knownDemangleBugs = map[string]bool{
	"_ZSt14__relocate_a_1IddENSt9enable_ifIXsr3std24__is_bitwise_relocatableIT_EE5valueEPS1_E4typeES2_S2_S2_RSaIT0_E": true,
}

// symbolicAliases are function symbols that share their address with the
// function llvm-symbolizer names and come first in the symbol table, so
// symbolic (and Lookup) names the function after them: Go's linker puts
// runtime.text at the first function of .text.
var symbolicAliases = map[string]bool{"runtime.text": true}

// chainDiff describes the first difference between our frames and a
// tool's, or returns "" when they agree. A name the tool could not demangle
// (it prints the mangled name) is compared with our raw Symbol.
func chainDiff(ours []Frame, ref []refFrame) string {
	if len(ours) != len(ref) {
		return fmt.Sprintf("%d frames, llvm-symbolizer %d: ours %s, llvm %v", len(ours), len(ref), fmtFrames(ours), ref)
	}
	for i := range ours {
		o, r := ours[i], ref[i]
		nameOK := sameFunction(o.Function, r.Function) || (strings.HasPrefix(r.Function, "_Z") && o.Symbol == r.Function) ||
			knownDemangleBugs[o.Symbol] || i == len(ours)-1 && symbolicAliases[o.Symbol]
		if !nameOK || o.AbsPath != r.File || o.Line != r.Line {
			return fmt.Sprintf("frame %d: ours %s @ %s:%d, llvm %s", i, o.Function, o.AbsPath, o.Line, r)
		}
	}
	return ""
}

func sameRefChain(a, b []refFrame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFunction(a[i].Function, b[i].Function) || a[i].File != b[i].File || a[i].Line != b[i].Line {
			return false
		}
	}
	return true
}

func checkAgreement(t *testing.T, f *File, toolObj string, addrs []uint64) {
	t.Helper()
	checkAgreementWith(t, f, toolObj, addrs, true)
}

// checkAgreementWith compares with llvm-symbolizer and, when withAddr2line
// is set, reports where addr2line disagrees with it.
func checkAgreementWith(t *testing.T, f *File, toolObj string, addrs []uint64, withAddr2line bool) {
	t.Helper()
	llvm := llvmSymbolize(t, toolObj, addrs)
	a2l := llvm
	if withAddr2line {
		a2l = addr2line(t, toolObj, addrs)
	}
	bad := map[string][]uint64{}
	var badOrder []string
	nbad := 0
	var a2lDiff []string
	inlined := 0
	for i, a := range addrs {
		ours, ok := f.Lookup(a)
		if !ok {
			ours = []Frame{{Function: "??"}}
		}
		if len(ours) > 1 {
			inlined++
		}
		if d := chainDiff(ours, llvm[i]); d != "" {
			if bad[d] == nil {
				badOrder = append(badOrder, d)
			}
			bad[d] = append(bad[d], a)
			nbad++
		}
		if !sameRefChain(a2l[i], llvm[i]) {
			a2lDiff = append(a2lDiff, fmt.Sprintf("%#x:\n  addr2line: %v\n  llvm:      %v", a, a2l[i], llvm[i]))
		}
	}
	t.Logf("%d addresses (%d in inlined code); %d differ from llvm-symbolizer", len(addrs), inlined, nbad)
	if withAddr2line {
		t.Logf("addr2line disagrees with llvm-symbolizer on %d of %d addresses", len(a2lDiff), len(addrs))
	}
	for i, d := range a2lDiff {
		if i == 3 {
			t.Logf("... and %d more addr2line disagreements", len(a2lDiff)-3)
			break
		}
		t.Logf("addr2line/llvm-symbolizer disagree at %s", d)
	}
	if nbad > 0 {
		var b strings.Builder
		for i, d := range badOrder {
			if i == 10 {
				fmt.Fprintf(&b, "... and %d more kinds\n", len(badOrder)-10)
				break
			}
			fmt.Fprintf(&b, "%d addresses from %#x: %s\n", len(bad[d]), bad[d][0], d)
		}
		t.Errorf("%d of %d addresses differ from llvm-symbolizer:\n%s", nbad, len(addrs), b.String())
	}
}

func fmtFrames(fs []Frame) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s @ %s:%d", f.Function, f.AbsPath, f.Line))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestAgreementMachOObject checks DWARF in Mach-O files: clang writes a
// macOS object (no linker for macOS here), which llvm-symbolizer reads too.
// Binutils' addr2line does not read Mach-O.
func TestAgreementMachOObject(t *testing.T) {
	for _, dw := range []string{"-gdwarf-4", "-gdwarf-5"} {
		t.Run(dw, func(t *testing.T) {
			dir := t.TempDir()
			copyTestdata(t, dir, "c")
			run(t, dir, tool(t, "clang"), "-target", "x86_64-apple-macos11", "-O2", "-g", dw, "-c", "-I", "c", "c/table.c", "-o", "table.o")
			obj := filepath.Join(dir, "table.o")
			mf, err := macho.Open(obj)
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			text := mf.Section("__text")
			if text == nil || mf.Section("__debug_info") == nil {
				t.Fatal("clang wrote no __text or __debug_info")
			}
			var addrs []uint64
			for a := text.Addr; a < text.Addr+text.Size; a++ {
				addrs = append(addrs, a)
			}
			f := openPath(t, obj)
			if f.Kind != "macho" || !f.Features.HasDebugInfo || f.FileType != "both" {
				t.Errorf("identity %+v features %+v, want macho with debug info", f.Identity, f.Features)
			}
			checkAgreementWith(t, f, obj, addrs, false)
		})
	}
}

// TestAgreementDWZ checks debug files processed by dwz -m, as Debian ships
// them: DIEs and strings shared by several files move to a supplementary
// file that the others reference (.gnu_debugaltlink, DW_FORM_GNU_ref_alt,
// DW_FORM_GNU_strp_alt). llvm-symbolizer does not follow these, so it reads
// the files as they were before dwz.
func TestAgreementDWZ(t *testing.T) {
	dwz := tool(t, "dwz")
	dir := t.TempDir()
	orig := built(t, "gcc", "c", "-O2", "-g")
	other := built(t, "gcc", "c", "-O1", "-g")
	for name, src := range map[string]string{"a": orig, "b": other} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	common := filepath.Join(dir, "common.debug")
	run(t, dir, dwz, "-m", common, "-M", common, "a", "b")

	data, err := os.ReadFile(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := os.ReadFile(common)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	supID, err := Identify(sup)
	if err != nil {
		t.Fatal(err)
	}
	if alone.AltLink == nil || alone.AltLink.Path != common || alone.AltLink.BuildID != supID.CodeID {
		t.Fatalf("AltLink = %+v, want %s with build-id %s", alone.AltLink, common, supID.CodeID)
	}
	addrs := sampleAddrs(t, orig, sampleLimit)
	unnamed := 0
	for _, a := range addrs {
		frames, _ := alone.Lookup(a)
		for _, fr := range frames {
			if fr.Function == "" {
				unnamed++
			}
		}
	}
	if unnamed == 0 {
		t.Errorf("without the supplementary file every frame has a name: dwz moved nothing this test can see")
	}

	f, err := OpenWithSupplement(data, sup)
	if err != nil {
		t.Fatal(err)
	}
	checkAgreementWith(t, f, orig, addrs, false)

	wrong, err := os.ReadFile(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWithSupplement(data, wrong); err == nil || !strings.Contains(err.Error(), "supplementary file has build-id") {
		t.Errorf("OpenWithSupplement with the wrong file: err = %v, want a build-id mismatch", err)
	}
	if _, err := OpenWithSupplement(sup, sup); err == nil || !strings.Contains(err.Error(), "no .gnu_debugaltlink") {
		t.Errorf("OpenWithSupplement of a file without link: err = %v, want no .gnu_debugaltlink", err)
	}
}
