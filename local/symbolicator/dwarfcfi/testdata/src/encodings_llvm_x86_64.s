# Hand-assembled .eh_frame entries that readelf (binutils 2.40) misreads:
# LEB128 FDE addresses and the 64-bit format. llvm-dwarfdump is the
# reference for this file.

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

	ehcie	culeb, 0x01
	.long	.Lf7_end - .Lf7_id
.Lf7_id:
	.long	.Lf7_id - .Lculeb
	.uleb128 0x407000		# uleb128
	.uleb128 0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf7_end:

	ehcie	csleb, 0x09
	.long	.Lf8_end - .Lf8_id
.Lf8_id:
	.long	.Lf8_id - .Lcsleb
	.sleb128 0x408000		# sleb128
	.sleb128 0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf8_end:

# 64-bit DWARF: 8-byte lengths (the CIE id and pointer stay 4 bytes in
# .eh_frame).
.Lc64:
	.long	0xffffffff
	.quad	.Lc64_end - .Lc64_id
.Lc64_id:
	.long	0			# CIE id: 4 bytes in .eh_frame
	.byte	1
	.asciz	"zR"
	.uleb128 1
	.sleb128 -8
	.byte	16
	.uleb128 1
	.byte	0x04
	.byte	0x0c, 7, 8, 0x90, 1
	.balign	4, 0
.Lc64_end:
	.long	0xffffffff
	.quad	.Lf13_end - .Lf13_id
.Lf13_id:
	.long	.Lf13_id - .Lc64
	.quad	0x40d000, 0x40
	.uleb128 0
	body
	.balign	4, 0
.Lf13_end:

	.long	0			# terminator
	.section	.note.GNU-stack,"",@progbits
