package pdb

import "sort"

// FrameRecord describes how to unwind 32-bit x86 code: an FPO_DATA record
// of the "FPO" stream (Type 0) or a FRAMEDATA record of the "FrameData"
// stream (Type 4), both named by the DBI stream's optional debug header.
// Sizes are in bytes, as in Breakpad's STACK WIN records, which carry the
// same information.
type FrameRecord struct {
	Type          int // 0: FPO, 4: FrameData
	RVA, Size     uint32
	PrologSize    uint32
	SavedRegsSize uint32
	LocalsSize    uint32
	ParamsSize    uint32
	MaxStackSize  uint32 // FrameData only
	// ProgramString recovers the caller's registers (FrameData), e.g.
	// "$T0 .raSearch = $eip $T0 ^ = $esp $T0 4 + =".
	ProgramString string
	// AllocatesBasePointer says an FPO function uses %ebp as a general
	// register (FPO only).
	AllocatesBasePointer bool
	// FrameKind is an FPO record's frame type (cbFrame): 0 FPO, 1 trap,
	// 2 TSS, 3 standard (a conventional %ebp frame). Only type 0 describes
	// an omitted frame pointer; Breakpad and rust-minidump read no other.
	// Always 0 for FrameData records.
	FrameKind int
	HasSEH    bool
	HasEH     bool // FrameData only
	// IsFunctionStart marks the record that covers a function's entry
	// (FrameData only; later records of the same function follow its
	// prologue).
	IsFunctionStart bool
}

func (f *File) loadFrameData(ms *msf, dbi *dbiStream) error {
	if b, ok, err := ms.optionalStream(dbi.debugStreams[dbgNewFPO], "FrameData stream"); err != nil {
		return err
	} else if ok {
		// A leading 4-byte relocation pointer precedes the records when
		// the size is not a multiple of the record size.
		if len(b)%32 != 0 && len(b) >= 4 {
			b = b[4:]
		}
		for i := 0; i+32 <= len(b); i += 32 {
			c := cursor{b: b[i : i+32]}
			r := FrameRecord{Type: 4}
			rva := c.u32()
			r.Size = c.u32()
			r.LocalsSize = c.u32()
			r.ParamsSize = c.u32()
			r.MaxStackSize = c.u32()
			r.ProgramString = f.names.get(c.u32())
			r.PrologSize = uint32(c.u16())
			r.SavedRegsSize = uint32(c.u16())
			flags := c.u32()
			r.HasSEH, r.HasEH, r.IsFunctionStart = flags&1 != 0, flags&2 != 0, flags&4 != 0
			if f.mapRVA(&r, rva) {
				f.frames = append(f.frames, r)
			}
		}
	}
	if b, ok, err := ms.optionalStream(dbi.debugStreams[dbgFPO], "FPO stream"); err != nil {
		return err
	} else if ok {
		for i := 0; i+16 <= len(b); i += 16 {
			c := cursor{b: b[i : i+16]}
			r := FrameRecord{Type: 0}
			rva := c.u32()
			r.Size = c.u32()
			r.LocalsSize = c.u32() * 4
			r.ParamsSize = uint32(c.u16()) * 4
			attr := c.u16()
			r.PrologSize = uint32(attr & 0xff)
			r.SavedRegsSize = uint32((attr>>8)&7) * 4
			r.HasSEH = attr&(1<<11) != 0
			r.AllocatesBasePointer = attr&(1<<12) != 0
			r.FrameKind = int(attr >> 14)
			if f.mapRVA(&r, rva) {
				f.frames = append(f.frames, r)
			}
		}
	}
	sort.SliceStable(f.frames, func(i, j int) bool { return f.frames[i].RVA < f.frames[j].RVA })
	return nil
}

// mapRVA sets r.RVA, through OMAP when the image was rewritten.
func (f *File) mapRVA(r *FrameRecord, rva uint32) bool {
	if r.Size == 0 {
		return false
	}
	if f.addr.omap != nil {
		var ok bool
		if rva, ok = f.addr.mapOMAP(rva); !ok {
			return false
		}
	}
	if uint64(rva)+uint64(r.Size) > 1<<32 {
		return false
	}
	r.RVA = rva
	return true
}

// FrameRecords returns every FPO and FrameData record, by RVA. The slice
// is shared: callers must not modify it.
func (f *File) FrameRecords() []FrameRecord { return f.frames }

// FrameData returns the frame record covering rva. FrameData records win
// over FPO records; among records of one kind, the one starting last at or
// before rva that still covers it wins (the later records of a function
// describe the code after its prologue).
func (f *File) FrameData(rva uint64) (FrameRecord, bool) {
	if rva > 0xFFFFFFFF {
		return FrameRecord{}, false
	}
	a := uint32(rva)
	best := -1
	i := sort.Search(len(f.frames), func(i int) bool { return f.frames[i].RVA > a })
	for j := i - 1; j >= 0; j-- {
		r := &f.frames[j]
		if a-r.RVA >= r.Size {
			if best >= 0 || j < i-64 {
				break
			}
			continue
		}
		if best < 0 || r.Type == 4 && f.frames[best].Type != 4 {
			best = j
		}
		if r.Type == 4 {
			break
		}
	}
	if best < 0 {
		return FrameRecord{}, false
	}
	return f.frames[best], true
}
