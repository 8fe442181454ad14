package symbolicator

import "strings"

// Source paths are reported as symbolic's symcache reports them: the line
// table's path joined with its directories is cleaned lexically (cleanPath)
// and the file name is its last component (splitName). Neither touches the
// file system, and both keep Windows paths Windows-shaped.

// isPathSeparator reports whether c separates path components: both
// slashes count, since a debug file may come from either platform.
func isPathSeparator(c rune) bool { return c == '/' || c == '\\' }

// isWindowsPath reports whether p is written Windows style: a drive letter
// or UNC prefix, or any backslash.
func isWindowsPath(p string) bool {
	if strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return true
	}
	if len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z') {
		return len(p) == 2 || isPathSeparator(rune(p[2]))
	}
	return false
}

// cleanPath removes "." components and folds ".." into the component
// before it, as symbolic's clean_path does, quirks included: repeated
// separators stay, a ".." that climbs past the first component leaves a
// relative path ("/foo/../../b" is "../b"), and Windows paths are joined
// with backslashes.
func cleanPath(p string) string {
	sep := "/"
	if isWindowsPath(p) {
		sep = `\`
	}
	var b strings.Builder
	needSep, pastRoot := false, false
	for _, s := range splitTerminator(p) {
		switch s {
		case ".":
			continue
		case "..":
			if !pastRoot && popPath(&b) {
				if b.Len() == 0 {
					needSep = false
				}
				continue
			}
			if !pastRoot {
				needSep, pastRoot = false, true
			}
		}
		if needSep {
			b.WriteString(sep)
		}
		needSep = true
		b.WriteString(s)
	}
	return b.String()
}

// splitTerminator splits p at every separator, dropping one empty
// component after a trailing separator.
func splitTerminator(p string) []string {
	if p == "" {
		return nil
	}
	var out []string
	start := 0
	for i, c := range p {
		if isPathSeparator(c) {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	if start < len(p) {
		out = append(out, p[start:])
	}
	return out
}

// popPath removes the last component of the path built so far and reports
// whether there was one.
func popPath(b *strings.Builder) bool {
	s := b.String()
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[:i]
	} else if s != "" {
		s = ""
	} else {
		return false
	}
	b.Reset()
	b.WriteString(s)
	return true
}

// splitName returns the last component of p after trailing separators,
// symbolic's split_path: the frame's filename.
func splitName(p string) string {
	p = strings.TrimRightFunc(p, isPathSeparator)
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
