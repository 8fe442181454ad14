package minidump

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Thread is one entry of the thread list (MINIDUMP_THREAD).
type Thread struct {
	ID            uint32
	SuspendCount  uint32
	PriorityClass uint32
	Priority      uint32
	TEB           uint64 // thread environment block (Windows) or 0
	// Name comes from ThreadNamesStream; "" when the dump names no thread.
	Name string
	// Stack is the captured stack memory. When the thread's descriptor
	// holds no data (Windows writes RVA 0 for some stacks) it is the Memory
	// region containing the descriptor's start address, as rust-minidump
	// falls back to; when there is none either, Stack.Start is that address
	// and Stack.Data is empty.
	Stack Region
	// Context is the register state, nil when the dump holds none or it
	// could not be read (the ErrorList then says why).
	Context *Context
}

const (
	threadSize     = 48 // MINIDUMP_THREAD
	threadNameSize = 12 // MINIDUMP_THREAD_NAME, packed
)

func (p *parser) parseThreads() {
	b, ok := p.stream(ThreadListStream)
	if !ok {
		return
	}
	n, off, ok := p.listCount(b, threadSize)
	if !ok {
		return
	}
	p.d.Threads = make([]Thread, n)
	for i := range p.d.Threads {
		e := b[off+i*threadSize:]
		t := &p.d.Threads[i]
		t.ID = p.bo.Uint32(e)
		t.SuspendCount = p.bo.Uint32(e[4:])
		t.PriorityClass = p.bo.Uint32(e[8:])
		t.Priority = p.bo.Uint32(e[12:])
		t.TEB = p.bo.Uint64(e[16:])
		t.Stack = p.stack(i, t.ID, e[24:40])
		ctxSize, ctxRVA := p.bo.Uint32(e[40:]), p.bo.Uint32(e[44:])
		t.Context = p.context(fmt.Sprintf("thread %d (id 0x%x)", i, t.ID), ctxSize, ctxRVA)
	}
}

// stack resolves a thread's stack MINIDUMP_MEMORY_DESCRIPTOR.
func (p *parser) stack(i int, id uint32, desc []byte) Region {
	start := p.bo.Uint64(desc)
	size, rva := p.bo.Uint32(desc[8:]), p.bo.Uint32(desc[12:])
	if size != 0 && rva != 0 {
		data, msg := p.loc(size, rva)
		if msg == "" {
			return Region{Start: start, Data: data}
		}
		p.fail("thread %d (id 0x%x): stack: %s", i, id, msg)
	}
	if r, ok := p.d.Memory.Find(start); ok {
		return r
	}
	return Region{Start: start}
}

// context reads the CPU context a location descriptor names; what names
// its owner in error messages.
func (p *parser) context(what string, size, rva uint32) *Context {
	if size == 0 {
		return nil
	}
	raw, msg := p.loc(size, rva)
	if msg != "" {
		p.fail("%s: context: %s", what, msg)
		return nil
	}
	c, err := decodeContext(raw, p.d.SystemInfo, p.bo)
	if err != nil {
		p.fail("%s: %v", what, err)
		return nil
	}
	return c
}

func (p *parser) parseThreadNames() {
	b, ok := p.stream(ThreadNamesStream)
	if !ok {
		return
	}
	n, off, ok := p.listCount(b, threadNameSize)
	if !ok {
		return
	}
	p.d.ThreadNames = make(map[uint32]string, n)
	for i := 0; i < n; i++ {
		e := b[off+i*threadNameSize:]
		id := p.bo.Uint32(e)
		name, msg := p.string16(p.bo.Uint64(e[4:]))
		if msg != "" {
			p.fail("name %d (thread 0x%x): %s", i, id, msg)
			continue
		}
		p.d.ThreadNames[id] = name
	}
	for i := range p.d.Threads {
		p.d.Threads[i].Name = p.d.ThreadNames[p.d.Threads[i].ID]
	}
}

// string16 reads a MINIDUMP_STRING: a u32 byte length and that many bytes
// of UTF-16 in the file's byte order. Unpaired surrogates become U+FFFD.
func (p *parser) string16(rva uint64) (string, string) {
	hdr, ok := sliceAt(p.data, rva, 4)
	if !ok {
		return "", fmt.Sprintf("string at 0x%x outside file of 0x%x bytes", rva, len(p.data))
	}
	n := uint64(p.bo.Uint32(hdr))
	if n%2 != 0 {
		return "", fmt.Sprintf("string at 0x%x has odd byte length %d", rva, n)
	}
	b, ok := sliceAt(p.data, rva+4, n)
	if !ok {
		return "", fmt.Sprintf("string at 0x%x of %d bytes outside file of 0x%x bytes", rva, n, len(p.data))
	}
	if !p.charge(&p.bytes, int(n)*3/2) {
		return "", "string budget exhausted"
	}
	return p.utf16(b), ""
}

// utf16 decodes UTF-16 in the file's byte order into UTF-8, writing each
// unpaired surrogate as U+FFFD.
func (p *parser) utf16(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) / 2)
	for i := 0; i+1 < len(b); i += 2 {
		r := rune(p.bo.Uint16(b[i:]))
		if utf16.IsSurrogate(r) {
			r2 := utf8.RuneError
			if i+3 < len(b) {
				r2 = rune(p.bo.Uint16(b[i+2:]))
			}
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				r = d
				i += 2
			} else {
				r = utf8.RuneError
			}
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// utf16z decodes a fixed-size UTF-16 field up to its first NUL.
func (p *parser) utf16z(b []byte) string {
	for i := 0; i+1 < len(b); i += 2 {
		if p.bo.Uint16(b[i:]) == 0 {
			return p.utf16(b[:i])
		}
	}
	return p.utf16(b)
}

// Exception is the exception stream (MINIDUMP_EXCEPTION_STREAM): the
// thread that crashed or asked for the dump, and why.
type Exception struct {
	ThreadID uint32
	// Code is the exception code: a Windows exception or NTSTATUS code,
	// the signal number on Linux and Android, the Mach exception type on
	// macOS and iOS.
	Code uint32
	// Flags holds the Windows exception flags, Linux's si_code or the Mach
	// exception code.
	Flags uint32
	// Record is the address of a chained exception record in the crashed
	// process (Windows), usually 0.
	Record uint64
	// Address is where the exception happened: the faulting instruction,
	// or on Linux and macOS the faulting data address.
	Address uint64
	// Parameters are the ExceptionInformation values (at most 15).
	Parameters []uint64
	// Context is the register state at the exception, nil when absent or
	// unreadable. Walkers start the crashed thread from it rather than from
	// the thread's own context, which is the dump writer's.
	Context *Context
}

const exceptionSize = 168

func (p *parser) parseException() {
	b, ok := p.stream(ExceptionStream)
	if !ok {
		return
	}
	if len(b) < exceptionSize {
		p.fail("stream of %d bytes is shorter than the %d bytes of MINIDUMP_EXCEPTION_STREAM", len(b), exceptionSize)
		return
	}
	e := &Exception{
		ThreadID: p.bo.Uint32(b),
		Code:     p.bo.Uint32(b[8:]),
		Flags:    p.bo.Uint32(b[12:]),
		Record:   p.bo.Uint64(b[16:]),
		Address:  p.bo.Uint64(b[24:]),
	}
	n := p.bo.Uint32(b[32:])
	if n > 15 {
		p.fail("%d exception parameters, at most 15 fit", n)
		n = 15
	}
	e.Parameters = make([]uint64, n)
	for i := range e.Parameters {
		e.Parameters[i] = p.bo.Uint64(b[40+8*i:])
	}
	e.Context = p.context("exception", p.bo.Uint32(b[160:]), p.bo.Uint32(b[164:]))
	p.d.Exception = e
}

// SystemInfo is the system information stream (MINIDUMP_SYSTEM_INFO).
type SystemInfo struct {
	ProcessorArchitecture uint16 // PROCESSOR_ARCHITECTURE_* (Breakpad adds 0x8001…)
	ProcessorLevel        uint16
	ProcessorRevision     uint16
	CPUCount              int // number_of_processors
	ProductType           uint8
	MajorVersion          uint32
	MinorVersion          uint32
	BuildNumber           uint32
	PlatformID            uint32 // VER_PLATFORM_* (Breakpad adds 0x8000…)
	SuiteMask             uint16
	// CSDVersion is the string the CSD version RVA points at: the service
	// pack on Windows, the build ("19H114") on macOS, `uname -srvmo` on
	// Linux.
	CSDVersion string
	// CPUData is the 24-byte CPU_INFORMATION union as written.
	CPUData []byte

	// CPU is rust-minidump's name for the processor architecture: "x86",
	// "amd64", "ppc", "ppc64", "sparc", "arm", "arm64", "mips", "mips64",
	// or "unknown".
	CPU string
	// OS is rust-minidump's long name for the platform: "Windows NT",
	// "Mac OS X", "iOS", "Linux", "Solaris", "Android", "PS3", "NaCl", or
	// for other platform ids rust-minidump's rendering of the number.
	OS string
	// OSVersion and OSBuild are the operating system version and build as
	// rust-minidump derives them (and Symbolicator reports them): normally
	// "major.minor.build" and the trimmed CSDVersion; for Linux dumps whose
	// version numbers are 0.0.0, the kernel release and the rest of the
	// uname string (without its machine and "Linux/GNU" words).
	OSVersion string
	OSBuild   string
	// CPUInfo describes the processor as rust-minidump does: "GenuineIntel
	// family 6 model 70 stepping 1" for x86 (the vendor only for 32-bit
	// x86, whose CPU_INFORMATION holds it), "ARMv7 ARM Cortex-A9 features:
	// …" for arm, "" for others.
	CPUInfo string
}

// Operating system names of SystemInfo.OS.
const (
	osWindows = "Windows NT"
	osMacOS   = "Mac OS X"
	osIOS     = "iOS"
	osLinux   = "Linux"
)

const systemInfoSize = 56

func (p *parser) parseSystemInfo() {
	b, ok := p.stream(SystemInfoStream)
	if !ok {
		return
	}
	if len(b) < systemInfoSize {
		p.fail("stream of %d bytes is shorter than the %d bytes of MINIDUMP_SYSTEM_INFO", len(b), systemInfoSize)
		return
	}
	s := &SystemInfo{
		ProcessorArchitecture: p.bo.Uint16(b),
		ProcessorLevel:        p.bo.Uint16(b[2:]),
		ProcessorRevision:     p.bo.Uint16(b[4:]),
		CPUCount:              int(b[6]),
		ProductType:           b[7],
		MajorVersion:          p.bo.Uint32(b[8:]),
		MinorVersion:          p.bo.Uint32(b[12:]),
		BuildNumber:           p.bo.Uint32(b[16:]),
		PlatformID:            p.bo.Uint32(b[20:]),
		SuiteMask:             p.bo.Uint16(b[28:]),
		CPUData:               b[32:56:56],
	}
	if rva := p.bo.Uint32(b[24:]); rva != 0 {
		csd, msg := p.string16(uint64(rva))
		if msg != "" {
			p.fail("CSD version: %s", msg)
		}
		s.CSDVersion = csd
	}
	s.CPU = cpuName(s.ProcessorArchitecture)
	s.OS = osName(s.PlatformID)
	s.OSVersion, s.OSBuild = osParts(s)
	s.CPUInfo = p.cpuInfo(s)
	p.d.SystemInfo = s
}

func cpuName(arch uint16) string {
	switch arch {
	case 0, 10:
		return "x86"
	case 9:
		return "amd64"
	case 3:
		return "ppc"
	case 0x8002:
		return "ppc64"
	case 0x8001:
		return "sparc"
	case 5:
		return "arm"
	case 12, 0x8003:
		return "arm64"
	case 1:
		return "mips"
	case 0x8004:
		return "mips64"
	}
	return "unknown"
}

func osName(id uint32) string {
	switch id {
	case 2, 3: // VER_PLATFORM_WIN32_WINDOWS, VER_PLATFORM_WIN32_NT
		return osWindows
	case 0x8101:
		return osMacOS
	case 0x8102:
		return osIOS
	case 0x8201:
		return osLinux
	case 0x8202:
		return "Solaris"
	case 0x8203:
		return "Android"
	case 0x8204:
		return "PS3"
	case 0x8205:
		return "NaCl"
	}
	// rust-minidump formats unknown ids as format!("0x{:#08x}", id): "0x",
	// then the id in hex with its own "0x", zero-padded to 8 characters.
	return fmt.Sprintf("0x0x%06x", id)
}

// osParts splits the OS version and build as rust-minidump's os_parts does.
func osParts(s *SystemInfo) (version, build string) {
	version = fmt.Sprintf("%d.%d.%d", s.MajorVersion, s.MinorVersion, s.BuildNumber)
	build = strings.TrimSpace(s.CSDVersion)
	if s.PlatformID != 0x8201 || version != "0.0.0" {
		return version, build
	}
	// Breakpad and Crashpad write `uname -srvmo`: "Linux <release>
	// <version…> <machine> [Linux/GNU]".
	parts := strings.Split(s.CSDVersion, " ")
	if len(parts) < 2 || parts[1] == "0.0.0" {
		return version, build
	}
	rest := parts[2:]
	if n := len(rest); n > 0 {
		last := rest[n-1]
		rest = rest[:n-1]
		if last == "Linux/GNU" && len(rest) > 0 {
			rest = rest[:len(rest)-1]
		}
	}
	return parts[1], strings.Join(rest, " ")
}

// ARM implementers, parts and ELF hwcaps rust-minidump names in its CPU
// description.
var (
	armVendors = map[uint32]string{0x41: "ARM", 0x51: "Qualcomm", 0x56: "Marvell", 0x69: "Intel/Marvell"}
	armParts   = map[uint32]string{
		0x4100c050: "Cortex-A5", 0x4100c080: "Cortex-A8", 0x4100c090: "Cortex-A9",
		0x4100c0f0: "Cortex-A15", 0x4100c140: "Cortex-R4", 0x4100c150: "Cortex-R5",
		0x4100b360: "ARM1136", 0x4100b560: "ARM1156", 0x4100b760: "ARM1176",
		0x4100b020: "ARM11-MPCore", 0x41009260: "ARM926", 0x41009460: "ARM946",
		0x41009660: "ARM966", 0x510006f0: "Krait", 0x510000f0: "Scorpion",
	}
	armHWCaps = []string{
		"swp", "half", "thumb", "26bit", "fastmult", "fpa", "vfpv2", "edsp", "java", "iwmmxt",
		"crunch", "thumbee", "neon", "vfpv3", "vfpv3d16", "tls", "vfpv4", "idiva", "idivt",
	}
)

func (p *parser) cpuInfo(s *SystemInfo) string {
	switch s.CPU {
	case "x86", "amd64":
		var b strings.Builder
		if s.CPU == "x86" {
			// The vendor id is three u32s holding the cpuid string.
			for i := 0; i < 3; i++ {
				v := p.bo.Uint32(s.CPUData[4*i:])
				for k := 0; k < 4; k++ {
					b.WriteRune(rune(byte(v >> (8 * k))))
				}
			}
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "family %d model %d stepping %d", s.ProcessorLevel, s.ProcessorRevision>>8&0xff, s.ProcessorRevision&0xff)
		return b.String()
	case "arm":
		info := fmt.Sprintf("ARMv%d", s.ProcessorLevel)
		if cpuid := p.bo.Uint32(s.CPUData); cpuid != 0 {
			vendor, part := cpuid>>24&0xff, cpuid&0xff00fff0
			if v, ok := armVendors[vendor]; ok {
				info += " " + v
			} else {
				info += fmt.Sprintf(" vendor(%#x)", vendor)
			}
			if v, ok := armParts[part]; ok {
				info += " " + v
			} else {
				info += fmt.Sprintf(" part(%#x)", part)
			}
		}
		// rust-minidump names 19 hwcaps but adds the heading for any of the
		// 22 it knows.
		if caps := p.bo.Uint32(s.CPUData[4:]); caps&(1<<22-1) != 0 {
			var names []string
			for i, name := range armHWCaps {
				if caps&(1<<i) != 0 {
					names = append(names, name)
				}
			}
			info += " features: " + strings.Join(names, ",")
		}
		return info
	}
	return ""
}

// MiscInfo is the MINIDUMP_MISC_INFO stream, of any of its five versions.
// Fields the stream is too small for, or that Flags1 does not mark valid,
// are zero: check Flags1 to tell a valid zero from a missing value.
type MiscInfo struct {
	// Version is the largest MINIDUMP_MISC_INFO_N (1 to 5) the stream
	// holds; rust-minidump goes by the stream's size too.
	Version    int
	SizeOfInfo uint32
	Flags1     uint32

	ProcessID         uint32    // MINIDUMP_MISC1_PROCESS_ID
	ProcessCreateTime time.Time // MINIDUMP_MISC1_PROCESS_TIMES; zero Time when invalid
	ProcessUserTime   uint32    // seconds
	ProcessKernelTime uint32    // seconds

	// Version 2, MINIDUMP_MISC1_PROCESSOR_POWER_INFO.
	ProcessorMaxMHz           uint32
	ProcessorCurrentMHz       uint32
	ProcessorMHzLimit         uint32
	ProcessorMaxIdleState     uint32
	ProcessorCurrentIdleState uint32

	// Version 3.
	ProcessIntegrityLevel uint32 // MINIDUMP_MISC3_PROCESS_INTEGRITY
	ProcessExecuteFlags   uint32 // MINIDUMP_MISC3_PROCESS_EXECUTE_FLAGS
	ProtectedProcess      uint32 // MINIDUMP_MISC3_PROTECTED_PROCESS
	TimeZoneID            uint32 // MINIDUMP_MISC3_TIMEZONE
	TimeZone              *TimeZone

	// Version 4, MINIDUMP_MISC4_BUILDSTRING.
	BuildString string
	DbgBldStr   string

	// Version 5.
	XStateContextSize     uint32 // XSTATE_CONFIG_FEATURE_MSC_INFO.ContextSize
	XStateEnabledFeatures uint64
	ProcessCookie         uint32 // MINIDUMP_MISC5_PROCESS_COOKIE
}

// TimeZone is the TIME_ZONE_INFORMATION of MiscInfo (the transition dates
// are left out).
type TimeZone struct {
	Bias         int32 // minutes, UTC = local + Bias
	StandardName string
	StandardBias int32
	DaylightName string
	DaylightBias int32
}

// Sizes of MINIDUMP_MISC_INFO, _2, _3, _4 and _5.
var miscInfoSizes = [...]int{24, 44, 232, 832, 1364}

const (
	misc1ProcessID     = 0x001
	misc1ProcessTimes  = 0x002
	misc1PowerInfo     = 0x004
	misc3Integrity     = 0x010
	misc3ExecuteFlags  = 0x020
	misc3TimeZone      = 0x040
	misc3Protected     = 0x080
	misc4BuildString   = 0x100
	misc5ProcessCookie = 0x200
)

func (p *parser) parseMiscInfo() {
	b, ok := p.stream(MiscInfoStream)
	if !ok {
		return
	}
	m := &MiscInfo{}
	for v, size := range miscInfoSizes {
		if len(b) >= size {
			m.Version = v + 1
		}
	}
	if m.Version == 0 {
		p.fail("stream of %d bytes is shorter than the %d bytes of MINIDUMP_MISC_INFO", len(b), miscInfoSizes[0])
		return
	}
	u32 := func(off int) uint32 { return p.bo.Uint32(b[off:]) }
	m.SizeOfInfo, m.Flags1 = u32(0), u32(4)
	has := func(flag uint32) bool { return m.Flags1&flag != 0 }
	if has(misc1ProcessID) {
		m.ProcessID = u32(8)
	}
	if has(misc1ProcessTimes) {
		m.ProcessCreateTime = time.Unix(int64(u32(12)), 0).UTC()
		m.ProcessUserTime, m.ProcessKernelTime = u32(16), u32(20)
	}
	if m.Version >= 2 && has(misc1PowerInfo) {
		m.ProcessorMaxMHz, m.ProcessorCurrentMHz, m.ProcessorMHzLimit = u32(24), u32(28), u32(32)
		m.ProcessorMaxIdleState, m.ProcessorCurrentIdleState = u32(36), u32(40)
	}
	if m.Version >= 3 {
		if has(misc3Integrity) {
			m.ProcessIntegrityLevel = u32(44)
		}
		if has(misc3ExecuteFlags) {
			m.ProcessExecuteFlags = u32(48)
		}
		if has(misc3Protected) {
			m.ProtectedProcess = u32(52)
		}
		if has(misc3TimeZone) {
			m.TimeZoneID = u32(56)
			m.TimeZone = &TimeZone{
				Bias:         int32(u32(60)),
				StandardName: p.utf16z(b[64:128]),
				StandardBias: int32(u32(144)),
				DaylightName: p.utf16z(b[148:212]),
				DaylightBias: int32(u32(228)),
			}
		}
	}
	if m.Version >= 4 && has(misc4BuildString) {
		m.BuildString = p.utf16z(b[232:752])
		m.DbgBldStr = p.utf16z(b[752:832])
	}
	if m.Version >= 5 {
		m.XStateContextSize = u32(836)
		m.XStateEnabledFeatures = p.bo.Uint64(b[840:])
		if has(misc5ProcessCookie) {
			m.ProcessCookie = u32(1360)
		}
	}
	p.d.MiscInfo = m
}

// BreakpadInfo is Breakpad's MINIDUMP_BREAKPAD_INFO stream: which thread
// wrote the dump and which asked for it. Each id is meaningful only when
// its Has flag (from the validity bits) is set.
type BreakpadInfo struct {
	Validity              uint32
	DumpThreadID          uint32
	HasDumpThreadID       bool
	RequestingThreadID    uint32
	HasRequestingThreadID bool
}

func (p *parser) parseBreakpadInfo() {
	b, ok := p.stream(BreakpadInfoStream)
	if !ok {
		return
	}
	if len(b) < 12 {
		p.fail("stream of %d bytes is shorter than the 12 bytes of MINIDUMP_BREAKPAD_INFO", len(b))
		return
	}
	v := p.bo.Uint32(b)
	p.d.BreakpadInfo = &BreakpadInfo{
		Validity:              v,
		DumpThreadID:          p.bo.Uint32(b[4:]),
		HasDumpThreadID:       v&1 != 0,
		RequestingThreadID:    p.bo.Uint32(b[8:]),
		HasRequestingThreadID: v&2 != 0,
	}
}

// Assertion is Breakpad's MINIDUMP_ASSERTION_INFO stream, written for a
// failed assertion, an invalid parameter or a pure virtual call.
type Assertion struct {
	Expression string
	Function   string
	File       string
	Line       uint32
	// Type is 1 for an invalid parameter, 2 for a pure virtual call, 0
	// otherwise.
	Type uint32
}

func (p *parser) parseAssertion() {
	b, ok := p.stream(AssertionInfoStream)
	if !ok {
		return
	}
	if len(b) < 776 {
		p.fail("stream of %d bytes is shorter than the 776 bytes of MINIDUMP_ASSERTION_INFO", len(b))
		return
	}
	p.d.Assertion = &Assertion{
		Expression: p.utf16z(b[0:256]),
		Function:   p.utf16z(b[256:512]),
		File:       p.utf16z(b[512:768]),
		Line:       p.bo.Uint32(b[768:]),
		Type:       p.bo.Uint32(b[772:]),
	}
}

// CrashpadInfo is Crashpad's MinidumpCrashpadInfo stream: report and client
// ids and the annotations the process and its modules registered.
type CrashpadInfo struct {
	Version uint32
	// ReportID and ClientID are UUIDs in lowercase hyphenated form, all
	// zeros when the writer had none.
	ReportID          string
	ClientID          string
	SimpleAnnotations map[string]string
	Modules           []CrashpadModuleInfo
	// AddressMask is the pointer authentication mask of arm64 processes
	// (0 when absent or unknown).
	AddressMask uint64
}

// CrashpadModuleInfo holds the annotations of one module
// (MinidumpModuleCrashpadInfo).
type CrashpadModuleInfo struct {
	// ModuleIndex is the module's index in Dump.Modules.
	ModuleIndex       int
	Version           uint32
	ListAnnotations   []string
	SimpleAnnotations map[string]string
	AnnotationObjects map[string]Annotation
}

// Annotation is a typed Crashpad annotation object.
type Annotation struct {
	// Type is 1 for a string, 0 for an invalid annotation, 0x8000 and
	// above for types the application defines.
	Type  uint16
	Value []byte // the annotation's bytes (UTF-8 text for strings)
}

const crashpadInfoSize = 52

func (p *parser) parseCrashpadInfo() {
	b, ok := p.stream(CrashpadInfoStream)
	if !ok {
		return
	}
	if len(b) < crashpadInfoSize {
		p.fail("stream of %d bytes is shorter than the %d bytes of MinidumpCrashpadInfo", len(b), crashpadInfoSize)
		return
	}
	c := &CrashpadInfo{
		Version:  p.bo.Uint32(b),
		ReportID: uuidString(guidUUID(b[4:20], p.bo)),
		ClientID: uuidString(guidUUID(b[20:36], p.bo)),
	}
	if c.Version == 0 {
		p.fail("version 0 is invalid")
		return
	}
	if len(b) >= crashpadInfoSize+12 {
		c.AddressMask = p.bo.Uint64(b[56:])
	}
	c.SimpleAnnotations = p.dictionary("simple annotations", p.bo.Uint32(b[36:]), p.bo.Uint32(b[40:]))
	c.Modules = p.crashpadModules(p.bo.Uint32(b[44:]), p.bo.Uint32(b[48:]))
	p.d.CrashpadInfo = c
}

// crashpadModules reads a MinidumpModuleCrashpadInfoList: a count of links
// (module index, location of a MinidumpModuleCrashpadInfo).
func (p *parser) crashpadModules(size, rva uint32) []CrashpadModuleInfo {
	if size == 0 {
		return nil
	}
	b, msg := p.loc(size, rva)
	if msg == "" && len(b) < 4 {
		msg = fmt.Sprintf("%d bytes, too short for a count", len(b))
	}
	if msg != "" {
		p.fail("module list: %s", msg)
		return nil
	}
	n := uint64(p.bo.Uint32(b))
	if n > uint64(len(b)-4)/12 {
		p.fail("module list: %d links of 12 bytes do not fit in %d bytes", n, len(b))
		return nil
	}
	if !p.charge(&p.items, int(n)) {
		return nil
	}
	var out []CrashpadModuleInfo
	for i := 0; i < int(n); i++ {
		link := b[4+12*i:]
		m := CrashpadModuleInfo{ModuleIndex: int(p.bo.Uint32(link))}
		what := fmt.Sprintf("module list entry %d (module %d)", i, m.ModuleIndex)
		e, ok := sliceAt(p.data, uint64(p.bo.Uint32(link[8:])), 28)
		if !ok {
			p.fail("%s: MinidumpModuleCrashpadInfo at 0x%x outside file of 0x%x bytes", what, p.bo.Uint32(link[8:]), len(p.data))
			continue
		}
		m.Version = p.bo.Uint32(e)
		m.ListAnnotations = p.stringList(what+": list annotations", p.bo.Uint32(e[4:]), p.bo.Uint32(e[8:]))
		m.SimpleAnnotations = p.dictionary(what+": simple annotations", p.bo.Uint32(e[12:]), p.bo.Uint32(e[16:]))
		m.AnnotationObjects = p.annotations(what+": annotation objects", p.bo.Uint32(e[20:]), p.bo.Uint32(e[24:]))
		out = append(out, m)
	}
	return out
}

// countedArray returns a located array of a u32 count followed by count
// entries of entrySize, checked to fit.
func (p *parser) countedArray(what string, size, rva uint32, entrySize int) ([]byte, int, bool) {
	if size == 0 {
		return nil, 0, false
	}
	b, msg := p.loc(size, rva)
	if msg == "" && len(b) < 4 {
		msg = fmt.Sprintf("%d bytes, too short for a count", len(b))
	}
	if msg != "" {
		p.fail("%s: %s", what, msg)
		return nil, 0, false
	}
	n := uint64(p.bo.Uint32(b))
	if n > uint64(len(b)-4)/uint64(entrySize) {
		p.fail("%s: %d entries of %d bytes do not fit in %d bytes", what, n, entrySize, len(b))
		return nil, 0, false
	}
	if !p.charge(&p.items, int(n)) {
		return nil, 0, false
	}
	return b[4:], int(n), true
}

// dictionary reads a MinidumpSimpleStringDictionary: (key, value) pairs of
// RVAs of MinidumpUTF8Strings.
func (p *parser) dictionary(what string, size, rva uint32) map[string]string {
	b, n, ok := p.countedArray(what, size, rva, 8)
	if !ok {
		return nil
	}
	out := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k, msg := p.utf8String(p.bo.Uint32(b[8*i:]), true)
		if msg == "" {
			var v string
			if v, msg = p.utf8String(p.bo.Uint32(b[8*i+4:]), true); msg == "" {
				out[k] = v
				continue
			}
		}
		p.fail("%s: entry %d: %s", what, i, msg)
	}
	return out
}

// stringList reads a MinidumpRVAList of MinidumpUTF8Strings.
func (p *parser) stringList(what string, size, rva uint32) []string {
	b, n, ok := p.countedArray(what, size, rva, 4)
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < n; i++ {
		s, msg := p.utf8String(p.bo.Uint32(b[4*i:]), true)
		if msg != "" {
			p.fail("%s: entry %d: %s", what, i, msg)
			continue
		}
		out = append(out, s)
	}
	return out
}

// annotations reads a MinidumpAnnotationList: (name RVA, type, reserved,
// value RVA of a MinidumpByteArray) entries.
func (p *parser) annotations(what string, size, rva uint32) map[string]Annotation {
	b, n, ok := p.countedArray(what, size, rva, 12)
	if !ok {
		return nil
	}
	out := make(map[string]Annotation, n)
	for i := 0; i < n; i++ {
		e := b[12*i:]
		name, msg := p.utf8String(p.bo.Uint32(e), true)
		if msg != "" {
			p.fail("%s: entry %d: name: %s", what, i, msg)
			continue
		}
		a := Annotation{Type: p.bo.Uint16(e[4:])}
		value, ok := p.byteArray(p.bo.Uint32(e[8:]))
		switch {
		case a.Type == 1 && (!ok || !utf8.Valid(value)):
			p.fail("%s: entry %d (%s): value is not a UTF-8 byte array inside the file", what, i, name)
			continue
		case ok:
			a.Value = value
		}
		out[name] = a
	}
	return out
}

// utf8String reads a MinidumpUTF8String: a u32 length, that many bytes of
// UTF-8 and, when nul is set, a terminating NUL.
func (p *parser) utf8String(rva uint32, nul bool) (string, string) {
	b, ok := p.byteArray(rva)
	if !ok {
		return "", fmt.Sprintf("string at 0x%x outside file of 0x%x bytes", rva, len(p.data))
	}
	if nul {
		end := uint64(rva) + 4 + uint64(len(b))
		if end >= uint64(len(p.data)) || p.data[end] != 0 {
			return "", fmt.Sprintf("string at 0x%x has no terminating NUL", rva)
		}
	}
	if !utf8.Valid(b) {
		return "", fmt.Sprintf("string at 0x%x is not UTF-8", rva)
	}
	if !p.charge(&p.bytes, len(b)) {
		return "", "string budget exhausted"
	}
	return string(b), ""
}

// byteArray reads a u32 length and that many bytes at rva.
func (p *parser) byteArray(rva uint32) ([]byte, bool) {
	hdr, ok := sliceAt(p.data, uint64(rva), 4)
	if !ok {
		return nil, false
	}
	return sliceAt(p.data, uint64(rva)+4, uint64(p.bo.Uint32(hdr)))
}

// MacCrashInfo is one record of Mozilla's MozMacosCrashInfo stream: the
// __DATA,__crash_info section of a module (macOS's CrashReporterClient
// annotations, such as abort and assertion messages).
type MacCrashInfo struct {
	Version         uint64
	Thread          uint64 // version 4 and later
	DialogMode      uint64 // version 4 and later
	AbortCause      uint64 // version 5 and later
	ModulePath      string // version 4 and later, like the strings below
	Message         string
	SignatureString string
	Backtrace       string
	Message2        string
}

func (p *parser) parseMacCrashInfo() {
	b, ok := p.stream(MacCrashInfoStream)
	if !ok {
		return
	}
	// MINIDUMP_MAC_CRASH_INFO: stream type, record count, offset of the
	// strings in each record, then 20 record locations.
	if len(b) < 12+20*8 {
		p.fail("stream of %d bytes is shorter than the 172 bytes of MINIDUMP_MAC_CRASH_INFO", len(b))
		return
	}
	count, stringsOff := p.bo.Uint32(b[4:]), uint64(p.bo.Uint32(b[8:]))
	if count > 20 {
		p.fail("%d records, at most 20 fit", count)
		count = 20
	}
	var version uint64
	for i := 0; i < int(count); i++ {
		rec, msg := p.loc(p.bo.Uint32(b[12+8*i:]), p.bo.Uint32(b[16+8*i:]))
		if msg == "" && len(rec) < 16 {
			msg = fmt.Sprintf("%d bytes, too short for a record header", len(rec))
		}
		if msg != "" {
			p.fail("record %d: %s", i, msg)
			return
		}
		r := MacCrashInfo{Version: p.bo.Uint64(rec[8:])}
		if i > 0 && r.Version != version {
			p.fail("record %d has version %d, record 0 has %d", i, r.Version, version)
			return
		}
		version = r.Version
		fixed := 16
		switch {
		case r.Version >= 5:
			fixed = 40
		case r.Version >= 4:
			fixed = 32
		}
		if len(rec) < fixed || uint64(fixed) > stringsOff {
			p.fail("record %d: version %d needs %d fixed bytes; record has %d, strings start at %d", i, r.Version, fixed, len(rec), stringsOff)
			return
		}
		if r.Version >= 4 {
			r.Thread, r.DialogMode = p.bo.Uint64(rec[16:]), p.bo.Uint64(rec[24:])
			if r.Version >= 5 {
				r.AbortCause = p.bo.Uint64(rec[32:])
			}
			rest := rec[min(stringsOff, uint64(len(rec))):]
			strs := []*string{&r.ModulePath, &r.Message, &r.SignatureString, &r.Backtrace, &r.Message2}
			for k, s := range strs {
				j := bytes.IndexByte(rest, 0)
				if j < 0 || !utf8.Valid(rest[:j]) {
					p.fail("record %d: string %d is not NUL-terminated UTF-8 inside the record", i, k)
					return
				}
				if !p.charge(&p.bytes, j) {
					return
				}
				*s, rest = string(rest[:j]), rest[j+1:]
			}
		}
		p.d.MacCrashInfo = append(p.d.MacCrashInfo, r)
	}
}

func (p *parser) parseMacBootargs() {
	b, ok := p.stream(MacBootargsStream)
	if !ok {
		return
	}
	// MINIDUMP_MAC_BOOTARGS: stream type, RVA64 of a MINIDUMP_STRING.
	if len(b) < 12 {
		p.fail("stream of %d bytes is shorter than the 12 bytes of MINIDUMP_MAC_BOOTARGS", len(b))
		return
	}
	s, msg := p.string16(p.bo.Uint64(b[4:]))
	if msg != "" {
		p.fail("boot arguments: %s", msg)
		return
	}
	p.d.MacBootargs = s
}

func (p *parser) parseLinux() {
	l := &p.d.Linux
	for _, s := range []struct {
		t   StreamType
		dst *[]byte
	}{
		{LinuxCPUInfoStream, &l.CPUInfo},
		{LinuxProcStatusStream, &l.ProcStatus},
		{LinuxLSBReleaseStream, &l.LSBRelease},
		{LinuxCmdLineStream, &l.CmdLine},
		{LinuxEnvironStream, &l.Environ},
		{LinuxAuxvStream, &l.Auxv},
		{LinuxMapsStream, &l.Maps},
		{LinuxDSODebugStream, &l.DSODebug},
	} {
		if b, ok := p.stream(s.t); ok {
			*s.dst = b
		}
	}
}
