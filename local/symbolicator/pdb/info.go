package pdb

import (
	"math/bits"
	"strings"

	"github.com/symflow/symflow/shared/debugfile"
)

// Fixed stream indices.
const (
	streamInfo = 1
	streamTPI  = 2
	streamDBI  = 3
	streamIPI  = 4
)

// infoStream is the PDB information stream: version, GUID, age and the
// named streams ("/names", "/LinkInfo", "srcsrv", ...).
type infoStream struct {
	age   uint32
	guid  [16]byte
	named map[string]uint32
}

func parseInfo(b []byte) (*infoStream, error) {
	const what = "PDB information stream"
	c := cursor{b: b}
	_ = c.u32() // version
	_ = c.u32() // signature (a timestamp)
	in := &infoStream{age: c.u32(), named: map[string]uint32{}}
	copy(in.guid[:], c.take(16))
	if c.err != nil {
		return nil, malformed(what, c.err)
	}
	// Named stream map: a string buffer, then a hash table of
	// (offset in the buffer, stream index) pairs.
	strSize := c.u32()
	strs := c.take(int(strSize))
	size := c.u32()
	capacity := c.u32()
	present := bitVector(&c)
	_ = bitVector(&c) // deleted
	if c.err != nil {
		// Very old PDBs end after the GUID; they simply have no names.
		return in, nil
	}
	n := 0
	for _, w := range present {
		n += bits.OnesCount32(w)
	}
	if uint64(n) > uint64(c.left())/8 || size > capacity || n > int(capacity) {
		return nil, malformedf(what, "named stream map claims %d entries (capacity %d) in %d bytes", n, capacity, c.left())
	}
	for i := 0; i < n; i++ {
		key, val := c.u32(), c.u32()
		if int(key) >= len(strs) {
			return nil, malformedf(what, "stream name at offset %d past the %d-byte name buffer", key, len(strs))
		}
		name := strs[key:]
		if j := strings.IndexByte(string(name), 0); j >= 0 {
			name = name[:j]
		}
		in.named[string(name)] = val
	}
	return in, nil
}

// bitVector reads a word count and that many 32-bit words.
func bitVector(c *cursor) []uint32 {
	n := c.u32()
	if c.err != nil || uint64(n) > uint64(c.left())/4 {
		c.fail(int(n) * 4)
		return nil
	}
	w := make([]uint32, n)
	for i := range w {
		w[i] = c.u32()
	}
	return w
}

// formatDebugID formats a GUID as stored in a PDB and an age the way
// symbolic's DebugId prints, by the rule debug-file uploads name PDBs by
// (debugfile.GUIDAgeDebugID).
func formatDebugID(g [16]byte, age uint32) string { return debugfile.GUIDAgeDebugID(g, age) }

// stringTable is the "/names" stream: the strings that file checksums and
// frame data refer to by offset.
type stringTable struct{ buf []byte }

func parseStringTable(b []byte) (stringTable, error) {
	const what = "string table (/names)"
	c := cursor{b: b}
	sig := c.u32()
	_ = c.u32() // hash version
	size := c.u32()
	if c.err != nil {
		return stringTable{}, malformed(what, c.err)
	}
	if sig != 0xEFFEEFFE {
		return stringTable{}, malformedf(what, "signature %#x, want 0xeffeeffe", sig)
	}
	buf := c.take(int(size))
	if c.err != nil {
		return stringTable{}, malformed(what, c.err)
	}
	return stringTable{buf: buf}, nil
}

// get returns the string at off, or "" when off is past the buffer.
func (t stringTable) get(off uint32) string {
	if uint64(off) >= uint64(len(t.buf)) {
		return ""
	}
	s := t.buf[off:]
	for i, ch := range s {
		if ch == 0 {
			return string(s[:i])
		}
	}
	return string(s)
}
