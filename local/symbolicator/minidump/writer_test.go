package minidump

import (
	"encoding/binary"
	"unicode/utf16"
)

// dumpWriter builds minidumps for tests: streams and the data they point at
// are appended to one buffer, the stream directory goes last.
type dumpWriter struct {
	bo   byteOrder
	buf  []byte
	dir  []StreamInfo
	time uint32
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func newDumpWriter(bo byteOrder) *dumpWriter {
	return &dumpWriter{bo: bo, buf: make([]byte, headerSize), time: 0x5ab8cee8}
}

// pack encodes values (uint8/16/32/64, int32, []byte, []uint32, []uint64)
// in the writer's byte order.
func (w *dumpWriter) pack(vals ...any) []byte {
	var out []byte
	for _, v := range vals {
		switch v := v.(type) {
		case uint8:
			out = append(out, v)
		case uint16:
			out = w.bo.AppendUint16(out, v)
		case uint32:
			out = w.bo.AppendUint32(out, v)
		case int32:
			out = w.bo.AppendUint32(out, uint32(v))
		case int:
			out = w.bo.AppendUint32(out, uint32(v))
		case uint64:
			out = w.bo.AppendUint64(out, v)
		case []byte:
			out = append(out, v...)
		case [16]byte:
			out = append(out, v[:]...)
		case []uint32:
			for _, x := range v {
				out = w.bo.AppendUint32(out, x)
			}
		case []uint64:
			for _, x := range v {
				out = w.bo.AppendUint64(out, x)
			}
		default:
			panic("pack: unsupported type")
		}
	}
	return out
}

// add appends data, 8-aligned, and returns its RVA.
func (w *dumpWriter) add(data []byte) uint32 {
	for len(w.buf)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
	rva := uint32(len(w.buf))
	w.buf = append(w.buf, data...)
	return rva
}

// string16 appends a MINIDUMP_STRING (with the NUL writers add after it).
func (w *dumpWriter) string16(s string) uint32 {
	u := utf16.Encode([]rune(s))
	b := w.pack(uint32(2 * len(u)))
	for _, c := range u {
		b = w.bo.AppendUint16(b, c)
	}
	return w.add(append(b, 0, 0))
}

// utf8 appends a MinidumpUTF8String.
func (w *dumpWriter) utf8(s string) uint32 {
	return w.add(append(w.pack(uint32(len(s)), []byte(s)), 0))
}

// stream appends a stream and its directory entry.
func (w *dumpWriter) stream(t StreamType, data []byte) uint32 {
	rva := w.add(data)
	w.dir = append(w.dir, StreamInfo{Type: t, Offset: rva, Size: uint32(len(data))})
	return rva
}

// loc packs a MINIDUMP_LOCATION_DESCRIPTOR for data appended now.
func (w *dumpWriter) loc(data []byte) []byte {
	if data == nil {
		return w.pack(uint32(0), uint32(0))
	}
	return w.pack(uint32(len(data)), w.add(data))
}

func (w *dumpWriter) finish() []byte {
	dirRVA := w.add(nil)
	for _, s := range w.dir {
		w.buf = append(w.buf, w.pack(uint32(s.Type), s.Size, s.Offset)...)
	}
	hdr := w.pack(uint32(mdmpSignature), uint32(mdmpVersion), uint32(len(w.dir)), dirRVA, uint32(0), w.time, uint64(0))
	copy(w.buf, hdr)
	return w.buf
}

// Stream builders. Field values not given are zero.

type synthThread struct {
	id         uint32
	stackStart uint64
	stack      []byte
	context    []byte
	teb        uint64
	suspend    uint32
	prio       uint32
}

func (w *dumpWriter) threadList(threads ...synthThread) {
	b := w.pack(uint32(len(threads)))
	for _, t := range threads {
		var stackLoc []byte
		if t.stack != nil {
			stackLoc = w.loc(t.stack)
		} else {
			stackLoc = w.pack(uint32(0), uint32(0))
		}
		b = append(b, w.pack(t.id, t.suspend, uint32(0x20), t.prio, t.teb, t.stackStart, stackLoc, w.loc(t.context))...)
	}
	w.stream(ThreadListStream, b)
}

type synthModule struct {
	base      uint64
	size      uint32
	checksum  uint32
	timestamp uint32
	name      string
	cv        []byte
	version   [2]uint32 // file version hi, lo; zero means no VS_FIXEDFILEINFO
}

func (w *dumpWriter) moduleList(mods ...synthModule) {
	b := w.pack(uint32(len(mods)))
	for _, m := range mods {
		ffi := make([]byte, 52)
		if m.version != [2]uint32{} {
			ffi = w.pack(uint32(vsFFISignature), uint32(vsFFIStrucVersion), m.version[0], m.version[1],
				m.version[0], m.version[1], uint32(0x3f), uint32(0), uint32(4), uint32(2), uint32(0), uint32(0), uint32(0))
		}
		b = append(b, w.pack(m.base, m.size, m.checksum, m.timestamp, w.string16(m.name), ffi,
			w.loc(m.cv), uint32(0), uint32(0), make([]byte, 16))...)
	}
	w.stream(ModuleListStream, b)
}

func (w *dumpWriter) cvPDB70(guid [16]byte, age uint32, pdb string) []byte {
	return append(w.pack(uint32(cvPDB70), guid[:], age, []byte(pdb)), 0)
}

func (w *dumpWriter) cvPDB20(sig, age uint32, pdb string) []byte {
	return append(w.pack(uint32(cvPDB20), uint32(0), sig, age, []byte(pdb)), 0)
}

func (w *dumpWriter) cvELF(buildID []byte) []byte {
	return w.pack(uint32(cvELF), buildID)
}

func (w *dumpWriter) memoryList(regions ...Region) {
	b := w.pack(uint32(len(regions)))
	for _, r := range regions {
		b = append(b, w.pack(r.Start, w.loc(r.Data))...)
	}
	w.stream(MemoryListStream, b)
}

func (w *dumpWriter) memory64List(regions ...Region) {
	var data []byte
	for _, r := range regions {
		data = append(data, r.Data...)
	}
	base := w.add(data)
	b := w.pack(uint64(len(regions)), uint64(base))
	for _, r := range regions {
		b = append(b, w.pack(r.Start, uint64(len(r.Data)))...)
	}
	w.stream(Memory64ListStream, b)
}

type synthSystemInfo struct {
	arch      uint16
	level     uint16
	revision  uint16
	cpus      uint8
	product   uint8
	major     uint32
	minor     uint32
	build     uint32
	platform  uint32
	csd       string
	suiteMask uint16
	cpu       []byte // 24 bytes of CPU_INFORMATION
}

func (w *dumpWriter) systemInfo(s synthSystemInfo) {
	cpu := make([]byte, 24)
	copy(cpu, s.cpu)
	w.stream(SystemInfoStream, w.pack(s.arch, s.level, s.revision, s.cpus, s.product, s.major, s.minor, s.build,
		s.platform, w.string16(s.csd), s.suiteMask, uint16(0), cpu))
}

func (w *dumpWriter) exception(tid, code, flags uint32, addr uint64, params []uint64, ctx []byte) {
	info := make([]uint64, 15)
	copy(info, params)
	w.stream(ExceptionStream, w.pack(tid, uint32(0), code, flags, uint64(0), addr, uint32(len(params)), uint32(0), info, w.loc(ctx)))
}

// Contexts: each takes register values by their name in Context.Names.

func (w *dumpWriter) contextAMD64(flags uint32, regs map[string]uint64) []byte {
	b := make([]byte, layoutAMD64.size)
	w.bo.PutUint32(b[0x30:], flags)
	w.bo.PutUint32(b[0x44:], 0x246) // eflags
	return w.fill(b, layoutAMD64, regs)
}

func (w *dumpWriter) context(l *layout, flags uint64, regs map[string]uint64) []byte {
	b := make([]byte, l.size)
	if l.flags64 {
		w.bo.PutUint64(b[l.flagsOff:], flags)
	} else {
		w.bo.PutUint32(b[l.flagsOff:], uint32(flags))
	}
	return w.fill(b, l, regs)
}

func (w *dumpWriter) fill(b []byte, l *layout, regs map[string]uint64) []byte {
	for name, v := range regs {
		r, ok := l.byName[name]
		if !ok {
			panic("no register " + name + " in " + l.arch)
		}
		if r.size == 4 {
			w.bo.PutUint32(b[r.off:], uint32(v))
		} else {
			w.bo.PutUint64(b[r.off:], v)
		}
	}
	return b
}
