package minidump

import (
	"encoding/binary"
	"sort"
)

// Region is a block of captured process memory: Data holds the bytes at
// addresses Start to Start+len(Data)-1.
type Region struct {
	Start uint64
	Data  []byte
}

// Bytes returns the n bytes at addr, without copying, when the region holds
// all of them.
func (r Region) Bytes(addr uint64, n int) ([]byte, bool) {
	if n < 0 || addr < r.Start {
		return nil, false
	}
	off := addr - r.Start
	if off > uint64(len(r.Data)) || uint64(n) > uint64(len(r.Data))-off {
		return nil, false
	}
	return r.Data[off : off+uint64(n) : off+uint64(n)], true
}

// Read returns the little-endian unsigned value of size 1, 2, 4 or 8 bytes
// at addr, when the region holds all of it. Memory is read little-endian
// because every CPU that minidumps are walked for stores it so.
func (r Region) Read(addr uint64, size int) (uint64, bool) {
	if size != 1 && size != 2 && size != 4 && size != 8 {
		return 0, false
	}
	b, ok := r.Bytes(addr, size)
	if !ok {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), true
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), true
	}
	return binary.LittleEndian.Uint64(b), true
}

// Memory is the captured memory of a dump: the regions of MemoryListStream
// (stacks and small blocks, as Breakpad and Crashpad write them) merged with
// those of Memory64ListStream (full-memory dumps), sorted by address.
//
// Regions never overlap. Overlaps are settled as rust-minidump settles them
// within one list: regions are sorted by start and then end, and a region
// starting inside one kept before it is dropped. Memory64ListStream regions
// are placed first, so they win over MemoryListStream regions they overlap,
// as rust-minidump prefers the 64-bit list when a dump has both. Empty
// regions and regions reaching the end of the 64-bit address space (whose
// end rust-minidump cannot represent either) are dropped.
//
// Memory satisfies interface{ Read(addr uint64, size int) (uint64, bool) }.
type Memory struct {
	regions []Region
}

// Regions returns the regions sorted by address. The slice is shared; do
// not modify it.
func (m *Memory) Regions() []Region { return m.regions }

// Find returns the region containing addr.
func (m *Memory) Find(addr uint64) (Region, bool) {
	i := sort.Search(len(m.regions), func(i int) bool {
		r := m.regions[i]
		return r.Start+uint64(len(r.Data)) > addr
	})
	if i < len(m.regions) && m.regions[i].Start <= addr {
		return m.regions[i], true
	}
	return Region{}, false
}

// Bytes returns the n bytes at addr, without copying, when one region holds
// all of them.
func (m *Memory) Bytes(addr uint64, n int) ([]byte, bool) {
	r, ok := m.Find(addr)
	if !ok {
		return nil, false
	}
	return r.Bytes(addr, n)
}

// Read returns the little-endian value of size 1, 2, 4 or 8 bytes at addr
// when one region holds all of it.
func (m *Memory) Read(addr uint64, size int) (uint64, bool) {
	r, ok := m.Find(addr)
	if !ok {
		return 0, false
	}
	return r.Read(addr, size)
}

// addRegions merges regions into m, dropping those that overlap a region
// already kept (see Memory).
func (m *Memory) addRegions(add []Region) {
	add = append([]Region(nil), add...)
	sort.SliceStable(add, func(i, j int) bool {
		a, b := add[i], add[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return len(a.Data) < len(b.Data)
	})
	var kept []Region
	for _, r := range add {
		if len(r.Data) == 0 || r.Start+uint64(len(r.Data)) <= r.Start {
			continue
		}
		if n := len(kept); n > 0 && r.Start < kept[n-1].Start+uint64(len(kept[n-1].Data)) {
			continue
		}
		if _, clash := m.overlaps(r); clash {
			continue
		}
		kept = append(kept, r)
	}
	m.regions = append(m.regions, kept...)
	sort.Slice(m.regions, func(i, j int) bool { return m.regions[i].Start < m.regions[j].Start })
}

// overlaps reports whether r shares an address with a region of m.
func (m *Memory) overlaps(r Region) (Region, bool) {
	end := r.Start + uint64(len(r.Data))
	i := sort.Search(len(m.regions), func(i int) bool {
		q := m.regions[i]
		return q.Start+uint64(len(q.Data)) > r.Start
	})
	if i < len(m.regions) && m.regions[i].Start < end {
		return m.regions[i], true
	}
	return Region{}, false
}

const (
	memDescSize   = 16 // MINIDUMP_MEMORY_DESCRIPTOR
	mem64DescSize = 16 // MINIDUMP_MEMORY_DESCRIPTOR64
)

func (p *parser) parseMemory() {
	var regions64, regions []Region
	if b, ok := p.stream(Memory64ListStream); ok {
		regions64 = p.memory64(b)
	}
	if b, ok := p.stream(MemoryListStream); ok {
		regions = p.memoryList(b)
	}
	p.d.Memory.addRegions(regions64)
	p.d.Memory.addRegions(regions)
}

// memoryList reads MINIDUMP_MEMORY_LIST: a count and that many
// descriptors. Descriptors with no data (RVA or size 0, which Windows
// writes for some stacks) are skipped quietly, as rust-minidump does;
// descriptors pointing outside the file are reported and skipped.
func (p *parser) memoryList(b []byte) []Region {
	n, off, ok := p.listCount(b, memDescSize)
	if !ok {
		return nil
	}
	var out []Region
	for i := 0; i < n; i++ {
		e := b[off+i*memDescSize:]
		start := p.bo.Uint64(e)
		size, rva := p.bo.Uint32(e[8:]), p.bo.Uint32(e[12:])
		if size == 0 || rva == 0 {
			continue
		}
		data, msg := p.loc(size, rva)
		if msg != "" {
			p.fail("region %d at 0x%x: %s", i, start, msg)
			continue
		}
		if start+uint64(size) <= start {
			p.fail("region %d at 0x%x of 0x%x bytes reaches the end of the address space", i, start, size)
			continue
		}
		out = append(out, Region{Start: start, Data: data})
	}
	return out
}

// memory64 reads MINIDUMP_MEMORY64_LIST: a 64-bit count, the RVA where the
// data of all regions starts, then (start, size) pairs whose data follow
// one another from that RVA.
func (p *parser) memory64(b []byte) []Region {
	if len(b) < 16 {
		p.fail("stream of %d bytes is shorter than its 16-byte header", len(b))
		return nil
	}
	count, rva := p.bo.Uint64(b), p.bo.Uint64(b[8:])
	if count > uint64(len(b)-16)/mem64DescSize || 16+count*mem64DescSize != uint64(len(b)) {
		p.fail("%d regions need 0x%x bytes, stream has 0x%x", count, 16+count*mem64DescSize, len(b))
		return nil
	}
	var out []Region
	for i := 0; i < int(count); i++ {
		e := b[16+i*mem64DescSize:]
		start, size := p.bo.Uint64(e), p.bo.Uint64(e[8:])
		data, ok := sliceAt(p.data, rva, size)
		if !ok {
			p.fail("region %d at 0x%x: range 0x%x+0x%x outside file of 0x%x bytes", i, start, rva, size, len(p.data))
			break // later regions start after this one
		}
		if size != 0 && start+size <= start {
			p.fail("region %d at 0x%x of 0x%x bytes reaches the end of the address space", i, start, size)
		} else {
			out = append(out, Region{Start: start, Data: data})
		}
		rva += size
	}
	return out
}

// listCount reads the u32 count at the start of a MINIDUMP_*_LIST stream
// and checks that count entries of entrySize fill the stream. Some writers
// put 4 bytes of padding between the count and the entries (so that 64-bit
// fields are aligned); Breakpad and rust-minidump accept that, and so does
// this reader. It returns the count and the offset of the first entry.
func (p *parser) listCount(b []byte, entrySize int) (count, off int, ok bool) {
	if len(b) < 4 {
		p.fail("stream of %d bytes has no room for its count", len(b))
		return 0, 0, false
	}
	n := uint64(p.bo.Uint32(b))
	want := 4 + n*uint64(entrySize)
	switch uint64(len(b)) {
	case want:
		return int(n), 4, true
	case want + 4:
		return int(n), 8, true
	}
	p.fail("%d entries of %d bytes need 0x%x bytes, stream has 0x%x", n, entrySize, want, len(b))
	return 0, 0, false
}
