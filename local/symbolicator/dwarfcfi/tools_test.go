package dwarfcfi

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// tool returns the path of a command the tests need, failing the test when
// it is missing.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// output runs a command and returns its standard output, failing the test
// on error.
func output(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// sample is one file of the generated corpus.
type sample struct {
	name   string // describes how it was built
	path   string
	linked bool // an executable or shared library, not an object
	// refs lists the reference tools that can read the file; some inputs
	// use instructions LLVM 14 does not know.
	llvm, readelf bool
}

// build describes how to produce one sample: cmd with SRC and OUT replaced.
type build struct {
	name   string
	cmd    []string
	src    string
	linked bool
	// noLLVM and noReadelf mark files a reference tool misreads.
	noLLVM, noReadelf bool
}

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusList []sample
	corpusErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	os.Exit(code)
}

// builds lists the corpus: the sources of testdata/src compiled by GCC and
// clang for every architecture, optimization level and unwind-table mode
// worth telling apart.
func builds() []build {
	var bs []build
	add := func(b build) { bs = append(bs, b) }
	for _, cc := range []struct{ c, cxx string }{{"gcc", "g++"}, {"clang", "clang++"}} {
		for _, v := range []struct{ tag, flags string }{
			{"O0", "-O0"}, {"Os", "-Os"}, {"O2", "-O2"},
			{"O2-omitfp", "-O2 -fomit-frame-pointer"}, {"O2-fp", "-O2 -fno-omit-frame-pointer"},
		} {
			fl := strings.Fields(v.flags)
			add(build{name: cc.c + "-x86_64-" + v.tag + "-c", src: "frames.c", linked: true,
				cmd: append(append([]string{cc.c}, fl...), "-fasynchronous-unwind-tables", "SRC", "-o", "OUT")})
			add(build{name: cc.c + "-x86_64-" + v.tag + "-cc", src: "frames.cc", linked: true,
				cmd: append(append([]string{cc.cxx}, fl...), "SRC", "-o", "OUT")})
		}
		for _, opt := range []string{"-O0", "-O2", "-Os"} {
			add(build{name: cc.c + "-x86_64" + opt + "-debugframe.o", src: "frames.c",
				cmd: []string{cc.c, opt, "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g", "-c", "SRC", "-o", "OUT"}})
		}
		add(build{name: cc.c + "-x86_64-O2-debugframe", src: "frames.c", linked: true,
			cmd: []string{cc.c, "-O2", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g", "SRC", "-o", "OUT"}})
		add(build{name: cc.c + "-x86_64-O2-sections.o", src: "frames.c",
			cmd: []string{cc.c, "-O2", "-ffunction-sections", "-c", "SRC", "-o", "OUT"}})
		add(build{name: cc.c + "-x86_64-O2-cc.o", src: "frames.cc",
			cmd: []string{cc.cxx, "-O2", "-g", "-c", "SRC", "-o", "OUT"}})
	}
	// i386: objects (no 32-bit C library here).
	for _, opt := range []string{"-O0", "-O2", "-Os"} {
		add(build{name: "gcc-i386" + opt + "-c.o", src: "frames.c", cmd: []string{"gcc", "-m32", opt, "-c", "SRC", "-o", "OUT"}})
		add(build{name: "gcc-i386" + opt + "-cc.o", src: "frames.cc", cmd: []string{"g++", "-m32", opt, "-c", "SRC", "-o", "OUT"}})
		for _, fp := range []string{"-fomit-frame-pointer", "-fno-omit-frame-pointer"} {
			add(build{name: "clang-i386" + opt + fp + "-c.o", src: "frames.c",
				cmd: []string{"clang", "--target=i386-linux-gnu", opt, fp, "-c", "SRC", "-o", "OUT"}})
		}
		add(build{name: "clang-i386" + opt + "-cc.o", src: "frames.cc",
			cmd: []string{"clang++", "--target=i386-linux-gnu", opt, "-c", "SRC", "-o", "OUT"}})
	}
	add(build{name: "gcc-i386-O2-debugframe.o", src: "frames.c",
		cmd: []string{"gcc", "-m32", "-O2", "-fno-asynchronous-unwind-tables", "-g", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "clang-i386-O2-debugframe.o", src: "frames.c",
		cmd: []string{"clang", "--target=i386-linux-gnu", "-O2", "-fno-asynchronous-unwind-tables", "-g", "-c", "SRC", "-o", "OUT"}})
	// aarch64: GCC links against the cross C library; clang makes objects.
	for _, v := range []struct{ tag, flags string }{
		{"O0", "-O0"}, {"Os", "-Os"}, {"O2", "-O2"}, {"O2-omitfp", "-O2 -fomit-frame-pointer"},
		{"O2-pacret", "-O2 -mbranch-protection=pac-ret"}, {"O2-pacret-bkey", "-O2 -mbranch-protection=pac-ret+leaf+b-key"},
	} {
		add(build{name: "gcc-aarch64-" + v.tag, src: "frames.c", linked: true,
			cmd: append(append([]string{"aarch64-linux-gnu-gcc"}, strings.Fields(v.flags)...), "SRC", "-o", "OUT")})
	}
	add(build{name: "gcc-aarch64-O2-debugframe.o", src: "frames.c",
		cmd: []string{"aarch64-linux-gnu-gcc", "-O2", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g", "-c", "SRC", "-o", "OUT"}})
	for _, opt := range []string{"-O0", "-O2", "-Os"} {
		add(build{name: "clang-aarch64" + opt + "-c.o", src: "frames.c",
			cmd: []string{"clang", "--target=aarch64-linux-gnu", opt, "-c", "SRC", "-o", "OUT"}})
		add(build{name: "clang-aarch64" + opt + "-cc.o", src: "frames.cc",
			cmd: []string{"clang++", "--target=aarch64-linux-gnu", opt, "-c", "SRC", "-o", "OUT"}})
	}
	add(build{name: "clang-aarch64-O2-pacret-bkey.o", src: "frames.c",
		cmd: []string{"clang", "--target=aarch64-linux-gnu", "-O2", "-mbranch-protection=pac-ret+leaf+b-key", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "clang-aarch64-O2-debugframe.o", src: "frames.c",
		cmd: []string{"clang", "--target=aarch64-linux-gnu", "-O2", "-fno-asynchronous-unwind-tables", "-g", "-c", "SRC", "-o", "OUT"}})
	// arm: its exception tables are .ARM.exidx; DWARF CFI is .debug_frame.
	for _, opt := range []string{"-O0", "-O2", "-Os"} {
		add(build{name: "clang-armv7" + opt + "-c.o", src: "frames.c",
			cmd: []string{"clang", "--target=armv7-linux-gnueabihf", opt, "-g", "-c", "SRC", "-o", "OUT"}})
		add(build{name: "clang-armv7" + opt + "-cc.o", src: "frames.cc",
			cmd: []string{"clang++", "--target=armv7-linux-gnueabihf", opt, "-g", "-c", "SRC", "-o", "OUT"}})
	}
	add(build{name: "clang-thumbv7-O2-c.o", src: "frames.c",
		cmd: []string{"clang", "--target=thumbv7-linux-gnueabihf", "-O2", "-g", "-c", "SRC", "-o", "OUT"}})
	// Mach-O: clang emits __eh_frame for x86_64 functions that compact
	// unwind cannot describe, and for arm64 CFI it cannot encode.
	for _, opt := range []string{"-O0", "-O2", "-Os"} {
		add(build{name: "clang-macho-x86_64" + opt + "-c.o", src: "frames.c",
			cmd: []string{"clang", "--target=x86_64-apple-macos11", opt, "-c", "SRC", "-o", "OUT"}})
		add(build{name: "clang-macho-x86_64" + opt + "-cc.o", src: "frames.cc",
			cmd: []string{"clang++", "--target=x86_64-apple-macos11", opt, "-c", "SRC", "-o", "OUT"}})
	}
	add(build{name: "clang-macho-arm64-asm.o", src: "cfi_arm64_macho.s",
		cmd: []string{"clang", "--target=arm64-apple-macos11", "-c", "SRC", "-o", "OUT"}})
	// Hand-written CFI.
	add(build{name: "gas-x86_64-asm.o", src: "cfi_x86_64.s", cmd: []string{"gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-x86_64-asm.so", src: "cfi_x86_64.s", linked: true,
		cmd: []string{"gcc", "-shared", "-nostdlib", "SRC", "-o", "OUT"}})
	add(build{name: "gas-x86_64-gnu.o", src: "cfi_gnu_x86_64.s", noLLVM: true, cmd: []string{"gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-x86_64-encodings.o", src: "encodings_x86_64.s", cmd: []string{"gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-x86_64-encodings-llvm.o", src: "encodings_llvm_x86_64.s", noReadelf: true, cmd: []string{"gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-x86_64-encodings-gnu.o", src: "encodings_gnu_x86_64.s", noLLVM: true, cmd: []string{"gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-i386-asm.o", src: "cfi_i386.s", cmd: []string{"gcc", "-m32", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "gas-aarch64-asm.o", src: "cfi_aarch64.s", cmd: []string{"aarch64-linux-gnu-gcc", "-c", "SRC", "-o", "OUT"}})
	add(build{name: "clang-armv7-asm.o", src: "cfi_arm.s", cmd: []string{"clang", "--target=armv7-linux-gnueabihf", "-c", "SRC", "-o", "OUT"}})
	return bs
}

// systemLibraries are real, large inputs: the C and C++ runtimes.
var systemLibraries = []string{
	"/lib/x86_64-linux-gnu/libc.so.6",
	"/lib/x86_64-linux-gnu/libstdc++.so.6",
	"/lib/x86_64-linux-gnu/libgcc_s.so.1",
	"/lib64/ld-linux-x86-64.so.2",
	"/usr/aarch64-linux-gnu/lib/libc.so.6",
	"/usr/aarch64-linux-gnu/lib/libstdc++.so.6",
}

// corpus builds every sample once per test binary, in parallel.
func corpus(t *testing.T) []sample {
	t.Helper()
	corpusOnce.Do(func() {
		for _, c := range []string{"gcc", "g++", "clang", "clang++", "aarch64-linux-gnu-gcc"} {
			if _, err := exec.LookPath(c); err != nil {
				corpusErr = fmt.Errorf("%s is not installed: run make deps", c)
				return
			}
		}
		dir, err := os.MkdirTemp("", "dwarfcfi-corpus-")
		if err != nil {
			corpusErr = err
			return
		}
		corpusDir = dir
		src, err := filepath.Abs(filepath.Join("testdata", "src"))
		if err != nil {
			corpusErr = err
			return
		}
		bs := builds()
		out := make([]sample, len(bs))
		errs := make([]error, len(bs))
		sem := make(chan struct{}, 4*runtime.NumCPU())
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				path := filepath.Join(dir, b.name)
				args := make([]string, len(b.cmd))
				for j, a := range b.cmd {
					a = strings.ReplaceAll(a, "SRC", filepath.Join(src, b.src))
					args[j] = strings.ReplaceAll(a, "OUT", path)
				}
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Dir = dir
				if o, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, o)
					return
				}
				out[i] = sample{name: b.name, path: path, linked: b.linked, llvm: !b.noLLVM, readelf: !b.noReadelf}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				corpusErr = err
				return
			}
		}
		for _, lib := range systemLibraries {
			p, err := filepath.EvalSymlinks(lib)
			if err != nil {
				corpusErr = fmt.Errorf("%s: %v (the C runtimes and the arm64 cross C library are needed: run make deps)", lib, err)
				return
			}
			out = append(out, sample{name: lib, path: p, linked: true, llvm: true, readelf: true})
		}
		corpusList = out
	})
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return corpusList
}

// section is one call frame section of a sample, ready for Parse.
type section struct {
	name string // ".eh_frame", ".debug_frame", "__eh_frame"
	kind Kind
	data []byte
	opts Options
	hdr  []byte // .eh_frame_hdr, when present
	addr uint64 // of .eh_frame_hdr
}

// loadSections reads the call frame sections of an ELF or Mach-O file.
// Relocatable ELF objects have their relocations applied with every
// section at address 0, as llvm-dwarfdump does.
func loadSections(t *testing.T, path string) []section {
	t.Helper()
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		var arch Arch
		switch f.Machine {
		case elf.EM_X86_64:
			arch = AMD64
		case elf.EM_AARCH64:
			arch = ARM64
		case elf.EM_386:
			arch = X86
		case elf.EM_ARM:
			arch = ARM
		default:
			t.Fatalf("%s: unexpected machine %v", path, f.Machine)
		}
		var out []section
		for i, s := range f.Sections {
			var kind Kind
			switch s.Name {
			case ".eh_frame":
				kind = EHFrame
			case ".debug_frame":
				kind = DebugFrame
			default:
				continue
			}
			if s.Type == elf.SHT_NOBITS {
				continue
			}
			data, err := s.Data()
			if err != nil {
				t.Fatalf("%s: %s: %v", path, s.Name, err)
			}
			if f.Type == elf.ET_REL {
				data = relocate(t, f, i, data)
			}
			sec := section{name: s.Name, kind: kind, data: data,
				opts: Options{Arch: arch, ByteOrder: f.ByteOrder, SectionAddr: s.Addr}}
			if h := f.Section(".eh_frame_hdr"); h != nil && kind == EHFrame {
				sec.hdr, _ = h.Data()
				sec.addr = h.Addr
			}
			if g := f.Section(".got.plt"); g != nil {
				sec.opts.DataAddr = g.Addr
			}
			out = append(out, sec)
		}
		return out
	}
	f, err := macho.Open(path)
	if err != nil {
		t.Fatalf("%s: neither ELF nor Mach-O: %v", path, err)
	}
	defer f.Close()
	arch := AMD64
	if f.Cpu == macho.CpuArm64 {
		arch = ARM64
	}
	var out []section
	if s := f.Section("__eh_frame"); s != nil {
		data, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, section{name: "__eh_frame", kind: EHFrame, data: data,
			opts: Options{Arch: arch, SectionAddr: s.Addr}})
	}
	return out
}

// relocate applies the relocations of section idx of an object file, with
// every section at address 0: a symbol's address is its value.
func relocate(t *testing.T, f *elf.File, idx int, data []byte) []byte {
	t.Helper()
	data = bytes.Clone(data)
	syms, err := f.Symbols()
	if err != nil && err != elf.ErrNoSymbols {
		t.Fatal(err)
	}
	symAddr := func(i uint32) uint64 {
		if i == 0 || int(i) > len(syms) {
			return 0
		}
		return syms[i-1].Value
	}
	for _, rs := range f.Sections {
		if (rs.Type != elf.SHT_RELA && rs.Type != elf.SHT_REL) || int(rs.Info) != idx {
			continue
		}
		rd, err := rs.Data()
		if err != nil {
			t.Fatal(err)
		}
		bo := f.ByteOrder
		is64 := f.Class == elf.ELFCLASS64
		entSize := map[bool]map[bool]int{true: {true: 24, false: 16}, false: {true: 12, false: 8}}[is64][rs.Type == elf.SHT_RELA]
		for off := 0; off+entSize <= len(rd); off += entSize {
			var where, addend uint64
			var typ, sym uint32
			if is64 {
				where = bo.Uint64(rd[off:])
				info := bo.Uint64(rd[off+8:])
				typ, sym = uint32(info), uint32(info>>32)
				if rs.Type == elf.SHT_RELA {
					addend = bo.Uint64(rd[off+16:])
				}
			} else {
				where = uint64(bo.Uint32(rd[off:]))
				info := bo.Uint32(rd[off+4:])
				typ, sym = info&0xff, info>>8
				if rs.Type == elf.SHT_RELA {
					addend = uint64(int64(int32(bo.Uint32(rd[off+8:]))))
				}
			}
			size, pcrel, ok := relocKind(f.Machine, typ)
			if !ok {
				t.Fatalf("relocation type %d of %v in %s not handled", typ, f.Machine, f.Sections[idx].Name)
			}
			if where+uint64(size) > uint64(len(data)) {
				t.Fatalf("relocation at %#x outside %s", where, f.Sections[idx].Name)
			}
			if rs.Type == elf.SHT_REL {
				if size == 4 {
					addend = uint64(int64(int32(bo.Uint32(data[where:]))))
				} else {
					addend = bo.Uint64(data[where:])
				}
			}
			v := symAddr(sym) + addend
			if pcrel {
				v -= where
			}
			if size == 4 {
				bo.PutUint32(data[where:], uint32(v))
			} else {
				bo.PutUint64(data[where:], v)
			}
		}
	}
	return data
}

// relocKind describes the relocation types call frame sections use.
func relocKind(m elf.Machine, typ uint32) (size int, pcrel, ok bool) {
	switch m {
	case elf.EM_X86_64:
		switch elf.R_X86_64(typ) {
		case elf.R_X86_64_64:
			return 8, false, true
		case elf.R_X86_64_32, elf.R_X86_64_32S:
			return 4, false, true
		case elf.R_X86_64_PC32:
			return 4, true, true
		case elf.R_X86_64_PC64:
			return 8, true, true
		}
	case elf.EM_AARCH64:
		switch elf.R_AARCH64(typ) {
		case elf.R_AARCH64_ABS64:
			return 8, false, true
		case elf.R_AARCH64_ABS32:
			return 4, false, true
		case elf.R_AARCH64_PREL32:
			return 4, true, true
		case elf.R_AARCH64_PREL64:
			return 8, true, true
		}
	case elf.EM_386:
		switch elf.R_386(typ) {
		case elf.R_386_32:
			return 4, false, true
		case elf.R_386_PC32:
			return 4, true, true
		}
	case elf.EM_ARM:
		switch elf.R_ARM(typ) {
		case elf.R_ARM_ABS32:
			return 4, false, true
		case elf.R_ARM_REL32:
			return 4, true, true
		}
	}
	return 0, false, false
}
