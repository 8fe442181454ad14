package coredump_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/coredump"
	"github.com/symflow/symflow/internal/crashtest"
)

func TestReadCoreErrors(t *testing.T) {
	le := binary.LittleEndian
	good := seedCores()["amd64"]
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	core := func(notes ...synthNote) []byte {
		return synthCore{machine: coredump.MachineAMD64, notes: notes}.bytes()
	}
	thread := synthNote{"CORE", ntPRSTATUS, prstatus(coredump.MachineAMD64, 1, 11)}
	tests := []struct {
		name string
		core []byte
		want string
	}{
		{"empty", nil, "reading the ELF header"},
		{"not ELF", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "not an ELF file"},
		{"32-bit", mutate(func(b []byte) []byte { b[4] = 1; return b }), "ELF class 1"},
		{"big-endian", mutate(func(b []byte) []byte { b[5] = 2; return b }), "data encoding 2"},
		{"executable", mutate(func(b []byte) []byte { le.PutUint16(b[16:], 2); return b }), "ELF type 2 is not ET_CORE"},
		{"ARM", mutate(func(b []byte) []byte { le.PutUint16(b[18:], 40); return b }), "unsupported ELF machine 40"},
		{"phentsize", mutate(func(b []byte) []byte { le.PutUint16(b[54:], 32); return b }), "program header size 32"},
		{"program headers past the end", mutate(func(b []byte) []byte { le.PutUint64(b[32:], 1<<40); return b }), "program headers: range 0x10000000000+0xa8"},
		{"PN_XNUM without section header", mutate(func(b []byte) []byte { le.PutUint16(b[56:], 0xffff); le.PutUint64(b[40:], 1<<40); return b }), "PN_XNUM"},
		{"no PT_NOTE", mutate(func(b []byte) []byte { le.PutUint32(b[64:], 0); return b }), "no PT_NOTE segment"},
		{"notes past the end", mutate(func(b []byte) []byte { le.PutUint64(b[64+32:], 1<<25); return b }), "PT_NOTE segment 0"},
		{"PT_LOAD wraps", mutate(func(b []byte) []byte { le.PutUint64(b[64+56+40:], ^uint64(0)); return b }), "wraps around the address space"},
		{"no threads", core(synthNote{"CORE", ntAUXV, auxvNote()}), "no NT_PRSTATUS note"},
		{"short prstatus", core(synthNote{"CORE", ntPRSTATUS, make([]byte, 100)}), "NT_PRSTATUS of 100 bytes, want 336"},
		{"siginfo first", core(synthNote{"CORE", ntSIGINFO, siginfo(11, 1, 0)}, thread), "NT_SIGINFO before any NT_PRSTATUS"},
		{"short siginfo", core(thread, synthNote{"CORE", ntSIGINFO, make([]byte, 8)}), "NT_SIGINFO of 8 bytes"},
		{"fpregset first", core(synthNote{"CORE", ntFPREGSET, make([]byte, 512)}, thread), "NT_FPREGSET before any NT_PRSTATUS"},
		{"odd auxv", core(thread, synthNote{"CORE", ntAUXV, make([]byte, 20)}), "NT_AUXV of 20 bytes"},
		{"NT_FILE count", core(thread, synthNote{"CORE", ntFILE, func() []byte {
			b := fileNote(coredump.FileMap{Start: 0x1000, End: 0x2000, Path: "/a"})
			le.PutUint64(b, 1<<40)
			return b
		}()}), "NT_FILE claims 1099511627776 mappings"},
		{"NT_FILE page size", core(thread, synthNote{"CORE", ntFILE, func() []byte {
			b := fileNote(coredump.FileMap{Start: 0x1000, End: 0x2000, Path: "/a"})
			le.PutUint64(b[8:], 3)
			return b
		}()}), "NT_FILE page size 3"},
		{"NT_FILE path missing", core(thread, synthNote{"CORE", ntFILE, func() []byte {
			b := fileNote(coredump.FileMap{Start: 0x1000, End: 0x2000, Path: "/a"})
			return b[:len(b)-3]
		}()}), "path 0 of 1 is missing"},
		{"NT_FILE backwards", core(thread, synthNote{"CORE", ntFILE, fileNote(coredump.FileMap{Start: 0x2000, End: 0x1000, Path: "/a"})}), "ends (0x1000) before it starts (0x2000)"},
		{"note header cut", mutate(func(b []byte) []byte {
			le.PutUint64(b[64+32:], le.Uint64(b[64+32:])+8) // the PT_NOTE claims 8 bytes more
			return b
		}), "a note header needs 12"},
	}
	// A descriptor size running past its segment.
	bad := core(thread)
	noteOff := le.Uint64(bad[64+8:])
	le.PutUint32(bad[noteOff+4:], 1<<20)
	tests = append(tests, struct {
		name string
		core []byte
		want string
	}{"descriptor past the segment", bad, "run past the segment's end"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := coredump.ReadCore(bytes.NewReader(tt.core))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadCore error %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "coredump: ") {
				t.Errorf("error %q does not name the package", err)
			}
			if _, err := coredump.Convert(bytes.NewReader(tt.core), coredump.Options{}); err == nil {
				t.Errorf("Convert accepted what ReadCore rejects")
			}
		})
	}
}

// dumpOutput is minidump_dump's output, cut into its blocks: a line at
// column 0 names a block, the indented "key = value" lines under it are its
// fields.
type dumpOutput struct {
	blocks []dumpBlock
	text   string
}

type dumpBlock struct {
	name   string
	fields map[string]string
}

func minidumpDump(t *testing.T, dump []byte) *dumpOutput {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.dmp")
	if err := os.WriteFile(path, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	info := crashtest.MinidumpDump(t, path)
	if len(info.Errors) > 0 {
		t.Errorf("minidump_dump reports errors:\n%s", strings.Join(info.Errors, "\n"))
	}
	d := &dumpOutput{text: info.Output}
	for _, line := range strings.Split(info.Output, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			d.blocks = append(d.blocks, dumpBlock{name: strings.TrimSpace(line), fields: map[string]string{}})
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && len(d.blocks) > 0 {
			b := d.blocks[len(d.blocks)-1]
			if _, dup := b.fields[strings.TrimSpace(k)]; !dup {
				b.fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return d
}

// all returns the blocks with the name, in order.
func (d *dumpOutput) all(name string) []dumpBlock {
	var out []dumpBlock
	for _, b := range d.blocks {
		if b.name == name {
			out = append(out, b)
		}
	}
	return out
}

// num reads a field's leading number (minidump_dump prints hex with 0x,
// decimal without).
func (b dumpBlock) num(t *testing.T, key string) uint64 {
	t.Helper()
	v, ok := b.fields[key]
	if !ok {
		t.Fatalf("%s has no %s", b.name, key)
	}
	f := strings.Fields(v)[0]
	n, err := strconv.ParseUint(f, 0, 64)
	if err != nil {
		t.Fatalf("%s.%s = %q: %v", b.name, key, v, err)
	}
	return n
}

// stream returns the text minidump_dump prints for a text stream.
func (d *dumpOutput) stream(name string) string {
	_, rest, ok := strings.Cut(d.text, "Stream "+name+":\n")
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "\n\n")
	return text
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestSyntheticAMD64 converts a core whose every field is known and reads
// the dump back with minidump_dump.
func TestSyntheticAMD64(t *testing.T) {
	lib := buildLibrary(t)
	first, err := os.ReadFile(lib.path)
	if err != nil {
		t.Fatal(err)
	}
	const libBase = 0x7f0000000000
	stack := make([]byte, 0x3000)
	for i := range stack {
		stack[i] = byte(i)
	}
	fx := make([]byte, fxsaveSize)
	binary.LittleEndian.PutUint16(fx, 0x37f)       // fcw
	binary.LittleEndian.PutUint32(fx[24:], 0x1f80) // mxcsr
	binary.LittleEndian.PutUint64(fx[160:], 0x1122334455667788)
	core := func(headerInCore bool) []byte {
		segs := []synthSeg{
			{vaddr: 0x7ffd0000, flags: pfR | pfW, data: stack},
			{vaddr: 0x7ff00000, flags: pfR | pfW, data: stack[:0x2000]},
			{vaddr: libBase + 0x1000, memsz: 0x1000, flags: pfR | pfX},
		}
		if headerInCore {
			segs = append(segs, synthSeg{vaddr: libBase, flags: pfR, data: first[:pageSize]})
		} else {
			segs = append(segs, synthSeg{vaddr: libBase, memsz: pageSize, flags: pfR})
		}
		return synthCore{
			machine: coredump.MachineAMD64,
			notes: []synthNote{
				// A gdb core: every thread carries the inferior's signal;
				// the crashing one is second, its siginfo says SIGSEGV, the
				// other's says SIGSTOP.
				{"CORE", ntPRSTATUS, prstatus(coredump.MachineAMD64, 100, 11, amd64Regs(0x7ffd0f00, 0x7ffd1234, 0x7ffd1300)...)},
				{"CORE", ntFPREGSET, fx},
				{"CORE", ntSIGINFO, siginfo(19, -6, 0)},
				{"CORE", ntPRSTATUS, prstatus(coredump.MachineAMD64, 101, 11, amd64Regs(libBase+0x1100, 0x7ff01800, 0)...)},
				{"CORE", ntSIGINFO, siginfo(11, 2, 0xdead0)},
				{"CORE", ntAUXV, auxvNote(atENTRY, libBase+0x1000, atRANDOM, 0x7ffd2ff0)},
				{"CORE", ntFILE, fileNote(
					coredump.FileMap{Start: libBase, End: libBase + 0x1000, Offset: 0, Path: lib.path},
					coredump.FileMap{Start: libBase + 0x1000, End: libBase + 0x2000, Offset: 0x1000, Path: lib.path},
					coredump.FileMap{Start: libBase + 0x2000, End: libBase + 0x3000, Offset: 0x2000, Path: lib.path},
				)},
			},
			segs: segs,
		}.bytes()
	}
	for _, inCore := range []bool{true, false} {
		t.Run(fmt.Sprintf("header in core %v", inCore), func(t *testing.T) {
			opts := coredump.Options{
				Time:               time.Unix(1700000000, 0),
				Uname:              coredump.Uname{Sysname: "Linux", Release: "6.1.0", Version: "#1 SMP", Machine: "x86_64"},
				NumberOfProcessors: 3,
			}
			if !inCore {
				opts.PathMap = func(p string) string { return p }
			}
			dump, err := coredump.Convert(bytes.NewReader(core(inCore)), opts)
			if err != nil {
				t.Fatal(err)
			}
			d := minidumpDump(t, dump)
			h := d.all("MDRawHeader")[0]
			expect(t, "stream_count", h.num(t, "stream_count"), 7)
			expect(t, "time_date_stamp", h.num(t, "time_date_stamp"), 1700000000)

			threads := d.all("MDRawThread")
			if len(threads) != 2 {
				t.Fatalf("%d threads, want 2", len(threads))
			}
			expect(t, "thread 0 id", threads[0].num(t, "thread_id"), 100)
			expect(t, "thread 1 id", threads[1].num(t, "thread_id"), 101)
			// Breakpad's stack: from sp's page, to the mapping's end, at
			// most 32 KiB.
			expect(t, "thread 0 stack start", threads[0].num(t, "stack.start_of_memory_range"), 0x7ffd1000)
			expect(t, "thread 0 stack size", threads[0].num(t, "stack.memory.data_size"), 0x2000)
			expect(t, "thread 1 stack start", threads[1].num(t, "stack.start_of_memory_range"), 0x7ff01000)
			expect(t, "thread 1 stack size", threads[1].num(t, "stack.memory.data_size"), 0x1000)

			ctx := d.all("MDRawContextAMD64")
			expect(t, "context flags", ctx[0].fields["context_flags"], "0x10000f")
			regs := amd64Regs(0x7ffd0f00, 0x7ffd1234, 0x7ffd1300)
			for name, idx := range map[string]int{"r15": 0, "r14": 1, "r13": 2, "r12": 3, "rbp": 4, "rbx": 5, "r11": 6, "r10": 7, "r9": 8, "r8": 9, "rax": 10, "rcx": 11, "rdx": 12, "rsi": 13, "rdi": 14, "rip": 16, "rsp": 19} {
				expect(t, "thread 0 "+name, ctx[0].num(t, name), regs[idx])
			}
			expect(t, "cs", ctx[0].num(t, "cs"), 0x33)
			expect(t, "eflags", ctx[0].num(t, "eflags"), 0x246)
			expect(t, "thread 1 rip", ctx[1].num(t, "rip"), libBase+0x1100)
			// minidump_dump does not print the FXSAVE area: read it where
			// MDRawContextAMD64 has it (flt_save at 0x100: control word,
			// then MxCsr at +24, xmm0 at +160).
			rva := threads[0].num(t, "thread_context.rva")
			flt := dump[rva+0x100:]
			expect(t, "fcw", binary.LittleEndian.Uint16(flt), 0x37f)
			expect(t, "mxcsr", binary.LittleEndian.Uint32(flt[24:]), 0x1f80)
			expect(t, "xmm0", binary.LittleEndian.Uint64(flt[160:]), 0x1122334455667788)

			exc := d.all("MDException")[0]
			expect(t, "exception thread", exc.num(t, "thread_id"), 101)
			expect(t, "exception code", exc.num(t, "exception_record.exception_code"), 11)
			expect(t, "exception flags", exc.num(t, "exception_record.exception_flags"), 2)
			expect(t, "exception address", exc.num(t, "exception_record.exception_address"), 0xdead0)

			mods := d.all("MDRawModule")
			if len(mods) != 1 {
				t.Fatalf("%d modules, want 1", len(mods))
			}
			expect(t, "module base", mods[0].num(t, "base_of_image"), libBase)
			expect(t, "module size", mods[0].num(t, "size_of_image"), 0x3000)
			expect(t, "module name", mods[0].fields["(code_file)"], `"`+filepath.Join(filepath.Dir(lib.path), lib.soname)+`"`)
			expect(t, "module build id", mods[0].fields["(cv_record).build_id"], lib.buildID)

			// The stacks, then the crashing instruction's 256 bytes when
			// the core or the file holds them (the text is the file's).
			regions := d.all("MDMemoryDescriptor")
			expect(t, "memory regions", len(regions), 3)
			ip := regions[0]
			for _, r := range regions {
				if r.num(t, "start_of_memory_range") == libBase+0x1100-0x80 {
					ip = r
				}
			}
			expect(t, "instruction memory start", ip.num(t, "start_of_memory_range"), libBase+0x1100-0x80)
			expect(t, "instruction memory size", ip.num(t, "memory.data_size"), 0x100)

			si := d.all("MDRawSystemInfo")[0]
			expect(t, "architecture", si.fields["processor_architecture"], "0x9 (x86-64)")
			expect(t, "platform", si.fields["platform_id"], "0x8201 (linux)")
			expect(t, "processors", si.num(t, "number_of_processors"), 3)
			expect(t, "csd", si.fields["(csd_version)"], `"Linux 6.1.0 #1 SMP x86_64"`)

			maps := d.stream("MD_LINUX_MAPS")
			for _, want := range []string{
				`7f0000000000-7f0000001000 r--p 00000000 00:00 0 +` + regexp.QuoteMeta(lib.path),
				`7f0000001000-7f0000002000 r-xp 00001000 00:00 0 +` + regexp.QuoteMeta(lib.path),
				// The third file mapping has no PT_LOAD (as gdb leaves out
				// clean file data): its permissions are those of the
				// file's segment that maps offset 0x2000.
				`7f0000002000-7f0000003000 ` + lib.perms(t, 0x2000) + ` 00002000 00:00 0 +` + regexp.QuoteMeta(lib.path),
				`7ffd0000-7ffd3000 rw-p 00000000 00:00 0 +\[stack\]`,
				`7ff00000-7ff02000 rw-p 00000000 00:00 0`,
			} {
				if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(maps) {
					t.Errorf("LinuxMaps lacks a line %q:\n%s", want, maps)
				}
			}
		})
	}
}

// TestSyntheticARM64 checks both ARM64 context layouts: Breakpad's Linux
// writer's MDRawContextARM64_Old (architecture 0x8003) and the modern one.
func TestSyntheticARM64(t *testing.T) {
	core := seedCores()["arm64"]
	for _, modern := range []bool{false, true} {
		t.Run(fmt.Sprintf("modern %v", modern), func(t *testing.T) {
			dump, err := coredump.Convert(bytes.NewReader(core), coredump.Options{ModernARM64: modern})
			if err != nil {
				t.Fatal(err)
			}
			d := minidumpDump(t, dump)
			si := d.all("MDRawSystemInfo")[0]
			arch := "0x8003 (arm64)"
			if modern {
				arch = "0xc (arm64)"
			}
			expect(t, "architecture", si.fields["processor_architecture"], arch)
			expect(t, "csd", si.fields["(csd_version)"], `"Linux aarch64"`)
			ctx := d.all("MDRawContextARM64")
			if len(ctx) < 2 {
				t.Fatalf("%d ARM64 contexts", len(ctx))
			}
			for i, regs := range [][]uint64{
				arm64Regs(0x400300, 0x5500001000, 0x5500001100, 0x400400),
				arm64Regs(0x400310, 0x5500002ff0, 0, 0),
			} {
				expect(t, "context flags", ctx[i].fields["context_flags"], "0x400007")
				for r := 0; r < 33; r++ {
					expect(t, fmt.Sprintf("thread %d iregs[%d]", i, r), ctx[i].num(t, fmt.Sprintf("iregs[%2d]", r)), regs[r])
				}
				expect(t, "cpsr", ctx[i].num(t, "cpsr"), 0x60000000)
			}
			// No thread has NT_SIGINFO (as in qemu-user's cores): the
			// crashing one is the one with pr_cursig, its pr_info the signal.
			exc := d.all("MDException")[0]
			expect(t, "exception thread", exc.num(t, "thread_id"), 201)
			expect(t, "exception code", exc.num(t, "exception_record.exception_code"), 7)
			expect(t, "exception address", exc.num(t, "exception_record.exception_address"), 0)
			threads := d.all("MDRawThread")
			expect(t, "thread 1 stack start", threads[1].num(t, "stack.start_of_memory_range"), 0x5500002000)
		})
	}
}

// library is a small shared object built for the tests, with what
// readelf says of it.
type library struct {
	path, soname, buildID string
}

// perms returns the permissions readelf gives the PT_LOAD mapping file
// offset off, as /proc/PID/maps writes them.
func (l library) perms(t *testing.T, off uint64) string {
	t.Helper()
	out, err := exec.Command(crashtest.Lookup(t, "readelf"), "-lW", l.path).Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*LOAD\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+([RWE ]+?)\s+0x`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		o, _ := strconv.ParseUint(m[1], 16, 64)
		n, _ := strconv.ParseUint(m[2], 16, 64)
		if o&^(pageSize-1) <= off && off < o+n {
			p := []byte("---p")
			for _, c := range m[3] {
				switch c {
				case 'R':
					p[0] = 'r'
				case 'W':
					p[1] = 'w'
				case 'E':
					p[2] = 'x'
				}
			}
			return string(p)
		}
	}
	t.Fatalf("readelf -lW %s: no LOAD maps offset 0x%x:\n%s", l.path, off, out)
	return ""
}

func buildLibrary(t *testing.T) library {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "synth.c")
	if err := os.WriteFile(src, []byte("int synth_value(int x) { return x * 3; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := library{path: filepath.Join(dir, "libsynth.so.1.2.3"), soname: "libsynth.so.1"}
	if out, err := exec.Command(crashtest.Lookup(t, "gcc"), "-shared", "-fPIC", "-g", "-Wl,--build-id=sha1",
		"-Wl,-soname,"+lib.soname, "-o", lib.path, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(crashtest.Lookup(t, "readelf"), "-n", lib.path).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("readelf -n %s shows no build ID:\n%s", lib.path, out)
	}
	lib.buildID = string(m[1])
	return lib
}

// FuzzConvert feeds arbitrary bytes to the converter: it must return a
// dump or an error, never panic, and never touch the file system.
func FuzzConvert(f *testing.F) {
	for _, c := range seedCores() {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, core []byte) {
		opts := coredump.Options{
			PathMap:        func(string) string { return "" },
			RegisterMemory: 64,
		}
		dump, err := coredump.Convert(bytes.NewReader(core), opts)
		if err == nil && len(dump) < 32 {
			t.Fatalf("a %d-byte dump without an error", len(dump))
		}
	})
}
