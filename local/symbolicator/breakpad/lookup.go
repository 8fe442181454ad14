package breakpad

import (
	"container/heap"
	"sort"
)

// Lookup returns the frames at addr, a module-relative address as in the
// file, innermost first: the functions inlined at addr (deepest first) and
// then the FUNC holding them, each with its source location; or, when no
// FUNC covers addr, the PUBLIC symbol that does (one frame, without file
// and line). ok is false when neither covers addr.
//
// Locations follow symbolic, whose symcache Symbolicator answers from. The
// FUNC's line records give the location in the innermost function; each
// INLINE record gives the call site (call_file, call_line) in the function
// around it. Before that, symbolic repairs INLINE ranges that are not
// properly nested (a range overlapping its predecessor at the same depth
// starts where that one ends, one reaching beyond its parent is split, one
// without parent is dropped) and splits line records at inline boundaries.
// An address in a gap between line records takes the location of the
// record before it, and one before the first record gets line 0. Unlike
// symcache, where a function's last line runs on up to the next symbol,
// a FUNC covers exactly its address and size.
//
// A PUBLIC symbol covers from its address up to the next PUBLIC symbol, and
// not past the start of a FUNC at or after its own address
// (rust-minidump's rule).
func (f *File) Lookup(addr uint64) (frames []Frame, ok bool) {
	if fn := f.funcAt(addr); fn != nil {
		return f.funcFrames(fn, addr), true
	}
	if p := f.publicAt(addr); p != nil {
		return []Frame{{Function: p.name, Symbol: p.name, SymAddr: p.addr}}, true
	}
	return nil, false
}

// HasFunction reports whether a FUNC or PUBLIC record covers addr, the test
// stack scanning applies to candidate return addresses.
func (f *File) HasFunction(addr uint64) bool {
	return f.funcAt(addr) != nil || f.publicAt(addr) != nil
}

func (f *File) funcAt(addr uint64) *funcRec {
	i := sort.Search(len(f.funcs), func(i int) bool { return f.funcs[i].addr > addr }) - 1
	if i < 0 || addr-f.funcs[i].addr >= f.funcs[i].size {
		return nil
	}
	return &f.funcs[i]
}

func (f *File) publicAt(addr uint64) *publicRec {
	i := sort.Search(len(f.publics), func(i int) bool { return f.publics[i].addr > addr }) - 1
	if i < 0 {
		return nil
	}
	p := &f.publics[i]
	// A FUNC starting in [p.addr, addr) ends the PUBLIC symbol's reach.
	j := sort.Search(len(f.funcs), func(j int) bool { return f.funcs[j].addr >= p.addr })
	if j < len(f.funcs) && f.funcs[j].addr < addr {
		return nil
	}
	return p
}

// The inline tree of one function, built as symbolic's FunctionBuilder
// builds it and flattened into address ranges as its symcache writer does.

type inlinee struct {
	inlineRec
	seq int // tie-breaker: input order
}

type inlineeHeap []inlinee

func (h inlineeHeap) Len() int { return len(h) }
func (h inlineeHeap) Less(i, j int) bool {
	if h[i].addr != h[j].addr {
		return h[i].addr < h[j].addr
	}
	if h[i].depth != h[j].depth {
		return h[i].depth < h[j].depth
	}
	return h[i].seq < h[j].seq
}
func (h inlineeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *inlineeHeap) Push(x any)   { *h = append(*h, x.(inlinee)) }
func (h *inlineeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// properlyNested orders a function's inline ranges by (address, depth) and
// makes them a tree: a range overlapping the previous one at its depth is
// moved to start where that one ends (or dropped if engulfed), a range
// reaching past its parent is split at the parent's end, and a range with
// no parent at the depth above is dropped. Hostile input can make splits
// multiply, so the work is bounded: after 4n+1024 steps for n ranges the
// ones left are dropped.
func properlyNested(recs []inlineRec) []inlineRec {
	h := make(inlineeHeap, len(recs))
	for i, r := range recs {
		h[i] = inlinee{r, i}
	}
	heap.Init(&h)
	seq := len(recs)
	budget := 4*len(recs) + 1024
	var out []inlineRec
	var ends []uint64 // ends[d]: end of the latest range kept at depth d
	for h.Len() > 0 && budget > 0 {
		budget--
		in := heap.Pop(&h).(inlinee)
		depth := int(in.depth)
		end := in.addr + in.size
		if end < in.addr {
			continue
		}
		if len(ends) < depth {
			continue // no parent
		}
		if depth < len(ends) {
			prev := ends[depth]
			if end <= prev {
				continue // inside its previous sibling
			}
			if in.addr < prev {
				in.addr, in.size = prev, end-prev
				in.seq = seq
				seq++
				heap.Push(&h, in)
				continue
			}
		}
		ends = ends[:depth]
		if depth > 0 {
			parentEnd := ends[depth-1]
			if in.addr >= parentEnd {
				continue
			}
			if end > parentEnd {
				rest := in
				rest.addr, rest.size = parentEnd, end-parentEnd
				rest.seq = seq
				seq++
				heap.Push(&h, rest)
				in.size = parentEnd - in.addr
				end = parentEnd
			}
		}
		out = append(out, in.inlineRec)
		ends = append(ends, end)
	}
	return out
}

// node is a function in the inline tree: the FUNC itself (node 0) or an
// inlined call.
type node struct {
	addr, size uint64
	name       string
	inline     bool
	lines      []lineRec
	children   []int
}

// location is a source location in the flattened form: a function, a place
// in it and the location it was inlined into (-1 for none).
type location struct {
	node   int
	file   uint64
	line   uint32
	hasLoc bool
	parent int
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// buildTree assigns the function's lines and inline ranges to the tree, as
// symbolic's FunctionBuilder does: inline ranges in (address, depth) order
// open nodes, a line record goes to the innermost node open at its address
// and is split where that node ends or the next inline range starts.
func (f *File) buildTree(fn *funcRec) []node {
	nodes := []node{{addr: fn.addr, size: fn.size, name: fn.name}}
	outerEnd := satAdd(fn.addr, fn.size)
	inl := properlyNested(f.inlines[fn.inline0:fn.inline1])
	lines := make([]lineRec, fn.line1-fn.line0)
	copy(lines, f.lines[fn.line0:fn.line1])
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].addr < lines[j].addr })

	type open struct {
		end  uint64
		node int
	}
	stack := []open{{outerEnd, 0}}
	pop := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		parent := stack[len(stack)-1].node
		nodes[parent].children = append(nodes[parent].children, top.node)
	}
	flushAddr := func(a uint64) {
		for len(stack) > 1 && stack[len(stack)-1].end <= a {
			pop()
		}
	}
	i, j := 0, 0
	var cur lineRec
	haveCur := false
	for {
		if !haveCur && j < len(lines) {
			cur, haveCur = lines[j], true
			j++
		}
		if i < len(inl) && (!haveCur || inl[i].addr <= cur.addr) {
			in := inl[i]
			i++
			flushAddr(in.addr)
			for len(stack) > int(in.depth)+1 {
				pop()
			}
			if in.addr >= outerEnd {
				break
			}
			top := stack[len(stack)-1].node
			nodes[top].lines = append(nodes[top].lines, lineRec{addr: in.addr, size: in.size, file: in.callFile, line: in.callLine})
			nodes = append(nodes, node{addr: in.addr, size: in.size, name: f.origins[in.origin], inline: true})
			stack = append(stack, open{satAdd(in.addr, in.size), len(nodes) - 1})
			continue
		}
		if !haveCur {
			break
		}
		flushAddr(cur.addr)
		if cur.addr >= outerEnd {
			break
		}
		top := stack[len(stack)-1]
		lineEnd := satAdd(cur.addr, cur.size)
		split := top.end
		if i < len(inl) && inl[i].addr < split {
			split = inl[i].addr
		}
		if split < lineEnd {
			nodes[top.node].lines = append(nodes[top.node].lines, lineRec{addr: cur.addr, size: split - cur.addr, file: cur.file, line: cur.line})
			cur.size = lineEnd - split
			cur.addr = split
			continue
		}
		nodes[top.node].lines = append(nodes[top.node].lines, cur)
		haveCur = false
	}
	for len(stack) > 1 {
		pop()
	}
	return nodes
}

// flatten maps start addresses to locations the way symbolic's symcache
// writer does: every function contributes the parts of its lines not
// covered by its children's lines, and the parts that are covered become
// the call locations its children are inlined into.
func flatten(nodes []node) (ranges map[uint64]int, locs []location) {
	ranges = map[uint64]int{}
	type callLoc struct {
		addr uint64
		loc  int
	}
	type work struct {
		node  int
		calls []callLoc
	}
	todo := []work{{0, []callLoc{{0, -1}}}}
	for len(todo) > 0 {
		w := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		n := &nodes[w.node]
		if n.size == 0 {
			continue
		}
		type span struct{ start, end uint64 }
		var inl []span
		for _, c := range n.children {
			for _, l := range nodes[c].lines {
				inl = append(inl, span{l.addr, satAdd(l.addr, l.size)})
			}
		}
		sort.SliceStable(inl, func(a, b int) bool { return inl[a].start < inl[b].start })
		ci, ii := 0, 0
		var calls []callLoc
		for li := 0; li < len(n.lines); {
			l := n.lines[li]
			li++
			for ci+1 < len(w.calls) && w.calls[ci+1].addr <= l.addr {
				ci++
			}
			locs = append(locs, location{node: w.node, file: l.file, line: l.line, hasLoc: true, parent: w.calls[ci].loc})
			loc := len(locs) - 1
			cur, end := l.addr, satAdd(l.addr, l.size)
			for cur < end {
				if ii >= len(inl) || inl[ii].start > cur {
					ranges[cur] = loc
				}
				if ii < len(inl) && inl[ii].start < end {
					calls = append(calls, callLoc{inl[ii].start, loc})
					cur = inl[ii].end
					ii++
				} else {
					cur = end
				}
			}
			for li < len(n.lines) && n.lines[li].addr < cur {
				li++
			}
		}
		if !n.inline {
			if _, ok := ranges[n.addr]; !ok {
				locs = append(locs, location{node: w.node, parent: -1})
				ranges[n.addr] = len(locs) - 1
			}
		}
		if len(calls) > 0 {
			for k := len(n.children) - 1; k >= 0; k-- {
				todo = append(todo, work{n.children[k], calls})
			}
		}
	}
	return ranges, locs
}

// builtFunc is a function's flattened inline tree, kept for the next
// lookup in the same function.
type builtFunc struct {
	fn     *funcRec
	nodes  []node
	starts []uint64 // sorted range starts
	locOf  []int    // location of the range at starts[i]
	locs   []location
}

func (f *File) build(fn *funcRec) *builtFunc {
	if b := f.last.Load(); b != nil && b.fn == fn {
		return b
	}
	b := &builtFunc{fn: fn, nodes: f.buildTree(fn)}
	ranges, locs := flatten(b.nodes)
	b.locs = locs
	b.starts = make([]uint64, 0, len(ranges))
	for a := range ranges {
		b.starts = append(b.starts, a)
	}
	sort.Slice(b.starts, func(i, j int) bool { return b.starts[i] < b.starts[j] })
	b.locOf = make([]int, len(b.starts))
	for i, a := range b.starts {
		b.locOf[i] = ranges[a]
	}
	f.last.Store(b)
	return b
}

func (f *File) funcFrames(fn *funcRec, addr uint64) []Frame {
	b := f.build(fn)
	i := sort.Search(len(b.starts), func(i int) bool { return b.starts[i] > addr }) - 1
	if i < 0 { // cannot happen: the FUNC's address always has an entry
		return []Frame{{Function: fn.name, Symbol: fn.name, SymAddr: fn.addr}}
	}
	var frames []Frame
	for li := b.locOf[i]; li >= 0; li = b.locs[li].parent {
		l := b.locs[li]
		n := &b.nodes[l.node]
		fr := Frame{Function: n.name, Symbol: n.name, SymAddr: n.addr, Inline: n.inline}
		if l.hasLoc {
			fr.File = f.files[l.file]
			fr.Line = int(l.line)
		}
		frames = append(frames, fr)
	}
	return frames
}
