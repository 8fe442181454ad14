package objfile

import (
	"slices"
	"sort"
	"sync"
)

type symbol struct {
	addr, size uint64
	name       string
}

// symtab answers "which symbol covers addr" the way llvm-symbolizer does:
// among symbols at one address the largest (then the last) wins, and a
// symbol of size 0 extends to the next symbol.
type symtab struct {
	syms []symbol
	lang string // language of the whole file when known ("go"), else ""

	demangled sync.Map // raw name -> display name
}

// function returns the display name of a symbol, demangling once.
func (s *symtab) function(name string) string {
	if v, ok := s.demangled.Load(name); ok {
		return v.(string)
	}
	fn := demangleName(name)
	s.demangled.Store(name, fn)
	return fn
}

func newSymtab(in []symbol) *symtab {
	slices.SortStableFunc(in, func(a, b symbol) int {
		switch {
		case a.addr != b.addr:
			if a.addr < b.addr {
				return -1
			}
			return 1
		case a.size != b.size:
			if a.size < b.size {
				return -1
			}
			return 1
		}
		return 0
	})
	out := in[:0]
	for i := 0; i < len(in); {
		j := i + 1
		for j < len(in) && in[j].addr == in[i].addr {
			j++
		}
		out = append(out, in[j-1])
		i = j
	}
	return &symtab{syms: slices.Clip(out)}
}

func (s *symtab) len() int {
	if s == nil {
		return 0
	}
	return len(s.syms)
}

func (s *symtab) find(addr uint64) (symbol, bool) {
	if s == nil {
		return symbol{}, false
	}
	i := sort.Search(len(s.syms), func(i int) bool { return s.syms[i].addr > addr })
	if i == 0 {
		return symbol{}, false
	}
	sym := s.syms[i-1]
	if sym.size != 0 && addr-sym.addr >= sym.size {
		return symbol{}, false
	}
	return sym, true
}
