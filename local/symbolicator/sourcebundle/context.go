package sourcebundle

import (
	"bytes"
	"unicode/utf8"
)

// DefaultContextLines is how many lines Symbolicator shows on each side of
// a frame's line.
const DefaultContextLines = 5

// Context cuts the lines around line (1-based) out of source, as
// Symbolicator does for a native frame (get_context_lines with column 0):
// up to n lines before it, the line itself and up to n lines after it.
//
// Lines end at "\n" or "\r\n"; a final line needs no end, an empty source
// has no lines, and a lone "\r" stays in its line (Rust's str::lines).
// Every line longer than 150 bytes is cut to its first 140 bytes (backed
// off to a character boundary) followed by " {snip}"; lengths count bytes,
// not characters, as Symbolicator counts them.
//
// ok is false when source has fewer than line lines, when line is
// negative, and when source is not valid UTF-8: Symbolicator takes a
// source file only as UTF-8 text and shows nothing for any other. Line 0
// reads as line 1 (Symbolicator's arithmetic saturates at the first line);
// a caller that has no line number should not ask. A negative n is 0.
func Context(source []byte, line int, n int) (pre []string, contextLine string, post []string, ok bool) {
	if line < 0 || !utf8.Valid(source) {
		return nil, "", nil, false
	}
	if n < 0 {
		n = 0
	}
	start := 0
	if line > n {
		start = line - n - 1
	}
	before := line - start - 1
	if before < 0 {
		before = 0
	}
	lines := lineReader{rest: source}
	for i := 0; i < start; i++ {
		if _, ok := lines.next(); !ok {
			return nil, "", nil, false
		}
	}
	for i := 0; i < before; i++ {
		l, ok := lines.next()
		if !ok {
			return nil, "", nil, false
		}
		pre = append(pre, trimLine(l, 0))
	}
	l, ok := lines.next()
	if !ok {
		return nil, "", nil, false
	}
	contextLine = trimLine(l, 0)
	for i := 0; i < n; i++ {
		l, ok := lines.next()
		if !ok {
			break
		}
		post = append(post, trimLine(l, 0))
	}
	return pre, contextLine, post, true
}

// lineReader splits text as Rust's str::lines does.
type lineReader struct{ rest []byte }

func (r *lineReader) next() (string, bool) {
	if len(r.rest) == 0 {
		return "", false
	}
	var l []byte
	if i := bytes.IndexByte(r.rest, '\n'); i >= 0 {
		l, r.rest = r.rest[:i], r.rest[i+1:]
		l = bytes.TrimSuffix(l, []byte{'\r'})
	} else {
		l, r.rest = r.rest, nil
	}
	return string(l), true
}

// trimLine shortens a line longer than 150 bytes to about 140 around
// column (a byte offset), marking each cut with "{snip}": it keeps 60
// bytes before column and fills up to 140, snapping to the line's start
// or end when within 5 bytes of it, and backs both cut points off to
// character boundaries. Symbolicator passes column 0 for native frames.
func trimLine(line string, column int) string {
	n := len(line)
	if n <= 150 {
		return line
	}
	col := min(column, n)
	start := max(col-60, 0)
	if start < 5 {
		start = 0
	}
	end := min(start+140, n)
	if end > n-5 {
		end = n
	}
	if end == n {
		start = max(end-140, 0)
	}
	start = floorCharBoundary(line, start)
	end = floorCharBoundary(line, end)
	out := line[start:end]
	if start > 0 {
		out = "{snip} " + out
	}
	if end < n {
		out += " {snip}"
	}
	return out
}

// floorCharBoundary is the largest character boundary of s at or below
// i (s is valid UTF-8).
func floorCharBoundary(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}
