package cab

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tool finds an external program and fails the test when it is not
// installed.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// inputs writes files of varied sizes and contents: text (compresses
// well), random bytes (MSZIP stores them), sizes around the 32 KiB block.
func inputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewSource(7))
	random := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	text := func(n int) []byte {
		var b bytes.Buffer
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "line %d: the quick brown fox %x jumps over the lazy dog\n", i, i*i)
		}
		return b.Bytes()[:n]
	}
	files := map[string][]byte{
		"empty.txt":    {},
		"one.bin":      {0x42},
		"block-1.pdb":  text(32767),
		"block.pdb":    text(32768),
		"block+1.pdb":  text(32769),
		"random.dll":   random(100_000),
		"mixed.pdb":    append(append(text(50_000), random(40_000)...), text(70_000)...),
		"large.pdb":    text(1 << 20),
		"zeros.exe":    make([]byte, 300_000),
		"symbols.pdb":  append(random(5000), text(5000)...),
		"app.exe":      random(33_000),
		"tiny-rnd.bin": random(7),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// gcabList parses gcab -l: name, size per line.
func gcabList(t *testing.T, out string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^(\S+) (\d+) `).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		got[m[1]] = n
	}
	return got
}

// TestGcabCabinets extracts cabinets made by gcab (Debian's cabinet
// tool), MSZIP and uncompressed, of one file as symstore stores them and
// of several, and compares every file with the original.
func TestGcabCabinets(t *testing.T) {
	gcab := tool(t, "gcab")
	dir := t.TempDir()
	files := inputs(t, dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sets := [][]string{{"symbols.pdb"}, {"large.pdb"}, {"random.dll"}, {"empty.txt"}, {"block+1.pdb"}, names}
	extracted := 0
	for _, zip := range []bool{true, false} {
		for si, set := range sets {
			name := fmt.Sprintf("set%d-zip%v", si, zip)
			t.Run(name, func(t *testing.T) {
				out := filepath.Join(dir, name+".cab")
				args := []string{"-c", "-n"}
				if zip {
					args = append(args, "-z")
				}
				run(t, dir, gcab, append(append(args, out), set...)...)
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				c, err := Open(data)
				if err != nil {
					t.Fatal(err)
				}
				want := gcabList(t, run(t, dir, gcab, "-l", out))
				if len(c.Files) != len(set) || len(want) != len(set) {
					t.Fatalf("%d files, gcab lists %d, %d were put in", len(c.Files), len(want), len(set))
				}
				for i, f := range c.Files {
					if want[f.Name] != int64(f.Size) {
						t.Errorf("%s: size %d, gcab lists %d", f.Name, f.Size, want[f.Name])
					}
					method := c.Folders[f.Folder].Method
					if (method == MSZIP) != zip {
						t.Errorf("%s: method %s", f.Name, method)
					}
					got, err := c.ReadFile(i, 1<<30)
					if err != nil {
						t.Fatalf("%s: %v", f.Name, err)
					}
					if !bytes.Equal(got, files[f.Name]) {
						t.Errorf("%s: %d bytes extracted differ from the %d-byte original", f.Name, len(got), len(files[f.Name]))
					}
					extracted++
				}
				if len(set) == 1 {
					n, content, err := Extract(data, 1<<30)
					if err != nil || n != set[0] || !bytes.Equal(content, files[set[0]]) {
						t.Errorf("Extract: %q, %d bytes, %v", n, len(content), err)
					}
				} else if _, _, err := Extract(data, 1<<30); !errors.Is(err, ErrSeveralFiles) {
					t.Errorf("Extract of %d files: %v", len(set), err)
				}
			})
		}
	}
	t.Logf("%d files extracted and compared", extracted)
}

// spec is mkcab.py's input.
type spec struct {
	HeaderReserve   int          `json:"header_reserve,omitempty"`
	FolderReserve   int          `json:"folder_reserve,omitempty"`
	DataReserve     int          `json:"data_reserve,omitempty"`
	SetID           int          `json:"set_id,omitempty"`
	ChecksumReserve *bool        `json:"checksum_reserve,omitempty"`
	Folders         []specFolder `json:"folders"`
}

type specFolder struct {
	Method    string      `json:"method"`
	Block     int         `json:"block,omitempty"`
	Final     bool        `json:"final"`
	Checksums bool        `json:"checksums"`
	Files     [][2]string `json:"files"`
}

// mkcab writes a cabinet with testdata/mkcab.py.
func mkcab(t *testing.T, dir, name string, s spec) []byte {
	t.Helper()
	py := tool(t, "python3")
	script, err := filepath.Abs(filepath.Join("testdata", "mkcab.py"))
	if err != nil {
		t.Fatal(err)
	}
	// Read it here so that go test's cache notices when it changes.
	if _, err := os.ReadFile(script); err != nil {
		t.Fatal(err)
	}
	if s.Folders == nil {
		s.Folders = []specFolder{}
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, name+".json")
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".cab")
	run(t, dir, py, script, out, specPath)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPythonCabinets extracts cabinets gcab does not write: reserved
// areas (checksummed with and without them), several folders of both
// methods, small MSZIP blocks (the window carries across many), blocks
// ending in a sync flush instead of a final block, no checksums, UTF-8
// names, files starting inside a block. Cabinets gcab can read too are
// read with gcab first, which checks the writer.
func TestPythonCabinets(t *testing.T) {
	gcab := tool(t, "gcab")
	dir := t.TempDir()
	files := inputs(t, dir)
	p := func(names ...string) [][2]string {
		var out [][2]string
		for _, n := range names {
			out = append(out, [2]string{n, filepath.Join(dir, n)})
		}
		return out
	}
	no := false
	tests := []struct {
		name      string
		s         spec
		gcabReads bool
		renames   map[string]string // name in the cabinet -> input
	}{
		{"reserves", spec{HeaderReserve: 6, FolderReserve: 3, DataReserve: 5, SetID: 77, Folders: []specFolder{
			{Method: "mszip", Final: true, Checksums: true, Files: p("mixed.pdb", "one.bin")},
			{Method: "none", Block: 1000, Checksums: true, Files: p("app.exe")}}}, false, nil},
		{"reserves, libmspack checksums", spec{DataReserve: 9, ChecksumReserve: &no, Folders: []specFolder{
			{Method: "mszip", Final: true, Checksums: true, Files: p("symbols.pdb", "block.pdb")}}}, true, nil},
		// gcab inflates a block with the previous block alone as window,
		// which is the whole window only with makecab's 32 KiB blocks.
		{"small blocks", spec{Folders: []specFolder{
			{Method: "mszip", Block: 1000, Final: true, Checksums: true, Files: p("large.pdb", "tiny-rnd.bin", "empty.txt", "random.dll")}}}, false, nil},
		{"32 KiB blocks", spec{Folders: []specFolder{
			{Method: "mszip", Final: true, Checksums: true, Files: p("large.pdb", "tiny-rnd.bin", "empty.txt", "random.dll")}}}, true, nil},
		{"sync-flushed blocks", spec{Folders: []specFolder{
			{Method: "mszip", Block: 4096, Final: false, Checksums: true, Files: p("mixed.pdb", "zeros.exe")}}}, false, nil},
		{"no checksums", spec{Folders: []specFolder{
			{Method: "mszip", Final: true, Files: p("block-1.pdb")},
			{Method: "none", Block: 32768, Files: p("block+1.pdb")}}}, false, nil},
		{"UTF-8 names", spec{Folders: []specFolder{
			{Method: "mszip", Final: true, Checksums: true, Files: [][2]string{{"naïve Ünïcode.pdb", filepath.Join(dir, "symbols.pdb")}}}}},
			false, map[string]string{"naïve Ünïcode.pdb": "symbols.pdb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := mkcab(t, dir, strings.ReplaceAll(tc.name, " ", "_"), tc.s)
			if tc.gcabReads {
				x := t.TempDir()
				cabPath := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".cab")
				run(t, x, gcab, "-x", cabPath)
				for _, f := range tc.s.Folders {
					for _, in := range f.Files {
						got, err := os.ReadFile(filepath.Join(x, in[0]))
						if err != nil || !bytes.Equal(got, files[in[0]]) {
							t.Fatalf("gcab extracts %s wrong: the test's writer is broken (%v)", in[0], err)
						}
					}
				}
			}
			c, err := Open(data)
			if err != nil {
				t.Fatal(err)
			}
			if c.SetID != uint16(tc.s.SetID) {
				t.Errorf("set id %d, want %d", c.SetID, tc.s.SetID)
			}
			n := 0
			for _, f := range tc.s.Folders {
				n += len(f.Files)
			}
			if len(c.Files) != n || len(c.Folders) != len(tc.s.Folders) {
				t.Fatalf("%d files in %d folders, want %d in %d", len(c.Files), len(c.Folders), n, len(tc.s.Folders))
			}
			for i, f := range c.Files {
				src := f.Name
				if r, ok := tc.renames[f.Name]; ok {
					src = r
				}
				want, ok := files[src]
				if !ok {
					t.Fatalf("file %d named %q: no such input", i, f.Name)
				}
				got, err := c.ReadFile(i, 1<<30)
				if err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes extracted differ from the %d-byte original", f.Name, len(got), len(want))
				}
				if wantTime := time.Date(2024, 2, 29, 13, 37, 58, 0, time.UTC); !f.Modified.Equal(wantTime) {
					t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, wantTime)
				}
			}
		})
	}
}

// TestEmptyCabinet: a cabinet of no file cannot be a symbol file.
func TestEmptyCabinet(t *testing.T) {
	data := mkcab(t, t.TempDir(), "empty", spec{})
	c, err := Open(data)
	if err != nil || len(c.Files) != 0 {
		t.Fatalf("Open: %+v, %v", c, err)
	}
	if _, _, err := Extract(data, 1<<20); !errors.Is(err, ErrNoFile) {
		t.Errorf("Extract: %v", err)
	}
	if _, err := c.ReadFile(0, 1<<20); err == nil || !strings.Contains(err.Error(), "no file 0") {
		t.Errorf("ReadFile(0): %v", err)
	}
}

// gcabOne makes a one-file MSZIP cabinet, as symstore stores a file.
func gcabOne(t *testing.T, name string, content []byte, zip bool) []byte {
	t.Helper()
	gcab := tool(t, "gcab")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-c", "-n"}
	if zip {
		args = append(args, "-z")
	}
	run(t, dir, gcab, append(args, "out.cab", name)...)
	data, err := os.ReadFile(filepath.Join(dir, "out.cab"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLimit checks that the cap is applied from the header's sizes before
// anything is inflated: a cabinet whose data is destroyed still fails
// with *TooLargeError, not with a checksum or inflate error.
func TestLimit(t *testing.T) {
	content := bytes.Repeat([]byte("symbol data "), 100_000) // 1.2 MB
	data := gcabOne(t, "big.pdb", content, true)
	c, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadFile(0, int64(len(content))); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("at the limit: %d bytes, %v", len(got), err)
	}
	// Destroy the first block's deflate data.
	broken := append([]byte(nil), data...)
	first := int(c.Folders[0].Offset)
	packed := int(binary.LittleEndian.Uint16(data[first+4:]))
	for i := first + 10; i < first+8+packed; i++ {
		broken[i] ^= 0x5a
	}
	var tl *TooLargeError
	for _, limit := range []int64{0, 1, int64(len(content)) - 1} {
		_, _, err := Extract(broken, limit)
		if !errors.As(err, &tl) || tl.Size != int64(len(content)) || tl.Limit != limit || tl.Name != "big.pdb" {
			t.Errorf("limit %d: %v; want a TooLargeError for %d bytes", limit, err, len(content))
		}
	}
	if _, _, err := Extract(broken, 1<<30); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("destroyed data within the limit: %v; want a checksum error", err)
	}

	// A small file behind a large one in the same folder: reaching it
	// means inflating the large one, which the limit also bounds.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.pdb"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small.pdb"), content[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	two := mkcab(t, dir, "two", spec{Folders: []specFolder{{Method: "mszip", Final: true, Checksums: true,
		Files: [][2]string{{"big.pdb", filepath.Join(dir, "big.pdb")}, {"small.pdb", filepath.Join(dir, "small.pdb")}}}}})
	c2, err := Open(two)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ReadFile(1, 1000); !errors.As(err, &tl) || tl.Size != int64(len(content))+100 {
		t.Errorf("a file behind %d bytes with a limit of 1000: %v", len(content), err)
	}
	if got, err := c2.ReadFile(1, int64(len(content))); err != nil || !bytes.Equal(got, content[:100]) {
		t.Errorf("with the limit at its offset: %d bytes, %v", len(got), err)
	}
}

// TestUnsupported refuses LZX and Quantum folders and cabinet sets with
// errors that name them.
func TestUnsupported(t *testing.T) {
	data := gcabOne(t, "x.pdb", bytes.Repeat([]byte("abc"), 20000), true)
	le := binary.LittleEndian
	filesAt := le.Uint32(data[16:])
	tests := []struct {
		name string
		edit func(b []byte)
		msg  string
		at   string // "open" or "read"
	}{
		{"LZX", func(b []byte) { le.PutUint16(b[headerSize+6:], 0x1503) }, "folder 0 uses LZX compression", "read"},
		{"Quantum", func(b []byte) { le.PutUint16(b[headerSize+6:], 0x0402) }, "folder 0 uses Quantum compression", "read"},
		{"continued cabinet", func(b []byte) { le.PutUint16(b[30:], flagNext) }, "part of a set", "open"},
		{"file from the previous cabinet", func(b []byte) { le.PutUint16(b[filesAt+8:], 0xfffd) }, "continues from or into another cabinet", "open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), data...)
			tc.edit(b)
			c, err := Open(b)
			if tc.at == "read" {
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.ReadFile(0, 1<<30)
			}
			var ue *UnsupportedError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "not supported") {
				t.Errorf("%v; want an UnsupportedError saying %q", err, tc.msg)
			}
			if _, _, err2 := Extract(b, 1<<30); !errors.As(err2, &ue) {
				t.Errorf("Extract: %v", err2)
			}
		})
	}
}

// TestMalformed breaks a gcab cabinet in every part: each break fails
// with a MalformedError naming the part, never with a panic or a wrong
// extraction.
func TestMalformed(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	data := gcabOne(t, "m.pdb", content, true)
	c, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	filesAt := int(le.Uint32(data[16:]))
	first := int(c.Folders[0].Offset)
	tests := []struct {
		name string
		edit func(b []byte) []byte
		what string
		msg  string
	}{
		{"not a cabinet", func(b []byte) []byte { return []byte("PK\x03\x04") }, "", "no MSCF signature"},
		{"header cut", func(b []byte) []byte { return b[:20] }, "header", "the header alone is 36"},
		{"file truncated", func(b []byte) []byte { return b[:len(b)-100] }, "header", "truncated"},
		{"folders past the end", func(b []byte) []byte { le.PutUint16(b[26:], 60000); return b }, "folders", "60000 folders"},
		{"files past the end", func(b []byte) []byte { le.PutUint16(b[28:], 60000); return b }, "files", "60000 files"},
		{"reserve past the end", func(b []byte) []byte {
			le.PutUint16(b[30:], flagReserve)
			le.PutUint16(b[36:], 0xffff)
			return b
		}, "header", "reserved area of 65535 bytes"},
		{"file in a missing folder", func(b []byte) []byte { le.PutUint16(b[filesAt+8:], 3); return b }, "file 0", "folder 3 of 1"},
		{"name without end", func(b []byte) []byte {
			for i := filesAt + 16; i < filesAt+16+maxName && i < len(b); i++ {
				b[i] = 'a'
			}
			le.PutUint32(b[8:], uint32(len(b)))
			return b
		}, "file 0", "no terminating NUL"},
		{"blocks past the end", func(b []byte) []byte { le.PutUint16(b[headerSize+4:], 60000); return b }, "folder 0", "60000 data blocks"},
		{"block size past the end", func(b []byte) []byte { le.PutUint16(b[first+4:], 0xffff); return b }, "folder 0 block 0", "65535 bytes"},
		{"checksum", func(b []byte) []byte { b[first+20] ^= 1; return b }, "folder 0 block 0", "checksum"},
		{"no CK", func(b []byte) []byte { le.PutUint32(b[first:], 0); b[first+8] = 'X'; return b }, "folder 0 block 0", "no CK signature"},
		{"deflate data", func(b []byte) []byte {
			le.PutUint32(b[first:], 0)
			for i := first + 10; i < first+40; i++ {
				b[i] = 0xff
			}
			return b
		}, "folder 0 block 0", "inflating it gave"},
		{"block says less", func(b []byte) []byte {
			le.PutUint32(b[first:], 0)
			le.PutUint16(b[first+6:], le.Uint16(b[first+6:])-1)
			le.PutUint32(b[filesAt:], uint32(len(content)-1))
			return b
		}, "folder 0 block 0", "it inflates to more than"},
		{"file beyond its folder", func(b []byte) []byte { le.PutUint32(b[filesAt:], uint32(len(content))*3); return b }, "file 0", "whose blocks hold"},
		{"unknown method", func(b []byte) []byte { le.PutUint16(b[headerSize+6:], 7); return b }, "folder 0", "unknown compression type 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(append([]byte(nil), data...))
			_, got, err := Extract(b, 1<<30)
			if err == nil {
				t.Fatalf("extracted %d bytes from a broken cabinet", len(got))
			}
			var me *MalformedError
			if tc.what == "" {
				if tc.msg == "no MSCF signature" && !errors.Is(err, ErrNotCabinet) {
					t.Errorf("%v; want ErrNotCabinet", err)
				}
			} else if !errors.As(err, &me) || me.What != tc.what {
				t.Errorf("%v; want a MalformedError about %q", err, tc.what)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%q does not say %q", err, tc.msg)
			}
		})
	}
}

// TestChecksum checks the CFDATA checksum against the worked example of
// the MS-CAB specification's sample cabinet (its second file's block:
// "#include <stdio.h>..." with checksum 0x30A65ABD over data and header).
func TestChecksum(t *testing.T) {
	block := "#include <stdio.h>\r\n\r\nvoid main(void)\r\n{\r\n    printf(\"Hello, world!\\n\");\r\n}\r\n" +
		"#include <stdio.h>\r\n\r\nvoid main(void)\r\n{\r\n    printf(\"Welcome!\\n\");\r\n}\r\n\r\n"
	hdr := []byte{0x97, 0, 0x97, 0}
	if got := checksum(hdr, checksum([]byte(block), 0)); got != 0x30a65abd {
		t.Errorf("checksum %#08x, the specification gives 0x30a65abd", got)
	}
}
