// Package coredump turns a Linux ELF core file into a minidump, the way
// Breakpad's core2md (its Linux minidump writer over a core) would: so that
// a real crash, captured by the kernel, by gdb's generate-core-file or by
// qemu-user, can be walked by minidump processors (Breakpad's
// minidump_stackwalk, rust-minidump, Symbolicator).
//
// Cores for x86_64 and aarch64 are supported. The dump holds, in Breakpad's
// stream order: ThreadList (one thread per NT_PRSTATUS, its context and up
// to 32 KiB of stack from its page-aligned stack pointer), ModuleList (one
// module per mapped file, with its GNU build ID), MemoryList (the stacks,
// and 256 bytes around the crashing instruction as Breakpad's in-process
// writer copies them), Exception (the signal), SystemInfo, LinuxAuxv and
// LinuxMaps. What a core does not record (the kernel's uname, the CPU
// count) comes from Options.
//
// The core is untrusted input: every offset, size and count in it is
// checked before use, and allocations are bounded by what the file holds.
package coredump

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Options say what a core file does not: where the mapped files can be
// read now, what machine the process ran on, and how much to copy.
type Options struct {
	// Time is the dump's creation time (the header's time_date_stamp).
	// Zero writes 0.
	Time time.Time

	// Uname is the kernel's uname, which Breakpad writes as the CSD version
	// (sysname, release, version and machine joined by spaces). Cores do
	// not record it; when empty, "Linux" and the core's machine are written.
	Uname Uname

	// NumberOfProcessors, ProcessorLevel and ProcessorRevision fill
	// SystemInfo (Breakpad reads them from /proc/cpuinfo; on x86 level is
	// the CPU family, revision model<<8|stepping). Zero means unknown.
	NumberOfProcessors int
	ProcessorLevel     uint16
	ProcessorRevision  uint16
	// CPUVendor is the x86 vendor string (e.g. "GenuineIntel"); ignored for
	// ARM64.
	CPUVendor string

	// Executables are files of the crashed process to read module
	// identifiers from when the path a core names is not readable here (a
	// file with the same path or base name is used). For a core without
	// NT_FILE (qemu-user's), they are also the only modules: the main
	// program is placed by AT_PHDR and AT_ENTRY, the dynamic loader by
	// AT_BASE, and a file placed by neither is an error.
	Executables []string

	// PathMap, if set, says where a file the core names can be read now
	// ("" for nowhere) for the files not in Executables. Without it, a file
	// is read at the path the core names, if it is a regular file there.
	PathMap func(path string) string

	// ModernARM64 writes ARM64 threads as MDRawContextARM64 with processor
	// architecture 12 (PROCESSOR_ARCHITECTURE_ARM64, as Crashpad and Windows
	// do) instead of Breakpad's Linux writer's MDRawContextARM64_Old with
	// architecture 0x8003.
	ModernARM64 bool

	// NoInstructionMemory leaves out the 256 bytes around the crashing
	// thread's instruction pointer that Breakpad's in-process writer
	// copies (its core2md, working post mortem, does not).
	NoInstructionMemory bool

	// RegisterMemory, if positive, also copies that many bytes on either
	// side of every general register of every thread that points into
	// memory the core holds (as Crashpad does for the crashing thread),
	// not overlapping what is already copied.
	RegisterMemory int
}

// Uname is the kernel's struct utsname, as uname(2) reports it.
type Uname struct {
	Sysname, Release, Version, Machine string
}

// Breakpad's thread stacks: from the stack pointer rounded down to its page,
// at most this many bytes toward the end of the stack's mapping
// (LinuxDumper::GetStackInfo).
const stackCapture = 32 << 10

// instructionMemory is how much Breakpad copies around the crashing
// instruction: half before, half after, within its mapping.
const instructionMemory = 256

// maxThreads bounds the ThreadList; Linux's own default limit is lower.
const maxThreads = 1 << 16

// maxRegisterMemory bounds Options.RegisterMemory per register.
const maxRegisterMemory = 64 << 10

// Convert reads a Linux ELF core file and returns the minidump Breakpad's
// Linux writer would have written for the process at the moment it was
// captured.
func Convert(core io.ReaderAt, opts Options) ([]byte, error) {
	c, err := ReadCore(core)
	if err != nil {
		return nil, err
	}
	return convert(c, &opts)
}

// Write converts core like Convert and writes the minidump to w.
func Write(w io.Writer, core io.ReaderAt, opts Options) error {
	b, err := Convert(core, opts)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// CrashingThread returns the index in c.Threads of the thread that took
// the signal: the first whose own NT_SIGINFO names the signal in its
// pr_cursig (gdb gives every thread the inferior's stop signal in
// pr_cursig, and each thread the siginfo it really got), else the first
// whose pr_cursig is set (the kernel writes the dumping thread first;
// qemu-user sets it only for the crashing one), else the first thread.
func (c *Core) CrashingThread() int {
	for i := range c.Threads {
		if signo, _, _, ok := c.Threads[i].siginfo(); ok && signo != 0 && signo == c.Threads[i].CurSig {
			return i
		}
	}
	for i := range c.Threads {
		if c.Threads[i].CurSig != 0 {
			return i
		}
	}
	return 0
}

// Signal describes the signal that ended the process: number, si_code,
// and the fault address for the signals that have one (SIGSEGV, SIGBUS,
// SIGFPE, SIGILL, SIGTRAP, SIGSYS), which is 0 when the core has no
// NT_SIGINFO for the thread (qemu-user cores).
type Signal struct {
	Number, Code int
	Addr         uint64
	// Info is the crashing thread's raw siginfo_t, or nil.
	Info []byte
}

// Signal returns the crashing thread's signal.
func (c *Core) Signal() Signal {
	t := &c.Threads[c.CrashingThread()]
	var s Signal
	if signo, code, addr, ok := t.siginfo(); ok && signo != 0 {
		s = Signal{Number: signo, Code: code, Info: t.Siginfo}
		if hasFaultAddr(signo) {
			s.Addr = addr
		}
		return s
	}
	s.Number, s.Code = t.PrSigno, t.PrCode
	if s.Number == 0 {
		s.Number = t.CurSig
	}
	return s
}

// Linux signal numbers whose siginfo carries si_addr.
func hasFaultAddr(signo int) bool {
	switch signo {
	case 4, 5, 7, 8, 11, 31: // SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS
		return true
	}
	return false
}

func convert(c *Core, opts *Options) ([]byte, error) {
	if opts.RegisterMemory < 0 || opts.RegisterMemory > maxRegisterMemory {
		return nil, fmt.Errorf("coredump: RegisterMemory %d outside 0..%d", opts.RegisterMemory, maxRegisterMemory)
	}
	if len(c.Threads) > maxThreads {
		return nil, fmt.Errorf("coredump: %d threads, more than the %d supported", len(c.Threads), maxThreads)
	}
	files := slices.Clone(c.Files)
	if len(files) == 0 && len(opts.Executables) > 0 {
		placed, err := placeExecutables(c, opts.Executables)
		if err != nil {
			return nil, err
		}
		files = placed
	}
	slices.SortStableFunc(files, func(a, b FileMap) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	s := &space{core: c, files: files, open: resolver(opts), cache: map[string]*os.File{}}
	defer s.close()

	w := &dumpWriter{}
	const streams = 7
	if _, err := w.alloc(headerSize + dirEntrySize*streams); err != nil {
		return nil, err
	}
	mem := &memoryList{}
	crash := c.CrashingThread()

	// ThreadList: the list, then each thread's stack, the crashing
	// thread's instruction bytes, and its context.
	list, err := w.alloc(4 + threadSize*len(c.Threads))
	if err != nil {
		return nil, err
	}
	le.PutUint32(w.at(list), uint32(len(c.Threads)))
	var crashContext location
	for i := range c.Threads {
		t := &c.Threads[i]
		sp := t.SP(c.Machine)
		stack := memDesc{start: sp}
		if start, n := stackRange(c, sp); n > 0 {
			if d, ok := mem.find(start, start+n); ok {
				// Another thread's stack copy holds this one (threads do not
				// share stacks, but a hostile core could say they do).
				stack = memDesc{start: start, loc: location{size: uint32(n), rva: d.loc.rva + uint32(start-d.start)}}
			} else {
				data, err := c.ReadMemory(start, n)
				if err != nil {
					return nil, fmt.Errorf("coredump: thread %d stack: %w", t.ID, err)
				}
				loc, err := w.write(data)
				if err != nil {
					return nil, err
				}
				stack = memDesc{start: start, loc: loc}
				// List only the part no earlier range holds.
				if lo, hi := mem.clip(start, start+n); lo < hi {
					mem.add(memDesc{start: lo, loc: location{size: uint32(hi - lo), rva: loc.rva + uint32(lo-start)}})
				}
			}
		} else {
			stack.loc.rva = uint32(len(w.buf)) // Breakpad's empty stack: size 0 at the current position
		}
		if i == crash && !opts.NoInstructionMemory {
			if err := copyInstructionMemory(w, s, mem, t.PC(c.Machine)); err != nil {
				return nil, err
			}
		}
		ctx, err := w.write(threadContext(c.Machine, t, opts.ModernARM64))
		if err != nil {
			return nil, err
		}
		if i == crash {
			crashContext = ctx
		}
		e := w.at(list)[4+threadSize*i:]
		le.PutUint32(e, t.ID)
		putMemDesc(e[24:], stack)
		putLocation(e[40:], ctx)
	}
	w.addStream(streamThreadList, list)
	if opts.RegisterMemory > 0 {
		for i := range c.Threads {
			if err := copyRegisterMemory(w, c, mem, &c.Threads[i], uint64(opts.RegisterMemory)); err != nil {
				return nil, err
			}
		}
	}

	// ModuleList.
	mods := findModules(s)
	ml, err := w.alloc(4 + moduleSize*len(mods))
	if err != nil {
		return nil, err
	}
	le.PutUint32(w.at(ml), uint32(len(mods)))
	for i, m := range mods {
		var cv location
		if m.id != nil {
			rec := make([]byte, 4+len(m.id))
			le.PutUint32(rec, cvSignatureELF)
			copy(rec[4:], m.id)
			if cv, err = w.write(rec); err != nil {
				return nil, err
			}
		}
		name, err := w.writeString(m.name)
		if err != nil {
			return nil, err
		}
		e := w.at(ml)[4+moduleSize*i:]
		le.PutUint64(e, m.base)
		le.PutUint32(e[8:], uint32(min(m.end-m.base, 0xffffffff)))
		le.PutUint32(e[20:], name.rva)
		putLocation(e[76:], cv) // after base, size, checksum, time stamp, name and the 52-byte VS_FIXEDFILEINFO
	}
	w.addStream(streamModuleList, ml)

	// MemoryList.
	mlist, err := w.alloc(4 + memDescSize*len(mem.descs))
	if err != nil {
		return nil, err
	}
	le.PutUint32(w.at(mlist), uint32(len(mem.descs)))
	for i, d := range mem.descs {
		putMemDesc(w.at(mlist)[4+memDescSize*i:], d)
	}
	w.addStream(streamMemoryList, mlist)

	// Exception.
	exc, err := w.alloc(exceptionSize)
	if err != nil {
		return nil, err
	}
	sig := c.Signal()
	e := w.at(exc)
	le.PutUint32(e, c.Threads[crash].ID)
	le.PutUint32(e[8:], uint32(sig.Number))
	le.PutUint32(e[12:], uint32(sig.Code))
	le.PutUint64(e[24:], sig.Addr)
	if params := exceptionParams(sig); len(params) > 0 {
		le.PutUint32(e[32:], uint32(len(params)))
		for i, p := range params {
			le.PutUint64(e[40+8*i:], p)
		}
	}
	putLocation(e[160:], crashContext)
	w.addStream(streamException, exc)

	// SystemInfo.
	si, err := w.alloc(systemInfoSize)
	if err != nil {
		return nil, err
	}
	csd, err := w.writeString(csdVersion(c, opts))
	if err != nil {
		return nil, err
	}
	b := w.at(si)
	switch {
	case c.Machine == MachineAMD64:
		le.PutUint16(b, archAMD64)
		copy(b[32:44], opts.CPUVendor)
	case opts.ModernARM64:
		le.PutUint16(b, archARM64)
	default:
		le.PutUint16(b, archARM64Old)
	}
	le.PutUint16(b[2:], opts.ProcessorLevel)
	le.PutUint16(b[4:], opts.ProcessorRevision)
	b[6] = uint8(min(max(opts.NumberOfProcessors, 0), 255))
	le.PutUint32(b[20:], platformLinux)
	le.PutUint32(b[24:], csd.rva)
	w.addStream(streamSystemInfo, si)

	// LinuxAuxv and LinuxMaps.
	auxv, err := w.write(c.Auxv)
	if err != nil {
		return nil, err
	}
	w.addStream(streamLinuxAuxv, auxv)
	maps, err := w.write([]byte(mapsText(s)))
	if err != nil {
		return nil, err
	}
	w.addStream(streamLinuxMaps, maps)

	var stamp uint32
	if !opts.Time.IsZero() {
		stamp = uint32(opts.Time.Unix())
	}
	return w.finish(stamp), nil
}

// exceptionParams are what Breakpad's core dumper puts in
// exception_information: sender pid and uid for SIGKILL, syscall number
// and audit arch for SIGSYS.
func exceptionParams(sig Signal) []uint64 {
	if len(sig.Info) < 28 {
		return nil
	}
	switch sig.Number {
	case 9: // SIGKILL: si_pid, si_uid
		return []uint64{uint64(int64(int32(le.Uint32(sig.Info[16:])))), uint64(le.Uint32(sig.Info[20:]))}
	case 31: // SIGSYS: si_syscall, si_arch (after si_call_addr)
		return []uint64{uint64(int64(int32(le.Uint32(sig.Info[24:])))), uint64(le.Uint32(sig.Info[28:]))}
	}
	return nil
}

func csdVersion(c *Core, opts *Options) string {
	u := opts.Uname
	if u == (Uname{}) {
		u = Uname{Sysname: "Linux", Machine: c.Machine.String()}
	}
	var parts []string
	for _, p := range []string{u.Sysname, u.Release, u.Version, u.Machine} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

func threadContext(m Machine, t *Thread, modern bool) []byte {
	switch {
	case m == MachineAMD64:
		return contextAMD64(t)
	case modern:
		return contextARM64(t)
	}
	return contextARM64Old(t)
}

// stackRange is Breakpad's choice of stack to copy: from sp rounded down to
// its page, up to 32 KiB, not past the end of the mapping holding it; then
// only as much as the core holds.
func stackRange(c *Core, sp uint64) (uint64, uint64) {
	start := sp &^ (pageSize - 1)
	seg, ok := c.Segment(start)
	if !ok {
		return 0, 0
	}
	n := min(seg.End()-start, stackCapture)
	return start, c.Dumped(start, n)
}

// copyInstructionMemory copies up to 128 bytes either side of pc, within
// its mapping, from the core or else from the mapped file.
func copyInstructionMemory(w *dumpWriter, s *space, mem *memoryList, pc uint64) error {
	seg, ok := s.core.Segment(pc)
	if !ok {
		return nil
	}
	lo := max(seg.Vaddr, pc-min(pc, instructionMemory/2))
	hi := min(seg.End(), pc+instructionMemory/2)
	if pc+instructionMemory/2 < pc {
		hi = seg.End()
	}
	lo, hi = mem.clip(lo, hi)
	if hi <= lo {
		return nil
	}
	data, err := s.read(lo, hi-lo)
	if err != nil {
		return nil // not in the core and no file: Breakpad would copy nothing useful either
	}
	loc, err := w.write(data)
	if err != nil {
		return err
	}
	mem.add(memDesc{start: lo, loc: loc})
	return nil
}

// copyRegisterMemory copies n bytes either side of every general register
// that points into memory the core holds.
func copyRegisterMemory(w *dumpWriter, c *Core, mem *memoryList, t *Thread, n uint64) error {
	for _, v := range t.Regs {
		seg, ok := c.Segment(v)
		if !ok || v >= seg.Vaddr+seg.Filesz {
			continue
		}
		lo := max(seg.Vaddr, v-min(v, n))
		hi := min(seg.Vaddr+seg.Filesz, v+min(n, ^uint64(0)-v))
		lo, hi = mem.clip(lo, hi)
		if hi <= lo {
			continue
		}
		data, err := c.ReadMemory(lo, hi-lo)
		if err != nil {
			return err
		}
		loc, err := w.write(data)
		if err != nil {
			return err
		}
		mem.add(memDesc{start: lo, loc: loc})
	}
	return nil
}

// memoryList collects the MemoryList's ranges, sorted and disjoint.
// Minidump readers reject overlapping ranges (Breakpad's range map refuses
// the whole list), so a range is clipped to what the listed ones leave.
type memoryList struct{ descs []memDesc }

func (d memDesc) end() uint64 { return d.start + uint64(d.loc.size) }

// add lists d, which must not overlap a listed range (clip it first).
func (m *memoryList) add(d memDesc) {
	i, _ := slices.BinarySearchFunc(m.descs, d.start, func(e memDesc, a uint64) int {
		switch {
		case e.start < a:
			return -1
		case e.start > a:
			return 1
		}
		return 0
	})
	m.descs = slices.Insert(m.descs, i, d)
}

// clip shrinks [lo, hi) to its first part that no listed range covers.
func (m *memoryList) clip(lo, hi uint64) (uint64, uint64) {
	// The first listed range ending after lo.
	i, _ := slices.BinarySearchFunc(m.descs, lo, func(e memDesc, a uint64) int {
		if e.end() <= a {
			return -1
		}
		return 1
	})
	for ; i < len(m.descs) && lo < hi; i++ {
		d := m.descs[i]
		if d.start > lo {
			hi = min(hi, d.start)
			break
		}
		lo = max(lo, d.end()) // d covers lo: skip past it
	}
	return lo, hi
}

// find returns a listed range holding all of [lo, hi), to share its bytes.
func (m *memoryList) find(lo, hi uint64) (memDesc, bool) {
	i, _ := slices.BinarySearchFunc(m.descs, lo, func(e memDesc, a uint64) int {
		if e.end() <= a {
			return -1
		}
		return 1
	})
	if i < len(m.descs) && m.descs[i].start <= lo && hi <= m.descs[i].end() {
		return m.descs[i], true
	}
	return memDesc{}, false
}
