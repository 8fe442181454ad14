package wasm

import (
	"bytes"
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
	"unicode/utf8"
)

func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run make deps", tool)
		}
	}
}

// genProgram writes a C or C++ program of n functions that call each other,
// with static inline helpers, so that modules differ in size and layout.
func genProgram(rng *rand.Rand, n int, cpp bool) string {
	var b strings.Builder
	if cpp {
		b.WriteString("namespace ns { template <typename T> struct Box { T v; __attribute__((noinline)) T get(int k) const { return v * k + 1; } }; }\n")
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "static inline int helper%d(int x) { return x * %d + (x >> %d); }\n", i, rng.Intn(50)+1, rng.Intn(4)+1)
	}
	for i := 0; i < n; i++ {
		attr := ""
		if rng.Intn(2) == 0 {
			attr = "__attribute__((noinline)) "
		}
		fmt.Fprintf(&b, "%sint f%d(int a) {\n  int s = helper%d(a);\n", attr, i, i)
		for j := 0; j < rng.Intn(4); j++ {
			if i > 0 {
				fmt.Fprintf(&b, "  if (a > %d) s += f%d(a - %d);\n", rng.Intn(100), rng.Intn(i), rng.Intn(5)+1)
			}
		}
		if cpp && rng.Intn(3) == 0 {
			fmt.Fprintf(&b, "  ns::Box<int> bx{a}; s += bx.get(%d);\n", i)
		}
		b.WriteString("  return s;\n}\n")
	}
	return b.String()
}

// customSection encodes a custom section.
func customSection(name string, payload []byte) []byte {
	var body []byte
	body = appendULEB(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := []byte{0}
	out = appendULEB(out, uint64(len(body)))
	return append(out, body...)
}

func appendULEB(b []byte, v uint64) []byte {
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

type refSection struct {
	name         string
	offset, size uint64
}

var (
	readobjType   = regexp.MustCompile(`^\s+Type: (\S+)`)
	readobjSize   = regexp.MustCompile(`^\s+Size: (\d+)`)
	readobjOffset = regexp.MustCompile(`^\s+Offset: (\d+)`)
	readobjName   = regexp.MustCompile(`^\s+Name: (\S+)`)
	objdumpFunc   = regexp.MustCompile(`^([0-9a-f]{8}) <(.*)>:$`)
)

// readobjSections lists sections as llvm-readobj sees them: Offset is the
// section header's file offset, Size the size of its contents after a
// custom section's name.
func readobjSections(t *testing.T, path string) []refSection {
	out, err := exec.Command("llvm-readobj", "--sections", path).Output()
	if err != nil {
		t.Fatalf("llvm-readobj --sections %s: %v", path, err)
	}
	var secs []refSection
	var cur *refSection
	for _, line := range strings.Split(string(out), "\n") {
		if m := readobjType.FindStringSubmatch(line); m != nil {
			secs = append(secs, refSection{name: m[1]})
			cur = &secs[len(secs)-1]
		} else if cur == nil {
			continue
		} else if m := readobjSize.FindStringSubmatch(line); m != nil {
			cur.size, _ = strconv.ParseUint(m[1], 10, 64)
		} else if m := readobjOffset.FindStringSubmatch(line); m != nil {
			cur.offset, _ = strconv.ParseUint(m[1], 10, 64)
		} else if m := readobjName.FindStringSubmatch(line); m != nil {
			cur.name = m[1]
		}
	}
	return secs
}

// objdumpFunctions lists function names and their code-section-relative
// offsets (of the body's size prefix) as llvm-objdump -d prints them.
func objdumpFunctions(t *testing.T, path string) (names []string, offs []uint64) {
	out, err := exec.Command("llvm-objdump", "-d", path).Output()
	if err != nil {
		t.Fatalf("llvm-objdump -d %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if m := objdumpFunc.FindStringSubmatch(line); m != nil && m[2] != "CODE" {
			off, _ := strconv.ParseUint(m[1], 16, 64)
			names = append(names, m[2])
			offs = append(offs, off)
		}
	}
	return names, offs
}

// TestAgainstLLVM builds modules of generated C and C++ programs with
// clang and wasm-ld and compares what Parse reads with llvm-readobj and
// llvm-objdump: the code section's place, every DWARF section, and every
// function's name and body start.
func TestAgainstLLVM(t *testing.T) {
	need(t, "clang", "wasm-ld", "llvm-readobj", "llvm-objdump")
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	var modules, functions, sections int
	for i := 0; i < 8; i++ {
		cpp := i%2 == 1
		opt := []string{"-O0", "-O2", "-O1", "-Os"}[i%4]
		src := filepath.Join(dir, fmt.Sprintf("p%d.c", i))
		if cpp {
			src += "pp"
		}
		if err := os.WriteFile(src, []byte(genProgram(rng, 5+rng.Intn(30), cpp)), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("p%d.wasm", i))
		cmd := exec.Command("clang", "--target=wasm32", "-g", opt, "-nostdlib", "-fno-exceptions",
			"-Wl,--no-entry", "-Wl,--export-all", "-o", out, src)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		buildID := make([]byte, 16+i%5)
		rng.Read(buildID)
		data = append(data, customSection("build_id", buildID)...)
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}

		t.Run(filepath.Base(out)+opt, func(t *testing.T) {
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.BuildID, buildID) {
				t.Errorf("build id %x, want %x", m.BuildID, buildID)
			}
			var code *refSection
			secs := readobjSections(t, out)
			for i, s := range secs {
				switch {
				case s.name == "CODE":
					code = &secs[i]
				case strings.HasPrefix(s.name, "."):
					sections++
					if got := uint64(len(m.Sections[s.name])); got != s.size {
						t.Errorf("section %s: %d bytes, llvm-readobj says %d", s.name, got, s.size)
					}
				}
			}
			if code == nil {
				t.Fatal("llvm-readobj shows no code section")
			}
			if want := code.offset + 1 + uint64(len(appendULEB(nil, code.size))); m.CodeOffset != want {
				t.Errorf("code offset 0x%x, want 0x%x", m.CodeOffset, want)
			}
			names, offs := objdumpFunctions(t, out)
			if len(names) != len(m.Functions) {
				t.Fatalf("%d functions, llvm-objdump shows %d", len(m.Functions), len(names))
			}
			for k, f := range m.Functions {
				prefix := uint64(len(appendULEB(nil, readULEB(data[m.CodeOffset+offs[k]:]))))
				if want := m.CodeOffset + offs[k] + prefix; f.Addr != want || f.Name != names[k] {
					t.Errorf("function %d: %q at 0x%x, llvm-objdump: %q at 0x%x", k, f.Name, f.Addr, names[k], want)
				}
				if k+1 < len(m.Functions) && f.Addr+f.Size != m.Functions[k+1].Addr {
					t.Errorf("function %d ends at 0x%x, the next starts at 0x%x", k, f.Addr+f.Size, m.Functions[k+1].Addr)
				}
			}
			functions += len(m.Functions)
			modules++
		})
	}
	t.Logf("%d modules, %d functions, %d DWARF sections: all as llvm-readobj and llvm-objdump read them", modules, functions, sections)
}

func readULEB(b []byte) uint64 {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			break
		}
	}
	return v
}

// TestIdentifiers checks symbolic's rules: the code id is the whole payload
// in hex, the debug id its first 16 bytes, the nil UUID when shorter.
func TestIdentifiers(t *testing.T) {
	base := []byte("\x00asm\x01\x00\x00\x00")
	tests := []struct {
		name            string
		payload         []byte
		codeID, debugID string
	}{
		{"sentry wasm-split", mustHex("bda18fd85d4a4eb893022d6bfad846b1"), "bda18fd85d4a4eb893022d6bfad846b1", "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1"},
		{"llvm length-prefixed sha1", append([]byte{20}, mustHex("00112233445566778899aabbccddeeff01234567")...),
			"1400112233445566778899aabbccddeeff01234567", "14001122-3344-5566-7788-99aabbccddee"},
		{"short", []byte{1, 2, 3}, "010203", "00000000-0000-0000-0000-000000000000"},
		{"none", nil, "", "00000000-0000-0000-0000-000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := append([]byte(nil), base...)
			if tt.payload != nil {
				data = append(data, customSection("build_id", tt.payload)...)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if m.CodeID() != tt.codeID || m.DebugID() != tt.debugID {
				t.Errorf("code id %q debug id %q, want %q %q", m.CodeID(), m.DebugID(), tt.codeID, tt.debugID)
			}
		})
	}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, _ := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		b[i] = byte(v)
	}
	return b
}

// TestMalformed: every broken module is refused with an error naming the
// part that is wrong.
func TestMalformed(t *testing.T) {
	hdr := "\x00asm\x01\x00\x00\x00"
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "not a WebAssembly module"},
		{"elf", "\x7fELF\x02\x01\x01\x00", "not a WebAssembly module"},
		{"component", "\x00asm\x0d\x00\x01\x00", "version 65549"},
		{"section past end", hdr + "\x01\x10\x00", "type section at offset 0x8: size 0x10 runs past the end"},
		{"unknown section", hdr + "\x20\x00", "unknown section id 32"},
		{"twice", hdr + "\x01\x01\x00\x01\x01\x00", "section appears twice"},
		{"out of order", hdr + "\x03\x01\x00\x01\x01\x00", "type section at offset 0xb: section out of order"},
		{"leb too long", hdr + "\x01\xff\xff\xff\xff\xff\x01", "longer than 32 bits"},
		{"huge vector", hdr + "\x03\x05\xff\xff\xff\xff\x0f", "claims 4294967295 entries"},
		{"bodies without declarations", hdr + "\x0a\x04\x01\x02\x00\x0b", "1 bodies for 0 declared functions"},
		{"body past section", hdr + "\x03\x02\x01\x00\x0a\x04\x01\x09\x00\x0b", "body 0: size 0x9 runs past the section"},
		{"declared without code", hdr + "\x03\x02\x01\x00", "declares 1 functions but the module has no code section"},
		{"bad import kind", hdr + "\x02\x04\x01\x00\x00\x09", "import 0: unknown kind 0x09"},
		{"name not utf-8", hdr + "\x00\x02\x01\xff", "not UTF-8"},
		{"leftover bytes", hdr + "\x03\x03\x00\x00\x00", "0x2 bytes left over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, "not a") && !errors.Is(err, ErrNotWasm) {
				t.Errorf("%v is not ErrNotWasm", err)
			}
		})
	}
}

// TestImportsShiftNames: names index the whole function space, imports
// first, so the first defined function's name is at index imports.
func TestImportsShiftNames(t *testing.T) {
	var m []byte
	m = append(m, "\x00asm\x01\x00\x00\x00"...)
	m = append(m, 1, 4, 1, 0x60, 0, 0) // type: () -> ()
	imp := []byte{2}                   // two function imports and a memory
	imp = append(imp, 1, 'e', 1, 'a', 0, 0)
	imp = append(imp, 1, 'e', 1, 'b', 0, 0)
	imp = append(imp, 1, 'e', 1, 'm', 2, 0, 1)
	m = append(m, 2, byte(len(imp)+1), 3)
	m = append(m, imp...)
	m = append(m, 3, 2, 1, 0)                      // one function of type 0
	m = append(m, 10, 4, 1, 2, 0, 0x0b)            // its body: no locals, end
	names := []byte{1, 7, 2, 0, 1, 'a', 2, 1, 'g'} // sub 1: 0→"a" (an import), 2→"g"
	names[1] = byte(len(names) - 2)
	m = append(m, customSection("name", names)...)
	mod, err := Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(mod.Functions) != 1 || mod.Functions[0].Name != "g" || mod.Functions[0].Index != 2 {
		t.Fatalf("functions %+v, want one named g at index 2", mod.Functions)
	}
}

// oneFunction is a module with one function of type () -> () named "f":
// what the external_debug_info tests hang their sections on.
const oneFunction = "\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x04\x01\x02\x00\x0b" +
	"\x00\x0b\x04name\x01\x04\x01\x00\x01f"

// TestExternalDebugInfo: the URL of an external_debug_info (and
// sourceMappingURL) section is read as the tool conventions write it; a
// broken one is set aside with a reason naming the section and offset,
// and the module stays usable, as symbolic (which does not read these
// sections) keeps it.
func TestExternalDebugInfo(t *testing.T) {
	edi := func(payload string) string { return string(customSection("external_debug_info", []byte(payload))) }
	str := func(s string) string { return string(appendULEB(nil, uint64(len(s)))) + s }
	at := len(oneFunction) + 2 + len("external_debug_info") + 1 // payload offset of a section appended to oneFunction
	tests := []struct {
		name, sections, wantURL, wantMap string
		wantErrs                         []string
	}{
		{"relative name", edi(str("demo.debug.wasm")), "demo.debug.wasm", "", nil},
		{"url", edi(str("https://cdn.example/app.debug.wasm")), "https://cdn.example/app.debug.wasm", "", nil},
		{"with a source map", edi("\x01d") + string(customSection("sourceMappingURL", []byte("\x05x.map"))), "d", "x.map", nil},
		{"length past the end", edi("\x40abc"), "", "", []string{fmt.Sprintf(`custom section "external_debug_info" at offset 0x%x: URL: name of 0x40 bytes at offset 0x%x runs past the end`, at, at+1)}},
		{"not utf-8", edi("\x02\xff\xfe"), "", "", []string{`custom section "external_debug_info"`, "is not UTF-8"}},
		{"bytes after", edi("\x01ab"), "", "", []string{"0x1 bytes after the URL"}},
		{"leb too long", edi("\xff\xff\xff\xff\xff\x01"), "", "", []string{"URL: LEB128 at offset", "longer than 32 bits"}},
		{"no payload", edi(""), "", "", []string{fmt.Sprintf("URL: unexpected end at offset 0x%x", at)}},
		{"empty url", edi("\x00"), "", "", []string{"empty URL"}},
		{"twice", edi("\x01a") + edi("\x01b"), "a", "", []string{"appears twice; the first one is kept"}},
		{"broken source map", string(customSection("sourceMappingURL", []byte("\x09x"))), "", "", []string{`custom section "sourceMappingURL"`, "runs past the end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(oneFunction + tt.sections))
			if err != nil {
				t.Fatalf("Parse: %v (a broken external_debug_info must not cost the module)", err)
			}
			if len(m.Functions) != 1 || m.Functions[0].Name != "f" {
				t.Errorf("functions %+v, want f", m.Functions)
			}
			if m.ExternalDebugInfo != tt.wantURL || m.SourceMappingURL != tt.wantMap {
				t.Errorf("external_debug_info %q, sourceMappingURL %q; want %q, %q", m.ExternalDebugInfo, m.SourceMappingURL, tt.wantURL, tt.wantMap)
			}
			if (len(m.SectionErrors) > 0) != (len(tt.wantErrs) > 0) {
				t.Fatalf("section errors %v, want ones containing %q", m.SectionErrors, tt.wantErrs)
			}
			for _, err := range m.SectionErrors {
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Errorf("%v is not a *FormatError", err)
				}
				for _, w := range tt.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x04\x01\x02\x00\x0b"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\x0a\x08build_id\x01\x02"))
	f.Add([]byte(oneFunction + string(customSection("external_debug_info", []byte("\x0fdemo.debug.wasm")))))
	f.Add([]byte(oneFunction + string(customSection("external_debug_info", []byte("\x40abc")))))
	f.Add([]byte(oneFunction + string(customSection("sourceMappingURL", []byte("\xff\xff\xff\xff\xff\x01")))))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for _, err := range m.SectionErrors {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset < 8 || fe.Offset > len(data) {
				t.Fatalf("section error %v: want a *FormatError at an offset inside the %d bytes", err, len(data))
			}
		}
		if !utf8.ValidString(m.ExternalDebugInfo) || !utf8.ValidString(m.SourceMappingURL) {
			t.Fatalf("URLs %q %q are not UTF-8", m.ExternalDebugInfo, m.SourceMappingURL)
		}
		for _, fn := range m.Functions {
			if fn.Addr+fn.Size > uint64(len(data)) {
				t.Fatalf("function at 0x%x+0x%x outside %d bytes", fn.Addr, fn.Size, len(data))
			}
		}
		_ = m.CodeID() + m.DebugID()
	})
}
