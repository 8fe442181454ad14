package debugfile

import (
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
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
