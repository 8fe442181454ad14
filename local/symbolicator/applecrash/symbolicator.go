package applecrash

// What Symbolicator's POST /applecrashreport derives from a parsed report
// (crates/symbolicator-native/src/symbolication/apple.rs): the request's
// modules, the response's system_info, crash_reason, crash_details and
// timestamp. The stack traces need no derivation: one per Thread, in
// order, with thread_id = ID, thread_name = Name, is_requesting = Crashed,
// registers = Registers, and one frame per Frame with instruction_addr =
// Address and package = Module (absent when Module is "").

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// SystemInfo is the system_info of Symbolicator's answer.
type SystemInfo struct {
	OSName      string // "OS Version" as written, or "macOS" (see SystemInfo)
	OSVersion   string
	OSBuild     string
	CPUArch     string // see CPUArch
	DeviceModel string // "Hardware Model"
}

// SystemInfo returns the system information Symbolicator reports: os_name
// is the whole OS Version value and os_version and os_build are empty,
// except for the "Mac OS X 10.14.0" / "Mac OS X 10.14.0 (18A391)" form
// (three numbers, a hexadecimal build), which becomes macOS, 10.14.0 and
// 18A391. So "iPhone OS 13.4.1 (17E262)" stays one string, and so does
// "macOS 12.3 (21E230)".
func (r *Report) SystemInfo() SystemInfo {
	os, _ := r.Value("OS Version")
	model, _ := r.Value("Hardware Model")
	si := SystemInfo{OSName: os, CPUArch: r.CPUArch(), DeviceModel: model}
	if v, b, ok := parseMacOSVersion(os); ok {
		si.OSName, si.OSVersion, si.OSBuild = "macOS", v, b
	}
	return si
}

// parseMacOSVersion matches "Mac OS X A.B.C" with an optional " (BUILD)",
// BUILD hexadecimal digits; A, B and C are Unicode decimal digits, as \d is
// in Rust's regex.
func parseMacOSVersion(s string) (version, build string, ok bool) {
	rest, ok := strings.CutPrefix(s, "Mac OS X ")
	if !ok {
		return "", "", false
	}
	i := 0
	for part := 0; part < 3; part++ {
		if part > 0 {
			if i >= len(rest) || rest[i] != '.' {
				return "", "", false
			}
			i++
		}
		j := i
		for _, r := range rest[i:] {
			if !unicode.IsDigit(r) {
				break
			}
			j += len(string(r))
		}
		if j == i {
			return "", "", false
		}
		i = j
	}
	version, rest = rest[:i], rest[i:]
	if rest == "" {
		return version, "", true
	}
	inner, ok := strings.CutPrefix(rest, " (")
	if !ok {
		return "", "", false
	}
	inner, ok = strings.CutSuffix(inner, ")")
	if !ok || inner == "" {
		return "", "", false
	}
	for i := 0; i < len(inner); i++ {
		if !isHexDigit(inner[i]) {
			return "", "", false
		}
	}
	return version, inner, true
}

// CPUArch returns Symbolicator's cpu_arch: the first space-separated word
// of Code Type read as a symbolic architecture name, case-insensitively
// ("ARM-64 (Native)" → arm64, "X86-64" → x86_64, "ARM" → arm, "X86" → x86,
// "PPC" → ppc), and "unknown" when Code Type is absent or names no
// architecture symbolic knows. Symbolicator then takes the architecture of
// the first module whose debug file gave one instead; that needs the
// symbolication result, so it is the caller's to do.
func (r *Report) CPUArch() string {
	word, _, _ := strings.Cut(r.CodeType, " ")
	if name, ok := archNames[asciiLower(word)]; ok {
		return name
	}
	return "unknown"
}

// asciiLower lower-cases ASCII letters only, as Rust's to_ascii_lowercase
// (strings.ToLower would also fold, say, the Kelvin sign into "k").
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// archNames maps the spellings symbolic's Arch::from_str accepts (after
// ASCII lower-casing) to the canonical names it prints.
var archNames = map[string]string{
	"unknown":          "unknown",
	"i386":             "x86",
	"x86":              "x86",
	"x86_unknown":      "x86_unknown",
	"x86_64":           "x86_64",
	"amd64":            "x86_64",
	"x86_64h":          "x86_64h",
	"x86_64_unknown":   "x86_64_unknown",
	"arm64":            "arm64",
	"arm64v8":          "arm64v8",
	"arm64e":           "arm64e",
	"arm64_unknown":    "arm64_unknown",
	"arm":              "arm",
	"armv5":            "armv5",
	"armv6":            "armv6",
	"armv6m":           "armv6m",
	"armv7":            "armv7",
	"armv7f":           "armv7f",
	"armv7s":           "armv7s",
	"armv7k":           "armv7k",
	"armv7m":           "armv7m",
	"armv7em":          "armv7em",
	"arm_unknown":      "arm_unknown",
	"ppc":              "ppc",
	"ppc64":            "ppc64",
	"mips":             "mips",
	"mips64":           "mips64",
	"arm64_32":         "arm64_32",
	"arm64_32_v8":      "arm64_32_v8",
	"arm64_32_unknown": "arm64_32_unknown",
	"x86-64":           "x86_64", // Apple crash report spellings
	"arm-64":           "arm64",
	"wasm32":           "wasm32",
}

// CrashReason returns Symbolicator's crash_reason: the Exception Type
// header value (false when there is none).
func (r *Report) CrashReason() (string, bool) {
	return r.Value("Exception Type")
}

// CrashDetails returns Symbolicator's crash_details: the Application
// Specific Information when there is any, else the first of the Exception
// Message, Exception Subtype and Exception Codes headers the report has
// (even when its value is empty); false when none of these is present.
func (r *Report) CrashDetails() (string, bool) {
	if r.ApplicationSpecificInformation != "" {
		return r.ApplicationSpecificInformation, true
	}
	for _, k := range []string{"Exception Message", "Exception Subtype", "Exception Codes"} {
		if v, ok := r.Value(k); ok {
			return v, true
		}
	}
	return "", false
}

// CodeID is Symbolicator's code_id for the image: its UUID as 32 lower-case
// hex digits.
func (img *Image) CodeID() string { return hex.EncodeToString(img.UUID[:]) }

// DebugID is Symbolicator's debug_id for the image: its UUID in the
// hyphenated lower-case form.
func (img *Image) DebugID() string {
	h := img.CodeID()
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ImageSize is Symbolicator's image_size: Size, or none when Size is 0. The
// module's type is macho and code_file and debug_file are both Path;
// image_addr is Addr.
func (img *Image) ImageSize() (uint64, bool) { return img.Size, img.Size != 0 }

// parseDateTime reads Date/Time as the reference does with chrono's
// "%Y-%m-%d %H:%M:%S%.f %z": a year of up to four digits (or signed),
// month, day, hour, minute and second of one or two digits, an optional
// fraction of any length (nanoseconds kept), and an offset ±HHMM or
// ±HH:MM; a space of the format matches any white space, none included.
// It returns a message when the text is not such a time.
func parseDateTime(s string) (time.Time, string) {
	sc := dateScanner{s: s}
	year := sc.year()
	sc.lit('-')
	month := sc.num(2)
	sc.lit('-')
	day := sc.num(2)
	sc.space()
	hour := sc.num(2)
	sc.lit(':')
	minute := sc.num(2)
	sc.lit(':')
	second := sc.num(2)
	nanos := sc.fraction()
	sc.space()
	offset := sc.offset()
	if sc.err == "" && sc.i != len(s) {
		sc.err = "unexpected text after the offset"
	}
	if sc.err != "" {
		return time.Time{}, sc.err
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, "month out of range"
	case day < 1 || day > daysIn(year, month):
		return time.Time{}, "day out of range"
	case hour > 23, minute > 59, second > 60:
		return time.Time{}, "time of day out of range"
	}
	if second == 60 {
		// chrono keeps a leap second as second 59 with the extra second in
		// its nanoseconds; its Unix timestamp is that of :59.
		second = 59
	}
	zone := time.FixedZone("", offset)
	return time.Date(year, time.Month(month), day, hour, minute, second, nanos, zone).UTC(), ""
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

type dateScanner struct {
	s   string
	i   int
	err string
}

func (d *dateScanner) fail(what string) {
	if d.err == "" {
		d.err = fmt.Sprintf("expected %s at offset %d", what, d.i)
	}
}

// num reads 1 to max ASCII digits.
func (d *dateScanner) num(max int) int {
	if d.err != "" {
		return 0
	}
	v, n := 0, 0
	for n < max && d.i < len(d.s) && isDigit(d.s[d.i]) {
		v = v*10 + int(d.s[d.i]-'0')
		d.i++
		n++
	}
	if n == 0 {
		d.fail("a number")
	}
	return v
}

// year reads up to four digits, or a sign and any number of digits.
func (d *dateScanner) year() int {
	if d.err != "" || d.i >= len(d.s) || (d.s[d.i] != '+' && d.s[d.i] != '-') {
		return d.num(4)
	}
	neg := d.s[d.i] == '-'
	d.i++
	v := d.num(9) // beyond ±999,999,999 no calendar date is valid anyway
	if neg {
		v = -v
	}
	return v
}

func (d *dateScanner) lit(c byte) {
	if d.err != "" {
		return
	}
	if d.i >= len(d.s) || d.s[d.i] != c {
		d.fail(fmt.Sprintf("%q", c))
		return
	}
	d.i++
}

func (d *dateScanner) space() {
	if d.err == "" {
		d.i = skipSpace(d.s, d.i)
	}
}

// fraction reads an optional "." and digits, returning nanoseconds (digits
// past the ninth are read and ignored).
func (d *dateScanner) fraction() int {
	if d.err != "" || d.i >= len(d.s) || d.s[d.i] != '.' {
		return 0
	}
	d.i++
	start, v := d.i, 0
	for d.i < len(d.s) && isDigit(d.s[d.i]) {
		if d.i-start < 9 {
			v = v*10 + int(d.s[d.i]-'0')
		}
		d.i++
	}
	n := d.i - start
	if n == 0 {
		d.fail("fraction digits")
		return 0
	}
	for ; n < 9; n++ {
		v *= 10
	}
	return v
}

// offset reads ±HHMM or ±HH:MM, returning seconds east of UTC.
func (d *dateScanner) offset() int {
	if d.err != "" {
		return 0
	}
	if d.i >= len(d.s) || (d.s[d.i] != '+' && d.s[d.i] != '-') {
		d.fail("an offset sign")
		return 0
	}
	sign := 1
	if d.s[d.i] == '-' {
		sign = -1
	}
	d.i++
	hh := d.twoDigits()
	if d.err == "" && d.i < len(d.s) && d.s[d.i] == ':' {
		d.i++
	}
	mm := d.twoDigits()
	if d.err == "" && (hh > 23 || mm > 59) {
		d.err = "offset out of range"
	}
	return sign * (hh*3600 + mm*60)
}

func (d *dateScanner) twoDigits() int {
	if d.err != "" {
		return 0
	}
	if d.i+2 > len(d.s) || !isDigit(d.s[d.i]) || !isDigit(d.s[d.i+1]) {
		d.fail("two offset digits")
		return 0
	}
	v := int(d.s[d.i]-'0')*10 + int(d.s[d.i+1]-'0')
	d.i += 2
	return v
}
