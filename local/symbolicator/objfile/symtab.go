package objfile

import (
	"slices"
	"sync/atomic"
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
	return &symtab{syms: slices.Clip(out), display: make([]atomic.Pointer[string], len(out))}
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
