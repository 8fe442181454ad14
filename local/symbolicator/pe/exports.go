package pe

import (
	"encoding/binary"
	"sort"
	"strings"

	stdpe "debug/pe"
)

// Export is one entry of the export address table.
type Export struct {
	// Ordinal is the export's ordinal: the table's ordinal base plus its
	// index in the address table.
	Ordinal uint32
	// Name is the first name the name table gives the entry; "" for an
	// export by ordinal only.
	Name string
	// RVA is the entry's address. For a forwarder it points at the
	// forwarder string inside the export directory, not at code.
	RVA uint32
	// Forwarder is "dll.name" or "dll.#ordinal" for an export forwarded to
	// another image; "" otherwise.
	Forwarder string
}

const exportDirSize = 40

// readExports reads the export directory: the DLL name always, the tables
// when full. A broken export directory is not an error (goblin, which
// symbolic uses, ignores one too): the image just has fewer exports.
func (f *File) readExports(d stdpe.DataDirectory, full bool) {
	hdr, ok := f.bytesAt(d.VirtualAddress, exportDirSize)
	if !ok {
		return
	}
	le := binary.LittleEndian
	if name, ok := f.cstring(le.Uint32(hdr[12:])); ok {
		f.CodeFile = lossyUTF8([]byte(name))
	}
	base := le.Uint32(hdr[16:])
	nAddr := le.Uint32(hdr[20:])
	nNames := le.Uint32(hdr[24:])
	addrTable := f.table(le.Uint32(hdr[28:]), nAddr, 4)
	nameTable := f.table(le.Uint32(hdr[32:]), nNames, 4)
	ordTable := f.table(le.Uint32(hdr[36:]), nNames, 2)
	nNames = uint32(min(len(nameTable)/4, len(ordTable)/2))
	nAddr = uint32(len(addrTable) / 4)

	dirEnd := uint64(d.VirtualAddress) + uint64(d.Size)
	isForwarder := func(rva uint32) bool {
		return rva >= d.VirtualAddress && uint64(rva) < dirEnd
	}

	// Names, as goblin reads them: one per name-table entry, through the
	// ordinal table into the address table. An export whose address lies
	// in no section is dropped, so is a forwarder without a '.'.
	firstName := make(map[uint32]string)
	var named []Export
	for i := uint32(0); i < nNames; i++ {
		idx := uint32(le.Uint16(ordTable[i*2:]))
		if idx >= nAddr {
			continue
		}
		name, ok := f.cstring(le.Uint32(nameTable[i*4:]))
		if !ok {
			continue
		}
		name = lossyUTF8([]byte(name))
		if _, dup := firstName[idx]; !dup {
			firstName[idx] = name
		}
		rva := le.Uint32(addrTable[idx*4:])
		if !f.inSection(rva) {
			continue
		}
		e := Export{Ordinal: base + idx, Name: name, RVA: rva}
		if isForwarder(rva) {
			fw, ok := f.cstring(rva)
			if !ok || !strings.Contains(fw, ".") {
				continue
			}
			e.Forwarder = fw
		}
		named = append(named, e)
	}
	f.Features.HasSymbols = len(named) > 0
	if !full {
		return
	}

	f.exports = make([]Export, 0, nAddr)
	for idx := uint32(0); idx < nAddr; idx++ {
		rva := le.Uint32(addrTable[idx*4:])
		e := Export{Ordinal: base + idx, Name: firstName[idx], RVA: rva}
		if isForwarder(rva) {
			e.Forwarder, _ = f.cstring(rva)
		}
		f.exports = append(f.exports, e)
	}

	// The symbol map, as symbolic builds one from the exports: by address
	// (stable, so the name table's order decides among equal addresses),
	// keeping the first symbol at each address.
	sort.SliceStable(named, func(i, j int) bool { return named[i].RVA < named[j].RVA })
	for _, e := range named {
		if n := len(f.symbols); n > 0 && f.symbols[n-1].RVA == e.RVA {
			continue
		}
		f.symbols = append(f.symbols, e)
	}
}

// table returns up to count entries of size bytes at rva: as many as the
// section holding rva has, none when rva is in no section.
func (f *File) table(rva, count, size uint32) []byte {
	if count == 0 || rva == 0 {
		return nil
	}
	want := uint64(count) * uint64(size)
	if want > uint64(len(f.data)) {
		want = uint64(len(f.data))
	}
	b, _ := f.span(rva, uint32(want))
	return b[:len(b)/int(size)*int(size)]
}

// Exports returns the export address table in ordinal order, as
// llvm-readobj --coff-exports lists it. The slice must not be modified.
func (f *File) Exports() []Export { return f.exports }

// Symbol returns the named export covering rva: the one with the greatest
// RVA not above rva, as symbolic's symbol map answers for a PE image
// without debug information. Forwarders count, as they do in symbolic,
// though their RVAs point into the export directory rather than at code.
func (f *File) Symbol(rva uint32) (Export, bool) {
	i := sort.Search(len(f.symbols), func(i int) bool { return f.symbols[i].RVA > rva }) - 1
	if i < 0 {
		return Export{}, false
	}
	return f.symbols[i], true
}

// Symbols returns the named exports by RVA, one per RVA, as Symbol
// searches them. The slice must not be modified.
func (f *File) Symbols() []Export { return f.symbols }
