package pdb

import (
	"path/filepath"
	"testing"
)

// TestTypeFormatterForms pins the forms symbolic's type formatter
// (pdb-addr2line's, default flags) gives parameters that LLVM's
// demangler writes differently, so that the agreement test cannot check
// them: an array behind a pointer is "int[4]*" (LLVM: "int (*)[4]"), its
// bound computed from the element size (a structure defined after a
// forward reference included), and C varargs are "<NoType>".
func TestTypeFormatterForms(t *testing.T) {
	dir := t.TempDir()
	src, err := filepath.Abs("testdata/arrays.cpp")
	if err != nil {
		t.Fatal(err)
	}
	_, p := build(t, dir, src, x64, "-O1")
	f, err := Open(readFile(t, p))
	if err != nil {
		t.Fatal(err)
	}
	const want = "arrs(int[4]*, Big[3]*, Fwd const*, int[2][3]&, void (**)(int, <NoType>))"
	for _, pr := range f.procs {
		if pr.name == "arrs" {
			frames, ok := f.Lookup(uint64(pr.start))
			if !ok || frames[len(frames)-1].Function != want {
				t.Fatalf("%v, want %q", frames, want)
			}
			return
		}
	}
	t.Fatal("no procedure arrs")
}
