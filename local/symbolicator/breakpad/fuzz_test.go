package breakpad

import (
	"os"
	"path/filepath"
	"testing"
)

// anyMemory answers every read, so that evaluation goes as far as the
// rules allow.
type anyMemory struct{}

func (anyMemory) Read(addr uint64, size int) (uint64, bool) {
	v := addr*0x9e3779b97f4a7c15 + 8
	if size == 4 {
		v &= 0xffffffff
	}
	return v, addr != 0
}

func anyReg(name string) (uint64, bool) {
	if name == "" {
		return 0, false
	}
	return uint64(len(name))*0x1000 + uint64(name[0]), true
}

// FuzzParse parses arbitrary input and, when it parses, looks up symbols,
// CFI and STACK WIN records at the addresses the file names and evaluates
// them. Nothing may panic, and the lookups must agree with each other.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.sym"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(header + "FUNC 0 ffffffffffffffff 0 all\n0 ffffffffffffffff 1 0\nINLINE 0 1 0 0 fffffffffffffff0 20\nINLINE 4294967295 1 0 0 0 10\nPUBLIC ffffffffffffffff 0 top\n"))
	f.Add([]byte(header + "STACK CFI INIT ffffffffffffff00 100 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI ffffffffffffffff .cfa: $rsp 18446744073709551615 +\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		var addrs []uint64
		for _, fn := range file.funcs {
			addrs = append(addrs, fn.addr, fn.addr+fn.size/2, fn.addr+fn.size-1)
		}
		for _, p := range file.publics {
			addrs = append(addrs, p.addr, p.addr+1)
		}
		for _, c := range file.cfi {
			addrs = append(addrs, c.addr, c.addr+c.size-1)
		}
		for _, d := range file.deltas {
			addrs = append(addrs, d.addr)
		}
		for _, w := range file.winFD {
			addrs = append(addrs, w.Start)
		}
		for _, w := range file.winFPO {
			addrs = append(addrs, w.Start)
		}
		addrs = append(addrs, 0, ^uint64(0))
		if len(addrs) > 24 {
			addrs = addrs[:24]
		}
		for _, a := range addrs {
			frames, ok := file.Lookup(a)
			if ok != file.HasFunction(a) {
				t.Fatalf("Lookup(%#x) found %v, HasFunction %v", a, ok, !ok)
			}
			if ok && (len(frames) == 0 || frames[len(frames)-1].Inline) {
				t.Fatalf("Lookup(%#x) = %+v: no outermost frame", a, frames)
			}
			if r, ok := file.CFI(a); ok {
				if a < r.Start || a-r.Start >= r.Size {
					t.Fatalf("CFI(%#x) returned the record at %#x+%#x", a, r.Start, r.Size)
				}
				if out, err := r.Unwind(anyReg, anyMemory{}); err == nil {
					if _, ok := out[".ra"]; !ok {
						t.Fatalf("CFI(%#x).Unwind without .ra: %v", a, out)
					}
				}
			}
			if w, ok := file.Win(a); ok {
				if out, err := w.Unwind(anyReg, anyMemory{}); err == nil && out[".cfa"] != out["esp"] {
					t.Fatalf("Win(%#x).Unwind: .cfa %#x, esp %#x", a, out[".cfa"], out["esp"])
				}
			}
		}
	})
}
