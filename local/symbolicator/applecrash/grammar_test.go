package applecrash

// The reference for the line matchers: the regular expressions of the
// apple-crash-report-parser crate, written for Go's regexp. Both engines
// give the match and the submatches a backtracking engine would (Perl's
// leftmost-first rule), so these are the crate's line grammar run as it
// runs it; only \s (Unicode White_Space in Rust) and \S are spelled out,
// Go's being ASCII. The matchers must agree with them on every line.

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const (
	ws    = `[\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]`
	nonWS = `[^\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]`
)

func grammar(expr string) *regexp.Regexp {
	expr = strings.ReplaceAll(expr, `\s`, ws)
	expr = strings.ReplaceAll(expr, `\S`, nonWS)
	return regexp.MustCompile(expr)
}

var (
	refKeyValue    = grammar(`^\s*(.*?)\s*:\s*(.*?)\s*$`)
	refThread      = grammar(`^Thread ([0-9]+)( Crashed)?:\s*(.+?)?\s*$`)
	refThreadName  = grammar(`^Thread ([0-9]+) name:\s*(.+?)(?:\s+Dispatch queue:\s*(.*?))?\s*$`)
	refThreadState = grammar(`^Thread ([0-9]+) crashed with .*? Thread State:\s*$`)
	refRegister    = grammar(`\s*([a-z0-9]+):\s+(0x[0-9a-fA-F]+)\s*`)
	// The offset after " + " is captured here too; capturing does not
	// change what matches.
	refFrame = grammar(`^([0-9]+)\s+(.+?)\s+(0x[0-9a-fA-F]+)\s+(.*?)(?: (?:\+ ([0-9]+)|\((.*?):([0-9]+)\)))?\s*$`)
	refImage = grammar(`^\s*(0x[0-9a-fA-F]+)\s*-\s*(0x[0-9a-fA-F]+)\s+\+?(.+)\s+(\S+?)\s+(?:\(([^)]+?)\))?\s+<([^>]+?)>\s+(.*?)$`)
	refMacOS = regexp.MustCompile(`^Mac OS X (\p{Nd}+\.\p{Nd}+\.\p{Nd}+)(?: \(([a-fA-F0-9]+)\))?$`)
)

// checkLine compares every matcher with the reference expressions on one
// line (already trimmed, as the parser hands lines to the matchers).
func checkLine(t *testing.T, line string) {
	t.Helper()

	k, v, ok := matchKeyValue(line)
	if m := refKeyValue.FindStringSubmatch(line); (m != nil) != ok || ok && (m[1] != k || m[2] != v) {
		t.Errorf("key/value of %q: got %q %q %v, reference %q", line, k, v, ok, m)
	}

	if got, want := isThreadStateHeading(line), refThreadState.MatchString(line); got != want {
		t.Errorf("thread state heading %q: got %v, reference %v", line, got, want)
	}

	h, ok := matchThreadHeading(line)
	if m := refThread.FindStringSubmatch(line); (m != nil) != ok || ok && (m[1] != h.id || (m[2] != "") != h.crashed || m[3] != h.name) {
		t.Errorf("thread heading %q: got %+v %v, reference %q", line, h, ok, m)
	}

	n, ok := matchThreadNameLine(line)
	m := refThreadName.FindStringSubmatchIndex(line)
	if (m != nil) != ok {
		t.Errorf("thread name %q: got %+v %v, reference %v", line, n, ok, m)
	} else if ok {
		want := threadNameLine{id: line[m[2]:m[3]], name: line[m[4]:m[5]]}
		if m[6] >= 0 {
			want.queue, want.hasQueue = line[m[6]:m[7]], true
		}
		if n != want {
			t.Errorf("thread name %q: got %+v, reference %+v", line, n, want)
		}
	}

	var regs [][2]string
	eachRegister(line, func(name, hex string) bool { regs = append(regs, [2]string{name, hex}); return true })
	var wantRegs [][2]string
	for _, m := range refRegister.FindAllStringSubmatch(line, -1) {
		wantRegs = append(wantRegs, [2]string{m[1], m[2][2:]})
	}
	if !reflect.DeepEqual(regs, wantRegs) {
		t.Errorf("registers of %q: got %q, reference %q", line, regs, wantRegs)
	}

	f, ok, err := matchFrame(line)
	if want, wantOK, wantErr := referenceFrame(line); ok != wantOK || (err != nil) != wantErr || ok && f != want {
		t.Errorf("frame %q:\n got       %+v %v %v\n reference %+v %v error:%v", line, f, ok, err, want, wantOK, wantErr)
	}

	img, ok, err := matchImage(line)
	if want, wantOK, wantErr := referenceImage(line); ok != wantOK || (err != nil) != wantErr || ok && img != want {
		t.Errorf("image %q:\n got       %+v %v %v\n reference %+v %v error:%v", line, img, ok, err, want, wantOK, wantErr)
	}
}

// referenceFrame builds the Frame the reference builds from its captures;
// wantErr where it would panic.
func referenceFrame(line string) (f Frame, ok, wantErr bool) {
	m := refFrame.FindStringSubmatchIndex(line)
	if m == nil {
		return f, false, false
	}
	sub := func(i int) (string, bool) {
		if m[2*i] < 0 {
			return "", false
		}
		return line[m[2*i]:m[2*i+1]], true
	}
	num, _ := sub(1)
	f.Num = saturatingDecimal(num)
	if mod, _ := sub(2); mod != "???" {
		f.Module = mod
	}
	addr, _ := sub(3)
	a, err := strconv.ParseUint(addr[2:], 16, 64)
	if err != nil {
		return f, false, true
	}
	f.Address = a
	sym, _ := sub(4)
	if !strings.HasPrefix(sym, "0x") || !rustHexOK(sym[2:]) {
		f.Symbol = sym
	}
	if off, ok := sub(5); ok {
		if v, err := strconv.ParseUint(off, 10, 64); err == nil {
			f.Offset, f.HasOffset = v, true
		}
	}
	if file, ok := sub(6); ok {
		lineNo, _ := sub(7)
		n, err := strconv.ParseUint(lineNo, 10, 32)
		if err != nil {
			return f, false, true
		}
		f.FileName, f.Line, f.HasLine = file, uint32(n), true
	}
	return f, true, false
}

// rustHexOK is u64::from_str_radix(s, 16).is_ok().
func rustHexOK(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 64)
	return err == nil && !strings.ContainsAny(s, "_")
}

func referenceImage(line string) (img Image, ok, wantErr bool) {
	m := refImage.FindStringSubmatchIndex(line)
	if m == nil {
		return img, false, false
	}
	sub := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return line[m[2*i]:m[2*i+1]]
	}
	addr, err1 := strconv.ParseUint(sub(1)[2:], 16, 64)
	end, err2 := strconv.ParseUint(sub(2)[2:], 16, 64)
	id, okID := parseUUID(sub(6))
	if err1 != nil || err2 != nil || !okID {
		return img, false, true
	}
	return Image{Addr: addr, End: end, Size: end - addr, Name: sub(3), Arch: sub(4), Version: sub(5),
		UUID: id, UUIDText: sub(6), Path: sub(7)}, true, false
}

// Lines in the style of real reports, and the corner cases of the
// expressions' backtracking order.
var grammarLines = []string{
	"Incident Identifier: 5C32DF84-31A0-43E7-87D0-239F7F594940",
	"   : value",
	"no colon here",
	"Key :  value with: colon",
	"Thread 0:",
	"Thread 12 Crashed:",
	"Thread 1 Crashed: Test Thread Name",
	"Thread 0 Crashed:: Dispatch queue: com.apple.main-thread",
	"Thread 0 Crashed",
	"Thread 3: Crashed",
	"Thread 0 name:  Dispatch queue: com.apple.main-thread",
	"Thread 4 name:  com.apple.uikit.eventfetch-thread",
	"Thread 4 name:  worker   Dispatch queue:  q.1",
	"Thread 4 name:  a Dispatch queue: x Dispatch queue: y",
	"Thread 4 name:",
	"Thread 0 crashed with ARM Thread State (64-bit):",
	"Thread 0 crashed with X86-64 Thread State:",
	"Thread 0 crashed with  Thread State:",
	"Thread 0 crashed with Thread State:",
	"   rip: 0x00000001090a0132    rbp: 0x0000700015a616d0    rsp: 0x0000700015a613f0    rax: 0x20261bb4775b008f",
	"   r15: 0x0000000000000000 rflags: 0x0000000000010206     cs: 0x000000000000002b",
	"    x0: 0x0000000000000000   x1: 0x0000000000000000   x2: 0x0000000000000000   x3: 0x0000000000000000",
	"   x28: 0x0000000000000000   fp: 0x000000016f6768e0   lr: 0x00000001e18a1a9c",
	"   far: 0x0000000000000000  esr: 0x56000080  Address size fault",
	"R8: 0x1 Ab9: 0x2 q:0x3 zz:  0x 0x4",
	"0   libsystem_kernel.dylib        \t0x00000001a1a2b3c4 __pthread_kill + 8",
	"1   MyApp                         \t0x0000000100f2c3d4 0x100f24000 + 33748",
	"13  YetanotherMac                       0x00000000000ea004 main (main.m:16)",
	"2   ???                                 0x0000000054485244 0x0 + 0",
	"0   App Namespace                       0x0000000102268e70 0x10211c000 + 1363568",
	"0   0x1234 foo",
	"0   0x1234 0x5 + 3",
	"0  0x1234 foo",
	"0    0x1234 foo",
	"0   ???   0x0000000054485244",
	"5   MyApp 0x1000 foo (bar) (main.m:16)",
	"5   MyApp 0x1000 foo (a:1:2)",
	"5   MyApp 0x1000 foo (:7)",
	"5   MyApp 0x1000 0x+1f + 2",
	"5   MyApp 0x1000 0xZZ",
	"5   MyApp 0x10000000000000000 foo",
	"5   MyApp 0x1000 f (x.c:99999999999)",
	"7   libdyld.dylib 0x00007fff61a8e085 start + 0",
	"       0x10864e000 -        0x10ee0ffff +YetAnotherMac x86_64 (400.9.4 - 1.0.0) <2d903291397d3d14bfca52c7fb8c5e00> /Users/bruno/Documents/Unreal Projects/YetAnotherMac/MacNoEditor/YetAnotherMac.app/Contents/MacOS/YetAnotherMac",
	"       0x1017ff000 -        0x101885fff +com.AlphaSoft.iTubeDownloader (x86_64)  <7B639009-221F-3815-A7A3-657098146F8A> /Users/x/Desktop/iTubeDownloader.app/Contents/MacOS/iTubeDownloader",
	"       0x10211c000 -        0x1024b3fff App Namespace arm64  <debeff4e26534f38e59bc9de7b8daade> /private/var/containers/Bundle/Application/012CABCB/App Namespace Some.app/App Namespace",
	"0x100000000 - 0x100003fff MyApp arm64 <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /path/to/MyApp",
	"0x100000000 - 0x100003fff MyApp  arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /path/to/MyApp",
	"0x100000000-0x100003fff   arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x100000000 - 0x100003fff +  arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x100000000 - 0x100003fff +x arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p q arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /r",
	"0x100000000 - 0x100003fff x arm64 () <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x100000000 - 0x100003fff x arm64 (1.0) <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x100000000 - 0x100003fff x arm64 (1.0)<a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x100000000 - 0x100003fff x arm64  <> /p",
	"0x100000000 - 0x100003fff x arm64  <a1b2> /p",
	"0x100000000 - 0x100003fff x arm64  <{a1b2c3d4-a1b2-c3d4-a1b2-c3d4a1b2c3d4}> /p",
	"0x100000000 - 0x100003fff x arm64  <urn:uuid:a1b2c3d4-a1b2-c3d4-a1b2-c3d4a1b2c3d4> /p",
	"0x100000000 - 0x10000000000000000 x arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x200000000 - 0x100003fff x arm64  <a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4> /p",
	"0x1 -\u00a00x2\u3000\u3000x\u2003arm64\u2028\u2029<a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4>\u0085/p",
	"3\u00a0\u00a0\u00a00x1234\u3000f + 1",
}

func TestLineGrammar(t *testing.T) {
	for _, line := range grammarLines {
		checkLine(t, trimRight(line))
	}
}

// pieces are what random lines are made of: the words, separators and
// white space of the grammar, so that random lines reach its corners.
var pieces = []string{
	" ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u0085",
	"0", "1", "7", "42", "0x", "0x1", "0x1f", "0xff", "0x0000000100f2c3d4", "abc", "Z", "x", "+", "-", "(", ")", "<", ">", ":", ".",
	" + ", "???", "Thread ", " Crashed", " name:", "Dispatch queue:", " crashed with ", " Thread State:", "Thread State",
	"a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4", "a1b2c3d4-a1b2-c3d4-a1b2-c3d4a1b2c3d4", "arm64", "x86_64", "(1.0)",
	"main.m:16", "MyApp", "My App", "/usr/lib/x", "fp", "x0", "é",
}

func randomLine(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(14); n >= 0; n-- {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestLineGrammarRandom compares the matchers with the reference
// expressions on lines assembled from the grammar's pieces, and on lines
// shaped like each line kind with pieces swapped in.
func TestLineGrammarRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 60000
	if testing.Short() {
		n = 5000
	}
	for i := 0; i < n && !t.Failed(); i++ {
		checkLine(t, trimRight(randomLine(r)))
		// A real line with one piece inserted somewhere.
		base := grammarLines[r.IntN(len(grammarLines))]
		at := r.IntN(len(base) + 1)
		for at < len(base) && at > 0 && base[at]&0xC0 == 0x80 {
			at-- // keep runes whole
		}
		checkLine(t, trimRight(base[:at]+pieces[r.IntN(len(pieces))]+base[at:]))
	}
}

func TestMacOSVersion(t *testing.T) {
	for _, s := range []string{
		"Mac OS X 10.14.0 (18A391)", "Mac OS X 10.14.0", "Mac OS X 10.15.7 (19H2)", "Mac OS X 12.6.1 (21G217)",
		"Mac OS X 10.14 (18A391)", "macOS 12.3 (21E230)", "iPhone OS 13.4.1 (17E262)", "Mac OS X 10.14.0 ()",
		"Mac OS X 10.14.0 (18A391) ", "Mac OS X ١٠.١.٢", "Mac OS X 10.14.0 (18a391)", "",
	} {
		v, b, ok := parseMacOSVersion(s)
		m := refMacOS.FindStringSubmatch(s)
		if (m != nil) != ok || ok && (m[1] != v || m[2] != b) {
			t.Errorf("%q: got %q %q %v, reference %q", s, v, b, ok, m)
		}
	}
}
