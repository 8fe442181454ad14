package objfile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzOpen from freshly built binaries")

// sectionHeader returns the file offset of a section's header in an ELF64
// file.
func sectionHeader(t testing.TB, data []byte, name string) (hdr uint64, s *elf.Section) {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(data[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(data[0x3a:]))
	for i, sec := range ef.Sections {
		if sec.Name == name {
			return shoff + uint64(i)*shentsize, sec
		}
	}
	t.Fatalf("no section %s", name)
	return 0, nil
}

func patched(data []byte, patch func(b []byte)) []byte {
	b := bytes.Clone(data)
	patch(b)
	return b
}

// TestMalformed feeds broken inputs to Open and checks that each error says
// what is wrong.
func TestMalformed(t *testing.T) {
	plain, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g"))
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g", "-gz=zlib"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	infoHdr, _ := sectionHeader(t, plain, ".debug_info")
	_, line := sectionHeader(t, plain, ".debug_line")
	_, abbrev := sectionHeader(t, plain, ".debug_abbrev")
	_, gzInfo := sectionHeader(t, gz, ".debug_info")
	macho := machoFixture(cpuX86_64, [16]byte{1})
	objDir := t.TempDir()
	copyTestdata(t, objDir, "c")
	run(t, objDir, tool(t, "gcc"), "-g", "-c", "-I", "c", "c/table.c", "-o", "table.o")
	object, err := os.ReadFile(filepath.Join(objDir, "table.o"))
	if err != nil {
		t.Fatal(err)
	}
	fat := fatFixture([]uint32{cpuX86_64}, [][]byte{macho})

	tests := []struct {
		name        string
		data        []byte
		arch        string
		unsupported bool   // errors.Is(err, ErrUnsupported)
		malformed   bool   // errors.As(err, *MalformedError)
		want        string // substring of the message
	}{
		{"empty input", nil, "", true, false, "unsupported object file format"},
		{"PE file", append([]byte("MZ\x90\x00"), make([]byte, 60)...), "", true, false, "unsupported object file format"},
		{"ELF magic only", []byte("\x7fELF"), "", false, true, "malformed elf: header"},
		{"ELF truncated in header", plain[:40], "", false, true, "malformed elf: header"},
		{"section past end of file", patched(plain, func(b []byte) { le.PutUint64(b[infoHdr+24:], uint64(len(b))) }), "", false, true,
			"malformed elf: section .debug_info: extends past end of file"},
		{"corrupt zlib stream", patched(gz, func(b []byte) {
			for i := gzInfo.Offset + 24; i < gzInfo.Offset+64; i++ {
				b[i] = 0xa5
			}
		}), "", false, true, "malformed elf: compressed section: section .debug_info does not decompress to the"},
		{"implausible decompressed size", patched(gz, func(b []byte) { le.PutUint64(b[gzInfo.Offset+8:], 1<<40) }), "", false, true,
			"malformed elf: compressed sections: section .debug_info claims 1099511627776 bytes decompressed, over the bound of"},
		{"line table longer than its section", patched(plain, func(b []byte) { le.PutUint32(b[line.Offset:], 0xfffffff0) }), "", false, true,
			"line table at 0x0: unit length"},
		{"unknown line table version", patched(plain, func(b []byte) { le.PutUint16(b[line.Offset+4:], 9) }), "", false, true,
			"line table at 0x0: unsupported line table version 9"},
		{"garbage abbreviations", patched(plain, func(b []byte) {
			for i := abbrev.Offset; i < abbrev.Offset+abbrev.FileSize; i++ {
				b[i] = 0xff
			}
		}), "", false, true, "abbreviations at 0x0 of .debug_abbrev: unexpected end of data"},
		{"ELF object file with DWARF", object, "", true, false, "relocatable object (ET_REL) with DWARF needs linking first"},
		{"Mach-O truncated", macho[:40], "", false, true, "malformed macho: header"},
		{"universal binary with 1000 slices", patched(fat, func(b []byte) { binary.BigEndian.PutUint32(b[4:], 1000) }), "", false, true,
			"malformed macho: universal header: 1000 architectures"},
		{"universal binary without the arch", fat, "ppc", true, false, "universal binary has no ppc slice (has x86_64)"},
		{"universal slice past end of file", patched(fat, func(b []byte) { binary.BigEndian.PutUint32(b[8+12:], 1<<20) }), "", false, true,
			"malformed macho"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenArch(tt.data, tt.arch)
			if err == nil {
				t.Fatalf("OpenArch succeeded: %+v", f.Identity)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v (err: %v)", got, tt.unsupported, err)
			}
			var me *MalformedError
			if got := errors.As(err, &me); got != tt.malformed {
				t.Errorf("errors.As(err, *MalformedError) = %v, want %v (err: %v)", got, tt.malformed, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// FuzzOpen checks that no input makes Open, Identify or Lookup panic, and
// that Identify agrees with Open whenever Open succeeds.
func FuzzOpen(f *testing.F) {
	f.Add(machoFixture(cpuX86_64, [16]byte{1, 2, 3}))
	f.Add(fatFixture([]uint32{cpuX86_64, cpuARM64}, [][]byte{machoFixture(cpuX86_64, [16]byte{1}), machoFixture(cpuARM64, [16]byte{2})}))
	recoverPanics = false
	f.Cleanup(func() { recoverPanics = true })
	f.Fuzz(func(t *testing.T, data []byte) {
		id, idErr := Identify(data)
		file, err := Open(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if idErr != nil {
			t.Fatalf("Open succeeded but Identify failed: %v", idErr)
		}
		if id != file.Identity {
			t.Fatalf("Identify = %+v, Open = %+v", id, file.Identity)
		}
		for i := uint64(0); i < 256; i++ {
			file.Lookup(file.LoadAddress + i*37)
		}
		if ix := file.index; ix != nil {
			for i, s := range ix.segs {
				if i == 256 {
					break
				}
				file.Lookup(s.addr)
				file.Lookup(s.addr - 1)
			}
		}
	})
}

// TestFuzzSeeds checks that the seed corpus (truncated and corrupted real
// binaries) is there and well-formed; with -update-fuzz-seeds it rebuilds
// it first.
func TestFuzzSeeds(t *testing.T) {
	if *updateFuzzSeeds {
		writeFuzzSeeds(t)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpen", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("%d seeds in testdata/fuzz/FuzzOpen, want at least 8: run go test -run TestFuzzSeeds -args -update-fuzz-seeds", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		header, body, ok := strings.Cut(string(b), "\n")
		body = strings.TrimSpace(body)
		if !ok || header != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
			t.Errorf("%s is not a go test fuzz v1 []byte entry", f)
			continue
		}
		if _, err := strconv.Unquote(body[len("[]byte(") : len(body)-1]); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func writeFuzzSeeds(t *testing.T) {
	dir := t.TempDir()
	small := func(sub string, flags ...string) []byte {
		d := filepath.Join(dir, sub)
		out := compile(t, d, "gcc", "c", flags...)
		run(t, d, "strip", "--strip-unneeded", "--keep-section=.debug_*", out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	d5 := small("d5", "-O2", "-g", "-gdwarf-5")
	d4 := small("d4", "-O1", "-g", "-gdwarf-4")
	gz := small("gz", "-O2", "-g", "-gz=zlib")
	flip := func(b []byte, sec string, every int) []byte {
		_, s := sectionHeader(t, b, sec)
		return patched(b, func(c []byte) {
			for i := s.Offset; i < s.Offset+s.FileSize; i += uint64(every) {
				c[i] ^= 0xff
			}
		})
	}
	seeds := map[string][]byte{
		"elf-dwarf5":          d5,
		"elf-dwarf4-half":     d4[:len(d4)/2],
		"elf-header-only":     d5[:64],
		"elf-info-flipped":    flip(d5, ".debug_info", 53),
		"elf-line-flipped":    flip(d4, ".debug_line", 29),
		"elf-zlib":            gz,
		"elf-zlib-flipped":    flip(gz, ".debug_info", 101),
		"elf-rnglists-flip":   flip(d5, ".debug_rnglists", 7),
		"macho-truncated":     machoFixture(cpuX86_64, [16]byte{9})[:200],
		"macho-fat-too-large": patched(fatFixture([]uint32{cpuX86_64}, [][]byte{machoFixture(cpuX86_64, [16]byte{1})}), func(b []byte) { b[7] = 0x40 }),
	}
	out := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
