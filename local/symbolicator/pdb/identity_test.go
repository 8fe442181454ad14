package pdb

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	pdbGUIDRE   = regexp.MustCompile(`GUID: \{([0-9A-F-]+)\}`)
	pdbAgeRE    = regexp.MustCompile(`\n\s*Age: (\d+)`)
	peGUIDRE    = regexp.MustCompile(`PDBGUID: \(([0-9A-F ]+)\)`)
	peAgeRE     = regexp.MustCompile(`PDBAge: (\d+)`)
	peMachineRE = regexp.MustCompile(`Machine: IMAGE_FILE_MACHINE_(\w+)`)
)

// TestIdentityMatchesImage checks that a PDB's debug id is the one its
// image's CodeView record names (how symbol servers pair the two), as
// llvm-readobj reads it from the image and llvm-pdbutil from the PDB.
func TestIdentityMatchesImage(t *testing.T) {
	for _, b := range agreementBuilds(t) {
		t.Run(b.name, func(t *testing.T) {
			id, err := Identify(readFile(t, b.pdb))
			if err != nil {
				t.Fatal(err)
			}
			sum := string(run(t, filepath.Dir(b.pdb), nil, "llvm-pdbutil", "dump", "-summary", b.pdb))
			g, a := pdbGUIDRE.FindStringSubmatch(sum), pdbAgeRE.FindStringSubmatch(sum)
			if g == nil || a == nil {
				t.Fatalf("llvm-pdbutil dump -summary: no GUID or age in\n%s", sum)
			}
			age, _ := strconv.ParseUint(a[1], 10, 32)
			want := strings.ToLower(g[1]) + fmt.Sprintf("-%x", age)
			if id.DebugID != want {
				t.Errorf("DebugID %q, llvm-pdbutil says %q", id.DebugID, want)
			}

			pe := string(run(t, filepath.Dir(b.exe), nil, "llvm-readobj", "--file-headers", "--coff-debug-directory", b.exe))
			pg, pa, pm := peGUIDRE.FindStringSubmatch(pe), peAgeRE.FindStringSubmatch(pe), peMachineRE.FindStringSubmatch(pe)
			if pg == nil || pa == nil || pm == nil {
				t.Fatalf("llvm-readobj: no CodeView record or machine in\n%s", pe)
			}
			var raw [16]byte
			for i, h := range strings.Fields(pg[1]) {
				v, _ := strconv.ParseUint(h, 16, 8)
				raw[i] = byte(v)
			}
			peAge, _ := strconv.ParseUint(pa[1], 10, 32)
			if want := formatDebugID(raw, uint32(peAge)); id.DebugID != want {
				t.Errorf("DebugID %q, the image's CodeView record says %q", id.DebugID, want)
			}
			wantArch := map[string]string{"AMD64": "x86_64", "I386": "x86"}[pm[1]]
			if id.Arch != wantArch {
				t.Errorf("Arch %q, the image is %s", id.Arch, pm[1])
			}
			if f, err := Open(readFile(t, b.pdb)); err != nil || f.Identity != id {
				t.Errorf("Open gives identity %+v (%v), Identify %+v", f.Identity, err, id)
			}
		})
	}
}

// TestDebugIDFormat pins the form symbolic's DebugId prints: the age in
// hex, left out when 0.
func TestDebugIDFormat(t *testing.T) {
	g := [16]byte{0x59, 0xd5, 0x44, 0x35, 0x15, 0x36, 0x29, 0xa0, 0x4c, 0x4c, 0x44, 0x20, 0x50, 0x44, 0x42, 0x2e}
	for _, tc := range []struct {
		age  uint32
		want string
	}{
		{0, "3544d559-3615-a029-4c4c-44205044422e"},
		{1, "3544d559-3615-a029-4c4c-44205044422e-1"},
		{26, "3544d559-3615-a029-4c4c-44205044422e-1a"},
	} {
		if got := formatDebugID(g, tc.age); got != tc.want {
			t.Errorf("age %d: %q, want %q", tc.age, got, tc.want)
		}
	}
}

// TestDebugIDPrefersDBIAge: tools that rewrite a PDB bump the information
// stream's age; symbolic takes the DBI stream's, which matches the image.
func TestDebugIDPrefersDBIAge(t *testing.T) {
	streams := readStreams(t, fixture(t, "x64"))
	info := streams[streamInfo]
	info[8] = 7 // the information stream's age
	id, err := Identify(writeMSF(streams, 512))
	if err != nil {
		t.Fatal(err)
	}
	if id.Age != 1 || !strings.HasSuffix(id.DebugID, "-1") {
		t.Errorf("age %d (%s), want the DBI stream's 1", id.Age, id.DebugID)
	}
	streams[streamDBI] = nil
	id, err = Identify(writeMSF(streams, 512))
	if err != nil {
		t.Fatal(err)
	}
	if id.Age != 7 || id.Arch != "unknown" {
		t.Errorf("without a DBI stream: age %d, arch %q; want the information stream's 7 and unknown", id.Age, id.Arch)
	}
}

var fpoRowRE = regexp.MustCompile(`(?m)^([0-9A-F]{8}) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\w+) \|\s+(\w+) \|\s+(\w+) \| (.*?) ?$`)

// TestFrameDataMatchesPDBUtil compares the FrameData records of the x86
// builds with llvm-pdbutil's dump of the "New FPO" stream.
func TestFrameDataMatchesPDBUtil(t *testing.T) {
	n := 0
	for _, b := range agreementBuilds(t) {
		if b.tg != x86 {
			continue
		}
		f, err := Open(readFile(t, b.pdb))
		if err != nil {
			t.Fatal(err)
		}
		dump := string(run(t, filepath.Dir(b.pdb), nil, "llvm-pdbutil", "dump", "-fpo", b.pdb))
		var want []FrameRecord
		for _, m := range fpoRowRE.FindAllStringSubmatch(dump, -1) {
			num := func(i int) uint32 { v, _ := strconv.ParseUint(m[i], 10, 32); return uint32(v) }
			rva, _ := strconv.ParseUint(m[1], 16, 32)
			want = append(want, FrameRecord{Type: 4, RVA: uint32(rva), Size: num(2), LocalsSize: num(3), ParamsSize: num(4),
				MaxStackSize: num(5), PrologSize: num(6), SavedRegsSize: num(7), HasSEH: m[8] == "true", HasEH: m[9] == "true",
				IsFunctionStart: m[10] == "true", ProgramString: strings.TrimSpace(m[11])})
		}
		got := f.FrameRecords()
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d records, llvm-pdbutil %d", b.name, len(got), len(want))
		}
		for i := range got {
			g := got[i]
			g.ProgramString = strings.TrimSpace(g.ProgramString)
			if g != want[i] {
				t.Errorf("%s record %d:\n got %+v\nwant %+v", b.name, i, g, want[i])
			}
		}
		if !f.Features.HasUnwindInfo {
			t.Errorf("%s: x86 PDB without unwind info", b.name)
		}
		n += len(got)
	}
	t.Logf("%d FrameData records agree with llvm-pdbutil", n)
}

// TestFrameDataLookup: the record covering an address is the one starting
// last at or before it, since the later records of a function describe
// its code after each prologue instruction.
func TestFrameDataLookup(t *testing.T) {
	f, err := Open(fixture(t, "x86"))
	if err != nil {
		t.Fatal(err)
	}
	recs := f.FrameRecords()
	if len(recs) < 2 {
		t.Fatalf("%d frame records in the x86 fixture", len(recs))
	}
	for _, r := range recs {
		for _, a := range []uint32{r.RVA, r.RVA + r.Size - 1} {
			got, ok := f.FrameData(uint64(a))
			if !ok {
				t.Errorf("%#x: nothing, want the record at %#x or a later one", a, r.RVA)
				continue
			}
			if got.RVA < r.RVA && a == r.RVA || a-got.RVA >= got.Size {
				t.Errorf("%#x: record %+v", a, got)
			}
		}
	}
	if _, ok := f.FrameData(0x10); ok {
		t.Error("a record for 0x10")
	}
	x64, err := Open(fixture(t, "x64"))
	if err != nil {
		t.Fatal(err)
	}
	if len(x64.FrameRecords()) != 0 || x64.Features.HasUnwindInfo {
		t.Errorf("x64: %d frame records, unwind info %v", len(x64.FrameRecords()), x64.Features.HasUnwindInfo)
	}
}

// TestFPOStream adds an old-style FPO stream to a fixture and reads it back.
func TestFPOStream(t *testing.T) {
	streams := readStreams(t, fixture(t, "x86"))
	// FPO_DATA: start, size, locals (dwords), params (dwords), attributes:
	// prolog 5, 2 saved registers, SEH, uses %ebp.
	rec := []byte{0x00, 0x20, 0, 0, 0x40, 0, 0, 0, 3, 0, 0, 0, 2, 0, 5, 2 | 1<<3 | 1<<4}
	streams = append(streams, rec)
	dbi := streams[streamDBI]
	// The optional debug header is the DBI stream's last substream; its
	// first slot names the FPO stream.
	hdr := int(int32(binary.LittleEndian.Uint32(dbi[0x30:])))
	if hdr < 2 {
		t.Fatalf("optional debug header of %d bytes", hdr)
	}
	slot := len(dbi) - hdr
	dbi[slot], dbi[slot+1] = byte(len(streams)-1), byte((len(streams)-1)>>8)
	f, err := Open(writeMSF(streams, 512))
	if err != nil {
		t.Fatal(err)
	}
	var fpo []FrameRecord
	for _, r := range f.FrameRecords() {
		if r.Type == 0 {
			fpo = append(fpo, r)
		}
	}
	want := FrameRecord{Type: 0, RVA: 0x2000, Size: 0x40, LocalsSize: 12, ParamsSize: 8, PrologSize: 5, SavedRegsSize: 8, HasSEH: true, AllocatesBasePointer: true}
	if len(fpo) != 1 || fpo[0] != want {
		t.Fatalf("FPO records %+v, want %+v", fpo, want)
	}
	if got, ok := f.FrameData(0x2010); !ok || got != want {
		t.Errorf("FrameData(0x2010) = %+v, %v", got, ok)
	}
}
