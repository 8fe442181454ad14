package objfile

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"os"
	"slices"
	"testing"
)

// TestRangesShortcut checks that indexBuilder.ranges, which spares
// dwarf.Data.Ranges re-reading the unit's root DIE, gives what Ranges
// gives for every DIE with DW_AT_ranges (DWARF 4 .debug_ranges, DWARF 5
// .debug_rnglists with and without DW_FORM_rnglistx, Go's DWARF).
func TestRangesShortcut(t *testing.T) {
	cases := []struct {
		name  string
		build func(t *testing.T) string
	}{
		{"go", func(t *testing.T) string { return buildGo(t, t.TempDir()) }},
		{"gcc-dwarf4", func(t *testing.T) string { return built(t, "gcc", "c", "-O2", "-g", "-gdwarf-4") }},
		{"gcc-dwarf5", func(t *testing.T) string { return built(t, "gcc", "c", "-O2", "-g", "-gdwarf-5") }},
		{"g++-dwarf5", func(t *testing.T) string { return built(t, "g++", "cpp", "-O2", "-g", "-gdwarf-5") }},
		{"clang-dwarf5", func(t *testing.T) string { return built(t, "clang", "c", "-O2", "-gdwarf-5") }},
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
			b := &indexBuilder{d: d, unitEnds: unitEnds(secs["info"], ef.ByteOrder)}
			r := d.Reader()
			checked := 0
			for {
				e, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e == nil {
					break
				}
				switch e.Tag {
				case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagSkeletonUnit:
					b.rememberRoot(e)
					continue
				}
				if e.AttrField(dwarf.AttrRanges) == nil {
					continue
				}
				want, werr := d.Ranges(e)
				got, gerr := b.ranges(e)
				if (werr != nil) != (gerr != nil) || !slices.Equal(got, want) {
					t.Fatalf("DIE at %#x: ranges %x (%v), want %x (%v)", e.Offset, got, gerr, want, werr)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no DIE with DW_AT_ranges: the case tests nothing")
			}
			t.Logf("%d DIEs with DW_AT_ranges agree", checked)
		})
	}
}

func TestUnitEnds(t *testing.T) {
	le := func(b ...byte) []byte { return b }
	tests := []struct {
		name string
		info []byte
		want []dwarf.Offset
	}{
		{"two units", le(2, 0, 0, 0, 9, 9, 1, 0, 0, 0, 9), []dwarf.Offset{6, 11}},
		{"64-bit unit", le(0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 9), []dwarf.Offset{13}},
		{"length past the end", le(2, 0, 0, 0, 9, 9, 5, 0, 0, 0, 9), []dwarf.Offset{6}},
		{"reserved length", le(0xf0, 0xff, 0xff, 0xff, 9), nil},
		{"truncated 64-bit header", le(0xff, 0xff, 0xff, 0xff, 1), nil},
		{"empty", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := unitEnds(tc.info, binary.LittleEndian); !slices.Equal(got, tc.want) {
				t.Errorf("unitEnds = %v, want %v", got, tc.want)
			}
		})
	}
}
