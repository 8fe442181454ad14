package breakpad

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) *File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return f
}

// chain renders frames innermost first as "fn@file:line" joined by " < ",
// inlined frames marked with "~".
func chain(frames []Frame) string {
	var parts []string
	for _, f := range frames {
		s := fmt.Sprintf("%s@%s:%d", f.Function, f.File, f.Line)
		if f.Inline {
			s = "~" + s
		}
		if f.Symbol != f.Function {
			s += " symbol=" + f.Symbol
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " < ")
}

// The inline cases are those symbolic's FunctionBuilder documents and
// tests, with the answers given there; the others follow from the rules
// in Lookup's documentation.
func TestLookupInlineEdgeCases(t *testing.T) {
	tests := []struct {
		file string
		addr uint64
		want string // "" for no frames
	}{
		// symbolic's ensure_proper_nesting example: c() was merged into one
		// range across two calls of b(); it belongs to each of them.
		{"inline_nesting.sym", 0x0, "~c()@c.cpp:30 < ~b()@b.cpp:20 < a()@a.cpp:10"},
		{"inline_nesting.sym", 0x7, "~c()@c.cpp:30 < ~b()@b.cpp:20 < a()@a.cpp:10"},
		{"inline_nesting.sym", 0x8, "~c()@c.cpp:30 < ~b()@b.cpp:20 < a()@a.cpp:15"},
		{"inline_nesting.sym", 0xc, "~c()@c.cpp:30 < ~b()@b.cpp:20 < a()@a.cpp:15"},
		{"inline_nesting.sym", 0xd, ""},

		// symbolic's test_longer_line_record: one line record spans two
		// inlined calls with different call sites.
		{"inline_longer_line.sym", 0x10, "parent@parent.c:1"},
		{"inline_longer_line.sym", 0x1f, "parent@parent.c:1"},
		{"inline_longer_line.sym", 0x20, "~child2@child2.c:1 < ~child1@child1.c:1 < parent@parent.c:1"},
		{"inline_longer_line.sym", 0x2f, "~child2@child2.c:1 < ~child1@child1.c:1 < parent@parent.c:1"},
		{"inline_longer_line.sym", 0x30, "~child2@child2.c:1 < parent@parent.c:2"},
		{"inline_longer_line.sym", 0x3f, "~child2@child2.c:1 < parent@parent.c:2"},
		{"inline_longer_line.sym", 0x40, "parent@parent.c:1"},
		{"inline_longer_line.sym", 0x4f, "parent@parent.c:1"},
		{"inline_longer_line.sym", 0x50, ""},

		// A gap between line records takes the record before it.
		{"inline_edges.sym", 0x100, "gaps@main.c:5"},
		{"inline_edges.sym", 0x115, "gaps@main.c:5"},
		{"inline_edges.sym", 0x120, "gaps@main.c:7"},
		{"inline_edges.sym", 0x13f, "gaps@main.c:7"},
		// Before the first line record there is no location.
		{"inline_edges.sym", 0x205, "late_lines@:0"},
		{"inline_edges.sym", 0x210, "late_lines@main.c:3"},
		// Unknown INLINE_ORIGIN and FILE ids give empty names.
		{"inline_edges.sym", 0x305, "~@inl.h:11 < missing@:9"},
		{"inline_edges.sym", 0x310, "missing@main.c:12"},
		// An inlinee whose depth has no parent is dropped.
		{"inline_edges.sym", 0x405, "orphan@main.c:4"},
		// Overlapping siblings: the second starts where the first ends.
		{"inline_edges.sym", 0x505, "overlap@inl.h:6"},
		{"inline_edges.sym", 0x515, "~inner@inl.h:6 < overlap@main.c:20"},
		{"inline_edges.sym", 0x525, "~inner@inl.h:6 < overlap@main.c:20"},
		{"inline_edges.sym", 0x535, "~outer_inl@inl.h:6 < overlap@main.c:21"},
		// An empty inline range covers nothing.
		{"inline_edges.sym", 0x608, "empty_inline@main.c:8"},

		// PUBLIC symbols reach up to the next PUBLIC symbol or FUNC.
		{"public.sym", 0xfff, ""},
		{"public.sym", 0x1000, "first@:0"},
		{"public.sym", 0x1fff, "first@:0"},
		{"public.sym", 0x2005, "func@:1"},
		{"public.sym", 0x2010, ""},
		{"public.sym", 0x3000, "third@:0"},
		{"public.sym", 0x3fff, "third@:0"},
		{"public.sym", 0x4050, "<unknown>@:0"},
		{"public.sym", 0x4105, "covered_by_public_start@:0"},
		{"public.sym", 0x4110, ""},

		// CRLF line ends, an empty line in a function, a negative line.
		{"crlf.sym", 0x10, "f(int)@a.c:3"},
		{"crlf.sym", 0x25, "f(int)@a.c:0"},
		{"crlf.sym", 0x40, "g@:0"},
	}
	files := map[string]*File{}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%#x", tt.file, tt.addr), func(t *testing.T) {
			f := files[tt.file]
			if f == nil {
				f = parseFile(t, tt.file)
				files[tt.file] = f
			}
			frames, ok := f.Lookup(tt.addr)
			if got := chain(frames); got != tt.want || ok != (tt.want != "") {
				t.Errorf("Lookup(%#x) = %q, %v; want %q", tt.addr, got, ok, tt.want)
			}
			if has := f.HasFunction(tt.addr); has != ok {
				t.Errorf("HasFunction(%#x) = %v, Lookup found %v", tt.addr, has, ok)
			}
		})
	}
}

func TestLookupSymAddr(t *testing.T) {
	f := parseFile(t, "inline_longer_line.sym")
	frames, _ := f.Lookup(0x35)
	if len(frames) != 2 || frames[0].SymAddr != 0x30 || frames[1].SymAddr != 0x10 || !frames[0].Inline || frames[1].Inline {
		t.Errorf("Lookup(0x35) = %+v; want the inlined frame at 0x30, the FUNC at 0x10", frames)
	}
	f = parseFile(t, "public.sym")
	frames, _ = f.Lookup(0x3004)
	if len(frames) != 1 || frames[0].SymAddr != 0x3000 {
		t.Errorf("Lookup(0x3004) = %+v; want SymAddr 0x3000", frames)
	}
}

func TestModuleAndCodeID(t *testing.T) {
	tests := []struct {
		file   string
		module Module
		codeID string
	}{
		{"inline_edges.sym", Module{"Linux", "x86_64", "000102030405060708090A0B0C0D0E0F0", "edges"}, "0302010005040706080909A0B0C0D0E0F"},
		{"public.sym", Module{"windows", "x86", "000102030405060708090A0B0C0D0E0F1", "public.pdb"}, ""},
		{"crlf.sym", Module{"Linux", "arm64", "000102030405060708090A0B0C0D0E0F0", "crlf"}, "00112233"},
	}
	for _, tt := range tests {
		f := parseFile(t, tt.file)
		if f.Module != tt.module || f.CodeID != tt.codeID {
			t.Errorf("%s: Module %+v CodeID %q; want %+v %q", tt.file, f.Module, f.CodeID, tt.module, tt.codeID)
		}
	}
}
