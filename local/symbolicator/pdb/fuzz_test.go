package pdb

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen opens arbitrary bytes (seeded with the fixtures) and, when they
// open, looks up addresses around every procedure, site and public symbol.
// Panics are not recovered here, so that they are found.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"fixture-x64.pdb", "fixture-x86.pdb"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recoverPanics = false
		defer func() { recoverPanics = true }()
		if id, err := Identify(data); err == nil && id.DebugID == "" {
			t.Fatal("identified without a debug id")
		}
		pf, err := Open(data)
		if err != nil {
			if pf != nil {
				t.Fatal("a File and an error")
			}
			return
		}
		var addrs []uint64
		for _, p := range pf.procs {
			addrs = append(addrs, uint64(p.start), uint64(p.end), uint64(p.end)-1)
		}
		for _, r := range pf.ranges {
			addrs = append(addrs, uint64(r.start), uint64(r.end)-1)
		}
		for _, p := range pf.publics {
			addrs = append(addrs, uint64(p.rva), uint64(p.rva)+1)
		}
		for _, r := range pf.frames {
			addrs = append(addrs, uint64(r.RVA))
		}
		addrs = append(addrs, 0, 0x1000, 1<<32, 1<<40)
		for _, a := range addrs {
			frames, ok := pf.Lookup(a)
			if ok != (len(frames) > 0) {
				t.Fatalf("Lookup(%#x): ok %v with %d frames", a, ok, len(frames))
			}
			if ok && pf.HasFunction(a) != true {
				t.Fatalf("Lookup(%#x) finds %v, HasFunction does not", a, frames)
			}
			pf.FrameData(a)
		}
	})
}

// FuzzDemangleMSVC demangles arbitrary names: no panics, bounded output.
func FuzzDemangleMSVC(f *testing.F) {
	for _, n := range moreManglings {
		f.Add(n)
	}
	for n := range msvcDemanglerForms {
		f.Add(n)
	}
	f.Add("??_GAtomSandboxedRenderFrameObserver@?A0x77c58568@atom@@UEAAPEAXI@Z")
	f.Add("??$?DM@std@@YA?AV?$complex@M@0@ABMABV10@@Z")
	f.Fuzz(func(t *testing.T, name string) {
		s, ok := demangleMSVC(name)
		if ok && len(s) > maxNameLen {
			t.Fatalf("%d bytes demangled from %d", len(s), len(name))
		}
		_ = demangleName(name)
		_ = undecorateWin(name)
	})
}
