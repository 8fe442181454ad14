package objfile

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/symflow/symflow/local/symbolicator/wasm"
	"github.com/symflow/symflow/shared/debugfile"
)

// openWasm reads a WebAssembly module: its identity from the build_id
// custom section, its DWARF from the ".debug_*" custom sections, and its
// function names (the "name" section) as the symbol table.
//
// Addresses are file offsets, as Symbolicator's symcache keeps them for
// wasm: a frame's instruction_addr is the offset of the instruction in the
// module file. DWARF inside wasm counts from the start of the code
// section's contents instead, so the DWARF index is shifted by the code
// section's offset once it is built; LoadAddress stays 0. That offset is
// the file's own: a debug companion serves the module a browser ran only
// when the sections before their code sections are byte-identical, as a
// split keeps them.
//
// A shipped module without DWARF is still a file of symbols (its name
// section); its external_debug_info URL is not followed here or anywhere:
// the companion is another candidate, found by the build id (wasm.Module
// says why).
func openWasm(data []byte, index bool) (*File, error) {
	m, err := wasm.Parse(data)
	if err != nil {
		if errors.Is(err, wasm.ErrNotWasm) {
			return nil, errors.Join(err, ErrUnsupported)
		}
		return nil, &MalformedError{Kind: "wasm", What: "module", Err: err}
	}
	f := &File{Identity: Identity{Kind: "wasm", Arch: "wasm32", CodeID: m.CodeID(), DebugID: m.DebugID(),
		FileType: debugfile.FileType(m.DefinesFunctions, m.HasDebugInfo())}}
	var syms []symbol
	for _, fn := range m.Functions {
		if fn.Name != "" {
			syms = append(syms, symbol{addr: fn.Addr, size: fn.Size, name: fn.Name, fn: true})
		}
	}
	f.Features = Features{HasDebugInfo: m.HasDebugInfo(), HasUnwindInfo: m.HasUnwindInfo(), HasSymbols: len(syms) > 0}
	if !index {
		return f, nil
	}
	if len(syms) > maxSymbols {
		syms = syms[:maxSymbols]
	}
	f.symtab = newSymtab(syms)
	if m.HasDebugInfo() {
		secs := map[string][]byte{}
		for name, b := range m.Sections {
			if s, ok := strings.CutPrefix(name, ".debug_"); ok {
				secs[s] = b
			}
		}
		idx, err := buildIndex(secs, binary.LittleEndian, "wasm", nil)
		if err != nil {
			return nil, err
		}
		if idx != nil {
			idx.shift(m.CodeOffset)
		}
		f.index = idx
	}
	return f, nil
}

// shift moves every address of the index up by d: DWARF in wasm is
// code-section-relative, lookups are by file offset.
func (ix *dwarfIndex) shift(d uint64) {
	if d == 0 {
		return
	}
	for i := range ix.lines {
		ix.lines[i].addr += d
	}
	for i := range ix.segs {
		ix.segs[i].addr += d
	}
	for i := range ix.nodes {
		ix.nodes[i].entry += d
		ix.nodes[i].nameAddr += d
	}
}
