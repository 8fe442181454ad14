package pe

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// readobjExports parses llvm-readobj --coff-exports.
func readobjExports(t *testing.T, text string) []Export {
	t.Helper()
	re := regexp.MustCompile(`Export \{\s*Ordinal: (\d+)\s*Name: ?(.*?)\s*RVA: 0x([0-9A-Fa-f]+)\s*\}`)
	var out []Export
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		ord, _ := strconv.ParseUint(m[1], 10, 32)
		rva, _ := strconv.ParseUint(m[3], 16, 32)
		out = append(out, Export{Ordinal: uint32(ord), Name: m[2], RVA: uint32(rva)})
	}
	return out
}

// TestExportsAgainstReadobj compares the export table with llvm-readobj
// --coff-exports (ordinals, names, RVAs) and forwarders with llvm-objdump
// -p, then checks that Symbol names every address of every exported
// function by the export with the greatest RVA at or below it.
func TestExportsAgainstReadobj(t *testing.T) {
	readobj, objdump := tool(t, "llvm-readobj"), tool(t, "llvm-objdump")
	checked := 0
	for _, img := range images(t) {
		t.Run(img.name, func(t *testing.T) {
			f := openImage(t, img)
			want := readobjExports(t, run(t, readobj, "--coff-exports", img.path))
			got := f.Exports()
			if len(got) != len(want) {
				t.Fatalf("%d exports, llvm-readobj lists %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
			}
			forwards := map[string]string{}
			for _, m := range regexp.MustCompile(`(?m)^\s+\d+\s+(\S+) \(forwarded to (\S+)\)$`).FindAllStringSubmatch(run(t, objdump, "-p", img.path), -1) {
				forwards[m[1]] = m[2]
			}
			for i, w := range want {
				w.Forwarder = forwards[w.Name]
				if got[i] != w {
					t.Errorf("export %d: %+v, want %+v", i, got[i], w)
				}
			}
			if !img.exe && len(forwards) == 0 && img.x64 {
				t.Errorf("the x64 images are linked with a forwarder; objdump shows none")
			}

			// The symbol map: named exports by RVA.
			var named []Export
			for _, w := range want {
				if w.Name != "" {
					w.Forwarder = forwards[w.Name]
					named = append(named, w)
				}
			}
			sort.SliceStable(named, func(i, j int) bool { return named[i].RVA < named[j].RVA })
			for i, e := range named {
				end := e.RVA + 64
				if i+1 < len(named) {
					end = named[i+1].RVA
				}
				if e.Forwarder != "" || end == e.RVA {
					continue
				}
				for _, rva := range []uint32{e.RVA, e.RVA + (end-e.RVA)/2, end - 1} {
					s, ok := f.Symbol(rva)
					if !ok || s.Name != e.Name || s.RVA != e.RVA {
						t.Errorf("Symbol(%#x) = %+v, %v; want %s at %#x", rva, s, ok, e.Name, e.RVA)
					}
					checked++
				}
			}
			if len(named) > 0 {
				if s, ok := f.Symbol(named[0].RVA - 1); ok {
					t.Errorf("Symbol below the first export: %+v", s)
				}
			}
			for _, e := range got {
				if e.Name == "" && e.RVA != 0 {
					// Exported by ordinal only: never a symbol name.
					if s, ok := f.Symbol(e.RVA); ok && s.RVA == e.RVA && s.Name == "" {
						t.Errorf("ordinal-only export %d named %+v", e.Ordinal, s)
					}
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no symbol lookups checked")
	}
}

// TestMangledExports checks that C++ exports keep their MSVC mangling
// (the service demangles them, as symbolic does).
func TestMangledExports(t *testing.T) {
	for _, img := range images(t) {
		if img.exe {
			continue
		}
		f := openImage(t, img)
		found := false
		for _, e := range f.Exports() {
			if strings.HasPrefix(e.Name, "?area@shapes@@") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no ?area@shapes@@ export in %+v", img.name, f.Exports())
		}
	}
}
