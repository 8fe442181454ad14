package dwarfcfi

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Hdr is a parsed .eh_frame_hdr (the PT_GNU_EH_FRAME segment): the address
// of .eh_frame and, usually, a table of FDE addresses sorted by the start
// of the code they cover, which lets Find skip indexing .eh_frame.
type Hdr struct {
	t         *Table // reads the table's pointers: section address, order, size
	ehFrame   uint64
	enc       byte // table_enc
	table     int  // offset of the first table entry
	count     int  // number of entries; 0 when the table is absent or unusable
	entrySize int
}

// ParseHdr reads an .eh_frame_hdr section. Options.SectionAddr is the
// address of the .eh_frame_hdr section itself, the base of its
// DW_EH_PE_datarel pointers; Options.Hdr is ignored. A table whose entries
// do not have a fixed size cannot be binary-searched and is ignored, as
// the GNU unwinder ignores it.
func ParseHdr(hdr []byte, opts Options) (*Hdr, error) {
	opts.Hdr = nil
	opts.DataAddr = opts.SectionAddr
	t, err := newTable(hdr, opts)
	if err != nil {
		return nil, err
	}
	r := reader{b: hdr, bo: t.bo}
	version := r.u8()
	ptrEnc, countEnc, tableEnc := r.u8(), r.u8(), r.u8()
	if r.err != nil {
		return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr: header: %v", r.err)
	}
	if version != 1 {
		return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr: unsupported version %d", version)
	}
	h := &Hdr{t: t, enc: tableEnc}
	h.ehFrame, err = t.readPointer(&r, ptrEnc, t.ptr)
	if err != nil {
		return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr: eh_frame_ptr: %w", err)
	}
	if countEnc == peOmit || tableEnc == peOmit {
		return h, nil
	}
	n, err := t.readPointer(&r, countEnc, t.ptr)
	if err != nil {
		return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr: fde_count: %w", err)
	}
	if tableEnc&peIndirect != 0 || tableEnc&0x70 == peAligned || tableEnc&0x70 == peFuncRel {
		return h, nil
	}
	switch tableEnc & 0x0f {
	case peUdata2, peSdata2:
		h.entrySize = 4
	case peUdata4, peSdata4:
		h.entrySize = 8
	case peUdata8, peSdata8:
		h.entrySize = 16
	case peAbsptr, peSigned:
		h.entrySize = 2 * t.ptr
	default:
		return h, nil // LEB128 entries: not searchable
	}
	if n > uint64(r.left()/h.entrySize) {
		return nil, fmt.Errorf("dwarfcfi: .eh_frame_hdr: fde_count %d needs %d bytes, %d left", n, n*uint64(h.entrySize), r.left())
	}
	h.table, h.count = r.off, int(n)
	return h, nil
}

// newTable checks opts and makes a Table over data.
func newTable(data []byte, opts Options) (*Table, error) {
	switch opts.Arch {
	case AMD64, ARM64, X86, ARM:
	default:
		return nil, fmt.Errorf("dwarfcfi: unknown architecture %d", opts.Arch)
	}
	t := &Table{data: data, opts: opts, bo: opts.ByteOrder, ptr: opts.PtrSize}
	if t.bo == nil {
		t.bo = binary.LittleEndian
	}
	if t.ptr == 0 {
		t.ptr = opts.Arch.ptrSize()
	}
	if t.ptr != 4 && t.ptr != 8 {
		return nil, fmt.Errorf("dwarfcfi: unsupported address size %d", t.ptr)
	}
	return t, nil
}

// EHFrameAddr returns the address of the .eh_frame section the header
// describes (it locates .eh_frame when section headers are missing).
func (h *Hdr) EHFrameAddr() uint64 { return h.ehFrame }

// Len returns the number of entries of the search table (0 when absent).
func (h *Hdr) Len() int { return h.count }

// entry decodes table entry i: the start of the code an FDE covers and
// the FDE's address.
func (h *Hdr) entry(i int) (loc, fde uint64, err error) {
	r := reader{b: h.t.data, off: h.table + i*h.entrySize, bo: h.t.bo}
	loc, err = h.t.readPointer(&r, h.enc, h.t.ptr)
	if err != nil {
		return 0, 0, err
	}
	fde, err = h.t.readPointer(&r, h.enc, h.t.ptr)
	return loc, fde, err
}

// search returns the address of the FDE with the greatest start at or
// below addr. The caller checks that the FDE really covers addr.
func (h *Hdr) search(addr uint64) (uint64, bool) {
	bad := false
	i := sort.Search(h.count, func(i int) bool {
		loc, _, err := h.entry(i)
		if err != nil {
			bad = true
		}
		return loc > addr
	})
	if bad || i == 0 {
		return 0, false
	}
	_, fde, err := h.entry(i - 1)
	return fde, err == nil
}
