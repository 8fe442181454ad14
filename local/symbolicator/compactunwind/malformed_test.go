package compactunwind

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// synth builds a small section by hand: two common encodings, one
// personality, a regular page and a compressed page with page-local
// encodings, and an LSDA index. Functions (offsets from the text base):
//
//	0x1000 x86_64 frame, rbx and r12 saved      (regular page)
//	0x1040 encoding 0                           (regular page)
//	0x1080 frameless 32 bytes, LSDA + personality 1
//	0x2000 common[1]                            (compressed page, base 0x2000)
//	0x2010 local[0] = STACK_IND                 (compressed page)
//	0x2100 local[1] = DWARF at 0x1234           (compressed page)
//	0x3000 end
func synth() []byte {
	le := binary.LittleEndian
	var b []byte
	u32 := func(v uint32) { b = le.AppendUint32(b, v) }
	u16 := func(v uint16) { b = le.AppendUint16(b, v) }
	const (
		commonOff = 28
		persOff   = commonOff + 8
		indexOff  = persOff + 4
		lsdaOff   = indexOff + 3*12
		page1     = lsdaOff + 8
		page2     = page1 + 8 + 3*8
	)
	u32(1)
	u32(commonOff)
	u32(2)
	u32(persOff)
	u32(1)
	u32(indexOff)
	u32(3)
	u32(0x01000000 | 2<<16 | 1 | 2<<3) // common[0]: RBP frame, rbx at rbp-16, r12 at rbp-8
	u32(0x02040000)                    // common[1]: frameless, 32 bytes
	u32(0x4000)                        // personality 1
	u32(0x1000)
	u32(page1)
	u32(lsdaOff)
	u32(0x2000)
	u32(page2)
	u32(lsdaOff + 8)
	u32(0x3000)
	u32(0)
	u32(lsdaOff + 8)
	u32(0x1080) // LSDA index
	u32(0x5000)
	// regular page
	u32(2)
	u16(8)
	u16(3)
	u32(0x1000)
	u32(0x01000000 | 2<<16 | 1 | 2<<3)
	u32(0x1040)
	u32(0)
	u32(0x1080)
	u32(0x02040000 | hasLSDA | 1<<28)
	// compressed page: header 12, 3 entries, 2 local encodings
	u32(3)
	u16(12)
	u16(3)
	u16(24)
	u16(2)
	u32(1 << 24) // function offset 0
	u32(2<<24 | 0x010)
	u32(3<<24 | 0x100)
	u32(0x03000000 | 3<<16 | 1<<13 | 1<<10) // STACK_IND, imm at +3, adjust 1, rbx (permutation 0)
	u32(0x04000000 | 0x1234)
	return b
}

const synthBase = 0x100000000

func TestSynthetic(t *testing.T) {
	tab, err := Parse(synth(), 0, synthBase, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	code := []byte{0x48, 0x81, 0xec, 0x00, 0x10, 0x00, 0x00} // subq $0x1000, %rsp
	tab.Text = func(addr uint64, n int) ([]byte, bool) {
		if addr != synthBase+0x2010+3 || n != 4 {
			return nil, false
		}
		return code[3:7], true
	}
	for _, c := range []struct {
		addr, start, end uint64
		enc              uint32
		mode             string
		lsda, pers       uint64
	}{
		{0x1000, 0x1000, 0x1040, 0x01000000 | 2<<16 | 1 | 2<<3, "frame", 0, 0},
		{0x103f, 0x1000, 0x1040, 0x01000000 | 2<<16 | 1 | 2<<3, "frame", 0, 0},
		{0x1040, 0x1040, 0x1080, 0, "none", 0, 0},
		{0x1fff, 0x1080, 0x2000, 0x02040000 | hasLSDA | 1<<28, "frameless", 0x5000, 0x4000},
		{0x2000, 0x2000, 0x2010, 0x02040000, "frameless", 0, 0},
		{0x2050, 0x2010, 0x2100, 0x03000000 | 3<<16 | 1<<13 | 1<<10, "frameless-indirect", 0, 0},
		{0x2fff, 0x2100, 0x3000, 0x04001234, "dwarf", 0, 0},
	} {
		e, ok := tab.Find(synthBase + c.addr)
		if !ok {
			t.Fatalf("Find(0x%x): none", c.addr)
		}
		var lsda, pers uint64
		if e.LSDA != 0 {
			lsda = e.LSDA - synthBase
		}
		if e.Personality != 0 {
			pers = e.Personality - synthBase
		}
		if e.Start != synthBase+c.start || e.End != synthBase+c.end || e.Encoding != c.enc || e.Mode() != c.mode || lsda != c.lsda || pers != c.pers {
			t.Errorf("Find(0x%x) = [0x%x,0x%x) 0x%08x %s lsda 0x%x pers 0x%x, want [0x%x,0x%x) 0x%08x %s lsda 0x%x pers 0x%x",
				c.addr, e.Start-synthBase, e.End-synthBase, e.Encoding, e.Mode(), lsda, pers, c.start, c.end, c.enc, c.mode, c.lsda, c.pers)
		}
	}
	for _, a := range []uint64{0xfff, 0x3000, 0x10000} {
		if _, ok := tab.Find(synthBase + a); ok || tab.Covers(synthBase+a) {
			t.Errorf("Find(0x%x) found an entry outside the table", a)
		}
	}
	if tab.Covers(synthBase + 0x1040) {
		t.Errorf("Covers is true for an encoding-0 entry")
	}

	mem := &machine{regs: map[string]uint64{}, mem: map[uint64]uint64{}}
	// RBP frame: rbp = 0x8000.
	mem.regs["rbp"] = 0x8000
	mem.mem[0x8000], mem.mem[0x8008] = 0xf00, 0xabc
	mem.mem[0x8000-16], mem.mem[0x8000-8] = 0xb1, 0xc1
	e, _ := tab.Find(synthBase + 0x1010)
	out, err := e.Unwind(mem.get, mem)
	want := map[string]uint64{".cfa": 0x8010, ".ra": 0xabc, "rsp": 0x8010, "rip": 0xabc, "rbp": 0xf00, "rbx": 0xb1, "r12": 0xc1}
	checkMap(t, "RBP frame", out, err, want)

	// STACK_IND: size = 0x1000 + 8, rbx just below the return address.
	mem.regs["rsp"] = 0x10000
	mem.mem[0x10000+0x1008-8] = 0x777
	mem.mem[0x10000+0x1008-16] = 0xbb
	e, _ = tab.Find(synthBase + 0x2010)
	out, err = e.Unwind(mem.get, mem)
	want = map[string]uint64{".cfa": 0x11008, ".ra": 0x777, "rsp": 0x11008, "rip": 0x777, "rbx": 0xbb}
	checkMap(t, "STACK_IND", out, err, want)
	tab.Text = nil
	e, _ = tab.Find(synthBase + 0x2010)
	if _, err := e.Unwind(mem.get, mem); err == nil || !strings.Contains(err.Error(), "Text") {
		t.Errorf("STACK_IND without code: %v", err)
	}

	// DWARF mode.
	e, _ = tab.Find(synthBase + 0x2100)
	var de *DWARFError
	if _, err := e.Unwind(mem.get, mem); !errors.As(err, &de) || de.Offset != 0x1234 || e.FDEOffset != 0x1234 || !e.UsesDWARF() {
		t.Errorf("DWARF entry: %v, FDEOffset 0x%x", err, e.FDEOffset)
	}
	e, _ = tab.Find(synthBase + 0x1040)
	if _, err := e.Unwind(mem.get, mem); !errors.Is(err, ErrNoInfo) {
		t.Errorf("encoding 0: %v", err)
	}
	// Missing registers and memory are errors for the CFA and return address.
	e, _ = tab.Find(synthBase + 0x1000)
	if _, err := e.Unwind(func(string) (uint64, bool) { return 0, false }, mem); err == nil {
		t.Errorf("RBP frame without rbp: no error")
	}
	if _, err := e.Unwind(func(string) (uint64, bool) { return 0x9999000, true }, mem); err == nil {
		t.Errorf("RBP frame with unreadable return address: no error")
	}
}

func checkMap(t *testing.T, what string, got map[string]uint64, err error, want map[string]uint64) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %x, want %x", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = 0x%x, want 0x%x (all %x)", what, k, got[k], v, got)
		}
	}
}

// TestARM64Synthetic checks arm64 frame and frameless evaluation,
// including d-register pairs, which take slots but are not reported.
func TestARM64Synthetic(t *testing.T) {
	m := &machine{regs: map[string]uint64{"fp": 0x8000, "sp": 0x7000, "lr": 0x4444}, mem: map[uint64]uint64{}}
	m.mem[0x8000], m.mem[0x8008] = 0xf0, 0xaa
	for i := uint64(1); i <= 8; i++ {
		m.mem[0x8000-8*i] = 0x100 + i
	}
	e := &Entry{Encoding: arm64ModeFrame | 0x001 | 0x100 | 0x004, arch: "arm64"}
	out, err := e.Unwind(m.get, m)
	checkMap(t, "frame", out, err, map[string]uint64{".cfa": 0x8010, ".ra": 0xaa, "sp": 0x8010, "pc": 0xaa, "lr": 0xaa, "fp": 0xf0,
		"x19": 0x101, "x20": 0x102, "x23": 0x103, "x24": 0x104})
	e = &Entry{Encoding: arm64ModeFrameless | 3<<12, arch: "arm64"}
	out, err = e.Unwind(m.get, m)
	checkMap(t, "frameless", out, err, map[string]uint64{".cfa": 0x7030, ".ra": 0x4444, "sp": 0x7030, "pc": 0x4444})
	e = &Entry{Encoding: arm64ModeDWARF | 0x40, arch: "arm64", FDEOffset: 0x40}
	if _, err := e.Unwind(m.get, m); err == nil || !e.UsesDWARF() {
		t.Errorf("DWARF: %v", err)
	}
}

// TestUnpermute checks the register permutation decoding against every
// ordered choice of registers, encoded the way compilers encode it.
func TestUnpermute(t *testing.T) {
	var rec func(chosen []int)
	n := 0
	rec = func(chosen []int) {
		if len(chosen) > 0 {
			perm := encodePerm(chosen)
			got, err := unpermute(len(chosen), perm)
			if err != nil || len(got) != len(chosen) {
				t.Fatalf("%v → %d → %v, %v", chosen, perm, got, err)
			}
			for i := range got {
				if got[i] != chosen[i] {
					t.Fatalf("%v → %d → %v", chosen, perm, got)
				}
			}
			n++
		}
		if len(chosen) == 6 {
			return
		}
		for r := 1; r <= 6; r++ {
			dup := false
			for _, c := range chosen {
				dup = dup || c == r
			}
			if !dup {
				rec(append(append([]int(nil), chosen...), r))
			}
		}
	}
	rec(nil)
	if n != 6+30+120+360+720+720 {
		t.Errorf("checked %d permutations", n)
	}
}

// encodePerm is the encoder side of the permutation (a Lehmer code in
// mixed radix), written from the format description as an independent
// check of unpermute.
func encodePerm(regs []int) uint32 {
	renum := make([]uint32, len(regs))
	for i, r := range regs {
		c := 0
		for j := 0; j < i; j++ {
			if regs[j] < r {
				c++
			}
		}
		renum[i] = uint32(r - 1 - c)
	}
	switch len(regs) {
	case 6:
		return 120*renum[0] + 24*renum[1] + 6*renum[2] + 2*renum[3] + renum[4]
	case 5:
		return 120*renum[0] + 24*renum[1] + 6*renum[2] + 2*renum[3] + renum[4]
	case 4:
		return 60*renum[0] + 12*renum[1] + 3*renum[2] + renum[3]
	case 3:
		return 20*renum[0] + 4*renum[1] + renum[2]
	case 2:
		return 5*renum[0] + renum[1]
	}
	return renum[0]
}

// exercise runs every lookup and evaluation path on a table; it must not
// panic whatever the input.
func exercise(tab *Table, addrs []uint64) {
	tab.Text = func(addr uint64, n int) ([]byte, bool) { return make([]byte, n), true }
	m := &machine{regs: map[string]uint64{"rbp": 0x8000, "rsp": 0x7000, "fp": 0x8000, "sp": 0x7000, "lr": 1}, mem: map[uint64]uint64{0x8008: 5}}
	for _, a := range addrs {
		tab.Covers(a)
		if e, ok := tab.Find(a); ok {
			e.Unwind(m.get, m)
			e.HasRule("rbx")
			e.Mode()
		}
	}
	n := 0
	tab.Entries(func(uint64, uint32, bool) bool { n++; return n < 100 })
}

func TestMalformed(t *testing.T) {
	good := synth()
	addrs := []uint64{0, synthBase, synthBase + 0x1000, synthBase + 0x1090, synthBase + 0x2010, synthBase + 0x2fff, synthBase + 0x3000}
	for _, arch := range []string{"x86_64", "arm64"} {
		for n := 0; n < len(good); n++ {
			tab, err := Parse(good[:n], 0, synthBase, arch)
			if err == nil {
				exercise(tab, addrs)
			}
		}
	}
	if _, err := Parse(good, 0, synthBase, "i386"); err == nil {
		t.Errorf("unsupported architecture accepted")
	}
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		off  int
		val  uint32
		want string
	}{
		{"version", 0, 2, "version 2"},
		{"common offset", 4, 0xfffffff0, "common encodings"},
		{"common count", 8, 0x40000000, "common encodings"},
		{"personality count", 16, 0xffffffff, "personality array"},
		{"index offset", 20, uint32(len(good)), "first-level index"},
		{"index count", 24, 0xffffffff, "first-level index"},
		{"empty index", 24, 0, "empty"},
		{"page offset", 28 + 8 + 4 + 4, 0xffff, "second-level page 0"},
		{"page zero", 28 + 8 + 4 + 4, 0, "offset 0"},
		{"unsorted index", 28 + 8 + 4 + 12, 0x10, "below the previous"},
		{"lsda offset", 28 + 8 + 4 + 8, 0xffffff00, "LSDA"},
	} {
		b := append([]byte(nil), good...)
		le.PutUint32(b[c.off:], c.val)
		_, err := Parse(b, 0, synthBase, "x86_64")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// Page-level corruption: huge entry counts and local encoding counts,
	// a bad kind, and compressed entries indexing past both tables.
	const page1 = 28 + 8 + 4 + 36 + 8
	const page2 = page1 + 8 + 24
	for _, c := range []struct {
		name string
		off  int
		val  uint16
		want string
	}{
		{"regular count", page1 + 6, 0xffff, "entries"},
		{"regular entry offset", page1 + 4, 0xfff0, "entries"},
		{"compressed count", page2 + 6, 0xffff, "entries"},
		{"local count", page2 + 10, 0xffff, "encodings"},
		{"kind", page1, 7, "unknown kind"},
	} {
		b := append([]byte(nil), good...)
		le.PutUint16(b[c.off:], c.val)
		_, err := Parse(b, 0, synthBase, "x86_64")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	b := append([]byte(nil), good...)
	le.PutUint32(b[page2+12+8:], 0xff<<24|0x100)
	tab, err := Parse(b, 0, synthBase, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Find(synthBase + 0x2100); ok {
		t.Errorf("an entry with an encoding index past both tables was found")
	}
	// Invalid encodings evaluate to errors, not panics.
	for _, enc := range []uint32{0x01000007<<0 | 6, 0x02001c00, 0x020003ff | 6<<10, 0x0f000000, 0x02000000 | 2<<10} {
		e := &Entry{Encoding: enc, arch: "x86_64"}
		m := &machine{regs: map[string]uint64{"rbp": 0x8000, "rsp": 0x7000}, mem: map[uint64]uint64{0x8008: 1}}
		if _, err := e.Unwind(m.get, m); err == nil {
			t.Errorf("encoding 0x%08x: no error", enc)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(synth(), "x86_64")
	f.Add(synth(), "arm64")
	f.Add(synth()[:40], "x86_64")
	f.Fuzz(func(t *testing.T, data []byte, arch string) {
		tab, err := Parse(data, 0, synthBase, arch)
		if err != nil {
			return
		}
		lo, hi := tab.Range()
		exercise(tab, []uint64{lo, lo + 1, (lo + hi) / 2, hi - 1, hi, synthBase + 0x1000, synthBase + 0x2010})
	})
}
