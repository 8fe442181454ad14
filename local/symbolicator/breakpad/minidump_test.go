package breakpad

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// A minimal 32-bit x86 Windows minidump, enough for Breakpad's
// minidump_stackwalk to walk one thread through a module whose .sym file
// the test writes: system info, one thread with its context and stack,
// and one module with a PDB 7.0 CodeView record.

type x86Context struct {
	eip, esp, ebp, ebx, esi, edi uint32
}

type x86Dump struct {
	ctx        x86Context
	stackBase  uint32
	stack      []byte
	moduleBase uint32
	moduleSize uint32
	pdbName    string   // e.g. "test.pdb"
	guid       [16]byte // as stored: data1 (LE u32), data2, data3 (LE u16), data4
	age        uint32
}

// debugID is the Breakpad identifier of the module: the GUID as
// %08X%04X%04X then the 8 bytes of data4 in hex, then the age in hex.
func (d *x86Dump) debugID() string {
	g := d.guid
	id := fmt.Sprintf("%08X%04X%04X", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]))
	for _, b := range g[8:] {
		id += fmt.Sprintf("%02X", b)
	}
	return id + fmt.Sprintf("%X", d.age)
}

func (d *x86Dump) bytes() []byte {
	le := binary.LittleEndian
	var out []byte
	u16 := func(v uint16) { out = le.AppendUint16(out, v) }
	u32 := func(v uint32) { out = le.AppendUint32(out, v) }
	u64 := func(v uint64) { out = le.AppendUint64(out, v) }
	pad := func(n int) { out = append(out, make([]byte, n)...) }

	const nStreams = 3
	// Header, then the stream directory right after it.
	u32(0x504d444d) // "MDMP"
	u32(0xa793)
	u32(nStreams)
	u32(32)
	u32(0)
	u32(0)
	u64(0)
	dirAt := len(out)
	pad(nStreams * 12)
	dir := func(i int, typ, size, rva uint32) {
		le.PutUint32(out[dirAt+12*i:], typ)
		le.PutUint32(out[dirAt+12*i+4:], size)
		le.PutUint32(out[dirAt+12*i+8:], rva)
	}

	// MDString: byte length, UTF-16LE, a terminating NUL.
	mdString := func(s string) uint32 {
		rva := uint32(len(out))
		w := utf16.Encode([]rune(s))
		u32(uint32(2 * len(w)))
		for _, c := range w {
			u16(c)
		}
		u16(0)
		return rva
	}

	// System info (56 bytes): x86, Windows NT.
	csd := mdString("")
	sysAt := uint32(len(out))
	u16(0) // PROCESSOR_ARCHITECTURE_INTEL
	u16(6)
	u16(0)
	out = append(out, 1, 1) // processors, product type
	u32(10)
	u32(0)
	u32(19041)
	u32(2) // VER_PLATFORM_WIN32_NT
	u32(csd)
	u16(0)
	u16(0)
	pad(24)
	dir(0, 7, 56, sysAt)

	// Thread context (MDRawContextX86, 716 bytes).
	ctxAt := uint32(len(out))
	u32(0x0001003f) // x86, all register groups
	pad(6 * 4)      // debug registers
	pad(112)        // floating point save area
	u32(0)          // gs
	u32(0)          // fs
	u32(0x2b)       // es
	u32(0x2b)       // ds
	u32(d.ctx.edi)
	u32(d.ctx.esi)
	u32(d.ctx.ebx)
	u32(0) // edx
	u32(0) // ecx
	u32(0) // eax
	u32(d.ctx.ebp)
	u32(d.ctx.eip)
	u32(0x23)  // cs
	u32(0x246) // eflags
	u32(d.ctx.esp)
	u32(0x2b) // ss
	pad(512)  // extended registers

	stackAt := uint32(len(out))
	out = append(out, d.stack...)

	// Thread list.
	threadsAt := uint32(len(out))
	u32(1)
	u32(1234) // thread id
	u32(0)
	u32(0)
	u32(0)
	u64(0) // TEB
	u64(uint64(d.stackBase))
	u32(uint32(len(d.stack)))
	u32(stackAt)
	u32(716)
	u32(ctxAt)
	dir(1, 3, uint32(len(out))-threadsAt, threadsAt)

	// Module list: one module with a PDB 7.0 CodeView record.
	name := mdString(`c:\test\test.exe`)
	cvAt := uint32(len(out))
	u32(0x53445352) // "RSDS"
	out = append(out, d.guid[:]...)
	u32(d.age)
	out = append(out, d.pdbName...)
	out = append(out, 0)
	cvSize := uint32(len(out)) - cvAt
	modsAt := uint32(len(out))
	u32(1)
	u64(uint64(d.moduleBase))
	u32(d.moduleSize)
	u32(0) // checksum
	u32(0x5f000000)
	u32(name)
	pad(52) // version info
	u32(cvSize)
	u32(cvAt)
	u32(0)
	u32(0)
	u64(0)
	u64(0)
	dir(2, 4, uint32(len(out))-modsAt, modsAt)
	return out
}

var (
	frameLineRE = regexp.MustCompile(`^ ?(\d+) `)
	regRE       = regexp.MustCompile(`(\w+) = 0x([0-9a-f]+)`)
)

// stackwalkFrames runs minidump_stackwalk on the dump with the .sym file
// installed in a symbol directory, and returns each frame's registers and
// how it was found.
func stackwalkFrames(t *testing.T, d *x86Dump, sym string) []map[string]uint64 {
	t.Helper()
	stackwalk, err := filepath.Abs(filepath.Join("..", "..", "..", "node_modules", "minidump", "bin", "linux-x64", "minidump_stackwalk"))
	if err == nil {
		_, err = os.Stat(stackwalk)
	}
	if err != nil {
		t.Fatalf("minidump_stackwalk is not installed: run make deps")
	}
	dir := t.TempDir()
	symDir := filepath.Join(dir, "symbols", d.pdbName, d.debugID())
	if err := os.MkdirAll(symDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(symDir, strings.TrimSuffix(d.pdbName, ".pdb")+".sym"), []byte(sym), 0o644); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(dir, "test.dmp")
	if err := os.WriteFile(dump, d.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(run(t, dir, nil, stackwalk, dump, filepath.Join(dir, "symbols")))
	var frames []map[string]uint64
	inThread := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Thread ") {
			inThread = true
			continue
		}
		if !inThread {
			continue
		}
		if frameLineRE.MatchString(line) {
			frames = append(frames, map[string]uint64{})
			continue
		}
		if len(frames) == 0 {
			continue
		}
		for _, m := range regRE.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseUint(m[2], 16, 64)
			frames[len(frames)-1][m[1]] = v
		}
		if strings.Contains(line, "Found by:") {
			frames[len(frames)-1]["found by "+strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "Found by:"))] = 1
		}
	}
	if len(frames) < 2 {
		t.Fatalf("minidump_stackwalk found %d frames:\n%s", len(frames), out)
	}
	return frames
}
