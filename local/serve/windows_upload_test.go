package serve_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/local/symbolicator/wasm"
	"github.com/symflow/symflow/shared/api"
)

// needTool fails the test when a program the test builds with is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// winProgram is a Windows program built here without a Windows SDK:
// clang's MSVC target with CodeView debug info, linked by lld-link, which
// writes the PDB. Its functions are exported so that llvm-readobj names
// their addresses.
const winProgram = `__declspec(dllexport) __declspec(noinline) int crash_here(volatile int *p) { return *p + 1; }
__declspec(dllexport) int main(void) { return crash_here((volatile int *)0) * 3; }
`

// wasmProgram is built with clang's wasm32 target and wasm-ld.
const wasmProgram = `__attribute__((noinline)) int wasm_helper(int x) { return x * 7 + 1; }
int wasm_entry(int y) { return wasm_helper(y) + wasm_helper(y + 1); }
`

var exportRE = regexp.MustCompile(`Name: (\w+)\s+RVA: (0x[0-9A-Fa-f]+)`)

// buildWindows returns the paths of the image and its PDB and the RVAs of
// its exported functions.
func buildWindows(t *testing.T, dir string) (exe, pdb string, rvas map[string]uint64) {
	os.WriteFile(filepath.Join(dir, "prog.c"), []byte(winProgram), 0o644)
	runTool(t, dir, "clang", "--target=x86_64-pc-windows-msvc", "-g", "-gcodeview", "-O1", "-c", "prog.c", "-o", "prog.obj")
	runTool(t, dir, "lld-link", "/debug", "/nodefaultlib", "/entry:main", "/subsystem:console", "prog.obj", "/out:prog.exe", "/pdb:prog.pdb")
	rvas = map[string]uint64{}
	for _, m := range exportRE.FindAllStringSubmatch(runTool(t, dir, "llvm-readobj", "--coff-exports", "prog.exe"), -1) {
		v, _ := strconv.ParseUint(m[2], 0, 64)
		rvas[m[1]] = v
	}
	if rvas["crash_here"] == 0 || rvas["main"] == 0 {
		t.Fatalf("llvm-readobj named no exports: %v", rvas)
	}
	return filepath.Join(dir, "prog.exe"), filepath.Join(dir, "prog.pdb"), rvas
}

// buildWasm links a module with DWARF and appends a build_id custom
// section of 16 random bytes, as Sentry's wasm-split adds it (this
// wasm-ld has no --build-id).
func buildWasm(t *testing.T, dir string) (data, buildID []byte) {
	os.WriteFile(filepath.Join(dir, "mod.c"), []byte(wasmProgram), 0o644)
	runTool(t, dir, "clang", "--target=wasm32", "-g", "-O1", "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", "mod.c", "-o", "mod.wasm")
	data, err := os.ReadFile(filepath.Join(dir, "mod.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	buildID = make([]byte, 16)
	rand.Read(buildID)
	body := append([]byte{8}, "build_id"...)
	body = append(body, buildID...)
	return append(append(data, 0, byte(len(body))), body...), buildID
}

func uploadDebugFile(t *testing.T, base string, data []byte) (int, api.DebugFileUploaded, []byte) {
	t.Helper()
	code, body := call(t, "POST", base+"/v1/projects/42/debug-files", "application/octet-stream", data)
	var up api.DebugFileUploaded
	if code == 201 {
		if err := json.Unmarshal(body, &up); err != nil {
			t.Fatalf("upload answer: %v: %s", err, body)
		}
	}
	return code, up, body
}

// TestWindowsAndWasmUploadEndToEnd uploads a PE image, its PDB and a wasm
// module through the debug-file route, then symbolicates frames in them
// through the embedded Symbolicator, which finds the files on the
// project's internal source (the debug-files bucket, unified layout) where
// the upload stored them. Malformed files are refused with 422 and the
// part that is wrong.
func TestWindowsAndWasmUploadEndToEnd(t *testing.T) {
	dir := t.TempDir()
	exePath, pdbPath, rvas := buildWindows(t, dir)
	exe, _ := os.ReadFile(exePath)
	pdb, _ := os.ReadFile(pdbPath)
	mod, buildID := buildWasm(t, dir)
	parsed, err := wasm.Parse(mod)
	if err != nil {
		t.Fatal(err)
	}

	_, _, srv := start(t, "")
	if code, body := call(t, "PUT", srv.URL+"/v1/projects/42/config", "application/json", readFile(t, "events/project/sample-project.json")); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}

	uploads := map[string]api.DebugFileUploaded{}
	for name, data := range map[string][]byte{"exe": exe, "pdb": pdb, "wasm": mod} {
		code, up, body := uploadDebugFile(t, srv.URL, data)
		if code != 201 {
			t.Fatalf("upload %s: %d %s", name, code, body)
		}
		uploads[name] = up
	}
	peID, pdbID, wasmID := uploads["exe"].Identity, uploads["pdb"].Identity, uploads["wasm"].Identity
	if peID.Format != "pe" || pdbID.Format != "pdb" || peID.DebugID == "" || peID.DebugID != pdbID.DebugID ||
		peID.DebugFile != pdbPath || peID.Arch != "x86_64" || pdbID.Arch != "x86_64" {
		t.Errorf("PE %+v and PDB %+v: want one debug id and the PDB's path", peID, pdbID)
	}
	breakpad := strings.ToLower(strings.ReplaceAll(peID.DebugID[:36], "-", "")) + strings.TrimPrefix(peID.DebugID[36:], "-")
	wantKeys := map[string]string{
		"exe":  "42/" + breakpad[:2] + "/" + breakpad[2:] + "/executable",
		"pdb":  "42/" + breakpad[:2] + "/" + breakpad[2:] + "/debuginfo",
		"wasm": "42/" + hex.EncodeToString(buildID)[:2] + "/" + hex.EncodeToString(buildID)[2:] + "/executable",
	}
	for name, key := range wantKeys {
		if objs := uploads[name].Objects; len(objs) == 0 || objs[0].Key != key {
			t.Errorf("%s stored as %+v, want first key %s", name, objs, key)
		}
	}
	if wasmID.Format != "wasm" || wasmID.FileType != "both" || wasmID.CodeID != hex.EncodeToString(buildID) || len(uploads["wasm"].Objects) != 2 {
		t.Errorf("wasm %+v stored as %+v", wasmID, uploads["wasm"].Objects)
	}

	// Malformed files: 422, and the message names what is wrong.
	badCV := bytes.Clone(exe)
	if i := bytes.Index(badCV, []byte("RSDS")); i < 0 {
		t.Fatal("no RSDS record in the image")
	}
	for name, tc := range map[string]struct {
		data []byte
		says string
	}{
		"PE truncated in its section table": {exe[:0x180], "section table"},
		"PDB cut short":                     {pdb[:len(pdb)/2], "PDB superblock"},
		"PDB with a huge block size":        {append(append(bytes.Clone(pdb[:32]), 0, 0, 1, 0), pdb[36:]...), "block size"},
		"wasm cut inside a section":         {mod[:len(mod)-5], "wasm section"},
		"wasm of version 2":                 {append(append([]byte("\x00asm"), 2, 0, 0, 0), mod[8:]...), "wasm version 2"},
	} {
		code, _, body := uploadDebugFile(t, srv.URL, tc.data)
		var e struct {
			Error api.Error `json:"error"`
		}
		json.Unmarshal(body, &e)
		if code != 422 || e.Error.Code != api.CodeNotADebugFile || !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s: %d %s, want 422 saying %q", name, code, body, tc.says)
		}
	}

	// Symbolicate frames in both modules: the PE's two exports (the
	// caller's address after the call's first bytes) and the wasm
	// functions' first instructions (file offsets, rel:1).
	const imageBase = 0x140000000
	var wasmFrames []any
	var wasmWant []string
	for _, fn := range parsed.Functions {
		if fn.Name == "wasm_helper" || fn.Name == "wasm_entry" {
			wasmFrames = append(wasmFrames, map[string]any{"instruction_addr": fmt.Sprintf("%#x", fn.Addr+1), "addr_mode": "rel:1", "adjust_instruction_addr": false})
			wasmWant = append(wasmWant, fn.Name)
		}
	}
	if len(wasmWant) != 2 {
		t.Fatalf("wasm functions %+v", parsed.Functions)
	}
	payload, _ := json.Marshal(map[string]any{
		"stacktraces": []any{
			map[string]any{"frames": []any{
				map[string]any{"instruction_addr": fmt.Sprintf("%#x", imageBase+rvas["crash_here"])},
				map[string]any{"instruction_addr": fmt.Sprintf("%#x", imageBase+rvas["main"]+5)},
			}},
			map[string]any{"frames": wasmFrames},
		},
		"modules": []any{
			map[string]any{"type": "pe", "code_id": peID.CodeID, "code_file": `C:\app\prog.exe`, "debug_id": peID.DebugID,
				"debug_file": `C:\app\prog.pdb`, "image_addr": fmt.Sprintf("%#x", imageBase), "image_size": 0x10000},
			map[string]any{"type": "wasm", "code_id": wasmID.CodeID, "debug_id": wasmID.DebugID, "code_file": "https://example.invalid/mod.wasm",
				"image_addr": "0x0", "image_size": len(mod)},
		},
	})
	code, body := call(t, "POST", srv.URL+"/v1/projects/42/events/0123456789abcdef0123456789abcdef/symbolicate", "", payload)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sub api.Submitted
	json.Unmarshal(body, &sub)
	var st api.ExecutionStatus
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		code, body = call(t, "GET", sub.StatusURL, "", nil)
		st = api.ExecutionStatus{}
		json.Unmarshal(body, &st)
		if code != 200 || st.Status != "RUNNING" || time.Now().After(deadline) {
			break
		}
	}
	if st.Status != "SUCCEEDED" {
		t.Fatalf("execution %d: %s", code, body)
	}
	var res struct {
		Stacktraces []struct {
			Frames []struct {
				Status   string `json:"status"`
				Function string `json:"function"`
			} `json:"frames"`
		} `json:"stacktraces"`
		Modules []struct {
			Type        string `json:"type"`
			DebugStatus string `json:"debug_status"`
			Candidates  []struct {
				Source   string `json:"source"`
				Location string `json:"location"`
				Download struct {
					Status string `json:"status"`
				} `json:"download"`
			} `json:"candidates"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(st.Result, &res); err != nil {
		t.Fatalf("result: %v\n%s", err, st.Result)
	}
	if len(res.Modules) != 2 || res.Modules[0].DebugStatus != "found" || res.Modules[1].DebugStatus != "found" {
		t.Errorf("modules not found on the internal source: %s", st.Result)
	}
	var got [][]string
	for _, s := range res.Stacktraces {
		var fns []string
		for _, f := range s.Frames {
			if f.Status != "symbolicated" {
				fns = append(fns, f.Status)
				continue
			}
			name, _, _ := strings.Cut(f.Function, "(") // PDB names carry the parameters
			fns = append(fns, name)
		}
		got = append(got, fns)
	}
	want := [][]string{{"crash_here", "main"}, wasmWant}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("functions %v, want %v\n%s", got, want, st.Result)
	}
}
