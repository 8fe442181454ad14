package coredump

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf16"
)

// Minidump constants (Breakpad's minidump_format.h, Microsoft's
// minidumpapiset.h).
const (
	mdSignature = 0x504d444d // "MDMP"
	mdVersion   = 0xa793     // MINIDUMP_VERSION

	streamThreadList = 3
	streamModuleList = 4
	streamMemoryList = 5
	streamException  = 6
	streamSystemInfo = 7
	streamLinuxAuxv  = 0x47670008
	streamLinuxMaps  = 0x47670009

	archAMD64     = 9
	archARM64     = 12     // Microsoft's PROCESSOR_ARCHITECTURE_ARM64
	archARM64Old  = 0x8003 // Breakpad's MD_CPU_ARCHITECTURE_ARM64_OLD, which its Linux writer uses
	platformLinux = 0x8201

	cvSignatureELF = 0x4270454c // "BpEL": Breakpad's MDCVInfoELF

	threadSize     = 48
	moduleSize     = 108 // MD_MODULE_SIZE: MDRawModule without tail padding
	memDescSize    = 16
	exceptionSize  = 168
	systemInfoSize = 56
	headerSize     = 32
	dirEntrySize   = 12
)

// location is an MDLocationDescriptor.
type location struct{ size, rva uint32 }

// memDesc is an MDMemoryDescriptor.
type memDesc struct {
	start uint64
	loc   location
}

// dumpWriter lays a minidump out in memory: every blob is appended at an
// 8-byte aligned offset (as Breakpad's MinidumpFileWriter does) and the
// stream directory, reserved after the header, is filled in at the end.
type dumpWriter struct {
	buf  []byte
	dirs []struct {
		typ uint32
		loc location
	}
}

var le = binary.LittleEndian

// alloc reserves n zero bytes and returns their location.
func (w *dumpWriter) alloc(n int) (location, error) {
	for len(w.buf)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
	if uint64(len(w.buf))+uint64(n) > math.MaxUint32 {
		return location{}, fmt.Errorf("coredump: the minidump would pass 4 GiB, the format's limit")
	}
	loc := location{size: uint32(n), rva: uint32(len(w.buf))}
	w.buf = append(w.buf, make([]byte, n)...)
	return loc, nil
}

// write appends b and returns its location.
func (w *dumpWriter) write(b []byte) (location, error) {
	loc, err := w.alloc(len(b))
	if err != nil {
		return loc, err
	}
	copy(w.buf[loc.rva:], b)
	return loc, nil
}

// at returns the bytes of loc for filling in.
func (w *dumpWriter) at(loc location) []byte { return w.buf[loc.rva : loc.rva+loc.size] }

// writeString appends an MDString: byte length, UTF-16LE text, a 0 unit.
func (w *dumpWriter) writeString(s string) (location, error) {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 4+2*len(u)+2)
	le.PutUint32(b, uint32(2*len(u)))
	for i, c := range u {
		le.PutUint16(b[4+2*i:], c)
	}
	return w.write(b)
}

func (w *dumpWriter) addStream(typ uint32, loc location) {
	w.dirs = append(w.dirs, struct {
		typ uint32
		loc location
	}{typ, loc})
}

func putLocation(b []byte, l location) {
	le.PutUint32(b, l.size)
	le.PutUint32(b[4:], l.rva)
}

func putMemDesc(b []byte, m memDesc) {
	le.PutUint64(b, m.start)
	putLocation(b[8:], m.loc)
}

// header writes the MDRawHeader and directory into the space reserved at
// the start of buf.
func (w *dumpWriter) finish(timestamp uint32) []byte {
	h := w.buf[:headerSize]
	le.PutUint32(h[0:], mdSignature)
	le.PutUint32(h[4:], mdVersion)
	le.PutUint32(h[8:], uint32(len(w.dirs)))
	le.PutUint32(h[12:], headerSize)
	le.PutUint32(h[16:], 0) // checksum: unused
	le.PutUint32(h[20:], timestamp)
	le.PutUint64(h[24:], 0) // flags: MiniDumpNormal
	for i, d := range w.dirs {
		e := w.buf[headerSize+dirEntrySize*i:]
		le.PutUint32(e, d.typ)
		putLocation(e[4:], d.loc)
	}
	return w.buf
}
