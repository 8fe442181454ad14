package objfile

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDIEReader checks the index's DIE reader against debug/dwarf on
// every DIE of real files (DWARF 4 .debug_ranges, DWARF 5
// .debug_rnglists with and without DW_FORM_rnglistx, DW_FORM_strx and
// addrx from clang, Go's DWARF, and the large binaries symflow-bench
// keeps in ~/.cache/symflow-bench when they are there): the same tags,
// children, names, references, call sites and address ranges
// (dwarf.Data.Ranges), and the same place after each DIE.
func TestDIEReader(t *testing.T) {
	type tc struct {
		name  string
		build func(t *testing.T) string
	}
	cases := []tc{
		{"go", func(t *testing.T) string { return buildGo(t, t.TempDir()) }},
		{"gcc-dwarf4", func(t *testing.T) string { return built(t, "gcc", "c", "-O2", "-g", "-gdwarf-4") }},
		{"gcc-dwarf5", func(t *testing.T) string { return built(t, "gcc", "c", "-O2", "-g", "-gdwarf-5") }},
		{"g++-dwarf5", func(t *testing.T) string { return built(t, "g++", "cpp", "-O2", "-g", "-gdwarf-5") }},
		{"clang-dwarf5", func(t *testing.T) string { return built(t, "clang", "c", "-O2", "-gdwarf-5") }},
		{"clang++-dwarf4", func(t *testing.T) string { return built(t, "clang++", "cpp", "-O2", "-gdwarf-4") }},
	}
	if home, err := os.UserHomeDir(); err == nil && !testing.Short() {
		for _, p := range []string{"sqlite-gcc-O2-*", "cxx-clang++-O2-*"} {
			if m, _ := filepath.Glob(filepath.Join(home, ".cache", "symflow-bench", p)); len(m) > 0 {
				cases = append(cases, tc{filepath.Base(m[0]), func(*testing.T) string { return m[0] }})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(c.build(t))
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			secs, err := elfDWARFSections(ef, data)
			if err != nil {
				t.Fatal(err)
			}
			d, err := newDWARF(secs)
			if err != nil {
				t.Fatal(err)
			}
			s := newDIESections(secs, ef.ByteOrder)
			units, err := readUnits(s)
			if err != nil {
				t.Fatal(err)
			}
			b := &indexBuilder{d: d, abbrevs: map[abbrevKey]*abbrevTable{}, secs: s}
			r := d.Reader()
			var u *dieUnit
			checked, ranged := 0, 0
			for {
				e, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e == nil {
					break
				}
				if e.Tag == 0 {
					continue
				}
				for u == nil || int(e.Offset) >= u.end {
					if len(units) == 0 {
						t.Fatalf("DIE at %#x past the units", e.Offset)
					}
					u, units = &units[0], units[1:]
					if err := b.prepareUnit(s, u, nil); err != nil {
						t.Fatal(err)
					}
				}
				if int(e.Offset) == u.data {
					if err := b.prepareUnit(s, u, e); err != nil {
						t.Fatal(err)
					}
				}
				dr := &dieReader{buf: buf{b: s.info[:u.end], off: int(e.Offset), bo: ef.ByteOrder}, s: s, u: u}
				a := u.abbrevs.get(dr.uleb())
				if a == nil || a.tag != e.Tag || a.children != e.Children {
					t.Fatalf("DIE at %#x: abbreviation %+v, debug/dwarf has tag %v children %v", e.Offset, a, e.Tag, e.Children)
				}
				fa := b.functionAttrs(dr, a)
				if dr.err != nil {
					t.Fatalf("DIE at %#x: %v", e.Offset, dr.err)
				}
				gotName := rawName{name: b.text(fa.name.name), linkage: b.text(fa.name.linkage), origin: fa.name.origin, spec: fa.name.spec,
					originAlt: fa.name.originAlt, specAlt: fa.name.specAlt}
				if want := dieNameOf(e, nil); gotName != want {
					t.Fatalf("DIE at %#x: names %+v, want %+v", e.Offset, gotName, want)
				}
				wantSib, hasSib := e.Val(dwarf.AttrSibling).(dwarf.Offset)
				if b.hasSibling != hasSib || hasSib && b.sibling != int(wantSib) {
					t.Fatalf("DIE at %#x: sibling %v %#x, want %v %#x", e.Offset, b.hasSibling, b.sibling, hasSib, wantSib)
				}
				for _, v := range []struct {
					attr dwarf.Attr
					got  attrVal
				}{{dwarf.AttrCallFile, fa.callFile}, {dwarf.AttrCallLine, fa.callLine}, {dwarf.AttrLowpc, fa.low}} {
					switch want := e.Val(v.attr).(type) {
					case int64:
						if v.got.kind != vInt || v.got.i != want {
							t.Fatalf("DIE at %#x: %v %+v, want %d", e.Offset, v.attr, v.got, want)
						}
					case uint64:
						if v.got.kind != vUint || v.got.u != want {
							t.Fatalf("DIE at %#x: %v %+v, want %#x", e.Offset, v.attr, v.got, want)
						}
					default:
						if v.got.kind == vInt || v.got.kind == vUint {
							t.Fatalf("DIE at %#x: %v %+v, want %v", e.Offset, v.attr, v.got, want)
						}
					}
				}
				want, werr := d.Ranges(e)
				got, gerr := dieRanges(s, u, fa.low, fa.high, fa.ranges, nil)
				if (werr != nil) != (gerr != nil) || !slices.Equal(got, want) {
					t.Fatalf("DIE at %#x: ranges %x (%v), want %x (%v)", e.Offset, got, gerr, want, werr)
				}
				if fa.hasRanges {
					ranged++
				}
				// The reader ends where debug/dwarf's next DIE starts.
				next := dr.off
				r2 := d.Reader()
				r2.Seek(e.Offset)
				r2.Next()
				e2, _ := r2.Next()
				if e2 != nil && e2.Tag == 0 && (next >= u.end || s.info[next] != 0) || e2 != nil && e2.Tag != 0 && next < u.end && int(e2.Offset) != next {
					t.Fatalf("DIE at %#x: the reader ends at %#x, the next DIE starts at %#x", e.Offset, next, e2.Offset)
				}
				checked++
			}
			if ranged == 0 {
				t.Fatal("no DIE with DW_AT_ranges: the case tests less than it says")
			}
			t.Logf("%d DIEs agree, %d with DW_AT_ranges", checked, ranged)
		})
	}
}
