package breakpad

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
)

// STACK WIN evaluation is checked against Breakpad's own x86 walker: each
// case writes a .sym file with one STACK WIN record, a minidump whose
// thread stands in that function, and compares the caller frame
// minidump_stackwalk finds with Unwind given the same registers and stack.
//
// The stack is filled with words that point into the stack itself (so any
// dereference succeeds and a recovered %ebp is readable, as Breakpad
// checks) but are no return addresses, and the return address is stored
// where the program reads %eip. The walker heuristics Unwind leaves to its
// caller are thereby neutral, except .raSearchStart for programs that
// align, which Breakpad moves to ebp + 4 and the test passes likewise.

type winCase struct {
	name    string
	typ     int
	program string // type 4
	bp      bool   // type 0: allocates_base_pointer
	// raSlot says where the return address is: "ebp+4" or "raSearch".
	raSlot string
}

var winCases = []winCase{
	{name: "ebp frame", typ: 4, program: "$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + =", raSlot: "ebp+4"},
	{name: "ebp frame glued", typ: 4, program: "$T0 $ebp = $eip $T0 4 + ^ =$ebp $T0 ^ =$esp $T0 8 + =", raSlot: "ebp+4"},
	{name: "ebp frame saved regs", typ: 4, program: "$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + = $L $T0 .cbSavedRegs - = $P $T0 8 + .cbParams + = $ebx $L 4 + ^ = $esi $L 8 + ^ = $edi $L ^ =", raSlot: "ebp+4"},
	{name: "raSearch", typ: 4, program: "$T0 .raSearch = $eip $T0 ^ = $esp $T0 4 + =", raSlot: "raSearch"},
	{name: "raSearch saved regs", typ: 4, program: "$T0 .raSearch = $eip $T0 ^ = $esp $T0 4 + = $ebp $T0 12 - ^ = $ebx $T0 8 - ^ = $esi $T0 4 - ^ =", raSlot: "raSearch"},
	{name: "raSearch locals", typ: 4, program: "$T2 $esp .cbLocals + .cbSavedRegs + = $T0 .raSearchStart = $eip $T0 ^ = $esp $T0 4 + = $edi $T2 4 - ^ =", raSlot: "raSearch"},
	{name: "aligned", typ: 4, program: "$T1 .raSearch = $T0 $T1 4 - 8 @ = $ebp $T1 4 - ^ = $eip $T1 ^ = $esp $T1 4 + = $ebx $T0 28 - ^ =", raSlot: "ebp+4"},
	{name: "fpo", typ: 0, raSlot: "raSearch"},
	{name: "fpo allocates ebp", typ: 0, bp: true, raSlot: "raSearch"},
}

func TestWinAgreesWithMinidumpStackwalk(t *testing.T) {
	const (
		moduleBase = 0x00400000
		stackBase  = 0x00120000
		stackSize  = 0x2000
	)
	n := 0
	for _, c := range winCases {
		for seed := int64(1); seed <= 3; seed++ {
			c, seed := c, seed
			t.Run(fmt.Sprintf("%s/%d", c.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewSource(seed))
				locals := uint32(4 * r.Intn(8))
				saved := uint32(8 + 4*r.Intn(4))
				params := uint32(4 * r.Intn(4))
				stack := make([]byte, stackSize)
				for i := 0; i < stackSize; i += 4 {
					w := stackBase + 0x100 + (uint32(i)*0x1234567)%(stackSize-0x200)
					binary.LittleEndian.PutUint32(stack[i:], w&^3)
				}
				ctx := x86Context{
					eip: moduleBase + 0x1000 + uint32(4*r.Intn(16)),
					esp: stackBase + 0x400 + uint32(4*r.Intn(16)),
					ebx: 0x0bb00000 + uint32(r.Intn(1000)),
					esi: 0x05100000 + uint32(r.Intn(1000)),
					edi: 0x0d100000 + uint32(r.Intn(1000)),
				}
				ctx.ebp = ctx.esp + 0x80 + uint32(4*r.Intn(32))
				raSearchStart := ctx.esp + locals + saved
				if strings.Contains(c.program, "@") {
					raSearchStart = ctx.ebp + 4
				}
				slot := raSearchStart
				if c.raSlot == "ebp+4" {
					slot = ctx.ebp + 4
				}
				ra := moduleBase + 0x2010 + uint32(4*r.Intn(16))
				binary.LittleEndian.PutUint32(stack[slot-stackBase:], ra)

				d := &x86Dump{ctx: ctx, stackBase: stackBase, stack: stack, moduleBase: moduleBase, moduleSize: 0x10000, pdbName: "test.pdb", age: 1}
				r.Read(d.guid[:])
				var rec string
				if c.typ == 4 {
					rec = fmt.Sprintf("STACK WIN 4 1000 100 4 0 %x %x %x 0 1 %s", params, saved, locals, c.program)
				} else {
					bp := 0
					if c.bp {
						bp = 1
					}
					rec = fmt.Sprintf("STACK WIN 0 1000 100 0 0 %x %x %x 0 0 %d", params, saved, locals, bp)
				}
				sym := fmt.Sprintf("MODULE windows x86 %s test.pdb\r\nFILE 0 c:\\test\\test.c\r\nFUNC 1000 100 %x callee\r\n1000 100 10 0\r\nFUNC 2000 100 0 caller\r\n2000 100 20 0\r\n%s\r\n", d.debugID(), params, rec)

				frames := stackwalkFrames(t, d, sym)
				want := frames[1]
				if want["found by call frame info"] != 1 {
					t.Fatalf("minidump_stackwalk did not use the STACK WIN record: %v", want)
				}
				delete(want, "found by call frame info")

				f, err := Parse([]byte(sym))
				if err != nil {
					t.Fatal(err)
				}
				w, ok := f.Win(uint64(ctx.eip - moduleBase))
				if !ok {
					t.Fatalf("Win(%#x): no record", ctx.eip-moduleBase)
				}
				regs := map[string]uint64{"eip": uint64(ctx.eip), "esp": uint64(ctx.esp), "ebp": uint64(ctx.ebp), "ebx": uint64(ctx.ebx), "esi": uint64(ctx.esi), "edi": uint64(ctx.edi), ".raSearchStart": uint64(raSearchStart)}
				get := func(name string) (uint64, bool) { v, ok := regs[name]; return v, ok }
				got, err := w.Unwind(get, stackMemory{stackBase, stack})
				if err != nil {
					t.Fatal(err)
				}
				if got[".ra"] != got["eip"] || got[".cfa"] != got["esp"] {
					t.Errorf(".ra/.cfa %#x/%#x, eip/esp %#x/%#x", got[".ra"], got[".cfa"], got["eip"], got["esp"])
				}
				delete(got, ".ra")
				delete(got, ".cfa")
				if fmtRegs(got) != fmtRegs(want) {
					t.Errorf("Unwind:             %s\nminidump_stackwalk: %s", fmtRegs(got), fmtRegs(want))
				}
				n++
			})
		}
	}
	t.Logf("%d STACK WIN cases agree with minidump_stackwalk", n)
}

func fmtRegs(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%#x", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// stackMemory reads little-endian words from a copy of the stack.
type stackMemory struct {
	base uint32
	data []byte
}

func (m stackMemory) Read(addr uint64, size int) (uint64, bool) {
	if addr < uint64(m.base) || addr-uint64(m.base)+uint64(size) > uint64(len(m.data)) {
		return 0, false
	}
	off := addr - uint64(m.base)
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(m.data[off:])), true
	}
	return binary.LittleEndian.Uint64(m.data[off:]), true
}
