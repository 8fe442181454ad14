package breakpad_test

import (
	"fmt"

	"github.com/symflow/symflow/local/symbolicator/breakpad"
)

type stack map[uint64]uint64

func (s stack) Read(addr uint64, size int) (uint64, bool) { v, ok := s[addr]; return v, ok }

func Example() {
	sym := `MODULE Linux x86_64 492E2DD23CC306CA9C494EEF1533A3810 crash
FILE 0 /src/main.c
FILE 1 /src/util.h
INLINE_ORIGIN 0 clamp
FUNC 1000 40 0 process(int)
INLINE 0 12 0 0 1010 10
1000 10 10 0
1010 10 3 1
1020 20 14 0
STACK CFI INIT 1000 40 .cfa: $rsp 8 + .ra: .cfa -8 + ^
STACK CFI 1001 .cfa: $rsp 16 + $rbp: .cfa -16 + ^
`
	f, err := breakpad.Parse([]byte(sym))
	if err != nil {
		panic(err)
	}
	frames, _ := f.Lookup(0x1014)
	for _, fr := range frames {
		fmt.Printf("%s at %s:%d inline=%v\n", fr.Function, fr.File, fr.Line, fr.Inline)
	}

	rules, _ := f.CFI(0x1014)
	callee := map[string]uint64{"rsp": 0x7ff0, "rip": 0x1014}
	caller, err := rules.Unwind(func(r string) (uint64, bool) { v, ok := callee[r]; return v, ok },
		stack{0x7ff8: 0x2233, 0x7ff0: 0x8000})
	if err != nil {
		panic(err)
	}
	fmt.Printf("cfa=%#x ra=%#x rbp=%#x\n", caller[".cfa"], caller[".ra"], caller["rbp"])
	// Output:
	// clamp at /src/util.h:3 inline=true
	// process(int) at /src/main.c:12 inline=false
	// cfa=0x8000 ra=0x2233 rbp=0x8000
}
