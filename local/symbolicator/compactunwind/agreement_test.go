package compactunwind

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// variant is one way of building a source.
type variant struct {
	src   string
	arch  string
	flags []string
}

func variants() []variant {
	var out []variant
	for _, arch := range []string{"x86_64", "arm64"} {
		for _, fl := range [][]string{
			{"-O0"}, {"-O1"}, {"-O2"}, {"-Os"},
			{"-O2", "-fomit-frame-pointer"}, {"-O0", "-fomit-frame-pointer"},
			{"-Os", "-fomit-frame-pointer"},
		} {
			out = append(out, variant{"frames.c", arch, fl})
		}
		out = append(out,
			variant{"eh.cpp", arch, []string{"-O2"}},
			variant{"eh.cpp", arch, []string{"-O0", "-fomit-frame-pointer"}},
			variant{"many.c", arch, []string{"-O2", "-fomit-frame-pointer"}},
			variant{"many.c", arch, []string{"-O1"}},
		)
	}
	return out
}

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
	// builtImages are the images of every variant, built once per test
	// binary (tests using them run sequentially).
	builtImages []image
)

// manySource writes a C file with enough small functions of varied
// shapes that the linker needs several second-level pages, with
// page-local encodings.
func manySource(dir string) (string, error) {
	var b strings.Builder
	b.WriteString("int g(int);\nvoid use(volatile char *);\n")
	for i := 0; i < 2600; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "int m%d(int x) { return x * %d; }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "int m%d(int x) { return g(x + %d) + 1; }\n", i, i)
		case 2:
			fmt.Fprintf(&b, "int m%d(int x) { volatile char buf[%d]; buf[x & 7] = 1; use(buf); return buf[1]; }\n", i, 16+8*(i%300))
		case 3:
			fmt.Fprintf(&b, "int m%d(int a, int b) { int x = g(a); int y = g(b + x); return x + y + g(a + %d); }\n", i, i)
		case 4:
			fmt.Fprintf(&b, "int m%d(int a, int b, int c) { int x = g(a); int y = g(b + x); int z = g(c + y); return x + y + z + a + b + c + %d; }\n", i, i)
		}
	}
	p := filepath.Join(dir, "many.c")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// buildAll builds every variant once per test binary.
func buildAll(t *testing.T) []image {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "compactunwind")
		if imagesErr == nil {
			_, imagesErr = manySource(imagesDir)
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	if builtImages != nil {
		return builtImages
	}
	var imgs []image
	for _, v := range variants() {
		src := filepath.Join("testdata", v.src)
		if v.src == "many.c" {
			src = filepath.Join(imagesDir, v.src)
		}
		abs, _ := filepath.Abs(src)
		imgs = append(imgs, buildDylib(t, imagesDir, v.arch, abs, v.flags...))
	}
	builtImages = imgs
	return imgs
}

// TestAgainstObjdump checks every entry of every built image against
// llvm-objdump --unwind-info: the tables, the entry list, and Find at the
// start, middle and end of every entry's range.
func TestAgainstObjdump(t *testing.T) {
	imgs := buildAll(t)
	totalEntries, totalPages, totalRegular, totalLSDA, modes := 0, 0, 0, 0, map[string]int{}
	for _, img := range imgs {
		t.Run(img.name, func(t *testing.T) {
			tab, _ := load(t, img)
			want := objdumpUnwind(t, img.path)
			if fmt.Sprint(tab.common) != fmt.Sprint(want.common) {
				t.Errorf("common encodings %x, llvm-objdump %x", tab.common, want.common)
			}
			if fmt.Sprint(tab.personalities) != fmt.Sprint(want.personalities) {
				t.Errorf("personalities %x, llvm-objdump %x", tab.personalities, want.personalities)
			}
			if len(tab.pages) != want.pages {
				t.Errorf("%d second-level pages, llvm-objdump %d", len(tab.pages), want.pages)
			}
			var got []objdumpEntry
			tab.Entries(func(start uint64, enc uint32, ok bool) bool {
				if !ok {
					t.Errorf("entry at 0x%x: invalid encoding index", start)
				}
				got = append(got, objdumpEntry{uint32(start - tab.TextBase), enc})
				return true
			})
			if fmt.Sprint(got) != fmt.Sprint(want.entries) {
				t.Fatalf("entries differ from llvm-objdump:\n got %x\nwant %x", got, want.entries)
			}
			if _, hi := tab.Range(); hi != tab.TextBase+uint64(want.sentinel) {
				t.Errorf("range end 0x%x, llvm-objdump's sentinel 0x%x", hi, want.sentinel)
			}
			// Find at each entry's start, one past it and its last byte;
			// ranges of zero length (a repeated offset) are superseded by
			// the later entry.
			for i, w := range want.entries {
				end := want.sentinel
				for j := i + 1; j < len(want.entries); j++ {
					if want.entries[j].off != w.off {
						end = want.entries[j].off
						break
					}
				}
				if end == w.off {
					continue
				}
				if i+1 < len(want.entries) && want.entries[i+1].off == w.off {
					continue
				}
				for _, a := range []uint32{w.off, w.off + (end-w.off)/2, end - 1} {
					e, ok := tab.Find(tab.TextBase + uint64(a))
					if !ok {
						t.Errorf("Find(0x%x): no entry, llvm-objdump has 0x%x at 0x%x", a, w.enc, w.off)
						continue
					}
					if e.Start != tab.TextBase+uint64(w.off) || e.End != tab.TextBase+uint64(end) || e.Encoding != w.enc {
						t.Errorf("Find(0x%x) = [0x%x,0x%x) 0x%08x, llvm-objdump [0x%x,0x%x) 0x%08x",
							a, e.Start-tab.TextBase, e.End-tab.TextBase, e.Encoding, w.off, end, w.enc)
					}
					if l, has := want.lsda[w.off]; has && w.enc&hasLSDA != 0 {
						if e.LSDA != tab.TextBase+uint64(l) {
							t.Errorf("Find(0x%x): LSDA 0x%x, llvm-objdump 0x%x", a, e.LSDA-tab.TextBase, l)
						}
					} else if e.LSDA != 0 {
						t.Errorf("Find(0x%x): LSDA 0x%x, llvm-objdump none", a, e.LSDA)
					}
					if p := (w.enc >> 28) & 3; p != 0 {
						if e.Personality != tab.TextBase+uint64(want.personalities[p-1]) {
							t.Errorf("Find(0x%x): personality 0x%x, llvm-objdump 0x%x", a, e.Personality, want.personalities[p-1])
						}
					}
					if c := tab.Covers(tab.TextBase + uint64(a)); c != (w.enc != 0) {
						t.Errorf("Covers(0x%x) = %v with encoding 0x%x", a, c, w.enc)
					}
				}
				modes[img.arch+" "+(&Entry{Encoding: w.enc, arch: img.arch}).Mode()]++
			}
			lo, hi := tab.Range()
			if _, ok := tab.Find(lo - 1); ok {
				t.Errorf("Find below the table's range succeeded")
			}
			if _, ok := tab.Find(hi); ok {
				t.Errorf("Find at the sentinel succeeded")
			}
			totalEntries += len(want.entries)
			totalPages += want.pages
			totalRegular += want.regularEntries
			totalLSDA += len(want.lsda)
		})
	}
	var ms []string
	for k, v := range modes {
		ms = append(ms, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(ms)
	t.Logf("%d images, %d entries (%d in regular pages), %d pages, %d LSDA descriptors agree with llvm-objdump; modes: %s",
		len(imgs), totalEntries, totalRegular, totalPages, totalLSDA, strings.Join(ms, ", "))
}

// TestMain removes the images the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}
