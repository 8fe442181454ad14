package symbolicator

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

func discardLogger() *slog.Logger {
	if os.Getenv("SYMFLOW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const testImageAddr = 0x7f1200000000

// findInlineAddr returns a file address inside compute whose reference
// chain has inner inlined into compute, with that chain.
func findInlineAddr(t *testing.T, s *sample) (uint64, []refFrame) {
	t.Helper()
	sym := s.Syms["compute"]
	var addrs []uint64
	for a := sym[0]; a < sym[0]+sym[1]; a++ {
		addrs = append(addrs, a)
	}
	chains := symbolize(t, s.Bin, addrs...)
	for i, c := range chains {
		if len(c) >= 2 && c[0].Function == "inner" && c[len(c)-1].Function == "compute" && c[0].Line > 0 {
			return addrs[i], c
		}
	}
	t.Fatalf("no address in compute has inner inlined (chains: %v)", chains)
	return 0, nil
}

// checkChain compares symbolicated frames against the reference chain.
func checkChain(t *testing.T, frames []any, start int, want []refFrame, origIndex int, instrAddr string) int {
	t.Helper()
	for i, w := range want {
		if start+i >= len(frames) {
			t.Fatalf("frame %d missing; want %+v", start+i, w)
		}
		f := obj(t, frames[start+i], fmt.Sprintf("frames[%d]", start+i))
		if f["status"] != "symbolicated" {
			t.Fatalf("frames[%d].status = %v, want symbolicated (%v)", start+i, f["status"], f)
		}
		if got := f["function"]; got != w.Function {
			t.Errorf("frames[%d].function = %v, want %s", start+i, got, w.Function)
		}
		if got := f["symbol"]; got != w.Function {
			t.Errorf("frames[%d].symbol = %v, want %s", start+i, got, w.Function)
		}
		if got, _ := f["lineno"].(float64); int(got) != w.Line {
			t.Errorf("frames[%d].lineno = %v, want %d", start+i, f["lineno"], w.Line)
		}
		if got := f["filename"]; got != filepath.Base(w.File) {
			t.Errorf("frames[%d].filename = %v, want %s", start+i, got, filepath.Base(w.File))
		}
		if got, _ := f["abs_path"].(string); !strings.HasSuffix(got, filepath.Base(w.File)) || !strings.HasPrefix(got, "/") {
			t.Errorf("frames[%d].abs_path = %q, want an absolute path to %s", start+i, got, w.File)
		}
		if got, _ := f["original_index"].(float64); int(got) != origIndex {
			t.Errorf("frames[%d].original_index = %v, want %d", start+i, f["original_index"], origIndex)
		}
		if got := f["instruction_addr"]; got != instrAddr {
			t.Errorf("frames[%d].instruction_addr = %v, want %s", start+i, got, instrAddr)
		}
		if got := f["lang"]; got != "c" {
			t.Errorf("frames[%d].lang = %v, want c", start+i, got)
		}
		if got := f["package"]; got != "/usr/bin/sample" {
			t.Errorf("frames[%d].package = %v, want /usr/bin/sample", start+i, got)
		}
		_, hasSym := f["sym_addr"]
		if last := i == len(want)-1; hasSym != last {
			t.Errorf("frames[%d]: sym_addr present = %v, want %v (only on the outermost frame of a chain)", start+i, hasSym, last)
		}
	}
	return start + len(want)
}

func TestSymbolicateEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"pie", nil},
		{"no-pie", []string{"-no-pie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := buildSample(t, tc.flags...)
			symdir := t.TempDir()
			s.putUnified(t, symdir)
			_, srv := testService(t, Config{})

			abs := func(fileAddr uint64) uint64 { return testImageAddr + fileAddr - s.LoadAddr }
			inlineAddr, inlineChain := findInlineAddr(t, s)
			ep := s.Syms["entry_point"]
			retAddr := ep[0] + ep[1]/2 // a return address: looked up at -1
			mainSym := s.Syms["main"]
			relAddr := mainSym[0] + 3 - s.LoadAddr
			ref := symbolize(t, s.Bin, retAddr-1, s.LoadAddr+relAddr-1)

			body := map[string]any{
				"platform": "native",
				"signal":   11,
				"sources": []any{map[string]any{
					"type": "filesystem", "id": "local", "path": symdir,
					"layout": map[string]any{"type": "unified"},
				}},
				"options": map[string]any{"dif_candidates": true},
				"stacktraces": []any{map[string]any{
					"thread_id": 7, "thread_name": "main", "is_requesting": true,
					"registers": map[string]any{"rip": hexAddr(abs(inlineAddr))},
					"frames": []any{
						map[string]any{"instruction_addr": hexAddr(abs(inlineAddr)), "custom": "kept"},
						map[string]any{"instruction_addr": hexAddr(abs(retAddr))},
						map[string]any{"instruction_addr": "0x10"},
						map[string]any{"instruction_addr": hexAddr(relAddr), "addr_mode": "rel:0"},
					},
				}},
				"modules": []any{map[string]any{
					"type": "elf", "code_id": strings.ToUpper(s.CodeID), "debug_id": s.DebugID,
					"code_file": "/usr/bin/sample", "debug_file": "/usr/bin/sample",
					"image_addr": hexAddr(testImageAddr), "image_size": 0x100000,
				}},
			}
			resp := postJSON(t, srv.URL+"/symbolicate?scope=42", body)
			if os.Getenv("SYMFLOW_TEST_DUMP") != "" {
				t.Logf("%s", resp.Body)
			}
			if resp.Status != 200 || resp.JSON["status"] != "completed" {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			traces := arr(t, resp.JSON["stacktraces"], "stacktraces")
			st := obj(t, traces[0], "stacktraces[0]")
			if st["thread_id"] != float64(7) || st["thread_name"] != "main" || st["is_requesting"] != true {
				t.Errorf("thread fields not kept: %v", st)
			}
			if regs := obj(t, st["registers"], "registers"); regs["rip"] != hexAddr(abs(inlineAddr)) {
				t.Errorf("registers = %v", regs)
			}
			frames := arr(t, st["frames"], "frames")
			next := checkChain(t, frames, 0, inlineChain, 0, hexAddr(abs(inlineAddr)))
			if f := obj(t, frames[0], "frames[0]"); f["custom"] != "kept" {
				t.Errorf("unknown frame field not kept: %v", f)
			}
			next = checkChain(t, frames, next, ref[0], 1, hexAddr(abs(retAddr-1)))
			unknown := obj(t, frames[next], "unknown frame")
			if unknown["status"] != "unknown_image" || unknown["instruction_addr"] != "0x10" || unknown["original_index"] != float64(2) {
				t.Errorf("unknown frame = %v", unknown)
			}
			next++
			checkChain(t, frames, next, ref[1], 3, hexAddr(testImageAddr+relAddr-1))

			mods := arr(t, resp.JSON["modules"], "modules")
			m := obj(t, mods[0], "modules[0]")
			if m["debug_status"] != "found" || m["arch"] != s.Arch || m["code_id"] != s.CodeID || m["debug_id"] != s.DebugID {
				t.Errorf("module = %v", m)
			}
			if feat := obj(t, m["features"], "features"); feat["has_debug_info"] != true || feat["has_symbols"] != true {
				t.Errorf("features = %v", feat)
			}
			// Every place the unified layout has for the module's file types:
			// the executable and debug info found (the debug info used), the
			// Breakpad file, the source bundle and the PDB path (the debug id
			// spelled as a PDB's, plain and compressed) not there.
			base := "file://" + filepath.Join(symdir, s.CodeID[:2], s.CodeID[2:])
			pdbID := strings.ToLower(breakpadID(objectID{DebugID: s.DebugID}))
			pdb := "file://" + filepath.Join(symdir, pdbID[:2], pdbID[2:])
			want := map[string]string{
				base + "/executable":   "ok",
				base + "/debuginfo":    "ok debug:ok",
				base + "/breakpad":     "notfound",
				base + "/sourcebundle": "notfound",
				pdb + "/debuginfo":     "notfound",
				pdb + "/debuginf_":     "notfound",
			}
			got := map[string]string{}
			for loc, st := range candidateStatuses(t, m) {
				got[strings.TrimPrefix(loc, "local ")] = st
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("candidates = %v\nwant %v", got, want)
			}
			cands := arr(t, m["candidates"], "candidates")
			for i := 1; i < len(cands); i++ {
				if obj(t, cands[i-1], "c")["location"].(string) > obj(t, cands[i], "c")["location"].(string) {
					t.Errorf("candidates not ordered by location: %v", cands)
				}
			}
		})
	}
}

func TestSymbolicateCPlusPlusNames(t *testing.T) {
	requireTool(t, "clang++")
	dir := t.TempDir()
	src := filepath.Join(dir, "app.cc")
	code := `namespace app {
template <typename T> __attribute__((noinline)) T twice(T v) { return v * 2; }
struct Worker { __attribute__((noinline)) int run(int x); };
int Worker::run(int x) { return twice<int>(x) + 1; }
}
int main(int argc, char**) { app::Worker w; return w.run(argc); }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "app")
	run(t, "clang++", "-g", "-O2", "-Wl,--build-id", "-o", bin, src)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	file, err := objfile.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	syms := map[string]uint64{}
	for _, line := range strings.Split(run(t, "nm", bin), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			var a uint64
			fmt.Sscanf(f[0], "%x", &a)
			syms[f[2]] = a
		}
	}
	symdir := t.TempDir()
	copyFile(t, bin, filepath.Join(symdir, file.CodeID[:2], file.CodeID[2:]+".debug"))
	_, srv := testService(t, Config{})
	for _, tc := range []struct{ symbol, function string }{
		{"_ZN3app5twiceIiEET_S1_", "app::twice<int>(int)"},
		{"_ZN3app6Worker3runEi", "app::Worker::run(int)"},
	} {
		addr, ok := syms[tc.symbol]
		if !ok {
			t.Fatalf("no symbol %s in %v", tc.symbol, syms)
		}
		req := map[string]any{
			"signal":  11,
			"sources": []any{fsSource("fs", symdir, "native")},
			"stacktraces": []any{map[string]any{"frames": []any{
				map[string]any{"instruction_addr": hexAddr(0x500000 + addr - file.LoadAddress)},
			}}},
			"modules": []any{map[string]any{"type": "elf", "code_id": file.CodeID, "image_addr": "0x500000", "image_size": 1 << 20}},
		}
		_, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", req))
		if f["status"] != "symbolicated" || f["symbol"] != tc.symbol || f["function"] != tc.function || f["lang"] != "cpp" {
			t.Errorf("frame = %v, want symbol %s function %s lang cpp", f, tc.symbol, tc.function)
		}
	}
}

// TestSymbolicateMachO symbolicates a Mach-O file found through the native
// (lldb) layout. Without a macOS linker here the file is a clang object
// for macOS, whose code starts at address 0.
func TestSymbolicateMachO(t *testing.T) {
	requireTool(t, "clang")
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	code := `static inline __attribute__((always_inline)) int inner(int x) { if (x > 1000) __builtin_trap(); return x * 3 + 1; }
__attribute__((noinline)) int compute(int x) { int r = inner(x); return r + 7; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	objPath := filepath.Join(dir, "m.o")
	run(t, "clang", "-target", "arm64-apple-macos11", "-O2", "-g", "-c", src, "-o", objPath)
	const uuid = "67e9247c-814e-392b-a027-dbde6748fcbf"
	symdir := t.TempDir()
	copyFile(t, objPath, filepath.Join(symdir, "67E9/247C/814E/392B/A027/DBDE6748FCBF"))

	// The first address whose reference chain has inner inlined.
	var addr uint64
	var chain []refFrame
	var addrs []uint64
	for a := uint64(0); a < 64; a += 4 {
		addrs = append(addrs, a)
	}
	for i, c := range symbolize(t, objPath, addrs...) {
		if len(c) == 2 && c[0].Function == "inner" {
			addr, chain = addrs[i], c
			break
		}
	}
	if chain == nil {
		t.Fatal("no address with inner inlined")
	}
	const image = 0x100000000
	_, srv := testService(t, Config{})
	req := map[string]any{
		"signal":  11,
		"sources": []any{fsSource("fs", symdir, "native")},
		"options": map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{"frames": []any{
			map[string]any{"instruction_addr": hexAddr(image + addr)},
			// A return address on arm64: aligned down to 4, minus 4.
			map[string]any{"instruction_addr": hexAddr(image + addr + 4 + 2)},
		}}},
		"modules": []any{map[string]any{"type": "macho", "debug_id": uuid, "code_file": "/Applications/M.app/M", "image_addr": hexAddr(image), "image_size": 4096}},
	}
	resp := postJSON(t, srv.URL+"/symbolicate", req)
	m, _ := firstResult(t, resp)
	if m["debug_status"] != "found" || m["arch"] != "arm64" {
		t.Fatalf("module = %v", m)
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")
	// The real function takes the name of the first symbol at its address
	// in symbol-table order, as symbolic's symbol map keeps it; in a clang
	// object that is the section's temporary label.
	chain[len(chain)-1].Function = firstSymbolAt(t, objPath, 0)
	for i, w := range chain {
		f := obj(t, frames[i], "frame")
		if f["function"] != w.Function || f["lineno"] != float64(w.Line) || f["instruction_addr"] != hexAddr(image+addr) {
			t.Errorf("frames[%d] = %v, want %+v at %s", i, f, w, hexAddr(image+addr))
		}
	}
	last := obj(t, frames[len(frames)-1], "caller frame")
	if last["instruction_addr"] != hexAddr(image+addr) || last["original_index"] != float64(1) {
		t.Errorf("caller frame = %v, want it looked up at %s", last, hexAddr(image+addr))
	}
}

// firstSymbolAt returns the first code symbol at addr in the file's symbol
// table order (llvm-nm -p), without Mach-O's leading underscore.
func firstSymbolAt(t *testing.T, path string, addr uint64) string {
	t.Helper()
	out, err := exec.Command("llvm-nm", "-p", "--defined-only", path).Output()
	if err != nil {
		t.Fatalf("llvm-nm %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		if a, err := strconv.ParseUint(f[0], 16, 64); err == nil && a == addr {
			return strings.TrimPrefix(f[2], "_")
		}
	}
	t.Fatalf("no code symbol at %#x in %s", addr, path)
	return ""
}
