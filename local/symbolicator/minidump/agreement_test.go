package minidump

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// testRegs returns distinct values for every register of a layout, so a
// register read from the wrong offset shows.
func testRegs(l *layout, seed uint64) map[string]uint64 {
	m := map[string]uint64{}
	for i, r := range l.regs {
		v := seed<<20 | uint64(0x100+i)
		if r.size == 8 {
			v |= 0x7f00_0000_0000_0000 + seed<<40
		}
		m[r.name] = v
	}
	return m
}

func stackBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// miscInfo builds a MINIDUMP_MISC_INFO of the given version (1 to 5) with
// every field set and the given validity flags.
func (w *dumpWriter) miscInfo(version int, flags uint32) []byte {
	b := w.pack(uint32(miscInfoSizes[version-1]), flags, uint32(4242), uint32(0x5fdd00cd), uint32(3), uint32(1))
	if version >= 2 {
		b = append(b, w.pack(uint32(2600), uint32(2400), uint32(2000), uint32(2), uint32(1))...)
	}
	if version >= 3 {
		b = append(b, w.pack(uint32(0x2000), uint32(0xd), uint32(1), uint32(2), int32(300))...)
		for _, c := range utf16String("Eastern Standard Time", 32) {
			b = w.bo.AppendUint16(b, c)
		}
		b = append(b, make([]byte, 16)...) // standard_date
		b = append(b, w.pack(int32(0))...)
		for _, c := range utf16String("Eastern Daylight Time", 32) {
			b = w.bo.AppendUint16(b, c)
		}
		b = append(b, make([]byte, 16)...)
		b = append(b, w.pack(int32(-60))...)
	}
	if version >= 4 {
		for _, c := range utf16String("17134.1.amd64fre.rs4_release.180410-1804", 260) {
			b = w.bo.AppendUint16(b, c)
		}
		for _, c := range utf16String("dbgcore.amd64,10.0.17134.1", 40) {
			b = w.bo.AppendUint16(b, c)
		}
	}
	if version >= 5 {
		b = append(b, w.pack(uint32(528), uint32(0x340), uint64(0x7))...)
		b = append(b, make([]byte, 64*8)...)
		b = append(b, w.pack(uint32(0x9745a49d))...)
	}
	if len(b) != miscInfoSizes[version-1] {
		panic(fmt.Sprintf("misc info %d: %d bytes", version, len(b)))
	}
	return b
}

func guid(s string) [16]byte {
	var g [16]byte
	copy(g[:], s)
	return g
}

// synthDump is a dump the tests build, named by what it covers.
type synthDump struct {
	name      string
	build     func(w *dumpWriter)
	bigEndian bool
}

func (s *synthDump) bytes() []byte {
	w := newDumpWriter(binary.LittleEndian)
	if s.bigEndian {
		w = newDumpWriter(binary.BigEndian)
	}
	s.build(w)
	return w.finish()
}

var synthDumps = []synthDump{
	{"linux-amd64", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 9, level: 6, revision: 0x4601, cpus: 8, platform: 0x8201,
			csd: "Linux 5.15.0-91-generic #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 x86_64"})
		stack1, stack2 := stackBytes(0x200, 1), stackBytes(0x100, 2)
		ctx := w.context(layoutAMD64, 0x10000b, testRegs(layoutAMD64, 1))
		w.threadList(
			synthThread{id: 0x518, stackStart: 0x7ffc0000, stack: stack1, context: ctx},
			synthThread{id: 0x519, stackStart: 0x7ffd0000, stack: stack2, context: w.context(layoutAMD64, 0x10001f, testRegs(layoutAMD64, 2)), suspend: 1, prio: 3},
		)
		w.memoryList(Region{0x7ffc0000, stack1}, Region{0x7ffd0000, stack2}, Region{0x401000, stackBytes(0x40, 3)})
		w.exception(0x518, 11, 1, 0x45, nil, w.context(layoutAMD64, 0x10000b, testRegs(layoutAMD64, 3)))
		w.moduleList(
			synthModule{base: 0x400000, size: 0x1a000, name: "/work/build/crash", cv: w.cvELF([]byte("\xf1\xc3\xbc\xc0\x27\x98\x65\xfe\x30\x58\x40\x4b\x28\x31\xd9\xe6\x41\x35\x38\x6c"))},
			synthModule{base: 0x7f0000000000, size: 0x108000, name: "/lib/x86_64-linux-gnu/libm.so.6", cv: w.cvELF([]byte("0123456789abcdef"))},
			synthModule{base: 0x7f0000200000, size: 0x2000, name: "/usr/lib/short-id.so", cv: w.cvELF([]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4})},
			synthModule{base: 0x7f0000300000, size: 0x1000, name: "/usr/share/fonts/x.ttf", cv: w.cvELF(make([]byte, 16))},
			synthModule{base: 0x7f0000400000, size: 0x1000, name: "/SYSV00000000 (deleted)"},
			synthModule{base: 0x7fff00000000, size: 0x2000, name: "linux-gate.so", cv: w.cvELF([]byte("\x6c\x5f\x18\x75\xb9\x04\x8f\xb4\xb8\xdf\xd8\x32\xe7\x4a\xd3\x1a\x9a\xaf\xb3\x8f"))},
		)
		w.stream(BreakpadInfoStream, w.pack(uint32(3), uint32(0x519), uint32(0x518)))
		w.stream(LinuxCPUInfoStream, []byte("processor\t: 0\nvendor_id\t: GenuineIntel\n\nprocessor\t: 1\n"))
		w.stream(LinuxProcStatusStream, []byte("Name:\tcrash\nPid:\t1304\n"))
		w.stream(LinuxLSBReleaseStream, []byte("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n"))
		w.stream(LinuxCmdLineStream, []byte("./crash\x00--flag\x00"))
		w.stream(LinuxEnvironStream, []byte("HOME=/root\x00PATH=/bin\x00"))
		w.stream(LinuxAuxvStream, w.pack(uint64(6), uint64(4096), uint64(0), uint64(0)))
		w.stream(LinuxMapsStream, []byte("00400000-0041a000 r-xp 00000000 08:01 1 /work/build/crash\n"))
		w.stream(LinuxDSODebugStream, w.pack(uint32(1), uint32(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0)))
	}, false},
	{"windows-x86", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 0, level: 6, revision: 0x0d08, cpus: 1, product: 1, major: 5, minor: 1, build: 2600,
			platform: 2, csd: "Service Pack 2", suiteMask: 0x100, cpu: w.pack([]byte("GenuineIntel"), uint32(0x6d8), uint32(0xafe9fbff), uint32(0))})
		ctx := w.context(layoutX86, 0x1003f, testRegs(layoutX86, 1))
		stack := stackBytes(0x300, 4)
		w.threadList(synthThread{id: 0xbf4, stackStart: 0x12f000, stack: stack, context: ctx, teb: 0x7ffdf000})
		w.stream(ThreadNamesStream, w.pack(uint32(1), uint32(0xbf4), uint64(w.string16("Hauptfaden ü—main"))))
		w.memoryList(Region{0x12f000, stack})
		w.exception(0xbf4, 0xc0000005, 0, 0x40429e, []uint64{1, 0x45}, w.context(layoutX86, 0x1003f, testRegs(layoutX86, 2)))
		w.moduleList(
			synthModule{base: 0x400000, size: 0x2d000, timestamp: 0x45d35f6c, checksum: 0x3e6b6, name: `c:\test_app.exe`,
				cv: w.cvPDB70(guid("\xe5\x32\x98\x5a\x72\x28\xc1\x41\x83\x8e\xd9\x89\x14\xe9\xb7\xff"), 1, `c:\test_app.pdb`), version: [2]uint32{0x00050001, 0x0a280884}},
			synthModule{base: 0x76bf0000, size: 0xb000, timestamp: 0x411096ca, name: `C:\WINDOWS\system32\psapi.dll`,
				cv: w.cvPDB70(guid("\xf9\xa1\xc3\xa5\x9f\x68\xd8\x43\xad\x22\x8a\x09\x29\x38\x89\x70"), 2, "psapi.pdb"), version: [2]uint32{0x00050001, 0x0a280884}},
			synthModule{base: 0x10000000, size: 0x3000, timestamp: 0x3c5b4d4f, name: `C:\old\vc6.dll`, cv: w.cvPDB20(0x3c5b4d4e, 5, `C:\old\vc6.pdb`)},
			synthModule{base: 0x20000000, size: 0xa000, timestamp: 0x378bc3cd, name: `C:\WINDOWS\system32\wow64cpu.dll`},
		)
		w.stream(MiscInfoStream, w.miscInfo(1, misc1ProcessID|misc1ProcessTimes))
		w.stream(UnloadedModuleListStream, w.pack(uint32(12), uint32(24), uint32(1),
			uint64(0x30000000), uint32(0x4000), uint32(0), uint32(0x4a5bc6b0), w.string16(`C:\WINDOWS\system32\gone.dll`)))
		var a []byte
		for _, s := range []string{"format != nullptr", "common_vfprintf", `minkernel\crts\ucrt\src\appcrt\stdio\output.cpp`} {
			for _, c := range utf16String(s, 128) {
				a = w.bo.AppendUint16(a, c)
			}
		}
		w.stream(AssertionInfoStream, append(a, w.pack(uint32(32), uint32(1))...))
		w.stream(BreakpadInfoStream, w.pack(uint32(2), uint32(0x11c0), uint32(0xbf4)))
	}, false},
	{"windows-arm64", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 12, level: 8, cpus: 8, product: 1, major: 10, build: 22621, platform: 2, csd: ""})
		stack := stackBytes(0x400, 5)
		w.threadList(
			synthThread{id: 0x10, stackStart: 0x5000000, stack: stack, context: w.context(layoutARM64, 0x400007, testRegs(layoutARM64, 1))},
			// Windows leaves the stack RVA 0 for some threads; the stack is
			// then found in the memory list.
			synthThread{id: 0x11, stackStart: 0x6000000, context: w.context(layoutARM64, 0x40001f, testRegs(layoutARM64, 2))},
		)
		w.memory64List(Region{0x5000000, stack}, Region{0x6000000, stackBytes(0x800, 6)}, Region{0x7ff000000, stackBytes(0x1000, 7)})
		w.moduleList(synthModule{base: 0x7ff600000000, size: 0x191000, timestamp: 0x5ba523af, name: `C:\app\app.exe`,
			cv: w.cvPDB70(guid("\x3a\x7c\x8a\x36\xa6\x63\xd9\x44\xbf\x65\x9b\x2f\x47\x99\xa1\xc2"), 3, `C:\app\app.pdb`)})
		w.stream(MiscInfoStream, w.miscInfo(2, misc1ProcessID|misc1ProcessTimes|misc1PowerInfo))
		w.exception(0x10, 0xc0000409, 1, 0x7ff600001234, []uint64{7}, w.context(layoutARM64, 0x400007, testRegs(layoutARM64, 3)))
	}, false},
	{"linux-arm64-breakpad-layout", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 0x8003, cpus: 4, platform: 0x8201, csd: "Linux 6.1.0-13-arm64 #1 SMP Debian 6.1.55-1 (2023-09-29) aarch64"})
		stack := stackBytes(0x200, 8)
		ctx := w.context(layoutARM64Old, 0x80000006, testRegs(layoutARM64Old, 1))
		w.threadList(synthThread{id: 4242, stackStart: 0xfffff0000000, stack: stack, context: ctx})
		w.memoryList(Region{0xfffff0000000, stack})
		w.exception(4242, 11, 1, 0, nil, w.context(layoutARM64Old, 0x80000006, testRegs(layoutARM64Old, 2)))
		w.moduleList(synthModule{base: 0xaaaa00000000, size: 0x20000, name: "/usr/bin/crash", cv: w.cvELF([]byte("aarch64-build-id-bytes"))})
		w.stream(MiscInfoStream, w.miscInfo(3, misc1ProcessID|misc3TimeZone|misc3Integrity))
	}, false},
	{"android-arm", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 5, level: 7, cpus: 4, platform: 0x8203, csd: "Linux 3.4.0 #1 SMP armv7l",
			cpu: w.pack(uint32(0x4100c090), uint32(1<<12|1<<2|1<<15))})
		stack := stackBytes(0x100, 9)
		w.threadList(synthThread{id: 100, stackStart: 0xbe000000, stack: stack, context: w.context(layoutARM, 0x40000003, testRegs(layoutARM, 1))})
		w.memoryList(Region{0xbe000000, stack})
		w.moduleList(synthModule{base: 0x40000000, size: 0x10000, name: "/system/lib/libc.so", cv: w.cvELF([]byte("android-build-id"))})
	}, false},
	{"macos-crashpad", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 9, level: 6, revision: 0x9e0a, cpus: 12, product: 1, major: 10, minor: 15, build: 7, platform: 0x8101, csd: "19H114"})
		stack := stackBytes(0x200, 10)
		w.threadList(synthThread{id: 0xe272c, stackStart: 0x7ffee1c16af0, stack: stack, context: w.context(layoutAMD64, 0x10001f, testRegs(layoutAMD64, 4)), teb: 0x111324ea0})
		w.stream(ThreadNamesStream, w.pack(uint32(1), uint32(0xe272c), uint64(w.string16("com.apple.main-thread"))))
		w.memoryList(Region{0x7ffee1c16af0, stack})
		w.moduleList(
			synthModule{base: 0x10dfe8000, size: 0x4000, name: "/Users/ted/src/crashy",
				cv: w.cvPDB70(guid("\xe3\x91\x10\xef\xda\x81\x9b\x36\x90\x39\xea\x15\x91\xd0\x7e\x0b"), 0, "crashy"), version: [2]uint32{0, 0}},
			synthModule{base: 0x7fff6c2b2000, size: 0x2000, timestamp: 0x5fd06154, name: "/usr/lib/libSystem.B.dylib",
				cv: w.cvPDB70(guid("\x12\xd4\x6a\x8e\xe7\x91\xfc\x36\xa6\xfd\xc1\x3b\x06\xa4\x95\x2a"), 0, "libSystem.B.dylib"), version: [2]uint32{0x05010064, 0x00010000}},
		)
		w.stream(MiscInfoStream, w.miscInfo(4, misc1ProcessID|misc1ProcessTimes|misc1PowerInfo|misc3TimeZone|misc4BuildString))
		str := w.add(w.pack(uint32(5), []byte("hello")))
		objects := w.pack(uint32(2), w.utf8("obj"), uint16(1), uint16(0), str, w.utf8("custom"), uint16(0x8001), uint16(0), w.add([]byte{3, 0, 0, 0, 1, 2, 3}))
		modInfo := w.add(w.pack(uint32(1),
			w.loc(w.pack(uint32(2), w.utf8("abort() called"), w.utf8("second"))),
			w.loc(w.pack(uint32(1), w.utf8("module key"), w.utf8("module value"))),
			w.loc(objects)))
		links := w.pack(uint32(1), uint32(1), uint32(28), modInfo)
		w.stream(CrashpadInfoStream, w.pack(uint32(1),
			guid("\x72\xde\xf9\x42\x8a\x51\xdd\x43\x97\xd7\x8d\xdc\x32\x8d\x36\x62"),
			guid("\xb9\xb3\xd2\x6f\x33\x98\x2f\x4b\xbb\xf7\x0b\xcf\x50\x1b\xad\x7e"),
			w.loc(w.pack(uint32(2), w.utf8("hello"), w.utf8("world"), w.utf8("channel"), w.utf8("beta"))),
			w.loc(links)))
	}, false},
	{"windows-amd64-misc5", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 9, level: 6, revision: 0x4f01, cpus: 16, product: 1, major: 10, build: 17134, platform: 2})
		w.threadList(synthThread{id: 0x1708, stackStart: 0xfc218fe978, stack: stackBytes(0x100, 11), context: w.context(layoutAMD64, 0x10001f, testRegs(layoutAMD64, 5))})
		w.stream(MiscInfoStream, w.miscInfo(5, 0x3f7))
		w.moduleList(synthModule{base: 0x7ff806ab0000, size: 0x1e1000, timestamp: 0xa5a334d4, name: `C:\Windows\System32\ntdll.dll`,
			cv: w.cvPDB70(guid("\x76\xa6\xad\x5b\x2d\x3a\x68\xf5\xba\xea\xc8\xf7\x0d\xa0\xdf\x3c"), 1, "ntdll.pdb"), version: [2]uint32{0x00060002, 0x42ee00fe}})
	}, false},
	{"macos-ppc-big-endian", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 3, level: 0, cpus: 2, major: 10, minor: 4, build: 8, platform: 0x8101, csd: "8L127"})
		stack := stackBytes(0x80, 12)
		w.threadList(synthThread{id: 3, stackStart: 0xbfff0000, stack: stack, context: w.context(layoutPPC, 0x20000001, testRegs(layoutPPC, 1))})
		w.memoryList(Region{0xbfff0000, stack})
		w.moduleList(synthModule{base: 0x1000, size: 0x2000, name: "/Applications/Old.app/Contents/MacOS/Old",
			cv: w.cvPDB70(guid("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"), 0, "Old")})
		w.exception(3, 1, 0, 0xbfff0010, nil, nil)
	}, true},
	{"linux-ppc64", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 0x8002, cpus: 2, platform: 0x8201, csd: "Linux 4.4 #1 ppc64"})
		w.threadList(synthThread{id: 1, stackStart: 0x10000, stack: stackBytes(0x40, 13), context: w.context(layoutPPC64, 0x1000001, testRegs(layoutPPC64, 1))})
	}, false},
	{"solaris-sparc", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 0x8001, cpus: 2, platform: 0x8202, major: 5, minor: 10, csd: "Generic_141444-09"})
		w.threadList(synthThread{id: 1, stackStart: 0x10000, stack: stackBytes(0x40, 14), context: w.context(layoutSPARC, 0x10000001, testRegs(layoutSPARC, 1))})
	}, false},
	{"linux-mips", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 1, cpus: 2, platform: 0x8201, csd: "Linux 3.10 #1 mips"})
		w.threadList(synthThread{id: 1, stackStart: 0x7fff0000, stack: stackBytes(0x40, 15), context: w.context(layoutMIPS, 0x40003, testRegs(layoutMIPS, 1))})
	}, false},
	{"duplicate-unknown-streams", func(w *dumpWriter) {
		w.systemInfo(synthSystemInfo{arch: 9, cpus: 2, platform: 0x8201, csd: "Linux 6.0 #1 x86_64"})
		w.stream(0x12345678, []byte("first"))
		w.threadList(synthThread{id: 1, stackStart: 0x10000, stack: stackBytes(0x40, 16), context: w.context(layoutAMD64, 0x10000b, testRegs(layoutAMD64, 6))})
		w.stream(0x12345678, []byte("second"))
		w.stream(0, nil)
		w.stream(0, nil)
	}, false},
}

// buildSynth builds the named synthetic dump.
func buildSynth(t testing.TB, name string) []byte {
	t.Helper()
	for i := range synthDumps {
		if synthDumps[i].name == name {
			return synthDumps[i].bytes()
		}
	}
	t.Fatalf("no synthetic dump %q", name)
	return nil
}

// testDumps returns every dump the agreement tests run on: the files in
// testdata that Parse reads without error and the synthetic dumps.
func testDumps(t *testing.T) map[string][]byte {
	t.Helper()
	dumps := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join("testdata", "*.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dumps[filepath.Base(f)] = data
	}
	for i := range synthDumps {
		dumps["synthetic/"+synthDumps[i].name] = synthDumps[i].bytes()
	}
	return dumps
}

// TestAgreesWithMinidumpDump parses every test dump and compares all that
// Breakpad's minidump_dump prints with what Parse read.
func TestAgreesWithMinidumpDump(t *testing.T) {
	dumps := testDumps(t)
	names := make([]string, 0, len(dumps))
	for name := range dumps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		data := dumps[name]
		t.Run(name, func(t *testing.T) {
			d, err := Parse(data)
			if d == nil {
				t.Fatalf("Parse: %v", err)
			}
			if el, ok := err.(ErrorList); ok {
				// Only the malformed fixtures have errors; the checks
				// below still cover what was read.
				for _, e := range el {
					t.Logf("Parse: %v", e)
				}
				if name != "invalid-record-count.dmp" {
					t.Errorf("Parse: %v", err)
				}
			}
			got := compareWithMinidumpDump(t, data, d)
			t.Logf("compared: %v", got)
			for _, th := range d.Threads {
				if th.Context != nil && got["context"] == 0 {
					t.Errorf("no context was compared")
				}
			}
			if len(d.Modules) > 0 && got["debug id"] != len(d.Modules) {
				t.Errorf("compared %d debug ids of %d modules", got["debug id"], len(d.Modules))
			}
			if d.SystemInfo != nil && got["system info"] != 1 {
				t.Errorf("system info was not compared")
			}
		})
	}
}
