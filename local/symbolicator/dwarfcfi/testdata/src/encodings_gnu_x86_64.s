# Hand-assembled .eh_frame with DW_CFA_set_loc, whose operand uses the
# CIE's address encoding (here 4 bytes); llvm-dwarfdump 14 reads it as an
# 8-byte address. readelf is the reference for this file.

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

# A signal frame, and an FDE whose instructions use DW_CFA_set_loc.
.Lcs:
	.long	.Lcs_end - .Lcs_id
.Lcs_id:
	.long	0
	.byte	1
	.asciz	"zRS"
	.uleb128 1
	.sleb128 -8
	.byte	16
	.uleb128 1
	.byte	0x03
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	4, 0
.Lcs_end:
	.long	.Lf15_end - .Lf15_id
.Lf15_id:
	.long	.Lf15_id - .Lcs
	.long	0x40f000, 0x40
	.uleb128 0
	.byte	0x01
	.long	0x40f008		# DW_CFA_set_loc
	.byte	0x0e, 32
	.byte	0x01
	.long	0x40f010
	.byte	0x0e, 8
	.balign	4, 0
.Lf15_end:
	.long	0			# terminator
	.section	.note.GNU-stack,"",@progbits
