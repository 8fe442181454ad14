package breakpad

import (
	"strings"
	"testing"
)

const header = "MODULE Linux x86_64 000102030405060708090A0B0C0D0E0F0 test\n"

// TestBrokenRecords checks which broken or unknown records fail the file
// and which are skipped, as symbolic decides (see the package
// documentation): symbolic's function iterator fails on malformed FUNC,
// INLINE_ORIGIN, INLINE and line records and on anything else inside a
// function, its PUBLIC/FILE/INFO readers skip what they cannot parse, and
// its CFI writer fails (dropping all unwind information) on a malformed
// STACK CFI INIT or STACK WIN record but skips malformed deltas.
func TestBrokenRecords(t *testing.T) {
	tests := []struct {
		name    string
		sym     string
		wantErr string // substring of the error; "" when Parse succeeds
		check   func(t *testing.T, f *File)
	}{
		{name: "empty file", sym: "", wantErr: "line 1: no MODULE record"},
		{name: "no MODULE", sym: "FILE 0 a.c\n", wantErr: `no MODULE record (the file starts with "FILE 0 a.c")`},
		{name: "MODULE later", sym: "\n" + header, wantErr: "no MODULE record"},
		{name: "MODULE bad id", sym: "MODULE Linux x86_64 XYZ test\n", wantErr: `debug id "XYZ"`},
		{name: "MODULE short id", sym: "MODULE Linux x86_64 0011 test\n", wantErr: "32 to 40 hexadecimal digits"},
		{name: "MODULE no id", sym: "MODULE Linux x86_64\n", wantErr: "MODULE record: no debug id"},
		{name: "MODULE alone", sym: "MODULE \n", wantErr: "MODULE record: no OS"},
		{name: "MODULE without name", sym: "MODULE Linux x86_64 000102030405060708090A0B0C0D0E0F0\n", check: func(t *testing.T, f *File) {
			if f.Module.Name != "" || f.Module.ID != "000102030405060708090A0B0C0D0E0F0" {
				t.Errorf("Module %+v", f.Module)
			}
		}},

		{name: "FUNC bad address", sym: header + "FUNC zz 10 0 f\n", wantErr: `line 2: FUNC record: address "zz" is not hexadecimal`},
		{name: "FUNC truncated", sym: header + "FUNC 1000\n", wantErr: "line 2: FUNC record: nothing after the address"},
		{name: "FUNC address overflow", sym: header + "FUNC 10000000000000000 10 0 f\n", wantErr: "at most 64 bits"},
		{name: "FUNC m without address", sym: header + "FUNC m\n", wantErr: "FUNC record: no address"},
		{name: "FUNC leading zeros", sym: header + "FUNC 00000000000000001000 10 0 f\n", check: hasFunc(0x1000, "f")},
		{name: "FUNC without name", sym: header + "FUNC m 1000 10 0\n", check: hasFunc(0x1000, "<unknown>")},
		{name: "FUNC name with blanks", sym: header + "FUNC 1000 10 0 ns::f(int, char const*)  \n", check: hasFunc(0x1000, "ns::f(int, char const*)")},
		{name: "FUNC size 0", sym: header + "FUNC 1000 0 0 f\n", check: noFunc(0x1000)},
		{name: "line bad size", sym: header + "FUNC 1000 10 0 f\n1000 zz 3 0\n", wantErr: `line 3: line record: size "zz"`},
		{name: "line bad line", sym: header + "FUNC 1000 10 0 f\n1000 10 x 0\n", wantErr: `line number "x"`},
		{name: "line extra field", sym: header + "FUNC 1000 10 0 f\n1000 10 3 0 9\n", wantErr: `unexpected "9"`},
		{name: "line missing file", sym: header + "FUNC 1000 10 0 f\n1000 10 3\n", wantErr: "no file number"},
		{name: "unknown record in function", sym: header + "FUNC 1000 10 0 f\nFOO bar\n", wantErr: "line 3: line record"},
		{name: "FILE in function", sym: header + "FUNC 1000 10 0 f\nFILE 1 a.c\n", wantErr: "line 3: line record"},
		{name: "blank line in function", sym: header + "FUNC 1000 10 0 f\n  \n", wantErr: "line 3: line record"},
		{name: "empty line in function", sym: header + "FUNC 1000 10 0 f\n\n1000 10 3 0\n", check: hasFunc(0x1000, "f")},
		{name: "leading blanks in line record", sym: header + "FUNC 1000 10 0 f\n   1000 10 3 0\n", check: hasFunc(0x1000, "f")},
		{name: "line size 0 dropped", sym: header + "FILE 0 a.c\nFUNC 1000 10 0 f\n1000 0 3 0\n1000 10 4 0\n", check: lineAt(0x1000, 4)},
		{name: "negative line", sym: header + "FUNC 1000 10 0 f\n1000 10 -3 0\n", check: lineAt(0x1000, 0)},
		{name: "INLINE too short", sym: header + "FUNC 1000 10 0 f\nINLINE 0 1 0\n", wantErr: "line 3: INLINE record"},
		{name: "INLINE no range", sym: header + "FUNC 1000 10 0 f\nINLINE 0 1 0 0\n", wantErr: "INLINE record: nothing after the origin"},
		{name: "INLINE odd range", sym: header + "FUNC 1000 10 0 f\nINLINE 0 1 0 0 1000 10 1004\n", wantErr: "INLINE record: nothing after the range address"},
		{name: "INLINE bad depth", sym: header + "FUNC 1000 10 0 f\nINLINE x 1 0 0 1000 10\n", wantErr: `depth "x"`},
		{name: "INLINE_ORIGIN bad id", sym: header + "INLINE_ORIGIN x f\n", wantErr: "line 2: INLINE_ORIGIN record"},
		{name: "INLINE_ORIGIN no name", sym: header + "INLINE_ORIGIN 5\n", wantErr: "INLINE_ORIGIN record: no name"},
		{name: "INLINE_ORIGIN in function", sym: header + "FUNC 1000 10 0 f\nINLINE_ORIGIN 5 g\nINLINE 0 1 0 5 1000 4\n1000 10 3 0\n", check: hasFunc(0x1000, "g")},
		// symbolic makes inlined ranges from the line records inside them:
		// an inlinee without any is invisible.
		{name: "INLINE without lines", sym: header + "FUNC 1000 10 0 f\nINLINE_ORIGIN 5 g\nINLINE 0 1 0 5 1000 4\n", check: hasFunc(0x1000, "f")},

		{name: "PUBLIC broken skipped", sym: header + "PUBLIC zz 0 bad\nPUBLIC 2000 0 good\nPUBLIC 3000\n", check: func(t *testing.T, f *File) {
			hasFunc(0x2000, "good")(t, f)
			if len(f.publics) != 1 {
				t.Errorf("%d PUBLIC records kept, want 1", len(f.publics))
			}
		}},
		{name: "PUBLIC ends a function", sym: header + "FUNC 1000 10 0 f\nPUBLIC 2000 0 p\n1000 zz\n", check: hasFunc(0x2000, "p")},
		{name: "FILE broken skipped", sym: header + "FILE x a.c\nFILE 1 b.c\nFUNC 1000 10 0 f\n1000 10 3 1\n", check: fileAt(0x1000, "b.c")},
		{name: "FILE name with blanks", sym: header + "FILE 1 /src/a b.c\nFUNC 1000 10 0 f\n1000 10 3 1\n", check: fileAt(0x1000, "/src/a b.c")},
		{name: "INFO CODE_ID not hex", sym: header + "INFO CODE_ID xyz\nINFO CODE_ID 0a0b c.so\n", check: func(t *testing.T, f *File) {
			if f.CodeID != "0a0b" {
				t.Errorf("CodeID %q, want the first hexadecimal one", f.CodeID)
			}
		}},
		{name: "unknown records outside functions", sym: header + "FOO\nINFO URL x\n1000 10 3 0\nINLINE 0 1 0 0 1000 10\nMODULE again\nFUNC 1000 10 0 f\n", check: hasFunc(0x1000, "f")},
		{name: "symbols end at STACK", sym: header + "STACK CFI INIT 1000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nFUNC 1000 10 0 f\nFUNC broken\nPUBLIC 1000 0 p\n", check: noFunc(0x1000)},
		{name: "STACK without CFI or WIN", sym: header + "STACK FOO\nFUNC 1000 10 0 f\n", check: noFunc(0x1000)},

		{name: "STACK CFI INIT broken", sym: header + "FUNC 1000 10 0 f\nSTACK CFI INIT 1000 zz .cfa: $rsp 8 +\nSTACK CFI INIT 2000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\n", check: func(t *testing.T, f *File) {
			if f.StackErr == nil || !strings.Contains(f.StackErr.Error(), `line 3: STACK CFI INIT record: size "zz"`) {
				t.Errorf("StackErr %v", f.StackErr)
			}
			if _, ok := f.CFI(0x2000); ok {
				t.Error("CFI found despite StackErr")
			}
			hasFunc(0x1000, "f")(t, f)
		}},
		{name: "STACK CFI INIT without rules", sym: header + "STACK CFI INIT 1000 10\n", check: stackErr("nothing after the size")},
		{name: "STACK WIN broken", sym: header + "STACK WIN 4 1000 10 0 0 0 0 0 0 1\n", check: stackErr("nothing after has_program_string")},
		{name: "STACK WIN prolog overflow", sym: header + "STACK WIN 4 1000 10 10000 0 0 0 0 0 1 $eip 0 =\n", check: stackErr("prolog size")},
		{name: "STACK WIN long type", sym: header + "STACK WIN 40 1000 10 0 0 0 0 0 0 1 $eip 0 =\n", check: stackErr(`type "40"`)},
		{name: "STACK WIN unknown type ignored", sym: header + "STACK WIN x 1000 10 0 0 0 0 0 0 0 0\n", check: noWin(0x1000)},
		{name: "STACK WIN trailing garbage", sym: header + "STACK WIN 0 1000 10 0 0 0 0 0 0 0 1 x\n", check: stackErr(`unexpected "x"`)},
		{name: "STACK CFI delta broken skipped", sym: header + "STACK CFI INIT 1000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI zz .cfa: $rsp 16 +\nSTACK CFI 1004 .cfa: $rsp 24 +\n", check: cfaAt(0x1008, "$rsp 24 +")},
		{name: "STACK CFI delta after other line ignored", sym: header + "STACK CFI INIT 1000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\n\nSTACK CFI 1004 .cfa: $rsp 24 +\n", check: cfaAt(0x1008, "$rsp 8 +")},
		{name: "STACK CFI delta outside INIT range ignored", sym: header + "STACK CFI INIT 1000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI f00 .cfa: $rsp 24 +\nSTACK CFI 1010 .cfa: $rsp 32 +\n", check: cfaAt(0x100f, "$rsp 8 +")},
		{name: "STACK CFI deltas apply in address order", sym: header + "STACK CFI INIT 1000 10 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI 1008 .cfa: $rsp 24 +\nSTACK CFI 1004 .cfa: $rsp 16 + $rbx: .cfa -16 + ^\n", check: func(t *testing.T, f *File) {
			cfaAt(0x1006, "$rsp 16 +")(t, f)
			cfaAt(0x1008, "$rsp 24 +")(t, f)
			if r, _ := f.CFI(0x1008); r.Regs["rbx"] != ".cfa -16 + ^" {
				t.Errorf("rbx rule %q", r.Regs["rbx"])
			}
		}},
		{name: "overlapping STACK CFI INIT", sym: header + "STACK CFI INIT 1000 20 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI INIT 1010 20 .cfa: $rsp 16 + .ra: .cfa -8 + ^\n", check: func(t *testing.T, f *File) {
			cfaAt(0x101f, "$rsp 8 +")(t, f)
			if _, ok := f.CFI(0x1025); ok {
				t.Error("overlapping INIT record kept")
			}
		}},
		// Of overlapping FUNC records the one starting first (then the
		// shortest) counts and the others are dropped, as in rust-minidump.
		{name: "overlapping FUNC", sym: header + "FUNC 1000 20 0 long\nFUNC 1000 10 0 short\nFUNC 1008 20 0 later\nFUNC 1030 10 0 next\n", check: func(t *testing.T, f *File) {
			hasFunc(0x100f, "short")(t, f)
			noFunc(0x1010)(t, f)
			noFunc(0x1025)(t, f)
			hasFunc(0x1030, "next")(t, f)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, crlf := range []bool{false, true} {
				sym := tt.sym
				if crlf {
					sym = strings.ReplaceAll(sym, "\n", "\r\n")
				}
				f, err := Parse([]byte(sym))
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Parse error %v, want one containing %q", err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.check != nil {
					tt.check(t, f)
				}
			}
		})
	}
}

func hasFunc(addr uint64, name string) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		frames, ok := f.Lookup(addr)
		if !ok || frames[0].Function != name {
			t.Errorf("Lookup(%#x) = %+v, want %q innermost", addr, frames, name)
		}
	}
}

func noFunc(addr uint64) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		if frames, ok := f.Lookup(addr); ok {
			t.Errorf("Lookup(%#x) = %+v, want nothing", addr, frames)
		}
	}
}

func lineAt(addr uint64, line int) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		frames, ok := f.Lookup(addr)
		if !ok || frames[0].Line != line {
			t.Errorf("Lookup(%#x) = %+v, want line %d", addr, frames, line)
		}
	}
}

func fileAt(addr uint64, file string) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		frames, ok := f.Lookup(addr)
		if !ok || frames[0].File != file {
			t.Errorf("Lookup(%#x) = %+v, want file %q", addr, frames, file)
		}
	}
}

func stackErr(want string) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		if f.StackErr == nil || !strings.Contains(f.StackErr.Error(), want) {
			t.Errorf("StackErr %v, want one containing %q", f.StackErr, want)
		}
	}
}

func noWin(addr uint64) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		if f.StackErr != nil {
			t.Errorf("StackErr %v", f.StackErr)
		}
		if w, ok := f.Win(addr); ok {
			t.Errorf("Win(%#x) = %+v, want nothing", addr, w)
		}
	}
}

func cfaAt(addr uint64, want string) func(*testing.T, *File) {
	return func(t *testing.T, f *File) {
		t.Helper()
		r, ok := f.CFI(addr)
		if !ok || r.CFA != want {
			t.Errorf("CFI(%#x) = %+v, want .cfa %q", addr, r, want)
		}
	}
}
