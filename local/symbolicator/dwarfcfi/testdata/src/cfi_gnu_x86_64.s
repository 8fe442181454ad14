# DW_CFA_GNU_negative_offset_extended, which llvm-dwarfdump 14 rejects:
# readelf is the reference for this file.
	.text
	.globl	negative
	.type	negative, @function
negative:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	# DW_CFA_GNU_negative_offset_extended rbp, 2 (factored: +16)
	.cfi_escape 0x2f, 0x06, 0x02
	nop
	# DW_CFA_GNU_negative_offset_extended r12, 1 (factored: +8)
	.cfi_escape 0x2f, 0x0c, 0x01
	popq	%rbp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	negative, .-negative
	.section	.note.GNU-stack,"",@progbits
