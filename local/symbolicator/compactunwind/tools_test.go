package compactunwind

import (
	"bytes"
	"debug/macho"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tool finds an external program (or its first available alternative
// name) and fails the test when none is installed.
func tool(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/lib/llvm-14/bin", "/usr/lib/llvm-15/bin", "/usr/lib/llvm-16/bin"} {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatalf("%s is not installed: run make deps", names[0])
	return ""
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// image is one linked Mach-O dylib built for a test.
type image struct {
	name, arch, path string
}

// buildDylib compiles src (C or C++ by extension) for arch with flags and
// links it into a dylib with ld64.lld, which turns the objects'
// __compact_unwind into __unwind_info. Undefined symbols stay dynamic so no
// SDK is needed.
func buildDylib(t testing.TB, dir, arch, src string, flags ...string) image {
	t.Helper()
	cc := tool(t, "clang")
	if strings.HasSuffix(src, ".cpp") {
		cc = tool(t, "clang++")
	}
	ld := tool(t, "ld64.lld", "ld64.lld-14")
	tag := strings.NewReplacer(" ", "", "-", "", "=", "").Replace(strings.Join(flags, ""))
	base := fmt.Sprintf("%s_%s_%s", strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)), arch, tag)
	obj := filepath.Join(dir, base+".o")
	lib := filepath.Join(dir, base+".dylib")
	args := append([]string{"-target", arch + "-apple-macos11", "-c", "-w", src, "-o", obj}, flags...)
	run(t, cc, args...)
	run(t, ld, "-arch", arch, "-platform_version", "macos", "11.0", "11.0", "-dylib",
		"-undefined", "dynamic_lookup", "-o", lib, obj)
	return image{name: base, arch: arch, path: lib}
}

// load parses an image's __unwind_info with Text reading its __TEXT
// segment.
func load(t testing.TB, img image) (*Table, *macho.File) {
	t.Helper()
	f, err := macho.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sec := f.Section("__unwind_info")
	text := f.Segment("__TEXT")
	if sec == nil || text == nil {
		t.Fatalf("%s: no __unwind_info or __TEXT", img.name)
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(data, sec.Addr, text.Addr, img.arch)
	if err != nil {
		t.Fatalf("%s: %v", img.name, err)
	}
	tab.Text = func(addr uint64, n int) ([]byte, bool) {
		if addr < text.Addr || addr-text.Addr > uint64(len(code)) || uint64(len(code))-(addr-text.Addr) < uint64(n) {
			return nil, false
		}
		return code[addr-text.Addr : addr-text.Addr+uint64(n)], true
	}
	return tab, f
}

// objdumpInfo is llvm-objdump --unwind-info's view of a section.
type objdumpInfo struct {
	common         []uint32
	personalities  []uint32
	lsda           map[uint32]uint32 // function offset → LSDA offset
	entries        []objdumpEntry
	pages          int
	regularEntries int    // entries of regular (uncompressed) pages
	sentinel       uint32 // the last first-level index entry's function offset
}

type objdumpEntry struct{ off, enc uint32 }

var (
	reCommon   = regexp.MustCompile(`^\s*encoding\[(\d+)\]: 0x([0-9a-f]+)$`)
	rePers     = regexp.MustCompile(`^\s*personality\[(\d+)\]: 0x([0-9a-f]+)$`)
	reTop      = regexp.MustCompile(`^\s*\[\d+\]: function offset=0x([0-9a-f]+), 2nd level page offset=0x([0-9a-f]+), LSDA offset=0x([0-9a-f]+)$`)
	reLSDA     = regexp.MustCompile(`^\s*\[\d+\]: function offset=0x([0-9a-f]+), LSDA offset=0x([0-9a-f]+)$`)
	reEntry    = regexp.MustCompile(`^\s*\[\d+\]: function offset=0x([0-9a-f]+), encoding(?:\[\d+\])?=0x([0-9a-f]+)$`)
	rePage     = regexp.MustCompile(`^\s*Second level index\[\d+\]:`)
	reRegular  = regexp.MustCompile(`^\s*\[\d+\]: function offset=0x[0-9a-f]+, encoding=0x`)
	reSections = regexp.MustCompile(`^\s*(Common encodings|Personality functions|Top level indices|LSDA descriptors|Second level indices)`)
)

func hex32(t testing.TB, s string) uint32 {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

func objdumpUnwind(t testing.TB, path string) *objdumpInfo {
	t.Helper()
	out := run(t, tool(t, "llvm-objdump"), "--unwind-info", path)
	info := &objdumpInfo{lsda: map[uint32]uint32{}}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		if m := reSections.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		switch section {
		case "Common encodings":
			if m := reCommon.FindStringSubmatch(line); m != nil {
				info.common = append(info.common, hex32(t, m[2]))
			}
		case "Personality functions":
			if m := rePers.FindStringSubmatch(line); m != nil {
				info.personalities = append(info.personalities, hex32(t, m[2]))
			}
		case "Top level indices":
			if m := reTop.FindStringSubmatch(line); m != nil {
				info.sentinel = hex32(t, m[1])
			}
		case "LSDA descriptors":
			if m := reLSDA.FindStringSubmatch(line); m != nil {
				info.lsda[hex32(t, m[1])] = hex32(t, m[2])
			}
		case "Second level indices":
			if rePage.MatchString(line) {
				info.pages++
			} else if m := reEntry.FindStringSubmatch(line); m != nil {
				if reRegular.MatchString(line) {
					info.regularEntries++
				}
				info.entries = append(info.entries, objdumpEntry{hex32(t, m[1]), hex32(t, m[2])})
			}
		}
	}
	return info
}
