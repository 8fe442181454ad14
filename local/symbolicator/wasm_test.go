package symbolicator

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/wasm"
)

// TestWasmModule symbolicates every offset of a wasm module's functions
// through the HTTP API, as Symbolicator's test_wasm_payload asks (type
// wasm, image_addr 0, addr_mode rel:0, the module's debug file found by
// its build id in the native layout), and compares with llvm-symbolizer,
// which takes code-section-relative addresses for wasm.
func TestWasmModule(t *testing.T) {
	for _, n := range []string{"clang", "wasm-ld", "llvm-symbolizer"} {
		requireTool(t, n)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lib.c")
	os.WriteFile(src, []byte(`
static inline int sq(int x) { return x * x; }
__attribute__((noinline)) int add(int a, int b) { return sq(a) + b; }
int internal_func(int n) { int s = 0; for (int i = 0; i < n; i++) s += add(i, n); return s; }
`), 0o644)
	out := filepath.Join(dir, "demo.wasm")
	if msg, err := exec.Command("clang", "--target=wasm32", "-g", "-O1", "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, msg)
	}
	data, _ := os.ReadFile(out)
	id := []byte{0xbd, 0xa1, 0x8f, 0xd8, 0x5d, 0x4a, 0x4e, 0xb8, 0x93, 0x02, 0x2d, 0x6b, 0xfa, 0xd8, 0x46, 0xb1}
	payload := append([]byte{8}, "build_id"...)
	data = append(append(data, 0, byte(len(payload)+len(id))), append(payload, id...)...)
	store := t.TempDir()
	os.MkdirAll(filepath.Join(store, "bd"), 0o755)
	os.WriteFile(filepath.Join(store, "bd", "a18fd85d4a4eb893022d6bfad846b1.debug"), data, 0o644)
	os.WriteFile(out, data, 0o644)
	m, err := wasm.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var offs []uint64
	var frames []any
	for _, fn := range m.Functions {
		for a := fn.Addr; a < fn.Addr+fn.Size; a++ {
			offs = append(offs, a)
			frames = append(frames, map[string]any{"instruction_addr": hexAddr(a), "addr_mode": "rel:0", "adjust_instruction_addr": false})
		}
	}
	_, srv := testService(t, Config{})
	resp := postJSON(t, srv.URL+"/symbolicate", map[string]any{
		"sources": []any{fsSource("local", store, "native")}, "options": map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{"frames": frames}},
		"modules": []any{map[string]any{"type": "wasm", "debug_id": "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1",
			"code_id": "bda18fd85d4a4eb893022d6bfad846b1", "debug_file": "file://foo.invalid/demo.wasm"}},
	})
	mod := obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
	feat := obj(t, mod["features"], "features")
	if mod["debug_status"] != "found" || mod["arch"] != "wasm32" || mod["image_addr"] != "0x0" ||
		feat["has_debug_info"] != true || feat["has_symbols"] != true || feat["has_unwind_info"] != false || feat["has_sources"] != false {
		t.Errorf("module %v", mod)
	}
	byIndex := map[int][]map[string]any{}
	for _, f := range arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "stacktrace")["frames"], "frames") {
		f := obj(t, f, "frame")
		i := int(f["original_index"].(float64))
		byIndex[i] = append(byIndex[i], f)
	}
	var in strings.Builder
	for _, a := range offs {
		fmt.Fprintf(&in, "0x%x\n", a-m.CodeOffset)
	}
	cmd := exec.Command("llvm-symbolizer", "--obj="+out, "--inlining", "--functions=linkage", "--output-style=LLVM")
	cmd.Stdin = strings.NewReader(in.String())
	res, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(strings.TrimSpace(string(res)), "\n\n")
	if len(blocks) != len(offs) {
		t.Fatalf("llvm-symbolizer answered %d of %d", len(blocks), len(offs))
	}
	agree, named := 0, 0
	for i, blk := range blocks {
		lines := strings.Split(blk, "\n")
		ours := byIndex[i]
		if lines[0] == "??" {
			// No DWARF function: the name section names it.
			if len(ours) == 1 && ours[0]["status"] == "symbolicated" && ours[0]["abs_path"] == nil {
				named++
			} else {
				t.Errorf("%#x: llvm ??, ours %v", offs[i], ours)
			}
			continue
		}
		var want, got []string
		for j := 0; j+1 < len(lines); j += 2 {
			loc := strings.Split(lines[j+1], ":")
			want = append(want, lines[j]+" "+strings.Join(loc[:len(loc)-2], ":")+":"+loc[len(loc)-2])
		}
		for _, f := range ours {
			got = append(got, fmt.Sprintf("%v %v:%v", f["symbol"], f["abs_path"], f["lineno"]))
			if f["addr_mode"] != "rel:0" || f["instruction_addr"] != hexAddr(offs[i]) {
				t.Errorf("%#x: frame %v", offs[i], f)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			if i < 5 {
				t.Errorf("%#x: ours %v, llvm %v", offs[i], got, want)
			}
			continue
		}
		agree++
	}
	t.Logf("%d offsets: %d agree with llvm-symbolizer, %d named from the name section where it has no DWARF function", len(offs), agree, named)
	if agree+named != len(offs) {
		t.Errorf("%d offsets differ", len(offs)-agree-named)
	}
}
