package debugfile

import (
	"bytes"
	stdpe "debug/pe"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on what a PE image or PDB may make identification read.
const (
	// maxCodeViewName bounds the PDB path of an RSDS record, as goblin
	// (the reader symbolic uses) does.
	maxCodeViewName = 1024
	// maxDebugEntries bounds the debug directory entries examined.
	maxDebugEntries = 64
)

// Debug directory entry layout.
const (
	debugEntrySize     = 28
	debugTypeCodeView  = 2
	rsdsHeaderSize     = 24
	portablePDBVersion = 0x504d
)

// identifyPE reads a PE image's identity (SEMANTICS §4, symbolic's
// PeObject): its code id from the COFF and optional headers, its debug id
// and debug file (the PDB path) from the first CodeView entry of the debug
// directory that holds an RSDS record. An image without one has no debug
// id; it is identified, but the unified layout cannot name it (Objects
// says so).
func identifyPE(data []byte) (Identity, error) {
	if err := precheckPE(data); err != nil {
		return Identity{}, err
	}
	f, err := stdpe.NewFile(bytes.NewReader(data))
	if err != nil {
		if strings.HasPrefix(err.Error(), "unrecognized PE machine") {
			// As in the embedded Symbolicator, which reads PE files
			// with debug/pe too.
			return Identity{}, reject("unsupported PE image: %v (x86, x64, ARM64, ARMNT and RISC-V images are read)", err)
		}
		return Identity{}, reject("malformed PE headers: %v", err)
	}
	id := Identity{Format: "pe", Arch: WindowsArch(f.Machine)}
	var size uint32
	var dirs []stdpe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *stdpe.OptionalHeader32:
		size, dirs = oh.SizeOfImage, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	case *stdpe.OptionalHeader64:
		size, dirs = oh.SizeOfImage, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	default:
		return Identity{}, reject("PE file without an optional header is a COFF object, not an image")
	}
	id.CodeID = PECodeID(f.TimeDateStamp, size)
	hasDebug := false
	for _, s := range f.Sections {
		if s.Name == ".debug_info" {
			hasDebug = true // DWARF, as MinGW writes it
		}
	}
	id.FileType = FileType(true, hasDebug)
	if stdpe.IMAGE_DIRECTORY_ENTRY_DEBUG < len(dirs) {
		if d := dirs[stdpe.IMAGE_DIRECTORY_ENTRY_DEBUG]; d.VirtualAddress != 0 && d.Size != 0 {
			if err := readCodeView(data, f.Sections, d, &id); err != nil {
				return Identity{}, err
			}
		}
	}
	return id, nil
}

// precheckPE checks what debug/pe would allocate for on the strength of
// header fields alone (the section table, every section's COFF
// relocations, the COFF symbol and string tables) against the file, so
// that it only ever allocates what the file holds.
func precheckPE(data []byte) error {
	if len(data) < 0x40 {
		return reject("PE image of %d bytes is too short for the 64-byte DOS header", len(data))
	}
	lfanew := uint64(binary.LittleEndian.Uint32(data[0x3c:]))
	if lfanew+24 > uint64(len(data)) {
		return reject("malformed PE: e_lfanew %#x points past the end of the %d-byte file", lfanew, len(data))
	}
	if string(data[lfanew:lfanew+4]) != "PE\x00\x00" {
		return reject("MZ file without a PE signature at %#x (an MS-DOS or NE executable?)", lfanew)
	}
	coff := data[lfanew+4:]
	nsect := uint64(binary.LittleEndian.Uint16(coff[2:]))
	table := lfanew + 24 + uint64(binary.LittleEndian.Uint16(coff[16:]))
	if table+nsect*40 > uint64(len(data)) {
		return reject("malformed PE section table: %d sections at %#x run past the end of the %d-byte file", nsect, table, len(data))
	}
	var relocBytes uint64
	for i := uint64(0); i < nsect; i++ {
		sh := data[table+i*40:]
		ptr, n := uint64(binary.LittleEndian.Uint32(sh[24:])), uint64(binary.LittleEndian.Uint16(sh[32:]))
		relocBytes += n * 10
		if n != 0 && (ptr+n*10 > uint64(len(data)) || relocBytes > uint64(len(data))) {
			return reject("malformed PE section %d: %d COFF relocations at %#x do not fit in the file", i, n, ptr)
		}
	}
	if ptr := uint64(binary.LittleEndian.Uint32(coff[8:])); ptr != 0 {
		n := uint64(binary.LittleEndian.Uint32(coff[12:]))
		str := ptr + 18*n
		if str+4 > uint64(len(data)) {
			return reject("malformed PE COFF symbol table: %d symbols at %#x and the string table's length do not fit in the %d-byte file", n, ptr, len(data))
		}
		if l := uint64(binary.LittleEndian.Uint32(data[str:])); l > 4 && str+l > uint64(len(data)) {
			return reject("malformed PE COFF string table: %d bytes at %#x run past the end of the %d-byte file", l, str, len(data))
		}
	}
	return nil
}

// readCodeView sets id's debug id and debug file from the first CodeView
// entry of the debug directory d holding an RSDS record, as goblin does.
func readCodeView(data []byte, secs []*stdpe.Section, d stdpe.DataDirectory, id *Identity) error {
	n := min(d.Size/debugEntrySize, maxDebugEntries)
	for i := uint32(0); i < n; i++ {
		rva := d.VirtualAddress + i*debugEntrySize
		e, ok := atRVA(data, secs, rva, debugEntrySize)
		if !ok {
			return reject("malformed PE debug directory: entry %d at RVA %#x is outside the file's sections", i, rva)
		}
		if binary.LittleEndian.Uint32(e[12:]) != debugTypeCodeView {
			continue
		}
		stamp := binary.LittleEndian.Uint32(e[4:])
		minor := binary.LittleEndian.Uint16(e[10:])
		size := uint64(binary.LittleEndian.Uint32(e[16:]))
		recRVA := binary.LittleEndian.Uint32(e[20:])
		ptr := uint64(binary.LittleEndian.Uint32(e[24:]))
		if size < rsdsHeaderSize || size-rsdsHeaderSize > maxCodeViewName {
			return reject("malformed PE debug directory: CodeView record of %d bytes (a record holds 24 bytes and a name of at most %d)", size, maxCodeViewName)
		}
		var rec []byte
		if ptr != 0 {
			if ptr+size > uint64(len(data)) {
				return reject("malformed PE debug directory: CodeView record at file offset %#x (%d bytes) runs past the end of the %d-byte file", ptr, size, len(data))
			}
			rec = data[ptr : ptr+size]
		} else if rec, ok = atRVA(data, secs, recRVA, uint32(size)); !ok {
			return reject("malformed PE debug directory: CodeView record at RVA %#x (%d bytes) is outside the file's sections", recRVA, size)
		}
		if string(rec[:4]) != "RSDS" {
			continue // NB10 (PDB 2.0) and older records carry no GUID
		}
		var guid [16]byte
		copy(guid[:], rec[4:20])
		age := binary.LittleEndian.Uint32(rec[20:])
		if minor == portablePDBVersion {
			age = stamp // a Portable PDB's "age" is the entry's stamp
		}
		id.DebugID = GUIDAgeDebugID(guid, age)
		if name := rec[rsdsHeaderSize:]; len(name) > 0 {
			id.DebugFile = lossyUTF8(name[:len(name)-1])
		}
		return nil
	}
	return nil
}

// atRVA returns the n file bytes of the image at rva, through the first
// section (in table order) whose raw data holds all of them.
func atRVA(data []byte, secs []*stdpe.Section, rva, n uint32) ([]byte, bool) {
	for _, s := range secs {
		vsize := s.VirtualSize
		if vsize == 0 {
			vsize = s.Size
		}
		if rva < s.VirtualAddress || rva-s.VirtualAddress >= vsize {
			continue
		}
		delta := uint64(rva - s.VirtualAddress)
		start := uint64(s.Offset) + delta
		end := start + uint64(n)
		if delta+uint64(n) > uint64(s.Size) || end > uint64(len(data)) {
			return nil, false
		}
		return data[start:end], true
	}
	return nil, false
}

// lossyUTF8 replaces every byte that does not start a valid UTF-8
// sequence with U+FFFD, as the embedded Symbolicator's PE reader does.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[n:]
	}
	return sb.String()
}

// msfMagic starts every MSF 7.0 ("big MSF") file, the container of PDBs
// since Visual C++ 7.0 (and of those lld-link writes).
const msfMagic = "Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"

// PDB stream numbers and the nil stream's size.
const (
	pdbInfoStream = 1
	pdbDBIStream  = 3
	msfNilStream  = 0xFFFFFFFF
	dbiHeaderSize = 64
)

// identifyPDB reads a PDB's identity: the GUID of the PDB information
// stream (stream 1) and the age of the DBI stream (stream 3; the
// information stream's age when there is no DBI stream), which symbolic
// combines into the debug id, and the DBI stream's machine type as the
// arch. Every block and stream the MSF directory names is checked against
// the file before it is read, and no block may be claimed twice: a
// directory that reused blocks could make the streams together far larger
// than the file.
func identifyPDB(data []byte) (Identity, error) {
	m, err := openMSF(data)
	if err != nil {
		return Identity{}, err
	}
	info, err := m.stream(pdbInfoStream, "PDB information stream")
	if err != nil {
		return Identity{}, err
	}
	if len(info) < 28 {
		return Identity{}, reject("malformed PDB information stream: %d bytes, the header needs 28 (version, signature, age, GUID)", len(info))
	}
	age := binary.LittleEndian.Uint32(info[8:])
	var guid [16]byte
	copy(guid[:], info[12:28])
	machine := uint16(0)
	if int(pdbDBIStream) < len(m.sizes) && m.sizes[pdbDBIStream] != msfNilStream && m.sizes[pdbDBIStream] != 0 {
		dbi, err := m.stream(pdbDBIStream, "DBI stream")
		if err != nil {
			return Identity{}, err
		}
		if len(dbi) < dbiHeaderSize {
			return Identity{}, reject("malformed PDB DBI stream: %d bytes, the header needs %d", len(dbi), dbiHeaderSize)
		}
		sig, version := int32(binary.LittleEndian.Uint32(dbi)), binary.LittleEndian.Uint32(dbi[4:])
		if sig != -1 || version < 19960307 {
			return Identity{}, reject("malformed PDB DBI stream: header version %d (signature %d) is not a 7.0 DBI header", version, sig)
		}
		if a := binary.LittleEndian.Uint32(dbi[8:]); a != 0 {
			age = a
		}
		machine = binary.LittleEndian.Uint16(dbi[58:])
	}
	return Identity{Format: "pdb", Arch: WindowsArch(machine), DebugID: GUIDAgeDebugID(guid, age), FileType: "debuginfo"}, nil
}

// msf is an MSF 7.0 container's directory: every stream's size and the
// blocks holding it.
type msf struct {
	data      []byte
	blockSize uint64
	sizes     []uint32
	blocks    [][]uint32
}

func openMSF(data []byte) (*msf, error) {
	if len(data) < len(msfMagic)+24 {
		return nil, reject("PDB of %d bytes is too short for the MSF superblock", len(data))
	}
	le := binary.LittleEndian
	sb := data[len(msfMagic):]
	bs, numBlocks, dirBytes, mapAddr := le.Uint32(sb), le.Uint32(sb[8:]), le.Uint32(sb[12:]), le.Uint32(sb[20:])
	switch bs {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768:
	default:
		return nil, reject("malformed PDB superblock: block size %d is not a power of two between 512 and 32768", bs)
	}
	m := &msf{data: data, blockSize: uint64(bs)}
	if have := uint64(len(data)) / m.blockSize; uint64(numBlocks) > have {
		return nil, reject("malformed PDB superblock: %d blocks of %d bytes claimed, the %d-byte file holds %d", numBlocks, bs, len(data), have)
	}
	used := make([]uint64, (uint64(numBlocks)+63)/64) // bounded by the file: numBlocks <= len/512
	claim := func(b uint32, what string) error {
		switch {
		case b == 0:
			return reject("malformed PDB %s: names block 0, the superblock", what)
		case b >= numBlocks:
			return reject("malformed PDB %s: block %d is past the end of the file (%d blocks)", what, b, numBlocks)
		case used[b/64]&(1<<(b%64)) != 0:
			return reject("malformed PDB %s: block %d is used twice", what, b)
		}
		used[b/64] |= 1 << (b % 64)
		return nil
	}
	nDir := (uint64(dirBytes) + m.blockSize - 1) / m.blockSize
	if nDir*m.blockSize > uint64(len(data)) || nDir*4 > m.blockSize {
		return nil, reject("malformed PDB stream directory: %d bytes do not fit the file", dirBytes)
	}
	if err := claim(mapAddr, "block map"); err != nil {
		return nil, err
	}
	mapBlock := m.block(mapAddr)
	dirBlocks := make([]uint32, nDir)
	for i := range dirBlocks {
		dirBlocks[i] = le.Uint32(mapBlock[4*i:])
		if err := claim(dirBlocks[i], "stream directory"); err != nil {
			return nil, err
		}
	}
	dir := m.gather(dirBlocks, dirBytes)
	if len(dir) < 4 {
		return nil, reject("malformed PDB stream directory: %d bytes hold no stream count", len(dir))
	}
	n := uint64(le.Uint32(dir))
	dir = dir[4:]
	if n > uint64(len(dir))/4 {
		return nil, reject("malformed PDB stream directory: %d streams do not fit in %d bytes", n, len(dir))
	}
	m.sizes = make([]uint32, n)
	var total uint64
	for i := range m.sizes {
		m.sizes[i] = le.Uint32(dir[4*i:])
		if m.sizes[i] != msfNilStream {
			total += (uint64(m.sizes[i]) + m.blockSize - 1) / m.blockSize
		}
	}
	list := dir[4*n:]
	if total > uint64(len(list))/4 {
		return nil, reject("malformed PDB stream directory: the streams need %d blocks, the directory lists %d", total, len(list)/4)
	}
	m.blocks = make([][]uint32, n)
	all := make([]uint32, total)
	for i, size := range m.sizes {
		if size == msfNilStream {
			continue
		}
		k := (uint64(size) + m.blockSize - 1) / m.blockSize
		m.blocks[i], all = all[:k:k], all[k:]
		for j := range m.blocks[i] {
			m.blocks[i][j], list = le.Uint32(list), list[4:]
			if err := claim(m.blocks[i][j], fmt.Sprintf("stream %d", i)); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// block returns block b, which claim checked lies in the file.
func (m *msf) block(b uint32) []byte {
	off := uint64(b) * m.blockSize
	return m.data[off : off+m.blockSize]
}

// gather concatenates the first size bytes of blocks.
func (m *msf) gather(blocks []uint32, size uint32) []byte {
	out := make([]byte, 0, size)
	for _, b := range blocks {
		chunk := m.block(b)
		if rest := int(size) - len(out); rest < len(chunk) {
			chunk = chunk[:rest]
		}
		out = append(out, chunk...)
	}
	return out
}

// stream returns stream i; what names its role in a rejection.
func (m *msf) stream(i int, what string) ([]byte, error) {
	if i >= len(m.sizes) {
		return nil, reject("malformed PDB: no %s (stream %d; the directory has %d streams)", what, i, len(m.sizes))
	}
	if m.sizes[i] == msfNilStream {
		return nil, reject("malformed PDB: the %s (stream %d) is absent", what, i)
	}
	return m.gather(m.blocks[i], m.sizes[i]), nil
}
