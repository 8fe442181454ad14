package objfile

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOpenCached indexes the large binaries symflow-bench compiles
// and keeps in ~/.cache/symflow-bench (SQLite's amalgamation, a
// template-heavy C++ program): the index build a cold request pays. The
// binaries are skipped when that cache is empty (run symflow-bench -only
// service once to fill it). Writing and loading the persisted index of
// each are measured too.
func BenchmarkOpenCached(b *testing.B) {
	home, err := os.UserHomeDir()
	if err != nil {
		b.Skip("no home directory")
	}
	for _, pattern := range []string{"sqlite-gcc-O2-*", "sqlite-clang-O3-*", "cxx-g++-O2-*", "cxx-clang++-O2-*"} {
		m, _ := filepath.Glob(filepath.Join(home, ".cache", "symflow-bench", pattern))
		if len(m) == 0 {
			continue
		}
		data, err := os.ReadFile(m[0])
		if err != nil {
			b.Fatal(err)
		}
		name := pattern[:len(pattern)-2]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := Open(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		f, err := Open(data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/marshal", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := f.MarshalIndex("bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		idx, err := f.MarshalIndex("bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/load", func(b *testing.B) {
			b.SetBytes(int64(len(idx)))
			for i := 0; i < b.N; i++ {
				if _, err := LoadIndex(idx, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
