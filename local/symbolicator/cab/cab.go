// Package cab reads Microsoft cabinet files (MS-CAB) as symbol servers
// serve them: symstore's compressed files (foo.pd_, foo.dl_, foo.ex_) are
// cabinets of one file, made by makecab.
//
// The package only reads. It understands the header (CFHEADER), folders
// (CFFOLDER), files (CFFILE) and data blocks (CFDATA), with the optional
// reserved areas, and extracts files from uncompressed and MSZIP folders.
// MSZIP stores each block as "CK" and a deflate stream whose window
// carries over from the previous block's output; Go's compress/flate
// takes that window as a preset dictionary. LZX and Quantum folders, and
// cabinets that span several files, are refused with an error naming what
// is not supported.
//
// Block checksums are verified when present (non-zero), as the cab crate
// Symbolicator uses verifies them. MS-CAB has the checksum cover a block's
// reserved area, as the cab crate does; libmspack and gcab leave the area
// out. A block passes when either sum matches. Extraction is bounded: a file larger
// than the caller's limit is refused from the header's sizes before
// anything is inflated, and so is a file whose folder data before it would
// make inflating it cost more than the limit. Everything else is checked
// against the input before it is allocated, and hostile input yields
// errors, never panics.
package cab

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// ErrNotCabinet is returned (wrapped) for input without the MSCF
// signature.
var ErrNotCabinet = errors.New("not a cabinet file")

// Errors of Extract, which wants exactly one file (wrapped).
var (
	ErrNoFile       = errors.New("the cabinet holds no file")
	ErrSeveralFiles = errors.New("the cabinet holds more than one file")
)

// MalformedError reports a cabinet that cannot be read. What names the
// broken part.
type MalformedError struct {
	What string // e.g. "header", "folder 0", "file 2", "folder 0 block 3"
	Err  error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("malformed cab: %s: %v", e.What, e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

func malformed(what, format string, args ...any) error {
	return &MalformedError{What: what, Err: fmt.Errorf(format, args...)}
}

// UnsupportedError reports a valid cabinet this package does not read:
// LZX or Quantum compression, cabinet sets.
type UnsupportedError struct {
	What string // e.g. "folder 0 uses LZX compression"
}

func (e *UnsupportedError) Error() string {
	return "cab: " + e.What + " is not supported (only single cabinets with uncompressed or MSZIP folders are)"
}

// TooLargeError reports a file that extracting would take beyond the
// caller's limit.
type TooLargeError struct {
	Name  string
	Size  int64 // what extraction would produce or inflate, in bytes
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("cab: %s: extracting it takes %d bytes, the limit is %d", e.Name, e.Size, e.Limit)
}

// Method is a folder's compression method (the low four bits of
// CFFOLDER.typeCompress).
type Method uint8

// Compression methods.
const (
	None    Method = 0
	MSZIP   Method = 1
	Quantum Method = 2
	LZX     Method = 3
)

func (m Method) String() string {
	switch m {
	case None:
		return "none"
	case MSZIP:
		return "MSZIP"
	case Quantum:
		return "Quantum"
	case LZX:
		return "LZX"
	}
	return fmt.Sprintf("method %d", uint8(m))
}

// Folder is a CFFOLDER: a stream of data blocks compressed one way.
type Folder struct {
	Method Method
	// Params are the method's parameters (typeCompress bits 8-12: the
	// window size of LZX and Quantum).
	Params uint8
	// Offset is the file offset of the first data block; Blocks their
	// number.
	Offset uint32
	Blocks int
}

// File is a CFFILE.
type File struct {
	Name string
	// Size is the uncompressed size; Offset where the file starts in its
	// folder's uncompressed data.
	Size, Offset uint32
	Folder       int
	// Attributes are the _A_* bits (0x01 read-only, 0x20 archive, 0x80
	// name is UTF-8, ...).
	Attributes uint16
	// Modified is the DOS date and time; the zone is unknown, it reads as
	// UTC.
	Modified time.Time
}

// Cabinet is an opened cabinet. It refers to the input, which must not
// change; it is safe for concurrent use.
type Cabinet struct {
	Folders []Folder
	Files   []File
	// SetID and Index identify the cabinet in a set; a single cabinet has
	// index 0.
	SetID, Index uint16
	// Version is versionMajor.versionMinor (1.3 for every known writer).
	VersionMajor, VersionMinor uint8

	data        []byte
	dataReserve int // cbCFData
}

// Header layout.
const (
	headerSize    = 36
	folderSize    = 8
	fileSize      = 16
	blockSize     = 8
	flagPrev      = 0x1
	flagNext      = 0x2
	flagReserve   = 0x4
	maxName       = 256   // CB_MAX_FILENAME
	attrNameUTF8  = 0x80  // _A_NAME_IS_UTF
	dictSize      = 32768 // the deflate window MSZIP carries between blocks
	msZipSigature = "CK"
)

// Open reads a cabinet's header, folders and files. Data blocks are read
// when a file is extracted.
func Open(data []byte) (*Cabinet, error) {
	le := binary.LittleEndian
	if len(data) < 4 || string(data[:4]) != "MSCF" {
		return nil, fmt.Errorf("open cab: no MSCF signature: %w", ErrNotCabinet)
	}
	if len(data) < headerSize {
		return nil, malformed("header", "the file is %d bytes, the header alone is %d", len(data), headerSize)
	}
	size := le.Uint32(data[8:])
	if uint64(size) > uint64(len(data)) {
		return nil, malformed("header", "the header says the cabinet is %d bytes, the file is %d (truncated?)", size, len(data))
	}
	c := &Cabinet{data: data, VersionMinor: data[24], VersionMajor: data[25], SetID: le.Uint16(data[32:]), Index: le.Uint16(data[34:])}
	filesAt := uint64(le.Uint32(data[16:]))
	nFolders, nFiles := int(le.Uint16(data[26:])), int(le.Uint16(data[28:]))
	flags := le.Uint16(data[30:])
	if flags&(flagPrev|flagNext) != 0 {
		return nil, &UnsupportedError{What: fmt.Sprintf("a cabinet that is part of a set (flags %#x: it continues in another cabinet)", flags)}
	}
	off := uint64(headerSize)
	folderReserve := 0
	if flags&flagReserve != 0 {
		if len(data) < headerSize+4 {
			return nil, malformed("header", "the reserve sizes are missing: the file is %d bytes", len(data))
		}
		headerReserve := uint64(le.Uint16(data[36:]))
		folderReserve = int(data[38])
		c.dataReserve = int(data[39])
		off += 4 + headerReserve
		if off > uint64(len(data)) {
			return nil, malformed("header", "a reserved area of %d bytes runs past the end of the %d-byte file", headerReserve, len(data))
		}
	}

	entry := uint64(folderSize + folderReserve)
	if off+uint64(nFolders)*entry > uint64(len(data)) {
		return nil, malformed("folders", "%d folders at %#x run past the end of the %d-byte file", nFolders, off, len(data))
	}
	c.Folders = make([]Folder, nFolders)
	for i := range c.Folders {
		b := data[off:]
		typ := le.Uint16(b[6:])
		c.Folders[i] = Folder{Offset: le.Uint32(b), Blocks: int(le.Uint16(b[4:])), Method: Method(typ & 0xf), Params: uint8(typ>>8) & 0x1f}
		off += entry
	}

	// Files: 16 bytes and a name of at least one byte each.
	if filesAt+uint64(nFiles)*(fileSize+1) > uint64(len(data)) {
		return nil, malformed("files", "%d files at %#x run past the end of the %d-byte file", nFiles, filesAt, len(data))
	}
	c.Files = make([]File, nFiles)
	off = filesAt
	for i := range c.Files {
		what := fmt.Sprintf("file %d", i)
		if off+fileSize > uint64(len(data)) {
			return nil, malformed(what, "the entry at %#x runs past the end of the file", off)
		}
		b := data[off:]
		f := File{Size: le.Uint32(b), Offset: le.Uint32(b[4:]), Attributes: le.Uint16(b[14:])}
		folder := le.Uint16(b[8:])
		if folder >= 0xfffd {
			return nil, &UnsupportedError{What: fmt.Sprintf("file %d, which continues from or into another cabinet (iFolder %#x),", i, folder)}
		}
		if int(folder) >= nFolders {
			return nil, malformed(what, "folder %d of %d", folder, nFolders)
		}
		f.Folder = int(folder)
		f.Modified = dosTime(le.Uint16(b[10:]), le.Uint16(b[12:]))
		name := b[fileSize:min(len(b), fileSize+maxName)]
		n := bytes.IndexByte(name, 0)
		if n < 0 {
			return nil, malformed(what, "the name at %#x has no terminating NUL within %d bytes", off+fileSize, maxName)
		}
		f.Name = decodeName(name[:n], f.Attributes&attrNameUTF8 != 0)
		c.Files[i] = f
		off += fileSize + uint64(n) + 1
	}
	return c, nil
}

// decodeName reads a file name: UTF-8 when the attribute says so,
// otherwise the bytes as Latin-1 (ASCII for every symbol file).
func decodeName(b []byte, isUTF8 bool) string {
	if isUTF8 && utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func dosTime(date, tm uint16) time.Time {
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xf), int(date&0x1f),
		int(tm>>11), int(tm>>5&0x3f), int(tm&0x1f)*2, 0, time.UTC)
}

// block is one CFDATA, located.
type block struct {
	sum              uint32
	packed, unpacked int
	data             int // offset of the reserved area and the data
}

// blocks reads folder i's CFDATA headers and checks that they stay inside
// the file.
func (c *Cabinet) blocks(i int) ([]block, error) {
	fo := c.Folders[i]
	le := binary.LittleEndian
	// Each block takes at least its 8-byte header.
	if uint64(fo.Offset)+uint64(fo.Blocks)*blockSize > uint64(len(c.data)) {
		return nil, malformed(fmt.Sprintf("folder %d", i), "%d data blocks at %#x run past the end of the %d-byte file", fo.Blocks, fo.Offset, len(c.data))
	}
	out := make([]block, fo.Blocks)
	off := uint64(fo.Offset)
	for j := range out {
		if off+blockSize > uint64(len(c.data)) {
			return nil, malformed(fmt.Sprintf("folder %d block %d", i, j), "the header at %#x runs past the end of the %d-byte file", off, len(c.data))
		}
		h := c.data[off:]
		b := block{sum: le.Uint32(h), packed: int(le.Uint16(h[4:])), unpacked: int(le.Uint16(h[6:])), data: int(off) + blockSize}
		end := uint64(b.data) + uint64(c.dataReserve) + uint64(b.packed)
		if end > uint64(len(c.data)) {
			return nil, malformed(fmt.Sprintf("folder %d block %d", i, j), "%d bytes at %#x run past the end of the %d-byte file", b.packed, b.data, len(c.data))
		}
		out[j] = b
		off = end
	}
	return out, nil
}

// checksum is the CFDATA checksum (MS-CAB's CSUMCompute): the XOR of the
// little-endian 32-bit words, a tail of one to three bytes taken
// big-endian, starting from seed.
func checksum(b []byte, seed uint32) uint32 {
	sum := seed
	n := len(b) / 4 * 4
	for i := 0; i < n; i += 4 {
		sum ^= binary.LittleEndian.Uint32(b[i:])
	}
	var tail uint32
	for _, c := range b[n:] {
		tail = tail<<8 | uint32(c)
	}
	return sum ^ tail
}

// ReadFile extracts file i. limit bounds the result and the work: a file
// larger than limit, or one that starts more than limit bytes into its
// folder, fails with a *TooLargeError before anything is inflated.
func (c *Cabinet) ReadFile(i int, limit int64) ([]byte, error) {
	if i < 0 || i >= len(c.Files) {
		return nil, fmt.Errorf("cab: no file %d (the cabinet holds %d)", i, len(c.Files))
	}
	f := c.Files[i]
	if int64(f.Size) > limit {
		return nil, &TooLargeError{Name: f.Name, Size: int64(f.Size), Limit: limit}
	}
	if int64(f.Offset) > limit {
		return nil, &TooLargeError{Name: f.Name, Size: int64(f.Offset) + int64(f.Size), Limit: limit}
	}
	fo := c.Folders[f.Folder]
	switch fo.Method {
	case None, MSZIP:
	case LZX, Quantum:
		return nil, &UnsupportedError{What: fmt.Sprintf("folder %d uses %s compression, which", f.Folder, fo.Method)}
	default:
		return nil, malformed(fmt.Sprintf("folder %d", f.Folder), "unknown compression type %d", fo.Method)
	}
	blocks, err := c.blocks(f.Folder)
	if err != nil {
		return nil, err
	}
	end := uint64(f.Offset) + uint64(f.Size)
	var total uint64
	for _, b := range blocks {
		total += uint64(b.unpacked)
	}
	if total < end {
		return nil, malformed(fmt.Sprintf("file %d", i), "%q ends at %d bytes into folder %d, whose blocks hold %d", f.Name, end, f.Folder, total)
	}

	out := make([]byte, 0, f.Size)
	var z io.ReadCloser
	var dict, buf []byte
	var at uint64 // folder offset of the current block's first byte
	for j, b := range blocks {
		if at >= end {
			break
		}
		what := fmt.Sprintf("folder %d block %d", f.Folder, j)
		raw := c.data[b.data : b.data+c.dataReserve+b.packed]
		if b.sum != 0 {
			hdr := c.data[b.data-4 : b.data]
			got := checksum(hdr, checksum(raw, 0))
			if got != b.sum && c.dataReserve > 0 {
				got = checksum(hdr, checksum(raw[c.dataReserve:], 0))
			}
			if got != b.sum {
				return nil, malformed(what, "checksum %#08x, the header says %#08x", got, b.sum)
			}
		}
		payload := raw[c.dataReserve:]
		var plain []byte
		switch fo.Method {
		case None:
			if b.packed != b.unpacked {
				return nil, malformed(what, "an uncompressed block of %d bytes says it holds %d", b.packed, b.unpacked)
			}
			plain = payload
		case MSZIP:
			if len(payload) < 2 || string(payload[:2]) != msZipSigature {
				return nil, malformed(what, "no CK signature at the start of an MSZIP block")
			}
			src := bytes.NewReader(payload[2:])
			if z == nil {
				z = flate.NewReaderDict(src, dict)
			} else if err := z.(flate.Resetter).Reset(src, dict); err != nil {
				return nil, malformed(what, "%v", err)
			}
			if cap(buf) < b.unpacked+1 {
				buf = make([]byte, b.unpacked+1)
			}
			n, err := io.ReadFull(z, buf[:b.unpacked+1])
			switch {
			case n > b.unpacked:
				return nil, malformed(what, "it inflates to more than the %d bytes its header says", b.unpacked)
			case n < b.unpacked && err != nil:
				return nil, malformed(what, "inflating it gave %d of its %d bytes: %v", n, b.unpacked, err)
			}
			plain = buf[:b.unpacked]
			// The next block's window: the last 32 KiB of output.
			if len(plain) >= dictSize {
				dict = append(dict[:0], plain[len(plain)-dictSize:]...)
			} else {
				dict = append(dict, plain...)
				if len(dict) > dictSize {
					dict = append(dict[:0], dict[len(dict)-dictSize:]...)
				}
			}
		}
		// The part of the block that belongs to the file.
		lo, hi := at, at+uint64(len(plain))
		if hi > uint64(f.Offset) {
			from := max(lo, uint64(f.Offset)) - lo
			to := min(hi, end) - lo
			out = append(out, plain[from:to]...)
		}
		at = hi
	}
	if uint64(len(out)) != uint64(f.Size) {
		return nil, malformed(fmt.Sprintf("file %d", i), "%q: extracted %d of its %d bytes", f.Name, len(out), f.Size)
	}
	return out, nil
}

// Extract reads a cabinet of exactly one file, as Symbolicator reads a
// compressed file from a symbol server, and returns that file's name and
// contents. A cabinet of no file or of several fails (ErrNoFile,
// ErrSeveralFiles); limit bounds the extraction as in ReadFile.
func Extract(data []byte, limit int64) (name string, content []byte, err error) {
	c, err := Open(data)
	if err != nil {
		return "", nil, err
	}
	switch len(c.Files) {
	case 0:
		return "", nil, fmt.Errorf("cab: %w", ErrNoFile)
	case 1:
	default:
		return "", nil, fmt.Errorf("cab: %w (%d files)", ErrSeveralFiles, len(c.Files))
	}
	content, err = c.ReadFile(0, limit)
	if err != nil {
		return "", nil, err
	}
	return c.Files[0].Name, content, nil
}
