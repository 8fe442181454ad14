package pdb

import (
	"sort"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Lookup returns the frames at rva, innermost first: the inlined functions
// holding it (deepest first), then the procedure, the last frame carrying
// SymAddr. Without a procedure, the public symbol covering rva gives one
// frame without file and line, as in symbolic's symbol table fallback. ok
// is false when neither covers rva.
func (f *File) Lookup(rva uint64) (frames []Frame, ok bool) {
	if f == nil || rva > 0xFFFFFFFF {
		return nil, false
	}
	a := uint32(rva)
	if pi := f.procAt(a); pi >= 0 {
		return f.procFrames(pi, a), true
	}
	if p := f.publicAt(a); p != nil {
		name := undecorateWin(p.name)
		return []Frame{{Function: demangleName(name), Symbol: name, SymAddr: uint64(p.rva)}}, true
	}
	return nil, false
}

// HasFunction reports whether a procedure or public symbol covers rva, the
// test stack scanning applies to candidate return addresses.
func (f *File) HasFunction(rva uint64) bool {
	if f == nil || rva > 0xFFFFFFFF {
		return false
	}
	return f.procAt(uint32(rva)) >= 0 || f.publicAt(uint32(rva)) != nil
}

// procAt returns the procedure holding a, or -1. When identical code was
// folded, several procedures share an address; the one of the module whose
// section contribution holds the address wins, as in LLVM.
func (f *File) procAt(a uint32) int {
	ps := f.procs
	i := sort.Search(len(ps), func(i int) bool { return ps[i].start > a }) - 1
	if i < 0 {
		return -1
	}
	found := -1
	var owner int32 = -2
	for j := i; j >= 0 && j > i-64; j-- {
		p := &ps[j]
		if a >= p.end {
			if found >= 0 || p.start != ps[i].start {
				break
			}
			continue
		}
		if found < 0 {
			found = j
			continue
		}
		if owner == -2 {
			owner = f.moduleAt(a)
		}
		if p.module == owner && ps[found].module != owner {
			found = j
		}
	}
	return found
}

// publicAt returns the public symbol covering a, as symbolic's symcache
// lets public symbols fill what functions leave: from its address up to the
// next public symbol, the next procedure's start or end, and the end of its
// section; not at all when a procedure starts at the same address (the
// procedure describes that code).
func (f *File) publicAt(a uint32) *public {
	ps := f.publics
	i := sort.Search(len(ps), func(i int) bool { return ps[i].rva > a }) - 1
	if i < 0 || a >= ps[i].end {
		return nil
	}
	p := &ps[i]
	// A procedure starting or ending in (p.rva, a] ends the symbol's
	// reach; one starting at p.rva shadows it.
	j := sort.Search(len(f.procs), func(j int) bool { return f.procs[j].start >= p.rva })
	if j < len(f.procs) && f.procs[j].start <= a {
		return nil
	}
	k := sort.Search(len(f.procEnds), func(k int) bool { return f.procEnds[k] > p.rva })
	if k < len(f.procEnds) && f.procEnds[k] <= a {
		return nil
	}
	return p
}

func (f *File) formatter() *nameFormatter {
	fm := &nameFormatter{tpi: f.tpi, ipi: f.ipi, defs: &f.defs, ptrSize: 4}
	if f.Arch == "x86_64" || f.Arch == "arm64" {
		fm.ptrSize = 8
	}
	return fm
}

func (f *File) procFrames(pi int, a uint32) []Frame {
	p := &f.procs[pi]
	lang := ""
	if int(p.module) < len(f.Modules) {
		lang = f.Modules[p.module].Lang
	}
	// The chain of sites holding a: at each level the first site (in
	// symbol order) whose ranges hold it, as LLVM descends.
	var chain []int32
	var hits []int32 // the range holding a, per chain entry
	for si := p.siteLo; si < p.siteHi; si++ {
		s := &f.sites[si]
		want := int32(-1)
		if len(chain) > 0 {
			want = chain[len(chain)-1]
		}
		if s.parent != want {
			continue
		}
		if r := f.rangeAt(s, a); r >= 0 {
			chain = append(chain, si)
			hits = append(hits, r)
		}
	}
	fm := f.formatter()
	// symbolic drops an inlinee whose name cannot be formatted, with
	// everything inlined into it.
	names := make([]string, 0, len(chain))
	for _, si := range chain {
		name, err := fm.id(f.sites[si].inlinee)
		if err != nil {
			break
		}
		names = append(names, name)
	}
	chain = chain[:len(names)]
	out := make([]Frame, 0, len(chain)+1)
	for k := len(chain) - 1; k >= 0; k-- {
		r := &f.ranges[hits[k]]
		out = append(out, Frame{Function: names[k], Symbol: names[k], AbsPath: f.file(r.file), Line: int(r.line), Lang: lang, Inline: true})
	}
	typ := p.typ
	if p.idType {
		typ = f.idFunctionType(typ)
	}
	name := fm.function(p.name, typ)
	path, line := f.lineAt(p.module, a)
	out = append(out, Frame{Function: name, Symbol: name, AbsPath: path, Line: line, Lang: lang, SymAddr: uint64(p.start)})
	return out
}

// idFunctionType returns the function type an LF_FUNC_ID or LF_MFUNC_ID
// refers to (procedures of the _ID kinds name their type through one).
func (f *File) idFunctionType(id uint32) uint32 {
	k, b, ok := f.ipi.record(id)
	if !ok || k != lfFuncID && k != lfMFuncID {
		return 0
	}
	t, _ := u32at(b, 4)
	return t
}

func (f *File) rangeAt(s *site, a uint32) int32 {
	rs := f.ranges[s.rangeLo:s.rangeHi]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].start > a }) - 1
	// Ranges of one site do not overlap in practice; look back a little
	// in case they do.
	for j := i; j >= 0 && j > i-8; j-- {
		if a < rs[j].end {
			return s.rangeLo + int32(j)
		}
	}
	return -1
}

// lineAt returns the source location of a in module m's line table.
func (f *File) lineAt(m int32, a uint32) (string, int) {
	if m < 0 || int(m) >= len(f.modLines) {
		return "", 0
	}
	ls := f.modLines[m]
	i := sort.Search(len(ls), func(i int) bool { return ls[i].start > a }) - 1
	for j := i; j >= 0 && j > i-8; j-- {
		if a < ls[j].end {
			return f.file(ls[j].file), int(ls[j].line)
		}
	}
	return "", 0
}

func (f *File) file(i int32) string {
	if i < 0 || int(i) >= len(f.files) {
		return ""
	}
	return f.files[i]
}

// undecorateWin strips the decorations of C names on Windows ("_f",
// "_f@8", "@f@8", "f@@8") as symbolic's symcache does for PE and PDB
// symbols; C++ names and anything else pass unchanged.
func undecorateWin(name string) string {
	if strings.HasPrefix(name, "?") || strings.ContainsAny(name, ":(<") {
		return name
	}
	if i := strings.LastIndex(name, "@@"); i >= 0 && isDecimal(name[i+2:]) {
		return name[:i]
	}
	if name != "" && (name[0] == '@' || name[0] == '_') {
		rest := name[1:]
		if i := strings.LastIndexByte(rest, '@'); i >= 0 && isDecimal(rest[i+1:]) {
			return rest[:i]
		}
		if name[0] == '_' {
			return rest
		}
	}
	return name
}

// isDecimal reports whether s parses as a u32 the way Rust's
// str::parse::<u32> does (optional '+', digits, no overflow).
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 10 {
		return false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v <= 0xFFFFFFFF
}

// demangleName is the "function" Symbolicator shows for a raw public
// symbol name: MSVC and Itanium C++ names demangled with parameters and
// without return type; anything else (C names, MD5-hashed MSVC names) as
// it is.
func demangleName(name string) string {
	switch {
	case strings.HasPrefix(name, "??@") && strings.HasSuffix(name, "@") && len(name) == 36:
		return name
	case strings.HasPrefix(name, "?"):
		if s, ok := demangleMSVC(name); ok {
			return s
		}
	case strings.HasPrefix(name, "_Z"), strings.HasPrefix(name, "__Z"):
		if s, ok := demangleItanium(strings.TrimPrefix(name, "_")); ok {
			return s
		}
	}
	return name
}

func demangleItanium(name string) (s string, ok bool) {
	if len(name) > maxNameLen {
		return "", false
	}
	if !strings.HasPrefix(name, "_Z") {
		name = "_" + name
	}
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	ast, err := demangle.ToAST(name, demangle.NoClones)
	if err != nil {
		return "", false
	}
	if t, ok := ast.(*demangle.Typed); ok {
		if ft, ok := t.Type.(*demangle.FunctionType); ok && ft.Return != nil {
			c := *ft
			c.Return = nil
			ast = &demangle.Typed{Name: t.Name, Type: &c}
		}
	}
	return demangle.ASTToString(ast, demangle.NoClones), true
}
