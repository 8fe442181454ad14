# Hand-assembled call frame sections: every FDE address encoding the
# reference tools decode, CIE versions 1, 3 and 4, 32- and 64-bit DWARF
# lengths and the location instructions compilers rarely use. Addresses are
# absolute numbers, so no relocations are involved.

	.section .eh_frame,"a",@progbits
.Leh:
# CIE with FDE encoding \enc, version 1.
.macro	ehcie name, enc
.L\name:
	.long	.L\name\()_end - .L\name\()_id
.L\name\()_id:
	.long	0			# CIE id
	.byte	1			# version
	.asciz	"zR"
	.uleb128 1			# code alignment
	.sleb128 -8			# data alignment
	.byte	16			# return address column (rip)
	.uleb128 1			# augmentation data length
	.byte	\enc
	.byte	0x0c, 7, 8		# DW_CFA_def_cfa rsp+8
	.byte	0x90, 1			# DW_CFA_offset rip, 1 (CFA-8)
	.balign	4, 0
.L\name\()_end:
.endm
# Instructions every FDE below carries.
.macro	body
	.byte	0x41			# DW_CFA_advance_loc 1
	.byte	0x0e, 16		# DW_CFA_def_cfa_offset 16
	.byte	0x86, 2			# DW_CFA_offset rbp, 2
	.byte	0x02, 3			# DW_CFA_advance_loc1 3
	.byte	0x0d, 6			# DW_CFA_def_cfa_register rbp
	.byte	0x83, 3			# DW_CFA_offset rbx, 3
	.byte	0x03, 0x10, 0x00	# DW_CFA_advance_loc2 16
	.byte	0xc6			# DW_CFA_restore rbp
	.byte	0x04, 0x04, 0, 0, 0	# DW_CFA_advance_loc4 4
	.byte	0x0c, 7, 8		# DW_CFA_def_cfa rsp+8
.endm

	ehcie	cu4, 0x03
	.long	.Lf1_end - .Lf1_id
.Lf1_id:
	.long	.Lf1_id - .Lcu4
	.long	0x401000, 0x40		# udata4
	.uleb128 0
	body
	.balign	4, 0
.Lf1_end:

	ehcie	cu8, 0x04
	.long	.Lf2_end - .Lf2_id
.Lf2_id:
	.long	.Lf2_id - .Lcu8
	.quad	0x402000, 0x40		# udata8
	.uleb128 0
	body
	.balign	4, 0
.Lf2_end:

	ehcie	cs4, 0x0b
	.long	.Lf3_end - .Lf3_id
.Lf3_id:
	.long	.Lf3_id - .Lcs4
	.long	0x403000, 0x40		# sdata4
	.uleb128 0
	body
	.balign	4, 0
.Lf3_end:

	ehcie	cs8, 0x0c
	.long	.Lf4_end - .Lf4_id
.Lf4_id:
	.long	.Lf4_id - .Lcs8
	.quad	0x404000, 0x40		# sdata8
	.uleb128 0
	body
	.balign	4, 0
.Lf4_end:

	ehcie	cu2, 0x02
	.long	.Lf5_end - .Lf5_id
.Lf5_id:
	.long	.Lf5_id - .Lcu2
	.short	0x5000, 0x40		# udata2
	.uleb128 0
	body
	.balign	4, 0
.Lf5_end:

	ehcie	cs2, 0x0a
	.long	.Lf6_end - .Lf6_id
.Lf6_id:
	.long	.Lf6_id - .Lcs2
	.short	0x6000, 0x40		# sdata2
	.uleb128 0
	body
	.balign	4, 0
.Lf6_end:

	ehcie	cabs, 0x00
	.long	.Lf9_end - .Lf9_id
.Lf9_id:
	.long	.Lf9_id - .Lcabs
	.quad	0x409000, 0x40		# absptr
	.uleb128 0
	body
	.balign	4, 0
.Lf9_end:

	ehcie	cpcrel4, 0x1b
	.long	.Lf10_end - .Lf10_id
.Lf10_id:
	.long	.Lf10_id - .Lcpcrel4
	.long	0x40a000 - (. - .Leh)	# pcrel sdata4
	.long	0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf10_end:

	ehcie	cpcrel8, 0x10
	.long	.Lf11_end - .Lf11_id
.Lf11_id:
	.long	.Lf11_id - .Lcpcrel8
	.quad	0x40b000 - (. - .Leh)	# pcrel absptr
	.quad	0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf11_end:

# Version 3: the return address column is a ULEB128.
.Lcv3:
	.long	.Lcv3_end - .Lcv3_id
.Lcv3_id:
	.long	0
	.byte	3
	.asciz	"zR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 1
	.byte	0x1b
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	4, 0
.Lcv3_end:
	.long	.Lf12_end - .Lf12_id
.Lf12_id:
	.long	.Lf12_id - .Lcv3
	.long	0x40c000 - (. - .Leh)
	.long	0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf12_end:

# Personality (indirect, pc-relative) and LSDA: "zPLR".
.Lcplr:
	.long	.Lcplr_end - .Lcplr_id
.Lcplr_id:
	.long	0
	.byte	1
	.asciz	"zPLR"
	.uleb128 1
	.sleb128 -8
	.byte	16
	.uleb128 7
	.byte	0x9b
	.long	0x1234
	.byte	0x1b
	.byte	0x1b
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	4, 0
.Lcplr_end:
	.long	.Lf14_end - .Lf14_id
.Lf14_id:
	.long	.Lf14_id - .Lcplr
	.long	0x40e000 - (. - .Leh)
	.long	0x40
	.uleb128 4			# augmentation data: the LSDA pointer
	.long	0x100
	body
	.balign	4, 0
.Lf14_end:

	.long	0			# terminator

	.section .debug_frame,"",@progbits
.Ldf:
# Version 1.
.Ldc1:
	.long	.Ldc1_end - .Ldc1_id
.Ldc1_id:
	.long	0xffffffff
	.byte	1
	.asciz	""
	.uleb128 1
	.sleb128 -8
	.byte	16
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	8, 0
.Ldc1_end:
	.long	.Ldf1_end - .Ldf1_id
.Ldf1_id:
	.long	.Ldc1 - .Ldf
	.quad	0x501000, 0x40
	body
	.byte	0x01
	.quad	0x501030		# DW_CFA_set_loc
	.byte	0x0e, 24
	.balign	8, 0
.Ldf1_end:
# Version 3.
.Ldc3:
	.long	.Ldc3_end - .Ldc3_id
.Ldc3_id:
	.long	0xffffffff
	.byte	3
	.asciz	""
	.uleb128 4
	.sleb128 -4
	.uleb128 16
	.byte	0x0c, 7, 8, 0x90, 2
	.balign	8, 0
.Ldc3_end:
	.long	.Ldf3_end - .Ldf3_id
.Ldf3_id:
	.long	.Ldc3 - .Ldf
	.quad	0x503000, 0x80
	body
	.balign	8, 0
.Ldf3_end:
# Version 4: address and segment selector sizes in the CIE.
.Ldc4:
	.long	.Ldc4_end - .Ldc4_id
.Ldc4_id:
	.long	0xffffffff
	.byte	4
	.asciz	""
	.byte	8			# address size
	.byte	0			# segment selector size
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	8, 0
.Ldc4_end:
	.long	.Ldf4_end - .Ldf4_id
.Ldf4_id:
	.long	.Ldc4 - .Ldf
	.quad	0x504000, 0x40
	body
	.balign	8, 0
.Ldf4_end:
# 64-bit DWARF.
.Ldc64:
	.long	0xffffffff
	.quad	.Ldc64_end - .Ldc64_id
.Ldc64_id:
	.quad	0xffffffffffffffff
	.byte	4
	.asciz	""
	.byte	8
	.byte	0
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	8, 0
.Ldc64_end:
	.long	0xffffffff
	.quad	.Ldf64_end - .Ldf64_id
.Ldf64_id:
	.quad	.Ldc64 - .Ldf
	.quad	0x505000, 0x40
	body
	.balign	8, 0
.Ldf64_end:
	.section	.note.GNU-stack,"",@progbits
