package minidump

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// TestMemory checks the merged memory view: Memory64ListStream and
// MemoryListStream regions together, overlaps settled as documented.
func TestMemory(t *testing.T) {
	w := newDumpWriter(binary.LittleEndian)
	w.systemInfo(synthSystemInfo{arch: 9, platform: 2})
	a := stackBytes(0x100, 1)
	w.memory64List(Region{0x10000, a}, Region{0x30000, stackBytes(0x10, 2)})
	w.memoryList(
		Region{0x10080, stackBytes(0x10, 3)}, // inside a Memory64 region: dropped
		Region{0x20000, stackBytes(0x40, 4)}, // kept
		Region{0x20000, stackBytes(0x80, 5)}, // same start, longer: the shorter wins
		Region{0x20020, stackBytes(0x40, 6)}, // starts inside the kept one: dropped
		Region{0x20040, stackBytes(0x20, 7)}, // adjacent: kept
		Region{0x40000, stackBytes(0x08, 8)}, // kept
		Region{0x2fff8, stackBytes(0x10, 9)}, // runs into a Memory64 region: dropped
		Region{0x50000, nil},                 // empty: skipped
		Region{0xfffffffffffffff0, a[:8]},    // kept
		Region{0xfffffffffffffff8, a[:8]},    // ends at 2^64: reported, as rust-minidump cannot hold it
	)
	d, err := Parse(w.finish())
	if err == nil {
		t.Error("no error for the region reaching 2^64")
	}
	var got []string
	for _, r := range d.Memory.Regions() {
		got = append(got, fmt.Sprintf("%x+%x", r.Start, len(r.Data)))
	}
	want := []string{"10000+100", "20000+40", "20040+20", "30000+10", "40000+8", "fffffffffffffff0+8"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("regions %v, want %v", got, want)
	}

	m := &d.Memory
	for _, tt := range []struct {
		addr uint64
		size int
		want uint64
		ok   bool
	}{
		{0x10000, 8, binary.LittleEndian.Uint64(a), true},
		{0x10004, 4, uint64(binary.LittleEndian.Uint32(a[4:])), true},
		{0x10006, 2, uint64(binary.LittleEndian.Uint16(a[6:])), true},
		{0x100ff, 1, uint64(a[0xff]), true},
		{0x100f8, 8, binary.LittleEndian.Uint64(a[0xf8:]), true},
		{0x100f9, 8, 0, false}, // runs off the region's end
		{0x10000, 3, 0, false}, // not a value size
		{0x0ffff, 1, 0, false},
		{0x20038, 16, 0, false}, // spans two adjacent regions
		{0xfffffffffffffff0, 8, binary.LittleEndian.Uint64(a), true},
		{0xfffffffffffffff7, 1, uint64(a[7]), true},
		{0xfffffffffffffff8, 1, 0, false},
	} {
		v, ok := m.Read(tt.addr, tt.size)
		if v != tt.want || ok != tt.ok {
			t.Errorf("Read(0x%x, %d) = 0x%x, %v; want 0x%x, %v", tt.addr, tt.size, v, ok, tt.want, tt.ok)
		}
	}
	if b, ok := m.Bytes(0x10010, 0x20); !ok || !bytes.Equal(b, a[0x10:0x30]) {
		t.Errorf("Bytes(0x10010, 0x20) = %x, %v", b, ok)
	}
	if _, ok := m.Bytes(0x10010, 0x100); ok {
		t.Error("Bytes past a region's end succeeded")
	}
	if _, ok := m.Bytes(0x10010, -1); ok {
		t.Error("Bytes of a negative count succeeded")
	}
	if r, ok := m.Find(0x20041); !ok || r.Start != 0x20040 {
		t.Errorf("Find(0x20041) = %x, %v", r.Start, ok)
	}
	if _, ok := m.Find(0x20060); ok {
		t.Error("Find(0x20060) found a region")
	}
}

// TestThreadStackFromMemory checks the fallback for a thread whose stack
// descriptor has no data: the memory region at its start address.
func TestThreadStackFromMemory(t *testing.T) {
	d, err := Parse(buildSynth(t, "windows-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	th := d.Threads[1]
	if th.Stack.Start != 0x6000000 || !bytes.Equal(th.Stack.Data, stackBytes(0x800, 6)) {
		t.Errorf("stack at 0x%x of %d bytes, want the Memory64 region at 0x6000000", th.Stack.Start, len(th.Stack.Data))
	}
	if v, ok := th.Stack.Read(0x6000008, 8); !ok || v != binary.LittleEndian.Uint64(stackBytes(0x800, 6)[8:]) {
		t.Errorf("stack Read = 0x%x, %v", v, ok)
	}
}

func TestThreadNames(t *testing.T) {
	d, err := Parse(buildSynth(t, "macos-crashpad"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Threads[0].Name != "com.apple.main-thread" || d.ThreadNames[0xe272c] != "com.apple.main-thread" {
		t.Errorf("thread name %q, names %v", d.Threads[0].Name, d.ThreadNames)
	}
}

// TestModuleAt checks the address ranges rust-minidump gives modules:
// empty modules cover nothing, and of overlapping modules the one sorted
// first keeps the addresses.
func TestModuleAt(t *testing.T) {
	w := newDumpWriter(binary.LittleEndian)
	w.systemInfo(synthSystemInfo{arch: 9, platform: 0x8201})
	w.moduleList(
		synthModule{base: 0x5000, size: 0x1000, name: "e"},
		synthModule{base: 0x1000, size: 0x1000, name: "a"},
		synthModule{base: 0x1800, size: 0x1000, name: "overlaps a"},
		synthModule{base: 0x3000, size: 0, name: "empty"},
		synthModule{base: 0x2000, size: 0x1000, name: "b"},
		synthModule{base: 0xfffffffffffff000, size: 0x2000, name: "wraps"},
	)
	d, err := Parse(w.finish())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range d.ModulesByAddress() {
		names = append(names, m.Name)
	}
	if fmt.Sprint(names) != "[a b e]" {
		t.Errorf("ModulesByAddress = %v, want [a b e]", names)
	}
	for addr, want := range map[uint64]string{0x1000: "a", 0x1fff: "a", 0x2000: "b", 0x2800: "b", 0x3000: "", 0x5fff: "e", 0x6000: "", 0: "", 0xfffffffffffff800: ""} {
		got := ""
		if m, ok := d.ModuleAt(addr); ok {
			got = m.Name
		}
		if got != want {
			t.Errorf("ModuleAt(0x%x) = %q, want %q", addr, got, want)
		}
	}
	if len(d.Modules) != 6 {
		t.Errorf("%d modules, want all 6 of the stream", len(d.Modules))
	}
}

// TestSystemInfoNames checks the names and descriptions rust-minidump
// derives from MINIDUMP_SYSTEM_INFO, with values from its tests.
func TestSystemInfoNames(t *testing.T) {
	for _, tt := range []struct {
		dump, cpu, os, version, build, info string
	}{
		{"windows-x86", "x86", "Windows NT", "5.1.2600", "Service Pack 2", "GenuineIntel family 6 model 13 stepping 8"},
		{"linux-amd64", "amd64", "Linux", "5.15.0-91-generic", "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023", "family 6 model 70 stepping 1"},
		{"android-arm", "arm", "Android", "0.0.0", "Linux 3.4.0 #1 SMP armv7l", "ARMv7 ARM Cortex-A9 features: thumb,neon,tls"},
		{"linux-arm64-breakpad-layout", "arm64", "Linux", "6.1.0-13-arm64", "#1 SMP Debian 6.1.55-1 (2023-09-29)", ""},
		{"windows-arm64", "arm64", "Windows NT", "10.0.22621", "", ""},
		{"macos-crashpad", "amd64", "Mac OS X", "10.15.7", "19H114", "family 6 model 158 stepping 10"},
		{"macos-ppc-big-endian", "ppc", "Mac OS X", "10.4.8", "8L127", ""},
		{"linux-ppc64", "ppc64", "Linux", "4.4", "#1", ""},
		{"solaris-sparc", "sparc", "Solaris", "5.10.0", "Generic_141444-09", ""},
		{"linux-mips", "mips", "Linux", "3.10", "#1", ""},
	} {
		d, err := Parse(buildSynth(t, tt.dump))
		if err != nil {
			t.Fatal(err)
		}
		s := d.SystemInfo
		got := []string{s.CPU, s.OS, s.OSVersion, s.OSBuild, s.CPUInfo}
		want := []string{tt.cpu, tt.os, tt.version, tt.build, tt.info}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("%s: got %q\nwant %q", tt.dump, got, want)
		}
	}
}

// TestOSParts follows rust-minidump's os_parts on Linux build strings.
func TestOSParts(t *testing.T) {
	for _, tt := range []struct {
		platform            uint32
		major               uint32
		csd, version, build string
	}{
		{0x8201, 0, "Linux 4.9.60-linuxkit-aufs #1 SMP Mon Nov 6 16:00:12 UTC 2017 x86_64", "4.9.60-linuxkit-aufs", "#1 SMP Mon Nov 6 16:00:12 UTC 2017"},
		{0x8201, 0, "Linux 5.4.0 #1 SMP x86_64 Linux/GNU", "5.4.0", "#1 SMP"},
		{0x8201, 0, "Linux 5.4.0", "5.4.0", ""},
		{0x8201, 0, "Linux", "0.0.0", "Linux"},
		{0x8201, 0, "", "0.0.0", ""},
		{0x8201, 0, "Linux 0.0.0 #1 x86_64", "0.0.0", "Linux 0.0.0 #1 x86_64"},
		{0x8201, 5, "Linux 4.9 #1 x86_64", "5.0.0", "Linux 4.9 #1 x86_64"},
		{0x8203, 0, "Linux 3.4 #1 armv7l", "0.0.0", "Linux 3.4 #1 armv7l"},
		{2, 0, "  Service Pack 1  ", "0.0.0", "Service Pack 1"},
	} {
		v, b := osParts(&SystemInfo{PlatformID: tt.platform, MajorVersion: tt.major, CSDVersion: tt.csd})
		if v != tt.version || b != tt.build {
			t.Errorf("%x %q: got %q %q, want %q %q", tt.platform, tt.csd, v, b, tt.version, tt.build)
		}
	}
	if got := osName(0x8000); got != "0x0x008000" {
		t.Errorf("unknown platform named %q, rust-minidump writes 0x0x008000", got)
	}
}

// TestMiscInfoVersions checks which fields each version and flag makes
// available; minidump_dump agrees on the values (TestAgreesWithMinidumpDump).
func TestMiscInfoVersions(t *testing.T) {
	for v := 1; v <= 5; v++ {
		for _, flags := range []uint32{0, 0x3f7} {
			w := newDumpWriter(binary.LittleEndian)
			w.stream(MiscInfoStream, w.miscInfo(v, flags))
			d, err := Parse(w.finish())
			if err != nil {
				t.Fatal(err)
			}
			m := d.MiscInfo
			on := flags != 0
			check := func(what string, present bool, want bool) {
				if present != want {
					t.Errorf("version %d flags 0x%x: %s present=%v, want %v", v, flags, what, present, want)
				}
			}
			check("version", m.Version == v, true)
			check("process id", m.ProcessID == 4242, on)
			check("create time", m.ProcessCreateTime.Equal(time.Unix(0x5fdd00cd, 0)), on)
			check("processor MHz", m.ProcessorMaxMHz == 2600, on && v >= 2)
			check("time zone", m.TimeZone != nil && m.TimeZone.StandardName == "Eastern Standard Time" && m.TimeZone.Bias == 300, on && v >= 3)
			check("build string", m.BuildString == "17134.1.amd64fre.rs4_release.180410-1804", on && v >= 4)
			check("process cookie", m.ProcessCookie == 0x9745a49d, on && v >= 5)
			check("xstate", m.XStateEnabledFeatures == 7, v >= 5)
		}
	}
}

// TestRawStreams checks Dump.Stream on unknown and repeated stream types.
func TestRawStreams(t *testing.T) {
	d, err := Parse(buildSynth(t, "duplicate-unknown-streams"))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := d.Stream(0x12345678); !ok || string(b) != "second" {
		t.Errorf("Stream(0x12345678) = %q, %v; want the last entry's", b, ok)
	}
	if _, ok := d.Stream(0x7777); ok {
		t.Error("Stream of an absent type succeeded")
	}
}

func TestStreamTypeNames(t *testing.T) {
	for typ, want := range map[StreamType]string{ThreadListStream: "ThreadList", LinuxMapsStream: "LinuxMaps", 0x12345: "0x12345"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", uint32(typ), got, want)
		}
	}
}
