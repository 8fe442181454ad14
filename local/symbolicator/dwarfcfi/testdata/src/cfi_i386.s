# Hand-written i386 CFI: frame pointer setup, register rules and the
# GNU_args_size instruction of code that pushes arguments.
	.text
	.globl	framed
	.type	framed, @function
framed:
	.cfi_startproc
	pushl	%ebp
	.cfi_def_cfa_offset 8
	.cfi_offset %ebp, -8
	movl	%esp, %ebp
	.cfi_def_cfa_register %ebp
	pushl	%ebx
	pushl	%esi
	.cfi_offset %ebx, -12
	.cfi_offset %esi, -16
	pushl	$1
	.cfi_escape 0x2e, 0x04
	call	framed
	addl	$4, %esp
	.cfi_escape 0x2e, 0x00
	movl	%edi, %eax
	.cfi_register %edi, %eax
	.cfi_remember_state
	popl	%esi
	.cfi_restore %esi
	popl	%ebx
	.cfi_restore %ebx
	popl	%ebp
	.cfi_def_cfa %esp, 4
	.cfi_restore %ebp
	ret
	.cfi_restore_state
	.cfi_same_value %edi
	.cfi_val_offset %ecx, -20
	nop
	# DW_CFA_expression edx: DW_OP_breg4 esp+4, DW_OP_deref
	.cfi_escape 0x10, 0x02, 0x03, 0x74, 0x04, 0x06
	# DW_CFA_val_expression eax: DW_OP_breg5 ebp-4, DW_OP_const4u 0x10000
	.cfi_escape 0x16, 0x00, 0x07, 0x75, 0x7c, 0x0c, 0x00, 0x00, 0x01, 0x00
	nop
	.cfi_undefined %eip
	hlt
	.cfi_endproc
	.size	framed, .-framed
	.section	.note.GNU-stack,"",@progbits
