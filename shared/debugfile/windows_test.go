package debugfile_test

import (
	"bytes"
	stdpe "debug/pe"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/debugfile"
)

// The fixtures in testdata were built from prog.c and mod.c here:
//
//	clang --target=x86_64-pc-windows-msvc -g -gcodeview -O1 -c prog.c -o prog.obj
//	lld-link /debug /nodefaultlib /entry:main /subsystem:console /Brepro /pdbaltpath:prog.pdb prog.obj /out:prog.exe /pdb:prog.pdb
//	clang --target=wasm32 -g -O1 -nostdlib -Wl,--no-entry -Wl,--export-all mod.c -o mod.wasm
//	llvm-objcopy --add-section=build_id=<16 bytes bda18fd8…46b1> mod.wasm
//
// (this wasm-ld has no --build-id; the section is added as Sentry's
// wasm-split adds it).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// winGenProgram writes a C program of n exported functions calling each
// other, so that images differ in size and layout.
func winGenProgram(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "__declspec(dllexport) __declspec(noinline) int f%d(int x) { int y = x * %d;", i, rng.Intn(90)+2)
		if i > 0 {
			fmt.Fprintf(&b, " y += f%d(y ^ %d);", rng.Intn(i), rng.Intn(1000))
		}
		b.WriteString(" return y; }\n")
	}
	fmt.Fprintf(&b, "int main(void) { return f%d(3); }\n", n-1)
	return b.String()
}

var (
	readobjField = func(text, key string) string {
		m := regexp.MustCompile(`(?m)^\s*` + key + `: (.*)$`).FindStringSubmatch(text)
		if m == nil {
			return ""
		}
		return strings.TrimSpace(m[1])
	}
	parenHex   = regexp.MustCompile(`\((0x[0-9A-Fa-f]+)\)`)
	summaryRow = regexp.MustCompile(`(?m)^\s*(GUID|Age): (.*)$`)
)

// TestPEAndPDBAgainstTools builds images and PDBs with clang and lld-link
// (x86 and x64, executables and DLLs, -O0 and -O2, with and without a
// CodeView record) and checks every identity against llvm-readobj (the
// image's machine, TimeDateStamp, SizeOfImage, CodeView GUID, age and PDB
// path) and llvm-pdbutil (the PDB's GUID and age, its DBI machine type).
func TestPEAndPDBAgainstTools(t *testing.T) {
	clang, lld := tool(t, "clang"), tool(t, "lld-link")
	tool(t, "llvm-readobj")
	tool(t, "llvm-pdbutil")
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(16))
	type variant struct {
		target, opt string
		dll, debug  bool
	}
	var vs []variant
	for _, target := range []string{"x86_64-pc-windows-msvc", "i686-pc-windows-msvc"} {
		for _, opt := range []string{"-O0", "-O2"} {
			for _, dll := range []bool{false, true} {
				vs = append(vs, variant{target, opt, dll, true})
			}
		}
		vs = append(vs, variant{target, "-O1", false, false})
	}
	for i, v := range vs {
		name := fmt.Sprintf("p%d", i)
		t.Run(fmt.Sprintf("%s %s dll=%v debug=%v", v.target, v.opt, v.dll, v.debug), func(t *testing.T) {
			src := filepath.Join(dir, name+".c")
			os.WriteFile(src, []byte(winGenProgram(rng, 2+rng.Intn(40))), 0o644)
			obj, exe, pdb := filepath.Join(dir, name+".obj"), filepath.Join(dir, name+".exe"), filepath.Join(dir, name+".pdb")
			run(t, clang, "--target="+v.target, "-g", "-gcodeview", v.opt, "-c", src, "-o", obj)
			args := []string{"/nodefaultlib", "/entry:main", "/subsystem:console", "/out:" + exe, obj}
			if v.debug {
				args = append(args, "/debug", "/pdb:"+pdb)
			}
			if v.dll {
				args = append(args, "/dll")
			}
			run(t, lld, args...)

			ro := string(run(t, "llvm-readobj", "--file-headers", "--coff-debug-directory", exe))
			stamp, _ := strconv.ParseUint(parenHex.FindStringSubmatch(readobjField(ro, "TimeDateStamp"))[1], 0, 32)
			size, _ := strconv.ParseUint(readobjField(ro, "SizeOfImage"), 0, 32)
			arch := map[string]string{"IMAGE_FILE_MACHINE_AMD64": "x86_64", "IMAGE_FILE_MACHINE_I386": "x86"}[strings.Fields(readobjField(ro, "Machine"))[0]]
			want := debugfile.Identity{Format: "pe", Arch: arch, CodeID: fmt.Sprintf("%08x%x", stamp, size), FileType: "executable"}
			if v.debug {
				// The GUID as llvm-readobj prints its bytes, as stored:
				// the first three fields little-endian.
				var g []byte
				for _, f := range strings.Fields(strings.Trim(readobjField(ro, "PDBGUID"), "()")) {
					b, _ := strconv.ParseUint(f, 16, 8)
					g = append(g, byte(b))
				}
				age, _ := strconv.ParseUint(readobjField(ro, "PDBAge"), 10, 32)
				u := hex.EncodeToString([]byte{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6]}) + hex.EncodeToString(g[8:])
				want.DebugID = fmt.Sprintf("%s-%s-%s-%s-%s-%x", u[:8], u[8:12], u[12:16], u[16:20], u[20:], age)
				want.DebugFile = readobjField(ro, "PDBFileName")
			}
			id := identifyFile(t, exe)
			if id != want {
				t.Errorf("image: %+v\nllvm-readobj: %+v", id, want)
			}
			objs, err := debugfile.Objects("7", id)
			if !v.debug {
				var rej *debugfile.RejectedError
				if !errors.As(err, &rej) || !strings.Contains(rej.Reason, "no CodeView") {
					t.Errorf("Objects of an image without a CodeView record: %v, want a rejection saying so", err)
				}
				return
			}
			if err != nil || len(objs) != 1 || objs[0].Kind != "executable" {
				t.Fatalf("image objects %+v %v", objs, err)
			}

			sum := string(run(t, "llvm-pdbutil", "dump", "--summary", pdb))
			fields := map[string]string{}
			for _, m := range summaryRow.FindAllStringSubmatch(sum, -1) {
				fields[m[1]] = strings.TrimSpace(m[2])
			}
			age, _ := strconv.ParseUint(fields["Age"], 10, 32)
			guid := strings.ToLower(strings.Trim(fields["GUID"], "{}"))
			machine := readobjField(string(run(t, "llvm-pdbutil", "pdb2yaml", "-dbi-stream", pdb)), "MachineType")
			wantPDB := debugfile.Identity{Format: "pdb", Arch: map[string]string{"Amd64": "x86_64", "x86": "x86", "I386": "x86"}[machine],
				DebugID: fmt.Sprintf("%s-%x", guid, age), FileType: "debuginfo"}
			pid := identifyFile(t, pdb)
			if pid != wantPDB {
				t.Errorf("pdb: %+v\nllvm-pdbutil: %+v (machine %q)", pid, wantPDB, machine)
			}
			pobjs, err := debugfile.Objects("7", pid)
			breakpad := strings.ReplaceAll(guid, "-", "") + strconv.FormatUint(age, 16)
			if err != nil || len(pobjs) != 1 || pobjs[0].Key != "7/"+breakpad[:2]+"/"+breakpad[2:]+"/debuginfo" ||
				objs[0].Key != "7/"+breakpad[:2]+"/"+breakpad[2:]+"/executable" {
				t.Errorf("objects: image %+v, pdb %+v %v; want both under the Breakpad id %s", objs, pobjs, err, breakpad)
			}
		})
	}
}

// wasmSection encodes a section: id, size, contents.
func wasmSection(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func wasmCustom(name string, payload []byte) []byte {
	return wasmSection(0, append(append(uleb(uint64(len(name))), name...), payload...))
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

// customOnly keeps a module's header and custom sections: a debug
// companion, as wasm-split and emscripten's -gseparate-dwarf leave it.
func customOnly(t *testing.T, mod []byte) []byte {
	out := bytes.Clone(mod[:8])
	for pos := 8; pos < len(mod); {
		id := mod[pos]
		size, n := binary.Uvarint(mod[pos+1:])
		if n <= 0 {
			t.Fatalf("section at %#x", pos)
		}
		end := pos + 1 + n + int(size)
		if id == 0 {
			out = append(out, mod[pos:end]...)
		}
		pos = end
	}
	return out
}

// TestWasm builds modules with clang and wasm-ld (with and without DWARF,
// build ids of several lengths, an external_debug_info section, a debug
// companion holding only the custom sections) and checks their identity
// against the bytes the test put in the build_id section and the sections
// llvm-objdump lists.
func TestWasm(t *testing.T) {
	clang := tool(t, "clang")
	tool(t, "wasm-ld")
	dir := t.TempDir()
	src := filepath.Join(dir, "mod.c")
	os.WriteFile(src, fixture(t, "mod.c"), 0o644)
	build := func(debug bool) []byte {
		out := filepath.Join(dir, fmt.Sprintf("mod-%v.wasm", debug))
		args := []string{"--target=wasm32", "-O1", "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", src, "-o", out}
		if debug {
			args = append(args, "-g")
		}
		run(t, clang, args...)
		b, _ := os.ReadFile(out)
		if listed := string(run(t, "llvm-objdump", "-h", out)); strings.Contains(listed, ".debug_info") != debug {
			t.Fatalf("llvm-objdump -h lists .debug_info=%v for a build with -g=%v:\n%s", !debug, debug, listed)
		}
		return b
	}
	withDebug, plain := build(true), build(false)
	id16 := []byte{0xbd, 0xa1, 0x8f, 0xd8, 0x5d, 0x4a, 0x4e, 0xb8, 0x93, 0x02, 0x2d, 0x6b, 0xfa, 0xd8, 0x46, 0xb1}
	id20 := append(bytes.Clone(id16), 1, 2, 3, 4)
	for _, tc := range []struct {
		name     string
		data     []byte
		buildID  []byte
		file     string
		fileType string
	}{
		{"DWARF, 16-byte build id", append(bytes.Clone(withDebug), wasmCustom("build_id", id16)...), id16, "", "both"},
		{"no DWARF, 20-byte build id", append(bytes.Clone(plain), wasmCustom("build_id", id20)...), id20, "", "executable"},
		{"8-byte build id", append(bytes.Clone(plain), wasmCustom("build_id", id16[:8])...), id16[:8], "", "executable"},
		{"external_debug_info", append(append(bytes.Clone(plain), wasmCustom("build_id", id16)...), wasmCustom("external_debug_info", append(uleb(8), "mod.wasm"...))...), id16, "mod.wasm", "executable"},
		{"broken external_debug_info is ignored", append(append(bytes.Clone(plain), wasmCustom("build_id", id16)...), wasmCustom("external_debug_info", []byte{9, 'x'})...), id16, "", "executable"},
		{"debug companion", customOnly(t, append(bytes.Clone(withDebug), wasmCustom("build_id", id16)...)), id16, "", "debuginfo"},
		{"no build id", withDebug, nil, "", "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := debugfile.Identify(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var u [16]byte
			if len(tc.buildID) >= 16 {
				copy(u[:], tc.buildID)
			}
			h := hex.EncodeToString(u[:])
			want := debugfile.Identity{Format: "wasm", Arch: "wasm32", CodeID: hex.EncodeToString(tc.buildID),
				DebugID: h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], DebugFile: tc.file, FileType: tc.fileType}
			if id != want {
				t.Errorf("identity %+v\nwant     %+v", id, want)
			}
			objs, err := debugfile.Objects("7", id)
			if tc.buildID == nil {
				if err == nil || !strings.Contains(err.Error(), "no build_id") {
					t.Errorf("Objects without a build id: %+v %v, want a rejection naming the build_id section", objs, err)
				}
				return
			}
			code := hex.EncodeToString(tc.buildID)
			if err != nil || len(objs) == 0 || objs[0].Key != "7/"+code[:2]+"/"+code[2:]+"/"+objs[0].Kind {
				t.Errorf("objects %+v %v, want keys under the code id %s", objs, err, code)
			}
		})
	}
}

// TestMalformedWindowsAndWasm: broken PE images, PDBs and wasm modules
// are refused with a reason naming the broken part, never a panic.
func TestMalformedWindowsAndWasm(t *testing.T) {
	exe, pdb, mod := fixture(t, "prog.exe"), fixture(t, "prog.pdb"), fixture(t, "mod.wasm")
	le := binary.LittleEndian
	lfanew := int(le.Uint32(exe[0x3c:]))
	patch := func(b []byte, off int, v ...byte) []byte {
		c := bytes.Clone(b)
		copy(c[off:], v)
		return c
	}
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	// The file offset of the debug directory's first entry (the
	// fixture's CodeView entry).
	pf, err := stdpe.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatal(err)
	}
	debugDir := pf.OptionalHeader.(*stdpe.OptionalHeader64).DataDirectory[stdpe.IMAGE_DIRECTORY_ENTRY_DEBUG]
	entry := -1
	for _, s := range pf.Sections {
		if debugDir.VirtualAddress >= s.VirtualAddress && debugDir.VirtualAddress < s.VirtualAddress+s.Size {
			entry = int(s.Offset + debugDir.VirtualAddress - s.VirtualAddress)
		}
	}
	if entry < 0 || le.Uint32(exe[entry+12:]) != 2 {
		t.Fatal("the fixture's first debug directory entry is not CodeView")
	}
	// PDB superblock fields and stream directory.
	bs := int(le.Uint32(pdb[32:]))
	mapBlock := int(le.Uint32(pdb[52:]))
	dirBlock := int(le.Uint32(pdb[mapBlock*bs:]))
	dir := dirBlock * bs // stream count, then sizes, then blocks
	nStreams := int(le.Uint32(pdb[dir:]))
	firstBlock := dir + 4 + 4*nStreams // stream 0's first block, if any
	stream1 := firstBlock
	if s0 := le.Uint32(pdb[dir+4:]); s0 != 0xFFFFFFFF {
		stream1 += 4 * int((s0+uint32(bs)-1)/uint32(bs))
	}
	for name, tc := range map[string]struct {
		data   []byte
		reason string
	}{
		"PE shorter than the DOS header":  {exe[:40], "too short for the 64-byte DOS header"},
		"e_lfanew past the end":           {patch(exe, 0x3c, 0xff, 0xff, 0, 0), "e_lfanew 0xffff points past the end"},
		"section table cut":               {exe[:lfanew+24+240+10], "section table"},
		"10000 sections":                  {patch(exe, lfanew+6, 0x10, 0x27), "10000 sections"},
		"relocations past the end":        {patch(exe, lfanew+24+240+32, 0xff, 0xff), "COFF relocations"},
		"COFF symbols past the end":       {patch(exe, lfanew+12, 0, 0, 0, 0x10, 0xff, 0xff, 0, 0), "COFF symbol table"},
		"CodeView record past the end":    {patch(exe, entry+24, 0xf0, 0xff, 0xff, 0), "CodeView record at file offset 0xfffff0"},
		"CodeView record of 3000 bytes":   {patch(exe, entry+16, 0xb8, 0x0b), "CodeView record of 3000 bytes"},
		"no optional header":              {patch(patch(exe, lfanew+6, 0, 0), lfanew+20, 0, 0), "COFF object, not an image"},
		"unknown machine":                 {patch(exe, lfanew+4, 0x66, 0x02), "unsupported PE image: unrecognized PE machine: 0x266"},
		"PDB superblock cut":              {pdb[:40], "too short for the MSF superblock"},
		"PDB block size 3000":             {patch(pdb, 32, 0xb8, 0x0b, 0, 0), "block size 3000"},
		"PDB claims more blocks":          {patch(pdb, 40, 0xff, 0xff, 0, 0), "65535 blocks"},
		"PDB block map past the end":      {patch(pdb, 52, 0xff, 0xff, 0, 0), "block map: block 65535 is past the end"},
		"PDB directory of 1 GiB":          {patch(pdb, 44, 0, 0, 0, 0x40), "stream directory: 1073741824 bytes do not fit"},
		"PDB stream count past directory": {patch(pdb, dir, 0xff, 0xff, 0xff, 0x0f), "streams do not fit"},
		"PDB block used twice":            {patch(pdb, stream1, u32(uint32(dirBlock))...), "is used twice"},
		"PDB block zero":                  {patch(pdb, stream1, 0, 0, 0, 0), "block 0, the superblock"},
		"PDB info stream absent":          {patch(pdb, dir+8, 0xff, 0xff, 0xff, 0xff), "the PDB information stream (stream 1) is absent"},
		"PDB info stream of 4 bytes":      {patch(pdb, dir+8, 4, 0, 0, 0), "PDB information stream: 4 bytes"},
		"PDB 2.0":                         {[]byte("Microsoft C/C++ program database 2.00\r\n\x1aJG\x00\x00"), "PDB 2.0"},
		"wasm header cut":                 {mod[:6], "too short"},
		"wasm version 13":                 {patch(mod, 4, 13), "wasm version 13"},
		"wasm section past the end":       {mod[:len(mod)-3], "run past the end of the file"},
		"wasm section size overlong":      {append(bytes.Clone(mod[:8]), 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0), "not a LEB128 u32"},
		"wasm unknown section":            {append(bytes.Clone(mod[:8]), 14, 0), "unknown section id 14"},
		"wasm function count missing":     {append(bytes.Clone(mod[:8]), 3, 0), "no function count"},
		"wasm custom name past section":   {append(bytes.Clone(mod[:8]), 0, 2, 9, 'a'), "its name runs past the section"},
		"wasm duplicate DWARF":            {append(bytes.Clone(mod), wasmCustom(".debug_info", []byte{1})...), `".debug_info" appears twice`},
		"wasm without code or DWARF":      {append(bytes.Clone(mod[:8]), wasmCustom("build_id", []byte{1, 2})...), "neither code"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := debugfile.Identify(tc.data)
			var rej *debugfile.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Identify: %v, want a rejection", err)
			}
			if !strings.Contains(rej.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", rej.Reason, tc.reason)
			}
		})
	}
}

// TestFixtures pins the fixtures' identities, which FuzzIdentify and the
// API tests start from, and their unified-layout keys.
func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want debugfile.Identity
		keys []string
	}{
		{"prog.exe", debugfile.Identity{Format: "pe", Arch: "x86_64", CodeID: "281384574000", DebugID: "859cd5a7-6121-f14b-4c4c-44205044422e-1", DebugFile: "prog.pdb", FileType: "executable"},
			[]string{"42/85/9cd5a76121f14b4c4c44205044422e1/executable"}},
		{"prog.pdb", debugfile.Identity{Format: "pdb", Arch: "x86_64", DebugID: "859cd5a7-6121-f14b-4c4c-44205044422e-1", FileType: "debuginfo"},
			[]string{"42/85/9cd5a76121f14b4c4c44205044422e1/debuginfo"}},
		{"mod.wasm", debugfile.Identity{Format: "wasm", Arch: "wasm32", CodeID: "bda18fd85d4a4eb893022d6bfad846b1", DebugID: "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1", FileType: "both"},
			[]string{"42/bd/a18fd85d4a4eb893022d6bfad846b1/executable", "42/bd/a18fd85d4a4eb893022d6bfad846b1/debuginfo"}},
	} {
		id, err := debugfile.Identify(fixture(t, tc.file))
		if err != nil || id != tc.want {
			t.Errorf("%s: %+v %v\nwant %+v", tc.file, id, err, tc.want)
			continue
		}
		objs, err := debugfile.Objects("42", id)
		var keys []string
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		if err != nil || strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
			t.Errorf("%s: keys %v %v, want %v", tc.file, keys, err, tc.keys)
		}
		if f, msg, ok := debugfile.CheckIdentity(id); !ok {
			t.Errorf("%s: CheckIdentity refuses what Identify produced: %s %s", tc.file, f, msg)
		}
	}
}

// TestIDRules checks the naming rules on values worked out by hand from
// symbolic's documentation and test fixtures.
func TestIDRules(t *testing.T) {
	if got := debugfile.PECodeID(0x5ab38077, 0x9000); got != "5ab380779000" {
		t.Errorf("PECodeID = %s", got)
	}
	if got := debugfile.PECodeID(0x77, 0); got != "000000770" {
		t.Errorf("PECodeID pads the stamp only: %s", got)
	}
	g := [16]byte{0x9d, 0xd9, 0x49, 0x32, 0x40, 0x0c, 0x31, 0x49, 0x86, 0x10, 0xf4, 0xe4, 0xfb, 0x0b, 0x69, 0x36}
	for age, want := range map[uint32]string{0: "3249d99d-0c40-4931-8610-f4e4fb0b6936", 1: "3249d99d-0c40-4931-8610-f4e4fb0b6936-1", 0x1a: "3249d99d-0c40-4931-8610-f4e4fb0b6936-1a"} {
		if got := debugfile.GUIDAgeDebugID(g, age); got != want {
			t.Errorf("GUIDAgeDebugID(age %d) = %s, want %s", age, got, want)
		}
	}
	for in, want := range map[string]string{
		"3249d99d-0c40-4931-8610-f4e4fb0b6936-1":  "3249D99D0C4049318610F4E4FB0B69361",
		"3249D99D-0C40-4931-8610-F4E4FB0B6936":    "3249D99D0C4049318610F4E4FB0B69360",
		"3249d99d-0c40-4931-8610-f4e4fb0b6936-1a": "3249D99D0C4049318610F4E4FB0B69361a",
	} {
		if got, err := debugfile.BreakpadID(in); err != nil || got != want {
			t.Errorf("BreakpadID(%s) = %s %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "3249d99d0c4049318610f4e4fb0b6936", "3249d99d-0c40-4931-8610-f4e4fb0b6936-123456789", "3249d99d-0c40-4931-8610-f4e4fb0b6936-"} {
		if _, err := debugfile.BreakpadID(bad); err == nil {
			t.Errorf("BreakpadID(%q) accepted", bad)
		}
	}
	if got := debugfile.WasmDebugID([]byte{1, 2, 3}); got != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("WasmDebugID of a short id = %s, want the nil UUID", got)
	}
	if got := debugfile.WasmCodeID(nil); got != "" {
		t.Errorf("WasmCodeID(nil) = %q", got)
	}
	for m, want := range map[uint16]string{0x14c: "x86", 0x8664: "x86_64", 0x1c0: "arm", 0xaa64: "arm64", 0x1f0: "ppc", 0x1c4: "unknown", 0x5064: "unknown"} {
		if got := debugfile.WindowsArch(m); got != want {
			t.Errorf("WindowsArch(%#x) = %s, want %s", m, got, want)
		}
	}
}

// TestCheckIdentityFormats: what a client may name for a presigned
// upload of each format, and the field a refusal names.
func TestCheckIdentityFormats(t *testing.T) {
	const dbg = "859cd5a7-6121-f14b-4c4c-44205044422e-1"
	for name, tc := range map[string]struct {
		id    debugfile.Identity
		field string // "" when accepted
	}{
		"pe":                        {debugfile.Identity{Format: "pe", CodeID: "281384574000", DebugID: dbg, DebugFile: `C:\b\prog.pdb`, FileType: "executable"}, ""},
		"pe without code id":        {debugfile.Identity{Format: "pe", DebugID: dbg, FileType: "executable"}, ""},
		"pe with DWARF":             {debugfile.Identity{Format: "pe", DebugID: dbg, FileType: "both"}, ""},
		"pe age 0":                  {debugfile.Identity{Format: "pe", DebugID: dbg[:36], FileType: "executable"}, ""},
		"pe without debug id":       {debugfile.Identity{Format: "pe", CodeID: "281384574000", FileType: "executable"}, "debug_id"},
		"pe debug id in upper case": {debugfile.Identity{Format: "pe", DebugID: strings.ToUpper(dbg), FileType: "executable"}, "debug_id"},
		"pe code id too short":      {debugfile.Identity{Format: "pe", CodeID: "28138457", DebugID: dbg, FileType: "executable"}, "code_id"},
		"pe as debuginfo":           {debugfile.Identity{Format: "pe", DebugID: dbg, FileType: "debuginfo"}, "file_type"},
		"pdb":                       {debugfile.Identity{Format: "pdb", DebugID: dbg, FileType: "debuginfo"}, ""},
		"pdb with a code id":        {debugfile.Identity{Format: "pdb", CodeID: "281384574000", DebugID: dbg, FileType: "debuginfo"}, "code_id"},
		"pdb as executable":         {debugfile.Identity{Format: "pdb", DebugID: dbg, FileType: "executable"}, "file_type"},
		"pdb age of 9 digits":       {debugfile.Identity{Format: "pdb", DebugID: dbg + "00000000", FileType: "debuginfo"}, "debug_id"},
		"wasm":                      {debugfile.Identity{Format: "wasm", CodeID: "bda18fd85d4a4eb893022d6bfad846b1", DebugID: "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1", FileType: "both"}, ""},
		"wasm by debug id":          {debugfile.Identity{Format: "wasm", DebugID: "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1", FileType: "debuginfo"}, ""},
		"wasm without build id":     {debugfile.Identity{Format: "wasm", DebugID: "00000000-0000-0000-0000-000000000000", FileType: "both"}, "code_id"},
		"wasm odd code id":          {debugfile.Identity{Format: "wasm", CodeID: "abc", FileType: "both"}, "code_id"},
		"wasm debug id with age":    {debugfile.Identity{Format: "wasm", CodeID: "ab", DebugID: dbg, FileType: "both"}, "debug_id"},
		"debug file not UTF-8":      {debugfile.Identity{Format: "pe", DebugID: dbg, DebugFile: "a\xffb", FileType: "executable"}, "debug_file"},
		"debug file too long":       {debugfile.Identity{Format: "pe", DebugID: dbg, DebugFile: strings.Repeat("a", 4097), FileType: "executable"}, "debug_file"},
		"sourcebundle":              {debugfile.Identity{Format: "sourcebundle", DebugID: dbg[:36], FileType: "sourcebundle"}, "format"},
	} {
		t.Run(name, func(t *testing.T) {
			field, msg, ok := debugfile.CheckIdentity(tc.id)
			if ok != (tc.field == "") || field != tc.field {
				t.Fatalf("CheckIdentity = %q %q %v, want field %q", field, msg, ok, tc.field)
			}
			if ok {
				if _, err := debugfile.Objects("7", tc.id); err != nil {
					t.Errorf("accepted, but Objects refuses: %v", err)
				}
			}
		})
	}
}

// TestWindowsSourceBundle: the source bundle of a PE/PDB (its manifest's
// debug id has an age) is stored under the Breakpad id, where
// Symbolicator's unified layout looks for a pe module's bundle, not under
// the PE code id.
func TestWindowsSourceBundle(t *testing.T) {
	bundle := zipOf(t, map[string]string{"manifest.json": `{"debug_id":"859cd5a7-6121-f14b-4c4c-44205044422e-1","code_id":"281384574000","arch":"x86_64"}`})
	id, err := debugfile.Identify(bundle)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := debugfile.Objects("42", id)
	if err != nil || len(objs) != 1 || objs[0].Key != "42/85/9cd5a76121f14b4c4c44205044422e1/sourcebundle" {
		t.Errorf("objects %+v %v", objs, err)
	}
}
