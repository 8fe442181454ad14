package objfile

import (
	"bytes"
	"cmp"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/symflow/symflow/shared/debugfile"
)

const (
	lcUUID = 0x1b
	nStab  = 0xe0
	nType  = 0x0e
	nSect  = 0x0e
	mhDSYM = 0xa
)

// openMachO reads a thin Mach-O file, or the slice for arch (the first one
// when arch is empty) of a universal binary.
func openMachO(data []byte, arch string, index bool) (*File, error) {
	if len(data) >= 8 && binary.BigEndian.Uint32(data) == macho.MagicFat {
		if n := binary.BigEndian.Uint32(data[4:]); n == 0 || n > maxFatArches {
			return nil, &MalformedError{Kind: "macho", What: "universal header", Err: fmt.Errorf("%d architectures (want 1 to %d)", n, maxFatArches)}
		}
		ff, err := macho.NewFatFile(bytes.NewReader(data))
		if err != nil {
			return nil, &MalformedError{Kind: "macho", What: "universal header", Err: err}
		}
		pick := -1
		var have []string
		for i, a := range ff.Arches {
			name := debugfile.MachOArch(a.Cpu)
			have = append(have, name)
			if pick < 0 && (arch == "" || name == arch) {
				pick = i
			}
		}
		if pick < 0 {
			return nil, fmt.Errorf("universal binary has no %s slice (has %s): %w", arch, strings.Join(have, ", "), ErrUnsupported)
		}
		a := ff.Arches[pick]
		end := uint64(a.Offset) + uint64(a.Size)
		if end > uint64(len(data)) {
			return nil, &MalformedError{Kind: "macho", What: "universal slice " + have[pick], Err: fmt.Errorf("extends past end of file (%d > %d)", end, len(data))}
		}
		return machoFile(a.File, data[a.Offset:end], index)
	}
	mf, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, &MalformedError{Kind: "macho", What: "header", Err: err}
	}
	return machoFile(mf, data, index)
}

func machoFile(mf *macho.File, data []byte, index bool) (*File, error) {
	if len(mf.Loads) > maxLoadCmds {
		return nil, &MalformedError{Kind: "macho", What: "load commands", Err: fmt.Errorf("%d commands exceed the limit of %d", len(mf.Loads), maxLoadCmds)}
	}
	f := &File{Identity: Identity{Kind: "macho", Arch: debugfile.MachOArch(mf.Cpu)}}
	for _, l := range mf.Loads {
		raw := l.Raw()
		if len(raw) < 8 || mf.ByteOrder.Uint32(raw) != lcUUID {
			continue
		}
		if len(raw) < 24 {
			return nil, &MalformedError{Kind: "macho", What: "LC_UUID", Err: fmt.Errorf("command is %d bytes, want 24", len(raw))}
		}
		var u [16]byte
		copy(u[:], raw[8:24])
		f.DebugID = debugfile.UUID(u)
		f.CodeID = hex.EncodeToString(u[:])
		break
	}
	if seg := mf.Segment("__TEXT"); seg != nil {
		f.LoadAddress = seg.Addr
	}

	hasCode, hasDebug := false, false
	for _, s := range mf.Sections {
		present := s.Size > 0 && s.Offset != 0 && s.Flags&0xff != 0x1 // not S_ZEROFILL
		switch {
		case !present:
		case s.Seg == "__TEXT" && s.Name == "__text":
			hasCode = true
		case s.Name == "__unwind_info" || s.Name == "__eh_frame" || s.Name == "__debug_frame":
			f.Features.HasUnwindInfo = true
		case s.Name == "__debug_info" || s.Name == "__zdebug_info":
			hasDebug = true
		case s.Name == "__debug_line":
			f.Features.HasDebugInfo = true
		}
	}
	f.Features.HasDebugInfo = f.Features.HasDebugInfo && hasDebug
	if mf.Type == mhDSYM {
		hasCode = false
	}
	f.FileType = debugfile.FileType(hasCode, hasDebug)
	if mf.Symtab != nil {
		if len(mf.Symtab.Syms) > maxSymbols {
			return nil, &MalformedError{Kind: "macho", What: "LC_SYMTAB", Err: fmt.Errorf("%d symbols exceed the limit of %d", len(mf.Symtab.Syms), maxSymbols)}
		}
		for _, s := range mf.Symtab.Syms {
			if s.Type&nStab == 0 && s.Type&nType == nSect {
				f.Features.HasSymbols = true
				break
			}
		}
	}
	if !index {
		return f, nil
	}

	f.symtab = newSymtab(machoSymbols(mf))
	if hasDebug {
		secs := map[string][]byte{}
		for _, s := range mf.Sections {
			if s.Seg != "__DWARF" || !strings.HasPrefix(s.Name, "__debug_") {
				continue
			}
			name := strings.TrimPrefix(s.Name, "__debug_")
			if name == "str_offs" { // section names are cut at 16 bytes
				name = "str_offsets"
			}
			if uint64(s.Offset) > uint64(len(data)) || s.Size > uint64(len(data))-uint64(s.Offset) {
				return nil, &MalformedError{Kind: "macho", What: "section " + s.Name,
					Err: fmt.Errorf("extends past end of file (offset %d, size %d, file size %d)", s.Offset, s.Size, len(data))}
			}
			secs[name] = data[s.Offset : uint64(s.Offset)+s.Size]
		}
		idx, err := buildIndex(secs, mf.ByteOrder, "macho", nil)
		if err != nil {
			return nil, err
		}
		f.index = idx
		linkTwins(f.index, f.symtab)
	}
	return f, nil
}

// machoSymbols returns the defined section symbols with sizes computed as
// llvm does for Mach-O: up to the next symbol in the same section, or the
// section end. The leading underscore of C-level names is removed.
func machoSymbols(mf *macho.File) []symbol {
	if mf.Symtab == nil {
		return nil
	}
	type sym struct {
		addr uint64
		sect uint8
		name string
	}
	var syms []sym
	for _, s := range mf.Symtab.Syms {
		if s.Type&nStab != 0 || s.Type&nType != nSect || s.Name == "" {
			continue
		}
		syms = append(syms, sym{s.Value, s.Sect, strings.TrimPrefix(s.Name, "_")})
	}
	slices.SortStableFunc(syms, func(a, b sym) int {
		if c := cmp.Compare(a.sect, b.sect); c != 0 {
			return c
		}
		return cmp.Compare(a.addr, b.addr)
	})
	out := make([]symbol, len(syms))
	var next uint64 // address of the next higher symbol in the same section
	for i := len(syms) - 1; i >= 0; i-- {
		s := syms[i]
		if i == len(syms)-1 || syms[i+1].sect != s.sect {
			next = 0
			if s.sect > 0 && int(s.sect) <= len(mf.Sections) {
				sec := mf.Sections[s.sect-1]
				next = sec.Addr + sec.Size
			}
		} else if syms[i+1].addr > s.addr {
			next = syms[i+1].addr
		}
		size := uint64(0)
		if next > s.addr {
			size = next - s.addr
		}
		out[i] = symbol{addr: s.addr, size: size, name: s.name, fn: true}
	}
	return out
}
