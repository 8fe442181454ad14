@ Hand-written arm CFI in both .eh_frame and .debug_frame.
	.syntax unified
	.arm
	.cfi_sections .eh_frame, .debug_frame
	.text
	.globl	arm_frame
	.type	arm_frame, %function
arm_frame:
	.cfi_startproc
	push	{r4, r5, r11, lr}
	.cfi_def_cfa_offset 16
	.cfi_offset lr, -4
	.cfi_offset r11, -8
	.cfi_offset r5, -12
	.cfi_offset r4, -16
	add	r11, sp, #8
	.cfi_def_cfa r11, 8
	vpush	{d8, d9}
	.cfi_offset d9, -24
	.cfi_offset d8, -32
	mov	r6, r0
	.cfi_register r7, r6
	.cfi_remember_state
	vpop	{d8, d9}
	pop	{r4, r5, r11, pc}
	.cfi_restore_state
	.cfi_undefined r8
	.cfi_same_value r9
	nop
	.cfi_escape 0x10, 0x0a, 0x02, 0x7d, 0x04
	bx	lr
	.cfi_endproc
	.size	arm_frame, .-arm_frame
	.section	.note.GNU-stack,"",%progbits
