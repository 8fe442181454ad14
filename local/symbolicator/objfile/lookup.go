package objfile

// Lookup returns the frames at addr, a file-relative address (already in the
// file's own address space, see LoadAddress). Frames are innermost first;
// the last one is the real function and carries SymAddr. ok is false when
// neither DWARF nor the symbol table has a function covering addr.
func (f *File) Lookup(addr uint64) (frames []Frame, ok bool) {
	if f == nil {
		return nil, false
	}
	if ix := f.index; ix != nil {
		if n := ix.nodeAt(addr); n >= 0 {
			// As symbolic does, name the real function after the function
			// symbol at its lowest address when there is one: DWARF often
			// lacks linkage names (GCC for anonymous namespaces,
			// -gline-tables-only) and the symbol table names aliases and
			// clones as linked. Inlined frames keep their DWARF names, and
			// so does everything the Dart VM produced. The DWARF name of a
			// function the symbol table names is not demangled at all.
			sym := -1
			if root := ix.root(n); !ix.dart[ix.nodes[root].unit] {
				sym = f.symtab.exact(ix.nodes[root].nameAddr)
			}
			frames := ix.frames(n, addr, sym >= 0)
			if sym >= 0 {
				out := &frames[len(frames)-1]
				out.Symbol, out.Function = f.symtab.syms[sym].name, f.symtab.function(sym)
			}
			return frames, true
		}
	}
	// Only function symbols name code, as in symbolic's symbol map: an
	// address in data (.init_array, a vtable) found by a stack scan must
	// not come out as a frame.
	i := f.symtab.find(addr)
	if i < 0 || !f.symtab.syms[i].fn {
		return nil, false
	}
	sym := &f.symtab.syms[i]
	// A symbol-table function has no language (symbolic's are "unknown").
	fr := Frame{Symbol: sym.name, Function: f.symtab.function(i), SymAddr: sym.addr}
	if ix := f.index; ix != nil {
		fr.AbsPath, fr.Line = ix.lineAt(addr)
	}
	return []Frame{fr}, true
}

// root returns the real (not inlined) function node holding node n.
func (ix *dwarfIndex) root(n int32) int32 {
	for ix.nodes[n].parent >= 0 {
		n = ix.nodes[n].parent
	}
	return n
}

// nodeAt returns the innermost function node covering addr, or -1.
func (ix *dwarfIndex) nodeAt(addr uint64) int32 {
	segs := ix.segs
	lo, hi := 0, len(segs) // first index with segs[i].addr > addr
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if segs[m].addr > addr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return -1
	}
	return segs[lo-1].node
}

// lineAt returns the line-table file and line for addr.
func (ix *dwarfIndex) lineAt(addr uint64) (string, int) {
	lines := ix.lines
	lo, hi := 0, len(lines) // first index with lines[i].addr > addr
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if lines[m].addr > addr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return "", 0
	}
	e := &lines[lo-1]
	if e.file < 0 {
		return "", 0
	}
	return ix.files[e.file], int(e.line)
}

// frames returns the inline chain at addr from node n outwards; with
// unnamedRoot the real function's Function and Symbol are left for the
// caller to set.
func (ix *dwarfIndex) frames(n int32, addr uint64, unnamedRoot bool) []Frame {
	depth := 1
	for p := ix.nodes[n].parent; p >= 0; p = ix.nodes[p].parent {
		depth++
	}
	out := make([]Frame, 0, depth)
	path, line := ix.lineAt(addr)
	for {
		nd := &ix.nodes[n]
		out = append(out, Frame{AbsPath: path, Line: line, Lang: ix.langs[nd.unit]})
		if nd.parent >= 0 || !unnamedRoot {
			out[len(out)-1].Function, out[len(out)-1].Symbol = ix.function(nd.name), ix.names[nd.name]
		}
		if nd.parent < 0 {
			out[len(out)-1].SymAddr = nd.entry
			return out
		}
		path, line = "", int(nd.callLine)
		if nd.callFile >= 0 {
			path = ix.files[nd.callFile]
		}
		n = nd.parent
	}
}
