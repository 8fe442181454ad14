package sourcebundle

import "strconv"

// parseDebugID parses a debug id as symbolic does and returns its
// canonical form. Accepted: 32 hex digits (either case) with an optional
// '-' after the 8th, 12th, 16th and 20th; then an optional '-' and up to 8
// hex digits of appendix; then up to 24 more hex digits, each optionally
// after a '-', which are ignored. The canonical form is the lower-case
// hyphenated UUID, followed by '-' and the appendix in hex when it is not
// zero.
func parseDebugID(s string) (string, bool) {
	var uuid [36]byte
	n, i := 0, 0
	for g, width := range [5]int{8, 4, 4, 4, 12} {
		if g > 0 {
			uuid[n] = '-'
			n++
		}
		for k := 0; k < width; k++ {
			if i >= len(s) || !isHex(s[i]) {
				return "", false
			}
			uuid[n] = lowerHex(s[i])
			n++
			i++
		}
		if g < 4 && i < len(s) && s[i] == '-' {
			i++
		}
	}
	rest := s[i:]
	if len(rest) > 0 && rest[0] == '-' {
		rest = rest[1:]
	}
	// The appendix takes as many digits as it may; what follows must be
	// the ignored tail.
	a := 0
	for a < len(rest) && a < 8 && isHex(rest[a]) {
		a++
	}
	appendix, tail := rest[:a], rest[a:]
	units := 0
	for j := 0; j < len(tail); {
		if tail[j] == '-' {
			j++
		}
		if j >= len(tail) || !isHex(tail[j]) {
			return "", false
		}
		j++
		if units++; units > 24 {
			return "", false
		}
	}
	out := string(uuid[:])
	if appendix != "" {
		v, _ := strconv.ParseUint(appendix, 16, 32)
		if v != 0 {
			out += "-" + strconv.FormatUint(v, 16)
		}
	}
	return out, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}
