package pe

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/seeds from the generated images")

// seedImages are the generated images kept as fuzz seeds.
var seedImages = []string{"allops", "frames-x64-O2", "frames-x86-O2"}

// TestSeeds keeps testdata/seeds in step with the generated images: with
// -update it rewrites them, otherwise it checks that each still opens.
func TestSeeds(t *testing.T) {
	for _, name := range seedImages {
		path := filepath.Join("testdata", "seeds", name+".img")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, imageNamed(t, name).data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run TestSeeds -update writes it)", err)
		}
		if _, err := Open(data); err != nil {
			t.Errorf("seed %s: %v", path, err)
		}
	}
}

// anyMemory answers every read, so that unwinding goes as far as the
// unwind codes take it.
type anyMemory struct{}

func (anyMemory) Read(addr uint64, size int) (uint64, bool) {
	return addr*0x9e3779b97f4a7c15 + 8, addr != 0
}

// FuzzOpen opens arbitrary input and, when it opens, reads everything the
// service would: identity, exports and symbols, and the unwind rules of
// every function (at its start, middle and end), unwinding each in every
// mode. Nothing may panic, and the readings must agree with each other.
func FuzzOpen(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "seeds", "*.img"))
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recoverPanics = false
		defer func() { recoverPanics = true }()
		file, err := Open(data)
		id, idErr := Identify(data)
		if (err == nil) != (idErr == nil) {
			t.Fatalf("Open: %v, Identify: %v", err, idErr)
		}
		if err != nil {
			return
		}
		if id != file.Identity {
			t.Fatalf("Identify %+v, Open %+v", id, file.Identity)
		}
		for _, e := range file.Exports() {
			if s, ok := file.Symbol(e.RVA); ok && s.RVA > e.RVA {
				t.Fatalf("Symbol(%#x) = %+v above the address", e.RVA, s)
			}
		}
		ctx := &Context{RIP: file.ImageBase}
		for i := range ctx.GPR {
			ctx.GPR[i] = uint64(i+1) * 0x1000
		}
		get := func(name string) (uint64, bool) { return uint64(len(name)) * 0x100, true }
		fns := file.RuntimeFunctions()
		if len(fns) > 16 {
			fns = fns[:16]
		}
		for _, rf := range fns {
			file.UnwindInfo(rf)
			for _, rva := range []uint32{rf.Begin, rf.Begin + (rf.End-rf.Begin)/2, rf.End - 1} {
				r, ok := file.Rules(rva)
				if !ok {
					continue
				}
				if !r.Function.Contains(rva) && r.Function.UnwindData&1 == 0 && r.Err() == nil {
					// An indirect entry may resolve elsewhere; a direct one covers rva.
					if found, _ := file.FunctionAt(rva); found.UnwindData&1 == 0 {
						t.Fatalf("Rules(%#x) for %+v", rva, r.Function)
					}
				}
				r.VirtualUnwind(ctx, anyMemory{})
				r.BodyUnwind(ctx, anyMemory{})
				r.Unwind(get, anyMemory{})
				r.HasRule("rbx")
				c := *ctx
				c.RIP = file.ImageBase + uint64(rva)
				file.VirtualUnwind(file.ImageBase, &c, anyMemory{})
			}
		}
	})
}
