package pdb

import "sort"

// public is an S_PUB32 symbol in an executable section.
type public struct {
	rva, end uint32 // end: the end of its section
	name     string
}

// parsePublics collects the public symbols of the global symbol record
// stream. Only those in executable sections are kept, as symbolic keeps
// them: data symbols must not name code.
func (f *File) parsePublics(b []byte) error {
	for off := 0; off+4 <= len(b); {
		l, _ := u16at(b, off)
		kind, _ := u16at(b, off+2)
		if l < 2 || off+2+int(l) > len(b) {
			return malformedf("symbol record stream", "record at offset %d has length %d, %d bytes left", off, l, len(b)-off-2)
		}
		body := b[off+4 : off+2+int(l)]
		off += 2 + int(l)
		if kind != sPub32 {
			continue
		}
		c := cursor{b: body}
		_ = c.u32() // flags
		so := c.u32()
		seg := c.u16()
		name := c.cstr()
		if c.err != nil || !f.addr.executable(seg) {
			continue
		}
		if rva, ok := f.addr.rva(seg, so); ok {
			sec := f.addr.sections[seg-1]
			end := uint64(sec.va) + uint64(sec.size)
			if f.addr.omap != nil || end > 0xFFFFFFFF || end <= uint64(rva) {
				end = 0xFFFFFFFF
			}
			f.publics = append(f.publics, public{rva: rva, end: uint32(end), name: name})
		}
	}
	sort.SliceStable(f.publics, func(i, j int) bool { return f.publics[i].rva < f.publics[j].rva })
	// One name per address: the first the linker wrote.
	out := f.publics[:0]
	for i, p := range f.publics {
		if i > 0 && p.rva == out[len(out)-1].rva {
			continue
		}
		out = append(out, p)
	}
	f.publics = out
	return nil
}
