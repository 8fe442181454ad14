package objfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sync/atomic"
)

// The persisted index is a File's parsed index (identity, symbol table,
// line table, function and inline tree) in a compact binary form, so that
// a service can keep it on disk and answer for the file later without
// parsing its DWARF again, as Symbolicator keeps symcaches.
//
// Layout, little-endian:
//
//	header (40 bytes)
//	  magic        16 bytes "symflow-index\x00\x00\x00"
//	  version      u32      IndexVersion
//	  flags        u32      0
//	  payload      u64      length of the payload that follows
//	  crc          u32      CRC-32C of the payload
//	  reserved     u32      0
//	payload
//	  strings      u64 length, then the bytes every string refers into
//	  tag          string   the caller's name for the file (LoadIndex checks it)
//	  identity     kind, arch, code id, debug id, file type (strings)
//	  features     u8 bits; load address u64
//	  alt link     u8 present, then path and build id (strings)
//	  symbols      u8 present, u64 count, then addr u64, size u64, name string,
//	               display name string, fn u8
//	  (the dwarf names, too, are each a name and its display name: names
//	  are stored demangled, which a restarted service otherwise spent most
//	  of its first C++ request on)
//	  dwarf        u8 present, then files, lines, nodes, names, units, segments
//	               (each a u64 count and fixed-size records)
//
// A string is a u32 offset and a u32 length into the strings. Nothing of
// a persisted index is trusted: the reader checks every count against the
// bytes left, every reference against what it refers to, that addresses
// are sorted and that the inline tree has no cycles, so a damaged or
// hostile file is refused with an *IndexError, never half-used.

// IndexVersion is the persisted index's format version. A change of the
// format or of what Lookup derives from the index changes it: indexes
// written under another version are refused and rebuilt.
const IndexVersion = 2

const indexMagic = "symflow-index\x00\x00\x00"

const indexHeaderSize = 40

// maxIndexStrings bounds the string bytes of a persisted index, as
// uint32 offsets address them.
const maxIndexStrings = math.MaxUint32

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// IndexError reports a persisted index that cannot be used: not an index,
// another format version, another file's, truncated or corrupt. Reason
// says which; the caller parses the debug file again.
type IndexError struct {
	Reason string
}

func (e *IndexError) Error() string { return "persisted index unusable: " + e.Reason }

// MarshalIndex returns f's index in the persisted form, tagged with tag:
// the caller's name for the debug file it was built from (LoadIndex
// refuses the index under any other tag). It fails only for a file too
// large for the format (4 GiB of strings).
func (f *File) MarshalIndex(tag string) ([]byte, error) {
	// The body's size is known from the counts, and the strings take at
	// most their summed lengths: both buffers are allocated once (a
	// profile of cold requests showed growing them as most of the time
	// spent persisting an index).
	nstr, strBytes, body := 16, 0, 128
	for _, s := range []string{tag, f.Kind, f.Arch, f.CodeID, f.DebugID, f.FileType} {
		strBytes += len(s)
	}
	if f.AltLink != nil {
		strBytes += len(f.AltLink.Path) + len(f.AltLink.BuildID)
	}
	// Every name is demangled first (the index is written when the
	// service is quiet), so that a loaded index never demangles.
	var symDisplay, nameDisplay []string
	if st := f.symtab; st != nil {
		body += len(st.syms) * symbolRecord
		nstr += 2 * len(st.syms)
		symDisplay = make([]string, len(st.syms))
		for i := range st.syms {
			symDisplay[i] = st.function(i)
			strBytes += len(st.syms[i].name) + len(symDisplay[i])
		}
	}
	if ix := f.index; ix != nil {
		body += len(ix.files)*stringRecord + len(ix.lines)*lineRecord + len(ix.nodes)*nodeRecord +
			len(ix.names)*nameRecord + len(ix.langs)*unitRecord + len(ix.segs)*segRecord + 6*8
		nstr += len(ix.files) + 2*len(ix.names) + len(ix.langs)
		nameDisplay = make([]string, len(ix.names))
		for i := range ix.names {
			nameDisplay[i] = ix.function(int32(i))
		}
		for _, list := range [][]string{ix.files, ix.names, nameDisplay, ix.langs} {
			for _, s := range list {
				strBytes += len(s)
			}
		}
	}
	w := &indexWriter{strIDs: make(map[string]uint32, nstr), body: make([]byte, 0, body), strs: make([]byte, 0, strBytes)}
	w.str(tag)
	for _, s := range []string{f.Kind, f.Arch, f.CodeID, f.DebugID, f.FileType} {
		w.str(s)
	}
	w.u8(featureBits(f.Features))
	w.u64(f.LoadAddress)
	if f.AltLink != nil {
		w.u8(1)
		w.str(f.AltLink.Path)
		w.str(f.AltLink.BuildID)
	} else {
		w.u8(0)
	}
	if st := f.symtab; st != nil {
		w.u8(1)
		w.u64(uint64(len(st.syms)))
		for i, s := range st.syms {
			w.u64(s.addr)
			w.u64(s.size)
			w.str(s.name)
			w.str(symDisplay[i])
			w.bool(s.fn)
		}
	} else {
		w.u8(0)
	}
	if ix := f.index; ix != nil {
		w.u8(1)
		w.u64(uint64(len(ix.files)))
		for _, s := range ix.files {
			w.str(s)
		}
		w.u64(uint64(len(ix.lines)))
		for _, l := range ix.lines {
			w.u64(l.addr)
			w.u32(uint32(l.file))
			w.u32(l.line)
		}
		w.u64(uint64(len(ix.nodes)))
		for _, n := range ix.nodes {
			w.u32(uint32(n.parent))
			w.u32(uint32(n.name))
			w.u32(uint32(n.callFile))
			w.u32(n.callLine)
			w.u32(uint32(n.unit))
			w.u64(n.entry)
			w.u64(n.nameAddr)
		}
		w.u64(uint64(len(ix.names)))
		for i, s := range ix.names {
			w.str(s)
			w.str(nameDisplay[i])
		}
		w.u64(uint64(len(ix.langs)))
		for i, s := range ix.langs {
			w.str(s)
			w.bool(i < len(ix.dart) && ix.dart[i])
		}
		w.u64(uint64(len(ix.segs)))
		for _, s := range ix.segs {
			w.u64(s.addr)
			w.u32(uint32(s.node))
		}
	} else {
		w.u8(0)
	}
	if uint64(len(w.strs)) > maxIndexStrings {
		return nil, fmt.Errorf("persist index: %d bytes of strings, the format holds at most %d", len(w.strs), uint64(maxIndexStrings))
	}
	payload := len(w.strs) + 8 + len(w.body)
	out := make([]byte, indexHeaderSize, indexHeaderSize+payload)
	copy(out, indexMagic)
	binary.LittleEndian.PutUint32(out[16:], IndexVersion)
	binary.LittleEndian.PutUint64(out[24:], uint64(payload))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(w.strs)))
	out = append(out, w.strs...)
	out = append(out, w.body...)
	binary.LittleEndian.PutUint32(out[32:], crc32.Checksum(out[indexHeaderSize:], crcTable))
	return out, nil
}

// Record sizes of the persisted index, for the reader's count checks.
const (
	symbolRecord = 8 + 8 + 8 + 8 + 1
	nameRecord   = 8 + 8
	lineRecord   = 8 + 4 + 4
	segRecord    = 8 + 4
	nodeRecord   = 5*4 + 2*8
	stringRecord = 8
	unitRecord   = 8 + 1
)

// LoadIndex reads an index written by MarshalIndex with the same tag and
// format version. The File it returns answers Lookup exactly as the File
// the index was written from. Anything else is an *IndexError; it never
// panics.
func LoadIndex(data []byte, tag string) (f *File, err error) {
	defer func() {
		if r := recover(); r != nil {
			if !recoverPanics {
				panic(r)
			}
			f, err = nil, &IndexError{Reason: fmt.Sprintf("unreadable structure (%v)", r)}
		}
	}()
	bad := func(format string, a ...any) (*File, error) {
		return nil, &IndexError{Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) < indexHeaderSize || string(data[:16]) != indexMagic {
		return bad("not a persisted index")
	}
	if v := binary.LittleEndian.Uint32(data[16:]); v != IndexVersion {
		return bad("format version %d, this reader reads %d", v, IndexVersion)
	}
	if n := binary.LittleEndian.Uint64(data[24:]); n != uint64(len(data)-indexHeaderSize) {
		return bad("the header says %d bytes of payload, the file has %d", n, len(data)-indexHeaderSize)
	}
	payload := data[indexHeaderSize:]
	if crc := crc32.Checksum(payload, crcTable); crc != binary.LittleEndian.Uint32(data[32:]) {
		return bad("checksum mismatch")
	}
	r := &indexReader{b: payload}
	nstr := r.u64()
	if r.err != nil || nstr > uint64(len(r.b)-r.off) {
		return bad("strings of %d bytes exceed the file", nstr)
	}
	// One string holds every string's bytes: the others are slices of it.
	r.strs = string(r.b[r.off : r.off+int(nstr)])
	r.off += int(nstr)

	if got := r.str(); r.err == nil && got != tag {
		return bad("written for another file")
	}
	f = &File{}
	f.Kind, f.Arch, f.CodeID, f.DebugID, f.FileType = r.str(), r.str(), r.str(), r.str(), r.str()
	f.Features = featuresOf(r.u8())
	f.LoadAddress = r.u64()
	if r.flag() {
		f.AltLink = &AltLink{Path: r.str(), BuildID: r.str()}
	}
	if r.flag() {
		n := r.count(symbolRecord)
		syms := make([]symbol, n)
		disp := make([]string, n)
		st := &symtab{syms: syms, display: make([]atomic.Pointer[string], n)}
		for i := range syms {
			s := &syms[i]
			s.addr, s.size, s.name = r.u64(), r.u64(), r.str()
			disp[i] = r.str()
			s.fn = r.flag()
			st.display[i].Store(&disp[i])
			if i > 0 && s.addr < syms[i-1].addr {
				r.fail("symbol %d out of address order", i)
			}
		}
		f.symtab = st
	}
	if r.flag() {
		ix := &dwarfIndex{}
		ix.files = make([]string, r.count(stringRecord))
		for i := range ix.files {
			ix.files[i] = r.str()
		}
		nfiles := int32(len(ix.files))
		ix.lines = make([]lineEntry, r.count(lineRecord))
		for i := range ix.lines {
			l := &ix.lines[i]
			l.addr, l.file, l.line = r.u64(), int32(r.u32()), r.u32()
			if l.file < -2 || l.file >= nfiles {
				r.fail("line %d refers to file %d of %d", i, l.file, nfiles)
			}
			if i > 0 && l.addr < ix.lines[i-1].addr {
				r.fail("line %d out of address order", i)
			}
		}
		ix.nodes = make([]node, r.count(nodeRecord))
		for i := range ix.nodes {
			n := &ix.nodes[i]
			n.parent, n.name, n.callFile, n.callLine, n.unit = int32(r.u32()), int32(r.u32()), int32(r.u32()), r.u32(), int32(r.u32())
			n.entry, n.nameAddr = r.u64(), r.u64()
			// A parent comes before its children: the tree has no cycle,
			// and walking up from any node ends.
			if n.parent < -1 || n.parent >= int32(i) {
				r.fail("function %d has parent %d", i, n.parent)
			}
			if n.callFile < -1 || n.callFile >= nfiles {
				r.fail("function %d refers to file %d of %d", i, n.callFile, nfiles)
			}
		}
		ix.names = make([]string, r.count(nameRecord))
		disp := make([]string, len(ix.names))
		ix.display = make([]atomic.Pointer[string], len(ix.names))
		for i := range ix.names {
			ix.names[i], disp[i] = r.str(), r.str()
			ix.display[i].Store(&disp[i])
		}
		nunits := r.count(unitRecord)
		ix.langs, ix.dart = make([]string, nunits), make([]bool, nunits)
		for i := range ix.langs {
			ix.langs[i], ix.dart[i] = r.str(), r.flag()
		}
		ix.segs = make([]segment, r.count(segRecord))
		for i := range ix.segs {
			s := &ix.segs[i]
			s.addr, s.node = r.u64(), int32(r.u32())
			if s.node < -1 || int64(s.node) >= int64(len(ix.nodes)) {
				r.fail("segment %d refers to function %d of %d", i, s.node, len(ix.nodes))
			}
			if i > 0 && s.addr < ix.segs[i-1].addr {
				r.fail("segment %d out of address order", i)
			}
		}
		for i, n := range ix.nodes {
			if n.name < 0 || int(n.name) >= len(ix.names) || n.unit < 0 || int(n.unit) >= nunits {
				r.fail("function %d refers to name %d of %d, unit %d of %d", i, n.name, len(ix.names), n.unit, nunits)
				break
			}
		}
		f.index = ix
	}
	if f.index != nil && f.symtab != nil {
		linkTwins(f.index, f.symtab)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d bytes after the index", len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

func featureBits(f Features) uint8 {
	var b uint8
	for i, on := range []bool{f.HasDebugInfo, f.HasUnwindInfo, f.HasSymbols, f.HasSources} {
		if on {
			b |= 1 << i
		}
	}
	return b
}

func featuresOf(b uint8) Features {
	return Features{HasDebugInfo: b&1 != 0, HasUnwindInfo: b&2 != 0, HasSymbols: b&4 != 0, HasSources: b&8 != 0}
}

type indexWriter struct {
	body   []byte
	strs   []byte
	strIDs map[string]uint32
}

func (w *indexWriter) u8(v uint8)   { w.body = append(w.body, v) }
func (w *indexWriter) u32(v uint32) { w.body = binary.LittleEndian.AppendUint32(w.body, v) }
func (w *indexWriter) u64(v uint64) { w.body = binary.LittleEndian.AppendUint64(w.body, v) }

func (w *indexWriter) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// str writes a reference to s, each distinct string stored once.
func (w *indexWriter) str(s string) {
	off, ok := w.strIDs[s]
	if !ok {
		off = uint32(len(w.strs)) // checked against maxIndexStrings at the end
		w.strs = append(w.strs, s...)
		w.strIDs[s] = off
	}
	w.u32(off)
	w.u32(uint32(len(s)))
}

// indexReader reads a persisted index's payload. Errors stick: after the
// first, reads return zero values and counts zero, so that no allocation
// follows a failed check.
type indexReader struct {
	b    []byte
	off  int
	strs string
	err  error
}

func (r *indexReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = &IndexError{Reason: fmt.Sprintf(format, a...)}
	}
	r.off = len(r.b)
}

func (r *indexReader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n > len(r.b)-r.off {
		r.fail("truncated at byte %d", r.off)
		return false
	}
	return true
}

func (r *indexReader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *indexReader) flag() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("flag byte %d at %d", v, r.off-1)
		return false
	}
}

func (r *indexReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.b[r.off-4:])
}

func (r *indexReader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:])
}

func (r *indexReader) str() string {
	off, n := uint64(r.u32()), uint64(r.u32())
	if r.err != nil {
		return ""
	}
	if off+n > uint64(len(r.strs)) {
		r.fail("string at %d of %d bytes outside the strings (%d bytes)", off, n, len(r.strs))
		return ""
	}
	return r.strs[off : off+n]
}

// count reads a record count and checks that that many records of size
// bytes fit in what is left, so that the slice it sizes is bounded by the
// file.
func (r *indexReader) count(size int) int {
	n := r.u64()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)-r.off)/uint64(size) {
		r.fail("%d records of %d bytes exceed the file", n, size)
		return 0
	}
	return int(n)
}
