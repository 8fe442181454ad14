package symbolicator

import (
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/wasm"
)

// wasmCustomSection encodes a custom section: id 0, size, name, payload.
func wasmCustomSection(name string, payload []byte) []byte {
	body := append(appendWasmULEB(nil, uint64(len(name))), name...)
	body = append(body, payload...)
	return append(appendWasmULEB([]byte{0}, uint64(len(body))), body...)
}

func appendWasmULEB(b []byte, v uint64) []byte {
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

// wasmBuild is one generated program split the way Sentry's wasm-split
// and emscripten's -gseparate-dwarf leave it: Shipped is the module a
// browser runs (no DWARF, the name section kept, a build_id section and an
// external_debug_info section naming the companion), Debug the debug
// companion (the whole module with its DWARF and the same build_id). The
// test builds the pair with llvm-objcopy: --strip-debug for the shipped
// module, --add-section for external_debug_info; the build_id section is
// appended as wasm-split adds it.
type wasmBuild struct {
	name           string
	buildID        []byte
	shipped, debug string // file paths
	mod            *wasm.Module
}

func (b wasmBuild) codeID() string { return hex.EncodeToString(b.buildID) }

// module is the module entry Sentry's browser SDK sends for the shipped
// module: code_id the build id in hex, debug_id the same padded to 32
// digits plus an age of 0, code_file the module's URL and debug_file the
// external_debug_info URL resolved against it.
func (b wasmBuild) module(site string) map[string]any {
	return map[string]any{
		"type": "wasm", "code_id": b.codeID(), "debug_id": b.codeID() + "0",
		"code_file":  site + "/static/" + b.name + ".wasm",
		"debug_file": site + "/static/" + b.mod.ExternalDebugInfo,
	}
}

// genWasmProgram writes a C or C++ program of n functions calling each
// other, with static inline helpers, so that inline chains, loops and
// calls differ from one build to the next.
func genWasmProgram(rng *rand.Rand, n int, cpp bool) string {
	var b strings.Builder
	if cpp {
		b.WriteString("namespace app { template <typename T> struct Acc { T v; __attribute__((noinline)) T step(int k) { v = v * 3 + k; return v; } }; }\n")
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "static inline int mix%d(int x) { return x * %d + (x >> %d); }\n", i, rng.Intn(40)+2, rng.Intn(3)+1)
	}
	for i := 0; i < n; i++ {
		if rng.Intn(2) == 0 {
			b.WriteString("__attribute__((noinline)) ")
		}
		fmt.Fprintf(&b, "int f%d(int a) {\n  int s = mix%d(a);\n", i, i)
		if i > 0 {
			fmt.Fprintf(&b, "  for (int k = 0; k < (a & %d); k++) s += f%d(a - k - 1);\n", rng.Intn(7)+1, rng.Intn(i))
		}
		if cpp && rng.Intn(2) == 0 {
			fmt.Fprintf(&b, "  app::Acc<int> acc{a}; s += acc.step(%d);\n", i)
		}
		b.WriteString("  return s;\n}\n")
	}
	return b.String()
}

// buildWasmPairs builds up to n C and C++ programs at -O0, -O2 and -O1
// as split pairs.
func buildWasmPairs(t *testing.T, n int) []wasmBuild {
	for _, n := range []string{"clang", "wasm-ld", "llvm-objcopy", "llvm-symbolizer"} {
		requireTool(t, n)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(16))
	var builds []wasmBuild
	for i, v := range []struct {
		cpp bool
		opt string
	}{{false, "-O2"}, {true, "-O2"}, {false, "-O0"}, {true, "-O0"}, {false, "-O1"}}[:n] {
		name := fmt.Sprintf("app%d", i)
		src := filepath.Join(dir, name+".c")
		if v.cpp {
			src += "pp"
		}
		if err := os.WriteFile(src, []byte(genWasmProgram(rng, 6+rng.Intn(6), v.cpp)), 0o644); err != nil {
			t.Fatal(err)
		}
		full := filepath.Join(dir, name+".full.wasm")
		run(t, "clang", "--target=wasm32", "-g", v.opt, "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", "-o", full, src)
		b := wasmBuild{name: name, buildID: make([]byte, 16)}
		rng.Read(b.buildID)
		bid, edi := filepath.Join(dir, name+".bid"), filepath.Join(dir, name+".edi")
		url := name + ".debug.wasm"
		if err := os.WriteFile(bid, b.buildID, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(edi, append(appendWasmULEB(nil, uint64(len(url))), url...), 0o644); err != nil {
			t.Fatal(err)
		}
		// Both files go through llvm-objcopy, which writes section sizes
		// in their shortest LEB128 where wasm-ld pads them to 5 bytes: the
		// sections before the code section then stay byte-identical in the
		// pair, as a split must keep them, since a frame's offset in the
		// shipped module is looked up with the companion's code section
		// offset (symbolic's rule).
		b.debug = filepath.Join(dir, name+".debug.wasm")
		run(t, "llvm-objcopy", "--add-section=build_id="+bid, full, b.debug)
		b.shipped = filepath.Join(dir, name+".wasm")
		run(t, "llvm-objcopy", "--strip-debug", "--add-section=external_debug_info="+edi, b.debug, b.shipped)

		shipped, _ := os.ReadFile(b.shipped)
		var err error
		if b.mod, err = wasm.Parse(shipped); err != nil {
			t.Fatalf("%s: %v", b.shipped, err)
		}
		companion, _ := os.ReadFile(b.debug)
		dm, err := wasm.Parse(companion)
		if err != nil {
			t.Fatalf("%s: %v", b.debug, err)
		}
		// What the split must preserve for the companion to serve the
		// shipped module: the same build id and code section offset, DWARF
		// only in the companion, the companion's URL in the shipped one.
		if b.mod.HasDebugInfo() || !dm.HasDebugInfo() || b.mod.CodeID() != b.codeID() || dm.CodeID() != b.codeID() ||
			b.mod.CodeOffset != dm.CodeOffset || b.mod.ExternalDebugInfo != url || len(b.mod.SectionErrors) > 0 {
			t.Fatalf("%s: split pair: shipped dwarf %v, companion dwarf %v, ids %s/%s, code at %#x/%#x, external_debug_info %q %v",
				name, b.mod.HasDebugInfo(), dm.HasDebugInfo(), b.mod.CodeID(), dm.CodeID(), b.mod.CodeOffset, dm.CodeOffset, b.mod.ExternalDebugInfo, b.mod.SectionErrors)
		}
		builds = append(builds, b)
	}
	return builds
}

// wasmStore lays files out under root: native is <id[:2]>/<id[2:]> for the
// module and .debug beside it for the companion, unified
// <id[:2]>/<id[2:]>/executable and /debuginfo (Symbolicator's wasm_code
// and wasm_debug paths).
func wasmStore(t *testing.T, root, layout string, b wasmBuild, withDebug bool) {
	id := b.codeID()
	code, debug := filepath.Join(root, id[:2], id[2:]), filepath.Join(root, id[:2], id[2:]+".debug")
	if layout == "unified" {
		code, debug = filepath.Join(root, id[:2], id[2:], "executable"), filepath.Join(root, id[:2], id[2:], "debuginfo")
	}
	copyFile(t, b.shipped, code)
	if withDebug {
		copyFile(t, b.debug, debug)
	}
}

// TestWasmSplitModules symbolicates every byte offset of the function
// bodies of the shipped modules of several generated programs (C and C++,
// -O0 to -O2) through the HTTP API, all modules in one request addressed
// rel:N as the browser SDK sends them, with the shipped modules and their
// companions on loopback symbol servers in the native and unified layouts
// (and a symstore one, which has no wasm paths). The service must pick the
// companion by build id, never follow external_debug_info, and agree with
// llvm-symbolizer reading the companion on every offset its DWARF covers;
// the other offsets are named from the shipped module's name section.
func TestWasmSplitModules(t *testing.T) {
	builds := buildWasmPairs(t, 5)
	// The site the modules were loaded from, as code_file and debug_file
	// name it, serves the companions under the name external_debug_info
	// gives them: a request there means the service followed the URL.
	site := t.TempDir()
	for _, b := range builds {
		copyFile(t, b.debug, filepath.Join(site, "static", b.mod.ExternalDebugInfo))
	}
	var mu sync.Mutex
	var followed []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		followed = append(followed, r.URL.Path)
		mu.Unlock()
		http.FileServer(http.Dir(site)).ServeHTTP(w, r)
	}))
	defer web.Close()
	roots := map[string]string{"native": t.TempDir(), "unified": t.TempDir(), "symstore": t.TempDir()}
	servers := map[string]*httptest.Server{}
	for layout, root := range roots {
		servers[layout] = httptest.NewServer(http.StripPrefix("/symbols", http.FileServer(http.Dir(root))))
		defer servers[layout].Close()
		for _, b := range builds {
			if layout != "symstore" {
				wasmStore(t, root, layout, b, true)
			}
		}
	}
	// Sources in request order: the native one first, so that it wins the
	// tie between two copies of the companion.
	var sources []any
	for _, layout := range []string{"native", "unified", "symstore"} {
		sources = append(sources, map[string]any{"type": "http", "id": "src-" + layout, "url": servers[layout].URL + "/symbols/",
			"layout": map[string]any{"type": layout}})
	}
	var modules, frames []any
	type ref struct {
		build int
		off   uint64
	}
	var refs []ref
	for i, b := range builds {
		modules = append(modules, b.module(web.URL))
		for _, fn := range b.mod.Functions {
			for a := fn.Addr; a < fn.Addr+fn.Size; a++ {
				refs = append(refs, ref{i, a})
				frames = append(frames, map[string]any{"instruction_addr": hexAddr(a), "addr_mode": fmt.Sprintf("rel:%d", i), "adjust_instruction_addr": false})
			}
		}
	}
	_, srv := testService(t, Config{AllowLoopback: true})
	resp := postJSON(t, srv.URL+"/symbolicate", map[string]any{
		"sources": sources, "options": map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{"frames": frames}}, "modules": modules,
	})
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("answer %d: %.500s", resp.Status, resp.Body)
	}
	mu.Lock()
	if len(followed) > 0 {
		t.Errorf("the service fetched the module's own URLs (code_file, debug_file): %v", followed)
	}
	mu.Unlock()

	for i, m := range arr(t, resp.JSON["modules"], "modules") {
		b := builds[i]
		mod := obj(t, m, "module")
		feat := obj(t, mod["features"], "features")
		if mod["debug_status"] != "found" || mod["arch"] != "wasm32" || mod["image_addr"] != "0x0" ||
			feat["has_debug_info"] != true || feat["has_symbols"] != true || feat["has_unwind_info"] != false || feat["has_sources"] != false {
			t.Errorf("%s: module %v", b.name, mod)
		}
		id := b.codeID()
		nat, uni := servers["native"].URL+"/symbols/"+id[:2]+"/"+id[2:], servers["unified"].URL+"/symbols/"+id[:2]+"/"+id[2:]
		shippedFeat := map[string]any{"has_debug_info": false, "has_unwind_info": false, "has_symbols": true, "has_sources": false}
		debugFeat := map[string]any{"has_debug_info": true, "has_unwind_info": false, "has_symbols": true, "has_sources": false}
		ok := func(f map[string]any) map[string]any { return map[string]any{"status": "ok", "features": f} }
		notfound := map[string]any{"status": "notfound"}
		want := []any{
			map[string]any{"source": "src-native", "location": nat, "download": ok(shippedFeat)},
			map[string]any{"source": "src-native", "location": nat + ".debug", "download": ok(debugFeat), "debug": map[string]any{"status": "ok"}},
			map[string]any{"source": "src-native", "location": nat + ".src.zip", "download": notfound},
			map[string]any{"source": "src-symstore", "location": "No object files listed on this source", "download": notfound},
			map[string]any{"source": "src-unified", "location": uni + "/debuginfo", "download": ok(debugFeat)},
			map[string]any{"source": "src-unified", "location": uni + "/executable", "download": ok(shippedFeat)},
			map[string]any{"source": "src-unified", "location": uni + "/sourcebundle", "download": notfound},
		}
		if got := mod["candidates"]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: candidates\n got %v\nwant %v", b.name, got, want)
		}
	}

	byIndex := map[int][]map[string]any{}
	for _, f := range arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "stacktrace")["frames"], "frames") {
		f := obj(t, f, "frame")
		i := int(f["original_index"].(float64))
		byIndex[i] = append(byIndex[i], f)
	}
	agree, named, total := 0, 0, 0
	next := 0
	for bi, b := range builds {
		var offs []uint64
		first := next
		for next < len(refs) && refs[next].build == bi {
			offs = append(offs, refs[next].off)
			next++
		}
		a, n := compareWasmFrames(t, b.name, b.debug, b.mod.CodeOffset, offs, func(k int) []map[string]any { return byIndex[first+k] }, fmt.Sprintf("rel:%d", bi))
		agree, named, total = agree+a, named+n, total+len(offs)
	}
	t.Logf("%d modules, %d offsets: %d agree with llvm-symbolizer on the companion, %d named from the name section where DWARF has no function", len(builds), total, agree, named)
	if agree+named != total || agree < total/2 {
		t.Errorf("%d of %d offsets differ", total-agree-named, total)
	}
}

// compareWasmFrames compares the frames answered for offs (file offsets
// of the module) with llvm-symbolizer's reading of debugFile, which takes
// code-section-relative addresses for wasm. It returns how many offsets
// agree (whole inline chain: demangled function, file, line) and how many have no
// DWARF function and were named from the name section alone.
func compareWasmFrames(t *testing.T, name, debugFile string, codeOffset uint64, offs []uint64, frames func(int) []map[string]any, mode string) (agree, named int) {
	t.Helper()
	var in strings.Builder
	for _, a := range offs {
		fmt.Fprintf(&in, "0x%x\n", a-codeOffset)
	}
	// llvm-symbolizer demangles (its default), as the frames' function does.
	cmd := exec.Command("llvm-symbolizer", "--obj="+debugFile, "--inlining", "--functions=linkage", "--demangle", "--output-style=LLVM")
	cmd.Stdin = strings.NewReader(in.String())
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v", err)
	}
	blocks := strings.Split(strings.TrimSpace(string(res)), "\n\n")
	if len(blocks) != len(offs) {
		t.Fatalf("%s: llvm-symbolizer answered %d of %d", name, len(blocks), len(offs))
	}
	shown := 0
	for i, blk := range blocks {
		lines := strings.Split(blk, "\n")
		ours := frames(i)
		for _, f := range ours {
			if f["addr_mode"] != mode || f["instruction_addr"] != hexAddr(offs[i]) {
				t.Errorf("%s %#x: frame %v, want addr_mode %s", name, offs[i], f, mode)
			}
		}
		if lines[0] == "??" {
			if len(ours) == 1 && ours[0]["status"] == "symbolicated" && ours[0]["symbol"] != nil && ours[0]["abs_path"] == nil {
				named++
			} else {
				t.Errorf("%s %#x: llvm-symbolizer ??, ours %v", name, offs[i], ours)
			}
			continue
		}
		var want, got []string
		for j := 0; j+1 < len(lines); j += 2 {
			loc := strings.Split(lines[j+1], ":")
			want = append(want, lines[j]+" "+strings.Join(loc[:len(loc)-2], ":")+":"+loc[len(loc)-2])
		}
		for _, f := range ours {
			got = append(got, fmt.Sprintf("%v %v:%v", f["function"], f["abs_path"], f["lineno"]))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			if shown++; shown <= 5 {
				t.Errorf("%s %#x: ours %v, llvm-symbolizer %v", name, offs[i], got, want)
			}
			continue
		}
		agree++
	}
	return agree, named
}

// TestWasmPayloadCandidates asks what Symbolicator's test_wasm_payload
// asks (its module entry verbatim: type wasm, the build id as code_id and
// debug_id, debug_file "file://foo.invalid/demo.wasm", no image_addr,
// frames rel:0) of a native-layout HTTP symbol server under /symbols/
// holding only the debug file, <id[:2]>/<id[2:]>.debug. Its recorded
// answer (integration__symbolication__wasm_payload.snap) lists three
// candidates, in this order: the code file path (notfound), the .debug
// path (ok, with features, debug ok) and the source bundle path
// (.src.zip, notfound). The answer must have exactly that shape, and its
// frames must agree with llvm-symbolizer on every offset.
func TestWasmPayloadCandidates(t *testing.T) {
	for _, n := range []string{"clang", "wasm-ld", "llvm-symbolizer"} {
		requireTool(t, n)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lib.c")
	if err := os.WriteFile(src, []byte(`
static inline int sq(int x) { return x * x; }
__attribute__((noinline)) int add(int a, int b) { return sq(a) + b; }
int internal_func(int n) { int s = 0; for (int i = 0; i < n; i++) s += add(i, n); return s; }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "demo.wasm")
	run(t, "clang", "--target=wasm32", "-g", "-O1", "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", "-o", out, src)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := hex.DecodeString("bda18fd85d4a4eb893022d6bfad846b1")
	data = append(data, wasmCustomSection("build_id", id)...)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	copyFile(t, out, filepath.Join(store, "bd", "a18fd85d4a4eb893022d6bfad846b1.debug"))
	symsrv := httptest.NewServer(http.StripPrefix("/symbols", http.FileServer(http.Dir(store))))
	defer symsrv.Close()

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
	_, srv := testService(t, Config{AllowLoopback: true})
	resp := postJSON(t, srv.URL+"/symbolicate", map[string]any{
		"sources":     []any{map[string]any{"type": "http", "id": "local", "url": symsrv.URL + "/symbols/", "layout": map[string]any{"type": "native"}}},
		"options":     map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{"frames": frames}},
		"modules": []any{map[string]any{"type": "wasm", "debug_id": "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1",
			"code_id": "bda18fd85d4a4eb893022d6bfad846b1", "debug_file": "file://foo.invalid/demo.wasm"}},
	})
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("answer %d: %.500s", resp.Status, resp.Body)
	}
	mod := obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
	features := map[string]any{"has_debug_info": true, "has_unwind_info": false, "has_symbols": true, "has_sources": false}
	loc := symsrv.URL + "/symbols/bd/a18fd85d4a4eb893022d6bfad846b1"
	want := map[string]any{
		"debug_status": "found", "features": features, "arch": "wasm32", "type": "wasm",
		"code_id": "bda18fd85d4a4eb893022d6bfad846b1", "debug_id": "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1",
		"debug_file": "file://foo.invalid/demo.wasm", "image_addr": "0x0",
		"candidates": []any{
			map[string]any{"source": "local", "location": loc, "download": map[string]any{"status": "notfound"}},
			map[string]any{"source": "local", "location": loc + ".debug", "download": map[string]any{"status": "ok", "features": features}, "debug": map[string]any{"status": "ok"}},
			map[string]any{"source": "local", "location": loc + ".src.zip", "download": map[string]any{"status": "notfound"}},
		},
	}
	if !reflect.DeepEqual(mod, want) {
		t.Errorf("module\n got %v\nwant %v", mod, want)
	}
	byIndex := map[int][]map[string]any{}
	for _, f := range arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "stacktrace")["frames"], "frames") {
		f := obj(t, f, "frame")
		i := int(f["original_index"].(float64))
		byIndex[i] = append(byIndex[i], f)
	}
	agree, named := compareWasmFrames(t, "demo", out, m.CodeOffset, offs, func(i int) []map[string]any { return byIndex[i] }, "rel:0")
	t.Logf("%d offsets: %d agree with llvm-symbolizer, %d named from the name section where it has no DWARF function", len(offs), agree, named)
	if agree+named != len(offs) {
		t.Errorf("%d offsets differ", len(offs)-agree-named)
	}
}

// TestWasmShippedModuleOnly: with the companion missing, the shipped
// module itself is the debug file found (by its build id, at the code
// file path): frames get the name section's function names and no lines,
// and the .debug candidate says notfound. A shipped module whose
// external_debug_info section is broken (a length running past the
// section, the URL cut short) is still found: symbolic never reads that
// section, so for Symbolicator the module is whole.
func TestWasmShippedModuleOnly(t *testing.T) {
	b := buildWasmPairs(t, 1)[0]
	broken := filepath.Join(t.TempDir(), "broken.edi")
	if err := os.WriteFile(broken, []byte("\x40app0.deb"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := b
	bad.shipped = filepath.Join(filepath.Dir(broken), "broken.wasm")
	run(t, "llvm-objcopy", "--strip-debug", "--add-section=external_debug_info="+broken, b.debug, bad.shipped)
	data, _ := os.ReadFile(bad.shipped)
	if m, err := wasm.Parse(data); err != nil || len(m.SectionErrors) != 1 || m.ExternalDebugInfo != "" ||
		!strings.Contains(m.SectionErrors[0].Error(), `custom section "external_debug_info"`) {
		t.Fatalf("broken module: %v, section errors %v", err, m.SectionErrors)
	}
	for _, tc := range []struct {
		name string
		b    wasmBuild
	}{{"names its companion", b}, {"broken external_debug_info", bad}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			wasmStore(t, root, "native", tc.b, false)
			symsrv := httptest.NewServer(http.FileServer(http.Dir(root)))
			defer symsrv.Close()
			fn := b.mod.Functions[len(b.mod.Functions)-1]
			_, srv := testService(t, Config{AllowLoopback: true})
			resp := postJSON(t, srv.URL+"/symbolicate", map[string]any{
				"sources": []any{httpSource("native", symsrv.URL)}, "options": map[string]any{"dif_candidates": true},
				"stacktraces": []any{map[string]any{"frames": []any{map[string]any{"instruction_addr": hexAddr(fn.Addr + 1), "addr_mode": "rel:0"}}}},
				"modules":     []any{b.module("https://app.invalid")},
			})
			m, f := firstResult(t, resp)
			feat := obj(t, m["features"], "features")
			if m["debug_status"] != "found" || feat["has_debug_info"] != false || feat["has_symbols"] != true {
				t.Errorf("module %v", m)
			}
			if f["status"] != "symbolicated" || f["function"] != fn.Name || (f["lineno"] != nil && f["lineno"] != 0.0) || f["abs_path"] != nil {
				t.Errorf("frame %v, want %s without a line", f, fn.Name)
			}
			st := candidateStatuses(t, m)
			id := b.codeID()
			if want := map[string]string{
				"native " + symsrv.URL + "/" + id[:2] + "/" + id[2:]:              "ok debug:ok",
				"native " + symsrv.URL + "/" + id[:2] + "/" + id[2:] + ".debug":   "notfound",
				"native " + symsrv.URL + "/" + id[:2] + "/" + id[2:] + ".src.zip": "notfound",
			}; !reflect.DeepEqual(st, want) {
				t.Errorf("candidates %v, want %v", st, want)
			}
		})
	}
}

// TestWasmCandidatePaths: the places a wasm module is looked for, per
// layout, are Symbolicator's (symbolicator-sources paths.rs and its tests'
// WASM_OBJECT_ID): GDB build-id paths in the native layout (wasm_code,
// wasm_debug with .debug, the source bundle with .src.zip), the unified
// layout's executable/debuginfo/sourcebundle under the code id (or the
// debug id's UUID without one), <code_file>/<code_id>/symbols in
// slashsymbols, and nothing in symstore, symstore_index2, ssqp and
// debuginfod, which define no wasm paths (Breakpad paths neither: wasm
// never gets one).
func TestWasmCandidatePaths(t *testing.T) {
	sym := objectID{Type: "wasm", CodeID: "67e9247c814e392ba027dbde6748fcbf", DebugID: "67e9247c-814e-392b-a027-dbde6748fcbf",
		DebugFile: "file://foo.invalid/demo.wasm"}
	withFile := sym
	withFile.CodeFile = "https://app.invalid/static/demo.wasm"
	noCodeID := sym
	noCodeID.CodeID = ""
	// The types a wasm module is looked for with, and its source bundle.
	types := append(fileTypesFor("wasm"), "sourcebundle")
	if got, want := fileTypesFor("wasm"), []string{"wasm_code", "wasm_debug"}; !reflect.DeepEqual(got, want) {
		t.Errorf("file types %q, want %q (FileType::from_object_type)", got, want)
	}
	if p := nativePaths("breakpad", sym); p != nil {
		t.Errorf("native Breakpad path %q for wasm, want none", p)
	}
	for _, tc := range []struct {
		layout, casing string
		id             objectID
		want           []string
	}{
		{"native", "default", sym, []string{"67/e9247c814e392ba027dbde6748fcbf", "67/e9247c814e392ba027dbde6748fcbf.debug", "67/e9247c814e392ba027dbde6748fcbf.src.zip"}},
		{"native", "uppercase", sym, []string{"67/E9247C814E392BA027DBDE6748FCBF", "67/E9247C814E392BA027DBDE6748FCBF.DEBUG", "67/E9247C814E392BA027DBDE6748FCBF.SRC.ZIP"}},
		{"unified", "default", sym, []string{"67/e9247c814e392ba027dbde6748fcbf/executable", "67/e9247c814e392ba027dbde6748fcbf/debuginfo", "67/e9247c814e392ba027dbde6748fcbf/sourcebundle"}},
		{"unified", "default", noCodeID, []string{"67/e9247c814e392ba027dbde6748fcbf/executable", "67/e9247c814e392ba027dbde6748fcbf/debuginfo", "67/e9247c814e392ba027dbde6748fcbf/sourcebundle"}},
		{"native", "default", noCodeID, nil},
		{"slashsymbols", "default", withFile, []string{"demo.wasm/67e9247c814e392ba027dbde6748fcbf/symbols"}},
		{"slashsymbols", "default", sym, nil},
		{"symstore", "default", withFile, nil},
		{"symstore_index2", "default", withFile, nil},
		{"ssqp", "default", withFile, nil},
		{"debuginfod", "default", withFile, nil},
	} {
		t.Run(tc.layout+"/"+tc.casing, func(t *testing.T) {
			got := layout{Type: tc.layout, Casing: tc.casing}.locations(tc.id, filters{}, types)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("locations %q, want %q", got, tc.want)
			}
		})
	}
}
