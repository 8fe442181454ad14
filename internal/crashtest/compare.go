package crashtest

import (
	"fmt"
	"strings"
)

// Agreement is how minidump_stackwalk's walk of a thread agrees with gdb's
// backtrace of the same thread in the core.
type Agreement struct {
	// Frames is gdb's frame count, inlined frames folded.
	Frames int
	// Walked counts those that the walk has at the same position, found
	// from the context or by call frame info (the frames the two tools
	// compute by the same rules; scanned frames are guesses).
	Walked int
	// SameAddress counts walked frames whose address equals gdb's pc.
	SameAddress int
	// Named counts walked frames in the program's own source, whose
	// function names both tools take from the same DWARF.
	Named int
	// SameName counts named frames whose function names agree, once
	// Breakpad's parameter list and return type are dropped.
	SameName int
	// Diffs says what disagreed, frame by frame.
	Diffs []string
}

// Add sums two agreements.
func (a Agreement) Add(b Agreement) Agreement {
	return Agreement{
		Frames: a.Frames + b.Frames, Walked: a.Walked + b.Walked,
		SameAddress: a.SameAddress + b.SameAddress,
		Named:       a.Named + b.Named, SameName: a.SameName + b.SameName,
		Diffs: append(append([]string(nil), a.Diffs...), b.Diffs...),
	}
}

func (a Agreement) String() string {
	return fmt.Sprintf("%d gdb frames, %d walked by context/CFI, %d same address, %d/%d own frames same name",
		a.Frames, a.Walked, a.SameAddress, a.SameName, a.Named)
}

// Compare lines up a walked thread with gdb's thread, frame by frame.
func Compare(s Scenario, walk WalkThread, gdb *GDBThread) Agreement {
	var a Agreement
	for i, g := range gdb.Physical() {
		a.Frames++
		if i >= len(walk.Frames) {
			a.Diffs = append(a.Diffs, fmt.Sprintf("frame %d: gdb has %s at 0x%x, the walk ended", i, g.Function, g.PC))
			continue
		}
		w := walk.Frames[i]
		if w.Trust != "context" && w.Trust != "cfi" {
			a.Diffs = append(a.Diffs, fmt.Sprintf("frame %d: gdb has %s at 0x%x, the walk found 0x%x by %s", i, g.Function, g.PC, w.Address, w.Trust))
			continue
		}
		a.Walked++
		if w.Address == g.PC {
			a.SameAddress++
		} else {
			a.Diffs = append(a.Diffs, fmt.Sprintf("frame %d: gdb pc 0x%x, walk 0x%x", i, g.PC, w.Address))
		}
		if g.File != "" && s.OwnFile(g.File) {
			a.Named++
			if name := BareFunctionName(w.Function); name == g.Function {
				a.SameName++
			} else {
				a.Diffs = append(a.Diffs, fmt.Sprintf("frame %d: gdb %q, walk %q", i, g.Function, w.Function))
			}
		}
	}
	return a
}

// BareFunctionName drops what Breakpad's symbol files add to a C++
// function's name and gdb's backtraces leave out: the parameter list
// (with any const or reference qualifier after it) and a template
// function's return type. "int ns::f<int>(int) const" becomes "ns::f<int>".
func BareFunctionName(name string) string {
	name = strings.TrimSpace(name)
	for _, q := range []string{" const", " volatile", " &&", " &"} {
		name = strings.TrimSuffix(name, q)
	}
	if strings.HasSuffix(name, ")") {
		depth := 0
	params:
		for i := len(name) - 1; i >= 0; i-- {
			switch name[i] {
			case ')':
				depth++
			case '(':
				if depth--; depth == 0 {
					name = name[:i] // "F::operator()(int)" keeps "F::operator()"
					break params
				}
			}
		}
	}
	depth := 0
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case '>', ')':
			depth++
		case '<', '(':
			depth--
		case ' ':
			if depth == 0 && !strings.HasSuffix(name[:i], "operator") {
				return name[i+1:]
			}
		}
	}
	return name
}
