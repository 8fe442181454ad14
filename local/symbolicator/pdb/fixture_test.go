package pdb

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateFixtures = flag.Bool("update-fixtures", false, "rebuild testdata/fixture-*.pdb from testdata/fixture.cpp")

// fixture returns a committed PDB built from testdata/fixture.cpp and
// repacked into 512-byte blocks, so that bad-input and fuzz tests run
// without a compiler.
func fixture(t testing.TB, tg string) []byte {
	t.Helper()
	return readFile(t, filepath.Join("testdata", "fixture-"+tg+".pdb"))
}

// TestFixtures rebuilds the fixtures when asked, and checks that each
// opens and answers for its own public symbols.
func TestFixtures(t *testing.T) {
	for _, tg := range []target{x64, x86} {
		t.Run(tg.name, func(t *testing.T) {
			path := filepath.Join("testdata", "fixture-"+tg.name+".pdb")
			if *updateFixtures {
				dir := t.TempDir()
				src, err := filepath.Abs("testdata/fixture.cpp")
				if err != nil {
					t.Fatal(err)
				}
				_, built := build(t, dir, src, tg, "-O2")
				small := writeMSF(readStreams(t, readFile(t, built)), 512)
				if err := os.WriteFile(path, small, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Open(readFile(t, path))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.publics) == 0 || len(f.procs) == 0 {
				t.Fatalf("%d publics, %d procedures", len(f.publics), len(f.procs))
			}
			for _, p := range f.publics {
				frames, ok := f.Lookup(uint64(p.rva))
				if !ok || frames[len(frames)-1].SymAddr != uint64(p.rva) {
					t.Errorf("public %s at %#x: %v, %v", p.name, p.rva, frames, ok)
				}
			}
		})
	}
}
