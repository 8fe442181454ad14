package debugfile

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Decompression bounds.
//
// Debug files carry compressed parts: ELF sections compressed with zlib or
// zstd (SHF_COMPRESSED, from `gcc -gz`, `objcopy --compress-debug-sections`
// or Debian's dh_strip), GNU .zdebug sections, and the zip entries of source
// bundles. Each part's header claims its decompressed size, and a reader
// that trusts the claim can be made to allocate gigabytes from a file of a
// few hundred kilobytes (zstd expands a 4-byte RLE block to 128 KiB, zlib
// up to 1032:1), or to inflate a stream far past what its header claimed.
//
// symflow bounds the total decompressed size of one file by the smaller of
// a cap and a ratio to the file's own size, checks the claims against that
// bound from the headers before inflating anything, and inflates each part
// to exactly its claim: a stream that runs past its claim, or stops short
// of it, is an error.
//
// The defaults come from measuring real files: 273 Debian dbgsym files
// (zlib, as shipped), ten binaries and debug files (cargo, libstd,
// libpython3.13, CPython extension modules, Debian debug files)
// recompressed with `objcopy --compress-debug-sections=zlib|zlib-gnu|zstd`,
// C and C++ objects and executables from `gcc -gz` (-g -O2 and -g3 -O0)
// and a Go executable: 327 files in all. Their decompressed total was at
// most 13.0 times the file's size (median 1.3); the highest single
// section expanded 83 times (a .debug_abbrev), the sum of a file's
// compressed sections at most 25 times. Source trees zipped as bundles
// are (Go's runtime, net and cmd/compile, /usr/include, Breakpad's
// sources) expanded at most 6 times. DefaultInflateRatio leaves a margin
// of almost eight over the largest ratio seen. The cap admits the largest
// debug files in use (a browser's, around 1 to 2 GiB of DWARF).
const (
	// DefaultMaxInflatedBytes caps the decompressed size of one file's
	// compressed parts, summed: 2 GiB.
	DefaultMaxInflatedBytes = 2 << 30
	// DefaultInflateRatio bounds it by the file's own size: at most 100
	// times as many bytes as the file holds.
	DefaultInflateRatio = 100
)

// InflateLimits bounds how far one debug file may expand. A zero (or
// negative) field takes its default.
type InflateLimits struct {
	// MaxBytes caps the decompressed size of the file's compressed parts,
	// summed. Default DefaultMaxInflatedBytes.
	MaxBytes int64
	// Ratio bounds the same sum by the file's size: at most Ratio times
	// as many bytes as the file. Default DefaultInflateRatio.
	Ratio int64
}

func (l InflateLimits) withDefaults() InflateLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxInflatedBytes
	}
	if l.Ratio <= 0 {
		l.Ratio = DefaultInflateRatio
	}
	return l
}

// Bound returns how many decompressed bytes a file of fileSize bytes may
// expand to: the smaller of MaxBytes and Ratio × fileSize.
func (l InflateLimits) Bound(fileSize int64) int64 {
	l = l.withDefaults()
	if fileSize < 0 {
		fileSize = 0
	}
	if fileSize > l.MaxBytes/l.Ratio {
		return l.MaxBytes
	}
	return fileSize * l.Ratio
}

// describe says where the bound for a file of fileSize bytes comes from.
func (l InflateLimits) describe(fileSize int64) string {
	l = l.withDefaults()
	b := l.Bound(fileSize)
	if b == l.MaxBytes {
		return fmt.Sprintf("%d bytes (the cap)", b)
	}
	return fmt.Sprintf("%d bytes (%d × the file's %d bytes)", b, l.Ratio, fileSize)
}

// InflateError says that a compressed part of a debug file (an ELF
// section, a source bundle's zip entry) claims more decompressed bytes
// than the file's bound allows, or that its data does not inflate to the
// size its header claims. The part was not (or not entirely) inflated.
type InflateError struct {
	// Part names what is compressed: "section .debug_info",
	// "entry src/main.c".
	Part string
	// Claimed is the decompressed size the part's header claims.
	Claimed uint64
	// Total is the sum of the claims up to and including this part, set
	// when the sum rather than the claim alone is over the bound.
	Total uint64
	// Bound is the file's bound and Why where it comes from; both are
	// set when a claim is over the bound.
	Bound int64
	Why   string
	// Got is how many bytes the data inflated to when it disagrees with
	// the claim; Claimed+1 means it runs past it (inflating stopped
	// there).
	Got uint64
	// Err is the decompressor's error, when the data does not inflate.
	Err error
}

func (e *InflateError) Error() string {
	switch {
	case e.Why != "" && e.Total > 0:
		return fmt.Sprintf("%s claims %d bytes decompressed, bringing the file's total to %d, over the bound of %s", e.Part, e.Claimed, e.Total, e.Why)
	case e.Why != "":
		return fmt.Sprintf("%s claims %d bytes decompressed, over the bound of %s", e.Part, e.Claimed, e.Why)
	case e.Err != nil:
		return fmt.Sprintf("%s does not decompress to the %d bytes its header claims: %v", e.Part, e.Claimed, e.Err)
	case e.Got > e.Claimed:
		return fmt.Sprintf("%s inflates past the %d bytes its header claims", e.Part, e.Claimed)
	}
	return fmt.Sprintf("%s inflates to %d of the %d bytes its header claims", e.Part, e.Got, e.Claimed)
}

func (e *InflateError) Unwrap() error { return e.Err }

// OverBound reports whether the error is a claim over the bound, found
// before anything was inflated, rather than data that disagrees with its
// claim.
func (e *InflateError) OverBound() bool { return e.Why != "" }

// ELFCompressed reports whether an ELF section is stored compressed
// (SHF_COMPRESSED, or a GNU .zdebug section with its "ZLIB" header) and
// the decompressed size its header claims. data is the whole file.
func ELFCompressed(s *elf.Section, data []byte) (claimed uint64, ok bool) {
	if s.Type == elf.SHT_NOBITS || s.Offset > uint64(len(data)) || s.FileSize > uint64(len(data))-s.Offset {
		return 0, false
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		return s.Size, true // debug/elf read ch_size into Size
	}
	if strings.HasPrefix(s.Name, ".zdebug") && s.FileSize >= 12 && string(data[s.Offset:s.Offset+4]) == "ZLIB" {
		return binary.BigEndian.Uint64(data[s.Offset+4:]), true
	}
	return 0, false
}

// CheckELFClaims checks, from the headers alone, that the compressed
// sections of an ELF file claim at most the file's bound in total, and
// returns that total. data is the whole file ef was read from. Nothing is
// inflated: a file whose claims are over the bound fails with an
// *InflateError naming the section that took the total over it.
func CheckELFClaims(ef *elf.File, data []byte, l InflateLimits) (uint64, error) {
	bound := uint64(l.Bound(int64(len(data))))
	var total uint64
	for _, s := range ef.Sections {
		claimed, ok := ELFCompressed(s, data)
		if !ok {
			continue
		}
		if claimed > bound {
			return 0, &InflateError{Part: "section " + s.Name, Claimed: claimed, Bound: int64(bound), Why: l.describe(int64(len(data)))}
		}
		total += claimed // both terms are at most bound: no overflow
		if total > bound {
			return 0, &InflateError{Part: "section " + s.Name, Claimed: claimed, Total: total, Bound: int64(bound), Why: l.describe(int64(len(data)))}
		}
	}
	return total, nil
}

// ELFSectionData returns an ELF section's contents: sliced from data
// (the whole file) when stored plainly, inflated to exactly the size its
// header claims when compressed. Data that inflates past the claim is cut
// off there, and it, data that stops short of the claim or does not
// inflate are an *InflateError. The claim itself is trusted: call
// CheckELFClaims on the file first.
func ELFSectionData(s *elf.Section, data []byte) ([]byte, error) {
	if s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Offset > uint64(len(data)) || s.FileSize > uint64(len(data))-s.Offset {
		return nil, fmt.Errorf("section %s extends past end of file (offset %d, size %d, file size %d)", s.Name, s.Offset, s.FileSize, len(data))
	}
	claimed, ok := ELFCompressed(s, data)
	if !ok {
		return data[s.Offset : s.Offset+s.FileSize], nil
	}
	b := make([]byte, claimed)
	if err := inflateExactly(s.Open(), b, "section "+s.Name, claimed); err != nil {
		return nil, err
	}
	return b, nil
}

// inflateExactly fills buf (claimed bytes) from r and checks that r then
// ends. With buf nil it reads claimed bytes into nothing.
func inflateExactly(r io.Reader, buf []byte, part string, claimed uint64) error {
	var n uint64
	var err error
	if buf != nil {
		var m int
		m, err = io.ReadFull(r, buf)
		n = uint64(m)
	} else {
		var m int64
		m, err = io.CopyN(io.Discard, r, int64(claimed))
		n = uint64(m)
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF || (err == nil && n < claimed):
		return &InflateError{Part: part, Claimed: claimed, Got: n}
	case err != nil:
		return &InflateError{Part: part, Claimed: claimed, Err: err}
	}
	// The stream must end here: read one byte more, which also makes
	// zlib check its trailing checksum.
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	switch {
	case m > 0:
		return &InflateError{Part: part, Claimed: claimed, Got: claimed + 1}
	case err != io.EOF:
		return &InflateError{Part: part, Claimed: claimed, Err: err}
	}
	return nil
}

// CheckInflation checks that a debug file's compressed parts stay within
// the bound l gives a file of its size: their claims from the headers
// first, then every part inflated (into nothing, so that memory stays
// small) to check that it expands to exactly its claim. It costs at most
// one pass over the bound's worth of decompressed data. ELF files and
// source bundles have compressed parts; other files pass. A file the
// check cannot read is left to Identify to refuse. Failures are an
// *InflateError naming the part.
func CheckInflation(data []byte, l InflateLimits) error {
	if len(data) < 4 {
		return nil
	}
	switch string(data[:4]) {
	case "\x7fELF":
		return checkELFInflation(data, l)
	case "SYSB", "PK\x03\x04":
		z := data
		if string(data[:4]) == "SYSB" {
			if len(data) < 8 {
				return nil
			}
			z = data[8:]
		}
		return checkZipInflation(z, int64(len(data)), l)
	}
	return nil
}

func checkELFInflation(data []byte, l InflateLimits) (err error) {
	defer func() {
		if r := recover(); r != nil { // debug/elf on hostile input
			err = nil // Identify reports the file as unreadable
		}
	}()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	if _, err := CheckELFClaims(ef, data, l); err != nil {
		return err
	}
	for _, s := range ef.Sections {
		claimed, ok := ELFCompressed(s, data)
		if !ok {
			continue
		}
		if err := inflateExactly(s.Open(), nil, "section "+s.Name, claimed); err != nil {
			return err
		}
	}
	return nil
}

// CheckZipClaims checks that the entries of a zip archive (a source
// bundle, which is size bytes in all) claim at most the bound in total.
func CheckZipClaims(files []*zip.File, size int64, l InflateLimits) error {
	bound := uint64(l.Bound(size))
	var total uint64
	for _, f := range files {
		claimed := f.UncompressedSize64
		part := "entry " + f.Name
		if claimed > bound {
			return &InflateError{Part: part, Claimed: claimed, Bound: int64(bound), Why: l.describe(size)}
		}
		total += claimed
		if total > bound {
			return &InflateError{Part: part, Claimed: claimed, Total: total, Bound: int64(bound), Why: l.describe(size)}
		}
	}
	return nil
}

// ZipExpansion is the most an entry's compressed bytes can expand to: as
// many for a stored entry, 1032 times as many (deflate's limit) and a
// little for a deflated one. ok is false for other methods.
func ZipExpansion(f *zip.File) (most uint64, ok bool) {
	c := f.CompressedSize64
	switch f.Method {
	case zip.Store:
		return c, true
	case zip.Deflate:
		if c > (1<<64-1-1024)/1032 {
			return 1<<64 - 1, true
		}
		return c*1032 + 1024, true
	}
	return 0, false
}

func checkZipInflation(z []byte, size int64, l InflateLimits) error {
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil
	}
	if err := CheckZipClaims(zr.File, size, l); err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.Method != zip.Store && f.Method != zip.Deflate {
			continue // archive/zip cannot read it; neither can the service
		}
		rc, err := f.Open()
		if err != nil {
			return &InflateError{Part: "entry " + f.Name, Claimed: f.UncompressedSize64, Err: err}
		}
		err = inflateExactly(rc, nil, "entry "+f.Name, f.UncompressedSize64)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
