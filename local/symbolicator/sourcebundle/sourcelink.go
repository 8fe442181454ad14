package sourcebundle

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// sourceLink is one source_links entry: a pattern that matches a path
// exactly, or (ending in '*') every path with its prefix, and the URL
// template it maps to.
type sourceLink struct {
	pattern string // lower-cased, without the '*'
	prefix  bool
	target  string
}

// compileLinks orders the source_links as symbolic tries them: exact
// patterns first, in byte order; then prefixes, longer first, equal lengths
// in byte order. Patterns compare case-insensitively, so two that differ
// only in case are one pattern; of those, the one that sorts later as
// written gives the target.
func compileLinks(raw map[string]string) []sourceLink {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byPattern := make(map[sourceLink]string, len(raw))
	for _, k := range keys {
		l := sourceLink{pattern: k}
		if p, ok := strings.CutSuffix(k, "*"); ok {
			l.pattern, l.prefix = p, true
		}
		l.pattern = rustLower(l.pattern)
		byPattern[l] = raw[k]
	}
	links := make([]sourceLink, 0, len(byPattern))
	for l, target := range byPattern {
		l.target = target
		links = append(links, l)
	}
	sort.Slice(links, func(i, j int) bool {
		a, b := links[i], links[j]
		if a.prefix != b.prefix {
			return !a.prefix
		}
		if a.prefix && len(a.pattern) != len(b.pattern) {
			return len(a.pattern) > len(b.pattern)
		}
		return a.pattern < b.pattern
	})
	return links
}

// resolveLink maps path (already normalized) to a URL by the first
// matching link. For a prefix match, the rest of the path as written (with
// '\' made '/') replaces every '*' of the target; the rest is cut at the
// pattern's byte length, and is empty when that length does not fall on a
// character boundary of the path (lower-casing can change lengths).
func resolveLink(links []sourceLink, path string) (string, bool) {
	if len(links) == 0 {
		return "", false
	}
	lower := rustLower(path)
	for _, l := range links {
		if !l.prefix {
			if l.pattern == lower {
				return l.target, true
			}
			continue
		}
		if !strings.HasPrefix(lower, l.pattern) {
			continue
		}
		rest := ""
		if n := len(l.pattern); n <= len(path) && (n == len(path) || utf8.RuneStart(path[n])) {
			rest = strings.ReplaceAll(path[n:], `\`, "/")
		}
		return strings.ReplaceAll(l.target, "*", rest), true
	}
	return "", false
}

// rustLower lower-cases s as Rust's str::to_lowercase does, which symbolic
// uses to compare source link patterns: each character's lower case, except
// that İ (U+0130) becomes "i̇" and Σ becomes ς at the end of a word.
// Characters are mapped by Go's Unicode tables, which may trail Rust's by a
// version.
func rustLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i, r := range s {
		switch r {
		case 'İ':
			sb.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(s, i) {
				sb.WriteRune('ς')
			} else {
				sb.WriteRune('σ')
			}
		default:
			sb.WriteRune(unicode.ToLower(r))
		}
	}
	return sb.String()
}

// finalSigma applies Unicode's Final_Sigma condition to the Σ at byte i of
// s: a cased letter comes before it (past case-ignorable characters) and
// none comes after it (likewise).
func finalSigma(s string, i int) bool {
	before := false
	for j := i; j > 0; {
		r, n := utf8.DecodeLastRuneInString(s[:j])
		j -= n
		if caseIgnorable(r) {
			continue
		}
		before = cased(r)
		break
	}
	if !before {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if caseIgnorable(r) {
			continue
		}
		return !cased(r)
	}
	return true
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable approximates Unicode's Case_Ignorable property: marks,
// format characters, modifier letters and symbols, and the Word_Break
// MidLetter, MidNumLet and Single_Quote characters.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '·', '\u0387', '\u055F', '\u05F4', '\u2018', '\u2019', '\u2024', '\u2027',
		'\uFE13', '\uFE52', '\uFE55', '\uFF07', '\uFF0E', '\uFF1A':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
