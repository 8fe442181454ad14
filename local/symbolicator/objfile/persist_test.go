package objfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
)

// roundTrip writes f's index and loads it back.
func roundTrip(t testing.TB, f *File) *File {
	t.Helper()
	b, err := f.MarshalIndex("tag")
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadIndex(b, "tag")
	if err != nil {
		t.Fatalf("LoadIndex of a fresh index: %v", err)
	}
	return g
}

// samePersistedLookups checks that a File loaded from its persisted
// index answers every address as the File it was written from, and
// around every function and line boundary the index knows.
func samePersistedLookups(t *testing.T, f *File, addrs []uint64) {
	t.Helper()
	g := roundTrip(t, f)
	if g.Identity != f.Identity || g.Features != f.Features || g.LoadAddress != f.LoadAddress || !reflect.DeepEqual(g.AltLink, f.AltLink) {
		t.Fatalf("loaded %+v %+v %#x %+v, written %+v %+v %#x %+v", g.Identity, g.Features, g.LoadAddress, g.AltLink, f.Identity, f.Features, f.LoadAddress, f.AltLink)
	}
	probe := append([]uint64(nil), addrs...)
	if ix := f.index; ix != nil {
		for i := 0; i < len(ix.segs); i += 1 + len(ix.segs)/3000 {
			probe = append(probe, ix.segs[i].addr, ix.segs[i].addr-1)
		}
		for i := 0; i < len(ix.lines); i += 1 + len(ix.lines)/3000 {
			probe = append(probe, ix.lines[i].addr)
		}
	}
	if st := f.symtab; st != nil {
		for i := 0; i < len(st.syms); i += 1 + len(st.syms)/3000 {
			probe = append(probe, st.syms[i].addr, st.syms[i].addr+st.syms[i].size)
		}
	}
	differ := 0
	for _, a := range probe {
		want, wok := f.Lookup(a)
		got, gok := g.Lookup(a)
		if wok != gok || !reflect.DeepEqual(want, got) {
			if differ++; differ <= 5 {
				t.Errorf("%#x: persisted index gives %v %s, in-memory %v %s", a, gok, fmtFrames(got), wok, fmtFrames(want))
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d addresses differ", differ, len(probe))
	}
	t.Logf("%d addresses agree", len(probe))
}

// TestPersistedIndexLookups checks the persisted index on every binary of
// the agreement test (C, C++ and Go from gcc, clang and go; DWARF 4 and 5,
// compressed sections, split debug files, line tables only, stripped
// libraries).
func TestPersistedIndexLookups(t *testing.T) {
	for _, c := range agreementCases(t) {
		t.Run(c.name, func(t *testing.T) {
			_, sampleObj, f := c.build(t, t.TempDir())
			samePersistedLookups(t, f, sampleAddrs(t, sampleObj, 20000))
		})
	}
}

// smallIndex is the persisted index of a small C program.
func smallIndex(t testing.TB) []byte {
	t.Helper()
	f := openPath(t, built(t, "gcc", "c", "-O2", "-g"))
	b, err := f.MarshalIndex("tag")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resum recomputes the checksum of an index edited on purpose: a hostile
// file has a valid one.
func resum(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[indexHeaderSize:], crcTable))
	return b
}

// payloadOffsets finds the first record of each table in a persisted
// index by reading it as LoadIndex does.
func dwarfOffsets(t *testing.T, b []byte) (nodes, segs int) {
	t.Helper()
	r := &indexReader{b: b[indexHeaderSize:]}
	n := r.u64()
	r.strs = string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	for range 6 {
		r.str()
	}
	r.u8()
	r.u64()
	if r.flag() {
		r.str()
		r.str()
	}
	if r.flag() {
		r.off += r.count(symbolRecord) * symbolRecord
	}
	if !r.flag() {
		t.Fatal("no DWARF in the index")
	}
	r.off += r.count(stringRecord) * stringRecord
	r.off += r.count(lineRecord) * lineRecord
	nn := r.count(nodeRecord)
	nodes = indexHeaderSize + r.off
	r.off += nn * nodeRecord
	r.off += r.count(nameRecord) * nameRecord
	r.off += r.count(unitRecord) * unitRecord
	r.count(segRecord)
	return nodes, indexHeaderSize + r.off
}

// TestPersistedIndexRefused checks that damaged, old, foreign and hostile
// indexes are refused with an *IndexError that says why.
func TestPersistedIndexRefused(t *testing.T) {
	good := smallIndex(t)
	nodes, segs := dwarfOffsets(t, good)
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name, tag string
		data      []byte
		reason    string
	}{
		{"empty", "tag", nil, "not a persisted index"},
		{"other magic", "tag", edit(func(b []byte) []byte { b[0] = 'x'; return b }), "not a persisted index"},
		{"old version", "tag", edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], IndexVersion-1); return b }), fmt.Sprintf("format version %d", IndexVersion-1)},
		{"newer version", "tag", edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], IndexVersion+1); return b }), fmt.Sprintf("format version %d", IndexVersion+1)},
		{"truncated", "tag", good[:len(good)-7], "bytes of payload"},
		{"header only", "tag", good[:indexHeaderSize], "bytes of payload"},
		{"flipped byte", "tag", edit(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), "checksum mismatch"},
		{"another file's", "other", good, "written for another file"},
		{"inline cycle", "tag", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[nodes:], 0) // node 0 its own parent
			return resum(b)
		}), "function 0 has parent 0"},
		{"segment past the functions", "tag", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[segs+8:], 1<<30)
			return resum(b)
		}), "segment 0 refers to function"},
		{"huge count", "tag", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[nodes-8:], 1<<60)
			return resum(b)
		}), "exceed the file"},
		{"string outside", "tag", edit(func(b []byte) []byte {
			// The tag's reference follows the strings.
			n := binary.LittleEndian.Uint64(b[indexHeaderSize:])
			binary.LittleEndian.PutUint32(b[indexHeaderSize+8+int(n):], 1<<31)
			return resum(b)
		}), "outside the strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := LoadIndex(c.data, c.tag)
			var ie *IndexError
			if f != nil || !errors.As(err, &ie) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("LoadIndex = %v, %v; want an *IndexError saying %q", f, err, c.reason)
			}
		})
	}
}

// FuzzLoadIndex feeds LoadIndex damaged indexes: it must refuse them or
// load a File whose lookups neither panic nor loop.
func FuzzLoadIndex(f *testing.F) {
	good := smallIndex(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	recoverPanics = false
	f.Cleanup(func() { recoverPanics = true })
	f.Fuzz(func(t *testing.T, data []byte) {
		// Most mutations break the checksum; fix it so that the checks
		// behind it are reached.
		if len(data) >= indexHeaderSize {
			data = resum(append([]byte(nil), data...))
		}
		file, err := LoadIndex(data, "tag")
		if err != nil {
			var ie *IndexError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("error %v: want an *IndexError with a reason", err)
			}
			return
		}
		for i := uint64(0); i < 256; i++ {
			file.Lookup(file.LoadAddress + i*37)
		}
		if ix := file.index; ix != nil {
			for i, s := range ix.segs {
				if i == 256 {
					break
				}
				file.Lookup(s.addr)
			}
		}
		again := roundTrip(t, file)
		for i := uint64(0); i < 64; i++ {
			a := file.LoadAddress + i*101
			w, _ := file.Lookup(a)
			g, _ := again.Lookup(a)
			if !reflect.DeepEqual(w, g) {
				t.Fatalf("%#x: %v after a second round trip, %v before", a, g, w)
			}
		}
	})
}
