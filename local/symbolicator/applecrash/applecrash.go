// Package applecrash reads Apple crash reports in their text form (the
// .crash files of macOS and iOS, and what Xcode and PLCrashReporter-style
// reporters write): the header of "Key: value" lines, the Application
// Specific Information block, each thread's backtrace, the crashed thread's
// register dump and the Binary Images list.
//
// The package reads exactly what Sentry's Symbolicator reads, because the
// embedded service must answer POST /applecrashreport as Symbolicator does.
// Symbolicator parses reports with the apple-crash-report-parser crate, a
// line-by-line state machine whose every line kind is a regular expression;
// Parse accepts the same lines, splits them into the same fields (including
// where the crate's expressions split an unusual line in a surprising way)
// and fails on the same inputs. The places where it differs on purpose are
// listed with Parse. The accessors of Report (SystemInfo, CrashReason,
// CrashDetails, Image.CodeID, ...) derive what Symbolicator's
// applecrashreport endpoint derives from the parsed report.
//
// Two consequences of following the reference are worth knowing, since
// they shape Symbolicator's answers: the register block of today's reports,
// headed "Thread 0 crashed with ARM Thread State (64-bit):" (or "X86 Thread
// State (64-bit):"), is not recognised, so only the "… Thread State:" form
// that PLCrashReporter-style reporters write yields registers; and image
// lines without an architecture column, as macOS itself writes them
// ("+com.example.app (1.3 - 13) <UUID> /path"), are not image lines, so
// such reports have no modules and every frame is an unknown image.
//
// Parsing is bounded: the input size, the number of lines, threads, frames,
// images and register names are limited (see the Max constants), every line
// is matched in time linear in its length, and nothing is allocated beyond
// what the input holds. Hostile input yields an error, never a panic.
package applecrash

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits. A real report has a few hundred threads at most, Apple truncates
// backtraces at 512 frames, and a macOS process loads well under a thousand
// images; the limits leave ample room above that while keeping a hostile
// upload from turning into millions of stack traces for the symbolicator.
const (
	MaxSize            = 64 << 20 // bytes of report text
	MaxLines           = 1 << 21
	MaxThreads         = 1 << 12
	MaxFramesPerThread = 1 << 14
	MaxFrames          = 1 << 18 // over all threads
	MaxImages          = 1 << 14
	MaxRegisters       = 1 << 10 // distinct register names
)

// Error is a report that cannot be parsed. Line is the 1-based line the
// problem was found on, or 0 when it concerns the whole report.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "applecrash: " + e.Msg
	}
	return fmt.Sprintf("applecrash: line %d: %s", e.Line, e.Msg)
}

// Field is one "Key: value" line of the report header.
type Field struct {
	Key, Value string
}

// Report is a parsed crash report.
type Report struct {
	// Metadata holds every line read as a header field, in order, with the
	// key and value trimmed. As in the reference parser, that is any line
	// containing a colon met outside a thread, register, image or
	// information block, so it also holds lines such as "Last Exception
	// Backtrace:" (with an empty value) and, because the reference does
	// not recognise the "Thread N crashed with ARM Thread State (64-bit):"
	// header, the register lines after it (key "x0", value "0x… x1: 0x…").
	// Value gives the last value of a key, which is what the reference
	// keeps.
	Metadata []Field

	// IncidentID is the Incident Identifier (zero when absent).
	IncidentID [16]byte
	// Timestamp is Date/Time in UTC; HasTimestamp tells whether the header
	// had one.
	Timestamp    time.Time
	HasTimestamp bool
	// ReportVersion is Report Version (0 when absent).
	ReportVersion uint32
	// CodeType and Path are the Code Type and Path header values, "" when
	// absent.
	CodeType, Path string

	// ApplicationSpecificInformation is the text after the "Application
	// Specific Information:" line, up to the next section heading (Binary
	// Images, Filtered syslog, a thread or thread-state heading, a thread
	// name line), lines joined by "\n", leading blank lines dropped and one
	// trailing newline removed. Note that blank lines do not end it: a
	// "Last Exception Backtrace:" that follows is part of it, as in the
	// reference. "" when there is none.
	ApplicationSpecificInformation string
	// FilteredSyslog is the "Filtered syslog:" block, read the same way.
	FilteredSyslog string

	Threads      []Thread
	BinaryImages []Image
}

// Thread is one thread's backtrace.
type Thread struct {
	// ID is the number in "Thread N:".
	ID uint64
	// Name is the thread's name: the text after "Thread N Crashed:" or
	// "Thread N:" on its heading, replaced by a "Thread N name: …" line
	// when the report has one ("" when neither gives one). DispatchQueue
	// is the "Dispatch queue:" part of a name line when it follows the
	// name; a name line that starts with "Dispatch queue:" is all name.
	Name          string
	DispatchQueue string
	// Crashed marks the "Thread N Crashed:" thread (Symbolicator's
	// is_requesting).
	Crashed bool
	Frames  []Frame
	// Registers is the register dump, by the names the report prints
	// (x0…x28, fp, lr, sp, pc, cpsr, far, esr; rax…r15, rip, rflags, cs,
	// fs, gs; …), on the first crashed thread only, nil elsewhere. All
	// "Thread N crashed with X Thread State:" blocks of the report are
	// merged into it, whatever their N, as the reference does. Blocks whose
	// heading has a suffix, such as Apple's "… ARM Thread State (64-bit):",
	// are not register blocks to the reference: they give no registers.
	Registers map[string]uint64
}

// Frame is one line of a backtrace:
//
//	0   libsystem_kernel.dylib        	0x00000001a1a2b3c4 __pthread_kill + 8
//	1   MyApp                         	0x0000000100f2c3d4 0x100f24000 + 33748
//	2   MyApp                         	0x0000000100f2c3d4 main (main.m:16)
type Frame struct {
	// Num is the frame number as printed (saturated at the largest uint64).
	Num uint64
	// Module is the image name column; "" when the report prints "???"
	// (an address outside every image). Symbolicator passes it on as the
	// frame's package.
	Module string
	// Address is the instruction address.
	Address uint64
	// Symbol is the text after the address, without its " + offset" or
	// " (file:line)" suffix; "" when that text is a hexadecimal number
	// (the "0x100f24000 + 33748" form, which names the image's load
	// address rather than a symbol).
	Symbol string
	// Offset is the decimal after " + ", when the line ends with one and
	// it fits 64 bits (HasOffset).
	Offset    uint64
	HasOffset bool
	// FileName and Line are the "(file:line)" suffix (HasLine).
	FileName string
	Line     uint32
	HasLine  bool
}

// Image is one line of the Binary Images list:
//
//	0x100000000 -        0x100003fff +MyApp arm64  <a1b2c3…> /path/to/MyApp
//	0x7fff61bc6000 - 0x7fff61bf3fff  libsystem_kernel.dylib x86_64 (4903.221.2) <6C5A…-…> /usr/lib/system/libsystem_kernel.dylib
type Image struct {
	// Addr is the load address, End the printed end address (the last byte
	// of the image).
	Addr, End uint64
	// Size is End − Addr, as the reference computes it (one less than the
	// byte count; wrapping when End < Addr). Symbolicator reports it as
	// image_size, or no image_size when it is 0: see ImageSize.
	Size uint64
	// Name is the image name column without its "+" (the marker of images
	// outside the OS). A name followed by more than one space keeps the
	// extra spaces but one, as the reference's expression splits it.
	Name string
	// Arch is the architecture column, as printed ("arm64", "x86_64",
	// "(x86_64)" in some old reports).
	Arch string
	// Version is the text in parentheses after the architecture, "" when
	// absent.
	Version string
	// UUID is the image's identifier (LC_UUID); UUIDText the text between
	// < and > it was read from.
	UUID     [16]byte
	UUIDText string
	// Path is the rest of the line.
	Path string
}

// Value returns the last value of the header key, as the reference's
// metadata map keeps it.
func (r *Report) Value(key string) (string, bool) {
	for i := len(r.Metadata) - 1; i >= 0; i-- {
		if r.Metadata[i].Key == key {
			return r.Metadata[i].Value, true
		}
	}
	return "", false
}

// state is the block the parser is in.
type state uint8

const (
	stRoot state = iota
	stThread
	stThreadState
	stImages
	stASI
	stSyslog
)

// Parse parses an Apple crash report.
//
// Like the reference parser it accepts any text and reads what it
// recognises; it fails where the reference fails: a line that is not UTF-8,
// an Incident Identifier or binary image identifier that is not a UUID, a
// Report Version that is not a 32-bit unsigned number, a Date/Time that is
// not "YYYY-MM-DD HH:MM:SS[.fraction] ±HHMM". Where the reference panics
// (an address, register value, thread number or line number too large for
// its integer), Parse returns an error naming the value.
//
// Parse differs from the reference on purpose in two ways: text in which
// nothing is a thread backtrace or a binary image is rejected as not a crash
// report (the reference returns an empty report, from which Symbolicator
// makes an empty answer), and the Max limits are enforced.
func Parse(text []byte) (*Report, error) {
	if len(text) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("report of %d bytes exceeds the limit of %d bytes", len(text), MaxSize)}
	}
	p := &parser{r: &Report{}, names: map[uint64]threadName{}}
	s := string(text)
	for lineNo := 1; len(s) > 0; lineNo++ {
		if lineNo > MaxLines {
			return nil, &Error{Line: lineNo, Msg: fmt.Sprintf("more than %d lines", MaxLines)}
		}
		// Lines end at "\n", as Rust's BufRead::lines splits them; a final
		// "\n" does not start another line. Trailing white space, "\r"
		// included, is dropped before anything looks at the line.
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		if !utf8.ValidString(line) {
			return nil, &Error{Line: lineNo, Msg: "not valid UTF-8"}
		}
		if err := p.line(trimRight(line)); err != nil {
			err.Line = lineNo
			return nil, err
		}
	}
	return p.finish()
}

type threadName struct {
	name, queue string
	hasQueue    bool
}

type parser struct {
	r      *Report
	st     state
	cur    *Thread // the thread being read, not yet in r.Threads
	frames int     // over all threads
	names  map[uint64]threadName
	regs   map[string]uint64
	asi    strings.Builder
	syslog strings.Builder
	// sawImages remembers the heading, for the message when nothing was
	// read.
	sawImages bool
}

func (p *parser) line(line string) *Error {
	// Section headings are recognised in any state, in this order.
	switch {
	case strings.HasPrefix(line, "Binary Images:"):
		p.st, p.sawImages = stImages, true
		return nil
	case strings.HasPrefix(line, "Application Specific Information:"):
		p.st = stASI
		return nil
	case strings.HasPrefix(line, "Filtered syslog:"):
		p.st = stSyslog
		return nil
	case isThreadStateHeading(line):
		p.st = stThreadState
		return nil
	}
	if h, ok := matchThreadHeading(line); ok {
		id, err := parseThreadID(h.id)
		if err != nil {
			return err
		}
		p.endThread()
		if len(p.r.Threads) >= MaxThreads {
			return &Error{Msg: fmt.Sprintf("more than %d threads", MaxThreads)}
		}
		p.cur = &Thread{ID: id, Name: h.name, Crashed: h.crashed}
		p.st = stThread
		return nil
	}
	if h, ok := matchThreadNameLine(line); ok {
		id, err := parseThreadID(h.id)
		if err != nil {
			return err
		}
		p.names[id] = threadName{h.name, h.queue, h.hasQueue}
		p.st = stRoot
		return nil
	}

	switch p.st {
	case stRoot:
		if key, value, ok := matchKeyValue(line); ok {
			return p.header(key, value)
		}
	case stThreadState:
		if line == "" {
			p.st = stRoot
			return nil
		}
		return p.registers(line)
	case stThread:
		f, ok, err := matchFrame(line)
		if err != nil {
			return err
		}
		if !ok {
			// The line that ends a backtrace is not read as anything else.
			p.st = stRoot
			return nil
		}
		if len(p.cur.Frames) >= MaxFramesPerThread {
			return &Error{Msg: fmt.Sprintf("thread %d has more than %d frames", p.cur.ID, MaxFramesPerThread)}
		}
		if p.frames >= MaxFrames {
			return &Error{Msg: fmt.Sprintf("more than %d frames", MaxFrames)}
		}
		p.frames++
		p.cur.Frames = append(p.cur.Frames, f)
	case stImages:
		if line == "" {
			return nil
		}
		img, ok, err := matchImage(line)
		if err != nil {
			return err
		}
		if !ok {
			// As for backtraces, the line that ends the list is dropped.
			p.st = stRoot
			return nil
		}
		if len(p.r.BinaryImages) >= MaxImages {
			return &Error{Msg: fmt.Sprintf("more than %d binary images", MaxImages)}
		}
		p.r.BinaryImages = append(p.r.BinaryImages, img)
	case stASI:
		appendBlockLine(&p.asi, line)
	case stSyslog:
		appendBlockLine(&p.syslog, line)
	}
	return nil
}

// appendBlockLine adds a line to an information block: a newline before it
// unless the block is still empty, so leading blank lines vanish.
func appendBlockLine(b *strings.Builder, line string) {
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(line)
}

func (p *parser) header(key, value string) *Error {
	p.r.Metadata = append(p.r.Metadata, Field{key, value})
	switch key {
	case "Incident Identifier":
		id, ok := parseUUID(value)
		if !ok {
			return &Error{Msg: fmt.Sprintf("Incident Identifier %q is not a UUID", value)}
		}
		p.r.IncidentID = id
	case "Report Version":
		v, ok := parseRustUint(value, 32)
		if !ok {
			return &Error{Msg: fmt.Sprintf("Report Version %q is not an unsigned 32-bit number", value)}
		}
		p.r.ReportVersion = uint32(v)
	case "Path":
		p.r.Path = value
	case "Code Type":
		p.r.CodeType = value
	case "Date/Time":
		t, err := parseDateTime(value)
		if err != "" {
			return &Error{Msg: fmt.Sprintf("Date/Time %q: %s", value, err)}
		}
		p.r.Timestamp, p.r.HasTimestamp = t, true
	}
	return nil
}

func (p *parser) registers(line string) *Error {
	var bad *Error
	eachRegister(line, func(name, hex string) bool {
		v, ok := parseHex(hex)
		if !ok {
			bad = &Error{Msg: fmt.Sprintf("register %s value 0x%s does not fit 64 bits", name, hex)}
			return false
		}
		if p.regs == nil {
			p.regs = map[string]uint64{}
		}
		if _, dup := p.regs[name]; !dup && len(p.regs) >= MaxRegisters {
			bad = &Error{Msg: fmt.Sprintf("more than %d register names", MaxRegisters)}
			return false
		}
		p.regs[name] = v
		return true
	})
	return bad
}

// endThread files the thread being read.
func (p *parser) endThread() {
	if p.cur != nil {
		p.r.Threads = append(p.r.Threads, *p.cur)
		p.cur = nil
	}
}

func (p *parser) finish() (*Report, error) {
	p.endThread()
	r := p.r
	// A name line names the first thread with its number only.
	for i := range r.Threads {
		t := &r.Threads[i]
		if n, ok := p.names[t.ID]; ok {
			t.Name, t.DispatchQueue = n.name, n.queue
			delete(p.names, t.ID)
		}
	}
	if len(p.regs) > 0 {
		for i := range r.Threads {
			if r.Threads[i].Crashed {
				r.Threads[i].Registers = p.regs
				break
			}
		}
	}
	r.ApplicationSpecificInformation = strings.TrimSuffix(p.asi.String(), "\n")
	r.FilteredSyslog = strings.TrimSuffix(p.syslog.String(), "\n")

	if len(r.Threads) == 0 && len(r.BinaryImages) == 0 {
		return nil, &Error{Msg: p.notAReport()}
	}
	return r, nil
}

// notAReport says what an input without threads and images lacks.
func (p *parser) notAReport() string {
	var b strings.Builder
	b.WriteString("not an Apple crash report: ")
	b.WriteString(`no thread backtrace (a "Thread N:" or "Thread N Crashed:" heading) and `)
	if p.sawImages {
		b.WriteString(`its "Binary Images:" section lists no image`)
	} else {
		b.WriteString(`no "Binary Images:" section`)
	}
	if len(p.r.Metadata) > 0 && strings.HasPrefix(p.r.Metadata[0].Key, "{") {
		b.WriteString(" (it starts like a JSON .ips report, which is not this text format)")
	}
	return b.String()
}

func parseThreadID(digits string) (uint64, *Error) {
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, &Error{Msg: fmt.Sprintf("thread number %s does not fit 64 bits", digits)}
	}
	return id, nil
}
