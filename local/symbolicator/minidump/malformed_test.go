package minidump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var le = binary.LittleEndian

// linuxBase starts a dump with the system info most cases need.
func linuxBase() *dumpWriter {
	w := newDumpWriter(le)
	w.systemInfo(synthSystemInfo{arch: 9, platform: 0x8201, csd: "Linux 6.1.0 #1 SMP x86_64", cpus: 2})
	return w
}

func hugeString(w *dumpWriter, n uint32) uint32 { return w.add(w.pack(n, []byte("ab"))) }

// TestMalformed feeds broken dumps to Parse and checks that the error names
// the stream and what is wrong, and that the rest of the dump is still read.
func TestMalformed(t *testing.T) {
	fixture := func(name string) func() []byte {
		return func() []byte {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
	header := func(sig, version, count, dirRVA uint32) []byte {
		return newDumpWriter(le).pack(sig, version, count, dirRVA, uint32(0), uint32(0), uint64(0))
	}
	tests := []struct {
		name  string
		data  func() []byte
		fatal bool     // Parse returns no Dump
		want  []string // substrings of the error, in order
		check func(t *testing.T, d *Dump)
	}{
		{name: "empty", data: func() []byte { return nil }, fatal: true,
			want: []string{"file of 0 bytes is shorter than the 32-byte header"}},
		{name: "header cut", data: func() []byte { return header(mdmpSignature, mdmpVersion, 0, 32)[:31] }, fatal: true,
			want: []string{"file of 31 bytes"}},
		{name: "not a minidump", data: func() []byte { return append([]byte("\x7fELF"), make([]byte, 60)...) }, fatal: true,
			want: []string{`signature 0x464c457f is not "MDMP"`, "not a minidump"}},
		{name: "wrong version", data: func() []byte { return header(mdmpSignature, 0x1234, 0, 32) }, fatal: true,
			want: []string{"header version 0x1234: low 16 bits must be 0xa793"}},
		{name: "huge stream count", data: func() []byte { return header(mdmpSignature, mdmpVersion, 0xffffffff, 32) }, fatal: true,
			want: []string{"stream directory of 4294967295 entries at 0x20 (0xbfffffff4 bytes) outside file of 0x20 bytes"}},
		{name: "directory past the end", data: func() []byte { return header(mdmpSignature, mdmpVersion, 1, 0xfffffff0) }, fatal: true,
			want: []string{"stream directory of 1 entries at 0xfffffff0"}},
		{name: "stream range outside the file", data: func() []byte {
			w := linuxBase()
			w.dir = append(w.dir, StreamInfo{Type: ThreadListStream, Offset: 0x100, Size: 0x2000})
			return w.finish()
		}, want: []string{"stream 1 (ThreadList): range 0x100+0x2000 outside file of"},
			check: func(t *testing.T, d *Dump) {
				if d.SystemInfo == nil || d.Threads != nil {
					t.Errorf("system info %v, threads %v: want the first read and no threads", d.SystemInfo, d.Threads)
				}
			}},
		{name: "stream offset wraps", data: func() []byte {
			w := linuxBase()
			w.dir = append(w.dir, StreamInfo{Type: ModuleListStream, Offset: 0xffffffff, Size: 0xffffffff})
			return w.finish()
		}, want: []string{"stream 1 (ModuleList): range 0xffffffff+0xffffffff outside file"}},
		{name: "thread count larger than the stream", data: func() []byte {
			w := linuxBase()
			w.stream(ThreadListStream, w.pack(uint32(0xffffffff), make([]byte, 48)))
			return w.finish()
		}, want: []string{"stream 1 (ThreadList): 4294967295 entries of 48 bytes need 0x2fffffffd4 bytes, stream has 0x34"}},
		{name: "list shorter than its count", data: func() []byte {
			w := linuxBase()
			w.stream(MemoryListStream, w.pack(uint32(0)))
			w.stream(ModuleListStream, []byte{1, 0})
			return w.finish()
		}, want: []string{"stream 2 (ModuleList): stream of 2 bytes has no room for its count"}},
		{name: "module name outside the file", data: func() []byte {
			w := linuxBase()
			w.moduleList(synthModule{base: 0x1000, size: 0x1000, name: "a.so"}, synthModule{base: 0x2000, size: 0x1000, name: "b.so"})
			b := w.finish()
			// Point the second module's name far away.
			off := w.dir[1].Offset + 4 + 108 + 20
			le.PutUint32(b[off:], 0x7fffffff)
			return b
		}, want: []string{"stream 1 (ModuleList): module 1 at 0x2000: name: string at 0x7fffffff outside file"},
			check: func(t *testing.T, d *Dump) {
				if len(d.Modules) != 2 || d.Modules[0].Name != "a.so" || d.Modules[1].Name != "" {
					t.Errorf("modules %+v: want a.so and an unnamed one", d.Modules)
				}
			}},
		{name: "module name of odd length", data: func() []byte {
			w := linuxBase()
			w.moduleList(synthModule{base: 0x1000, size: 0x1000, name: "a.so"})
			b := w.finish()
			rva := le.Uint32(b[w.dir[1].Offset+4+20:])
			le.PutUint32(b[rva:], 7)
			return b
		}, want: []string{"module 0 at 0x1000: name: string at", "has odd byte length 7"}},
		{name: "module name longer than the file", data: func() []byte {
			w := linuxBase()
			w.moduleList(synthModule{base: 0x1000, size: 0x1000, name: "a.so"})
			b := w.finish()
			rva := le.Uint32(b[w.dir[1].Offset+4+20:])
			le.PutUint32(b[rva:], 0xfffffffe)
			return b
		}, want: []string{"module 0 at 0x1000: name: string at", "of 4294967294 bytes outside file"}},
		{name: "CodeView record outside the file", data: func() []byte {
			w := linuxBase()
			w.moduleList(synthModule{base: 0x1000, size: 0x1000, name: "a.so", cv: w.cvELF([]byte{1, 2, 3, 4})})
			b := w.finish()
			le.PutUint32(b[w.dir[1].Offset+4+80:], 0xfffff000)
			return b
		}, want: []string{"module 0 (a.so): CodeView record: range 0xfffff000+0x8 outside file"}},
		{name: "short PDB70 record", data: func() []byte {
			w := linuxBase()
			w.moduleList(synthModule{base: 0x1000, size: 0x1000, name: "a.dll", cv: []byte("RSDS\x01\x02\x03")})
			return w.finish()
		}, want: []string{"module 0 (a.dll): CodeView record: PDB70 record of 7 bytes, needs 24"}},
		{name: "memory region outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(MemoryListStream, w.pack(uint32(2), uint64(0x1000), uint32(0x10), uint32(0x7ffffff0), uint64(0x2000), w.loc([]byte("12345678"))))
			return w.finish()
		}, want: []string{"stream 1 (MemoryList): region 0 at 0x1000: range 0x7ffffff0+0x10 outside file"},
			check: func(t *testing.T, d *Dump) {
				if v, ok := d.Memory.Read(0x2000, 8); !ok || v != le.Uint64([]byte("12345678")) {
					t.Errorf("the good region is not readable: %x %v", v, ok)
				}
			}},
		{name: "memory region past 2^64", data: func() []byte {
			w := linuxBase()
			w.memoryList(Region{0xfffffffffffffff0, make([]byte, 0x20)})
			return w.finish()
		}, want: []string{"region 0 at 0xfffffffffffffff0 of 0x20 bytes reaches the end of the address space"}},
		{name: "memory64 count larger than the stream", data: func() []byte {
			w := linuxBase()
			w.stream(Memory64ListStream, w.pack(uint64(1)<<60, uint64(0x100)))
			return w.finish()
		}, want: []string{"stream 1 (Memory64List): 1152921504606846976 regions need"}},
		{name: "memory64 data outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(Memory64ListStream, w.pack(uint64(2), uint64(0x40), uint64(0x1000), uint64(0x10), uint64(0x2000), uint64(1)<<40))
			return w.finish()
		}, want: []string{"stream 1 (Memory64List): region 1 at 0x2000: range 0x50+0x10000000000 outside file"},
			check: func(t *testing.T, d *Dump) {
				if len(d.Memory.Regions()) != 1 {
					t.Errorf("regions %v: want the first one", d.Memory.Regions())
				}
			}},
		{name: "thread context outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(ThreadListStream, w.pack(uint32(1), uint32(5), make([]byte, 36), uint32(1232), uint32(0x7fff0000)))
			return w.finish()
		}, want: []string{"stream 1 (ThreadList): thread 0 (id 0x5): context: range 0x7fff0000+0x4d0 outside file"},
			check: func(t *testing.T, d *Dump) {
				if len(d.Threads) != 1 || d.Threads[0].ID != 5 || d.Threads[0].Context != nil {
					t.Errorf("threads %+v: want thread 5 without context", d.Threads)
				}
			}},
		{name: "context too short for its CPU", data: func() []byte {
			w := linuxBase()
			w.threadList(synthThread{id: 5, context: w.context(layoutAMD64, ctxAMD64, nil)[:700]})
			return w.finish()
		}, want: []string{"thread 0 (id 0x5): context of 700 bytes, the amd64 layout needs 1232"}},
		{name: "context of another CPU", data: func() []byte {
			w := linuxBase()
			w.threadList(synthThread{id: 5, context: w.context(layoutAMD64, ctxX86|3, nil)})
			return w.finish()
		}, want: []string{"thread 0 (id 0x5): context_flags 0x10003 do not name the amd64 layout"}},
		{name: "thread stack outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(ThreadListStream, w.pack(uint32(1), uint32(5), make([]byte, 20), uint64(0x7000), uint32(0x100), uint32(0x7fff0000), uint64(0)))
			return w.finish()
		}, want: []string{"thread 0 (id 0x5): stack: range 0x7fff0000+0x100 outside file"}},
		{name: "exception stream too short", data: func() []byte {
			w := linuxBase()
			w.stream(ExceptionStream, make([]byte, 100))
			return w.finish()
		}, want: []string{"stream 1 (Exception): stream of 100 bytes is shorter than the 168 bytes of MINIDUMP_EXCEPTION_STREAM"}},
		{name: "too many exception parameters", data: func() []byte {
			w := linuxBase()
			w.exception(1, 11, 0, 0, make([]uint64, 15), nil)
			b := w.finish()
			le.PutUint32(b[w.dir[1].Offset+32:], 100)
			return b
		}, want: []string{"stream 1 (Exception): 100 exception parameters, at most 15 fit"},
			check: func(t *testing.T, d *Dump) {
				if d.Exception == nil || len(d.Exception.Parameters) != 15 {
					t.Errorf("exception %+v: want 15 parameters", d.Exception)
				}
			}},
		{name: "system info too short", data: func() []byte {
			w := newDumpWriter(le)
			w.stream(SystemInfoStream, make([]byte, 40))
			return w.finish()
		}, want: []string{"stream 0 (SystemInfo): stream of 40 bytes is shorter than the 56 bytes of MINIDUMP_SYSTEM_INFO"}},
		{name: "CSD version outside the file", data: func() []byte {
			w := newDumpWriter(le)
			w.stream(SystemInfoStream, w.pack(uint16(9), make([]byte, 22), uint32(0xffffff00), make([]byte, 28)))
			return w.finish()
		}, want: []string{"stream 0 (SystemInfo): CSD version: string at 0xffffff00 outside file"},
			check: func(t *testing.T, d *Dump) {
				if d.SystemInfo == nil || d.SystemInfo.CPU != "amd64" {
					t.Errorf("system info %+v: want it read without the string", d.SystemInfo)
				}
			}},
		{name: "misc info too short", data: func() []byte {
			w := linuxBase()
			w.stream(MiscInfoStream, make([]byte, 20))
			return w.finish()
		}, want: []string{"stream 1 (MiscInfo): stream of 20 bytes is shorter than the 24 bytes of MINIDUMP_MISC_INFO"}},
		{name: "thread name outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(ThreadNamesStream, w.pack(uint32(2), uint32(1), uint64(w.string16("ok")), uint32(2), uint64(1)<<40))
			return w.finish()
		}, want: []string{"stream 1 (ThreadNames): name 1 (thread 0x2): string at 0x10000000000 outside file"},
			check: func(t *testing.T, d *Dump) {
				if d.ThreadNames[1] != "ok" || len(d.ThreadNames) != 1 {
					t.Errorf("names %v: want thread 1's", d.ThreadNames)
				}
			}},
		{name: "unloaded module entry size", data: func() []byte {
			w := linuxBase()
			w.stream(UnloadedModuleListStream, w.pack(uint32(12), uint32(20), uint32(1), make([]byte, 20)))
			return w.finish()
		}, want: []string{"stream 1 (UnloadedModuleList): entry size 20, want 24"}},
		{name: "unloaded module count", data: func() []byte {
			w := linuxBase()
			w.stream(UnloadedModuleListStream, w.pack(uint32(12), uint32(24), uint32(1000), make([]byte, 24)))
			return w.finish()
		}, want: []string{"stream 1 (UnloadedModuleList): header of 12 bytes and 1000 entries of 24 bytes do not fit the stream of 0x24 bytes"}},
		{name: "Crashpad version 0", data: func() []byte {
			w := linuxBase()
			w.stream(CrashpadInfoStream, make([]byte, 52))
			return w.finish()
		}, want: []string{"stream 1 (CrashpadInfo): version 0 is invalid"}},
		{name: "Crashpad dictionary count", data: func() []byte {
			w := linuxBase()
			w.stream(CrashpadInfoStream, w.pack(uint32(1), make([]byte, 32), w.loc(w.pack(uint32(0x10000000), uint32(0))), uint64(0)))
			return w.finish()
		}, want: []string{"stream 1 (CrashpadInfo): simple annotations: 268435456 entries of 8 bytes do not fit in 8 bytes"}},
		{name: "Crashpad string without NUL", data: func() []byte {
			w := linuxBase()
			key := w.add(w.pack(uint32(3), []byte("keyX")))
			w.stream(CrashpadInfoStream, w.pack(uint32(1), make([]byte, 32), w.loc(w.pack(uint32(1), key, w.utf8("v"))), uint64(0)))
			return w.finish()
		}, want: []string{"simple annotations: entry 0: string at", "has no terminating NUL"}},
		{name: "Crashpad module info outside the file", data: func() []byte {
			w := linuxBase()
			w.stream(CrashpadInfoStream, w.pack(uint32(1), make([]byte, 32), uint64(0), w.loc(w.pack(uint32(1), uint32(3), uint32(28), uint32(0x7ffffff0)))))
			return w.finish()
		}, want: []string{"module list entry 0 (module 3): MinidumpModuleCrashpadInfo at 0x7ffffff0 outside file"}},
		{name: "Mac crash info records of two versions", data: func() []byte {
			w := linuxBase()
			r1 := w.loc(w.pack(uint64(MacCrashInfoStream), uint64(4), uint64(1), uint64(0), []byte("a\x00b\x00c\x00d\x00e\x00")))
			r2 := w.loc(w.pack(uint64(MacCrashInfoStream), uint64(5), make([]byte, 24), []byte("\x00\x00\x00\x00\x00")))
			w.stream(MacCrashInfoStream, w.pack(uint32(MacCrashInfoStream), uint32(2), uint32(32), r1, r2, make([]byte, 18*8)))
			return w.finish()
		}, want: []string{"stream 1 (MozMacosCrashInfo): record 1 has version 5, record 0 has 4"},
			check: func(t *testing.T, d *Dump) {
				want := MacCrashInfo{Version: 4, Thread: 1, ModulePath: "a", Message: "b", SignatureString: "c", Backtrace: "d", Message2: "e"}
				if len(d.MacCrashInfo) != 1 || d.MacCrashInfo[0] != want {
					t.Errorf("mac crash info %+v: want [%+v]", d.MacCrashInfo, want)
				}
			}},
		{name: "Mac crash info string not terminated", data: func() []byte {
			w := linuxBase()
			r1 := w.loc(w.pack(uint64(MacCrashInfoStream), uint64(4), uint64(1), uint64(0), []byte("a\x00b")))
			w.stream(MacCrashInfoStream, w.pack(uint32(MacCrashInfoStream), uint32(1), uint32(32), r1, make([]byte, 19*8)))
			return w.finish()
		}, want: []string{"record 0: string 1 is not NUL-terminated UTF-8 inside the record"}},
		{name: "duplicate thread lists", data: func() []byte {
			w := linuxBase()
			w.threadList(synthThread{id: 1})
			w.threadList(synthThread{id: 2})
			return w.finish()
		}, want: []string{"stream 1 (ThreadList): duplicate: stream 2 has the same type and is read instead"},
			check: func(t *testing.T, d *Dump) {
				if len(d.Threads) != 1 || d.Threads[0].ID != 2 {
					t.Errorf("threads %+v: want the last list's", d.Threads)
				}
			}},
		{name: "module names sharing one huge string", data: func() []byte {
			w := linuxBase()
			name := hugeString(w, 1<<20)
			w.add(make([]byte, 1<<20))
			var mods []byte
			for i := 0; i < 5000; i++ {
				mods = append(mods, w.pack(uint64(i)<<12, uint32(0x1000), uint32(0), uint32(0), name, make([]byte, 84))...)
			}
			w.stream(ModuleListStream, append(w.pack(uint32(5000)), mods...))
			return w.finish()
		}, want: []string{"records share data: decoding them would cost more than a file of"}},
		{name: "Crashpad lists shared by every link", data: func() []byte {
			w := linuxBase()
			s := w.utf8("x")
			list := w.pack(uint32(20000))
			for i := 0; i < 20000; i++ {
				list = append(list, w.pack(s)...)
			}
			info := w.add(w.pack(uint32(1), w.loc(list), uint64(0), uint64(0)))
			links := w.pack(uint32(20000))
			for i := 0; i < 20000; i++ {
				links = append(links, w.pack(uint32(i), uint32(28), info)...)
			}
			w.stream(CrashpadInfoStream, w.pack(uint32(1), make([]byte, 32), uint64(0), w.loc(links)))
			return w.finish()
		}, want: []string{"records share data"}},
		{name: "invalid-range.dmp", data: fixture("invalid-range.dmp"),
			check: func(t *testing.T, d *Dump) {
				// The only known stream, LinuxMaps, lies inside the file;
				// the others have unknown types and are not examined.
				// rust-minidump fails on it only because it parses the
				// maps text, which this package leaves raw.
				if len(d.Linux.Maps) != 258 {
					t.Errorf("maps of %d bytes, want 258", len(d.Linux.Maps))
				}
			}},
		{name: "invalid-record-count.dmp", data: fixture("invalid-record-count.dmp"), want: []string{
			"stream 0 (MozMacosCrashInfo): duplicate: stream 8 has the same type and is read instead",
			"stream 8 (MozMacosCrashInfo): 1419155 records, at most 20 fit",
			"stream 8 (MozMacosCrashInfo): record 0: range 0xffff0757+0x1e outside file of 0xeb bytes",
		}},
		{name: "invalid-parameter.dmp", data: fixture("invalid-parameter.dmp"),
			check: func(t *testing.T, d *Dump) {
				// Despite its name this dump is well formed: a crash from
				// an invalid CRT parameter, with Breakpad's assertion stream.
				want := Assertion{Expression: "format != nullptr", Function: "common_vfprintf",
					File: `minkernel\crts\ucrt\src\appcrt\stdio\output.cpp`, Line: 32, Type: 1}
				if d.Assertion == nil || *d.Assertion != want || d.Exception.Code != 0xc000000d {
					t.Errorf("assertion %+v, exception %+v", d.Assertion, d.Exception)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.data())
			if tt.fatal != (d == nil) {
				t.Fatalf("Dump %v, error %v: want fatal=%v", d != nil, err, tt.fatal)
			}
			if len(tt.want) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(tt.want) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tt.want)
				}
				msg := err.Error()
				for _, w := range tt.want {
					i := strings.Index(msg, w)
					if i < 0 {
						t.Fatalf("error %q\ndoes not contain %q", msg, w)
					}
					msg = msg[i+len(w):]
				}
				if !strings.HasPrefix(err.Error(), "minidump: ") {
					t.Errorf("error %q does not start with the package name", err)
				}
			}
			if tt.fatal && strings.Contains(tt.name, "minidump") != errors.Is(err, ErrNotMinidump) {
				t.Errorf("errors.Is(err, ErrNotMinidump) = %v", errors.Is(err, ErrNotMinidump))
			}
			if d != nil {
				var el ErrorList
				if err != nil && !errors.As(err, &el) {
					t.Errorf("error %T is not an ErrorList", err)
				}
				if len(el) > maxErrors+1 {
					t.Errorf("%d errors listed, at most %d", len(el), maxErrors+1)
				}
				if tt.check != nil {
					tt.check(t, d)
				}
			}
		})
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileInputIsCheap checks that broken and hostile dumps cost Parse
// no more memory than a small multiple of their size, so that a service
// can take dumps from anyone.
func TestHostileInputIsCheap(t *testing.T) {
	inputs := map[string][]byte{}
	for name, data := range testDumps(t) {
		inputs[name] = data
	}
	w := linuxBase()
	name := hugeString(w, 1<<20)
	w.add(make([]byte, 1<<20))
	var names []byte
	for i := 0; i < 50000; i++ {
		names = append(names, w.pack(uint32(i), uint64(name))...)
	}
	w.stream(ThreadNamesStream, append(w.pack(uint32(50000)), names...))
	inputs["thread names sharing a huge string"] = w.finish()
	w = linuxBase()
	w.stream(ThreadListStream, w.pack(uint32(0xffffffff)))
	w.stream(ModuleListStream, w.pack(uint32(0xffffffff)))
	w.stream(Memory64ListStream, w.pack(uint64(0xffffffffffffffff), uint64(0)))
	inputs["huge counts"] = w.finish()

	for name, data := range inputs {
		n := allocated(func() { Parse(data) })
		if limit := 16*uint64(len(data)) + 1<<20; n > limit {
			t.Errorf("%s: Parse of %d bytes allocated %d bytes, more than %d", name, len(data), n, limit)
		}
	}
}

// TestTruncated parses prefixes of the test dumps: every length up to 2 KiB
// (header, directory and the first streams), the lengths around the start
// and end of every stream, and every 97th length beyond. Each prefix must
// give a Dump or an error, never a panic.
func TestTruncated(t *testing.T) {
	for name, data := range testDumps(t) {
		t.Run(name, func(t *testing.T) {
			lengths := map[int]bool{}
			for n := 0; n < len(data) && n <= 2048; n++ {
				lengths[n] = true
			}
			for n := 2048; n < len(data); n += 97 {
				lengths[n] = true
			}
			if d, _ := Parse(data); d != nil {
				for _, s := range d.Streams {
					for _, end := range []int{int(s.Offset), int(s.Offset) + int(s.Size)} {
						for n := end - 2; n <= end+2; n++ {
							if n >= 0 && n < len(data) {
								lengths[n] = true
							}
						}
					}
				}
			}
			for n := range lengths {
				d, err := Parse(data[:n:n])
				if d == nil && err == nil {
					t.Fatalf("prefix of %d bytes: no Dump and no error", n)
				}
				if d != nil {
					exercise(d)
				}
			}
		})
	}
}

// TestCorrupted flips random bytes of the test dumps.
func TestCorrupted(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for name, data := range testDumps(t) {
		t.Run(name, func(t *testing.T) {
			for i := 0; i < 300; i++ {
				b := bytes.Clone(data)
				for k := 0; k < 1+rng.Intn(8); k++ {
					pos := rng.Intn(len(b))
					switch rng.Intn(3) {
					case 0:
						b[pos] = byte(rng.Intn(256))
					case 1:
						b[pos] = 0xff
					default:
						b[pos] ^= 0x80
					}
				}
				d, err := Parse(b)
				if d == nil && err == nil {
					t.Fatalf("no Dump and no error")
				}
				if d != nil {
					exercise(d)
				}
			}
		})
	}
}

// exercise calls every accessor of a Dump, which must not panic whatever
// the file held.
func exercise(d *Dump) {
	contexts := []*Context{}
	for _, th := range d.Threads {
		contexts = append(contexts, th.Context)
		th.Stack.Read(th.Stack.Start, 8)
		th.Stack.Bytes(th.Stack.Start+8, 16)
	}
	if d.Exception != nil {
		contexts = append(contexts, d.Exception.Context)
	}
	for _, c := range contexts {
		if c == nil {
			continue
		}
		c.PC()
		c.SP()
		for _, n := range c.Names() {
			c.Get(n)
		}
		c.Get("rflags")
		c.Get("x29")
	}
	for _, r := range d.Memory.Regions() {
		d.Memory.Read(r.Start, 8)
		d.Memory.Read(r.Start+uint64(len(r.Data))-1, 1)
		d.Memory.Bytes(r.Start, len(r.Data))
	}
	for i := range d.Modules {
		d.Modules[i].BreakpadDebugID()
		d.ModuleAt(d.Modules[i].Base)
	}
	d.ModulesByAddress()
	for _, s := range d.Streams {
		d.Stream(s.Type)
	}
}

// FuzzParse feeds arbitrary bytes to Parse and exercises the result.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.dmp"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for i := range synthDumps {
		f.Add(synthDumps[i].bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if d == nil {
			if err == nil {
				t.Fatal("no Dump and no error")
			}
			return
		}
		exercise(d)
	})
}
