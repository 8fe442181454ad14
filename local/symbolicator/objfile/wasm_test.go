package objfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/wasm"
)

// wasmPrograms are small C and C++ programs with inlined helpers, loops
// and calls between functions: what DWARF in wasm has to describe.
var wasmPrograms = map[string]string{
	"c": `
static inline int sq(int x) { return x * x; }
static inline int clamp(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }
__attribute__((noinline)) int add(int a, int b) { return sq(a) + clamp(b, 0, 100); }
int internal_func(int n) {
	int s = 0;
	for (int i = 0; i < n; i++)
		s += add(i, n) ^ clamp(s, -5, 5);
	return s;
}
int table(int k) {
	switch (k) {
	case 0: return add(k, 3);
	case 1: return internal_func(k * 7);
	case 2: return sq(k) + 1;
	default: return clamp(k, 10, 20);
	}
}
`,
	"cpp": `
namespace geo {
template <typename T> struct Vec { T x, y;
	T dot(const Vec &o) const { return x * o.x + y * o.y; }
	Vec scale(T k) const { return Vec{x * k, y * k}; } };
inline int norm2(const Vec<int> &v) { return v.dot(v); }
}
__attribute__((noinline)) int area(int a, int b) { geo::Vec<int> v{a, b}; return geo::norm2(v.scale(2)); }
extern "C" int internal_func(int n) {
	int s = 0;
	for (int i = 0; i < n; i++) s += area(i, n - i);
	return s;
}
long mix(long a, double d) { geo::Vec<double> v{d, d}; return a + (long)v.dot(v.scale(0.5)); }
`,
}

// buildWasm compiles src for wasm32 with clang and wasm-ld and appends a
// build_id custom section holding id, as wasm-ld here cannot.
func buildWasm(t testing.TB, dir, name, src, opt string, id []byte) (string, []byte) {
	t.Helper()
	tool(t, "clang")
	tool(t, "wasm-ld")
	in := filepath.Join(dir, name)
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s%s.wasm", name, opt))
	run(t, dir, "clang", "--target=wasm32", "-g", opt, "-nostdlib", "-fno-exceptions", "-Wl,--no-entry", "-Wl,--export-all", "-o", out, in)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte{byte(len("build_id"))}, "build_id"...)
	payload = append(payload, id...)
	data = append(data, 0)
	data = appendULEB128(data, uint64(len(payload)))
	data = append(data, payload...)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out, data
}

func appendULEB128(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

// TestWasmAgreement opens wasm modules of C and C++ programs at -O0 and
// -O2 and looks up every byte of their code section, by file offset, as
// Symbolicator does. llvm-symbolizer takes code-section-relative addresses
// for wasm: each lookup is compared with its answer for the offset minus
// the code section's start.
func TestWasmAgreement(t *testing.T) {
	dir := t.TempDir()
	id := []byte{0xbd, 0xa1, 0x8f, 0xd8, 0x5d, 0x4a, 0x4e, 0xb8, 0x93, 0x02, 0x2d, 0x6b, 0xfa, 0xd8, 0x46, 0xb1}
	total := 0
	for _, lang := range []string{"c", "cpp"} {
		for _, opt := range []string{"-O0", "-O2"} {
			t.Run(lang+opt, func(t *testing.T) {
				name := "prog." + lang
				path, data := buildWasm(t, dir, name, wasmPrograms[lang], opt, id)
				f, err := Open(data)
				if err != nil {
					t.Fatal(err)
				}
				want := Identity{Kind: "wasm", Arch: "wasm32", CodeID: "bda18fd85d4a4eb893022d6bfad846b1", DebugID: "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1", FileType: "both"}
				if f.Identity != want {
					t.Errorf("identity %+v, want %+v", f.Identity, want)
				}
				if !f.Features.HasDebugInfo || !f.Features.HasSymbols {
					t.Errorf("features %+v, want debug info and symbols", f.Features)
				}
				m, err := wasm.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				var offs, rel []uint64
				var names []string
				for _, fn := range m.Functions {
					for a := fn.Addr; a < fn.Addr+fn.Size; a++ {
						offs = append(offs, a)
						rel = append(rel, a-m.CodeOffset)
						names = append(names, fn.Name)
					}
				}
				total += len(offs)
				llvm := llvmSymbolize(t, path, rel)
				bad, fallback := 0, 0
				for i, a := range offs {
					ours, ok := f.Lookup(a)
					if !ok {
						ours = []Frame{{Function: "??"}}
					}
					// Where no DWARF function covers the offset (a
					// function without debug info, the "end" after a
					// function's high_pc) llvm-symbolizer knows no name;
					// the name section names the function, as in
					// Symbolicator's symcache.
					if len(llvm[i]) == 1 && llvm[i][0].Function == "??" && len(ours) == 1 && ours[0].AbsPath == "" && ours[0].Symbol == names[i] && names[i] != "" {
						fallback++
						continue
					}
					if d := chainDiff(ours, llvm[i]); d != "" {
						if bad < 5 {
							t.Errorf("offset %#x (code %#x): %s", a, rel[i], d)
						}
						bad++
					}
				}
				t.Logf("%s: %d offsets, %d named from the name section where llvm-symbolizer has no DWARF function, %d differ from llvm-symbolizer", filepath.Base(path), len(offs), fallback, bad)
				if bad > 0 {
					t.Errorf("%d of %d offsets differ", bad, len(offs))
				}
			})
		}
	}
	t.Logf("%d offsets in all", total)
}
