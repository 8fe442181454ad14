// Package debugfile identifies debug files (ELF and Mach-O) and names the
// objects they are stored as in symflow's debug-files bucket, in
// Symbolicator's "unified" layout under the project's prefix — where the
// project's internal source (SEMANTICS §1) looks for them.
//
// Identification follows SEMANTICS §4: an ELF's code_id is its GNU
// build-id in lowercase hex and its debug_id the first 16 bytes of it
// (zero-padded; bytes 0–3, 4–5 and 6–7 each reversed on a little-endian
// file) as a UUID; without a build-id the debug_id comes from the first
// 4096 bytes of .text XORed into 16 bytes, same swap. A Mach-O's debug_id
// is its LC_UUID and its code_id the same hex without dashes.
package debugfile

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Identity is what identifies a debug file to a symbol server.
type Identity struct {
	Format  string `json:"format"` // "elf" or "macho"
	Arch    string `json:"arch,omitempty"`
	CodeID  string `json:"code_id,omitempty"`
	DebugID string `json:"debug_id"`
	// FileType is "executable" (code), "debuginfo" (DWARF only) or "both".
	FileType string `json:"file_type"`
}

// RejectedError says why a file is not a debug file symflow can store.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "not a debug file: " + e.Reason }

func reject(format string, a ...any) error { return &RejectedError{Reason: fmt.Sprintf(format, a...)} }

// Identify reads the identity of an ELF or Mach-O file (the first slice
// of a universal binary). Anything else, or a file it cannot read, is a
// *RejectedError saying why. It never panics on malformed input.
func Identify(data []byte) (id Identity, err error) {
	defer func() {
		if r := recover(); r != nil { // debug/* readers on hostile input
			id, err = Identity{}, reject("unreadable structure: %v", r)
		}
	}()
	if len(data) < 4 {
		return Identity{}, reject("%d bytes is too short for an object file", len(data))
	}
	switch string(data[:4]) {
	case "\x7fELF":
		return identifyELF(data)
	case "\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe", "\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe":
		f, err := macho.NewFile(bytes.NewReader(data))
		if err != nil {
			return Identity{}, reject("malformed Mach-O header: %v", err)
		}
		return identifyMachO(f)
	case "\xca\xfe\xba\xbe", "\xbe\xba\xfe\xca":
		ff, err := macho.NewFatFile(bytes.NewReader(data))
		if err != nil {
			return Identity{}, reject("malformed universal Mach-O: %v", err)
		}
		if len(ff.Arches) == 0 {
			return Identity{}, reject("universal Mach-O without slices")
		}
		return identifyMachO(ff.Arches[0].File)
	}
	return Identity{}, reject("not an ELF or Mach-O file (magic %x)", data[:4])
}

func identifyELF(data []byte) (Identity, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return Identity{}, reject("malformed ELF header: %v", err)
	}
	id := Identity{Format: "elf", Arch: elfArch(ef.Machine)}
	little := ef.ByteOrder == binary.LittleEndian
	if b := buildID(ef); len(b) > 0 {
		id.CodeID = hex.EncodeToString(b)
		id.DebugID = debugID(b, little)
	} else if text := ef.Section(".text"); text != nil && text.Type != elf.SHT_NOBITS {
		b, err := io.ReadAll(io.LimitReader(text.Open(), 4096))
		if err != nil {
			return Identity{}, reject("unreadable .text: %v", err)
		}
		var x [16]byte
		for i, c := range b {
			x[i%16] ^= c
		}
		id.DebugID = debugID(x[:], little)
	} else {
		return Identity{}, reject("ELF has neither a build-id nor code to identify it by")
	}
	hasCode, hasDebug := false, false
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		switch {
		case s.Flags&elf.SHF_EXECINSTR != 0:
			hasCode = true
		case s.Name == ".debug_info" || s.Name == ".zdebug_info":
			hasDebug = true
		}
	}
	if !hasCode && !hasDebug {
		return Identity{}, reject("ELF has neither code nor DWARF debug information")
	}
	id.FileType = fileType(hasCode, hasDebug)
	return id, nil
}

// maxNotes bounds how many note sections and segments are read, so a
// hostile file with thousands of them cannot make identification slow.
const maxNotes = 32

// buildID finds the NT_GNU_BUILD_ID note in a note section or segment.
func buildID(ef *elf.File) []byte {
	seen := 0
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		if seen++; seen > maxNotes {
			break
		}
		if b, err := io.ReadAll(io.LimitReader(s.Open(), 1<<16)); err == nil {
			if id := findNote(b, ef.ByteOrder); id != nil {
				return id
			}
		}
	}
	seen = 0
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if seen++; seen > maxNotes {
			break
		}
		if b, err := io.ReadAll(io.LimitReader(p.Open(), 1<<16)); err == nil {
			if id := findNote(b, ef.ByteOrder); id != nil {
				return id
			}
		}
	}
	return nil
}

func findNote(b []byte, bo binary.ByteOrder) []byte {
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(b)), uint64(bo.Uint32(b[4:])), bo.Uint32(b[8:])
		b = b[12:]
		nameEnd := (namesz + 3) &^ 3
		descEnd := nameEnd + (descsz+3)&^3
		if nameEnd > uint64(len(b)) || nameEnd+descsz > uint64(len(b)) {
			return nil
		}
		if typ == 3 && namesz == 4 && string(b[:4]) == "GNU\x00" && descsz > 0 {
			return b[nameEnd : nameEnd+descsz]
		}
		if descEnd > uint64(len(b)) {
			return nil
		}
		b = b[descEnd:]
	}
	return nil
}

// debugID is the first 16 bytes of id as a UUID, with the first three
// groups byte-swapped on a little-endian file.
func debugID(id []byte, littleEndian bool) string {
	var u [16]byte
	copy(u[:], id)
	if littleEndian {
		u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
		u[4], u[5] = u[5], u[4]
		u[6], u[7] = u[7], u[6]
	}
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const (
	lcUUID  = 0x1b
	mhDSYM  = 0xa
	sZeroFl = 0x1
)

func identifyMachO(mf *macho.File) (Identity, error) {
	id := Identity{Format: "macho", Arch: machoArch(mf.Cpu)}
	for _, l := range mf.Loads {
		raw := l.Raw()
		if len(raw) < 8 || mf.ByteOrder.Uint32(raw) != lcUUID {
			continue
		}
		if len(raw) < 24 {
			return Identity{}, reject("LC_UUID is %d bytes, want 24", len(raw))
		}
		var u [16]byte
		copy(u[:], raw[8:24])
		id.DebugID = formatUUID(u)
		id.CodeID = hex.EncodeToString(u[:])
		break
	}
	if id.DebugID == "" {
		return Identity{}, reject("Mach-O has no LC_UUID")
	}
	hasCode, hasDebug := false, false
	for _, s := range mf.Sections {
		if s.Size == 0 || s.Offset == 0 || s.Flags&0xff == sZeroFl {
			continue
		}
		switch {
		case s.Seg == "__TEXT" && s.Name == "__text":
			hasCode = true
		case s.Name == "__debug_info" || s.Name == "__zdebug_info":
			hasDebug = true
		}
	}
	if mf.Type == mhDSYM {
		hasCode = false
	}
	if !hasCode && !hasDebug {
		return Identity{}, reject("Mach-O has neither code nor DWARF debug information")
	}
	id.FileType = fileType(hasCode, hasDebug)
	return id, nil
}

func fileType(hasCode, hasDebug bool) string {
	switch {
	case hasCode && hasDebug:
		return "both"
	case hasDebug:
		return "debuginfo"
	}
	return "executable"
}

func elfArch(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_386:
		return "x86"
	case elf.EM_ARM:
		return "arm"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

func machoArch(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "x86_64"
	case macho.CpuArm64:
		return "arm64"
	case macho.Cpu386:
		return "x86"
	case macho.CpuArm:
		return "arm"
	}
	return strings.ToLower(c.String())
}

// Object is one object to store for a debug file.
type Object struct {
	Key  string `json:"key"`
	Kind string `json:"kind"` // "executable" or "debuginfo"
}

// Objects returns where a file with identity id is stored for the
// project: `<project>/<id[:2]>/<id[2:]>/executable|debuginfo` (a file that
// is both is stored under both names). The unified layout names ELF files
// by code_id, so an ELF without a build-id is rejected with the reason.
func Objects(projectID string, id Identity) ([]Object, error) {
	key := strings.ToLower(id.CodeID)
	if id.Format == "macho" {
		key = strings.ReplaceAll(strings.ToLower(id.DebugID), "-", "")
	}
	if len(key) < 3 {
		return nil, reject("%s file has no build id: the unified layout names ELF files by build id (link with -Wl,--build-id)", id.Format)
	}
	if _, err := hex.DecodeString(key); err != nil || len(key)%2 != 0 {
		return nil, fmt.Errorf("identifier %q is not hex", key)
	}
	var kinds []string
	switch id.FileType {
	case "executable":
		kinds = []string{"executable"}
	case "debuginfo":
		kinds = []string{"debuginfo"}
	case "both":
		kinds = []string{"executable", "debuginfo"}
	default:
		return nil, fmt.Errorf("file type %q is not executable, debuginfo or both", id.FileType)
	}
	out := make([]Object, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, Object{Key: fmt.Sprintf("%s/%s/%s/%s", projectID, key[:2], key[2:], k), Kind: k})
	}
	return out, nil
}

// ErrRejected matches every *RejectedError with errors.Is.
var ErrRejected = errors.New("not a debug file")

// Is lets errors.Is(err, ErrRejected) find a RejectedError.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }
