package breakpad

// HasSymbols reports whether the file names any function (FUNC or PUBLIC
// records), HasLines whether any function has line records, and HasStack
// whether it holds usable unwind information (STACK CFI or STACK WIN):
// what symbolic reports as a .sym file's has_symbols, has_debug_info and
// has_unwind_info.
func (f *File) HasSymbols() bool { return len(f.funcs) > 0 || len(f.publics) > 0 }

// HasLines: see HasSymbols.
func (f *File) HasLines() bool { return len(f.lines) > 0 }

// HasStack: see HasSymbols.
func (f *File) HasStack() bool {
	return f.StackErr == nil && (len(f.cfi) > 0 || len(f.winFD) > 0 || len(f.winFPO) > 0)
}
