package coredump_test

import (
	"encoding/binary"
	"strings"

	"github.com/symflow/symflow/internal/coredump"
)

// Values of the kernel's core format (include/uapi/linux/elf.h,
// include/linux/elfcore.h), restated for building test cores.
const (
	ntPRSTATUS = 1
	ntFPREGSET = 2
	ntPRPSINFO = 3
	ntAUXV     = 6
	ntFILE     = 0x46494c45
	ntSIGINFO  = 0x53494749

	ptLoad = 1
	ptNote = 4
	pfX    = 1
	pfW    = 2
	pfR    = 4

	prstatusRegOffset = 112
	amd64RegCount     = 27
	arm64RegCount     = 34
	amd64PrstatusSize = 336
	arm64PrstatusSize = 392
	siginfoSize       = 128
	fxsaveSize        = 512
	fpsimdSize        = 528
	pageSize          = 4096

	atPHDR        = 3
	atBASE        = 7
	atENTRY       = 9
	atRANDOM      = 25
	atSYSINFOEHDR = 33
)

// Synthetic Linux cores, written here as the kernel lays them out, for
// tests that need exact control of every field and for fuzz seeds.

type synthNote struct {
	name string
	typ  uint32
	desc []byte
}

type synthSeg struct {
	vaddr, memsz uint64
	flags        uint32
	data         []byte // the dumped bytes (filesz = len(data))
}

type synthCore struct {
	machine coredump.Machine
	notes   []synthNote
	segs    []synthSeg
}

func (c synthCore) bytes() []byte {
	le := binary.LittleEndian
	phnum := 1 + len(c.segs)
	var notes []byte
	for _, n := range c.notes {
		h := make([]byte, 12)
		le.PutUint32(h, uint32(len(n.name)+1))
		le.PutUint32(h[4:], uint32(len(n.desc)))
		le.PutUint32(h[8:], n.typ)
		notes = append(notes, h...)
		notes = append(notes, pad4([]byte(n.name+"\x00"))...)
		notes = append(notes, pad4(n.desc)...)
	}
	out := make([]byte, 64+56*phnum)
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 4) // ET_CORE
	le.PutUint16(out[18:], uint16(c.machine))
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[32:], 64)
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[54:], 56)
	le.PutUint16(out[56:], uint16(phnum))
	ph := func(i int, typ, flags uint32, off, vaddr, filesz, memsz uint64) {
		p := out[64+56*i:]
		le.PutUint32(p, typ)
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 4)
	}
	ph(0, ptNote, 0, uint64(len(out)), 0, uint64(len(notes)), 0)
	out = append(out, notes...)
	for i, s := range c.segs {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		memsz := s.memsz
		if memsz == 0 {
			memsz = uint64(len(s.data))
		}
		ph(1+i, ptLoad, s.flags, uint64(len(out)), s.vaddr, uint64(len(s.data)), memsz)
		out = append(out, s.data...)
	}
	return out
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// prstatus is struct elf_prstatus for the machine with the given registers
// (in pr_reg order; missing ones are 0).
func prstatus(m coredump.Machine, tid uint32, cursig int, regs ...uint64) []byte {
	le := binary.LittleEndian
	size, n := amd64PrstatusSize, amd64RegCount
	if m == coredump.MachineARM64 {
		size, n = arm64PrstatusSize, arm64RegCount
	}
	b := make([]byte, size)
	le.PutUint32(b, uint32(cursig)) // pr_info.si_signo
	le.PutUint16(b[12:], uint16(cursig))
	le.PutUint32(b[32:], tid)
	for i := 0; i < n && i < len(regs); i++ {
		le.PutUint64(b[prstatusRegOffset+8*i:], regs[i])
	}
	return b
}

func siginfo(signo, code int, addr uint64) []byte {
	b := make([]byte, siginfoSize)
	binary.LittleEndian.PutUint32(b, uint32(signo))
	binary.LittleEndian.PutUint32(b[8:], uint32(code))
	binary.LittleEndian.PutUint64(b[16:], addr)
	return b
}

func fileNote(maps ...coredump.FileMap) []byte {
	le := binary.LittleEndian
	b := make([]byte, 16+24*len(maps))
	le.PutUint64(b, uint64(len(maps)))
	le.PutUint64(b[8:], pageSize)
	var names []string
	for i, m := range maps {
		e := b[16+24*i:]
		le.PutUint64(e, m.Start)
		le.PutUint64(e[8:], m.End)
		le.PutUint64(e[16:], m.Offset/pageSize)
		names = append(names, m.Path)
	}
	return append(b, strings.Join(names, "\x00")+"\x00"...)
}

func auxvNote(pairs ...uint64) []byte {
	b := make([]byte, 8*len(pairs)+16)
	for i, v := range pairs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b // ends with AT_NULL
}

// amd64Regs returns user_regs_struct values with the named registers set.
func amd64Regs(rip, rsp, rbp uint64) []uint64 {
	r := make([]uint64, amd64RegCount)
	for i := range r {
		r[i] = 0x1000 + uint64(i) // distinct, recognizable values
	}
	r[16], r[19], r[4] = rip, rsp, rbp
	r[17], r[20], r[18] = 0x33, 0x2b, 0x246
	return r
}

// arm64Regs returns user_pt_regs values: x0-x30, sp, pc, pstate.
func arm64Regs(pc, sp, fp, lr uint64) []uint64 {
	r := make([]uint64, arm64RegCount)
	for i := range r {
		r[i] = 0x2000 + uint64(i)
	}
	r[29], r[30], r[31], r[32], r[33] = fp, lr, sp, pc, 0x60000000
	return r
}

// seedCores are small cores covering the converter's paths, for tests and
// as fuzz seeds.
func seedCores() map[string][]byte {
	stack := make([]byte, 0x3000)
	for i := range stack {
		stack[i] = byte(i * 7)
	}
	text := make([]byte, 0x1000)
	copy(text, "\x7fELF\x02\x01\x01")
	amd := synthCore{
		machine: coredump.MachineAMD64,
		notes: []synthNote{
			{"CORE", ntPRSTATUS, prstatus(coredump.MachineAMD64, 100, 11, amd64Regs(0x400123, 0x7ffd1234, 0x7ffd1300)...)},
			{"CORE", ntPRPSINFO, make([]byte, 136)},
			{"CORE", ntSIGINFO, siginfo(11, 1, 0x10)},
			{"CORE", ntAUXV, auxvNote(atENTRY, 0x400100, atPHDR, 0x400040, atRANDOM, 0x7ffd2000)},
			{"CORE", ntFILE, fileNote(coredump.FileMap{Start: 0x400000, End: 0x401000, Path: "/nonexistent/prog"})},
			{"CORE", ntFPREGSET, make([]byte, fxsaveSize)},
			{"CORE", ntPRSTATUS, prstatus(coredump.MachineAMD64, 101, 11, amd64Regs(0x400200, 0x7ffd0800, 0)...)},
		},
		segs: []synthSeg{
			{vaddr: 0x400000, flags: pfR | pfX, data: text},
			{vaddr: 0x7ffd0000, flags: pfR | pfW, data: stack},
		},
	}
	arm := synthCore{
		machine: coredump.MachineARM64,
		notes: []synthNote{
			{"CORE", ntPRSTATUS, prstatus(coredump.MachineARM64, 200, 0, arm64Regs(0x400300, 0x5500001000, 0x5500001100, 0x400400)...)},
			{"CORE", ntPRSTATUS, prstatus(coredump.MachineARM64, 201, 7, arm64Regs(0x400310, 0x5500002ff0, 0, 0)...)},
			{"CORE", ntFPREGSET, make([]byte, fpsimdSize)},
		},
		segs: []synthSeg{
			{vaddr: 0x400000, memsz: 0x1000, flags: pfR | pfX},
			{vaddr: 0x5500000000, flags: pfR | pfW, data: stack},
		},
	}
	return map[string][]byte{"amd64": amd.bytes(), "arm64": arm.bytes()}
}
