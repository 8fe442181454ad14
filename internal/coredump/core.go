package coredump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Machine is the CPU a core file was written for (the ELF e_machine).
type Machine uint16

// The machines Convert knows.
const (
	MachineAMD64 Machine = 62  // EM_X86_64
	MachineARM64 Machine = 183 // EM_AARCH64
)

func (m Machine) String() string {
	switch m {
	case MachineAMD64:
		return "x86_64"
	case MachineARM64:
		return "aarch64"
	}
	return fmt.Sprintf("machine %d", uint16(m))
}

// Note types of Linux core files (include/uapi/linux/elf.h).
const (
	ntPRSTATUS = 1
	ntFPREGSET = 2
	ntPRPSINFO = 3
	ntAUXV     = 6
	ntFILE     = 0x46494c45
	ntSIGINFO  = 0x53494749
)

// ELF program header types and flags.
const (
	ptLoad = 1
	ptNote = 4
	pfX    = 1
	pfW    = 2
	pfR    = 4
)

// Sizes of the kernel's core structures for 64-bit targets.
const (
	prstatusRegOffset = 112 // offset of pr_reg in struct elf_prstatus
	siginfoSize       = 128 // sizeof(siginfo_t)
	amd64RegCount     = 27  // struct user_regs_struct
	arm64RegCount     = 34  // struct user_pt_regs: x0..x30, sp, pc, pstate
	amd64PrstatusSize = prstatusRegOffset + amd64RegCount*8 + 8
	arm64PrstatusSize = prstatusRegOffset + arm64RegCount*8 + 8
)

// Limits on what a core may claim, so that a hostile file cannot make
// ReadCore allocate or loop without bound. Real cores are far below them.
const (
	maxProgramHeaders = 1 << 20  // the kernel's own limit is 2^32 with PN_XNUM, but a process has at most vm.max_map_count (65530 by default) mappings
	maxNoteBytes      = 64 << 20 // all PT_NOTE segments together
	maxMappedFiles    = 1 << 20  // NT_FILE entries
)

// Core is what ReadCore learned from a Linux ELF core file: its threads, the
// memory it holds, and the process-wide notes. It keeps the ReaderAt and
// reads memory from it on demand.
type Core struct {
	Machine  Machine
	Threads  []Thread  // one per NT_PRSTATUS, in note order
	Segments []Segment // PT_LOAD headers sorted by address
	Files    []FileMap // NT_FILE entries; empty when the core has none (qemu-user cores)
	Auxv     []byte    // NT_AUXV descriptor, raw
	Psinfo   []byte    // NT_PRPSINFO descriptor, raw
	r        io.ReaderAt
}

// Thread is one NT_PRSTATUS note and the notes that belong to it.
type Thread struct {
	ID      uint32 // pr_pid: the thread's id (LWP)
	CurSig  int    // pr_cursig: the signal this thread is stopped by, if any
	PrSigno int    // pr_info.si_signo
	PrCode  int    // pr_info.si_code
	// Regs are the general registers in the kernel's order for the machine
	// (struct user_regs_struct on x86_64, struct user_pt_regs on aarch64).
	Regs []uint64
	// FPRegs is the NT_FPREGSET that followed this thread's NT_PRSTATUS (the
	// FXSAVE image on x86_64, struct user_fpsimd_state on aarch64), or nil.
	FPRegs []byte
	// Siginfo is the NT_SIGINFO that followed this thread's NT_PRSTATUS, or
	// nil. Kernel cores have one (after the first thread, the one that took
	// the signal); gdb writes one per thread; qemu-user writes none.
	Siginfo []byte
}

// Segment is one PT_LOAD program header: a mapping of the process, of which
// the first Filesz bytes are in the core at Offset.
type Segment struct {
	Vaddr, Memsz   uint64
	Offset, Filesz uint64
	Flags          uint32 // PF_R, PF_W, PF_X
}

// End is the first address past the mapping.
func (s Segment) End() uint64 { return s.Vaddr + s.Memsz }

// FileMap is one NT_FILE entry: the file mapped at [Start, End) from Offset.
type FileMap struct {
	Start, End, Offset uint64
	Path               string
}

// PC returns the thread's instruction pointer.
func (t *Thread) PC(m Machine) uint64 {
	switch m {
	case MachineAMD64:
		return t.Regs[16]
	case MachineARM64:
		return t.Regs[32]
	}
	return 0
}

// SP returns the thread's stack pointer.
func (t *Thread) SP(m Machine) uint64 {
	switch m {
	case MachineAMD64:
		return t.Regs[19]
	case MachineARM64:
		return t.Regs[31]
	}
	return 0
}

// siginfo returns si_signo, si_code and si_addr from the thread's
// NT_SIGINFO; ok is false when the thread has none.
func (t *Thread) siginfo() (signo, code int, addr uint64, ok bool) {
	if len(t.Siginfo) < 24 {
		return 0, 0, 0, false
	}
	le := binary.LittleEndian
	return int(int32(le.Uint32(t.Siginfo[0:]))), int(int32(le.Uint32(t.Siginfo[8:]))), le.Uint64(t.Siginfo[16:]), true
}

// ReadCore reads the ELF header, program headers and notes of a 64-bit
// little-endian Linux core file for x86_64 or aarch64. Memory is read
// later, on demand, through Core.ReadMemory.
func ReadCore(r io.ReaderAt) (*Core, error) {
	var eh [64]byte
	if _, err := r.ReadAt(eh[:], 0); err != nil {
		return nil, fmt.Errorf("coredump: reading the ELF header: %w", eofIsUnexpected(err))
	}
	if !bytes.Equal(eh[:4], []byte("\x7fELF")) {
		return nil, errors.New("coredump: not an ELF file (bad magic)")
	}
	if eh[4] != 2 {
		return nil, fmt.Errorf("coredump: ELF class %d: only 64-bit cores are supported", eh[4])
	}
	if eh[5] != 1 {
		return nil, fmt.Errorf("coredump: ELF data encoding %d: only little-endian cores are supported", eh[5])
	}
	le := binary.LittleEndian
	if typ := le.Uint16(eh[16:]); typ != 4 {
		return nil, fmt.Errorf("coredump: ELF type %d is not ET_CORE (4)", typ)
	}
	c := &Core{Machine: Machine(le.Uint16(eh[18:])), r: r}
	if c.Machine != MachineAMD64 && c.Machine != MachineARM64 {
		return nil, fmt.Errorf("coredump: unsupported ELF machine %d (want x86_64 or aarch64)", uint16(c.Machine))
	}
	phoff := le.Uint64(eh[32:])
	shoff := le.Uint64(eh[40:])
	phentsize := le.Uint16(eh[54:])
	phnum := uint64(le.Uint16(eh[56:]))
	if phentsize != 56 {
		return nil, fmt.Errorf("coredump: program header size %d, want 56", phentsize)
	}
	if phnum == 0xffff { // PN_XNUM: the real count is section 0's sh_info
		var sh [64]byte
		if _, err := r.ReadAt(sh[:], int64Off(shoff)); err != nil {
			return nil, fmt.Errorf("coredump: e_phnum is PN_XNUM but section header 0 at 0x%x is unreadable: %w", shoff, eofIsUnexpected(err))
		}
		phnum = uint64(le.Uint32(sh[44:]))
	}
	if phnum > maxProgramHeaders {
		return nil, fmt.Errorf("coredump: %d program headers, more than the %d supported", phnum, maxProgramHeaders)
	}
	ph, err := readFull(r, phoff, phnum*56, "program headers")
	if err != nil {
		return nil, err
	}
	var notes []Segment
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*56:]
		s := Segment{
			Flags:  le.Uint32(p[4:]),
			Offset: le.Uint64(p[8:]),
			Vaddr:  le.Uint64(p[16:]),
			Filesz: le.Uint64(p[32:]),
			Memsz:  le.Uint64(p[40:]),
		}
		switch le.Uint32(p) {
		case ptLoad:
			if s.Vaddr+s.Memsz < s.Vaddr {
				return nil, fmt.Errorf("coredump: program header %d: PT_LOAD 0x%x+0x%x wraps around the address space", i, s.Vaddr, s.Memsz)
			}
			if s.Offset+s.Filesz < s.Offset {
				return nil, fmt.Errorf("coredump: program header %d: file range 0x%x+0x%x wraps around", i, s.Offset, s.Filesz)
			}
			if s.Filesz > s.Memsz {
				s.Filesz = s.Memsz // only the mapping's own bytes are memory
			}
			c.Segments = append(c.Segments, s)
		case ptNote:
			notes = append(notes, s)
		}
	}
	slices.SortFunc(c.Segments, func(a, b Segment) int {
		switch {
		case a.Vaddr < b.Vaddr:
			return -1
		case a.Vaddr > b.Vaddr:
			return 1
		}
		return 0
	})
	if len(notes) == 0 {
		return nil, errors.New("coredump: no PT_NOTE segment: not a process core")
	}
	var total uint64
	for i, n := range notes {
		total += n.Filesz
		if total > maxNoteBytes || n.Filesz > maxNoteBytes {
			return nil, fmt.Errorf("coredump: PT_NOTE segments hold more than %d bytes", maxNoteBytes)
		}
		data, err := readFull(r, n.Offset, n.Filesz, fmt.Sprintf("PT_NOTE segment %d", i))
		if err != nil {
			return nil, err
		}
		if err := c.parseNotes(data, n.Offset); err != nil {
			return nil, err
		}
	}
	if len(c.Threads) == 0 {
		return nil, errors.New("coredump: no NT_PRSTATUS note: the core has no threads")
	}
	return c, nil
}

// parseNotes reads one PT_NOTE segment's notes. Per-thread notes
// (NT_FPREGSET, NT_SIGINFO) belong to the NT_PRSTATUS before them, as the
// kernel, gdb and qemu-user all write them.
func (c *Core) parseNotes(data []byte, fileOff uint64) error {
	le := binary.LittleEndian
	for off := uint64(0); off < uint64(len(data)); {
		if uint64(len(data))-off < 12 {
			return fmt.Errorf("coredump: note at file offset 0x%x: %d bytes left, a note header needs 12", fileOff+off, uint64(len(data))-off)
		}
		namesz := uint64(le.Uint32(data[off:]))
		descsz := uint64(le.Uint32(data[off+4:]))
		typ := le.Uint32(data[off+8:])
		nameOff := off + 12
		descOff := nameOff + align4(namesz)
		next := descOff + align4(descsz)
		if next > uint64(len(data)) {
			return fmt.Errorf("coredump: note at file offset 0x%x (type 0x%x): name %d + descriptor %d bytes run past the segment's end", fileOff+off, typ, namesz, descsz)
		}
		name := string(bytes.TrimRight(data[nameOff:nameOff+namesz], "\x00"))
		desc := data[descOff : descOff+descsz]
		if err := c.note(name, typ, desc); err != nil {
			return fmt.Errorf("coredump: note at file offset 0x%x: %w", fileOff+off, err)
		}
		off = next
	}
	return nil
}

func (c *Core) note(name string, typ uint32, desc []byte) error {
	if name != "CORE" { // LINUX notes (XSAVE state, TLS, …) and GDB's target description are not needed
		return nil
	}
	le := binary.LittleEndian
	switch typ {
	case ntPRSTATUS:
		nregs, size := amd64RegCount, amd64PrstatusSize
		if c.Machine == MachineARM64 {
			nregs, size = arm64RegCount, arm64PrstatusSize
		}
		if len(desc) != size {
			return fmt.Errorf("NT_PRSTATUS of %d bytes, want %d for %s", len(desc), size, c.Machine)
		}
		t := Thread{
			PrSigno: int(int32(le.Uint32(desc[0:]))),
			PrCode:  int(int32(le.Uint32(desc[4:]))),
			CurSig:  int(int16(le.Uint16(desc[12:]))),
			ID:      le.Uint32(desc[32:]),
			Regs:    make([]uint64, nregs),
		}
		for i := range t.Regs {
			t.Regs[i] = le.Uint64(desc[prstatusRegOffset+8*i:])
		}
		c.Threads = append(c.Threads, t)
	case ntFPREGSET:
		if len(c.Threads) == 0 {
			return errors.New("NT_FPREGSET before any NT_PRSTATUS")
		}
		c.Threads[len(c.Threads)-1].FPRegs = slices.Clone(desc)
	case ntSIGINFO:
		if len(desc) != siginfoSize {
			return fmt.Errorf("NT_SIGINFO of %d bytes, want %d", len(desc), siginfoSize)
		}
		if len(c.Threads) == 0 {
			return errors.New("NT_SIGINFO before any NT_PRSTATUS")
		}
		c.Threads[len(c.Threads)-1].Siginfo = slices.Clone(desc)
	case ntAUXV:
		if len(desc)%16 != 0 {
			return fmt.Errorf("NT_AUXV of %d bytes is not a whole number of 16-byte entries", len(desc))
		}
		c.Auxv = slices.Clone(desc)
	case ntPRPSINFO:
		c.Psinfo = slices.Clone(desc)
	case ntFILE:
		files, err := parseFileNote(desc)
		if err != nil {
			return err
		}
		c.Files = files
	}
	return nil
}

// parseFileNote decodes NT_FILE: count, page size, count (start, end,
// offset in pages) triples, then count NUL-terminated paths.
func parseFileNote(desc []byte) ([]FileMap, error) {
	le := binary.LittleEndian
	if len(desc) < 16 {
		return nil, fmt.Errorf("NT_FILE of %d bytes, shorter than its 16-byte header", len(desc))
	}
	count := le.Uint64(desc)
	page := le.Uint64(desc[8:])
	if count > maxMappedFiles || count > uint64(len(desc)-16)/24 {
		return nil, fmt.Errorf("NT_FILE claims %d mappings, more than its %d bytes can hold", count, len(desc))
	}
	if page == 0 || page&(page-1) != 0 || page > 1<<30 {
		return nil, fmt.Errorf("NT_FILE page size %d is not a power of two up to 1 GiB", page)
	}
	files := make([]FileMap, count)
	names := desc[16+24*count:]
	for i := range files {
		e := desc[16+24*uint64(i):]
		f := FileMap{Start: le.Uint64(e), End: le.Uint64(e[8:]), Offset: le.Uint64(e[16:])}
		if f.End < f.Start {
			return nil, fmt.Errorf("NT_FILE mapping %d ends (0x%x) before it starts (0x%x)", i, f.End, f.Start)
		}
		if f.Offset > ^uint64(0)/page {
			return nil, fmt.Errorf("NT_FILE mapping %d: page offset 0x%x overflows", i, f.Offset)
		}
		f.Offset *= page
		n := bytes.IndexByte(names, 0)
		if n < 0 {
			return nil, fmt.Errorf("NT_FILE: path %d of %d is missing or not NUL-terminated", i, count)
		}
		f.Path = string(names[:n])
		names = names[n+1:]
		files[i] = f
	}
	return files, nil
}

// AuxvValue returns the value of the auxiliary vector entry key (AT_*).
func (c *Core) AuxvValue(key uint64) (uint64, bool) {
	le := binary.LittleEndian
	for i := 0; i+16 <= len(c.Auxv); i += 16 {
		k := le.Uint64(c.Auxv[i:])
		if k == key {
			return le.Uint64(c.Auxv[i+8:]), true
		}
		if k == 0 { // AT_NULL ends the vector
			break
		}
	}
	return 0, false
}

// Segment returns the PT_LOAD segment containing addr.
func (c *Core) Segment(addr uint64) (Segment, bool) {
	i, _ := slices.BinarySearchFunc(c.Segments, addr, func(s Segment, a uint64) int {
		switch {
		case s.End() <= a:
			return -1
		case s.Vaddr > a:
			return 1
		}
		return 0
	})
	if i < len(c.Segments) && c.Segments[i].Vaddr <= addr && addr < c.Segments[i].End() {
		return c.Segments[i], true
	}
	return Segment{}, false
}

// Dumped returns how many bytes from addr on, up to n, the core holds
// without a gap, following segments that abut.
func (c *Core) Dumped(addr, n uint64) uint64 {
	var got uint64
	for got < n {
		s, ok := c.Segment(addr + got)
		if !ok {
			break
		}
		avail := s.Vaddr + s.Filesz
		if addr+got >= avail {
			break
		}
		got += min(avail-(addr+got), n-got)
		if addr+got < addr { // wrapped around the top of the address space
			break
		}
	}
	return got
}

// ReadMemory reads n bytes of the process's memory at addr from the core.
// It fails if any of them was not dumped.
func (c *Core) ReadMemory(addr, n uint64) ([]byte, error) {
	if got := c.Dumped(addr, n); got < n {
		return nil, fmt.Errorf("coredump: memory 0x%x+0x%x: only 0x%x bytes are in the core", addr, n, got)
	}
	out := make([]byte, 0, n)
	for uint64(len(out)) < n {
		a := addr + uint64(len(out))
		s, _ := c.Segment(a)
		k := min(s.Vaddr+s.Filesz-a, n-uint64(len(out)))
		b, err := readFull(c.r, s.Offset+(a-s.Vaddr), k, fmt.Sprintf("memory 0x%x+0x%x", a, k))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// readFull reads n bytes at off. It reads in pieces, so that a length
// claimed by a hostile header costs memory only as far as the file really
// has bytes.
func readFull(r io.ReaderAt, off, n uint64, what string) ([]byte, error) {
	if off+n < off || off > 1<<62 || n > 1<<62 {
		return nil, fmt.Errorf("coredump: %s: range 0x%x+0x%x overflows", what, off, n)
	}
	const chunk = 1 << 20
	out := make([]byte, 0, min(n, chunk))
	for uint64(len(out)) < n {
		k := min(n-uint64(len(out)), chunk)
		out = slices.Grow(out, int(k))
		buf := out[len(out) : len(out)+int(k)]
		m, err := r.ReadAt(buf, int64(off)+int64(len(out)))
		if uint64(m) < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("coredump: %s: range 0x%x+0x%x: only 0x%x bytes readable: %w", what, off, n, uint64(len(out))+uint64(m), eofIsUnexpected(err))
		}
		out = out[:len(out)+m]
	}
	return out, nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func int64Off(off uint64) int64 {
	if off > 1<<62 {
		return 1 << 62
	}
	return int64(off)
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
