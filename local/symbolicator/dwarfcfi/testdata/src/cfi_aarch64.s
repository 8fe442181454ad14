// Hand-written aarch64 CFI: return address signing (negate_ra_state with
// the B key), frame records, register rules and expressions.
	.text
	.globl	signed_b
	.type	signed_b, %function
signed_b:
	.cfi_startproc
	.cfi_b_key_frame
	pacibsp
	.cfi_negate_ra_state
	stp	x29, x30, [sp, -32]!
	.cfi_def_cfa_offset 32
	.cfi_offset 29, -32
	.cfi_offset 30, -24
	mov	x29, sp
	.cfi_def_cfa_register 29
	str	x19, [sp, 16]
	.cfi_offset 19, -16
	.cfi_remember_state
	ldr	x19, [sp, 16]
	ldp	x29, x30, [sp], 32
	.cfi_restore 19
	.cfi_restore 29
	.cfi_restore 30
	.cfi_def_cfa 31, 0
	autibsp
	.cfi_negate_ra_state
	ret
	.cfi_restore_state
	mov	x20, x1
	.cfi_register 21, 1
	.cfi_val_offset 22, -8
	.cfi_undefined 23
	.cfi_same_value 24
	nop
	// DW_CFA_expression x25: DW_OP_breg31 sp+8
	.cfi_escape 0x10, 0x19, 0x02, 0x8f, 0x08
	// DW_CFA_val_expression x26: DW_OP_breg29 fp+0, DW_OP_lit8, DW_OP_plus
	.cfi_escape 0x16, 0x1a, 0x04, 0x8d, 0x00, 0x38, 0x22
	// DW_CFA_offset_extended d8 (72), 2
	.cfi_escape 0x05, 0x48, 0x02
	nop
	ret
	.cfi_endproc
	.size	signed_b, .-signed_b

	.globl	signed_a
	.type	signed_a, %function
signed_a:
	.cfi_startproc
	paciasp
	.cfi_negate_ra_state
	stp	x29, x30, [sp, -16]!
	.cfi_def_cfa_offset 16
	.cfi_offset 29, -16
	.cfi_offset 30, -8
	ldp	x29, x30, [sp], 16
	.cfi_restore 30
	.cfi_restore 29
	.cfi_def_cfa_offset 0
	autiasp
	.cfi_negate_ra_state
	ret
	.cfi_endproc
	.size	signed_a, .-signed_a
	.section	.note.GNU-stack,"",@progbits
