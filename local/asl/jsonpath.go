package asl

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The JSONPath subset Step Functions accepts: $ (input) or $$ (context
// object) followed by .name, ['name'], ["name"], [n], [-n], [*], .*,
// [a,b], ['a','b'], [start:end:step] and ..name / ..* (recursive descent).
// Filter expressions ([?(...)]) are rejected with an error that says so.

type segKind int

const (
	segField segKind = iota
	segIndex
	segWildcard
	segUnionNames
	segUnionIndexes
	segSlice
	segRecursive // name == "" means ..*
)

type pathSeg struct {
	kind    segKind
	name    string
	index   int
	names   []string
	indexes []int
	// slice bounds; has* tell whether the bound was written.
	start, end, step int
	hasStart, hasEnd bool
}

// jsonPath is a compiled path expression.
type jsonPath struct {
	src      string
	context  bool // starts with $$
	segs     []pathSeg
	definite bool // selects at most one node: no wildcard, union, slice or recursion
}

var pathCache sync.Map // string → *jsonPath

// compilePath parses a JSONPath; results are cached because definitions use
// the same few paths over and over.
func compilePath(src string) (*jsonPath, error) {
	if p, ok := pathCache.Load(src); ok {
		return p.(*jsonPath), nil
	}
	p, err := parsePath(src)
	if err != nil {
		return nil, err
	}
	pathCache.Store(src, p)
	return p, nil
}

func parsePath(src string) (*jsonPath, error) {
	p := &jsonPath{src: src, definite: true}
	if !strings.HasPrefix(src, "$") {
		return nil, fmt.Errorf("path %q must start with $", src)
	}
	i := 1
	if strings.HasPrefix(src, "$$") {
		p.context = true
		i = 2
	}
	for i < len(src) {
		switch src[i] {
		case '.':
			i++
			if i >= len(src) {
				return nil, fmt.Errorf("path %q ends with '.'", src)
			}
			if src[i] == '.' {
				i++
				p.definite = false
				if i < len(src) && src[i] == '*' {
					p.segs = append(p.segs, pathSeg{kind: segRecursive})
					i++
					continue
				}
				if i < len(src) && src[i] == '[' {
					// ..['name'] : recursive descent then a bracket selector.
					p.segs = append(p.segs, pathSeg{kind: segRecursive})
					continue
				}
				name, n := readName(src[i:])
				if name == "" {
					return nil, fmt.Errorf("path %q: missing name after '..' at offset %d", src, i)
				}
				p.segs = append(p.segs, pathSeg{kind: segRecursive, name: name})
				i += n
				continue
			}
			if src[i] == '*' {
				p.segs = append(p.segs, pathSeg{kind: segWildcard})
				p.definite = false
				i++
				continue
			}
			name, n := readName(src[i:])
			if name == "" {
				return nil, fmt.Errorf("path %q: missing name after '.' at offset %d", src, i)
			}
			p.segs = append(p.segs, pathSeg{kind: segField, name: name})
			i += n
		case '[':
			end, seg, err := parseBracket(src, i)
			if err != nil {
				return nil, err
			}
			if seg.kind != segField && seg.kind != segIndex {
				p.definite = false
			}
			p.segs = append(p.segs, seg)
			i = end
		default:
			return nil, fmt.Errorf("path %q: unexpected %q at offset %d", src, src[i], i)
		}
	}
	// A recursive segment followed by a bracket selector merges into one step.
	return p, nil
}

// readName reads a dot-notation member name: everything up to '.' or '['.
func readName(s string) (string, int) {
	n := 0
	for n < len(s) && s[n] != '.' && s[n] != '[' {
		n++
	}
	return s[:n], n
}

func parseBracket(src string, i int) (int, pathSeg, error) {
	j := i + 1
	skip := func() {
		for j < len(src) && src[j] == ' ' {
			j++
		}
	}
	skip()
	if j >= len(src) {
		return 0, pathSeg{}, fmt.Errorf("path %q: unclosed '[' at offset %d", src, i)
	}
	switch c := src[j]; {
	case c == '*':
		j++
		skip()
		if j >= len(src) || src[j] != ']' {
			return 0, pathSeg{}, fmt.Errorf("path %q: expected ']' at offset %d", src, j)
		}
		return j + 1, pathSeg{kind: segWildcard}, nil
	case c == '?' || c == '(':
		return 0, pathSeg{}, fmt.Errorf("path %q: filter and script expressions are not supported", src)
	case c == '\'' || c == '"':
		var names []string
		for {
			skip()
			if j >= len(src) || (src[j] != '\'' && src[j] != '"') {
				return 0, pathSeg{}, fmt.Errorf("path %q: expected a quoted name at offset %d", src, j)
			}
			q := src[j]
			j++
			var b strings.Builder
			closed := false
			for j < len(src) {
				ch := src[j]
				if ch == '\\' && j+1 < len(src) {
					b.WriteByte(src[j+1])
					j += 2
					continue
				}
				if ch == q {
					closed = true
					j++
					break
				}
				b.WriteByte(ch)
				j++
			}
			if !closed {
				return 0, pathSeg{}, fmt.Errorf("path %q: unterminated quoted name", src)
			}
			names = append(names, b.String())
			skip()
			if j < len(src) && src[j] == ',' {
				j++
				continue
			}
			break
		}
		if j >= len(src) || src[j] != ']' {
			return 0, pathSeg{}, fmt.Errorf("path %q: expected ']' at offset %d", src, j)
		}
		if len(names) == 1 {
			return j + 1, pathSeg{kind: segField, name: names[0]}, nil
		}
		return j + 1, pathSeg{kind: segUnionNames, names: names}, nil
	default:
		k := strings.IndexByte(src[j:], ']')
		if k < 0 {
			return 0, pathSeg{}, fmt.Errorf("path %q: unclosed '[' at offset %d", src, i)
		}
		body := strings.TrimSpace(src[j : j+k])
		end := j + k + 1
		if strings.Contains(body, ":") {
			parts := strings.Split(body, ":")
			if len(parts) > 3 {
				return 0, pathSeg{}, fmt.Errorf("path %q: bad slice [%s]", src, body)
			}
			seg := pathSeg{kind: segSlice, step: 1}
			for n, part := range parts {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				v, err := strconv.Atoi(part)
				if err != nil {
					return 0, pathSeg{}, fmt.Errorf("path %q: bad slice bound %q", src, part)
				}
				switch n {
				case 0:
					seg.start, seg.hasStart = v, true
				case 1:
					seg.end, seg.hasEnd = v, true
				case 2:
					if v == 0 {
						return 0, pathSeg{}, fmt.Errorf("path %q: slice step 0", src)
					}
					seg.step = v
				}
			}
			return end, seg, nil
		}
		if strings.Contains(body, ",") {
			var idx []int
			for _, part := range strings.Split(body, ",") {
				v, err := strconv.Atoi(strings.TrimSpace(part))
				if err != nil {
					return 0, pathSeg{}, fmt.Errorf("path %q: bad index %q", src, part)
				}
				idx = append(idx, v)
			}
			return end, pathSeg{kind: segUnionIndexes, indexes: idx}, nil
		}
		v, err := strconv.Atoi(body)
		if err != nil {
			return 0, pathSeg{}, fmt.Errorf("path %q: bad index %q", src, body)
		}
		return end, pathSeg{kind: segIndex, index: v}, nil
	}
}

// isReference reports whether the path is a reference path: fields and
// indexes only, on the input (ResultPath and the Variable of a Choice rule
// must be reference paths in AWS).
func (p *jsonPath) isReference() bool {
	if p.context {
		return false
	}
	for _, s := range p.segs {
		if s.kind != segField && s.kind != segIndex {
			return false
		}
	}
	return true
}

// eval applies the path to root. A definite path returns its single value or
// found=false; an indefinite one returns the matches as an array (found is
// true even when the array is empty, as in AWS).
func (p *jsonPath) eval(root any) (v any, found bool) {
	nodes := []any{root}
	for _, s := range p.segs {
		var next []any
		for _, n := range nodes {
			next = s.apply(n, next)
		}
		nodes = next
		if len(nodes) == 0 && p.definite {
			return nil, false
		}
	}
	if p.definite {
		if len(nodes) == 0 {
			return nil, false
		}
		return nodes[0], true
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, true
}

func normIndex(i, n int) (int, bool) {
	if i < 0 {
		i += n
	}
	return i, i >= 0 && i < n
}

func (s pathSeg) apply(n any, out []any) []any {
	switch s.kind {
	case segField:
		if v, ok := member(n, s.name); ok {
			out = append(out, v)
		}
	case segIndex:
		if a, ok := n.([]any); ok {
			if i, ok := normIndex(s.index, len(a)); ok {
				out = append(out, a[i])
			}
		}
	case segWildcard:
		if keys, vals, ok := members(n); ok {
			for _, k := range keys {
				out = append(out, vals[k])
			}
		} else if a, ok := n.([]any); ok {
			out = append(out, a...)
		}
	case segUnionNames:
		for _, name := range s.names {
			if v, ok := member(n, name); ok {
				out = append(out, v)
			}
		}
	case segUnionIndexes:
		if a, ok := n.([]any); ok {
			for _, idx := range s.indexes {
				if i, ok := normIndex(idx, len(a)); ok {
					out = append(out, a[i])
				}
			}
		}
	case segSlice:
		a, ok := n.([]any)
		if !ok {
			break
		}
		l := len(a)
		clamp := func(v int) int {
			if v < 0 {
				v += l
			}
			return max(0, min(v, l))
		}
		if s.step > 0 {
			start, end := 0, l
			if s.hasStart {
				start = clamp(s.start)
			}
			if s.hasEnd {
				end = clamp(s.end)
			}
			for i := start; i < end; i += s.step {
				out = append(out, a[i])
			}
		} else {
			start, end := l-1, -1
			if s.hasStart {
				start = min(clamp(s.start), l-1)
			}
			if s.hasEnd {
				end = clamp(s.end)
			}
			for i := start; i > end; i += s.step {
				out = append(out, a[i])
			}
		}
	case segRecursive:
		out = recurse(n, s.name, out)
	}
	return out
}

// recurse implements ..name (name != "") and ..* / ..[ (name == ""): for
// ..[...] the following bracket segment is applied to every node collected
// here, which is why the empty form also yields the node itself.
func recurse(n any, name string, out []any) []any {
	if name == "" {
		out = append(out, n)
	}
	if keys, vals, ok := members(n); ok {
		for _, k := range keys {
			if name != "" && k == name {
				out = append(out, vals[k])
			}
			out = recurse(vals[k], name, out)
		}
	} else if a, ok := n.([]any); ok {
		for _, e := range a {
			out = recurse(e, name, out)
		}
	}
	return out
}

// setPath returns root with the value at reference path p replaced by v,
// creating intermediate objects. It fails when the path runs through a value
// that is not an object (or an array index out of range).
func (p *jsonPath) setPath(root, v any) (any, error) {
	if len(p.segs) == 0 {
		return v, nil
	}
	return setSegs(root, p.segs, v, p.src)
}

func setSegs(node any, segs []pathSeg, v any, src string) (any, error) {
	if len(segs) == 0 {
		return v, nil
	}
	s := segs[0]
	switch s.kind {
	case segField:
		var cp *object
		switch t := node.(type) {
		case *object:
			// Copy on write: the input may be shared with other states.
			cp = t.clone()
		case map[string]any:
			cp = newObject(len(t) + 1)
			for _, k := range sortedKeys(t) {
				cp.set(k, t[k])
			}
		default:
			return nil, fmt.Errorf("ResultPath %q: cannot set field %q in a value of type %s", src, s.name, typeName(node))
		}
		child, exists := cp.get(s.name)
		if !exists {
			child = newObject(1)
		}
		nv, err := setSegs(child, segs[1:], v, src)
		if err != nil {
			return nil, err
		}
		cp.set(s.name, nv)
		return cp, nil
	case segIndex:
		a, ok := node.([]any)
		if !ok {
			return nil, fmt.Errorf("ResultPath %q: cannot index a value of type %s", src, typeName(node))
		}
		i, ok := normIndex(s.index, len(a))
		if !ok {
			return nil, fmt.Errorf("ResultPath %q: index %d out of range", src, s.index)
		}
		nv, err := setSegs(a[i], segs[1:], v, src)
		if err != nil {
			return nil, err
		}
		cp := append([]any(nil), a...)
		cp[i] = nv
		return cp, nil
	}
	return nil, fmt.Errorf("ResultPath %q must be a reference path", src)
}
