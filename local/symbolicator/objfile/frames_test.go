package objfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFrameFields checks the fields the agreement test does not compare:
// raw symbol, language and the function entry on the outermost frame.
func TestFrameFields(t *testing.T) {
	dir := t.TempDir()
	cBin := built(t, "gcc", "c", "-O2", "-g")
	cppBin := built(t, "g++", "cpp", "-O2", "-g")
	goBin := buildGo(t, filepath.Join(dir, "go"))
	tests := []struct {
		bin, sym       string // symbol (as nm prints it) to look up at +1
		function, raw  string
		lang           string
		wantFileSuffix string
	}{
		{cBin, "sum_table", "sum_table", "sum_table", "c", "c/table.c"},
		{cBin, "main", "main", "main", "c", "c/main.c"},
		// GCC splits these into a hot part and a .cold part placed below
		// it; symbolic names a function after the symbol at its lowest
		// address, so the raw symbol is the .cold one's.
		{cppBin, "_ZN3app3runEi", "app::run(int)", "_ZN3app3runEi.cold", "cpp", "cpp/main.cpp"},
		{cppBin, "_ZN3geo10total_areaERKSt6vectorIPNS_5ShapeESaIS2_EE", "geo::total_area(std::vector<geo::Shape*, std::allocator<geo::Shape*> > const&)",
			"_ZN3geo10total_areaERKSt6vectorIPNS_5ShapeESaIS2_EE.cold", "cpp", "cpp/shapes.cpp"},
		{goBin, "main.top", "main.top", "main.top", "go", "goprog/main.go"},
	}
	for _, tt := range tests {
		t.Run(tt.sym, func(t *testing.T) {
			f := openPath(t, tt.bin)
			addr := symbolAddr(t, tt.bin, tt.sym)
			frames, ok := f.Lookup(addr)
			if !ok {
				t.Fatalf("Lookup(%#x) found nothing", addr)
			}
			out := frames[len(frames)-1]
			if out.Function != tt.function || out.Symbol != tt.raw || out.Lang != tt.lang || out.SymAddr != addr {
				t.Errorf("outermost frame = %+v, want function %q symbol %q lang %q sym_addr %#x", out, tt.function, tt.raw, tt.lang, addr)
			}
			for _, fr := range frames[:len(frames)-1] {
				if fr.SymAddr != 0 {
					t.Errorf("inlined frame %+v has SymAddr; only the outermost frame carries it", fr)
				}
			}
			if len(frames) == 1 && (filepath.Base(out.AbsPath) != filepath.Base(tt.wantFileSuffix) || !filepath.IsAbs(out.AbsPath) || out.Line == 0) {
				t.Errorf("frame at entry: %s:%d, want an absolute path ending in %s with a line", out.AbsPath, out.Line, tt.wantFileSuffix)
			}
		})
	}
}

// TestStrippedAll opens a binary stripped of all symbols and debug info:
// identity still works and lookups find nothing but the dynamic symbols.
func TestStrippedAll(t *testing.T) {
	dir := t.TempDir()
	out := built(t, "gcc", "c", "-O2", "-g")
	run(t, dir, "strip", "--strip-all", "-o", "out.stripped", out)
	data, err := os.ReadFile(filepath.Join(dir, "out.stripped"))
	if err != nil {
		t.Fatal(err)
	}
	full := openPath(t, out)
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.CodeID != full.CodeID || f.DebugID != full.DebugID || f.FileType != "executable" {
		t.Errorf("stripped identity %+v, want the ids of %+v as an executable", f.Identity, full.Identity)
	}
	if f.Features.HasDebugInfo || f.Features.HasSymbols || !f.Features.HasUnwindInfo {
		t.Errorf("stripped features %+v, want only unwind info", f.Features)
	}
	main := symbolAddr(t, out, "main")
	if frames, ok := f.Lookup(main); ok {
		t.Errorf("Lookup(main) on a fully stripped binary = %+v, want nothing", frames)
	}
	// Merging the stripped executable with the unstripped file restores
	// lookups and keeps the executable's identity.
	m := Merge(f, full)
	if frames, ok := m.Lookup(main); !ok || frames[len(frames)-1].Function != "main" {
		t.Errorf("merged Lookup(main) = %+v, %v", frames, ok)
	}
	if m.FileType != "both" || !m.Features.HasDebugInfo || !m.Features.HasSymbols {
		t.Errorf("merged identity %+v features %+v", m.Identity, m.Features)
	}
}

// TestConcurrentLookup runs lookups from several goroutines on one File
// (run with -race): the lazily demangled symbol names are the only shared
// state written after Open.
func TestConcurrentLookup(t *testing.T) {
	bin := built(t, "g++", "cpp", "-O2", "-g")
	f := openPath(t, bin)
	addrs := sampleAddrs(t, bin, 2000)
	want := f.LookupBatch(addrs)
	fresh := openPath(t, bin) // demangles from scratch while goroutines race
	done := make(chan []string)
	for g := 0; g < 4; g++ {
		go func(g int) {
			var bad []string
			for i := range addrs {
				k := (i + g*len(addrs)/4) % len(addrs)
				got, _ := fresh.Lookup(addrs[k])
				if fmtFrames(got) != fmtFrames(want[k]) {
					bad = append(bad, fmtFrames(got))
				}
			}
			done <- bad
		}(g)
	}
	for g := 0; g < 4; g++ {
		if bad := <-done; len(bad) > 0 {
			t.Errorf("concurrent lookups differ from sequential ones: %d, first %s", len(bad), bad[0])
		}
	}
	var nilFile *File
	if frames, ok := nilFile.Lookup(1); ok || frames != nil {
		t.Errorf("nil File Lookup = %v, %v", frames, ok)
	}
}
