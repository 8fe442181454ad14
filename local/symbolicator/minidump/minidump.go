// Package minidump reads minidump files: the crash dumps written by
// Breakpad, Crashpad, Windows (MiniDumpWriteDump) and the tools that convert
// core files. It only reads, checks every offset and count against the file,
// and allocates no more than the file can hold, so hostile input yields an
// error, never a panic or an unbounded allocation.
//
// Parse decodes the streams a stack walker and a symbolication service need
// (threads and their CPU contexts, modules with their code and debug
// identifiers, memory, the exception, system and process information, and
// the Breakpad, Crashpad and Linux extension streams) in one pass; unknown
// streams are listed in Dump.Streams and left alone.
//
// What the package reports follows rust-minidump, the reader behind
// Sentry's Symbolicator, wherever the two readers of record differ: module
// identifiers are written as Symbolicator reports them, system information
// is named as rust-minidump names it, and registers carry rust-minidump's
// names. Breakpad's minidump_dump reads every field it prints the same way,
// except where a doc comment here says otherwise.
//
// Errors come in two kinds. A file whose header or stream directory cannot
// be read is rejected: Parse returns a nil Dump. A known stream that is
// broken (its range lies outside the file, its count does not fit its size,
// one of its records points nowhere) does not stop the others from being
// read: Parse returns the Dump with everything it could read and an
// ErrorList naming each problem, the way go/parser returns a partial syntax
// tree. Callers that want all-or-nothing treat any error as fatal; callers
// that process what they can, as rust-minidump does (it reads each stream
// on its own and needs only the thread list and system information), look
// at which streams failed.
package minidump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	headerSize    = 32
	dirEntrySize  = 12
	mdmpSignature = 0x504d444d // "MDMP" read little-endian
	mdmpVersion   = 0xa793     // low 16 bits of MINIDUMP_HEADER.Version
)

// ErrNotMinidump is wrapped by the error Parse returns for data that does
// not start with the minidump signature.
var ErrNotMinidump = errors.New("not a minidump")

// StreamType is the type of a stream directory entry.
type StreamType uint32

// Stream types this package decodes. Values up to 0xffff are Microsoft's,
// 0x4767xxxx Breakpad's ("Gg"), 0x4350xxxx Crashpad's ("CP") and 0x4d7axxxx
// Mozilla's ("Mz").
const (
	ThreadListStream         StreamType = 3
	ModuleListStream         StreamType = 4
	MemoryListStream         StreamType = 5
	ExceptionStream          StreamType = 6
	SystemInfoStream         StreamType = 7
	Memory64ListStream       StreamType = 9
	UnloadedModuleListStream StreamType = 14
	MiscInfoStream           StreamType = 15
	ThreadNamesStream        StreamType = 24
	BreakpadInfoStream       StreamType = 0x47670001
	AssertionInfoStream      StreamType = 0x47670002
	LinuxCPUInfoStream       StreamType = 0x47670003 // /proc/cpuinfo
	LinuxProcStatusStream    StreamType = 0x47670004 // /proc/self/status
	LinuxLSBReleaseStream    StreamType = 0x47670005 // /etc/lsb-release
	LinuxCmdLineStream       StreamType = 0x47670006 // /proc/self/cmdline
	LinuxEnvironStream       StreamType = 0x47670007 // /proc/self/environ
	LinuxAuxvStream          StreamType = 0x47670008 // /proc/self/auxv
	LinuxMapsStream          StreamType = 0x47670009 // /proc/self/maps
	LinuxDSODebugStream      StreamType = 0x4767000a // r_debug and link_map copies
	CrashpadInfoStream       StreamType = 0x43500001
	MacCrashInfoStream       StreamType = 0x4d7a0001 // __DATA,__crash_info records
	MacBootargsStream        StreamType = 0x4d7a0002 // kern.bootargs
)

var streamNames = map[StreamType]string{
	0:                        "Unused",
	ThreadListStream:         "ThreadList",
	ModuleListStream:         "ModuleList",
	MemoryListStream:         "MemoryList",
	ExceptionStream:          "Exception",
	SystemInfoStream:         "SystemInfo",
	8:                        "ThreadExList",
	Memory64ListStream:       "Memory64List",
	10:                       "CommentA",
	11:                       "CommentW",
	12:                       "HandleData",
	13:                       "FunctionTable",
	UnloadedModuleListStream: "UnloadedModuleList",
	MiscInfoStream:           "MiscInfo",
	16:                       "MemoryInfoList",
	17:                       "ThreadInfoList",
	18:                       "HandleOperationList",
	19:                       "Token",
	20:                       "JavaScriptData",
	21:                       "SystemMemoryInfo",
	22:                       "ProcessVmCounters",
	23:                       "IptTrace",
	ThreadNamesStream:        "ThreadNames",
	BreakpadInfoStream:       "BreakpadInfo",
	AssertionInfoStream:      "AssertionInfo",
	LinuxCPUInfoStream:       "LinuxCpuInfo",
	LinuxProcStatusStream:    "LinuxProcStatus",
	LinuxLSBReleaseStream:    "LinuxLsbRelease",
	LinuxCmdLineStream:       "LinuxCmdLine",
	LinuxEnvironStream:       "LinuxEnviron",
	LinuxAuxvStream:          "LinuxAuxv",
	LinuxMapsStream:          "LinuxMaps",
	LinuxDSODebugStream:      "LinuxDsoDebug",
	CrashpadInfoStream:       "CrashpadInfo",
	MacCrashInfoStream:       "MozMacosCrashInfo",
	MacBootargsStream:        "MozMacosBootargs",
}

// decoded reports whether Parse decodes streams of type t.
func (t StreamType) decoded() bool {
	switch t {
	case ThreadListStream, ModuleListStream, MemoryListStream, ExceptionStream, SystemInfoStream,
		Memory64ListStream, UnloadedModuleListStream, MiscInfoStream, ThreadNamesStream,
		BreakpadInfoStream, AssertionInfoStream, CrashpadInfoStream, MacCrashInfoStream, MacBootargsStream:
		return true
	}
	return t >= LinuxCPUInfoStream && t <= LinuxDSODebugStream
}

// String returns the stream type's name ("ThreadList"), or its number in
// hex when the type has no name here.
func (t StreamType) String() string {
	if s, ok := streamNames[t]; ok {
		return s
	}
	return fmt.Sprintf("0x%x", uint32(t))
}

// StreamInfo is one entry of the stream directory, as written.
type StreamInfo struct {
	Type   StreamType
	Offset uint32 // RVA: offset from the start of the file
	Size   uint32
}

// StreamError reports a known stream, or a record inside one, that could not
// be read.
type StreamError struct {
	Index int // position in the stream directory
	Type  StreamType
	Msg   string // what is wrong, e.g. "range 0x100+0x2000 outside file of 0x800 bytes"
}

func (e *StreamError) Error() string {
	if e.Index < 0 {
		return "minidump: " + e.Msg
	}
	return fmt.Sprintf("minidump: stream %d (%s): %s", e.Index, e.Type, e.Msg)
}

// maxErrors bounds an ErrorList, so that a file of broken records does not
// make a list larger than itself.
const maxErrors = 100

// ErrorList is the error Parse returns next to a partially read Dump: one
// entry per problem, in the order found. It holds at most 100 entries; when
// there were more, a last entry with Index -1 says how many were left out.
type ErrorList []*StreamError

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "minidump: no errors"
	case 1:
		return l[0].Error()
	}
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Has reports whether the list holds an error about a stream of type t.
func (l ErrorList) Has(t StreamType) bool {
	for _, e := range l {
		if e.Type == t {
			return true
		}
	}
	return false
}

// Dump is a parsed minidump. Its byte slices (memory, stack contents, raw
// text streams, CodeView records) point into the data given to Parse, which
// must therefore stay unmodified while the Dump is used.
type Dump struct {
	// Timestamp is the header's time_date_stamp: when the dump was
	// written, in whole seconds, UTC.
	Timestamp time.Time
	// Flags is the header's flags field (MINIDUMP_TYPE bits on Windows).
	Flags uint64
	// ByteOrder is the byte order of the file: little-endian for every
	// dump but those written on big-endian CPUs (old PowerPC Macs).
	ByteOrder binary.ByteOrder
	// Streams is the stream directory as written, known and unknown types.
	Streams []StreamInfo

	// Threads lists the threads of ThreadListStream in file order.
	Threads []Thread
	// ThreadNames maps thread ids to names from ThreadNamesStream (written
	// by Windows and Crashpad); the names are also set on Threads.
	ThreadNames map[uint32]string
	// Modules lists ModuleListStream in file order, including entries that
	// cover no address (see ModuleAt).
	Modules []Module
	// UnloadedModules lists UnloadedModuleListStream in file order.
	UnloadedModules []UnloadedModule
	// Memory holds the captured memory of MemoryListStream and
	// Memory64ListStream.
	Memory Memory
	// Exception is ExceptionStream, or nil.
	Exception *Exception
	// SystemInfo is SystemInfoStream, or nil.
	SystemInfo *SystemInfo
	// MiscInfo is MiscInfoStream, or nil.
	MiscInfo *MiscInfo
	// BreakpadInfo is Breakpad's BreakpadInfoStream, or nil.
	BreakpadInfo *BreakpadInfo
	// Assertion is Breakpad's AssertionInfoStream, or nil.
	Assertion *Assertion
	// CrashpadInfo is Crashpad's CrashpadInfoStream, or nil.
	CrashpadInfo *CrashpadInfo
	// MacCrashInfo holds the records of Mozilla's MozMacosCrashInfo stream.
	MacCrashInfo []MacCrashInfo
	// MacBootargs is the kernel boot arguments string of Mozilla's
	// MozMacosBootargs stream.
	MacBootargs string
	// Linux holds the raw contents of Breakpad's Linux streams.
	Linux LinuxStreams

	data        []byte
	moduleIndex []int // indices into Modules, sorted by base, overlaps dropped
}

// LinuxStreams are copies of /proc and /etc files that Breakpad's and
// Crashpad's Linux writers store. Each is nil when absent; the contents are
// left as written (cmdline and environ are NUL-separated).
type LinuxStreams struct {
	CPUInfo    []byte // /proc/cpuinfo
	ProcStatus []byte // /proc/<pid>/status
	LSBRelease []byte // /etc/lsb-release (or os-release)
	CmdLine    []byte // /proc/<pid>/cmdline
	Environ    []byte // /proc/<pid>/environ
	Auxv       []byte // /proc/<pid>/auxv
	Maps       []byte // /proc/<pid>/maps
	DSODebug   []byte // MDRawDebug and its link_map array
}

// Stream returns the contents of the directory entry of type t (the last
// one when several have that type, as rust-minidump chooses),
// for streams this package does not decode. ok is false when there is no
// such entry or its range lies outside the file.
func (d *Dump) Stream(t StreamType) (data []byte, ok bool) {
	var found *StreamInfo
	for i := range d.Streams {
		if d.Streams[i].Type == t {
			found = &d.Streams[i]
		}
	}
	if found == nil {
		return nil, false
	}
	return sliceAt(d.data, uint64(found.Offset), uint64(found.Size))
}

// Parse reads a minidump held in data. It returns a nil Dump and an error
// when data is not a minidump or its header or stream directory cannot be
// read. Otherwise it returns the Dump, and, when known streams are broken,
// an ErrorList naming each problem together with a Dump holding everything
// else. Unknown stream types are not examined.
//
// When the directory has several entries of one known type, the last one is
// read, as rust-minidump reads it, and the others are reported: Breakpad
// rejects such files.
func Parse(data []byte) (*Dump, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("minidump: file of %d bytes is shorter than the %d-byte header", len(data), headerSize)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch sig := binary.LittleEndian.Uint32(data); {
	case sig == mdmpSignature:
	case binary.BigEndian.Uint32(data) == mdmpSignature:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("minidump: signature 0x%08x is not \"MDMP\": %w", sig, ErrNotMinidump)
	}
	if v := bo.Uint32(data[4:]); v&0xffff != mdmpVersion {
		return nil, fmt.Errorf("minidump: header version 0x%x: low 16 bits must be 0x%x", v, mdmpVersion)
	}
	count := uint64(bo.Uint32(data[8:]))
	dirRVA := uint64(bo.Uint32(data[12:]))
	if dirRVA+count*dirEntrySize > uint64(len(data)) {
		return nil, fmt.Errorf("minidump: stream directory of %d entries at 0x%x (0x%x bytes) outside file of 0x%x bytes",
			count, dirRVA, count*dirEntrySize, len(data))
	}
	d := &Dump{
		Timestamp: time.Unix(int64(bo.Uint32(data[20:])), 0).UTC(),
		Flags:     bo.Uint64(data[24:]),
		ByteOrder: bo,
		Streams:   make([]StreamInfo, count),
		data:      data,
	}
	p := &parser{d: d, data: data, bo: bo, byType: map[StreamType]int{},
		items: len(data)/4 + 1024, bytes: 2*len(data) + 1<<16}
	for i := range d.Streams {
		e := data[dirRVA+uint64(i)*dirEntrySize:]
		s := StreamInfo{Type: StreamType(bo.Uint32(e)), Size: bo.Uint32(e[4:]), Offset: bo.Uint32(e[8:])}
		d.Streams[i] = s
		if prev, dup := p.byType[s.Type]; dup && s.Type.decoded() {
			p.cur, p.curT = prev, s.Type
			p.fail("duplicate: stream %d has the same type and is read instead", i)
		}
		p.byType[s.Type] = i // the last entry of a type wins
	}
	p.parseAll()
	if p.dropped > 0 {
		p.errs = append(p.errs, &StreamError{Index: -1, Msg: fmt.Sprintf("%d more errors not listed", p.dropped)})
	}
	if len(p.errs) > 0 {
		return d, p.errs
	}
	return d, nil
}

// parser carries the state of one Parse call.
type parser struct {
	d       *Dump
	data    []byte
	bo      binary.ByteOrder
	byType  map[StreamType]int
	errs    ErrorList
	dropped int        // errors beyond maxErrors
	cur     int        // directory index of the stream being read
	curT    StreamType // its type

	// Work budgets. In a well-formed file every list entry and every
	// decoded string has bytes of its own, so decoding costs at most a
	// small multiple of the file's size; a hostile file can make records
	// share one list or string many times over. Entries and string bytes
	// are charged against these, and decoding stops when they run out.
	items int // list entries reached through references
	bytes int // bytes of decoded strings
	spent bool
}

// charge spends n entries or bytes of a budget, reporting exhaustion once.
func (p *parser) charge(budget *int, n int) bool {
	if n <= *budget {
		*budget -= n
		return true
	}
	*budget = 0
	if !p.spent {
		p.spent = true
		p.fail("records share data: decoding them would cost more than a file of 0x%x bytes can hold", len(p.data))
	}
	return false
}

// stream returns the contents of the stream of type t and makes it the
// subject of errors reported by fail. ok is false when the stream is absent
// or (after reporting it) out of range.
func (p *parser) stream(t StreamType) ([]byte, bool) {
	i, ok := p.byType[t]
	if !ok {
		return nil, false
	}
	p.cur, p.curT = i, t
	s := p.d.Streams[i]
	b, ok := sliceAt(p.data, uint64(s.Offset), uint64(s.Size))
	if !ok {
		p.fail("range 0x%x+0x%x outside file of 0x%x bytes", s.Offset, s.Size, len(p.data))
		return nil, false
	}
	return b, true
}

// fail records a problem with the current stream.
func (p *parser) fail(format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &StreamError{Index: p.cur, Type: p.curT, Msg: fmt.Sprintf(format, args...)})
}

// loc returns the bytes a MINIDUMP_LOCATION_DESCRIPTOR names, or an error
// message naming the range.
func (p *parser) loc(size, rva uint32) ([]byte, string) {
	b, ok := sliceAt(p.data, uint64(rva), uint64(size))
	if !ok {
		return nil, fmt.Sprintf("range 0x%x+0x%x outside file of 0x%x bytes", rva, size, len(p.data))
	}
	return b, ""
}

func (p *parser) parseAll() {
	// SystemInfo first: it says how to read CPU contexts and module ids.
	p.parseSystemInfo()
	p.parseMiscInfo()
	p.parseMemory()
	p.parseThreads()
	p.parseThreadNames()
	p.parseModules()
	p.parseUnloadedModules()
	p.parseException()
	p.parseBreakpadInfo()
	p.parseAssertion()
	p.parseCrashpadInfo()
	p.parseMacCrashInfo()
	p.parseMacBootargs()
	p.parseLinux()
}

// sliceAt returns data[off:off+size] if that range lies inside data.
func sliceAt(data []byte, off, size uint64) ([]byte, bool) {
	end := off + size
	if end < off || end > uint64(len(data)) {
		return nil, false
	}
	return data[off:end:end], true
}
