package pdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

var le = binary.LittleEndian

// msfLayout is where writeMSF put things, for tests that break them.
type msfLayout struct {
	data      []byte
	mapBlock  uint32
	dirBlock0 uint32
}

func layout(data []byte) msfLayout {
	mapBlock := le.Uint32(data[52:])
	return msfLayout{data: data, mapBlock: mapBlock, dirBlock0: le.Uint32(data[mapBlock*512:])}
}

// dirOffset is the file offset of the directory's byte i.
func (l msfLayout) dirOffset(i int) int { return int(l.dirBlock0)*512 + i }

// withStream returns the fixture with stream i changed by patch.
func withStream(t *testing.T, tg string, i int, patch func(b []byte) []byte) []byte {
	t.Helper()
	streams := readStreams(t, fixture(t, tg))
	streams[i] = patch(streams[i])
	return writeMSF(streams, 512)
}

// moduleStream is the stream index of the fixture's first module.
func moduleStream(t *testing.T) int {
	dbi := readStreams(t, fixture(t, "x64"))[streamDBI]
	return int(le.Uint16(dbi[64+34:]))
}

// TestMalformed feeds broken files to Open and checks that each is
// refused with an error that says what is wrong.
func TestMalformed(t *testing.T) {
	good := fixture(t, "x64")
	if _, err := Open(good); err != nil {
		t.Fatalf("the fixture itself: %v", err)
	}
	mod := moduleStream(t)
	patched := func(p func(b []byte)) []byte {
		b := append([]byte{}, good...)
		p(b)
		return b
	}
	lay := layout(good)
	blocks := len(good) / 512
	streams := readStreams(t, good)
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the error; "" for ErrUnsupported
	}{
		{"empty", nil, ""},
		{"old container", []byte("Microsoft C/C++ program database 2.00\r\n\x1aJG\x00\x00"), ""},
		{"block size", patched(func(b []byte) { le.PutUint32(b[32:], 1000) }), "superblock: block size 1000 is not a power of two"},
		{"truncated", good[:len(good)-512], fmt.Sprintf("superblock: %d blocks claimed, the file holds %d", blocks, blocks-1)},
		{"block map at superblock", patched(func(b []byte) { le.PutUint32(b[52:], 0) }), "block map: block 0 is the superblock"},
		{"directory block past end", patched(func(b []byte) { le.PutUint32(b[lay.mapBlock*512:], 9999) }), fmt.Sprintf("stream directory: block 9999 past the end of the file (%d blocks)", blocks)},
		{"directory size", patched(func(b []byte) { le.PutUint32(b[44:], 1<<30) }), "stream directory: 1073741824 bytes do not fit the file"},
		{"stream count", patched(func(b []byte) { le.PutUint32(b[lay.dirOffset(0):], 1<<28) }), "stream directory: 268435456 streams do not fit"},
		{"stream size", patched(func(b []byte) { le.PutUint32(b[lay.dirOffset(4+4*4):], 0x7fffffff) }), "stream directory: the streams need"},
		{"shared block", patched(func(b []byte) {
			// Stream 1's first block also listed for stream 2.
			n := int(le.Uint32(b[lay.dirOffset(0):]))
			first := lay.dirOffset(4 + 4*n)
			le.PutUint32(b[first+4:], le.Uint32(b[first:]))
		}), "stream 2: block 3 is used twice"},
		{"info stream short", withStream(t, "x64", streamInfo, func(b []byte) []byte { return b[:20] }), "PDB information stream: 16 bytes needed at offset 12, 8 left"},
		{"named streams", withStream(t, "x64", streamInfo, func(b []byte) []byte {
			// present-bit words claiming every bucket
			off := 28 + 4 + int(le.Uint32(b[28:])) + 8
			le.PutUint32(b[off:], 1)
			le.PutUint32(b[off+4:], 0xffffffff)
			return b
		}), "PDB information stream: named stream map claims 32 entries"},
		{"names signature", withStream(t, "x64", 13, func(b []byte) []byte { le.PutUint32(b, 1); return b }), "string table (/names): signature 0x1, want 0xeffeeffe"},
		{"DBI version", withStream(t, "x64", streamDBI, func(b []byte) []byte { le.PutUint32(b[4:], 5); return b }), "DBI stream: header version 5"},
		{"DBI substream", withStream(t, "x64", streamDBI, func(b []byte) []byte { le.PutUint32(b[24:], 1<<20); return b }), "DBI stream: module info substream of 1048576 bytes"},
		{"DBI contributions", withStream(t, "x64", streamDBI, func(b []byte) []byte {
			le.PutUint32(b[64+int(le.Uint32(b[24:])):], 7)
			return b
		}), "DBI stream: section contributions version 0x7 is not known"},
		{"module stream index", withStream(t, "x64", streamDBI, func(b []byte) []byte { le.PutUint16(b[64+34:], 999); return b }), fmt.Sprintf("stream 999 out of range (the directory has %d streams)", len(streams))},
		{"module sizes", withStream(t, "x64", streamDBI, func(b []byte) []byte { le.PutUint32(b[64+36:], 1<<20); return b }), fmt.Sprintf("do not fit the %d-byte stream", len(streams[mod]))},
		{"symbol record", withStream(t, "x64", mod, func(b []byte) []byte { le.PutUint16(b[4:], 0xffff); return b }), "symbols: record at offset 4 has length 65535"},
		{"C13 subsection", withStream(t, "x64", mod, func(b []byte) []byte {
			dbi := readStreams(t, good)[streamDBI]
			sym, c11 := le.Uint32(dbi[64+36:]), le.Uint32(dbi[64+40:])
			le.PutUint32(b[sym+c11+4:], 1<<20)
			return b
		}), "C13 line information: subsection 0x"},
		{"TPI header", withStream(t, "x64", streamTPI, func(b []byte) []byte { le.PutUint32(b[4:], 1<<20); return b }), "TPI stream: header of 1048576 bytes"},
		{"TPI record", withStream(t, "x64", streamTPI, func(b []byte) []byte { le.PutUint16(b[56:], 0xfff0); return b }), "TPI stream: record 0x1000 at offset 0 has length 65520"},
		{"IPI backwards", withStream(t, "x64", streamIPI, func(b []byte) []byte { le.PutUint32(b[12:], 5); return b }), "IPI stream: type indices 0x1000 to 0x5 run backwards"},
		{"public records", withStream(t, "x64", 8, func(b []byte) []byte { le.PutUint16(b, 0xfff0); return b }), "symbol record stream: record at offset 0 has length 65520"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open(tc.data)
			if err == nil {
				t.Fatalf("opened: %+v", f.Identity)
			}
			if tc.want == "" {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("%v, want ErrUnsupported", err)
				}
				return
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("%T %v, want *MalformedError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%q does not say %q", err, tc.want)
			}
		})
	}
}

// TestMalformedTolerated lists damage Open reads past, as symbolic does:
// the file stays usable, the damaged part contributes nothing.
func TestMalformedTolerated(t *testing.T) {
	good, err := Open(fixture(t, "x64"))
	if err != nil {
		t.Fatal(err)
	}
	mod := moduleStream(t)
	for _, tc := range []struct {
		name  string
		data  []byte
		check func(t *testing.T, f *File)
	}{
		{"inline annotations", withStream(t, "x64", mod, func(b []byte) []byte {
			// Every S_INLINESITE's annotations become an invalid opcode.
			for off := 4; off+4 <= len(b); {
				l, kind := int(le.Uint16(b[off:])), le.Uint16(b[off+2:])
				if kind == sInlineSite && off+16 < off+2+l {
					for i := off + 16; i < off+2+l; i++ {
						b[i] = 0xff
					}
				}
				if l < 2 {
					break
				}
				off += 2 + l
			}
			return b
		}), func(t *testing.T, f *File) {
			for _, p := range good.procs {
				frames, ok := f.Lookup(uint64(p.start))
				if !ok || len(frames) != 1 {
					t.Errorf("%s: %v %v, want the procedure alone", p.name, frames, ok)
				}
			}
		}},
		{"no type information", withStream(t, "x64", streamTPI, func([]byte) []byte { return nil }), func(t *testing.T, f *File) {
			for _, p := range good.procs {
				frames, ok := f.Lookup(uint64(p.start))
				if !ok || frames[len(frames)-1].Function != p.name {
					t.Errorf("%s: %v %v, want the bare procedure name", p.name, frames, ok)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f)
		})
	}
}

// TestAllocationBounded opens files whose counts claim far more than the
// file holds and checks that Open allocates in proportion to the file.
func TestAllocationBounded(t *testing.T) {
	mod := moduleStream(t)
	cases := map[string][]byte{
		"type indices": withStream(t, "x64", streamTPI, func(b []byte) []byte { le.PutUint32(b[12:], 0xffffffff); return b }),
		"line counts": withStream(t, "x64", mod, func(b []byte) []byte {
			dbi := readStreams(t, fixture(t, "x64"))[streamDBI]
			sym, c11 := le.Uint32(dbi[64+36:]), le.Uint32(dbi[64+40:])
			c13 := b[sym+c11:]
			for off := 0; off+8 <= len(c13); {
				kind, n := le.Uint32(c13[off:]), int(le.Uint32(c13[off+4:]))
				if kind == debugSLines && n >= 24 {
					le.PutUint32(c13[off+8+12+4:], 0x0fffffff) // lines in the first file block
				}
				off += 8 + (n+3)&^3
			}
			return b
		}),
		"stream sizes": func() []byte {
			streams := readStreams(t, fixture(t, "x64"))
			for i := 0; i < 64; i++ {
				streams = append(streams, []byte{})
			}
			return writeMSF(streams, 512)
		}(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _ = Open(data)
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64*len(data)+1<<20); got > limit {
				t.Errorf("Open of %d bytes allocated %d bytes (limit %d)", len(data), got, limit)
			}
		})
	}
}

// TestUnnamedInlinee: an inline site whose id record is not a function id
// is left out with everything inlined into it, as symbolic leaves it out.
func TestUnnamedInlinee(t *testing.T) {
	good, err := Open(fixture(t, "x64"))
	if err != nil {
		t.Fatal(err)
	}
	if len(good.sites) == 0 {
		t.Fatal("the fixture has no inline sites")
	}
	// Turn every LF_FUNC_ID and LF_MFUNC_ID into a kind the formatter
	// does not accept as an inlinee.
	data := withStream(t, "x64", streamIPI, func(b []byte) []byte {
		hdr := int(le.Uint32(b[4:]))
		for off := hdr; off+4 <= len(b); off += 2 + int(le.Uint16(b[off:])) {
			if k := le.Uint16(b[off+2:]); k == lfFuncID || k == lfMFuncID {
				le.PutUint16(b[off+2:], 0x1609) // LF_UDT_SRC_LINE
			}
		}
		return b
	})
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range good.procs {
		for a := p.start; a < p.end; a++ {
			frames, ok := f.Lookup(uint64(a))
			want, _ := good.Lookup(uint64(a))
			if !ok || len(frames) != 1 || frames[0] != want[len(want)-1] {
				t.Fatalf("%#x: %v, want only the procedure of %v", a, frames, want)
			}
		}
	}
}
