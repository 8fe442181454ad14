package debugfile_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// compressed builds events/debug-files/crashy.c with its DWARF compressed
// as asked: gcc -gz=zlib|zlib-gnu, or objcopy --compress-debug-sections=zstd
// (this gcc cannot write zstd). Builds are shared by the tests.
func compressed(t *testing.T, how string) []byte {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if b, ok := builds[how]; ok {
		return b
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "crashy")
	src := "../../events/debug-files/crashy.c"
	switch how {
	case "zlib", "zlib-gnu":
		run(t, "gcc", "-g", "-O1", "-gz="+how, "-Wl,--build-id", "-o", out, src)
	case "zstd", "none":
		run(t, "gcc", "-g", "-O1", "-Wl,--build-id", "-o", out+".plain", src)
		run(t, "objcopy", "--compress-debug-sections="+how, out+".plain", out)
	default:
		t.Fatalf("no build %q", how)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	builds[how] = b
	return b
}

var (
	buildsMu sync.Mutex
	builds   = map[string][]byte{}
)

// TestInflateRealFiles: files compressed by the toolchain pass the bound,
// and every compressed section inflates to what objcopy
// --decompress-debug-sections (the reference) writes.
func TestInflateRealFiles(t *testing.T) {
	for _, how := range []string{"zlib", "zlib-gnu", "zstd"} {
		t.Run(how, func(t *testing.T) {
			data := compressed(t, how)
			if err := debugfile.CheckInflation(data, debugfile.InflateLimits{}); err != nil {
				t.Fatalf("CheckInflation: %v", err)
			}
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			os.WriteFile(in, data, 0o644)
			run(t, "objcopy", "--decompress-debug-sections", in, out)
			ref, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			total, err := debugfile.CheckELFClaims(ef, data, debugfile.InflateLimits{})
			if err != nil || total == 0 {
				t.Fatalf("CheckELFClaims = %d, %v", total, err)
			}
			n := 0
			for _, s := range ef.Sections {
				if _, ok := debugfile.ELFCompressed(s, data); !ok {
					continue
				}
				n++
				got, err := debugfile.ELFSectionData(s, data)
				if err != nil {
					t.Fatalf("%s: %v", s.Name, err)
				}
				name := strings.Replace(s.Name, ".zdebug", ".debug", 1)
				want, err := ref.Section(name).Data()
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes inflated, objcopy has %d bytes (%v)", s.Name, len(got), len(want), err)
				}
			}
			if n < 4 {
				t.Errorf("%d compressed sections, want the DWARF ones", n)
			}
		})
	}
}

func TestInflateBound(t *testing.T) {
	for _, tc := range []struct {
		l    debugfile.InflateLimits
		size int64
		want int64
	}{
		{debugfile.InflateLimits{}, 1 << 20, 100 << 20},
		{debugfile.InflateLimits{}, 1 << 30, debugfile.DefaultMaxInflatedBytes},
		{debugfile.InflateLimits{}, 0, 0},
		{debugfile.InflateLimits{Ratio: 10}, 1000, 10000},
		{debugfile.InflateLimits{MaxBytes: 5000}, 1000, 5000},
		{debugfile.InflateLimits{MaxBytes: 1 << 62, Ratio: 1 << 40}, 1 << 40, 1 << 62},
	} {
		if got := tc.l.Bound(tc.size); got != tc.want {
			t.Errorf("%+v.Bound(%d) = %d, want %d", tc.l, tc.size, got, tc.want)
		}
	}
}

// TestInflateBombs: every kind of bomb is refused with an error naming
// the section, what it claims and the bound (before inflating: the claims
// are checked first) or how its data disagrees with its claim (cut off
// one byte past the claim).
func TestInflateBombs(t *testing.T) {
	zlibFile, gnuFile := compressed(t, "zlib"), compressed(t, "zlib-gnu")
	plain := compressed(t, "none")
	bound := debugfile.InflateLimits{}.Bound(int64(len(plain)))
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	info := func(codec elf.CompressionType, zeros, claim uint64) debugfiletest.Section {
		return debugfiletest.Section{Name: ".debug_info", Codec: codec, Data: []byte("DWARF"), Zeros: zeros, Claim: claim}
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		limits debugfile.InflateLimits
		want   string
		over   bool // refused from the headers
	}{
		{"zstd section claims 1 GiB", must(debugfiletest.Rewrite(plain, info(elf.COMPRESS_ZSTD, 0, 1<<30))), debugfile.InflateLimits{},
			"section .debug_info claims 1073741824 bytes decompressed, over the bound of", true},
		{"zlib section claims 1 GiB", must(debugfiletest.SetClaim(zlibFile, ".debug_info", 1<<30)), debugfile.InflateLimits{},
			"section .debug_info claims 1073741824 bytes decompressed, over the bound of", true},
		{".zdebug section claims 1 GiB", must(debugfiletest.SetClaim(gnuFile, ".zdebug_line", 1<<30)), debugfile.InflateLimits{},
			"section .zdebug_line claims 1073741824 bytes decompressed, over the bound of", true},
		{"claims 2^64-1", must(debugfiletest.SetClaim(zlibFile, ".debug_str", 1<<64-1)), debugfile.InflateLimits{},
			"section .debug_str claims 18446744073709551615 bytes", true},
		{"sections each under the bound, over it together", must(debugfiletest.Rewrite(plain,
			debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Claim: uint64(bound) / 2},
			debugfiletest.Section{Name: ".debug_line", Codec: elf.COMPRESS_ZSTD, Claim: uint64(bound) / 2},
			debugfiletest.Section{Name: ".debug_str", Codec: elf.COMPRESS_ZSTD, Claim: uint64(bound) / 2})), debugfile.InflateLimits{},
			"section .debug_str claims", true},
		{"over a configured cap", zlibFile, debugfile.InflateLimits{MaxBytes: 100},
			"over the bound of 100 bytes (the cap)", true},
		{"over a configured ratio", must(debugfiletest.Rewrite(plain, info(elf.COMPRESS_ZSTD, 0, 3*uint64(len(plain))))), debugfile.InflateLimits{Ratio: 2},
			"× the file's", true},
		{"zstd stream runs past a small claim", must(debugfiletest.Rewrite(plain, info(elf.COMPRESS_ZSTD, 1<<30, 4096))), debugfile.InflateLimits{},
			"section .debug_info inflates past the 4096 bytes its header claims", false},
		{"zlib stream runs past a small claim", must(debugfiletest.Rewrite(plain, info(elf.COMPRESS_ZLIB, 8<<20, 4096))), debugfile.InflateLimits{},
			"section .debug_info inflates past the 4096 bytes its header claims", false},
		{"stream stops short of its claim", must(debugfiletest.Rewrite(plain, info(elf.COMPRESS_ZSTD, 95, 1<<20))), debugfile.InflateLimits{},
			"section .debug_info inflates to 100 of the 1048576 bytes its header claims", false},
		{"corrupt zlib stream", must(debugfiletest.Rewrite(plain, debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZLIB, Data: []byte("x")})), debugfile.InflateLimits{},
			"", false}, // patched below
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if tc.name == "corrupt zlib stream" {
				data = corruptStream(t, data, ".debug_info")
				tc.want = "section .debug_info does not decompress to the 1 bytes its header claims: zlib"
			}
			err := debugfile.CheckInflation(data, tc.limits)
			var ie *debugfile.InflateError
			if !errors.As(err, &ie) {
				t.Fatalf("CheckInflation = %v, want an *InflateError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if ie.OverBound() != tc.over {
				t.Errorf("OverBound() = %v, want %v (%v)", ie.OverBound(), tc.over, err)
			}
			if b := tc.limits.Bound(int64(len(data))); tc.over && (ie.Bound != b || !strings.Contains(err.Error(), fmt.Sprintf("over the bound of %d bytes", b))) {
				t.Errorf("error %q, want it to name the bound %d", err, b)
			}
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			_, claimErr := debugfile.CheckELFClaims(ef, data, tc.limits)
			if (claimErr != nil) != tc.over {
				t.Errorf("CheckELFClaims = %v, want an error: %v", claimErr, tc.over)
			}
			if tc.over {
				return
			}
			// ELFSectionData, which the service inflates with, fails
			// the same way.
			_, err = debugfile.ELFSectionData(ef.Section(".debug_info"), data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ELFSectionData = %v, want %q", err, tc.want)
			}
		})
	}
}

// corruptStream overwrites the middle of a compressed section's stream.
func corruptStream(t *testing.T, data []byte, name string) []byte {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	s := ef.Section(name)
	out := bytes.Clone(data)
	for i := s.Offset + 24; i < s.Offset+s.FileSize; i++ {
		out[i] = 0xa5
	}
	return out
}

// TestZipBombs: a source bundle whose entries claim more than the bound,
// or inflate past their claims, is refused naming the entry.
func TestZipBombs(t *testing.T) {
	manifest := debugfiletest.ZipEntry{Name: "manifest.json", Data: []byte(`{"files":{},"debug_id":"f072067b-6e34-1e9b-7f30-6a8aa55e53b6"}`)}
	many := []debugfiletest.ZipEntry{manifest}
	for i := range 40 {
		many = append(many, debugfiletest.ZipEntry{Name: fmt.Sprintf("files/f%d.c", i), Zeros: 1 << 20})
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"entries claim 40 MiB in all", debugfiletest.Zip(true, many...), "bringing the file's total to"},
		{"entry claims 1 GiB", debugfiletest.Zip(true, manifest, debugfiletest.ZipEntry{Name: "files/a.c", Data: []byte("int x;"), Claim: 1 << 30}),
			"entry files/a.c claims 1073741824 bytes decompressed, over the bound of"},
		{"entry inflates past its claim", debugfiletest.Zip(false, manifest, debugfiletest.ZipEntry{Name: "files/a.c", Zeros: 1 << 20, Claim: 10}),
			"entry files/a.c does not decompress to the 10 bytes its header claims"},
		{"entry claims more than deflate can hold", debugfiletest.Zip(true, manifest, debugfiletest.ZipEntry{Name: "files/a.c", Data: []byte("int x;"), Claim: 20000}),
			"of the 20000 bytes its header claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := debugfile.CheckInflation(tc.data, debugfile.InflateLimits{})
			var ie *debugfile.InflateError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckInflation = %v, want an *InflateError saying %q", err, tc.want)
			}
		})
	}
	real, err := os.ReadFile("../../events/debug-files/crashy.src.zip")
	if err != nil {
		t.Fatal(err)
	}
	if err := debugfile.CheckInflation(real, debugfile.InflateLimits{}); err != nil {
		t.Errorf("a real source bundle: %v", err)
	}
}

// TestStoreRefusesBombs: Upload refuses a bomb with the *InflateError and
// writes nothing, not even the project's upload time.
func TestStoreRefusesBombs(t *testing.T) {
	bomb, err := debugfiletest.SetClaim(compressed(t, "zlib"), ".debug_info", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	rec, objs := &recorder{}, memPutter{}
	s := &debugfile.Store{Bucket: "dbg", Blobs: objs, Projects: rec}
	_, _, err = s.Upload(context.Background(), "42", bomb)
	var ie *debugfile.InflateError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "section .debug_info claims 1073741824 bytes decompressed") {
		t.Fatalf("Upload = %v, want an *InflateError", err)
	}
	if len(objs) != 0 || !rec.at.IsZero() {
		t.Errorf("%d objects stored, upload recorded at %v", len(objs), rec.at)
	}
	if _, _, err := s.Upload(context.Background(), "42", compressed(t, "zstd")); err != nil {
		t.Errorf("a real zstd-compressed file: %v", err)
	}
}

// TestCheckIdentityCodeID: a code_id must be whole bytes of hex.
func TestCheckIdentityCodeID(t *testing.T) {
	for code, ok := range map[string]bool{
		"7b0672f0346e9b1e7f306a8aa55e53b6b67611e2": true,
		"ab":  true,
		"abc": false,
		"7b0672f0346e9b1e7f306a8aa55e53b6b67611e": false,
		"":                       false,
		strings.Repeat("ab", 40): true,
		strings.Repeat("ab", 41): false,
	} {
		f, msg, got := debugfile.CheckIdentity(debugfile.Identity{Format: "elf", FileType: "executable", CodeID: code})
		if got != ok || (!ok && (f != "code_id" || !strings.Contains(msg, "two for each byte"))) {
			t.Errorf("code_id %q: %q %q %v, want ok %v", code, f, msg, got, ok)
		}
		if len(code)%2 == 1 {
			// Objects, which names the stored objects, refuses it
			// with a reason too (never a bare error: a 500).
			if _, err := debugfile.Objects("42", debugfile.Identity{Format: "elf", FileType: "executable", CodeID: code}); !errors.Is(err, debugfile.ErrRejected) {
				t.Errorf("Objects with code_id %q: %v, want a rejection", code, err)
			}
		}
	}
}

// FuzzCheckInflation: no input makes CheckInflation panic, and whatever
// it lets through inflates within the bound in ELFSectionData.
func FuzzCheckInflation(f *testing.F) {
	plain, err := os.ReadFile(crashy)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []debugfiletest.Section{
		{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Data: []byte("abc"), Zeros: 1 << 16},
		{Name: ".debug_info", Codec: elf.COMPRESS_ZLIB, Data: []byte("abc"), Zeros: 1 << 14, Claim: 100},
		{Name: ".debug_line", Codec: elf.COMPRESS_ZSTD, Data: []byte("abc"), Claim: 1 << 40},
	} {
		b, err := debugfiletest.Rewrite(plain, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(debugfiletest.Zip(true, debugfiletest.ZipEntry{Name: "a", Zeros: 1 << 16, Claim: 5}))
	// A small cap keeps each input cheap: the fuzzer minimizes inputs by
	// running them thousands of times.
	lim := debugfile.InflateLimits{MaxBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := debugfile.CheckInflation(data, lim)
		if err != nil || len(data) < 4 || string(data[:4]) != "\x7fELF" {
			return
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		total, err := debugfile.CheckELFClaims(ef, data, lim)
		if err != nil {
			t.Fatalf("CheckInflation passed, CheckELFClaims: %v", err)
		}
		if total > uint64(lim.Bound(int64(len(data)))) {
			t.Fatalf("claims %d over the bound", total)
		}
		for _, s := range ef.Sections {
			if claimed, ok := debugfile.ELFCompressed(s, data); ok {
				b, err := debugfile.ELFSectionData(s, data)
				if err != nil || uint64(len(b)) != claimed {
					t.Fatalf("%s: CheckInflation passed, ELFSectionData: %d bytes of %d, %v", s.Name, len(b), claimed, err)
				}
			}
		}
	})
}

// FuzzInflateSection feeds arbitrary streams and claims to the bounded
// inflate of one section: it never panics, never allocates more than
// the claims check allowed, and returns exactly the claim or an error.
func FuzzInflateSection(f *testing.F) {
	plain, err := os.ReadFile(crashy)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(elf.COMPRESS_ZSTD), uint64(4096), debugfiletest.Zstd([]byte("hello"), 1<<16))
	f.Add(uint8(elf.COMPRESS_ZLIB), uint64(5), debugfiletest.Zlib([]byte("hello"), 0))
	f.Add(uint8(elf.COMPRESS_ZLIB), uint64(1<<30), debugfiletest.Zlib(nil, 1<<16))
	f.Add(uint8(7), uint64(3), []byte{1, 2, 3})
	lim := debugfile.InflateLimits{MaxBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, codec uint8, claim uint64, stream []byte) {
		data, err := debugfiletest.Rewrite(plain, debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZLIB, Data: []byte{0}})
		if err != nil {
			t.Fatal(err)
		}
		// Put the fuzzed header and stream in place of the section.
		ef, _ := elf.NewFile(bytes.NewReader(data))
		s := ef.Section(".debug_info")
		data = data[:s.Offset]
		data = append(data, debugfiletest.Chdr(elf.CompressionType(codec), claim)...)
		data = append(data, stream...)
		patchSize(data, ".debug_info", uint64(24+len(stream)))
		ef, err = elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := debugfile.CheckELFClaims(ef, data, lim); err != nil {
			if claim <= uint64(lim.Bound(int64(len(data)))) {
				t.Fatalf("claim %d within the bound refused: %v", claim, err)
			}
			return
		}
		b, err := debugfile.ELFSectionData(ef.Section(".debug_info"), data)
		if err == nil && uint64(len(b)) != claim {
			t.Fatalf("inflated %d bytes, claim %d", len(b), claim)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

// patchSize sets sh_size of the named section of a 64-bit ELF file.
func patchSize(data []byte, name string, size uint64) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return
	}
	le := ef.ByteOrder
	shoff := le.Uint64(data[0x28:])
	shentsize := uint64(le.Uint16(data[0x3a:]))
	for i, s := range ef.Sections {
		if s.Name == name {
			le.PutUint64(data[shoff+uint64(i)*shentsize+32:], size)
		}
	}
}
