package minidump

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rustMinidumpJSON is the part of rust-minidump's `minidump-stackwalk
// --json` output these tests compare.
type rustMinidumpJSON struct {
	SystemInfo struct {
		CPUArch  string `json:"cpu_arch"`
		CPUCount int    `json:"cpu_count"`
		CPUInfo  string `json:"cpu_info"`
		OS       string `json:"os"`
		OSVer    string `json:"os_ver"`
	} `json:"system_info"`
	CrashInfo struct {
		Address        string `json:"address"`
		CrashingThread int    `json:"crashing_thread"`
	} `json:"crash_info"`
	Modules []struct {
		BaseAddr  string `json:"base_addr"`
		EndAddr   string `json:"end_addr"`
		CodeID    string `json:"code_id"`
		DebugID   string `json:"debug_id"`
		DebugFile string `json:"debug_file"`
		Filename  string `json:"filename"`
		Version   string `json:"version"`
	} `json:"modules"`
	MainModule     int `json:"main_module"`
	ThreadCount    int `json:"thread_count"`
	CrashingThread struct {
		Frames []struct {
			Registers map[string]string `json:"registers"`
		} `json:"frames"`
	} `json:"crashing_thread"`
	LinuxMemoryMapCount int `json:"linux_memory_map_count"`
}

func hexNum(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// TestAgreesWithRustMinidump compares Parse with rust-minidump's JSON
// report of the same dump: module identity as Symbolicator reports it,
// system information, and the crashing thread's registers.
func TestAgreesWithRustMinidump(t *testing.T) {
	data, err := os.ReadFile("testdata/linux-mini.dmp")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/linux-mini.rust-minidump.json")
	if err != nil {
		t.Fatal(err)
	}
	var want rustMinidumpJSON
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}

	s := d.SystemInfo
	if s.CPU != want.SystemInfo.CPUArch || s.CPUCount != want.SystemInfo.CPUCount ||
		s.CPUInfo != want.SystemInfo.CPUInfo || s.OS != want.SystemInfo.OS ||
		s.OSVersion+" "+s.OSBuild != want.SystemInfo.OSVer {
		t.Errorf("system info: got %s/%d/%q/%s/%q %q, rust-minidump %+v",
			s.CPU, s.CPUCount, s.CPUInfo, s.OS, s.OSVersion, s.OSBuild, want.SystemInfo)
	}
	if len(d.Threads) != want.ThreadCount {
		t.Errorf("%d threads, rust-minidump %d", len(d.Threads), want.ThreadCount)
	}
	if d.Exception.Address != hexNum(t, want.CrashInfo.Address) || d.Threads[want.CrashInfo.CrashingThread].ID != d.Exception.ThreadID {
		t.Errorf("exception at 0x%x in thread 0x%x, rust-minidump %+v", d.Exception.Address, d.Exception.ThreadID, want.CrashInfo)
	}

	// rust-minidump lists the modules by address; its JSON shows file
	// names without directories.
	mods := d.ModulesByAddress()
	if len(mods) != len(want.Modules) {
		t.Fatalf("%d modules, rust-minidump %d", len(mods), len(want.Modules))
	}
	for i, w := range want.Modules {
		m := mods[i]
		got := fmt.Sprintf("%#x-%#x %s code=%s debug=%s debug_file=%s", m.Base, m.End(), path.Base(m.Name), m.CodeID, m.BreakpadDebugID(), path.Base(m.DebugFile))
		exp := fmt.Sprintf("%#x-%#x %s code=%s debug=%s debug_file=%s", hexNum(t, w.BaseAddr), hexNum(t, w.EndAddr), w.Filename, w.CodeID, w.DebugID, w.DebugFile)
		if got != exp {
			t.Errorf("module %d:\n got %s\nwant %s", i, got, exp)
		}
	}
	if d.Modules[want.MainModule].Base != mods[0].Base {
		t.Errorf("main module is not the first")
	}

	// The first frame's registers are the exception context's, all valid.
	ctx := d.Exception.Context
	regs := want.CrashingThread.Frames[0].Registers
	if len(regs) != len(ctx.Names()) {
		t.Errorf("rust-minidump reports %d registers, Context has %d names", len(regs), len(ctx.Names()))
	}
	for name, v := range regs {
		got, ok := ctx.Get(name)
		if !ok || got != hexNum(t, v) {
			t.Errorf("register %s: got %#x (%v), rust-minidump %s", name, got, ok, v)
		}
	}
	if n := strings.Count(string(d.Linux.Maps), "\n"); n != want.LinuxMemoryMapCount {
		t.Errorf("%d lines in the maps stream, rust-minidump counts %d mappings", n, want.LinuxMemoryMapCount)
	}
}

// symbolicDebugID turns a debug id in Breakpad's form into the form
// symbolic's DebugId displays, the way Symbolicator normalises the ids it
// gets from rust-minidump: parse the Breakpad string (32 hex digits and an
// age, or 8 hex digits of a PDB 2.0 signature and an age), print the UUID
// hyphenated in lowercase (or the signature as %08X) and "-age" only when
// the age is not zero.
func symbolicDebugID(t *testing.T, breakpad string) string {
	t.Helper()
	if breakpad == "" {
		return ""
	}
	if len(breakpad) <= 16 {
		age, _ := strconv.ParseUint(breakpad[8:], 16, 32)
		s := strings.ToUpper(breakpad[:8])
		if age != 0 {
			s += fmt.Sprintf("-%x", age)
		}
		return s
	}
	u := strings.ToLower(breakpad[:32])
	age, err := strconv.ParseUint(breakpad[32:], 16, 32)
	if err != nil {
		t.Fatalf("breakpad id %q: %v", breakpad, err)
	}
	s := u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
	if age != 0 {
		s += fmt.Sprintf("-%x", age)
	}
	return s
}

var codeIDForm = regexp.MustCompile(`^[0-9a-f]*$`)

// TestModuleIdentity checks module identifiers on every test dump against
// the forms Symbolicator reports: the debug id is the Breakpad id (which
// the minidump_dump comparison checks) in symbolic's display form, the
// code id is lowercase hex.
func TestModuleIdentity(t *testing.T) {
	for name, data := range testDumps(t) {
		d, _ := Parse(data)
		if d == nil {
			continue
		}
		for i := range d.Modules {
			m := &d.Modules[i]
			if got, want := m.DebugID, symbolicDebugID(t, m.BreakpadDebugID()); got != want {
				t.Errorf("%s: module %s: DebugID %q, Breakpad id %q displays as %q", name, m.Name, got, m.BreakpadDebugID(), want)
			}
			if !codeIDForm.MatchString(m.CodeID) {
				t.Errorf("%s: module %s: CodeID %q is not lowercase hex", name, m.Name, m.CodeID)
			}
		}
	}
}

// TestModuleIdentityCases checks each kind of CodeView record against the
// identifiers rust-minidump's own tests expect, in Symbolicator's forms.
func TestModuleIdentityCases(t *testing.T) {
	tests := []struct {
		name     string
		platform uint32
		mod      func(w *dumpWriter) synthModule
		code     string
		debug    string // Breakpad form, as rust-minidump's tests write it
		file     string
		kind     CVKind
	}{
		{"PDB70", 2, func(w *dumpWriter) synthModule {
			return synthModule{base: 0xa90206ca83eb2852, size: 0xada542bd, timestamp: 0xb1054d2a, name: "single module",
				cv: w.cvPDB70(guid("\x34\x12\xcd\xab\x0d\xf0\xef\xbe\x01\x02\x03\x04\x05\x06\x07\x08"), 1, `c:\foo\file.pdb`)}
		}, "b1054d2aada542bd", "ABCD1234F00DBEEF01020304050607081", `c:\foo\file.pdb`, CVPDB70},
		{"PDB20", 2, func(w *dumpWriter) synthModule {
			return synthModule{base: 0xa90206ca83eb2852, size: 0xada542bd, timestamp: 0xb1054d2a, name: "single module",
				cv: w.cvPDB20(0xabcd1234, 1, `c:\foo\file.pdb`)}
		}, "b1054d2aada542bd", "ABCD12341", `c:\foo\file.pdb`, CVPDB20},
		{"PDB70 all-zero GUID", 2, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x1000, size: 0x2000, timestamp: 0x12345678, name: "z.dll", cv: w.cvPDB70([16]byte{}, 7, "z.pdb")}
		}, "123456782000", "", "z.pdb", CVPDB70},
		{"Windows module without CodeView", 2, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x1000, size: 0xa000, timestamp: 0x378bc3cd, name: "wow64cpu.dll"}
		}, "378bc3cda000", "", "", CVNone},
		{"Linux module without CodeView", 0x8201, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x1000, size: 0xa000, name: "/SYSV00000000 (deleted)"}
		}, "", "", "", CVNone},
		{"macOS PDB70 holds the Mach-O UUID", 0x8101, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x1000, size: 0x4000, name: "/Users/ted/src/crashy",
				cv: w.cvPDB70(guid("\xe3\x91\x10\xef\xda\x81\x9b\x36\x90\x39\xea\x15\x91\xd0\x7e\x0b"), 0, "crashy")}
		}, "ef1091e381da369b9039ea1591d07e0b", "EF1091E381DA369B9039EA1591D07E0B0", "crashy", CVPDB70},
		{"iOS PDB70", 0x8102, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x1000, size: 0x4000, name: "/var/app", cv: w.cvPDB70(guid("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"), 0, "app")}
		}, "0403020106050807090a0b0c0d0e0f10", "0403020106050807090A0B0C0D0E0F100", "app", CVPDB70},
		{"ELF 20-byte build id", 0x8201, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x400000, size: 0x1a000, name: "/work/linux/build/crash",
				cv: w.cvELF([]byte("\xf1\xc3\xbc\xc0\x27\x98\x65\xfe\x30\x58\x40\x4b\x28\x31\xd9\xe6\x41\x35\x38\x6c"))}
		}, "f1c3bcc0279865fe3058404b2831d9e64135386c", "C0BCC3F19827FE653058404B2831D9E60", "/work/linux/build/crash", CVELF},
		{"ELF build id shorter than a GUID", 0x8201, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x400000, size: 0x1000, name: "short.so", cv: w.cvELF([]byte{1, 2, 3})}
		}, "010203", "000302010000000000000000000000000", "short.so", CVELF},
		{"ELF all-zero build id", 0x8201, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x400000, size: 0x1000, name: "font.ttf", cv: w.cvELF(make([]byte, 20))}
		}, "", "", "font.ttf", CVELF},
		{"ELF record without build id", 0x8201, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x400000, size: 0x1000, name: "empty.so", cv: w.cvELF(nil)}
		}, "", "", "empty.so", CVELF},
		{"unknown CodeView signature", 2, func(w *dumpWriter) synthModule {
			return synthModule{base: 0x400000, size: 0x1000, timestamp: 1, name: "odd.dll", cv: []byte("NB09\x00\x00\x00\x00")}
		}, "", "", "", CVUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newDumpWriter(binary.LittleEndian)
			w.systemInfo(synthSystemInfo{arch: 9, platform: tt.platform})
			w.moduleList(tt.mod(w))
			d, err := Parse(w.finish())
			if err != nil {
				t.Fatal(err)
			}
			m := &d.Modules[0]
			want := tt.code
			if m.CodeID != want || m.BreakpadDebugID() != tt.debug || m.DebugID != symbolicDebugID(t, tt.debug) ||
				m.DebugFile != tt.file || m.CVKind != tt.kind {
				t.Errorf("got code %q debug %q (%q) file %q kind %q\nwant code %q debug %q (%q) file %q kind %q",
					m.CodeID, m.BreakpadDebugID(), m.DebugID, m.DebugFile, m.CVKind,
					want, tt.debug, symbolicDebugID(t, tt.debug), tt.file, tt.kind)
			}
		})
	}
}

// TestUnloadedModules checks the unloaded module list, which minidump_dump
// does not print: rust-minidump gives every unloaded module the PE code id.
func TestUnloadedModules(t *testing.T) {
	d, err := Parse(buildSynth(t, "windows-x86"))
	if err != nil {
		t.Fatal(err)
	}
	want := UnloadedModule{Base: 0x30000000, Size: 0x4000, Timestamp: 0x4a5bc6b0, Name: `C:\WINDOWS\system32\gone.dll`, CodeID: "4a5bc6b04000"}
	if len(d.UnloadedModules) != 1 || d.UnloadedModules[0] != want {
		t.Errorf("got %+v, want [%+v]", d.UnloadedModules, want)
	}
}
