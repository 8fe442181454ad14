package pe

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	stdpe "debug/pe"
)

// x64 unwind information, as the PE format documents it ("x64 exception
// handling"): the exception directory (.pdata) is an array of
// RUNTIME_FUNCTION entries sorted by address, each pointing at an
// UNWIND_INFO (.xdata) that describes the function's prologue as unwind
// codes in reverse order of execution, optionally followed by an exception
// handler or by the RUNTIME_FUNCTION of a parent whose unwind information
// applies after its own (chained unwind information).

const (
	runtimeFunctionSize = 12
	// maxChain bounds the chain of parents followed for one function;
	// real images chain once or twice.
	maxChain = 32
)

// UNWIND_INFO flags.
const (
	FlagEHandler  = 0x1 // UNW_FLAG_EHANDLER: an exception handler follows the codes
	FlagUHandler  = 0x2 // UNW_FLAG_UHANDLER: a termination handler follows the codes
	FlagChainInfo = 0x4 // UNW_FLAG_CHAININFO: a parent RUNTIME_FUNCTION follows the codes
)

// RuntimeFunction is one .pdata entry. Addresses are RVAs; End is
// exclusive.
type RuntimeFunction struct {
	Begin, End uint32
	// UnwindData is the RVA of the UNWIND_INFO. With its low bit set it is
	// instead one more than the RVA of another RUNTIME_FUNCTION whose
	// unwind information this entry shares (an indirect entry).
	UnwindData uint32
}

// Contains reports whether rva is in [Begin, End).
func (rf RuntimeFunction) Contains(rva uint32) bool { return rva >= rf.Begin && rva < rf.End }

// Reg is an x64 integer register by its number in unwind codes and
// CONTEXT: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8…R15. For
// SAVE_XMM128 codes the same number names an XMM register.
type Reg uint8

// Integer registers.
const (
	RAX Reg = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

var regNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// String is the register's lower-case name ("rbx", "r12").
func (r Reg) String() string {
	if int(r) < len(regNames) {
		return regNames[r]
	}
	return fmt.Sprintf("reg%d", uint8(r))
}

// UnwindOp is an unwind code's operation (UWOP_*).
type UnwindOp uint8

// Unwind operations.
const (
	OpPushNonvol    UnwindOp = 0  // push reg
	OpAllocLarge    UnwindOp = 1  // sub rsp, n (n in the next one or two slots)
	OpAllocSmall    UnwindOp = 2  // sub rsp, 8..128
	OpSetFPReg      UnwindOp = 3  // lea fp, [rsp+FrameOffset]
	OpSaveNonvol    UnwindOp = 4  // mov [base+n*8], reg
	OpSaveNonvolFar UnwindOp = 5  // mov [base+n], reg (32-bit n)
	OpEpilog        UnwindOp = 6  // version 2: describes an epilogue; no effect on unwinding
	OpSpareCode     UnwindOp = 7  // reserved
	OpSaveXMM128    UnwindOp = 8  // movaps [base+n*16], xmm
	OpSaveXMM128Far UnwindOp = 9  // movaps [base+n], xmm (32-bit n)
	OpPushMachFrame UnwindOp = 10 // the CPU pushed a machine frame (interrupt or exception)
	numOps                   = 11
)

var opNames = [numOps]string{"PUSH_NONVOL", "ALLOC_LARGE", "ALLOC_SMALL", "SET_FPREG",
	"SAVE_NONVOL", "SAVE_NONVOL_FAR", "EPILOG", "SPARE_CODE", "SAVE_XMM128", "SAVE_XMM128_FAR", "PUSH_MACHFRAME"}

// String is the operation's name without the UWOP_ prefix, as
// llvm-readobj prints it.
func (op UnwindOp) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return fmt.Sprintf("UWOP_%d", uint8(op))
}

// UnwindCode is one decoded unwind code (with the slots it spans).
type UnwindCode struct {
	// CodeOffset is the offset from the function's start of the end of
	// the prologue instruction the code describes.
	CodeOffset uint8
	Op         UnwindOp
	// OpInfo is the raw 4-bit operation info.
	OpInfo uint8
	// Reg is the register pushed or saved (an XMM number for
	// SAVE_XMM128), and the frame register for SET_FPREG.
	Reg Reg
	// Value is in bytes: the allocation size (ALLOC_*), the save slot's
	// offset from the frame base (SAVE_*), the frame register's offset
	// from RSP (SET_FPREG). For PUSH_MACHFRAME it is 1 when the machine
	// frame includes an error code, else 0.
	Value uint32
	// Slots is the number of 16-bit slots the code occupies.
	Slots int
}

// String prints the code as llvm-readobj --unwind does, without the
// offset ("SAVE_NONVOL reg=RBX, offset=0x28").
func (c UnwindCode) String() string {
	reg := strings.ToUpper(c.Reg.String())
	switch c.Op {
	case OpPushNonvol:
		return fmt.Sprintf("PUSH_NONVOL reg=%s", reg)
	case OpAllocLarge, OpAllocSmall:
		return fmt.Sprintf("%s size=%d", c.Op, c.Value)
	case OpSetFPReg:
		return fmt.Sprintf("SET_FPREG reg=%s, offset=0x%X", reg, c.Value)
	case OpSaveNonvol, OpSaveNonvolFar:
		return fmt.Sprintf("%s reg=%s, offset=0x%X", c.Op, reg, c.Value)
	case OpSaveXMM128, OpSaveXMM128Far:
		return fmt.Sprintf("%s reg=XMM%d, offset=0x%X", c.Op, uint8(c.Reg), c.Value)
	case OpPushMachFrame:
		if c.Value != 0 {
			return "PUSH_MACHFRAME errcode=yes"
		}
		return "PUSH_MACHFRAME errcode=no"
	}
	return c.Op.String()
}

// UnwindInfo is a decoded UNWIND_INFO.
type UnwindInfo struct {
	// RVA is where the UNWIND_INFO is.
	RVA        uint32
	Version    uint8 // 1, or 2 for images that describe epilogues
	Flags      uint8 // FlagEHandler, FlagUHandler, FlagChainInfo
	PrologSize uint8
	// FrameRegister is the frame pointer register; HasFrameRegister is
	// false when the function does not use one (the field is 0).
	FrameRegister    Reg
	HasFrameRegister bool
	// FrameOffset is the scaled offset (bytes, a multiple of 16) of the
	// frame register from RSP when SET_FPREG executed.
	FrameOffset uint32
	// CountOfCodes is the number of 16-bit slots the codes occupy.
	CountOfCodes uint8
	// Codes are the decoded codes, in the file's order (reverse order of
	// execution).
	Codes []UnwindCode
	// Handler is the RVA of the language-specific handler when Flags has
	// FlagEHandler or FlagUHandler (and not FlagChainInfo).
	Handler uint32
	// Chained is the parent function entry when Flags has FlagChainInfo.
	Chained *RuntimeFunction
}

// readExceptionDirectory reads the .pdata entries. An entry of zeros (a
// linker's padding) is skipped, as symbolic skips it.
func (f *File) readExceptionDirectory(d stdpe.DataDirectory, full bool) error {
	n := d.Size / runtimeFunctionSize
	b, ok := f.span(d.VirtualAddress, n*runtimeFunctionSize)
	if !ok {
		return malformed("exception directory", "RVA %#x (%d bytes) is outside the file's sections", d.VirtualAddress, d.Size)
	}
	n = uint32(len(b) / runtimeFunctionSize)
	f.Features.HasUnwindInfo = n > 0 && !f.Stub
	if !full || f.Stub {
		return nil
	}
	le := binary.LittleEndian
	f.functions = make([]RuntimeFunction, 0, n)
	for i := uint32(0); i < n; i++ {
		e := b[i*runtimeFunctionSize:]
		rf := RuntimeFunction{Begin: le.Uint32(e), End: le.Uint32(e[4:]), UnwindData: le.Uint32(e[8:])}
		if rf == (RuntimeFunction{}) {
			continue
		}
		f.functions = append(f.functions, rf)
	}
	// Linkers sort .pdata; a lookup must not depend on it.
	f.sorted = f.functions
	if !sort.SliceIsSorted(f.functions, func(i, j int) bool { return f.functions[i].Begin < f.functions[j].Begin }) {
		f.sorted = append([]RuntimeFunction(nil), f.functions...)
		sort.SliceStable(f.sorted, func(i, j int) bool { return f.sorted[i].Begin < f.sorted[j].Begin })
	}
	return nil
}

// RuntimeFunctions returns the .pdata entries in file order (entries of
// zeros left out). The slice must not be modified.
func (f *File) RuntimeFunctions() []RuntimeFunction { return f.functions }

// FunctionAt returns the .pdata entry covering rva: the entry with the
// greatest Begin not above rva, when rva is before its End.
func (f *File) FunctionAt(rva uint32) (RuntimeFunction, bool) {
	i := sort.Search(len(f.sorted), func(i int) bool { return f.sorted[i].Begin > rva }) - 1
	if i < 0 || !f.sorted[i].Contains(rva) {
		return RuntimeFunction{}, false
	}
	return f.sorted[i], true
}

// resolve follows an indirect entry (UnwindData with the low bit set) to
// the entry it points at, once.
func (f *File) resolve(rf RuntimeFunction) (RuntimeFunction, error) {
	if rf.UnwindData&1 == 0 {
		return rf, nil
	}
	b, ok := f.bytesAt(rf.UnwindData-1, runtimeFunctionSize)
	if !ok {
		return rf, malformed(fmt.Sprintf("RUNTIME_FUNCTION %#x-%#x", rf.Begin, rf.End), "indirect entry at RVA %#x is outside the file's sections", rf.UnwindData-1)
	}
	le := binary.LittleEndian
	to := RuntimeFunction{Begin: le.Uint32(b), End: le.Uint32(b[4:]), UnwindData: le.Uint32(b[8:])}
	if to.UnwindData&1 != 0 {
		return rf, malformed(fmt.Sprintf("RUNTIME_FUNCTION %#x-%#x", rf.Begin, rf.End), "indirect entry points at another indirect entry")
	}
	return to, nil
}

// UnwindInfo decodes the UNWIND_INFO of a function entry (following an
// indirect entry). It does not follow the chain; see UnwindInfo.Chained.
func (f *File) UnwindInfo(rf RuntimeFunction) (*UnwindInfo, error) {
	rf, err := f.resolve(rf)
	if err != nil {
		return nil, err
	}
	return f.decodeUnwindInfo(rf.UnwindData)
}

func (f *File) decodeUnwindInfo(rva uint32) (*UnwindInfo, error) {
	what := fmt.Sprintf("UNWIND_INFO at RVA %#x", rva)
	hdr, ok := f.bytesAt(rva, 4)
	if !ok {
		return nil, malformed(what, "outside the file's sections")
	}
	ui := &UnwindInfo{
		RVA:          rva,
		Version:      hdr[0] & 7,
		Flags:        hdr[0] >> 3,
		PrologSize:   hdr[1],
		CountOfCodes: hdr[2],
		FrameOffset:  uint32(hdr[3]>>4) * 16,
	}
	ui.FrameRegister = Reg(hdr[3] & 0xf)
	ui.HasFrameRegister = ui.FrameRegister != 0
	if ui.Version != 1 && ui.Version != 2 {
		return nil, malformed(what, "version %d (only 1 and 2 exist)", ui.Version)
	}
	n := uint32(ui.CountOfCodes)
	var slots []byte
	if n > 0 {
		slots, ok = f.bytesAt(rva+4, n*2)
	}
	if !ok {
		return nil, malformed(what, "%d unwind code slots run outside the file's sections", n)
	}
	le := binary.LittleEndian
	slot := func(i uint32) uint16 { return le.Uint16(slots[i*2:]) }
	for i := uint32(0); i < n; {
		c := UnwindCode{CodeOffset: slots[i*2], Op: UnwindOp(slots[i*2+1] & 0xf), OpInfo: slots[i*2+1] >> 4}
		c.Reg = Reg(c.OpInfo)
		c.Slots = 1
		switch c.Op {
		case OpPushNonvol, OpPushMachFrame:
			if c.Op == OpPushMachFrame {
				c.Reg = 0
				if c.OpInfo > 1 {
					return nil, malformed(what, "code %d: PUSH_MACHFRAME with info %d (0 or 1)", i, c.OpInfo)
				}
				c.Value = uint32(c.OpInfo)
			}
		case OpAllocSmall:
			c.Reg = 0
			c.Value = uint32(c.OpInfo)*8 + 8
		case OpSetFPReg:
			c.Reg = ui.FrameRegister
			c.Value = ui.FrameOffset
		case OpAllocLarge:
			c.Reg = 0
			switch c.OpInfo {
			case 0:
				c.Slots = 2
			case 1:
				c.Slots = 3
			default:
				return nil, malformed(what, "code %d: ALLOC_LARGE with info %d (0 or 1)", i, c.OpInfo)
			}
		case OpSaveNonvol, OpSaveXMM128, OpEpilog:
			c.Slots = 2
		case OpSaveNonvolFar, OpSaveXMM128Far, OpSpareCode:
			c.Slots = 3
		default:
			return nil, malformed(what, "code %d: unknown operation %d", i, c.Op)
		}
		if i+uint32(c.Slots) > n {
			return nil, malformed(what, "code %d: %s needs %d slots, %d are left", i, c.Op, c.Slots, n-i)
		}
		switch {
		case c.Op == OpAllocLarge && c.OpInfo == 0:
			c.Value = uint32(slot(i+1)) * 8
		case c.Op == OpAllocLarge:
			c.Value = uint32(slot(i+1)) | uint32(slot(i+2))<<16
		case c.Op == OpSaveNonvol:
			c.Value = uint32(slot(i+1)) * 8
		case c.Op == OpSaveXMM128:
			c.Value = uint32(slot(i+1)) * 16
		case c.Op == OpSaveNonvolFar || c.Op == OpSaveXMM128Far:
			c.Value = uint32(slot(i+1)) | uint32(slot(i+2))<<16
		case c.Op == OpEpilog && ui.Version != 2:
			return nil, malformed(what, "code %d: EPILOG in a version %d UNWIND_INFO (version 2 only)", i, ui.Version)
		case c.Op == OpSpareCode:
			return nil, malformed(what, "code %d: reserved operation SPARE_CODE", i)
		}
		ui.Codes = append(ui.Codes, c)
		i += uint32(c.Slots)
	}
	// What follows the codes is aligned to 4 bytes.
	tail := rva + 4 + (n+n&1)*2
	switch {
	case ui.Flags&FlagChainInfo != 0:
		b, ok := f.bytesAt(tail, runtimeFunctionSize)
		if !ok {
			return nil, malformed(what, "chained RUNTIME_FUNCTION at RVA %#x is outside the file's sections", tail)
		}
		ui.Chained = &RuntimeFunction{Begin: le.Uint32(b), End: le.Uint32(b[4:]), UnwindData: le.Uint32(b[8:])}
	case ui.Flags&(FlagEHandler|FlagUHandler) != 0:
		b, ok := f.bytesAt(tail, 4)
		if !ok {
			return nil, malformed(what, "handler RVA at %#x is outside the file's sections", tail)
		}
		ui.Handler = le.Uint32(b)
	}
	return ui, nil
}
