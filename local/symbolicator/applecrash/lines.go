package applecrash

// The line matchers. Each recognises exactly the lines one of the reference
// parser's regular expressions matches, and splits them where that
// expression's captures split them. Those expressions are Perl-style
// (leftmost-first): greedy parts take as much as they can and lazy parts as
// little, backtracking in a fixed order, so a line with an unusual spacing
// can split in a surprising place (a frame line whose image column is
// missing gets a one-space module name, an image name followed by two
// spaces keeps one). The matchers reproduce those choices by reasoning about
// which alternative the backtracking order reaches first, instead of
// backtracking, so each runs in time linear in the line. The test suite
// checks them against the expressions themselves.
//
// "White space" is Unicode White_Space, as in Rust's regex \s and
// str::trim_end; digits in these expressions are ASCII.

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// spaceAt reports whether the rune at s[i] is white space, and its size.
func spaceAt(s string, i int) (bool, int) {
	if i >= len(s) {
		return false, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r', 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
}

// skipSpace returns the end of the white space starting at s[i].
func skipSpace(s string, i int) int {
	for {
		sp, size := spaceAt(s, i)
		if !sp {
			return i
		}
		i += size
	}
}

func trimRight(s string) string { return strings.TrimRightFunc(s, unicode.IsSpace) }

func runeSize(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	return size
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// digitsAt returns the end of the ASCII digits starting at s[i].
func digitsAt(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// trailingDigits returns where the ASCII digits ending s start.
func trailingDigits(s string) int {
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	return i
}

// hexAt matches "0x" and hexadecimal digits at s[i], returning where the
// digits start and end.
func hexAt(s string, i int) (start, end int, ok bool) {
	if !strings.HasPrefix(s[i:], "0x") {
		return 0, 0, false
	}
	end = i + 2
	for end < len(s) && isHexDigit(s[end]) {
		end++
	}
	return i + 2, end, end > i+2
}

// parseHex reads hexadecimal digits (no prefix) as a uint64; false when
// they do not fit.
func parseHex(digits string) (uint64, bool) {
	v, err := strconv.ParseUint(digits, 16, 64)
	return v, err == nil
}

// isAddressText tells whether a frame's symbol column is an address rather
// than a name, as the reference decides: "0x" followed by what Rust's
// u64::from_str_radix(…, 16) accepts (an optional "+", then hex digits whose
// value fits 64 bits).
func isAddressText(s string) bool {
	d, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return false
	}
	d = strings.TrimPrefix(d, "+")
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if !isHexDigit(d[i]) {
			return false
		}
	}
	_, fits := parseHex(d)
	return fits
}

// parseRustUint reads a number as Rust's str::parse::<uN>() does: an
// optional "+", then ASCII digits, within bits.
func parseRustUint(s string, bits int) (uint64, bool) {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, bits)
	return v, err == nil
}

// matchKeyValue matches a header line: anything with a colon. The key is
// the text before the first colon, the value the text after it, both
// without surrounding white space.
func matchKeyValue(line string) (key, value string, ok bool) {
	i := skipSpace(line, 0)
	c := strings.IndexByte(line[i:], ':')
	if c < 0 {
		return "", "", false
	}
	c += i
	return trimRight(line[i:c]), line[skipSpace(line, c+1):], true
}

// threadDigits matches "Thread " and digits at the start of line, returning
// the digits and the rest.
func threadDigits(line string) (digits, rest string, ok bool) {
	rest, ok = strings.CutPrefix(line, "Thread ")
	if !ok {
		return "", "", false
	}
	n := digitsAt(rest, 0)
	if n == 0 {
		return "", "", false
	}
	return rest[:n], rest[n:], true
}

// isThreadStateHeading matches "Thread N crashed with <anything> Thread
// State:". Apple's "… Thread State (64-bit):" does not match: the
// reference wants the colon right after "State".
func isThreadStateHeading(line string) bool {
	_, rest, ok := threadDigits(line)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, " crashed with ")
	return ok && strings.HasSuffix(rest, " Thread State:")
}

type threadHeading struct {
	id      string
	name    string
	crashed bool
}

// matchThreadHeading matches "Thread N:" and "Thread N Crashed:", with
// anything after the colon as the name (so macOS's "Thread 0 Crashed::
// Dispatch queue: …" is named ": Dispatch queue: …").
func matchThreadHeading(line string) (threadHeading, bool) {
	id, rest, ok := threadDigits(line)
	if !ok {
		return threadHeading{}, false
	}
	var h threadHeading
	h.id = id
	if r, ok := strings.CutPrefix(rest, " Crashed:"); ok {
		h.crashed, rest = true, r
	} else if r, ok := strings.CutPrefix(rest, ":"); ok {
		rest = r
	} else {
		return threadHeading{}, false
	}
	h.name = rest[skipSpace(rest, 0):]
	return h, true
}

type threadNameLine struct {
	id, name, queue string
	hasQueue        bool
}

// matchThreadNameLine matches "Thread N name: NAME", where NAME may end in
// white space and "Dispatch queue: QUEUE". A NAME that is nothing but
// "Dispatch queue: …" stays the name, as it has no white space before the
// words.
func matchThreadNameLine(line string) (threadNameLine, bool) {
	id, rest, ok := threadDigits(line)
	if !ok {
		return threadNameLine{}, false
	}
	rest, ok = strings.CutPrefix(rest, " name:")
	if !ok {
		return threadNameLine{}, false
	}
	rest = rest[skipSpace(rest, 0):]
	if rest == "" {
		return threadNameLine{}, false
	}
	// The name is lazy: it ends at the first white space run followed by
	// "Dispatch queue:". rest[0] is not white space, so the name has at
	// least one character.
	for i := 0; i < len(rest); {
		sp, size := spaceAt(rest, i)
		if !sp {
			i += size
			continue
		}
		j := skipSpace(rest, i)
		if q, ok := strings.CutPrefix(rest[j:], "Dispatch queue:"); ok {
			return threadNameLine{id: id, name: rest[:i], queue: q[skipSpace(q, 0):], hasQueue: true}, true
		}
		i = j
	}
	return threadNameLine{id: id, name: rest}, true
}

// eachRegister calls fn for every "name: 0xVALUE" of a register line, left
// to right, until fn returns false. A name is lower-case letters and
// digits, at least one white space follows the colon; the reference finds
// the leftmost such match, then the next after it, so "R8: 0x1" yields a
// register "8".
func eachRegister(line string, fn func(name, hex string) bool) {
	for i := 0; i < len(line); {
		t := skipSpace(line, i)
		if t >= len(line) {
			return
		}
		u := t
		for u < len(line) && (isDigit(line[u]) || 'a' <= line[u] && line[u] <= 'z') {
			u++
		}
		if u > t && u < len(line) && line[u] == ':' {
			if v := skipSpace(line, u+1); v > u+1 {
				if hs, he, ok := hexAt(line, v); ok {
					if !fn(line[t:u], line[hs:he]) {
						return
					}
					i = skipSpace(line, he)
					continue
				}
			}
		}
		// No match starts anywhere in line[i:u]: every start there sees
		// the same name run end the same way.
		if u > t {
			i = u
		} else {
			i = t + runeSize(line, t)
		}
	}
}

// hexTokenThenSpace matches "0x", hex digits and a white space at s[i],
// returning the end of the digits.
func hexTokenThenSpace(s string, i int) (digitsStart, digitsEnd int, ok bool) {
	ds, de, ok := hexAt(s, i)
	if !ok {
		return 0, 0, false
	}
	if sp, _ := spaceAt(s, de); !sp {
		return 0, 0, false
	}
	return ds, de, true
}

// matchFrame matches a backtrace line:
//
//	NUM <ws> MODULE <ws> 0xADDRESS <ws> TEXT
//
// where TEXT ends in " + OFFSET" or " (FILE:LINE)" or neither. MODULE is
// the shortest text (spaces allowed) followed by white space and a
// hexadecimal address and white space. A line whose TEXT is missing is not
// a frame. The error reports values that overflow (the reference panics on
// them).
func matchFrame(line string) (Frame, bool, *Error) {
	var f Frame
	d := digitsAt(line, 0)
	if d == 0 {
		return f, false, nil
	}
	s := skipSpace(line, d)
	if s == d || s >= len(line) {
		return f, false, nil
	}
	modStart, modEnd, addrStart, addrEnd := s, -1, 0, 0
	for i := s + runeSize(line, s); i < len(line); {
		sp, size := spaceAt(line, i)
		if !sp {
			i += size
			continue
		}
		j := skipSpace(line, i)
		if as, ae, ok := hexTokenThenSpace(line, j); ok {
			modEnd, addrStart, addrEnd = i, as, ae
			break
		}
		i = j
	}
	if modEnd < 0 {
		// With the module starting after all the white space there is no
		// address. The white space before the module then gives back
		// runes: a module of one white space rune, the last but one of the
		// run, followed by the last one and an address right after the
		// run, is the next match in the expression's order. It needs three
		// white space runes between number and address.
		as, ae, ok := hexTokenThenSpace(line, s)
		if !ok {
			return f, false, nil
		}
		var starts []int
		for i := d; i < s; i += runeSize(line, i) {
			starts = append(starts, i)
			if len(starts) > 3 {
				starts = starts[1:]
			}
		}
		if len(starts) < 3 {
			return f, false, nil
		}
		modStart, modEnd = starts[len(starts)-2], starts[len(starts)-1]
		addrStart, addrEnd = as, ae
	}

	f.Num = saturatingDecimal(line[:d])
	if m := line[modStart:modEnd]; m != "???" {
		f.Module = m
	}
	addr, ok := parseHex(line[addrStart:addrEnd])
	if !ok {
		return f, false, &Error{Msg: "frame address 0x" + line[addrStart:addrEnd] + " does not fit 64 bits"}
	}
	f.Address = addr

	rest := line[skipSpace(line, addrEnd):]
	sym := rest
	if t := trailingDigits(rest); t < len(rest) && strings.HasSuffix(rest[:t], " + ") {
		sym = rest[:t-3]
		if off, err := strconv.ParseUint(rest[t:], 10, 64); err == nil {
			f.Offset, f.HasOffset = off, true
		}
	} else if body, ok := strings.CutSuffix(rest, ")"); ok {
		if t := trailingDigits(body); t < len(body) && t > 0 && body[t-1] == ':' {
			colon := t - 1
			if p := strings.Index(body[:colon], " ("); p >= 0 {
				n, err := strconv.ParseUint(body[t:], 10, 32)
				if err != nil {
					return f, false, &Error{Msg: "frame line number " + body[t:] + " does not fit 32 bits"}
				}
				sym = rest[:p]
				f.FileName, f.Line, f.HasLine = body[p+2:colon], uint32(n), true
			}
		}
	}
	if !isAddressText(sym) {
		f.Symbol = sym
	}
	return f, true, nil
}

func saturatingDecimal(digits string) uint64 {
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return ^uint64(0)
	}
	return v
}

// matchImage matches a Binary Images line:
//
//	0xSTART - 0xEND <ws> [+]NAME <ws> ARCH <ws> [(VERSION) <ws>] <ws> <UUID> <ws> PATH
//
// NAME is greedy: the line splits at the last place where an ARCH word,
// the optional version, <UUID> and white space follow, so a path that
// contains such a sequence moves the split. Without a version at least two
// white space runes separate ARCH from <UUID>. The error reports addresses
// that overflow and identifiers that are not UUIDs.
func matchImage(line string) (Image, bool, *Error) {
	var img Image
	a0, a1, ok := hexAt(line, skipSpace(line, 0))
	if !ok {
		return img, false, nil
	}
	j := skipSpace(line, a1)
	if j >= len(line) || line[j] != '-' {
		return img, false, nil
	}
	b0, b1, ok := hexAt(line, skipSpace(line, j+1))
	if !ok {
		return img, false, nil
	}
	if sp, _ := spaceAt(line, b1); !sp {
		return img, false, nil
	}

	m := newImageLine(line)
	// The largest position the name can end at: the end of the last white
	// space run (from the one after END on) after which the rest of the
	// line parses. Every position inside a run gives the same rest, so the
	// largest is the run's last rune.
	nameEnd := -1
	var tail imageTail
	for k := len(m.runs) - 1; k >= 0; k-- {
		if m.runs[k].start < b1 {
			break
		}
		if t, ok := m.tailFrom(m.runs[k].end); ok {
			nameEnd, tail = m.runs[k].last, t
			break
		}
	}
	if nameEnd < 0 {
		return img, false, nil
	}
	// Where the name starts: after all the white space and the "+" if
	// there is one; then without taking the "+"; then giving back white
	// space runes one by one. The first start that leaves the name at
	// least one rune wins.
	x := skipSpace(line, b1)
	nameStart := -1
	switch {
	case line[x] == '+' && nameEnd > x+1:
		nameStart = x + 1
	case nameEnd > x:
		nameStart = x
	default:
		var starts []int // rune starts of the white space after END
		for i := b1; i < x; i += runeSize(line, i) {
			starts = append(starts, i)
		}
		for k := len(starts) - 1; k >= 1; k-- {
			if nameEnd > starts[k] {
				nameStart = starts[k]
				break
			}
		}
	}
	if nameStart < 0 {
		return img, false, nil
	}

	addr, ok := parseHex(line[a0:a1])
	if !ok {
		return img, false, &Error{Msg: "binary image start address 0x" + line[a0:a1] + " does not fit 64 bits"}
	}
	end, ok := parseHex(line[b0:b1])
	if !ok {
		return img, false, &Error{Msg: "binary image end address 0x" + line[b0:b1] + " does not fit 64 bits"}
	}
	id, ok := parseUUID(tail.uuid)
	if !ok {
		return img, false, &Error{Msg: "binary image identifier <" + tail.uuid + "> is not a UUID"}
	}
	img = Image{
		Addr:     addr,
		End:      end,
		Size:     end - addr,
		Name:     line[nameStart:nameEnd],
		Arch:     tail.arch,
		Version:  tail.version,
		UUID:     id,
		UUIDText: tail.uuid,
		Path:     tail.path,
	}
	return img, true, nil
}

// imageLine holds what matching a Binary Images line needs to look up in
// constant time, so trying every split stays linear in the line.
type imageLine struct {
	s         string
	runs      []spaceRun
	spaceEnd  []int32 // end of the white space starting at i (i when none)
	nextClose []int32 // index of the first ')' at or after i, or -1
	nextGT    []int32 // index of the first '>' at or after i, or -1
}

type spaceRun struct {
	start, end, last int // last: start of the run's last rune
}

func newImageLine(s string) *imageLine {
	n := len(s)
	m := &imageLine{
		s:         s,
		spaceEnd:  make([]int32, n+1),
		nextClose: make([]int32, n+2),
		nextGT:    make([]int32, n+2),
	}
	for i := 0; i < n; {
		sp, size := spaceAt(s, i)
		if !sp {
			i += size
			continue
		}
		r := spaceRun{start: i}
		for sp {
			r.last = i
			i += size
			sp, size = spaceAt(s, i)
		}
		r.end = i
		m.runs = append(m.runs, r)
	}
	for i := range m.spaceEnd {
		m.spaceEnd[i] = int32(i)
	}
	for _, r := range m.runs {
		for i := r.start; i < r.end; i++ {
			m.spaceEnd[i] = int32(r.end)
		}
	}
	m.nextClose[n], m.nextClose[n+1] = -1, -1
	m.nextGT[n], m.nextGT[n+1] = -1, -1
	for i := n - 1; i >= 0; i-- {
		m.nextClose[i], m.nextGT[i] = m.nextClose[i+1], m.nextGT[i+1]
		switch s[i] {
		case ')':
			m.nextClose[i] = int32(i)
		case '>':
			m.nextGT[i] = int32(i)
		}
	}
	return m
}

type imageTail struct {
	arch, version, uuid, path string
}

// tailFrom parses what follows the name and its white space, a being the
// first rune after that white space: ARCH, the optional (VERSION), <UUID>
// and PATH.
func (m *imageLine) tailFrom(a int) (imageTail, bool) {
	s := m.s
	var t imageTail
	b := a
	for b < len(s) {
		sp, size := spaceAt(s, b)
		if sp {
			break
		}
		b += size
	}
	if b == a || b >= len(s) {
		return t, false // ARCH must be followed by white space
	}
	t.arch = s[a:b]
	c := int(m.spaceEnd[b])
	if c >= len(s) {
		return t, false
	}
	var lt int // the '<'
	switch s[c] {
	case '(':
		d := int(m.nextClose[c+1])
		if d < 0 || d == c+1 {
			return t, false
		}
		if sp, _ := spaceAt(s, d+1); !sp {
			return t, false
		}
		lt = int(m.spaceEnd[d+1])
		if lt >= len(s) || s[lt] != '<' {
			return t, false
		}
		t.version = s[c+1 : d]
	case '<':
		if b+runeSize(s, b) >= c {
			return t, false // one white space rune only
		}
		lt = c
	default:
		return t, false
	}
	g := int(m.nextGT[lt+1])
	if g < 0 || g == lt+1 {
		return t, false
	}
	if sp, _ := spaceAt(s, g+1); !sp {
		return t, false
	}
	t.uuid = s[lt+1 : g]
	t.path = s[m.spaceEnd[g+1]:]
	return t, true
}

// parseUUID reads a UUID as the Rust uuid crate's Uuid::parse_str does: 32
// hex digits, or the 8-4-4-4-12 hyphenated form, bare, in braces or after
// "urn:uuid:".
func parseUUID(s string) ([16]byte, bool) {
	var id [16]byte
	switch {
	case len(s) == 32:
		return id, decodeHexInto(id[:], s)
	case len(s) == 36:
	case len(s) == 38 && s[0] == '{' && s[37] == '}':
		s = s[1:37]
	case len(s) == 45 && strings.HasPrefix(s, "urn:uuid:"):
		s = s[9:]
	default:
		return id, false
	}
	if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	return id, decodeHexInto(id[:], s[:8]+s[9:13]+s[14:18]+s[19:23]+s[24:])
}

func decodeHexInto(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := hexValue(s[2*i])
		lo, ok2 := hexValue(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case isDigit(c):
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
