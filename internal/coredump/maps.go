package coredump

import (
	"debug/elf"
	"fmt"
	"slices"
	"strings"
)

// atEXECFN is the auxiliary vector entry pointing at the program's path,
// on the main thread's stack.
const atEXECFN = 31

// mapsText synthesizes the process's /proc/PID/maps (for the LinuxMaps
// stream) from what the core knows: every PT_LOAD segment (a mapping, with
// its permissions) and every file mapping (with its path and offset). A
// file mapping the core has no segment for (gdb leaves out unmodified file
// text) takes its permissions from the file's own program headers. Device
// and inode numbers are not in cores: they read 00:00 0.
func mapsText(s *space) string {
	c := s.core
	var cuts []uint64
	for _, g := range c.Segments {
		cuts = append(cuts, g.Vaddr, g.End())
	}
	for _, f := range s.files {
		cuts = append(cuts, f.Start, f.End)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)

	named := map[uint64]string{} // segment start → pseudo-path
	if a, ok := c.AuxvValue(atSYSINFOEHDR); ok && a != 0 {
		if g, ok := c.Segment(a); ok {
			named[g.Vaddr] = "[vdso]"
		}
	}
	for _, key := range []uint64{atEXECFN, atRANDOM} {
		if a, ok := c.AuxvValue(key); ok && a != 0 {
			if g, ok := c.Segment(a); ok {
				named[g.Vaddr] = "[stack]"
				break
			}
		}
	}
	if c.Machine == MachineAMD64 {
		named[0xffffffffff600000] = "[vsyscall]"
	}

	type line struct {
		start, end, offset uint64
		perms, path        string
	}
	var lines []line
	fileFlags := map[string]*elf.File{}
	defer func() {
		for _, f := range fileFlags {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := 0; i+1 < len(cuts); i++ {
		start, end := cuts[i], cuts[i+1]
		seg, hasSeg := c.Segment(start)
		fm, hasFile := fileAt(s.files, start)
		if !hasSeg && !hasFile {
			continue // a gap between mappings
		}
		l := line{start: start, end: end, perms: "r--p"}
		if hasFile {
			l.path = fm.Path
			l.offset = fm.Offset + (start - fm.Start)
		} else if name, ok := named[seg.Vaddr]; ok {
			l.path = name
		}
		switch {
		case hasSeg:
			l.perms = permString(seg.Flags)
		case hasFile:
			if flags, ok := fileSegmentFlags(s, fileFlags, fm.Path, l.offset); ok {
				l.perms = permString(flags)
			}
		}
		if n := len(lines); n > 0 {
			p := &lines[n-1]
			if p.end == l.start && p.perms == l.perms && p.path == l.path &&
				(p.path == "" || p.offset+(p.end-p.start) == l.offset) &&
				!(hasSeg && seg.Vaddr == start) && !(hasFile && fm.Start == start) {
				p.end = l.end // the same mapping, cut only by another's edge
				continue
			}
		}
		lines = append(lines, l)
	}
	var b strings.Builder
	for _, l := range lines {
		n, _ := fmt.Fprintf(&b, "%08x-%08x %s %08x 00:00 0", l.start, l.end, l.perms, l.offset)
		if l.path != "" {
			// The kernel pads the path to column 73.
			b.WriteString(strings.Repeat(" ", max(1, 73-n)))
			b.WriteString(l.path)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func permString(flags uint32) string {
	p := []byte("---p")
	if flags&pfR != 0 {
		p[0] = 'r'
	}
	if flags&pfW != 0 {
		p[1] = 'w'
	}
	if flags&pfX != 0 {
		p[2] = 'x'
	}
	return string(p)
}

func fileAt(files []FileMap, addr uint64) (FileMap, bool) {
	i, found := slices.BinarySearchFunc(files, addr, func(f FileMap, a uint64) int {
		switch {
		case f.End <= a:
			return -1
		case f.Start > a:
			return 1
		}
		return 0
	})
	if found {
		return files[i], true
	}
	return FileMap{}, false
}

// fileSegmentFlags returns the p_flags of the PT_LOAD of path that maps
// file offset off.
func fileSegmentFlags(s *space, cache map[string]*elf.File, path string, off uint64) (uint32, bool) {
	f, ok := cache[path]
	if !ok {
		if raw := s.file(path); raw != nil {
			f, _ = elf.NewFile(raw)
		}
		cache[path] = f
	}
	if f == nil {
		return 0, false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off&^(pageSize-1) <= off && off < p.Off+p.Filesz {
			return uint32(p.Flags), true
		}
	}
	return 0, false
}
