package minidump

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rustRegisters are the general-purpose register lists of rust-minidump's
// CpuContext implementations (minidump/src/context.rs), in its order: the
// names and order Symbolicator reports registers in.
var rustRegisters = map[string]string{
	"amd64": "rax rdx rcx rbx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip",
	"x86":   "eip esp ebp ebx esi edi eax ecx edx eflags",
	"arm":   "r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r12 fp sp lr pc",
	"arm64": "x0 x1 x2 x3 x4 x5 x6 x7 x8 x9 x10 x11 x12 x13 x14 x15 x16 x17 x18 x19 x20 x21 x22 x23 x24 x25 x26 x27 x28 fp lr sp pc",
	"ppc":   "srr0 srr1 r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12 r13 r14 r15 r16 r17 r18 r19 r20 r21 r22 r23 r24 r25 r26 r27 r28 r29 r30 r31 cr xer lr ctr mq vrsave",
	"ppc64": "srr0 srr1 r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12 r13 r14 r15 r16 r17 r18 r19 r20 r21 r22 r23 r24 r25 r26 r27 r28 r29 r30 r31 cr xer lr ctr vrsave",
	"sparc": "g_r0 g_r1 g_r2 g_r3 g_r4 g_r5 g_r6 g_r7 g_r8 g_r9 g_r10 g_r11 g_r12 g_r13 g_r14 g_r15 g_r16 g_r17 g_r18 g_r19 g_r20 g_r21 g_r22 g_r23 g_r24 g_r25 g_r26 g_r27 g_r28 g_r29 g_r30 g_r31 ccr pc npc y asi fprs",
	"mips":  "gp sp fp ra pc s0 s1 s2 s3 s4 s5 s6 s7",
}

var allLayouts = []*layout{layoutAMD64, layoutX86, layoutARM, layoutARM64, layoutARM64Old, layoutPPC, layoutPPC64, layoutSPARC, layoutMIPS}

// archOf returns the ProcessorArchitecture value rust-minidump reads a
// layout for.
func archOf(l *layout) uint16 {
	for a := 0; a <= 0xffff; a++ {
		if layoutForArch(uint16(a)) == l {
			return uint16(a)
		}
	}
	panic("no architecture for " + l.name())
}

// TestContextLayouts reads a context of every layout, with system info
// naming its CPU and without, and checks names, values, aliases, PC and SP.
func TestContextLayouts(t *testing.T) {
	for _, l := range allLayouts {
		for _, withSys := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/system-info=%v", l.name(), withSys), func(t *testing.T) {
				w := newDumpWriter(binary.LittleEndian)
				if withSys {
					w.systemInfo(synthSystemInfo{arch: archOf(l), platform: 0x8201})
				}
				flags := uint64(l.cpuFlag | 3)
				regs := testRegs(l, 7)
				w.threadList(synthThread{id: 1, context: w.context(l, flags, regs)})
				d, err := Parse(w.finish())
				if err != nil {
					t.Fatal(err)
				}
				c := d.Threads[0].Context
				if c == nil {
					t.Fatal("no context")
				}
				if got := strings.Join(c.Names(), " "); got != rustRegisters[c.Arch] {
					t.Errorf("Names() = %s\nrust-minidump lists %s", got, rustRegisters[c.Arch])
				}
				if c.Flags != uint32(flags) || c.OldARM64 != (l == layoutARM64Old) || len(c.Raw) != l.size {
					t.Errorf("flags 0x%x old %v raw %d", c.Flags, c.OldARM64, len(c.Raw))
				}
				for _, name := range c.Names() {
					if v, ok := c.Get(name); !ok || v != regs[name] {
						t.Errorf("%s = 0x%x, %v; want 0x%x", name, v, ok, regs[name])
					}
				}
				if c.PC() != regs[l.pc] || c.SP() != regs[l.sp] {
					t.Errorf("PC 0x%x SP 0x%x, want %s 0x%x %s 0x%x", c.PC(), c.SP(), l.pc, regs[l.pc], l.sp, regs[l.sp])
				}
				if _, ok := c.Get("nosuchregister"); ok {
					t.Error("Get accepts an unknown name")
				}
			})
		}
	}
}

func TestContextAliases(t *testing.T) {
	tests := []struct {
		l       *layout
		aliases map[string]string
	}{
		{layoutARM64, map[string]string{"x29": "fp", "x30": "lr"}},
		{layoutARM64Old, map[string]string{"x29": "fp", "x30": "lr"}},
		{layoutARM, map[string]string{"r11": "fp", "r13": "sp", "r14": "lr", "r15": "pc", "ip": "r12"}},
		{layoutAMD64, map[string]string{"rflags": "", "eflags": ""}},
		{layoutX86, map[string]string{"efl": "eflags"}},
	}
	for _, tt := range tests {
		w := newDumpWriter(binary.LittleEndian)
		w.systemInfo(synthSystemInfo{arch: archOf(tt.l)})
		ctx := w.context(tt.l, uint64(tt.l.cpuFlag), testRegs(tt.l, 3))
		if tt.l == layoutAMD64 {
			ctx = w.contextAMD64(ctxAMD64, testRegs(tt.l, 3))
		}
		w.threadList(synthThread{id: 1, context: ctx})
		d, err := Parse(w.finish())
		if err != nil {
			t.Fatal(err)
		}
		c := d.Threads[0].Context
		for alias, name := range tt.aliases {
			a, ok := c.Get(alias)
			if !ok {
				t.Errorf("%s: no register %s", tt.l.name(), alias)
				continue
			}
			if slices.Contains(c.Names(), alias) {
				t.Errorf("%s: alias %s is listed in Names", tt.l.name(), alias)
			}
			if name == "" {
				if a != 0x246 && tt.l == layoutAMD64 {
					t.Errorf("%s = 0x%x, want the written 0x246", alias, a)
				}
				continue
			}
			if v, _ := c.Get(name); v != a {
				t.Errorf("%s: %s = 0x%x, %s = 0x%x", tt.l.name(), alias, a, name, v)
			}
		}
	}
}

// TestContextArchitectureChoice checks that, as in rust-minidump, the
// system info's CPU picks the layout: an arm64 dump whose system info says
// Breakpad's arm64 (0x8003) is read with the old layout, one that says
// ARM64 (12) with Microsoft's, and a context of the other kind is refused.
func TestContextArchitectureChoice(t *testing.T) {
	build := func(arch uint16, l *layout) (*Dump, error) {
		w := newDumpWriter(binary.LittleEndian)
		w.systemInfo(synthSystemInfo{arch: arch, platform: 0x8201})
		// Padded to the larger layout, so that the flags decide.
		ctx := append(w.context(l, uint64(l.cpuFlag|6), testRegs(l, 1)), make([]byte, 912-l.size)...)
		w.threadList(synthThread{id: 1, context: ctx})
		return Parse(w.finish())
	}
	if d, err := build(0x8003, layoutARM64Old); err != nil || !d.Threads[0].Context.OldARM64 {
		t.Errorf("old layout under arch 0x8003: %v", err)
	}
	if d, err := build(12, layoutARM64); err != nil || d.Threads[0].Context.OldARM64 {
		t.Errorf("new layout under arch 12: %v", err)
	}
	if _, err := build(12, layoutARM64Old); err == nil || !strings.Contains(err.Error(), "do not name the arm64 layout") {
		t.Errorf("old layout under arch 12: %v", err)
	}
	if _, err := build(0x8003, layoutARM64); err == nil || !strings.Contains(err.Error(), "do not name the arm64 (old Breakpad layout) layout") {
		t.Errorf("new layout under arch 0x8003: %v", err)
	}
	// A CPU rust-minidump has no layout for: the flags decide.
	if d, err := build(0xffff, layoutARM64); err != nil || d.Threads[0].Context.Arch != "arm64" {
		t.Errorf("new layout under an unknown arch: %v", err)
	}
}
