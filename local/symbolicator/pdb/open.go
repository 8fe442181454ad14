package pdb

import (
	"sort"
)

// Open parses a PDB and indexes its functions, inline sites, lines, public
// symbols and frame data. It never panics: malformed input yields a
// *MalformedError, input that is not an MSF 7.0 file wraps ErrUnsupported.
func Open(data []byte) (f *File, err error) {
	defer catch(&err)
	ms, info, dbi, err := openHeaders(data)
	if err != nil {
		return nil, err
	}
	f = &File{Identity: identity(info, dbi)}
	f.Features = Features{HasDebugInfo: true, HasSymbols: true, HasUnwindInfo: f.Arch == "x86"}

	if b, ok := info.named["/names"]; ok {
		sb, err := ms.stream(b, "string table (/names)")
		if err != nil {
			return nil, err
		}
		if f.names, err = parseStringTable(sb); err != nil {
			return nil, err
		}
	}
	if f.tpi, err = optionalTypeStream(ms, streamTPI, "TPI stream"); err != nil {
		return nil, err
	}
	if f.ipi, err = optionalTypeStream(ms, streamIPI, "IPI stream"); err != nil {
		return nil, err
	}
	if err := f.loadAddressMap(ms, dbi); err != nil {
		return nil, err
	}

	f.Modules = make([]Module, len(dbi.modules))
	modLines := make([][]lineRec, len(dbi.modules))
	interned := map[string]int32{}
	for i := range dbi.modules {
		m := &dbi.modules[i]
		f.Modules[i] = Module{Name: m.name, ObjFile: m.obj}
		if modLines[i], err = f.parseModule(i, m, ms, interned); err != nil {
			return nil, err
		}
	}
	f.finishLines(modLines)
	sort.SliceStable(f.procs, func(i, j int) bool { return f.procs[i].start < f.procs[j].start })
	f.procEnds = make([]uint32, len(f.procs))
	for i, p := range f.procs {
		f.procEnds[i] = p.end
	}
	sort.Slice(f.procEnds, func(i, j int) bool { return f.procEnds[i] < f.procEnds[j] })
	f.contribs = contribRanges(dbi, &f.addr)

	if dbi.symRecords != 0xFFFF {
		b, err := ms.stream(uint32(dbi.symRecords), "symbol record stream")
		if err != nil {
			return nil, err
		}
		if err := f.parsePublics(b); err != nil {
			return nil, err
		}
	}
	if err := f.loadFrameData(ms, dbi); err != nil {
		return nil, err
	}
	return f, nil
}

// Identify reads only what identifies the PDB (the information stream and
// the DBI header); it builds no index.
func Identify(data []byte) (id Identity, err error) {
	defer catch(&err)
	_, info, dbi, err := openHeaders(data)
	if err != nil {
		return Identity{}, err
	}
	return identity(info, dbi), nil
}

func openHeaders(data []byte) (*msf, *infoStream, *dbiStream, error) {
	ms, err := openMSF(data)
	if err != nil {
		return nil, nil, nil, err
	}
	ib, err := ms.stream(streamInfo, "PDB information stream")
	if err != nil {
		return nil, nil, nil, err
	}
	info, err := parseInfo(ib)
	if err != nil {
		return nil, nil, nil, err
	}
	db, ok, err := ms.optionalStream(streamDBI, "DBI stream")
	if err != nil {
		return nil, nil, nil, err
	}
	if !ok || len(db) == 0 {
		return ms, info, &dbiStream{}, nil
	}
	dbi, err := parseDBI(db)
	if err != nil {
		return nil, nil, nil, err
	}
	return ms, info, dbi, nil
}

func identity(info *infoStream, dbi *dbiStream) Identity {
	age := info.age
	if dbi.age != 0 {
		age = dbi.age
	}
	return Identity{GUID: info.guid, Age: age, DebugID: formatDebugID(info.guid, age), Arch: archName(dbi.machine)}
}

func optionalTypeStream(ms *msf, i uint16, what string) (*typeStream, error) {
	b, ok, err := ms.optionalStream(i, what)
	if err != nil || !ok || len(b) == 0 {
		return nil, err
	}
	return parseTypeStream(b, what)
}

// loadAddressMap reads the section headers (the original ones when the
// image was rewritten, as symbol offsets refer to those) and the OMAP
// table.
func (f *File) loadAddressMap(ms *msf, dbi *dbiStream) error {
	hdr := dbi.debugStreams[dbgSectionOrig]
	if hdr == 0xFFFF {
		hdr = dbi.debugStreams[dbgSectionHdr]
	}
	b, ok, err := ms.optionalStream(hdr, "section header stream")
	if err != nil {
		return err
	}
	if ok {
		f.addr.sections = parseSections(b)
	}
	b, ok, err = ms.optionalStream(dbi.debugStreams[dbgOmapFromSrc], "OMAP stream")
	if err != nil {
		return err
	}
	if ok && len(b) >= 8 {
		f.addr.omap = parseOMAP(b)
	}
	return nil
}

// finishLines sorts every module's line records and keeps them by module:
// when identical code was folded, several modules claim the same RVAs and
// the section contribution decides whose lines count.
func (f *File) finishLines(mod [][]lineRec) {
	f.modLines = make([][]lineRec, len(mod))
	for i, ls := range mod {
		sort.SliceStable(ls, func(a, b int) bool { return ls[a].start < ls[b].start })
		f.modLines[i] = ls
	}
}

// contribRange is a section contribution in RVA space.
type contribRange struct {
	start, end uint32
	module     int32
}

func contribRanges(dbi *dbiStream, m *addrMap) []contribRange {
	out := make([]contribRange, 0, len(dbi.contribs))
	for _, c := range dbi.contribs {
		s, ok := m.rva(c.section, c.offset)
		if !ok || uint64(s)+uint64(c.size) > 1<<32 {
			continue
		}
		out = append(out, contribRange{s, s + c.size, int32(c.module)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// moduleAt returns the module whose section contribution holds rva, or -1.
func (f *File) moduleAt(rva uint32) int32 {
	cs := f.contribs
	i := sort.Search(len(cs), func(i int) bool { return cs[i].start > rva }) - 1
	if i < 0 || rva >= cs[i].end {
		return -1
	}
	return cs[i].module
}
