package pe

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/unwind"
)

// Rules is what the stack walker takes from a format.
var (
	_ unwind.Rules      = (*Rules)(nil)
	_ unwind.RuleLister = (*Rules)(nil)
)

// peModules gives the walker one image's rules, as the service would
// compose them: an absolute address minus the load base is an RVA.
type peModules struct {
	f          *File
	base, size uint64
}

func (m peModules) CFI(addr uint64) unwind.Rules {
	if addr < m.base || addr-m.base >= m.size {
		return nil
	}
	if r, ok := m.f.Rules(uint32(addr - m.base)); ok {
		return r
	}
	return nil
}

func (m peModules) Code(addr uint64) (bool, bool, bool) {
	in := addr >= m.base && addr-m.base < m.size
	if !in {
		return false, false, false
	}
	_, ok := m.f.FunctionAt(uint32(addr - m.base))
	return true, true, ok
}

// TestWalkerWithRules walks a synthetic stack of nested calls with the
// stack walker, the image's rules standing in for CFI. The stack stands
// for four functions of a generated image, each called from a call site
// of the one before, each having run its whole prologue: every frame the
// walker finds must be the call site, by CFI, with the stack pointer and
// the saved registers the caller had.
func TestWalkerWithRules(t *testing.T) {
	img := imageNamed(t, "frames-x64-O2")
	f := openImage(t, img)
	fns := parseReadobjUnwind(t, run(t, tool(t, "llvm-readobj"), "--unwind", img.path))
	code := disassemble(t, img.path)

	// Functions with a call site, without chains or machine frames.
	type callee struct {
		u     *unit
		sites []uint64 // return addresses after its calls (VAs)
	}
	var chain []callee
	for _, fn := range fns {
		if fn.chained != nil || strings.Contains(strings.Join(fn.codes, " "), "MACHFRAME") {
			continue
		}
		u := &unit{fn: fn, frameReg: -1}
		for _, c := range fn.codes {
			u.codes = append(u.codes, parseCode(t, c))
		}
		var sites []uint64
		for i, in := range code {
			if in.addr >= fn.begin && in.addr < fn.end && strings.HasPrefix(in.mnem, "call") && i+1 < len(code) && code[i+1].addr < fn.end {
				sites = append(sites, code[i+1].addr)
			}
		}
		if len(sites) > 0 {
			chain = append(chain, callee{u, sites})
		}
		if len(chain) == 4 {
			break
		}
	}
	if len(chain) < 3 {
		t.Fatalf("only %d functions with calls in %s", len(chain), img.name)
	}

	const loadBase = 0x7ff6_4000_0000
	rng := rand.New(rand.NewSource(3))
	mem := newStackMem(0x20_0000_0000-4<<20, 0x20_0000_0000)
	var regs Context
	for i := range regs.GPR {
		regs.GPR[i] = rng.Uint64()
	}
	regs.GPR[RSP] = mem.hi - 0x1000
	ra := uint64(0x7ff7_0000_1234) // the outermost caller, outside the image
	type expect struct {
		resume uint64
		regs   Context
	}
	var expected []expect // outermost first
	for _, c := range chain {
		expected = append(expected, expect{ra, regs})
		rsp := regs.GPR[RSP] - 8
		mem.write(rsp, ra)
		// The whole prologue, in execution order.
		base := rsp
		for j := len(c.u.codes) - 1; j >= 0; j-- {
			switch cd := c.u.codes[j]; cd.op {
			case "PUSH_NONVOL":
				base -= 8
			case "ALLOC_SMALL", "ALLOC_LARGE":
				base -= cd.value
			}
		}
		fp := uint64(0)
		for j := len(c.u.codes) - 1; j >= 0; j-- {
			switch cd := c.u.codes[j]; cd.op {
			case "PUSH_NONVOL":
				rsp -= 8
				mem.write(rsp, regs.GPR[cd.reg])
			case "ALLOC_SMALL", "ALLOC_LARGE":
				rsp -= cd.value
			case "SET_FPREG":
				fp = rsp + cd.value
				base = rsp
				regs.GPR[cd.reg] = fp
			case "SAVE_NONVOL", "SAVE_NONVOL_FAR":
				mem.write(base+cd.value, regs.GPR[cd.reg])
			case "SAVE_XMM128", "SAVE_XMM128_FAR":
			}
		}
		// The body clobbers what it saved (the frame register keeps the
		// frame).
		for _, cd := range c.u.codes {
			if (cd.op == "PUSH_NONVOL" || strings.HasPrefix(cd.op, "SAVE_NONVOL")) && !(fp != 0 && cd.reg == int(RBP)) {
				regs.GPR[cd.reg] = rng.Uint64()
			}
		}
		regs.GPR[RSP] = rsp
		ra = c.sites[0] - f.ImageBase + loadBase
	}
	top := map[string]uint64{"rip": ra}
	for i, n := range regNames {
		top[n] = regs.GPR[i]
	}
	frames, err := unwind.Walk(context.Background(), "amd64", top, mem, peModules{f, loadBase, uint64(f.SizeOfImage)}, unwind.Options{OS: "windows"})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) < len(expected)+1 {
		t.Fatalf("%d frames, want at least %d: %+v", len(frames), len(expected)+1, frames)
	}
	compared := 0
	for k := 1; k <= len(expected); k++ {
		want := expected[len(expected)-k]
		got := frames[k]
		if got.Resume != want.resume || got.Trust != unwind.TrustCFI || got.Registers["rsp"] != want.regs.GPR[RSP] {
			t.Errorf("frame %d: resume %#x trust %s rsp %#x; want %#x cfi %#x", k, got.Resume, got.Trust, got.Registers["rsp"], want.resume, want.regs.GPR[RSP])
		}
		for _, r := range []Reg{RBX, RBP, RSI, RDI, R12, R13, R14, R15} {
			if v, ok := got.Registers[r.String()]; ok {
				compared++
				if v != want.regs.GPR[r] {
					t.Errorf("frame %d: %s = %#x, the caller had %#x", k, r, v, want.regs.GPR[r])
				}
			}
		}
	}
	if compared < len(expected) {
		t.Errorf("only %d callee-saved registers recovered in %d frames", compared, len(expected))
	}
	t.Logf("%d frames by CFI, %d saved registers compared", len(expected), compared)
}
