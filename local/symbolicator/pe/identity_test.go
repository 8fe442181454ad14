package pe

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestIdentityAgainstTools checks every generated image's identity against
// llvm-readobj (headers, debug directory) and llvm-pdbutil (the GUID and
// age as the PDB itself records them, which pins the GUID's byte order),
// and against symbolic's formatting rules: code_id is the timestamp as
// eight lowercase hex digits and SizeOfImage in lowercase hex; debug_id is
// the GUID in lowercase with "-<age in hex>".
func TestIdentityAgainstTools(t *testing.T) {
	readobj, pdbutil, objdump := tool(t, "llvm-readobj"), tool(t, "llvm-pdbutil"), tool(t, "llvm-objdump")
	for _, img := range images(t) {
		t.Run(img.name, func(t *testing.T) {
			f := openImage(t, img)
			ro := run(t, readobj, "--file-headers", "--coff-debug-directory", img.path)
			header := ro[strings.Index(ro, "ImageFileHeader"):]
			stamp := hexField(t, header, "TimeDateStamp")
			size := decField(t, ro, "SizeOfImage")
			wantCodeID := fmt.Sprintf("%08x%x", stamp, size)
			if f.CodeID != wantCodeID || f.TimeDateStamp != uint32(stamp) || f.SizeOfImage != uint32(size) {
				t.Errorf("code id %q (stamp %#x, size %#x), readobj gives stamp %#x size %#x: want %q", f.CodeID, f.TimeDateStamp, f.SizeOfImage, stamp, size, wantCodeID)
			}

			sum := run(t, pdbutil, "dump", "--summary", img.pdb)
			m := regexp.MustCompile(`GUID: \{([0-9A-F-]+)\}`).FindStringSubmatch(sum)
			if m == nil {
				t.Fatalf("no GUID in llvm-pdbutil output:\n%s", sum)
			}
			age := decField(t, sum, "Age")
			if got := decField(t, ro, "PDBAge"); got != age {
				t.Errorf("readobj PDBAge %d, pdbutil Age %d", got, age)
			}
			wantDebugID := strings.ToLower(m[1]) + fmt.Sprintf("-%x", age)
			if f.DebugID != wantDebugID {
				t.Errorf("debug id %q, want %q (PDB GUID {%s}, age %d)", f.DebugID, wantDebugID, m[1], age)
			}
			if want := strField(t, ro, "PDBFileName"); f.DebugFile != want {
				t.Errorf("debug file %q, want %q", f.DebugFile, want)
			}

			wantArch := map[string]string{"x86_64": "x86_64", "i386": "x86"}[strField(t, ro, "Arch")]
			if f.Arch != wantArch || wantArch == "" {
				t.Errorf("arch %q, readobj says %q", f.Arch, strField(t, ro, "Arch"))
			}
			if want := strings.Contains(header[:strings.Index(header, "}")], "IMAGE_FILE_DLL "); f.Library != want {
				t.Errorf("Library %v, readobj characteristics say %v", f.Library, want)
			}
			if want := hexField(t, ro, "Magic") == 0x20b; f.PE32Plus != want {
				t.Errorf("PE32Plus %v, want %v", f.PE32Plus, want)
			}
			if want := decOrHex(t, ro, "ImageBase"); f.ImageBase != want {
				t.Errorf("ImageBase %#x, want %#x", f.ImageBase, want)
			}

			dll := ""
			if m := regexp.MustCompile(`(?m)^ DLL name: (.*)$`).FindStringSubmatch(run(t, objdump, "-p", img.path)); m != nil {
				dll = m[1]
			}
			if f.CodeFile != dll {
				t.Errorf("code file %q, llvm-objdump gives DLL name %q", f.CodeFile, dll)
			}
			// clang -g on assembly writes DWARF, which lld-link keeps.
			dwarf := strings.Contains(run(t, readobj, "--sections", img.path), "Name: .debug_info ")
			wantType := map[bool]string{false: "executable", true: "both"}[dwarf]
			if f.Kind != "pe" || f.FileType != wantType {
				t.Errorf("kind %q file type %q, want pe %s", f.Kind, f.FileType, wantType)
			}
			wantUnwind := img.x64 && hexField(t, ro, "ExceptionTableSize") > 0
			if f.Features.HasUnwindInfo != wantUnwind || f.Features.HasSymbols != (dll != "") || f.Features.HasDebugInfo != dwarf {
				t.Errorf("features %+v: want unwind %v, symbols %v, debug info %v", f.Features, wantUnwind, dll != "", dwarf)
			}

			id, err := Identify(img.data)
			if err != nil || id != f.Identity {
				t.Errorf("Identify = %+v, %v; Open's identity %+v", id, err, f.Identity)
			}
		})
	}
}

func decOrHex(t testing.TB, text, key string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `: (0x[0-9A-Fa-f]+|\d+)\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in output", key)
	}
	var v uint64
	if _, err := fmt.Sscan(m[1], &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// codeViewEntry returns the file offset of the first debug directory
// entry of a generated image (lld writes one, of type CodeView).
func codeViewEntry(t *testing.T, f *File) int {
	t.Helper()
	opt := int(binary.LittleEndian.Uint32(f.data[0x3c:])) + 24
	dirs := opt + 96
	if f.PE32Plus {
		dirs = opt + 112
	}
	rva := binary.LittleEndian.Uint32(f.data[dirs+dirDebug*8:])
	b, ok := f.bytesAt(rva, debugEntrySize)
	if !ok {
		t.Fatal("no debug directory")
	}
	return cap(f.data) - cap(b) // b is f.data[offset:...]
}

// TestDebugIDRules checks symbolic's two special cases on edited images:
// an age of 0 is left out of the debug id, and a Portable PDB entry
// (MinorVersion 0x504d) takes the entry's TimeDateStamp as the age.
func TestDebugIDRules(t *testing.T) {
	img := images(t)[0]
	base := openImage(t, img)
	entry := codeViewEntry(t, base)
	rec := int(binary.LittleEndian.Uint32(img.data[entry+24:]))
	guid := base.DebugID[:36]

	tests := []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"age 0", func(b []byte) { binary.LittleEndian.PutUint32(b[rec+20:], 0) }, guid},
		{"age 0x1f", func(b []byte) { binary.LittleEndian.PutUint32(b[rec+20:], 0x1f) }, guid + "-1f"},
		{"portable pdb", func(b []byte) {
			binary.LittleEndian.PutUint16(b[entry+10:], 0x504d)
			binary.LittleEndian.PutUint32(b[entry+4:], 0xdeadbeef)
		}, guid + "-deadbeef"},
		{"NB10 record", func(b []byte) { copy(b[rec:], "NB10") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), img.data...)
			tc.edit(b)
			id, err := Identify(b)
			if err != nil {
				t.Fatal(err)
			}
			if id.DebugID != tc.want {
				t.Errorf("debug id %q, want %q", id.DebugID, tc.want)
			}
			if tc.want == "" && id.DebugFile != "" {
				t.Errorf("debug file %q from a record that is not RSDS", id.DebugFile)
			}
		})
	}
}
