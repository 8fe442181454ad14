package debugfile

import (
	"strings"
	"unicode/utf8"
)

// identifyWasm reads a WebAssembly module's identity: code id and debug
// id from the build_id custom section (WasmCodeID, WasmDebugID), whether
// it has code (its function section declares functions) and DWARF (a
// non-empty ".debug_info" custom section), and the external_debug_info
// custom section, the name of the module's separate debug file, as its
// debug file. Only the section framing is read: every section's size is
// checked against the file, nothing is allocated.
func identifyWasm(data []byte) (Identity, error) {
	if len(data) < 8 {
		return Identity{}, reject("wasm module of %d bytes is too short for its 8-byte header", len(data))
	}
	if v := uint32(data[4]) | uint32(data[5])<<8 | uint32(data[6])<<16 | uint32(data[7])<<24; v != 1 {
		return Identity{}, reject("wasm version %d, want 1 (a component or a newer format)", v)
	}
	var (
		buildID           []byte
		hasCode, hasDWARF bool
		debugFile         string
		dotted            = map[string]bool{} // DWARF and other "." sections
	)
	for pos := 8; pos < len(data); {
		start := pos
		id := data[pos]
		size, n, ok := uleb32(data[pos+1:])
		if !ok {
			return Identity{}, reject("malformed wasm section header at offset %#x: the size is not a LEB128 u32", start)
		}
		pos += 1 + n
		if uint64(size) > uint64(len(data)-pos) {
			return Identity{}, reject("malformed wasm section %d at offset %#x: %d bytes run past the end of the file (%d left)", id, start, size, len(data)-pos)
		}
		body := data[pos : pos+int(size)]
		pos += int(size)
		const custom, function, maxID = 0, 3, 13
		switch {
		case id > maxID:
			return Identity{}, reject("malformed wasm module: unknown section id %d at offset %#x", id, start)
		case id == function:
			count, _, ok := uleb32(body)
			if !ok {
				return Identity{}, reject("malformed wasm function section at offset %#x: no function count", start)
			}
			hasCode = count > 0
		case id == custom:
			nameLen, n, ok := uleb32(body)
			if !ok || uint64(nameLen) > uint64(len(body)-n) || !utf8.Valid(body[n:n+int(nameLen)]) {
				return Identity{}, reject("malformed wasm custom section at offset %#x: its name runs past the section or is not UTF-8", start)
			}
			name, payload := string(body[n:n+int(nameLen)]), body[n+int(nameLen):]
			switch {
			case name == "build_id":
				buildID = payload
			case strings.HasPrefix(name, "."):
				if dotted[name] {
					return Identity{}, reject("malformed wasm module: custom section %q appears twice", name)
				}
				dotted[name] = true
				if name == ".debug_info" && len(payload) > 0 {
					hasDWARF = true
				}
			case name == "external_debug_info":
				// A length-prefixed UTF-8 name filling the section; a
				// broken or repeated one costs its name, not the module,
				// as in the embedded Symbolicator (the first one is kept).
				// One too long for a presigned upload's identity is
				// dropped: the name is informational.
				l, n, ok := uleb32(payload)
				if ok && l > 0 && l <= maxDebugFileName && uint64(l) == uint64(len(payload)-n) && utf8.Valid(payload[n:]) && debugFile == "" {
					debugFile = string(payload[n:])
				}
			}
		}
	}
	if !hasCode && !hasDWARF {
		return Identity{}, reject("wasm module has neither code (functions) nor DWARF debug information")
	}
	return Identity{Format: "wasm", Arch: "wasm32", CodeID: WasmCodeID(buildID), DebugID: WasmDebugID(buildID),
		DebugFile: debugFile, FileType: FileType(hasCode, hasDWARF)}, nil
}

// uleb32 reads an unsigned LEB128 number of at most 32 bits: its value
// and length; ok is false when it runs past b or is longer than 5 bytes or
// 32 bits.
func uleb32(b []byte) (v uint32, n int, ok bool) {
	var x uint64
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if x > 0xFFFFFFFF {
				return 0, 0, false
			}
			return uint32(x), i + 1, true
		}
	}
	return 0, 0, false
}
