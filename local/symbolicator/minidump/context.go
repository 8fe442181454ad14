package minidump

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Context is the CPU register state of a thread, as captured in the dump.
//
// Registers carry rust-minidump's names (the names Symbolicator reports),
// listed by Names in rust-minidump's order; Get also accepts the
// architectural aliases (x29/x30 on arm64, r11/r13/r14/r15 and ip on arm).
//
// Every register of the layout is reported valid, whatever context_flags
// says about which register groups were captured: rust-minidump and
// Breakpad both treat a context read from a dump as entirely valid (only
// registers recovered by unwinding are partial), so a walker that wants to
// agree with them must too. Flags is there for callers that care.
type Context struct {
	// Arch names the layout: "amd64", "x86", "arm64", "arm", "ppc",
	// "ppc64", "sparc" or "mips" (rust-minidump's CPU names).
	Arch string
	// Flags is context_flags: the CPU type bits and the register groups the
	// writer filled. For Breakpad's old arm64 layout, whose field is 64
	// bits wide, these are its low 32 bits.
	Flags uint32
	// OldARM64 is set for Breakpad's original arm64 layout
	// (MDRawContextARM64_Old, CPU flag 0x80000000), which Breakpad's and
	// Crashpad's non-Windows writers still produce; it is unset for
	// Microsoft's CONTEXT_ARM64 (CPU flag 0x00400000). The general
	// registers read the same from both.
	OldARM64 bool
	// Raw is the context as written (at least the layout's size), for the
	// floating-point and other state this type does not decode.
	Raw []byte

	l  *layout
	bo binary.ByteOrder
}

// Get returns the value of the register called name, zero-extended to 64
// bits, and whether the layout has such a register.
func (c *Context) Get(name string) (uint64, bool) {
	r, ok := c.l.byName[name]
	if !ok {
		return 0, false
	}
	return c.read(r), true
}

// Names returns the general-purpose register names of the layout in
// rust-minidump's order (amd64: rax rdx rcx rbx rsi rdi rbp rsp r8 … r15
// rip; arm64: x0 … x28 fp lr sp pc).
func (c *Context) Names() []string {
	names := make([]string, len(c.l.regs))
	for i, r := range c.l.regs {
		names[i] = r.name
	}
	return names
}

// PC returns the instruction pointer (rip, eip, pc, srr0).
func (c *Context) PC() uint64 { return c.read(c.l.byName[c.l.pc]) }

// SP returns the stack pointer (rsp, esp, sp, r1, g_r14).
func (c *Context) SP() uint64 { return c.read(c.l.byName[c.l.sp]) }

func (c *Context) read(r regDef) uint64 {
	b := c.Raw[r.off:]
	if r.size == 4 {
		return uint64(c.bo.Uint32(b))
	}
	return c.bo.Uint64(b)
}

type regDef struct {
	name      string
	off, size int
}

type layout struct {
	arch     string
	cpuFlag  uint32
	flagsOff int
	flags64  bool // context_flags is a u64 (arm64 old, ppc64)
	size     int
	regs     []regDef          // in Names order
	byName   map[string]regDef // regs, aliases and extra registers
	pc, sp   string
}

// CPU type bits of context_flags (the bits rust-minidump knows; others
// are ignored when matching a layout).
const (
	ctxX86      = 0x00010000
	ctxAMD64    = 0x00100000
	ctxARM      = 0x40000000
	ctxARM64    = 0x00400000
	ctxARM64Old = 0x80000000
	ctxPPC      = 0x20000000
	ctxPPC64    = 0x01000000
	ctxSPARC    = 0x10000000
	ctxMIPS     = 0x00040000
	ctxKnownCPU = ctxX86 | ctxAMD64 | ctxARM | ctxARM64 | ctxARM64Old | ctxPPC | ctxPPC64 |
		ctxSPARC | ctxMIPS | 0x00080000 /* IA64, MIPS64 */ | 0x00020000 /* Alpha */
)

func cpuBits(flags uint32) uint32 { return flags & 0xffffff00 & ctxKnownCPU }

// seq returns n registers named prefix0… at off, off+size, ….
func seq(prefix string, n, off, size int) []regDef {
	out := make([]regDef, n)
	for i := range out {
		out[i] = regDef{prefix + strconv.Itoa(i), off + i*size, size}
	}
	return out
}

func cat(parts ...[]regDef) []regDef {
	var out []regDef
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func newLayout(l layout, aliases map[string]string, extra ...regDef) *layout {
	l.byName = map[string]regDef{}
	for _, r := range l.regs {
		l.byName[r.name] = r
	}
	for alias, name := range aliases {
		r := l.byName[name]
		r.name = alias
		l.byName[alias] = r
	}
	for _, r := range extra {
		l.byName[r.name] = r
	}
	return &l
}

// Layouts follow the structures of Microsoft's winnt.h (CONTEXT for x86,
// amd64 and arm64) and Breakpad's minidump_format.h (the others, and the
// old arm64 one), packed as written to files.
var (
	layoutAMD64 = newLayout(layout{
		arch: "amd64", cpuFlag: ctxAMD64, flagsOff: 0x30, size: 1232, pc: "rip", sp: "rsp",
		regs: []regDef{
			{"rax", 0x78, 8}, {"rdx", 0x88, 8}, {"rcx", 0x80, 8}, {"rbx", 0x90, 8},
			{"rsi", 0xa8, 8}, {"rdi", 0xb0, 8}, {"rbp", 0xa0, 8}, {"rsp", 0x98, 8},
			{"r8", 0xb8, 8}, {"r9", 0xc0, 8}, {"r10", 0xc8, 8}, {"r11", 0xd0, 8},
			{"r12", 0xd8, 8}, {"r13", 0xe0, 8}, {"r14", 0xe8, 8}, {"r15", 0xf0, 8},
			{"rip", 0xf8, 8},
		},
	}, nil, regDef{"rflags", 0x44, 4}, regDef{"eflags", 0x44, 4})

	layoutX86 = newLayout(layout{
		arch: "x86", cpuFlag: ctxX86, size: 716, pc: "eip", sp: "esp",
		regs: []regDef{
			{"eip", 0xb8, 4}, {"esp", 0xc4, 4}, {"ebp", 0xb4, 4}, {"ebx", 0xa4, 4},
			{"esi", 0xa0, 4}, {"edi", 0x9c, 4}, {"eax", 0xb0, 4}, {"ecx", 0xac, 4},
			{"edx", 0xa8, 4}, {"eflags", 0xc0, 4},
		},
	}, map[string]string{"efl": "eflags"})

	layoutARM = newLayout(layout{
		arch: "arm", cpuFlag: ctxARM, size: 368, pc: "pc", sp: "sp",
		regs: cat(seq("r", 11, 4, 4), []regDef{
			{"r12", 4 + 12*4, 4}, {"fp", 4 + 11*4, 4}, {"sp", 4 + 13*4, 4},
			{"lr", 4 + 14*4, 4}, {"pc", 4 + 15*4, 4},
		}),
	}, map[string]string{"r11": "fp", "r13": "sp", "r14": "lr", "r15": "pc", "ip": "r12"},
		regDef{"cpsr", 68, 4})

	arm64Regs = cat(seq("x", 29, 8, 8), []regDef{
		{"fp", 8 + 29*8, 8}, {"lr", 8 + 30*8, 8}, {"sp", 256, 8}, {"pc", 264, 8},
	})
	arm64Aliases = map[string]string{"x29": "fp", "x30": "lr"}

	// CONTEXT_ARM64: u32 flags, u32 cpsr, x0…x30, sp, pc, then the
	// floating-point and debug registers.
	layoutARM64 = newLayout(layout{
		arch: "arm64", cpuFlag: ctxARM64, size: 912, pc: "pc", sp: "sp", regs: arm64Regs,
	}, arm64Aliases, regDef{"cpsr", 4, 4})

	// MDRawContextARM64_Old: u64 flags, x0…x30, sp, pc, u32 cpsr, then the
	// floating-point state; the general registers sit where they do in
	// CONTEXT_ARM64.
	layoutARM64Old = newLayout(layout{
		arch: "arm64", cpuFlag: ctxARM64Old, flags64: true, size: 796, pc: "pc", sp: "sp", regs: arm64Regs,
	}, arm64Aliases, regDef{"cpsr", 272, 4})

	layoutPPC = newLayout(layout{
		arch: "ppc", cpuFlag: ctxPPC, size: 1004, pc: "srr0", sp: "r1",
		regs: cat([]regDef{{"srr0", 4, 4}, {"srr1", 8, 4}}, seq("r", 32, 12, 4), []regDef{
			{"cr", 140, 4}, {"xer", 144, 4}, {"lr", 148, 4}, {"ctr", 152, 4}, {"mq", 156, 4}, {"vrsave", 160, 4},
		}),
	}, nil)

	layoutPPC64 = newLayout(layout{
		arch: "ppc64", cpuFlag: ctxPPC64, flags64: true, size: 1160, pc: "srr0", sp: "r1",
		regs: cat([]regDef{{"srr0", 8, 8}, {"srr1", 16, 8}}, seq("r", 32, 24, 8), []regDef{
			{"cr", 280, 8}, {"xer", 288, 8}, {"lr", 296, 8}, {"ctr", 304, 8}, {"vrsave", 312, 8},
		}),
	}, nil)

	layoutSPARC = newLayout(layout{
		arch: "sparc", cpuFlag: ctxSPARC, size: 584, pc: "pc", sp: "g_r14",
		regs: cat(seq("g_r", 32, 8, 8), []regDef{
			{"ccr", 264, 8}, {"pc", 272, 8}, {"npc", 280, 8}, {"y", 288, 8}, {"asi", 296, 8}, {"fprs", 304, 8},
		}),
	}, map[string]string{"sp": "g_r14"})

	layoutMIPS = newLayout(layout{
		arch: "mips", cpuFlag: ctxMIPS, size: 600, pc: "pc", sp: "sp",
		regs: cat([]regDef{
			{"gp", 8 + 28*8, 8}, {"sp", 8 + 29*8, 8}, {"fp", 8 + 30*8, 8}, {"ra", 8 + 31*8, 8}, {"pc", 312, 8},
		}, seq("s", 8, 8+16*8, 8)),
	}, nil)
)

// layoutForArch maps MINIDUMP_SYSTEM_INFO.ProcessorArchitecture to the
// context layout rust-minidump reads for it.
func layoutForArch(arch uint16) *layout {
	switch arch {
	case 0, 10: // INTEL, IA32_ON_WIN64
		return layoutX86
	case 9:
		return layoutAMD64
	case 5:
		return layoutARM
	case 12:
		return layoutARM64
	case 0x8003: // Breakpad's ARM64
		return layoutARM64Old
	case 3:
		return layoutPPC
	case 0x8002:
		return layoutPPC64
	case 0x8001:
		return layoutSPARC
	case 1:
		return layoutMIPS
	}
	return nil
}

var layoutsByFlag = []*layout{layoutX86, layoutARM, layoutARM64, layoutARM64Old, layoutPPC, layoutPPC64, layoutSPARC, layoutMIPS}

func (l *layout) flags(raw []byte, bo binary.ByteOrder) uint32 {
	if l.flags64 {
		return uint32(bo.Uint64(raw[l.flagsOff:]))
	}
	return bo.Uint32(raw[l.flagsOff:])
}

// decodeContext reads a CPU context. Like rust-minidump it picks the layout
// from the system information's CPU and then requires the CPU bits of
// context_flags to name that layout. Without system information (or with a
// CPU it has no layout for) it goes by the CPU bits alone, as Breakpad does.
func decodeContext(raw []byte, sys *SystemInfo, bo binary.ByteOrder) (*Context, error) {
	var l *layout
	if sys != nil {
		l = layoutForArch(sys.ProcessorArchitecture)
	}
	if l != nil {
		if len(raw) < l.size {
			return nil, fmt.Errorf("context of %d bytes, the %s layout needs %d", len(raw), l.name(), l.size)
		}
		if f := l.flags(raw, bo); cpuBits(f) != l.cpuFlag {
			return nil, fmt.Errorf("context_flags 0x%x do not name the %s layout of the system info CPU (CPU bits 0x%x)", f, l.name(), l.cpuFlag)
		}
	} else {
		if len(raw) >= layoutAMD64.size && cpuBits(layoutAMD64.flags(raw, bo)) == ctxAMD64 {
			l = layoutAMD64
		} else if len(raw) >= 8 {
			for _, c := range layoutsByFlag {
				if cpuBits(c.flags(raw, bo)) == c.cpuFlag {
					l = c
					break
				}
			}
		}
		if l == nil {
			return nil, fmt.Errorf("context of %d bytes has no known CPU type", len(raw))
		}
		if len(raw) < l.size {
			return nil, fmt.Errorf("context of %d bytes, the %s layout needs %d", len(raw), l.name(), l.size)
		}
	}
	return &Context{Arch: l.arch, Flags: l.flags(raw, bo), OldARM64: l == layoutARM64Old, Raw: raw, l: l, bo: bo}, nil
}

func (l *layout) name() string {
	if l == layoutARM64Old {
		return "arm64 (old Breakpad layout)"
	}
	return l.arch
}
