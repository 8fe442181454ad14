package pdb

import "testing"

func BenchmarkOpen(b *testing.B) {
	data := fixture(b, "x64")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Open(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	f, err := Open(fixture(b, "x64"))
	if err != nil {
		b.Fatal(err)
	}
	lo, hi := f.procs[0].start, f.procs[len(f.procs)-1].end
	a := lo
	for b.Loop() {
		f.Lookup(uint64(a))
		if a++; a >= hi {
			a = lo
		}
	}
}
