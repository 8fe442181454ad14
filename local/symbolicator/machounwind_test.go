package symbolicator

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/compactunwind"
)

// stackBytes is stack memory for Unwind: little-endian words from base.
type stackBytes struct {
	base uint64
	data []byte
}

func (s stackBytes) Read(addr uint64, size int) (uint64, bool) {
	if addr < s.base || addr-s.base+uint64(size) > uint64(len(s.data)) {
		return 0, false
	}
	b := s.data[addr-s.base:]
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(b)), true
	}
	return binary.LittleEndian.Uint64(b), true
}

// TestMachOCompactUnwind: a linked Mach-O's functions are unwound by their
// compact unwind encoding (__unwind_info, which the linker makes from the
// objects' __compact_unwind), as Symbolicator's converted CFI has them; a
// frame-based arm64 function's caller is found through its frame record.
func TestMachOCompactUnwind(t *testing.T) {
	requireTool(t, "clang")
	ld, err := exec.LookPath("ld64.lld")
	if err != nil {
		ld = requireTool(t, "ld64.lld-14")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "f.c")
	os.WriteFile(src, []byte("int g(int);\n__attribute__((noinline)) int f(int x) { return g(x) + 1; }\n"), 0o644)
	obj, lib := filepath.Join(dir, "f.o"), filepath.Join(dir, "libf.dylib")
	run(t, "clang", "-target", "arm64-apple-macos11", "-O0", "-c", src, "-o", obj)
	run(t, ld, "-arch", "arm64", "-platform_version", "macos", "11.0", "11.0", "-dylib", "-undefined", "dynamic_lookup", "-o", lib, obj)
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	cfi := machoCFI(data, "arm64")
	if cfi == nil {
		t.Fatal("no unwind information read from the dylib")
	}
	// f's address: the start of the only compact unwind entry with a
	// frame encoding.
	var fn uint64
	cfi.(machoUnwind).compact.Entries(func(start uint64, encoding uint32, ok bool) bool {
		if ok && encoding != 0 {
			fn = start
			return false
		}
		return true
	})
	if fn == 0 {
		t.Fatal("no compact unwind entry")
	}
	r := cfi.rules(fn + 8)
	e, ok := r.(*compactunwind.Entry)
	if !ok || e.Mode() != "frame" {
		t.Fatalf("rules at f+8 = %T %v, want a compact frame entry", r, r)
	}
	// A frame record at fp: saved fp, then the return address.
	const fp, sp = 0x7000, 0x6ff0
	mem := stackBytes{base: 0x6000, data: make([]byte, 0x2000)}
	binary.LittleEndian.PutUint64(mem.data[fp-0x6000:], 0x7100)
	binary.LittleEndian.PutUint64(mem.data[fp+8-0x6000:], 0x100003f00)
	regs := map[string]uint64{"fp": fp, "sp": sp, "pc": fn + 8, "lr": 0x1234}
	out, err := r.Unwind(func(n string) (uint64, bool) { v, ok := regs[n]; return v, ok }, mem)
	if err != nil {
		t.Fatal(err)
	}
	if out[".cfa"] != fp+16 || out[".ra"] != 0x100003f00 || out["fp"] != 0x7100 {
		t.Errorf("unwind = %#v, want cfa fp+16, ra and fp from the frame record", out)
	}
	if !cfi.covers(fn) {
		t.Error("f not covered")
	}
}
