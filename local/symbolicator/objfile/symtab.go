package objfile

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"
)

type symbol struct {
	addr, size uint64
	name       string
	// fn marks a function symbol (ELF STT_FUNC; every Mach-O section
	// symbol): only these name functions in Symbolicator's symbol map.
	fn bool
}

// symtab answers "which symbol covers addr" the way llvm-symbolizer does:
// among symbols at one address the largest (then the last) covers, and a
// symbol of size 0 extends to the next symbol. The name it reports for an
// address is Symbolicator's (symbolic's symbol map): the first function
// symbol at that address in file order, so that of two aliases (a C++
// complete-object destructor D1Ev and the base-object one D2Ev sharing
// code) the one the symbol table lists first wins.
type symtab struct {
	syms []symbol

	// display holds each symbol's demangled name once computed; demangling
	// every symbol up front would make Open slow for large C++ binaries.
	display []atomic.Pointer[string]
}

// function returns the display name of symbol i, demangling it once.
func (s *symtab) function(i int) string {
	if p := s.display[i].Load(); p != nil {
		return *p
	}
	fn := demangleName(s.syms[i].name)
	s.display[i].Store(&fn)
	return fn
}

func newSymtab(in []symbol) *symtab {
	// Stable by address only: within one address the file order remains.
	slices.SortStableFunc(in, func(a, b symbol) int { return cmp.Compare(a.addr, b.addr) })
	out := in[:0]
	for i := 0; i < len(in); {
		j := i + 1
		for j < len(in) && in[j].addr == in[i].addr {
			j++
		}
		// The largest symbol, the last of equal ones, covers (llvm); the
		// first function symbol names (symbolic).
		cover, name := i, ""
		for k := i; k < j; k++ {
			if in[k].size >= in[cover].size {
				cover = k
			}
			if name == "" && in[k].fn {
				name = in[k].name
			}
		}
		sym := in[cover]
		if name != "" {
			sym.name = name
		}
		sym.fn = name != ""
		out = append(out, sym)
		i = j
	}
	return &symtab{syms: slices.Clip(out), display: make([]atomic.Pointer[string], len(out))}
}

// exact returns the index of the function symbol at exactly addr, or -1.
func (s *symtab) exact(addr uint64) int {
	i := s.find(addr)
	if i < 0 || s.syms[i].addr != addr || !s.syms[i].fn {
		return -1
	}
	return i
}

func (s *symtab) len() int {
	if s == nil {
		return 0
	}
	return len(s.syms)
}

// find returns the index of the symbol covering addr, or -1.
func (s *symtab) find(addr uint64) int {
	if s == nil {
		return -1
	}
	syms := s.syms
	lo, hi := 0, len(syms) // first index with syms[i].addr > addr
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if syms[m].addr > addr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return -1
	}
	sym := &syms[lo-1]
	if sym.size != 0 && addr-sym.addr >= sym.size {
		return -1
	}
	return lo - 1
}

// linkTwins lets ix demangle a name through st when st holds the same
// mangled name: inlined frames take DWARF names and real functions the
// symbol table's, mostly the same strings, and demangling long C++ names
// is the larger part of a cold request's lookups.
func linkTwins(ix *dwarfIndex, st *symtab) {
	if ix == nil || st == nil || len(st.syms) == 0 {
		return
	}
	byName := make(map[string]int32)
	for i := range st.syms {
		if n := st.syms[i].name; strings.HasPrefix(n, "_Z") || strings.HasPrefix(n, "_R") {
			byName[n] = int32(i)
		}
	}
	if len(byName) == 0 {
		return
	}
	twins := make([]int32, len(ix.names))
	found := false
	for i, n := range ix.names {
		j, ok := byName[n]
		if !ok {
			j = -1
		}
		twins[i], found = j, found || ok
	}
	if found {
		ix.twins, ix.twinTab = twins, st
	}
}
