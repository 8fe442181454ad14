package pe

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// layout locates header fields in an image.
type layout struct {
	lfanew, coff, opt, dirs, sections int
}

func layoutOf(t *testing.T, data []byte) layout {
	t.Helper()
	var l layout
	l.lfanew = int(binary.LittleEndian.Uint32(data[0x3c:]))
	l.coff = l.lfanew + 4
	l.opt = l.coff + 20
	l.dirs = l.opt + 96
	if binary.LittleEndian.Uint16(data[l.opt:]) == 0x20b {
		l.dirs = l.opt + 112
	}
	l.sections = l.opt + int(binary.LittleEndian.Uint16(data[l.coff+16:]))
	return l
}

func imageNamed(t *testing.T, name string) image {
	t.Helper()
	for _, img := range images(t) {
		if img.name == name {
			return img
		}
	}
	t.Fatalf("no image %s", name)
	return image{}
}

// TestMalformedImages edits generated images into broken ones: each must
// fail with an error that names the broken part (or be reported as no PE
// image at all), from Open and Identify alike.
func TestMalformedImages(t *testing.T) {
	img := imageNamed(t, "allops")
	good := openImage(t, img)
	l := layoutOf(t, img.data)
	le := binary.LittleEndian
	dir := func(i int) int { return l.dirs + 8*i }
	tests := []struct {
		name        string
		edit        func(b []byte) []byte
		unsupported bool   // ErrUnsupported rather than malformed
		what        string // MalformedError.What contains this
		msg         string // the message contains this
	}{
		{"empty", func(b []byte) []byte { return nil }, true, "", "no MZ signature"},
		{"ELF", func(b []byte) []byte { return []byte("\x7fELF\x02\x01\x01") }, true, "", "no MZ signature"},
		{"MZ only", func(b []byte) []byte { return b[:40] }, false, "DOS header", "the DOS header needs 64"},
		{"e_lfanew past the end", func(b []byte) []byte { le.PutUint32(b[0x3c:], 0xfffff0); return b }, false, "PE header", "points past the end"},
		{"DOS executable", func(b []byte) []byte { copy(b[l.lfanew:], "NE\x00\x00"); return b }, true, "", "no PE signature"},
		{"unknown machine", func(b []byte) []byte { le.PutUint16(b[l.coff:], 0x1234); return b }, true, "", "0x1234"},
		{"section table past the end", func(b []byte) []byte { le.PutUint16(b[l.coff+2:], 0xffff); return b }, false, "section table", "65535 sections"},
		{"COFF relocations past the end", func(b []byte) []byte {
			le.PutUint32(b[l.sections+24:], 0x10)
			le.PutUint16(b[l.sections+32:], 0xffff)
			return b
		}, false, "section 0", "65535 COFF relocations"},
		{"COFF symbol table past the end", func(b []byte) []byte {
			le.PutUint32(b[l.coff+8:], 0x100)
			le.PutUint32(b[l.coff+12:], 0x10000000)
			return b
		}, false, "COFF symbol table", "268435456 symbols at 0x100"},
		{"COFF string table past the end", func(b []byte) []byte {
			le.PutUint32(b[l.coff+8:], 0x100)
			le.PutUint32(b[l.coff+12:], 1)
			le.PutUint32(b[0x112:], 0xfffffff0)
			return b
		}, false, "COFF string table", "4294967280 bytes at 0x112"},
		{"no optional header", func(b []byte) []byte {
			// A PE signature and a COFF header without optional header
			// or sections.
			b = append(b[:l.coff:l.coff], make([]byte, 20)...)
			le.PutUint16(b[l.coff:], machineAMD64)
			return b
		}, true, "", "no optional header"},
		{"optional header magic", func(b []byte) []byte { le.PutUint16(b[l.opt:], 0x999); return b }, false, "headers", "Magic"},
		{"debug directory outside the sections", func(b []byte) []byte { le.PutUint32(b[dir(dirDebug):], 0x7fff0000); return b }, false, "debug directory", "outside the file's sections"},
		{"CodeView record too long", func(b []byte) []byte {
			le.PutUint32(b[debugEntryOffset(t, good)+16:], 24+2000)
			return b
		}, false, "debug directory", "CodeView record of 2024 bytes"},
		{"CodeView record past the end", func(b []byte) []byte {
			le.PutUint32(b[debugEntryOffset(t, good)+24:], uint32(len(b)-10))
			return b
		}, false, "debug directory", "runs past the end"},
		{"exception directory outside the sections", func(b []byte) []byte { le.PutUint32(b[dir(dirException):], 0x7fff0000); return b }, false, "exception directory", "outside the file's sections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(append([]byte(nil), img.data...))
			for _, call := range []struct {
				name string
				fn   func([]byte) error
			}{
				{"Open", func(b []byte) error { _, err := Open(b); return err }},
				{"Identify", func(b []byte) error { _, err := Identify(b); return err }},
			} {
				err := call.fn(b)
				if err == nil {
					t.Fatalf("%s accepted it", call.name)
				}
				var me *MalformedError
				switch {
				case tc.unsupported && !errors.Is(err, ErrUnsupported):
					t.Errorf("%s: %v; want ErrUnsupported", call.name, err)
				case !tc.unsupported && (!errors.As(err, &me) || !strings.Contains(me.What, tc.what)):
					t.Errorf("%s: %v; want a MalformedError about %q", call.name, err, tc.what)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: %q does not say %q", call.name, err, tc.msg)
				}
			}
		})
	}
}

func debugEntryOffset(t *testing.T, f *File) int { return codeViewEntry(t, f) }

// TestBrokenExportsAreIgnored checks that a broken export directory costs
// the exports only, as in goblin.
func TestBrokenExportsAreIgnored(t *testing.T) {
	img := imageNamed(t, "frames-x64-O2")
	l := layoutOf(t, img.data)
	b := append([]byte(nil), img.data...)
	binary.LittleEndian.PutUint32(b[l.dirs:], 0x7fff0000) // export directory RVA
	f, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Exports()) != 0 || f.Features.HasSymbols || f.CodeFile != "" {
		t.Errorf("exports from a directory outside the image: %v", f.Exports())
	}
	if f.DebugID == "" || len(f.RuntimeFunctions()) == 0 {
		t.Errorf("the rest of the image is lost: %+v", f.Identity)
	}
}

// rawFile is a File over one section holding b at RVA 0x1000, for
// decoding hand-made unwind information.
func rawFile(b []byte) *File {
	return &File{data: b, Sections: []Section{{Name: ".xdata", VirtualAddress: 0x1000, VirtualSize: uint32(len(b)), Size: uint32(len(b))}}}
}

// TestUnwindInfoDecoding decodes hand-made UNWIND_INFO: what LLVM never
// writes (version 2 EPILOG codes) and what is broken.
func TestUnwindInfoDecoding(t *testing.T) {
	tests := []struct {
		name  string
		info  []byte
		codes string // the decoded codes, "; "-separated
		err   string
	}{
		{"version 2 with EPILOG codes", []byte{2, 4, 3, 0, 4, 0x42, 1, 0x06, 1, 0x06, 0, 0},
			"ALLOC_SMALL size=40; EPILOG", ""},
		{"ALLOC_LARGE 32-bit", []byte{1, 7, 3, 0, 7, 0x11, 0x00, 0x00, 0x10, 0x00}, "ALLOC_LARGE size=1048576", ""},
		{"version 3", []byte{3, 0, 0, 0}, "", "version 3 (only 1 and 2 exist)"},
		{"EPILOG in version 1", []byte{1, 0, 2, 0, 1, 0x06, 0, 0}, "", "EPILOG in a version 1 UNWIND_INFO"},
		{"SPARE_CODE", []byte{1, 0, 3, 0, 1, 0x07, 0, 0, 0, 0}, "", "reserved operation SPARE_CODE"},
		{"unknown operation", []byte{1, 0, 1, 0, 1, 0x0b}, "", "unknown operation 11"},
		{"ALLOC_LARGE info 2", []byte{1, 0, 3, 0, 1, 0x21, 0, 0, 0, 0}, "", "ALLOC_LARGE with info 2"},
		{"PUSH_MACHFRAME info 2", []byte{1, 0, 1, 0, 0, 0x2a}, "", "PUSH_MACHFRAME with info 2"},
		{"SAVE_NONVOL cut short", []byte{1, 0, 1, 0, 1, 0x34}, "", "SAVE_NONVOL needs 2 slots, 1 are left"},
		{"codes past the section", []byte{1, 0, 200, 0}, "", "200 unwind code slots run outside"},
		{"chain past the section", []byte{1 | 4<<3, 0, 0, 0, 1, 2}, "", "chained RUNTIME_FUNCTION at RVA 0x1004 is outside"},
		{"handler past the section", []byte{1 | 1<<3, 0, 0, 0, 1, 2}, "", "handler RVA at 0x1004 is outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ui, err := rawFile(tc.info).decodeUnwindInfo(0x1000)
			if tc.err != "" {
				var me *MalformedError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(me.What, "UNWIND_INFO at RVA 0x1000") {
					t.Fatalf("error %v; want a MalformedError saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range ui.Codes {
				got = append(got, c.String())
			}
			if strings.Join(got, "; ") != tc.codes {
				t.Errorf("codes %q, want %q", strings.Join(got, "; "), tc.codes)
			}
		})
	}
}

// TestChainLoop checks that a chain of UNWIND_INFO pointing at itself
// ends with an error rather than running forever.
func TestChainLoop(t *testing.T) {
	// .pdata entry at 0x1000 -> UNWIND_INFO at 0x100c chaining to the
	// entry itself.
	b := make([]byte, 0x20)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x1100)
	le.PutUint32(b[4:], 0x1200)
	le.PutUint32(b[8:], 0x100c)
	copy(b[0xc:], []byte{1 | 4<<3, 0, 0, 0})
	le.PutUint32(b[0x10:], 0x1100)
	le.PutUint32(b[0x14:], 0x1200)
	le.PutUint32(b[0x18:], 0x100c)
	f := rawFile(b)
	f.functions = []RuntimeFunction{{0x1100, 0x1200, 0x100c}}
	f.sorted = f.functions
	r, ok := f.Rules(0x1150)
	if !ok {
		t.Fatal("no rules")
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "more than 32 chained") {
		t.Fatalf("Err() = %v", r.Err())
	}
	if _, err := r.VirtualUnwind(&Context{}, newStackMem(0, 0x100)); err == nil {
		t.Error("VirtualUnwind worked on a chain loop")
	}
	if _, err := r.Unwind(func(string) (uint64, bool) { return 0, true }, newStackMem(0, 0x100)); err == nil {
		t.Error("Unwind worked on a chain loop")
	}
}

// TestIndirectEntry turns the chained fragment of allops into an indirect
// entry (UnwindData = its parent's .pdata entry + 1): it then unwinds
// with the parent's information.
func TestIndirectEntry(t *testing.T) {
	img := imageNamed(t, "allops")
	f := openImage(t, img)
	l := layoutOf(t, img.data)
	pdata := binary.LittleEndian.Uint32(img.data[l.dirs+8*dirException:])
	var parent, frag int = -1, -1
	for i, rf := range f.RuntimeFunctions() {
		ui, err := f.UnwindInfo(rf)
		if err != nil {
			t.Fatal(err)
		}
		if ui.Chained != nil {
			frag = i
			for j, p := range f.RuntimeFunctions() {
				if p == *ui.Chained {
					parent = j
				}
			}
		}
	}
	if parent < 0 || frag < 0 {
		t.Fatal("allops has no chained fragment")
	}
	b := append([]byte(nil), img.data...)
	e, ok := f.span(pdata+uint32(frag)*12+8, 4)
	if !ok {
		t.Fatal("no .pdata")
	}
	off := cap(f.data) - cap(e)
	binary.LittleEndian.PutUint32(b[off:], pdata+uint32(parent)*12+1)
	g, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	fragRF := g.RuntimeFunctions()[frag]
	r, ok := g.Rules(fragRF.Begin + 1)
	if !ok || r.Err() != nil {
		t.Fatalf("Rules: %v %v", ok, r.Err())
	}
	if r.Function != g.RuntimeFunctions()[parent] || len(r.Chain) != 0 {
		t.Fatalf("indirect entry resolved to %+v (chain %d), want the parent %+v", r.Function, len(r.Chain), g.RuntimeFunctions()[parent])
	}
	ui, err := g.UnwindInfo(fragRF)
	if err != nil || ui.RVA != g.RuntimeFunctions()[parent].UnwindData {
		t.Fatalf("UnwindInfo of the indirect entry: %+v, %v", ui, err)
	}
}

// TestLeaf unwinds at an address no .pdata entry covers: the return
// address is at RSP, nothing else changes.
func TestLeaf(t *testing.T) {
	img := imageNamed(t, "allops")
	f := openImage(t, img)
	text := f.Sections[0]
	if _, ok := f.FunctionAt(text.VirtualAddress); ok {
		t.Fatal("allops' first instruction has a .pdata entry; the test wants a leaf there")
	}
	mem := newStackMem(0x5000, 0x6000)
	mem.write(0x5f00, 0x7ff6_1234_5678)
	ctx := Context{RIP: 0x7ff6_0000_0000 + uint64(text.VirtualAddress)}
	for i := range ctx.GPR {
		ctx.GPR[i] = uint64(i) * 0x1111
	}
	ctx.GPR[RSP] = 0x5f00
	u, err := f.VirtualUnwind(0x7ff6_0000_0000, &ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	want := ctx
	want.RIP, want.GPR[RSP] = 0x7ff6_1234_5678, 0x5f08
	if u.Position != Leaf || u.Context != want {
		t.Errorf("leaf unwind %+v, want %+v", u, want)
	}
	ctx.GPR[RSP] = 0x4000
	var ue *UnreadableError
	if _, err := f.VirtualUnwind(0x7ff6_0000_0000, &ctx, mem); !errors.As(err, &ue) || ue.Addr != 0x4000 || !strings.Contains(err.Error(), "return address at 0x4000") {
		t.Errorf("unreadable stack: %v", err)
	}
}
