package pdb_test

import (
	"fmt"
	"os"

	"github.com/symflow/symflow/local/symbolicator/pdb"
)

// A service that has fetched a PDB by the debug id of a PE module opens it
// once and looks up module-relative addresses (RVAs).
func Example() {
	data, err := os.ReadFile("testdata/fixture-x64.pdb")
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := pdb.Open(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Arch, f.Features.HasSymbols)
	frames, ok := f.Lookup(0x1000)
	fmt.Println(ok, len(frames) > 0 && frames[len(frames)-1].SymAddr == 0x1000)
	// Output:
	// x86_64 true
	// true true
}
