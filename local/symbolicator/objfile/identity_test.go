package objfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/debugfile"
)

func TestDebugIDFromBuildID(t *testing.T) {
	tests := []struct {
		name    string
		buildID string
		little  bool
		want    string
	}{
		{"spec vector", "e5438bc11fa287bc07113bf5b42431fb3a4b5c6d", true, "c18b43e5-a21f-bc87-0711-3bf5b42431fb"},
		{"big endian keeps byte order", "e5438bc11fa287bc07113bf5b42431fb", false, "e5438bc1-1fa2-87bc-0711-3bf5b42431fb"},
		{"short id is zero padded", "0102030405060708", true, "04030201-0605-0807-0000-000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hexDecode(tt.buildID)
			if err != nil {
				t.Fatal(err)
			}
			if got := debugfile.ELFDebugID(b, tt.little); got != tt.want {
				t.Errorf("debugfile.ELFDebugID(%s) = %s, want %s", tt.buildID, got, tt.want)
			}
		})
	}
}

func hexDecode(s string) ([]byte, error) {
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

var buildIDLine = regexp.MustCompile(`Build ID: ([0-9a-f]+)`)

// TestELFIdentity checks a real gcc binary's identity against readelf -n and
// eu-readelf -n, and the features of the executable.
func TestELFIdentity(t *testing.T) {
	dir := t.TempDir()
	out := compile(t, dir, "gcc", "c", "-O2", "-g", "-Wl,--build-id=sha1")
	var ids []string
	for _, readelf := range []string{"readelf", "eu-readelf"} {
		b, err := exec.Command(tool(t, readelf), "-n", out).CombinedOutput()
		if err != nil {
			t.Fatalf("%s -n: %v\n%s", readelf, err, b)
		}
		m := buildIDLine.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s -n printed no build id:\n%s", readelf, b)
		}
		ids = append(ids, string(m[1]))
	}
	if ids[0] != ids[1] {
		t.Fatalf("readelf says %s, eu-readelf %s", ids[0], ids[1])
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Identify(data)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hexDecode(ids[0])
	want := Identity{Kind: "elf", Arch: "x86_64", CodeID: ids[0], DebugID: debugfile.ELFDebugID(raw, true), FileType: "both"}
	if id != want {
		t.Errorf("Identify = %+v, want %+v", id, want)
	}
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Identity != want {
		t.Errorf("Open identity = %+v, want %+v", f.Identity, want)
	}
	wantFeatures := Features{HasDebugInfo: true, HasUnwindInfo: true, HasSymbols: true}
	if f.Features != wantFeatures {
		t.Errorf("features = %+v, want %+v", f.Features, wantFeatures)
	}
	if want := lowestLoad(t, out); f.LoadAddress != want {
		t.Errorf("LoadAddress = %#x, want %#x (readelf -l)", f.LoadAddress, want)
	}
}

var loadLine = regexp.MustCompile(`(?m)^\s+LOAD\s+0x[0-9a-f]+ (0x[0-9a-f]+)`)

// lowestLoad reads the lowest PT_LOAD vaddr with readelf -lW.
func lowestLoad(t *testing.T, path string) uint64 {
	b, err := exec.Command(tool(t, "readelf"), "-lW", path).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf -lW: %v\n%s", err, b)
	}
	low := ^uint64(0)
	for _, m := range loadLine.FindAllSubmatch(b, -1) {
		v, err := strconv.ParseUint(string(m[1]), 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		low = min(low, v)
	}
	if low == ^uint64(0) {
		t.Fatalf("readelf -lW shows no LOAD segment:\n%s", b)
	}
	return low
}

// TestELFNoBuildID checks the fallback id: .text's first page XORed into 16
// bytes, with no code id.
func TestELFNoBuildID(t *testing.T) {
	dir := t.TempDir()
	out := compile(t, dir, "gcc", "c", "-O2", "-Wl,--build-id=none")
	run(t, dir, "objcopy", "-O", "binary", "--only-section=.text", out, "text.bin")
	text, err := os.ReadFile(filepath.Join(dir, "text.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var x [16]byte
	for i, c := range text[:min(len(text), 4096)] {
		x[i%16] ^= c
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Identify(data)
	if err != nil {
		t.Fatal(err)
	}
	if id.CodeID != "" {
		t.Errorf("CodeID = %q, want empty without a build-id", id.CodeID)
	}
	if want := debugfile.ELFDebugID(x[:], true); id.DebugID != want {
		t.Errorf("DebugID = %s, want %s", id.DebugID, want)
	}
	if id.FileType != "executable" {
		t.Errorf("FileType = %q, want executable (no DWARF)", id.FileType)
	}
	// Without DWARF, lookups come from the symbol table: no file or line.
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	addr := symbolAddr(t, out, "fib")
	frames, ok := f.Lookup(addr + 1)
	if !ok || len(frames) != 1 || frames[0].Function != "fib" || frames[0].AbsPath != "" || frames[0].Line != 0 || frames[0].SymAddr != addr {
		t.Errorf("Lookup(fib+1) = %+v, %v; want one frame fib without file, SymAddr %#x", frames, ok, addr)
	}
}

// symbolAddr returns a symbol's address from llvm-nm (which reads ELF and
// Mach-O alike).
func symbolAddr(t *testing.T, path, name string) uint64 {
	t.Helper()
	b, err := exec.Command(tool(t, "llvm-nm"), path).CombinedOutput()
	if err != nil {
		t.Fatalf("nm: %v\n%s", err, b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && (f[2] == name || f[2] == "_"+name) {
			v, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("nm %s: no symbol %s", path, name)
	return 0
}

// machoFixture builds a small 64-bit Mach-O executable: __TEXT with one
// __text section at 0x100000800 (0x40 bytes), a symbol table and LC_UUID.
func machoFixture(cpu uint32, uuid [16]byte) []byte {
	const (
		size     = 0x1000
		textOff  = 0x800
		textAddr = 0x100000000 + textOff
		symOff   = 0x900
	)
	le := binary.LittleEndian
	var b bytes.Buffer
	w := func(v ...any) {
		for _, x := range v {
			binary.Write(&b, le, x)
		}
	}
	name16 := func(s string) [16]byte {
		var n [16]byte
		copy(n[:], s)
		return n
	}
	strtab := []byte("\x00_main\x00__ZN2ns3fooEi\x00_undefined\x00main.c\x00")
	type nlist struct {
		Strx  uint32
		Type  uint8
		Sect  uint8
		Desc  uint16
		Value uint64
	}
	syms := []nlist{
		{1, 0x0f, 1, 0, textAddr},         // _main, N_SECT|N_EXT
		{7, 0x0f, 1, 0, textAddr + 0x20},  // __ZN2ns3fooEi
		{21, 0x01, 0, 0, 0},               // _undefined, N_UNDF|N_EXT
		{32, 0x64, 0, 0, textAddr + 0x10}, // N_SO debugging entry: ignored
	}
	segSize := uint32(72 + 80)
	cmdsSize := segSize + 24 + 24
	w(uint32(0xfeedfacf), cpu, uint32(3), uint32(2), uint32(3), cmdsSize, uint32(0), uint32(0))
	// LC_SEGMENT_64 __TEXT with one section.
	w(uint32(0x19), segSize, name16("__TEXT"), uint64(0x100000000), uint64(size), uint64(0), uint64(size), uint32(5), uint32(5), uint32(1), uint32(0))
	w(name16("__text"), name16("__TEXT"), uint64(textAddr), uint64(0x40), uint32(textOff), uint32(4), uint32(0), uint32(0), uint32(0x80000400), uint32(0), uint32(0), uint32(0))
	// LC_SYMTAB
	w(uint32(0x2), uint32(24), uint32(symOff), uint32(len(syms)), uint32(symOff+16*len(syms)), uint32(len(strtab)))
	// LC_UUID
	w(uint32(lcUUID), uint32(24), uuid)
	out := make([]byte, size)
	copy(out, b.Bytes())
	for i := textOff; i < textOff+0x40; i++ {
		out[i] = 0x90
	}
	var sb bytes.Buffer
	for _, s := range syms {
		binary.Write(&sb, le, s)
	}
	copy(out[symOff:], sb.Bytes())
	copy(out[symOff+sb.Len():], strtab)
	return out
}

// fatFixture wraps thin Mach-O files into a universal binary.
func fatFixture(cpus []uint32, thin [][]byte) []byte {
	be := binary.BigEndian
	hdr := make([]byte, 8+20*len(thin))
	be.PutUint32(hdr, 0xcafebabe)
	be.PutUint32(hdr[4:], uint32(len(thin)))
	out := make([]byte, 0x1000)
	for i, t := range thin {
		off := len(out)
		a := hdr[8+20*i:]
		be.PutUint32(a, cpus[i])
		be.PutUint32(a[4:], 3)
		be.PutUint32(a[8:], uint32(off))
		be.PutUint32(a[12:], uint32(len(t)))
		be.PutUint32(a[16:], 12)
		out = append(out, t...)
	}
	copy(out, hdr)
	return out
}

const (
	cpuX86_64 = 0x01000007
	cpuARM64  = 0x0100000c
)

func TestMachOFixture(t *testing.T) {
	uuid := [16]byte{0xE5, 0x43, 0x8B, 0xC1, 0x1F, 0xA2, 0x87, 0xBC, 0x07, 0x11, 0x3B, 0xF5, 0xB4, 0x24, 0x31, 0xFB}
	thin := machoFixture(cpuX86_64, uuid)
	want := Identity{Kind: "macho", Arch: "x86_64", CodeID: "e5438bc11fa287bc07113bf5b42431fb", DebugID: "e5438bc1-1fa2-87bc-0711-3bf5b42431fb", FileType: "executable"}
	id, err := Identify(thin)
	if err != nil {
		t.Fatal(err)
	}
	if id != want {
		t.Errorf("Identify = %+v, want %+v", id, want)
	}
	f, err := Open(thin)
	if err != nil {
		t.Fatal(err)
	}
	if f.LoadAddress != 0x100000000 {
		t.Errorf("LoadAddress = %#x, want 0x100000000 (__TEXT vmaddr)", f.LoadAddress)
	}
	if want := (Features{HasSymbols: true}); f.Features != want {
		t.Errorf("Features = %+v, want %+v", f.Features, want)
	}
	lookups := []struct {
		addr    uint64
		ok      bool
		fn, sym string
		symAddr uint64
		lang    string
	}{
		{0x100000800, true, "main", "main", 0x100000800, ""},
		{0x10000081f, true, "main", "main", 0x100000800, ""},
		// Symbol-table functions have no language, as in symbolic
		// (no guessing from the mangling).
		{0x100000825, true, "ns::foo(int)", "_ZN2ns3fooEi", 0x100000820, ""},
		{0x10000083f, true, "ns::foo(int)", "_ZN2ns3fooEi", 0x100000820, ""},
		{0x100000840, false, "", "", 0, ""}, // past the end of __text
		{0x1000007ff, false, "", "", 0, ""},
	}
	for _, l := range lookups {
		frames, ok := f.Lookup(l.addr)
		if ok != l.ok {
			t.Errorf("Lookup(%#x) ok = %v, want %v", l.addr, ok, l.ok)
			continue
		}
		if !ok {
			continue
		}
		want := []Frame{{Function: l.fn, Symbol: l.sym, SymAddr: l.symAddr, Lang: l.lang}}
		if len(frames) != 1 || frames[0] != want[0] {
			t.Errorf("Lookup(%#x) = %+v, want %+v", l.addr, frames, want)
		}
	}

	arm := machoFixture(cpuARM64, [16]byte{1, 2, 3})
	fat := fatFixture([]uint32{cpuX86_64, cpuARM64}, [][]byte{thin, arm})
	for _, tt := range []struct{ arch, want, debugID string }{
		{"", "x86_64", want.DebugID},
		{"x86_64", "x86_64", want.DebugID},
		{"arm64", "arm64", "01020300-0000-0000-0000-000000000000"},
	} {
		f, err := OpenArch(fat, tt.arch)
		if err != nil {
			t.Fatalf("OpenArch(fat, %q): %v", tt.arch, err)
		}
		if f.Arch != tt.want || f.DebugID != tt.debugID {
			t.Errorf("OpenArch(fat, %q) = %s %s, want %s %s", tt.arch, f.Arch, f.DebugID, tt.want, tt.debugID)
		}
		if frames, ok := f.Lookup(0x100000800); !ok || frames[0].Function != "main" {
			t.Errorf("OpenArch(fat, %q).Lookup(main) = %+v, %v", tt.arch, frames, ok)
		}
	}
}

// TestMachOClangObject reads a Mach-O object that clang writes for macOS:
// identity and symbol table lookups.
func TestMachOClangObject(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	if err := os.WriteFile(src, []byte("int add(int a, int b) { return a + b; }\nint mul(int a, int b) { return a * b + add(a, b); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "m.o")
	run(t, dir, tool(t, "clang"), "-target", "x86_64-apple-macos11", "-O1", "-c", "-o", obj, src)
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != "macho" || f.Arch != "x86_64" || f.FileType != "executable" || !f.Features.HasSymbols {
		t.Errorf("identity %+v features %+v; want macho x86_64 executable with symbols", f.Identity, f.Features)
	}
	for _, name := range []string{"add", "mul"} {
		addr := symbolAddr(t, obj, name)
		frames, ok := f.Lookup(addr + 2)
		if !ok || frames[0].Function != name || frames[0].SymAddr != addr {
			t.Errorf("Lookup(%s+2) = %+v, %v; want %s at %#x", name, frames, ok, name, addr)
		}
	}
}
