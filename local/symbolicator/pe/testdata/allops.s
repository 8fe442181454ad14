# Every x64 unwind operation, for the unwind tests. The first functions use
# the assembler's .seh_* directives; the chained functions at the end have
# hand-written .pdata and .xdata, laid out as MSVC lays out a function
# split in two (the second part's entry chains to the first's), because
# the assembler only writes chained entries that overlap their parent.

	.text
	.globl	target
	.def	target; .scl 2; .type 32; .endef
target:
	ret

# An interrupt handler's shape: the CPU pushed a machine frame with an
# error code.
	.globl	machframe_err
	.def	machframe_err; .scl 2; .type 32; .endef
	.seh_proc machframe_err
machframe_err:
	.seh_pushframe @code
	pushq	%rbp
	.seh_pushreg %rbp
	pushq	%rbx
	.seh_pushreg %rbx
	subq	$0x28, %rsp
	.seh_stackalloc 0x28
	.seh_endprologue
	callq	target
	addq	$0x28, %rsp
	popq	%rbx
	popq	%rbp
	addq	$8, %rsp
	iretq
	.seh_endproc

# A machine frame without error code, nothing else saved.
	.globl	machframe
	.def	machframe; .scl 2; .type 32; .endef
	.seh_proc machframe
machframe:
	.seh_pushframe
	subq	$0x18, %rsp
	.seh_stackalloc 0x18
	.seh_endprologue
	callq	target
	addq	$0x18, %rsp
	iretq
	.seh_endproc

# Far saves: ALLOC_LARGE with a 32-bit size, a frame register with an
# offset, SAVE_NONVOL_FAR, SAVE_XMM128 and SAVE_XMM128_FAR relative to the
# frame base, and an epilogue that restores RSP with lea.
	.globl	far_saves
	.def	far_saves; .scl 2; .type 32; .endef
	.seh_proc far_saves
far_saves:
	pushq	%rbp
	.seh_pushreg %rbp
	pushq	%rbx
	.seh_pushreg %rbx
	movl	$0x100000, %eax
	callq	target
	subq	%rax, %rsp
	.seh_stackalloc 0x100000
	leaq	0x80(%rsp), %rbp
	.seh_setframe %rbp, 0x80
	movq	%rsi, 0x90000(%rsp)
	.seh_savereg %rsi, 0x90000
	movq	%rdi, 0x10(%rsp)
	.seh_savereg %rdi, 0x10
	movaps	%xmm6, 0x20(%rsp)
	.seh_savexmm %xmm6, 0x20
	movaps	%xmm7, 0xF0000(%rsp)
	.seh_savexmm %xmm7, 0xF0000
	.seh_endprologue
	callq	target
	movq	0x90000-0x80(%rbp), %rsi
	movq	0x10-0x80(%rbp), %rdi
	movaps	0x20-0x80(%rbp), %xmm6
	movaps	0xF0000-0x80(%rbp), %xmm7
	leaq	0x100000-0x80(%rbp), %rsp
	popq	%rbx
	popq	%rbp
	retq
	.seh_endproc

# A frame register without offset, a save relative to it, an exception
# handler, and an epilogue ending in a tail call.
	.globl	with_handler
	.def	with_handler; .scl 2; .type 32; .endef
	.seh_proc with_handler
	.seh_handler handler, @unwind, @except
with_handler:
	pushq	%rbp
	.seh_pushreg %rbp
	pushq	%r12
	.seh_pushreg %r12
	pushq	%r15
	.seh_pushreg %r15
	subq	$0x40, %rsp
	.seh_stackalloc 0x40
	movq	%rsp, %rbp
	.seh_setframe %rbp, 0
	movq	%r13, 0x38(%rsp)
	.seh_savereg %r13, 0x38
	.seh_endprologue
	callq	target
	movq	0x38(%rbp), %r13
	leaq	0x40(%rbp), %rsp
	popq	%r15
	popq	%r12
	popq	%rbp
	jmp	target
	.seh_endproc

	.globl	handler
	.def	handler; .scl 2; .type 32; .endef
handler:
	xorl	%eax, %eax
	ret

# A save before the frame register is set: in between, the save's slot is
# found from RSP, not from the (not yet set) frame register.
	.globl	save_before_fp
	.def	save_before_fp; .scl 2; .type 32; .endef
	.seh_proc save_before_fp
save_before_fp:
	pushq	%rbp
	.seh_pushreg %rbp
	subq	$0x40, %rsp
	.seh_stackalloc 0x40
	movq	%rsi, 0x30(%rsp)
	.seh_savereg %rsi, 0x30
	leaq	0x20(%rsp), %rbp
	.seh_setframe %rbp, 0x20
	.seh_endprologue
	callq	target
	movq	0x10(%rbp), %rsi
	leaq	0x20(%rbp), %rsp
	popq	%rbp
	retq
	.seh_endproc

# A function split in two: first holds the prologue, first_tail continues
# it elsewhere with one more push of its own and chains to first.
	.globl	first
	.def	first; .scl 2; .type 32; .endef
first:
	pushq	%rbx
	pushq	%rsi
	subq	$0x28, %rsp
first_body:
	callq	target
	jmp	first_tail
first_end:

	.globl	first_tail
	.def	first_tail; .scl 2; .type 32; .endef
first_tail:
	pushq	%rdi
first_tail_body:
	callq	target
	popq	%rdi
	addq	$0x28, %rsp
	popq	%rsi
	popq	%rbx
	retq
first_tail_end:

# A leaf without .pdata entry.
	.globl	bare_leaf
	.def	bare_leaf; .scl 2; .type 32; .endef
bare_leaf:
	leaq	1(%rcx), %rax
	retq

	.section	.xdata,"dr"
	.p2align	2
first_xdata:
	.byte	1			# version 1, no flags
	.byte	first_body-first	# prologue size
	.byte	3			# codes
	.byte	0			# no frame register
	.byte	first_body-first, 0x42	# ALLOC_SMALL 0x28: info (0x28-8)/8 = 4
	.byte	2, 0x60			# PUSH_NONVOL rsi
	.byte	1, 0x30			# PUSH_NONVOL rbx
	.p2align	2
first_tail_xdata:
	.byte	1 | (4 << 3)		# version 1, UNW_FLAG_CHAININFO
	.byte	first_tail_body-first_tail
	.byte	1
	.byte	0
	.byte	first_tail_body-first_tail, 0x70	# PUSH_NONVOL rdi
	.p2align	2			# (one padding slot for the odd count)
	.long	first@IMGREL
	.long	first_end@IMGREL
	.long	first_xdata@IMGREL

	.section	.pdata,"dr"
	.p2align	2
	.long	first@IMGREL
	.long	first_end@IMGREL
	.long	first_xdata@IMGREL
	.long	first_tail@IMGREL
	.long	first_tail_end@IMGREL
	.long	first_tail_xdata@IMGREL

	.text
	.globl	asm_main
	.def	asm_main; .scl 2; .type 32; .endef
asm_main:
	xorl	%eax, %eax
	retq
