package objfile

import (
	"os"
	"testing"
	"time"
	"debug/elf"
)

func TestTmpOpen(t *testing.T) {
	for _, p := range []string{"/tmp/b17/libsqlite3-gcc-O2.so", "/tmp/b17/libsqlite3-clang-O3.so"} {
		data, _ := os.ReadFile(p)
		ef, _ := elf.Open(p)
		syms, _ := ef.Symbols()
		var addrs []uint64
		for _, s := range syms { if s.Size > 0 && elf.ST_TYPE(s.Info)==elf.STT_FUNC { for a := s.Value; a < s.Value+s.Size; a += 97 { addrs = append(addrs, a) } } }
		for i := 0; i < 3; i++ {
			start := time.Now()
			f, err := Open(data)
			if err != nil { t.Fatal(err) }
			open := time.Since(start)
			n := 0
			for _, a := range addrs { fr, _ := f.Lookup(a); n += len(fr) }
			t.Logf("%s: open %v, %d lookups %d frames total %v", p, open, len(addrs), n, time.Since(start))
		}
	}
}
