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
// service once to fill it).
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
		b.Run(pattern[:len(pattern)-2], func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := Open(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
