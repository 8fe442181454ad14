package debugfile

import (
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The identifier rules of SEMANTICS §4, shared by this package's Identify
// and the embedded Symbolicator's debug-file loader, so both name a file
// the same way.

// BuildIDNote returns the NT_GNU_BUILD_ID descriptor in a block of ELF
// notes, or nil.
func BuildIDNote(notes []byte, bo binary.ByteOrder) []byte {
	b := notes
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

// TextHash is the identifier of an ELF without a build-id: its first 4096
// bytes of .text XORed into 16 bytes.
func TextHash(text []byte) [16]byte {
	var x [16]byte
	for i, c := range text[:min(len(text), 4096)] {
		x[i%16] ^= c
	}
	return x
}

// ELFDebugID turns a build-id (or a TextHash) into a debug id: the first 16
// bytes, zero-padded, with the first three UUID groups byte-swapped on a
// little-endian file.
func ELFDebugID(id []byte, littleEndian bool) string {
	var u [16]byte
	copy(u[:], id)
	if littleEndian {
		u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
		u[4], u[5] = u[5], u[4]
		u[6], u[7] = u[7], u[6]
	}
	return UUID(u)
}

// ELFCodeID is a build-id as a code id: lowercase hex.
func ELFCodeID(buildID []byte) string { return hex.EncodeToString(buildID) }

// UUID prints 16 bytes as a lowercase hyphenated UUID.
func UUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// FileType names what a file holds: "executable" (code), "debuginfo"
// (DWARF only) or "both".
func FileType(hasCode, hasDebug bool) string {
	switch {
	case hasCode && hasDebug:
		return "both"
	case hasDebug:
		return "debuginfo"
	}
	return "executable"
}

// ELFArch is Symbolicator's name for an ELF machine.
func ELFArch(m elf.Machine) string {
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

// MachOArch is Symbolicator's name for a Mach-O CPU.
func MachOArch(c macho.Cpu) string {
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
	return strings.ToLower(strings.TrimPrefix(c.String(), "Cpu"))
}

// PECodeID is a PE image's code id as symbolic's PeObject reports it: the
// COFF header's TimeDateStamp as eight lowercase hex digits, then the
// optional header's SizeOfImage in lowercase hex without padding
// ("5ab38077" + "9000"). Symstore paths spell the timestamp in upper case;
// that is the path builder's business, not the identity's.
func PECodeID(timeDateStamp, sizeOfImage uint32) string {
	return fmt.Sprintf("%08x%x", timeDateStamp, sizeOfImage)
}

// GUIDAgeDebugID is the debug id of a PE image's CodeView record and of
// its PDB: the GUID as Windows stores it (Data1, Data2 and Data3
// little-endian, Data4 as bytes) printed as a lowercase hyphenated UUID,
// then "-" and the age in lowercase hex unless the age is 0 — symbolic's
// DebugId::from_guid_age as it prints.
func GUIDAgeDebugID(guid [16]byte, age uint32) string {
	var u [16]byte
	u[0], u[1], u[2], u[3] = guid[3], guid[2], guid[1], guid[0]
	u[4], u[5] = guid[5], guid[4]
	u[6], u[7] = guid[7], guid[6]
	copy(u[8:], guid[8:])
	id := UUID(u)
	if age != 0 {
		id += "-" + strconv.FormatUint(uint64(age), 16)
	}
	return id
}

// WasmCodeID is a wasm module's code id: the build_id custom section's
// whole payload in lowercase hex ("" without one). The payload is taken as
// it stands, as symbolic does: wasm-ld's length-prefixed form keeps its
// length byte in the id.
func WasmCodeID(buildID []byte) string { return hex.EncodeToString(buildID) }

// WasmDebugID is a wasm module's debug id: the first 16 bytes of the
// build_id payload as a UUID, unchanged, or the nil UUID when the payload
// is shorter (symbolic's WasmObject::debug_id).
func WasmDebugID(buildID []byte) string {
	var u [16]byte
	if len(buildID) >= 16 {
		copy(u[:], buildID)
	}
	return UUID(u)
}

// BreakpadID turns a debug id ("<uuid>" or "<uuid>-<age>") into its
// Breakpad spelling, as debugid's BreakpadFormat writes it: the UUID's 32
// hex digits in upper case, then the age in lowercase hex, "0" included
// ("3249D99D0C4049318610F4E4FB0B69361"). The unified layout names PE and
// PDB files by it in lower case.
func BreakpadID(debugID string) (string, error) {
	m := debugIDPattern.FindStringSubmatch(strings.ToLower(debugID))
	if m == nil {
		return "", fmt.Errorf("debug id %q is not a UUID with an optional -<age in hex>", debugID)
	}
	age := uint64(0)
	if m[2] != "" {
		age, _ = strconv.ParseUint(m[2], 16, 32)
	}
	return strings.ToUpper(strings.ReplaceAll(m[1], "-", "")) + strconv.FormatUint(age, 16), nil
}

// debugIDPattern is a lowercase debug id: a hyphenated UUID and an
// optional age of up to eight hex digits.
var debugIDPattern = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-([0-9a-f]{1,8}))?$`)

// WindowsArch is symbolic's name for a COFF machine type, used for PE
// images and for PDBs (their DBI stream records the machine):
// "x86", "x86_64", "arm", "arm64", "ppc", else "unknown".
func WindowsArch(machine uint16) string {
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
