// Package debugfiletest builds hostile debug files for tests and fuzz
// seeds: ELF files whose sections are compressed with zlib or zstd and
// claim, or inflate to, far more than they hold (decompression bombs), and
// zip archives (source bundles) whose entries do the same.
//
// The builders start from a real ELF file (64-bit, little-endian) and
// rewrite chosen sections: the new compressed contents are appended to
// the file and the section header is pointed at them, so that everything
// else stays as the toolchain wrote it.
package debugfiletest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Section says what to put in place of one section of an ELF file.
type Section struct {
	// Name is the section to rewrite, e.g. ".debug_info".
	Name string
	// Codec is elf.COMPRESS_ZLIB or elf.COMPRESS_ZSTD.
	Codec elf.CompressionType
	// Data, followed by Zeros zero bytes, is what the section inflates
	// to. Zeros cost a few bytes per 128 KiB with zstd and about one per
	// KiB with zlib.
	Data  []byte
	Zeros uint64
	// Claim is the decompressed size the header claims; 0 claims the
	// true size, len(Data)+Zeros.
	Claim uint64
}

// Rewrite returns a copy of data, a 64-bit little-endian ELF file, with
// each named section replaced by an SHF_COMPRESSED section (compression
// header and stream) appended at the end of the file.
func Rewrite(data []byte, secs ...Section) ([]byte, error) {
	out := bytes.Clone(data)
	for _, s := range secs {
		hdr, err := sectionHeader(out, s.Name)
		if err != nil {
			return nil, err
		}
		var stream []byte
		switch s.Codec {
		case elf.COMPRESS_ZLIB:
			stream = Zlib(s.Data, s.Zeros)
		case elf.COMPRESS_ZSTD:
			stream = Zstd(s.Data, s.Zeros)
		default:
			return nil, fmt.Errorf("section %s: codec %v is not zlib or zstd", s.Name, s.Codec)
		}
		claim := s.Claim
		if claim == 0 {
			claim = uint64(len(s.Data)) + s.Zeros
		}
		content := Chdr(s.Codec, claim)
		content = append(content, stream...)
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		off := uint64(len(out))
		out = append(out, content...)
		le := binary.LittleEndian
		le.PutUint64(out[hdr+8:], le.Uint64(out[hdr+8:])|uint64(elf.SHF_COMPRESSED))
		le.PutUint64(out[hdr+24:], off)
		le.PutUint64(out[hdr+32:], uint64(len(content)))
	}
	return out, nil
}

// SetClaim returns a copy of data with the decompressed size claimed by
// a compressed section's header (SHF_COMPRESSED, or a GNU .zdebug
// section's) replaced by claim: the stream is left as it was.
func SetClaim(data []byte, name string, claim uint64) ([]byte, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	s := ef.Section(name)
	if s == nil {
		return nil, fmt.Errorf("no section %s", name)
	}
	out := bytes.Clone(data)
	switch {
	case s.Flags&elf.SHF_COMPRESSED != 0:
		binary.LittleEndian.PutUint64(out[s.Offset+8:], claim)
	case s.FileSize >= 12 && string(data[s.Offset:s.Offset+4]) == "ZLIB":
		binary.BigEndian.PutUint64(out[s.Offset+4:], claim)
	default:
		return nil, fmt.Errorf("section %s is not compressed", name)
	}
	return out, nil
}

// SetBuildID returns a copy of data whose GNU build-id note holds id
// (which must have the note's length), so that variants of one file are
// told apart by their identifiers.
func SetBuildID(data, id []byte) ([]byte, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	s := ef.Section(".note.gnu.build-id")
	if s == nil || s.FileSize < 16 {
		return nil, fmt.Errorf("no build-id note")
	}
	descsz := binary.LittleEndian.Uint32(data[s.Offset+4:])
	if int(descsz) != len(id) || 16+uint64(descsz) > s.FileSize {
		return nil, fmt.Errorf("build-id is %d bytes, not %d", descsz, len(id))
	}
	out := bytes.Clone(data)
	copy(out[s.Offset+16:], id)
	return out, nil
}

// Chdr is an ELF64 little-endian compression header.
func Chdr(codec elf.CompressionType, size uint64) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, uint32(codec))
	binary.LittleEndian.PutUint64(b[8:], size)
	binary.LittleEndian.PutUint64(b[16:], 1)
	return b
}

// Zlib compresses data followed by zeros zero bytes.
func Zlib(data []byte, zeros uint64) []byte {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zw.Write(data)
	io.CopyN(zw, zeroReader{}, int64(zeros))
	zw.Close()
	return buf.Bytes()
}

// Zstd is one zstd frame holding data (in raw blocks) followed by zeros
// zero bytes (in RLE blocks: four bytes for each 128 KiB).
func Zstd(data []byte, zeros uint64) []byte {
	const maxBlock = 128 << 10
	// Magic; frame header descriptor: no content size, no checksum, a
	// window descriptor follows; window 128 KiB (2^17).
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	type block struct {
		typ  uint32 // 0 raw, 1 RLE
		size uint32
		raw  []byte
	}
	var blocks []block
	for len(data) > 0 {
		n := min(len(data), maxBlock)
		blocks = append(blocks, block{0, uint32(n), data[:n]})
		data = data[n:]
	}
	for zeros > 0 {
		n := min(zeros, maxBlock)
		blocks = append(blocks, block{1, uint32(n), []byte{0}})
		zeros -= n
	}
	if len(blocks) == 0 {
		blocks = append(blocks, block{0, 0, nil})
	}
	for i, b := range blocks {
		h := b.typ<<1 | b.size<<3
		if i == len(blocks)-1 {
			h |= 1
		}
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
		out = append(out, b.raw...)
	}
	return out
}

// ZipEntry is one entry of an archive built by Zip.
type ZipEntry struct {
	Name string
	// Data followed by Zeros zero bytes is what the entry inflates to.
	Data  []byte
	Zeros uint64
	// Claim is the uncompressed size the entry's headers claim; 0 claims
	// the true size. The CRC is always the true one.
	Claim uint64
}

// Zip builds a zip archive of deflated entries; with bundle set it starts
// with a source bundle's header (SYSB, version 2).
func Zip(bundle bool, entries ...ZipEntry) []byte {
	var buf bytes.Buffer
	if bundle {
		buf.WriteString("SYSB\x02\x00\x00\x00")
	}
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(e.Data)
		io.CopyN(fw, zeroReader{}, int64(e.Zeros))
		fw.Close()
		crc := crc32.NewIEEE()
		crc.Write(e.Data)
		io.CopyN(crc, zeroReader{}, int64(e.Zeros))
		size := uint64(len(e.Data)) + e.Zeros
		if e.Claim != 0 {
			size = e.Claim
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, CRC32: crc.Sum32(),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: size})
		if err != nil {
			panic(err) // only for names archive/zip cannot write
		}
		w.Write(comp.Bytes())
	}
	zw.Close()
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sectionHeader returns the offset of the named section's header.
func sectionHeader(data []byte, name string) (uint64, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	if ef.Class != elf.ELFCLASS64 || ef.ByteOrder != binary.LittleEndian {
		return 0, fmt.Errorf("only 64-bit little-endian ELF files are rewritten")
	}
	shoff := binary.LittleEndian.Uint64(data[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(data[0x3a:]))
	for i, s := range ef.Sections {
		if s.Name == name {
			return shoff + uint64(i)*shentsize, nil
		}
	}
	return 0, fmt.Errorf("no section %s", name)
}
