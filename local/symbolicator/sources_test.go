package symbolicator

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The expected paths are the ones Symbolicator's own tests pin down for the
// same identifiers.
var (
	elfID = objectID{
		Type: "elf", CodeID: "dfb85de42daffd09640c8fe377d572de3e168920",
		DebugID:  "e45db8df-af2d-09fd-640c-8fe377d572de",
		CodeFile: "/lib/x86_64-linux-gnu/libm-2.23.so", DebugFile: "/lib/x86_64-linux-gnu/libm-2.23.so",
	}
	machoID = objectID{
		Type: "macho", DebugID: "67e9247c-814e-392b-a027-dbde6748fcbf",
		CodeFile: "/Users/travis/build/getsentry/breakpad-tools/macos/build/./crash", DebugFile: "crash",
	}
	peID = objectID{
		Type: "pe", CodeID: "5ab380779000", DebugID: "3249d99d-0c40-4931-8610-f4e4fb0b6936-1",
		CodeFile:  `C:\projects\breakpad-tools\windows\Release\crash.exe`,
		DebugFile: `C:\projects\breakpad-tools\windows\Release\crash.pdb`,
	}
	wasmID = objectID{
		Type: "wasm", CodeID: "67e9247c814e392ba027dbde6748fcbf", DebugID: "67e9247c-814e-392b-a027-dbde6748fcbf",
		DebugFile: "file://foo.invalid/demo.wasm",
	}
)

func TestLayoutPaths(t *testing.T) {
	for _, tc := range []struct {
		layout, filetype string
		id               objectID
		want             string
	}{
		{"native", "elf_code", elfID, "df/b85de42daffd09640c8fe377d572de3e168920"},
		{"native", "elf_debug", elfID, "df/b85de42daffd09640c8fe377d572de3e168920.debug"},
		{"native", "mach_code", machoID, "67E9/247C/814E/392B/A027/DBDE6748FCBF.app"},
		{"native", "mach_debug", machoID, "67E9/247C/814E/392B/A027/DBDE6748FCBF"},
		{"unified", "elf_code", elfID, "df/b85de42daffd09640c8fe377d572de3e168920/executable"},
		{"unified", "elf_debug", elfID, "df/b85de42daffd09640c8fe377d572de3e168920/debuginfo"},
		{"unified", "mach_code", machoID, "67/e9247c814e392ba027dbde6748fcbf/executable"},
		{"unified", "mach_debug", machoID, "67/e9247c814e392ba027dbde6748fcbf/debuginfo"},
		{"debuginfod", "elf_code", elfID, "dfb85de42daffd09640c8fe377d572de3e168920/executable"},
		{"debuginfod", "elf_debug", elfID, "dfb85de42daffd09640c8fe377d572de3e168920/debuginfo"},
		{"debuginfod", "mach_debug", machoID, ""},
		{"symstore", "elf_code", elfID, "libm-2.23.so/elf-buildid-dfb85de42daffd09640c8fe377d572de3e168920/libm-2.23.so"},
		{"symstore", "elf_debug", elfID, "_.debug/elf-buildid-sym-dfb85de42daffd09640c8fe377d572de3e168920/_.debug"},
		{"symstore", "mach_code", machoID, "crash/mach-uuid-67e9247c814e392ba027dbde6748fcbf/crash"},
		{"symstore", "mach_debug", machoID, "_.dwarf/mach-uuid-sym-67e9247c814e392ba027dbde6748fcbf/_.dwarf"},
		{"symstore_index2", "elf_code", elfID, "li/libm-2.23.so/elf-buildid-dfb85de42daffd09640c8fe377d572de3e168920/libm-2.23.so"},
		{"symstore_index2", "elf_debug", elfID, "_/_.debug/elf-buildid-sym-dfb85de42daffd09640c8fe377d572de3e168920/_.debug"},
		{"symstore_index2", "mach_debug", machoID, "_/_.dwarf/mach-uuid-sym-67e9247c814e392ba027dbde6748fcbf/_.dwarf"},
		{"ssqp", "elf_code", objectID{CodeID: "abcd", CodeFile: `C:\Bin\LibM.so`}, "libm.so/elf-buildid-abcd/libm.so"},
		{"slashsymbols", "elf_code", elfID, "libm-2.23.so/dfb85de42daffd09640c8fe377d572de3e168920/symbols"},
		{"native", "pdb", peID, "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb"},
		{"native", "pe", peID, "crash.exe/5AB380779000/crash.exe"},
		{"native", "breakpad", peID, "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.sym"},
		{"native", "sourcebundle", peID, "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.src.zip"},
		{"native", "breakpad", machoID, "crash/67E9247C814E392BA027DBDE6748FCBF0/crash.sym"},
		{"native", "sourcebundle", machoID, "crash/67E9247C814E392BA027DBDE6748FCBF0/crash.src.zip\n67E9/247C/814E/392B/A027/DBDE6748FCBF.src.zip"},
		{"native", "wasm_debug", wasmID, "67/e9247c814e392ba027dbde6748fcbf.debug"},
		{"native", "wasm_code", wasmID, "67/e9247c814e392ba027dbde6748fcbf"},
		{"native", "sourcebundle", wasmID, "67/e9247c814e392ba027dbde6748fcbf.src.zip"},
		{"native", "breakpad", wasmID, ""},
		{"native", "breakpad", elfID, "libm-2.23.so/E45DB8DFAF2D09FD640C8FE377D572DE0/libm-2.23.so.sym"},
		{"native", "sourcebundle", elfID, "libm-2.23.so/E45DB8DFAF2D09FD640C8FE377D572DE0/libm-2.23.so.src.zip\ndf/b85de42daffd09640c8fe377d572de3e168920.src.zip"},
		{"unified", "pdb", peID, "32/49d99d0c4049318610f4e4fb0b69361/debuginfo"},
		{"unified", "pe", peID, "32/49d99d0c4049318610f4e4fb0b69361/executable"},
		{"unified", "breakpad", peID, "32/49d99d0c4049318610f4e4fb0b69361/breakpad"},
		{"unified", "sourcebundle", peID, "32/49d99d0c4049318610f4e4fb0b69361/sourcebundle"},
		{"unified", "wasm_debug", wasmID, "67/e9247c814e392ba027dbde6748fcbf/debuginfo"},
		{"unified", "wasm_code", wasmID, "67/e9247c814e392ba027dbde6748fcbf/executable"},
		{"unified", "breakpad", machoID, "67/e9247c814e392ba027dbde6748fcbf/breakpad"},
		{"unified", "sourcebundle", machoID, "67/e9247c814e392ba027dbde6748fcbf/sourcebundle"},
		{"unified", "breakpad", elfID, "df/b85de42daffd09640c8fe377d572de3e168920/breakpad"},
		{"unified", "sourcebundle", elfID, "df/b85de42daffd09640c8fe377d572de3e168920/sourcebundle"},
		{"symstore", "pdb", peID, "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb"},
		{"symstore", "pe", peID, "crash.exe/5AB380779000/crash.exe"},
		{"symstore", "sourcebundle", peID, "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.src.zip"},
		{"symstore", "sourcebundle", elfID, ""},
		{"symstore", "breakpad", elfID, ""},
		{"symstore_index2", "pdb", peID, "cr/crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb"},
		{"symstore_index2", "pe", peID, "cr/crash.exe/5AB380779000/crash.exe"},
		{"symstore_index2", "mach_code", machoID, "cr/crash/mach-uuid-67e9247c814e392ba027dbde6748fcbf/crash"},
		{"ssqp", "pdb", peID, "crash.pdb/3249d99d0c4049318610f4e4fb0b69361/crash.pdb"},
		{"debuginfod", "breakpad", elfID, ""},
	} {
		t.Run(tc.layout+"/"+tc.filetype, func(t *testing.T) {
			got := layout{Type: tc.layout}.paths(tc.filetype, tc.id)
			var want []string
			if tc.want != "" {
				want = strings.Split(tc.want, "\n")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestLocationsCasingFiltersAndSafety(t *testing.T) {
	types := fileTypesFor("elf")
	got := layout{Type: "symstore", Casing: "uppercase"}.locations(elfID, filters{}, types)
	want := []string{
		"LIBM-2.23.SO/ELF-BUILDID-DFB85DE42DAFFD09640C8FE377D572DE3E168920/LIBM-2.23.SO",
		"LIBM-2.23.SO/E45DB8DFAF2D09FD640C8FE377D572DE0/LIBM-2.23.S_",
		"LIBM-2.23.SO/E45DB8DFAF2D09FD640C8FE377D572DE0/LIBM-2.23.SO",
		"_.DEBUG/ELF-BUILDID-SYM-DFB85DE42DAFFD09640C8FE377D572DE3E168920/_.DEBUG",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uppercase: got %q, want %q", got, want)
	}
	got = layout{Type: "native", Casing: "lowercase"}.locations(machoID, filters{}, fileTypesFor("macho"))
	want = []string{
		"67e9/247c/814e/392b/a027/dbde6748fcbf.app",
		"crash/67e9247c814e392ba027dbde6748fcbf0/crash.sym",
		"67e9/247c/814e/392b/a027/dbde6748fcbf",
		"crash/67e9247c814e392ba027dbde6748fcbf0/cras_",
		"crash/67e9247c814e392ba027dbde6748fcbf0/crash",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lowercase: got %q, want %q", got, want)
	}
	got = layout{Type: "native"}.locations(elfID, filters{FileTypes: []string{"elf_debug"}}, types)
	if !reflect.DeepEqual(got, []string{"df/b85de42daffd09640c8fe377d572de3e168920.debug"}) {
		t.Errorf("filetypes filter: got %q", got)
	}
	pat, err := compileGlob("/lib/*")
	if err != nil {
		t.Fatal(err)
	}
	if got := (layout{Type: "native"}).locations(elfID, filters{PathPatterns: []*regexp.Regexp{pat}}, types); len(got) != 5 {
		t.Errorf("matching path pattern: got %q", got)
	}
	pat, _ = compileGlob("/usr/*")
	if got := (layout{Type: "native"}).locations(elfID, filters{PathPatterns: []*regexp.Regexp{pat}}, types); len(got) != 0 {
		t.Errorf("non-matching path pattern: got %q", got)
	}
	if got := (layout{Type: "native"}).locations(elfID, filters{RequiresChecksum: true}, types); len(got) != 0 {
		t.Errorf("requires_checksum without a checksum: got %q", got)
	}
	evil := objectID{CodeID: "abcd", CodeFile: "/x/.."}
	if got := (layout{Type: "symstore"}).locations(evil, filters{}, types); len(got) != 1 || got[0] != "_.debug/elf-buildid-sym-abcd/_.debug" {
		t.Errorf("a code file of .. must not yield a path: %q", got)
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, path string
		match     bool
	}{
		{"c:/windows/*", "C:/Windows/System32/kernel32.dll", true},
		{"?:/windows/*", "C:/Windows/System32/kernel32.dll", true},
		{"d:/windows/**", "C:/Windows/System32/kernel32.dll", false},
		{"*libc*", "/lib/x86_64-linux-gnu/libc.so.6", true},
		{"/usr/lib/[a-c]*.so", "/usr/lib/b.so", true},
		{"/usr/lib/[!a-c]*.so", "/usr/lib/b.so", false},
		{"/usr/lib/lib?.so", "/usr/lib/libm.so", true},
		{"a.b", "axb", false},
	} {
		re, err := compileGlob(tc.pat)
		if err != nil {
			t.Fatalf("%s: %v", tc.pat, err)
		}
		if got := re.MatchString(tc.path); got != tc.match {
			t.Errorf("glob %q on %q = %v, want %v", tc.pat, tc.path, got, tc.match)
		}
	}
	if _, err := compileGlob("/lib/[abc"); err == nil {
		t.Error("an unclosed class must be an error")
	}
}

func TestJoinURL(t *testing.T) {
	for _, tc := range []struct{ base, loc, want string }{
		{"https://example.org/base", "foo/bar", "https://example.org/base/foo/bar"},
		{"https://example.org/base/", "foo", "https://example.org/base/foo"},
		{"https://example.org/", "foo//bar", "https://example.org/foo/bar"},
		{"https://example.org/base", "foo bar", "https://example.org/base/foo%20bar"},
		{"https://example.org/buildid/?x=1", "ab/debuginfo", "https://example.org/buildid/ab/debuginfo?x=1"},
	} {
		b, _ := url.Parse(tc.base)
		if got := joinURL(b, tc.loc).String(); got != tc.want {
			t.Errorf("joinURL(%s, %s) = %s, want %s", tc.base, tc.loc, got, tc.want)
		}
	}
	u, _ := url.Parse("https://user:secret@example.org/x")
	if got := redactURL(u); got != "https://example.org/x" {
		t.Errorf("redactURL kept credentials: %s", got)
	}
}

func TestParseDebugID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"c18b43e5-a21f-bc87-0711-3bf5b42431fb", "c18b43e5-a21f-bc87-0711-3bf5b42431fb"},
		{"C18B43E5-A21F-BC87-0711-3BF5B42431FB", "c18b43e5-a21f-bc87-0711-3bf5b42431fb"},
		{"3249d99d-0c40-4931-8610-f4e4fb0b6936-1", "3249d99d-0c40-4931-8610-f4e4fb0b6936-1"},
		{"3249D99D0C4049318610F4E4FB0B69361", "3249d99d-0c40-4931-8610-f4e4fb0b6936-1"},
		{"c18b43e5a21fbc8707113bf5b42431fb0", "c18b43e5-a21f-bc87-0711-3bf5b42431fb"},
		{"not-an-id", ""},
		{"", ""},
	} {
		d, ok := parseDebugID(tc.in)
		got := ""
		if ok {
			got = d.String()
		}
		if got != tc.want {
			t.Errorf("parseDebugID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReturnAddressAdjustment(t *testing.T) {
	sig := func(n uint32) *uint32 { return &n }
	ip := func(v uint64) *uint64 { return &v }
	const addr = 0x1003
	for _, tc := range []struct {
		name   string
		arch   string
		mode   adjustment
		index  int
		signal *uint32
		ip     *uint64
		want   uint64
	}{
		{"caller frame x86_64", "x86_64", adjustAuto, 1, sig(11), nil, addr - 1},
		{"caller frame x86", "x86", adjustAuto, 3, nil, nil, addr - 1},
		{"caller frame arm64", "arm64", adjustAuto, 1, nil, nil, 0x1000 - 4},
		// Frame 0 holds the faulting instruction: looked up as is...
		{"crashing frame SIGSEGV", "x86_64", adjustAuto, 0, sig(11), nil, addr},
		{"crashing frame SIGILL", "x86_64", adjustAuto, 0, sig(4), nil, addr},
		{"crashing frame SIGBUS", "x86_64", adjustAuto, 0, sig(7), nil, addr},
		{"crashing frame SIGFPE", "x86_64", adjustAuto, 0, sig(8), nil, addr},
		{"crashing frame SIGABRT", "x86_64", adjustAuto, 0, sig(6), nil, addr},
		{"crashing frame no signal", "x86_64", adjustAuto, 0, nil, nil, addr},
		{"crashing frame ip equals addr", "x86_64", adjustAuto, 0, sig(11), ip(addr), addr},
		{"crashing frame ip elsewhere SIGABRT", "x86_64", adjustAuto, 0, sig(6), ip(0x2000), addr},
		{"crashing frame ip elsewhere SIGFPE", "x86_64", adjustAuto, 0, sig(8), ip(0x2000), addr},
		{"crashing frame ip elsewhere no signal", "x86_64", adjustAuto, 0, nil, ip(0x2000), addr},
		{"crashing frame arm64 SIGSEGV aligned", "arm64", adjustAuto, 0, sig(11), nil, 0x1000},
		// ...unless a handler frame was removed above it: ip present,
		// elsewhere, and a crash signal (SIGBUS as Linux and Darwin number it).
		{"crashing frame ip elsewhere SIGSEGV", "x86_64", adjustAuto, 0, sig(11), ip(0x2000), addr - 1},
		{"crashing frame ip elsewhere SIGILL", "x86_64", adjustAuto, 0, sig(4), ip(0x2000), addr - 1},
		{"crashing frame ip elsewhere SIGBUS linux", "x86_64", adjustAuto, 0, sig(7), ip(0x2000), addr - 1},
		{"crashing frame ip elsewhere SIGBUS darwin", "arm64", adjustAuto, 0, sig(10), ip(0x2000), 0x1000 - 4},
		{"caller frame mips skips the delay slot", "mips", adjustAuto, 1, nil, nil, 0x1000 - 8},
		{"caller frame ppc64", "ppc64", adjustAuto, 1, nil, nil, 0x1000 - 8},
		{"explicit yes on crashing frame", "x86_64", adjustYes, 0, sig(11), ip(addr), addr - 1},
		{"explicit no on caller", "x86_64", adjustNo, 2, nil, nil, addr},
		{"explicit no arm64 aligns", "arm64", adjustNo, 2, nil, nil, 0x1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lookupAddress(tc.arch, addr, shouldAdjust(tc.mode, tc.index, tc.signal, tc.ip, addr))
			if got != tc.want {
				t.Fatalf("lookup address = %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestLRUBoundedByBytes(t *testing.T) {
	c := newLRU[string](10)
	c.add("a", "a", 4)
	c.add("b", "b", 4)
	if _, ok := c.get("a"); !ok { // a is now most recent
		t.Fatal("a missing")
	}
	c.add("c", "c", 4) // evicts b
	if _, ok := c.get("b"); ok {
		t.Error("b should have been evicted")
	}
	if n, size := c.stats(); n != 2 || size != 8 {
		t.Errorf("stats = %d entries, %d bytes; want 2, 8", n, size)
	}
	c.add("huge", "x", 11)
	if _, ok := c.get("huge"); ok {
		t.Error("an entry larger than the bound must not be kept")
	}
}
