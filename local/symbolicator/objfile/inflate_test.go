package objfile

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// TestOpenBombs: files whose compressed sections claim more than the
// bound are refused by Open and Identify from their headers, allocating
// next to nothing; sections whose streams disagree with their claims are
// cut off and malformed. Every error names the section.
func TestOpenBombs(t *testing.T) {
	plain, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g"))
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g", "-gz=zlib"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	zstdGiB := must(debugfiletest.Rewrite(plain,
		debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Zeros: 1 << 30},
		debugfiletest.Section{Name: ".debug_line", Codec: elf.COMPRESS_ZSTD, Zeros: 1 << 30},
		debugfiletest.Section{Name: ".debug_str", Codec: elf.COMPRESS_ZSTD, Zeros: 1 << 30}))
	for _, tc := range []struct {
		name     string
		data     []byte
		opts     Options
		identify bool   // Identify fails too (the bound is checked there)
		want     string // substring of the error
	}{
		{"zstd sections inflating to 1 GiB each", zstdGiB, Options{}, true,
			"malformed elf: compressed sections: section .debug_info claims 1073741824 bytes decompressed, over the bound of"},
		{"zlib section claiming 1 GiB", must(debugfiletest.SetClaim(gz, ".debug_info", 1<<30)), Options{}, true,
			"section .debug_info claims 1073741824 bytes decompressed, over the bound of"},
		{"compressed .symtab claiming 1 GiB", must(debugfiletest.Rewrite(plain,
			debugfiletest.Section{Name: ".symtab", Codec: elf.COMPRESS_ZSTD, Zeros: 24, Claim: 1 << 30})), Options{}, true,
			"section .symtab claims 1073741824 bytes"},
		{"over a configured cap", gz, Options{Inflate: debugfile.InflateLimits{MaxBytes: 1000}}, true,
			"over the bound of 1000 bytes (the cap)"},
		{"zstd stream past a 64-byte claim", must(debugfiletest.Rewrite(plain,
			debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Zeros: 1 << 30, Claim: 64})), Options{}, false,
			"malformed elf: compressed section: section .debug_info inflates past the 64 bytes its header claims"},
		{"zlib stream short of its claim", must(debugfiletest.Rewrite(plain,
			debugfiletest.Section{Name: ".debug_line", Codec: elf.COMPRESS_ZLIB, Data: []byte("short"), Claim: 4096})), Options{}, false,
			"section .debug_line inflates to 5 of the 4096 bytes its header claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := OpenWith(tc.data, tc.opts)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Open succeeded: %+v", f.Identity)
			}
			var me *MalformedError
			var ie *debugfile.InflateError
			if !errors.As(err, &me) || !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not a *MalformedError wrapping an *InflateError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			// Nothing near the claims was allocated: the claims are
			// refused before inflating, lies cut off one byte past.
			if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
				t.Errorf("Open allocated %d bytes", got)
			}
			_, err = IdentifyWith(tc.data, tc.opts)
			if tc.identify && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Identify: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOpenWithinBound: a file at the bound opens, and the same file one
// byte over it does not: the bound counts every compressed section.
func TestOpenWithinBound(t *testing.T) {
	gz, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g", "-gz=zlib"))
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	total, err := debugfile.CheckELFClaims(ef, gz, debugfile.InflateLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWith(gz, Options{Inflate: debugfile.InflateLimits{MaxBytes: int64(total)}}); err != nil {
		t.Errorf("at the bound (%d bytes): %v", total, err)
	}
	if _, err := OpenWith(gz, Options{Inflate: debugfile.InflateLimits{MaxBytes: int64(total) - 1}}); err == nil {
		t.Errorf("one byte over the bound (%d bytes) opened", total-1)
	}
}

// FuzzOpenCompressed puts arbitrary compression headers and streams in
// place of .debug_info: Open never panics, and never allocates past the
// bound (a small cap here, so that each input is cheap).
func FuzzOpenCompressed(f *testing.F) {
	plain, err := os.ReadFile(built(f, "gcc", "c", "-O2", "-g"))
	if err != nil {
		f.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(plain))
	if err != nil {
		f.Fatal(err)
	}
	info, err := ef.Section(".debug_info").Data()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(elf.COMPRESS_ZSTD), uint64(len(info)), debugfiletest.Zstd(info, 0))
	f.Add(uint8(elf.COMPRESS_ZLIB), uint64(len(info)), debugfiletest.Zlib(info, 0))
	f.Add(uint8(elf.COMPRESS_ZSTD), uint64(64), debugfiletest.Zstd(info, 1<<16))
	f.Add(uint8(elf.COMPRESS_ZLIB), uint64(1<<30), debugfiletest.Zlib(nil, 1<<12))
	recoverPanics = false
	f.Cleanup(func() { recoverPanics = true })
	lim := debugfile.InflateLimits{MaxBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, codec uint8, claim uint64, stream []byte) {
		data, err := debugfiletest.Rewrite(plain, debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD})
		if err != nil {
			t.Fatal(err)
		}
		// Rewrite appended the section last: replace it.
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		s := ef.Section(".debug_info")
		data = append(data[:s.Offset], debugfiletest.Chdr(elf.CompressionType(codec), claim)...)
		data = append(data, stream...)
		hdr, _ := sectionHeader(t, data, ".debug_info")
		ef.ByteOrder.PutUint64(data[hdr+32:], uint64(24+len(stream)))

		file, err := OpenWith(data, Options{Inflate: lim})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if claim > uint64(lim.Bound(int64(len(data)))) {
			t.Fatalf("opened with a claim of %d bytes, over the bound", claim)
		}
		file.Lookup(file.LoadAddress)
	})
}

// recordingBudget records reservations and releases.
type recordingBudget struct {
	reserved, released []int64
}

func (b *recordingBudget) Reserve(n int64) func() {
	b.reserved = append(b.reserved, n)
	return func() { b.released = append(b.released, n) }
}

// TestOpenReservesBudget: Open reserves the sum of the claims while it
// inflates and indexes, and frees it before returning; a file refused
// for its claims reserves nothing.
func TestOpenReservesBudget(t *testing.T) {
	gz, err := os.ReadFile(built(t, "gcc", "c", "-O2", "-g", "-gz=zlib"))
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	total, err := debugfile.CheckELFClaims(ef, gz, debugfile.InflateLimits{})
	if err != nil {
		t.Fatal(err)
	}
	b := &recordingBudget{}
	if _, err := OpenWith(gz, Options{Budget: b}); err != nil {
		t.Fatal(err)
	}
	if len(b.reserved) != 1 || b.reserved[0] != int64(total) || len(b.released) != 1 || b.released[0] != int64(total) {
		t.Errorf("reserved %v, released %v, want %d once", b.reserved, b.released, total)
	}
	bomb, err := debugfiletest.SetClaim(gz, ".debug_info", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	b = &recordingBudget{}
	if _, err := OpenWith(bomb, Options{Budget: b}); err == nil || len(b.reserved) != 0 {
		t.Errorf("bomb: %v, reserved %v", err, b.reserved)
	}
}
