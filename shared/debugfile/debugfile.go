// Package debugfile identifies debug files (ELF, Mach-O, PE, PDB, wasm
// and source bundles) and names the objects they are stored as in
// symflow's debug-files bucket, in Symbolicator's "unified" layout under
// the project's prefix — where the project's internal source (SEMANTICS
// §1) looks for them.
//
// Identification follows SEMANTICS §4 and symbolic, which Symbolicator
// uses; the rules are the functions of ids.go, which the embedded
// Symbolicator's readers call too, so that a file is named the same way
// when it is stored and when it is looked for. An ELF's code_id is its GNU
// build-id in lowercase hex and its debug_id the first 16 bytes of it
// (zero-padded; bytes 0–3, 4–5 and 6–7 each reversed on a little-endian
// file) as a UUID; without a build-id the debug_id comes from the first
// 4096 bytes of .text XORed into 16 bytes, same swap. A Mach-O's debug_id
// is its LC_UUID and its code_id the same hex without dashes. A PE image's
// code_id is its TimeDateStamp and SizeOfImage in hex (PECodeID), its
// debug_id the GUID and age of its CodeView record (GUIDAgeDebugID), which
// its PDB carries too. A wasm module's ids come from its build_id section
// (WasmCodeID, WasmDebugID).
package debugfile

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Identity is what identifies a debug file to a symbol server.
type Identity struct {
	Format  string `json:"format"` // "elf", "macho", "pe", "pdb", "wasm" or "sourcebundle"
	Arch    string `json:"arch,omitempty"`
	CodeID  string `json:"code_id,omitempty"`
	DebugID string `json:"debug_id"`
	// DebugFile names the separate debug file the object refers to: a PE
	// image's PDB path (from its CodeView record), a wasm module's
	// external_debug_info. Informational: files are stored by id.
	DebugFile string `json:"debug_file,omitempty"`
	// FileType is "executable" (code), "debuginfo" (DWARF only), "both",
	// or "sourcebundle" (sources only).
	FileType string `json:"file_type"`
}

// RejectedError says why a file is not a debug file symflow can store.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "not a debug file: " + e.Reason }

func reject(format string, a ...any) error { return &RejectedError{Reason: fmt.Sprintf(format, a...)} }

// Identify reads the identity of an ELF or Mach-O file (the first slice
// of a universal binary), a PE image, a PDB (MSF 7.0), a wasm module or a
// source bundle. Anything else, or a file it cannot read, is a
// *RejectedError saying why (naming the malformed part). It never panics
// on malformed input and allocates no more than the input can hold.
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
	case "SYSB", "PK\x03\x04":
		return identifySourceBundle(data)
	case "\x00asm":
		return identifyWasm(data)
	}
	switch {
	case data[0] == 'M' && data[1] == 'Z':
		return identifyPE(data)
	case bytes.HasPrefix(data, []byte(msfMagic)):
		return identifyPDB(data)
	case bytes.HasPrefix(data, []byte("Microsoft C/C++ program database 2.00")):
		return Identity{}, reject("PDB 2.0 (a Visual C++ 6 program database) has no GUID to name it by; only MSF 7.0 PDBs are read")
	}
	return Identity{}, reject("not an ELF or Mach-O file, a PE image, a PDB, a wasm module or a source bundle (magic %x)", data[:4])
}

// maxManifest bounds a source bundle's manifest.json.
const maxManifest = 4 << 20

// identifySourceBundle reads the identity of a source bundle (the zip of
// sources with a manifest.json that sentry-cli's bundle-sources writes,
// after the SYSB header): the debug_id and code_id attributes of the
// object it was made from. It is stored beside that object's files, where
// Symbolicator looks for it (unified layout: <id>/sourcebundle).
func identifySourceBundle(data []byte) (Identity, error) {
	z := data
	if string(data[:4]) == "SYSB" {
		if len(data) < 8 {
			return Identity{}, reject("source bundle header of %d bytes", len(data))
		}
		z = data[8:]
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return Identity{}, reject("malformed source bundle: %v", err)
	}
	var manifest struct {
		DebugID string `json:"debug_id"`
		CodeID  string `json:"code_id"`
		Arch    string `json:"arch"`
	}
	found := false
	for _, f := range zr.File {
		if f.Name != "manifest.json" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return Identity{}, reject("source bundle manifest: %v", err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
		rc.Close()
		if err != nil || len(b) > maxManifest {
			return Identity{}, reject("source bundle manifest unreadable or over %d bytes", maxManifest)
		}
		if err := json.Unmarshal(b, &manifest); err != nil {
			return Identity{}, reject("source bundle manifest is not JSON: %v", err)
		}
		found = true
		break
	}
	if !found {
		return Identity{}, reject("zip without manifest.json is not a source bundle")
	}
	id := Identity{Format: "sourcebundle", Arch: manifest.Arch, FileType: "sourcebundle",
		CodeID: strings.ToLower(manifest.CodeID), DebugID: strings.ToLower(manifest.DebugID)}
	if id.CodeID == "" && id.DebugID == "" {
		return Identity{}, reject("source bundle manifest names neither debug_id nor code_id")
	}
	return id, nil
}

func identifyELF(data []byte) (Identity, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return Identity{}, reject("malformed ELF header: %v", err)
	}
	id := Identity{Format: "elf", Arch: ELFArch(ef.Machine)}
	little := ef.ByteOrder == binary.LittleEndian
	if b := buildID(ef); len(b) > 0 {
		id.CodeID = ELFCodeID(b)
		id.DebugID = ELFDebugID(b, little)
	} else if text := ef.Section(".text"); text != nil && text.Type != elf.SHT_NOBITS {
		b, err := io.ReadAll(io.LimitReader(text.Open(), 4096))
		if err != nil {
			return Identity{}, reject("unreadable .text: %v", err)
		}
		x := TextHash(b)
		id.DebugID = ELFDebugID(x[:], little)
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
	id.FileType = FileType(hasCode, hasDebug)
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
			if id := BuildIDNote(b, ef.ByteOrder); id != nil {
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
			if id := BuildIDNote(b, ef.ByteOrder); id != nil {
				return id
			}
		}
	}
	return nil
}

const (
	lcUUID  = 0x1b
	mhDSYM  = 0xa
	sZeroFl = 0x1
)

func identifyMachO(mf *macho.File) (Identity, error) {
	id := Identity{Format: "macho", Arch: MachOArch(mf.Cpu)}
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
		id.DebugID = UUID(u)
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
	id.FileType = FileType(hasCode, hasDebug)
	return id, nil
}

// Object is one object to store for a debug file.
type Object struct {
	Key  string `json:"key"`
	Kind string `json:"kind"` // "executable" or "debuginfo"
}

// Objects returns where a file with identity id is stored for the
// project: `<project>/<key[:2]>/<key[2:]>/<kind>`, as Symbolicator's
// unified layout looks for it. The key is an ELF's code_id (so an ELF
// without a build-id is rejected with the reason); a Mach-O's UUID as 32
// hex digits; a PE image's and a PDB's debug id in lowercase Breakpad form
// (UUID and age, BreakpadID), since a PE code id means nothing without the
// file name; a wasm module's code_id, else its debug id's UUID; a source
// bundle's code_id, else its debug id's UUID, but the Breakpad id when its
// debug id has an age (the bundle of a PE/PDB). The kind is "executable"
// for code, "debuginfo" for debug information (a file that is both is
// stored under both names), "sourcebundle"; a PE image is always an
// executable (Symbolicator looks for one only as such, whatever DWARF it
// carries) and a PDB always debug information.
func Objects(projectID string, id Identity) ([]Object, error) {
	key := strings.ToLower(id.CodeID)
	breakpadKey := false
	switch id.Format {
	case "macho":
		key = strings.ReplaceAll(strings.ToLower(id.DebugID), "-", "")
	case "sourcebundle":
		if m := debugIDPattern.FindStringSubmatch(strings.ToLower(id.DebugID)); m != nil && m[2] != "" {
			// A debug id with an age is a PDB's: the bundle of a
			// Windows object, which Symbolicator looks for under the
			// PE's key, the Breakpad id.
			b, _ := BreakpadID(id.DebugID)
			key, breakpadKey = strings.ToLower(b), true
		} else if key == "" {
			key = strings.ReplaceAll(strings.ToLower(id.DebugID), "-", "")
		}
	case "pe", "pdb":
		if id.DebugID == "" {
			return nil, reject("%s has no CodeView (RSDS) debug id: the unified layout names PE and PDB files by the debug id of the PDB (link with /DEBUG)", id.Format)
		}
		b, err := BreakpadID(id.DebugID)
		if err != nil {
			return nil, reject("%s %v", id.Format, err)
		}
		key, breakpadKey = strings.ToLower(b), true
	case "wasm":
		if key == "" {
			key = strings.ReplaceAll(strings.ToLower(id.DebugID), "-", "")
			if strings.Trim(key, "0") == "" {
				return nil, reject("wasm module has no build_id section: the unified layout names wasm files by build id (link with wasm-ld --build-id)")
			}
		}
	}
	if len(key) < 3 {
		return nil, reject("%s file has no build id: the unified layout names ELF files by build id (link with -Wl,--build-id)", id.Format)
	}
	// A client's identity (presigned uploads) is checked by CheckIdentity
	// first; this one is refused with a reason too. A Breakpad id (made
	// and checked by BreakpadID) has an odd length when the age has an
	// odd number of digits.
	if _, err := hex.DecodeString(key); err != nil && !breakpadKey {
		return nil, reject("identifier %q is not hex bytes (two hex digits each)", key)
	}
	var kinds []string
	switch {
	case id.Format == "pe" && (id.FileType == "executable" || id.FileType == "both"):
		kinds = []string{"executable"}
	case id.Format == "pdb" && id.FileType == "debuginfo":
		kinds = []string{"debuginfo"}
	case id.Format == "pe" || id.Format == "pdb":
		return nil, fmt.Errorf("file type %q is not one a %s file has", id.FileType, id.Format)
	case id.FileType == "executable":
		kinds = []string{"executable"}
	case id.FileType == "debuginfo":
		kinds = []string{"debuginfo"}
	case id.FileType == "both":
		kinds = []string{"executable", "debuginfo"}
	case id.FileType == "sourcebundle":
		kinds = []string{"sourcebundle"}
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
