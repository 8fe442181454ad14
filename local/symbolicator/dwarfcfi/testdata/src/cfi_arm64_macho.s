; Mach-O arm64 CFI that compact unwind cannot encode, so that the assembler
; emits __eh_frame.
	.section	__TEXT,__text,regular,pure_instructions
	.globl	_odd_cfa
	.p2align	2
_odd_cfa:
	.cfi_startproc
	stp	x29, x30, [sp, #-32]!
	.cfi_def_cfa x1, 32
	.cfi_offset w30, -24
	.cfi_offset w29, -32
	mov	x29, sp
	.cfi_escape 0x16, 0x13, 0x02, 0x70, 0x10
	stp	x19, x20, [sp, #16]
	.cfi_offset w19, -16
	.cfi_offset w20, -8
	ldp	x19, x20, [sp, #16]
	.cfi_same_value w19
	.cfi_restore w20
	ldp	x29, x30, [sp], #32
	ret
	.cfi_endproc

	.globl	_frameless
	.p2align	2
_frameless:
	.cfi_startproc
	sub	sp, sp, #48
	.cfi_def_cfa_offset 48
	.cfi_escape 0x10, 0x15, 0x02, 0x8f, 0x10
	add	sp, sp, #48
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
.subsections_via_symbols
