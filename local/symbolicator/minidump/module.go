package minidump

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Module is a loaded executable or shared library (MINIDUMP_MODULE).
//
// CodeID, DebugID and DebugFile are what Symbolicator reports for the
// module (rust-minidump's code_identifier, debug_identifier and debug_file,
// normalised as Symbolicator normalises them); each is empty when the
// module has none, which is how Symbolicator's null appears here.
// Breakpad's processor differs in three places: it derives the code id from
// the platform rather than the CodeView record (and writes "id" for every
// macOS module), it prints zeros where an all-zero GUID or build id gives no
// debug id here, and it ignores a "BpEL" record without build id bytes.
type Module struct {
	Base uint64 // base_of_image: load address
	Size uint64 // size_of_image; 0 for entries that map nothing
	// Checksum and Timestamp are the PE header's CheckSum and TimeDateStamp
	// (0 on other platforms).
	Checksum  uint32
	Timestamp uint32
	// Name is the code file: the path the module was loaded from.
	Name string
	// Version is "a.b.c.d" from the VS_FIXEDFILEINFO file version, or ""
	// when the dump holds no valid fixed file info (signature 0xfeef04bd,
	// struct version 0x10000), as rust-minidump decides.
	Version string
	// CVKind says what the CodeView record is, CVRecord holds it as
	// written (nil when the module has none).
	CVKind   CVKind
	CVRecord []byte

	// CodeID identifies the code file, in lowercase hex:
	//   - ELF ("BpEL" record): the whole GNU build id;
	//   - Mach-O (a PDB70 record in a macOS or iOS dump): the UUID;
	//   - PE (a PDB70 or PDB20 record elsewhere, or no record in a Windows
	//     dump): TimeDateStamp as %08X followed by SizeOfImage as %x, the
	//     key of Microsoft's symbol server;
	//   - "" otherwise, and for an all-zero build id.
	CodeID string
	// DebugID identifies the debug file, written as symbolic's DebugId
	// displays itself: the UUID as lowercase hyphenated hex, then "-" and
	// the age in lowercase hex when the age is not 0.
	//   - PDB70 (Windows PDBs; macOS dumps carry the Mach-O UUID here, age
	//     0): the GUID, its first three fields read in the dump's byte
	//     order, and the age; "" when the GUID is all zero;
	//   - PDB20: the 32-bit signature as %08X, then "-<age>" if not 0;
	//   - ELF: the first 16 bytes of the build id (zero-padded) read as a
	//     GUID, so the first three fields are byte-swapped from a
	//     little-endian dump, age 0; "" for an all-zero build id.
	DebugID string
	// DebugFile is the PDB path of a PDB70 or PDB20 record (up to its
	// first NUL), the code file (Name) for an ELF record, else "".
	DebugFile string

	debugUUID  [16]byte
	debugAge   uint32
	debugPDB20 bool
}

// BreakpadDebugID returns DebugID in Breakpad's form (uppercase hex without
// hyphens, then the age in lowercase hex, "0" included), as Breakpad symbol
// files and symbol stores name it; "" when the module has no debug id.
func (m *Module) BreakpadDebugID() string {
	switch {
	case m.DebugID == "":
		return ""
	case m.debugPDB20:
		return fmt.Sprintf("%08X%x", binary.BigEndian.Uint32(m.debugUUID[:]), m.debugAge)
	}
	return fmt.Sprintf("%X%x", m.debugUUID[:], m.debugAge)
}

// End returns Base+Size.
func (m *Module) End() uint64 { return m.Base + m.Size }

// CVKind is the format of a module's CodeView record, told by its first
// four bytes.
type CVKind string

const (
	CVNone    CVKind = ""        // the module has no CodeView record
	CVPDB70   CVKind = "pdb70"   // "RSDS": GUID, age, PDB path
	CVPDB20   CVKind = "pdb20"   // "NB10": offset, signature, age, PDB path
	CVELF     CVKind = "elf"     // "BpEL": Breakpad's record of the GNU build id
	CVUnknown CVKind = "unknown" // any other signature
)

const (
	cvPDB70 = 0x53445352
	cvPDB20 = 0x3031424e
	cvELF   = 0x4270454c
)

// UnloadedModule is a module that was loaded and unloaded before the dump
// was written (MINIDUMP_UNLOADED_MODULE, written by Windows).
type UnloadedModule struct {
	Base      uint64
	Size      uint64
	Checksum  uint32
	Timestamp uint32
	Name      string
	// CodeID is TimeDateStamp as %08X and SizeOfImage as %x, lowercased,
	// as rust-minidump gives every unloaded module.
	CodeID string
}

// ModuleAt returns the module whose address range holds addr, using the
// ranges rust-minidump uses: modules of size 0 or whose range passes 2^64
// cover nothing, and where ranges overlap the module sorted first (by base,
// then end) keeps the addresses.
func (d *Dump) ModuleAt(addr uint64) (*Module, bool) {
	idx := d.moduleIndex
	i := sort.Search(len(idx), func(i int) bool { return d.Modules[idx[i]].End() > addr })
	if i < len(idx) && d.Modules[idx[i]].Base <= addr {
		return &d.Modules[idx[i]], true
	}
	return nil, false
}

// ModulesByAddress returns the modules that cover addresses (see
// ModuleAt), sorted by base address: the order in which Symbolicator lists
// a minidump's modules.
func (d *Dump) ModulesByAddress() []*Module {
	out := make([]*Module, len(d.moduleIndex))
	for i, j := range d.moduleIndex {
		out[i] = &d.Modules[j]
	}
	return out
}

func (d *Dump) indexModules() {
	var idx []int
	for i := range d.Modules {
		m := &d.Modules[i]
		if m.Size != 0 && m.Base+m.Size > m.Base {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ma, mb := &d.Modules[idx[a]], &d.Modules[idx[b]]
		if ma.Base != mb.Base {
			return ma.Base < mb.Base
		}
		return ma.Size < mb.Size
	})
	kept := idx[:0]
	for _, i := range idx {
		if n := len(kept); n > 0 && d.Modules[i].Base < d.Modules[kept[n-1]].End() {
			continue
		}
		kept = append(kept, i)
	}
	d.moduleIndex = kept
}

const (
	moduleSize         = 108 // MINIDUMP_MODULE
	unloadedModuleSize = 24  // MINIDUMP_UNLOADED_MODULE
	vsFFISignature     = 0xfeef04bd
	vsFFIStrucVersion  = 0x00010000
)

func (p *parser) parseModules() {
	b, ok := p.stream(ModuleListStream)
	if !ok {
		return
	}
	n, off, ok := p.listCount(b, moduleSize)
	if !ok {
		return
	}
	os := ""
	if p.d.SystemInfo != nil {
		os = p.d.SystemInfo.OS
	}
	p.d.Modules = make([]Module, n)
	for i := range p.d.Modules {
		p.module(i, b[off+i*moduleSize:off+(i+1)*moduleSize], os)
	}
	p.d.indexModules()
}

func (p *parser) module(i int, e []byte, os string) {
	bo := p.bo
	m := &p.d.Modules[i]
	m.Base = bo.Uint64(e)
	m.Size = uint64(bo.Uint32(e[8:]))
	m.Checksum = bo.Uint32(e[12:])
	m.Timestamp = bo.Uint32(e[16:])
	name, msg := p.string16(uint64(bo.Uint32(e[20:])))
	if msg != "" {
		p.fail("module %d at 0x%x: name: %s", i, m.Base, msg)
	}
	m.Name = name
	if bo.Uint32(e[24:]) == vsFFISignature && bo.Uint32(e[28:]) == vsFFIStrucVersion {
		hi, lo := bo.Uint32(e[32:]), bo.Uint32(e[36:])
		m.Version = fmt.Sprintf("%d.%d.%d.%d", hi>>16, hi&0xffff, lo>>16, lo&0xffff)
	}
	if cvSize := bo.Uint32(e[76:]); cvSize != 0 {
		cv, msg := p.loc(cvSize, bo.Uint32(e[80:]))
		if msg == "" && !p.charge(&p.bytes, len(cv)) {
			msg = "string budget exhausted"
		}
		if msg != "" {
			p.fail("module %d (%s): CodeView record: %s", i, m.Name, msg)
		} else if msg := m.setCodeView(cv, bo); msg != "" {
			p.fail("module %d (%s): CodeView record: %s", i, m.Name, msg)
		}
	}
	m.setCodeID(os, bo)
}

// setCodeView decodes a CodeView record into the debug identifiers.
func (m *Module) setCodeView(cv []byte, bo binary.ByteOrder) string {
	if len(cv) < 4 {
		return fmt.Sprintf("%d bytes, too short for a signature", len(cv))
	}
	switch bo.Uint32(cv) {
	case cvPDB70:
		if len(cv) < 24 {
			return fmt.Sprintf("PDB70 record of %d bytes, needs 24", len(cv))
		}
		m.CVKind, m.CVRecord = CVPDB70, cv
		m.DebugFile = cString(cv[24:])
		guid := guidUUID(cv[4:20], bo)
		if guid != ([16]byte{}) {
			m.setDebugID(guid, bo.Uint32(cv[20:]), false)
		}
	case cvPDB20:
		if len(cv) < 16 {
			return fmt.Sprintf("PDB20 record of %d bytes, needs 16", len(cv))
		}
		m.CVKind, m.CVRecord = CVPDB20, cv
		m.DebugFile = cString(cv[16:])
		var id [16]byte
		binary.BigEndian.PutUint32(id[:], bo.Uint32(cv[8:]))
		m.setDebugID(id, bo.Uint32(cv[12:]), true)
	case cvELF:
		m.CVKind, m.CVRecord = CVELF, cv
		m.DebugFile = m.Name
		buildID := cv[4:]
		if allZero(buildID) {
			break
		}
		var padded [16]byte
		copy(padded[:], buildID)
		m.setDebugID(guidUUID(padded[:], bo), 0, false)
	default:
		m.CVKind, m.CVRecord = CVUnknown, cv
	}
	return ""
}

func (m *Module) setDebugID(id [16]byte, age uint32, pdb20 bool) {
	m.debugUUID, m.debugAge, m.debugPDB20 = id, age, pdb20
	if pdb20 {
		m.DebugID = fmt.Sprintf("%08X", binary.BigEndian.Uint32(id[:]))
	} else {
		m.DebugID = uuidString(id)
	}
	if age != 0 {
		m.DebugID += fmt.Sprintf("-%x", age)
	}
}

// setCodeID derives the code identifier (see Module.CodeID). os is the
// dump's SystemInfo.OS.
func (m *Module) setCodeID(os string, bo binary.ByteOrder) {
	peID := func() string { return strings.ToLower(fmt.Sprintf("%08X%x", m.Timestamp, m.Size)) }
	switch m.CVKind {
	case CVPDB70:
		if os == osMacOS || os == osIOS {
			u := guidUUID(m.CVRecord[4:20], bo)
			m.CodeID = fmt.Sprintf("%x", u[:])
		} else {
			m.CodeID = peID()
		}
	case CVPDB20:
		m.CodeID = peID()
	case CVELF:
		if !allZero(m.CVRecord[4:]) {
			m.CodeID = fmt.Sprintf("%x", m.CVRecord[4:])
		}
	case CVNone:
		if os == osWindows {
			m.CodeID = peID()
		}
	}
}

// guidUUID turns a GUID as stored (u32, u16, u16, 8 bytes, in the file's
// byte order) into the 16 bytes of the UUID it prints as.
func guidUUID(g []byte, bo binary.ByteOrder) [16]byte {
	var u [16]byte
	binary.BigEndian.PutUint32(u[0:], bo.Uint32(g))
	binary.BigEndian.PutUint16(u[4:], bo.Uint16(g[4:]))
	binary.BigEndian.PutUint16(u[6:], bo.Uint16(g[6:]))
	copy(u[8:], g[8:16])
	return u
}

// uuidString formats a UUID as lowercase hyphenated hex.
func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cString returns b up to its first NUL as a string, invalid UTF-8
// replaced, as rust-minidump reads PDB file names.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (p *parser) parseUnloadedModules() {
	b, ok := p.stream(UnloadedModuleListStream)
	if !ok {
		return
	}
	// MINIDUMP_UNLOADED_MODULE_LIST: header size, entry size, count.
	if len(b) < 12 {
		p.fail("stream of %d bytes is shorter than its 12-byte header", len(b))
		return
	}
	hdr, entry, count := uint64(p.bo.Uint32(b)), uint64(p.bo.Uint32(b[4:])), uint64(p.bo.Uint32(b[8:]))
	if entry != unloadedModuleSize {
		p.fail("entry size %d, want %d", entry, unloadedModuleSize)
		return
	}
	if hdr < 12 || hdr+count*entry > uint64(len(b)) {
		p.fail("header of %d bytes and %d entries of %d bytes do not fit the stream of 0x%x bytes", hdr, count, entry, len(b))
		return
	}
	p.d.UnloadedModules = make([]UnloadedModule, count)
	for i := range p.d.UnloadedModules {
		e := b[hdr+uint64(i)*entry:]
		m := &p.d.UnloadedModules[i]
		m.Base = p.bo.Uint64(e)
		m.Size = uint64(p.bo.Uint32(e[8:]))
		m.Checksum = p.bo.Uint32(e[12:])
		m.Timestamp = p.bo.Uint32(e[16:])
		m.CodeID = strings.ToLower(fmt.Sprintf("%08X%x", m.Timestamp, m.Size))
		name, msg := p.string16(uint64(p.bo.Uint32(e[20:])))
		if msg != "" {
			p.fail("unloaded module %d at 0x%x: name: %s", i, m.Base, msg)
		}
		m.Name = name
	}
}
