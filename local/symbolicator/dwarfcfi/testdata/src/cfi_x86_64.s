# Hand-written CFI exercising every directive and, through .cfi_escape,
# instructions compilers rarely emit.
	.text
	.globl	directives
	.type	directives, @function
directives:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	pushq	%rbx
	.cfi_offset %rbx, -24
	movq	%r12, %rax
	.cfi_register %r12, %rax
	nop
	.cfi_val_offset %r13, -40
	nop
	.cfi_undefined %r14
	nop
	.cfi_same_value %r15
	.cfi_remember_state
	nop
	.cfi_restore %rbx
	.cfi_def_cfa %rsp, 32
	.cfi_remember_state
	.skip	300, 0x90
	.cfi_def_cfa_offset 48
	.cfi_restore_state
	nop
	.cfi_restore_state
	.skip	70000, 0x90
	.cfi_offset %rbx, -24
	popq	%rbx
	popq	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	directives, .-directives

	.globl	escapes
	.type	escapes, @function
escapes:
	.cfi_startproc
	nop
	# DW_CFA_GNU_args_size 16
	.cfi_escape 0x2e, 0x10
	nop
	# DW_CFA_offset_extended_sf rbx, 2 (factored: -16)
	.cfi_escape 0x11, 0x03, 0x02
	nop
	# DW_CFA_def_cfa_sf rsp, -3 (factored: +24)
	.cfi_escape 0x12, 0x07, 0x7d
	nop
	# DW_CFA_def_cfa_offset_sf -4 (factored: +32)
	.cfi_escape 0x13, 0x7c
	# DW_CFA_val_offset_sf r12, -2 (factored: +16)
	.cfi_escape 0x15, 0x0c, 0x7e
	# DW_CFA_val_offset r13, 1 (factored: -8)
	.cfi_escape 0x14, 0x0d, 0x01
	nop
	# DW_CFA_restore_extended rbx; DW_CFA_offset_extended r14, 4
	.cfi_escape 0x06, 0x03, 0x05, 0x0e, 0x04
	nop
	# DW_CFA_expression rbx: DW_OP_breg7 rsp+8
	.cfi_escape 0x10, 0x03, 0x02, 0x77, 0x08
	# DW_CFA_val_expression r15: DW_OP_breg6 rbp+0, DW_OP_lit4, DW_OP_minus
	.cfi_escape 0x16, 0x0f, 0x04, 0x76, 0x00, 0x34, 0x1c
	nop
	# DW_CFA_def_cfa_expression: DW_OP_breg7 rsp+8, DW_OP_deref, DW_OP_plus_uconst 16
	.cfi_escape 0x0f, 0x05, 0x77, 0x08, 0x06, 0x23, 0x10
	nop
	# DW_CFA_def_cfa: rsp+8 again
	.cfi_escape 0x0c, 0x07, 0x08
	# DW_CFA_expression rbp: every kind of arithmetic, comparison and branch
	.cfi_escape 0x10, 0x06, 0x1b, 0x77, 0x00, 0x12, 0x14, 0x16, 0x17, 0x13, 0x08, 0x07, 0x1a, 0x09, 0xf0, 0x19, 0x22, 0x0b, 0x10, 0x00, 0x1e, 0x0a, 0x08, 0x00, 0x1b, 0x2f, 0x02, 0x00, 0x96, 0x96
	nop
	ret
	.cfi_endproc
	.size	escapes, .-escapes

	.globl	simple
	.type	simple, @function
simple:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 8
	.cfi_offset %rip, -8
	nop
	.cfi_return_column %rbx
	.cfi_offset %rbx, -16
	ret
	.cfi_endproc
	.size	simple, .-simple

	.globl	signal_tramp
	.type	signal_tramp, @function
	nop
signal_tramp:
	.cfi_startproc
	.cfi_signal_frame
	# DW_CFA_def_cfa_expression: DW_OP_breg7 rsp+160, DW_OP_deref (as glibc's __restore_rt)
	.cfi_escape 0x0f, 0x04, 0x77, 0xa0, 0x01, 0x06
	# DW_CFA_expression rip: DW_OP_breg7 rsp+168
	.cfi_escape 0x10, 0x10, 0x03, 0x77, 0xa8, 0x01
	movq	$15, %rax
	syscall
	.cfi_endproc
	.size	signal_tramp, .-signal_tramp

	.globl	personalities
	.type	personalities, @function
personalities:
	.cfi_startproc
	.cfi_personality 0x9b, DW.ref.pers
	.cfi_lsda 0x1b, .Llsda
	pushq	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	popq	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	personalities, .-personalities

	.globl	personalities2
	.type	personalities2, @function
personalities2:
	.cfi_startproc
	.cfi_personality 0x00, pers
	.cfi_lsda 0x00, .Llsda
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	personalities2, .-personalities2

	.globl	personalities3
	.type	personalities3, @function
personalities3:
	.cfi_startproc
	.cfi_personality 0x1b, pers
	.cfi_lsda 0x1b, .Llsda
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	personalities3, .-personalities3

	.globl	pers
	.hidden	pers
	.type	pers, @function
pers:
	ret
	.size	pers, .-pers

	.section .rodata
.Llsda:
	.byte	0xff, 0xff, 0x01, 0x00
	.section .data.rel.local.DW.ref.pers,"awG",@progbits,DW.ref.pers,comdat
	.align 8
	.hidden DW.ref.pers
	.weak	DW.ref.pers
	.type	DW.ref.pers, @object
	.size	DW.ref.pers, 8
DW.ref.pers:
	.quad	pers
	.section	.note.GNU-stack,"",@progbits
