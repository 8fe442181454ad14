package pdb

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// TestOMAP rewrites a fixture as if a post-link tool had moved its code:
// an OMAP "from source" table that shifts .text by 0x4000 and keeps the
// rest. Every lookup must land 0x4000 higher, with the same frames.
func TestOMAP(t *testing.T) {
	for _, tg := range []string{"x64", "x86"} {
		t.Run(tg, func(t *testing.T) {
			plain, err := Open(fixture(t, tg))
			if err != nil {
				t.Fatal(err)
			}
			text := plain.addr.sections[0]
			const shift = 0x4000
			var omap []byte
			for _, e := range []omapEntry{{0, 0}, {text.va, text.va + shift}, {text.va + text.size, text.va + text.size}} {
				omap = binary.LittleEndian.AppendUint32(omap, e.from)
				omap = binary.LittleEndian.AppendUint32(omap, e.to)
			}
			streams := readStreams(t, fixture(t, tg))
			streams = append(streams, omap)
			dbi := streams[streamDBI]
			slot := len(dbi) - int(binary.LittleEndian.Uint32(dbi[0x30:])) + 2*dbgOmapFromSrc
			binary.LittleEndian.PutUint16(dbi[slot:], uint16(len(streams)-1))
			moved, err := Open(writeMSF(streams, 512))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for a := uint64(text.va); a < uint64(text.va+text.size); a++ {
				want, wok := plain.Lookup(a)
				got, gok := moved.Lookup(a + shift)
				if wok {
					want[len(want)-1].SymAddr += shift
				}
				if wok != gok || !reflect.DeepEqual(got, want) {
					t.Fatalf("%#x: %v %v, before the move %v %v", a+shift, got, gok, want, wok)
				}
				if _, ok := moved.Lookup(a); ok && a < uint64(text.va+shift) {
					t.Fatalf("%#x still answers after the move", a)
				}
				wr, wok := plain.FrameData(a)
				gr, gok := moved.FrameData(a + shift)
				wr.RVA += shift
				if wok != gok || wok && gr != wr {
					t.Fatalf("frame data at %#x: %+v %v, before %+v %v", a+shift, gr, gok, wr, wok)
				}
				n++
			}
			t.Logf("%d addresses moved", n)
		})
	}
}
