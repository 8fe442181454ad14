package coredump

// CPU contexts, laid out as Breakpad's MDRawContextAMD64,
// MDRawContextARM64_Old and MDRawContextARM64, filled from the registers
// of NT_PRSTATUS and NT_FPREGSET the way Breakpad's Linux writer fills them
// from ptrace (client/linux/dump_writer_common/thread_info.cc).

const (
	contextAMD64Size = 1232
	// MD_CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS | FLOATING_POINT:
	// Breakpad's MD_CONTEXT_AMD64_FULL | MD_CONTEXT_AMD64_SEGMENTS.
	contextAMD64Flags = 0x0010000f

	contextARM64OldSize = 796 // #pragma pack(4): no padding anywhere
	// MD_CONTEXT_ARM64_FULL_OLD: INTEGER_OLD | FLOATING_POINT_OLD.
	contextARM64OldFlags = 0x80000006

	contextARM64Size = 912
	// MD_CONTEXT_ARM64_FULL: CONTROL | INTEGER | FLOATING_POINT.
	contextARM64Flags = 0x00400007

	fxsaveSize        = 512 // x86_64 NT_FPREGSET: struct user_fpregs_struct, the FXSAVE image
	fpsimdSize        = 528 // aarch64 NT_FPREGSET: struct user_fpsimd_state
	amd64FltSaveStart = 0x100
)

// amd64GPRs maps MDRawContextAMD64 offsets of the 64-bit general registers
// to their index in struct user_regs_struct.
var amd64GPRs = []struct{ off, reg int }{
	{0x78, 10}, // rax
	{0x80, 11}, // rcx
	{0x88, 12}, // rdx
	{0x90, 5},  // rbx
	{0x98, 19}, // rsp
	{0xa0, 4},  // rbp
	{0xa8, 13}, // rsi
	{0xb0, 14}, // rdi
	{0xb8, 9},  // r8
	{0xc0, 8},  // r9
	{0xc8, 7},  // r10
	{0xd0, 6},  // r11
	{0xd8, 3},  // r12
	{0xe0, 2},  // r13
	{0xe8, 1},  // r14
	{0xf0, 0},  // r15
	{0xf8, 16}, // rip
}

func contextAMD64(t *Thread) []byte {
	b := make([]byte, contextAMD64Size)
	le.PutUint32(b[0x30:], contextAMD64Flags)
	r := t.Regs
	le.PutUint16(b[0x38:], uint16(r[17])) // cs
	le.PutUint16(b[0x3a:], uint16(r[23])) // ds
	le.PutUint16(b[0x3c:], uint16(r[24])) // es
	le.PutUint16(b[0x3e:], uint16(r[25])) // fs
	le.PutUint16(b[0x40:], uint16(r[26])) // gs
	le.PutUint16(b[0x42:], uint16(r[20])) // ss
	le.PutUint32(b[0x44:], uint32(r[18])) // eflags
	for _, g := range amd64GPRs {
		le.PutUint64(b[g.off:], r[g.reg])
	}
	if len(t.FPRegs) == fxsaveSize {
		fx, f := t.FPRegs, b[amd64FltSaveStart:]
		copy(f[0:4], fx[0:4])       // control and status words
		f[4] = fx[4]                // abridged tag word
		copy(f[6:8], fx[6:8])       // last opcode
		copy(f[8:12], fx[8:12])     // instruction offset (low half of the 64-bit rip)
		copy(f[16:20], fx[16:20])   // operand offset (low half of the 64-bit rdp)
		copy(f[24:32], fx[24:32])   // mxcsr, mxcsr mask
		copy(f[32:416], fx[32:416]) // st0-7, xmm0-15
	}
	return b
}

func contextARM64Old(t *Thread) []byte {
	b := make([]byte, contextARM64OldSize)
	le.PutUint64(b[0:], contextARM64OldFlags)
	for i := 0; i < 33; i++ { // x0-x30, sp, pc: pr_reg's order is the iregs order
		le.PutUint64(b[8+8*i:], t.Regs[i])
	}
	le.PutUint32(b[272:], uint32(t.Regs[33])) // pstate
	if len(t.FPRegs) >= fpsimdSize {
		copy(b[276:280], t.FPRegs[512:516]) // fpsr
		copy(b[280:284], t.FPRegs[516:520]) // fpcr
		copy(b[284:796], t.FPRegs[:512])    // v0-v31
	}
	return b
}

func contextARM64(t *Thread) []byte {
	b := make([]byte, contextARM64Size)
	le.PutUint32(b[0:], contextARM64Flags)
	le.PutUint32(b[4:], uint32(t.Regs[33])) // cpsr
	for i := 0; i < 33; i++ {
		le.PutUint64(b[8+8*i:], t.Regs[i])
	}
	if len(t.FPRegs) >= fpsimdSize {
		copy(b[272:784], t.FPRegs[:512])    // v0-v31
		copy(b[784:788], t.FPRegs[516:520]) // fpcr
		copy(b[788:792], t.FPRegs[512:516]) // fpsr
	}
	return b
}
