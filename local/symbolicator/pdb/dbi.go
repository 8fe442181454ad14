package pdb

import (
	"fmt"
	"sort"
)

// dbiStream is what the DBI stream says about the image and its modules.
type dbiStream struct {
	age          uint32
	machine      uint16
	symRecords   uint16 // stream of the global symbol records (S_PUB32, ...)
	modules      []moduleInfo
	contribs     []contrib // by (section, offset)
	debugStreams [11]uint16
}

type moduleInfo struct {
	name, obj          string
	stream             uint16
	symBytes, c11, c13 uint32
}

// contrib is a section contribution: which module a piece of a section
// came from.
type contrib struct {
	section uint16
	offset  uint32
	size    uint32
	module  uint16
}

// Optional debug header stream slots.
const (
	dbgFPO         = 0
	dbgOmapToSrc   = 3
	dbgOmapFromSrc = 4
	dbgSectionHdr  = 5
	dbgNewFPO      = 9
	dbgSectionOrig = 10
)

func parseDBI(b []byte) (*dbiStream, error) {
	const what = "DBI stream"
	c := cursor{b: b}
	sig := int32(c.u32())
	version := c.u32()
	d := &dbiStream{age: c.u32()}
	_ = c.u16() // global symbol stream
	_ = c.u16() // build number
	_ = c.u16() // public symbol stream
	_ = c.u16() // pdb dll version
	d.symRecords = c.u16()
	_ = c.u16() // pdb dll rebuild
	var sizes [7]int32
	sizes[0] = int32(c.u32()) // module info
	sizes[1] = int32(c.u32()) // section contributions
	sizes[2] = int32(c.u32()) // section map
	sizes[3] = int32(c.u32()) // source info
	sizes[4] = int32(c.u32()) // type server map
	_ = c.u32()               // MFC type server index
	sizes[6] = int32(c.u32()) // optional debug header
	sizes[5] = int32(c.u32()) // EC substream
	_ = c.u16()               // flags
	d.machine = c.u16()
	_ = c.u32() // padding
	if c.err != nil {
		return nil, malformed(what, c.err)
	}
	if sig != -1 || version < 19960307 {
		return nil, malformedf(what, "header version %d (signature %d) is not a 7.0 DBI header", version, sig)
	}
	var subs [7][]byte
	names := [7]string{"module info", "section contributions", "section map", "source info", "type server map", "EC", "optional debug header"}
	for i, n := range sizes {
		if n < 0 || int(n) > c.left() {
			return nil, malformedf(what, "%s substream of %d bytes, %d left", names[i], n, c.left())
		}
		subs[i] = c.take(int(n))
	}

	// Module infos: a 64-byte fixed part, two names, padding to 4.
	mc := cursor{b: subs[0]}
	for mc.left() > 0 {
		mc.skip(4)   // unused
		mc.skip(28)  // the module's first section contribution
		_ = mc.u16() // flags
		var m moduleInfo
		m.stream = mc.u16()
		m.symBytes = mc.u32()
		m.c11 = mc.u32()
		m.c13 = mc.u32()
		mc.skip(2 + 2 + 4 + 4 + 4) // file count, padding, unused, source file and pdb path name indices
		m.name = mc.cstr()
		m.obj = mc.cstr()
		mc.align(4)
		if mc.err != nil {
			return nil, malformed(fmt.Sprintf("%s: module info %d", what, len(d.modules)), mc.err)
		}
		d.modules = append(d.modules, m)
	}

	// Section contributions.
	sc := cursor{b: subs[1]}
	if sc.left() > 0 {
		ver := sc.u32()
		entry := 28
		switch ver {
		case 0xeffe0000 + 19970605:
		case 0xeffe0000 + 20140516:
			entry = 32
		default:
			return nil, malformedf(what, "section contributions version %#x is not known", ver)
		}
		n := sc.left() / entry
		d.contribs = make([]contrib, 0, n)
		for i := 0; i < n; i++ {
			e := cursor{b: sc.take(entry)}
			var ct contrib
			ct.section = e.u16()
			e.skip(2)
			ct.offset = e.u32()
			ct.size = e.u32()
			_ = e.u32() // characteristics
			ct.module = e.u16()
			if ct.size > 0 && int(ct.module) < len(d.modules) {
				d.contribs = append(d.contribs, ct)
			}
		}
		sort.SliceStable(d.contribs, func(i, j int) bool {
			a, b := d.contribs[i], d.contribs[j]
			return a.section < b.section || a.section == b.section && a.offset < b.offset
		})
	}

	for i := range d.debugStreams {
		d.debugStreams[i] = 0xFFFF
	}
	dc := cursor{b: subs[6]}
	for i := 0; i < len(d.debugStreams) && dc.left() >= 2; i++ {
		d.debugStreams[i] = dc.u16()
	}
	return d, nil
}

// archName names a DBI machine type as symbolic does.
func archName(machine uint16) string {
	switch machine {
	case 0x14c:
		return "x86"
	case 0x8664:
		return "x86_64"
	case 0x1c0:
		return "arm"
	case 0xaa64:
		return "arm64"
	case 0x1f0:
		return "ppc"
	}
	return "unknown"
}

// section is what the address map needs of an image section header.
type section struct {
	va, size        uint32
	characteristics uint32
}

const (
	scnCntCode = 0x00000020
	scnMemExec = 0x20000000
)

func parseSections(b []byte) []section {
	n := len(b) / 40
	out := make([]section, n)
	for i := range out {
		h := b[40*i:]
		c := cursor{b: h[8:40]}
		out[i].size = c.u32()
		out[i].va = c.u32()
		c.skip(4 + 4 + 4 + 4 + 2 + 2)
		out[i].characteristics = c.u32()
	}
	return out
}

// addrMap turns the (section, offset) addresses of symbols and line records
// into RVAs: through the section headers the image was linked with and,
// when the image was rewritten after linking (OMAP, from tools like BBT),
// through the "from source" OMAP table.
type addrMap struct {
	sections []section // the headers symbol offsets refer to
	omap     []omapEntry
}

type omapEntry struct{ from, to uint32 }

func parseOMAP(b []byte) []omapEntry {
	n := len(b) / 8
	out := make([]omapEntry, n)
	for i := range out {
		c := cursor{b: b[8*i : 8*i+8]}
		out[i] = omapEntry{c.u32(), c.u32()}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].from < out[j].from })
	return out
}

// rva maps a section offset to an RVA; ok is false for section 0, a
// section the image does not have, and addresses OMAP drops.
func (m *addrMap) rva(sec uint16, off uint32) (uint32, bool) {
	if sec == 0 || int(sec) > len(m.sections) {
		return 0, false
	}
	r := m.sections[sec-1].va + off
	if m.omap == nil {
		return r, true
	}
	return m.mapOMAP(r)
}

func (m *addrMap) mapOMAP(r uint32) (uint32, bool) {
	om := m.omap
	i := sort.Search(len(om), func(i int) bool { return om[i].from > r }) - 1
	if i < 0 || om[i].to == 0 {
		return 0, false
	}
	return om[i].to + (r - om[i].from), true
}

// executable reports whether section sec (1-based) holds code.
func (m *addrMap) executable(sec uint16) bool {
	if sec == 0 || int(sec) > len(m.sections) {
		return false
	}
	return m.sections[sec-1].characteristics&(scnCntCode|scnMemExec) != 0
}
