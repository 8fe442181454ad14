package breakpad

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ianlancetaylor/demangle"
)

// The symbol lookup is checked against llvm-symbolizer on generated C and
// C++ programs (see corpusSpecs) built by gcc and clang at -O0 and -O2 for
// x86_64, arm64 and x86: dump_syms turns each
// binary into a .sym file, and for every line record start plus random
// addresses inside every FUNC, Lookup's frames (function, file, line, the
// whole inline chain) are compared with llvm-symbolizer --inlines on the
// binary itself; at the first bytes of PUBLIC symbols only the names are
// compared, a .sym file having no location for them.
//
// dump_syms loses information llvm-symbolizer has, so a difference is
// accepted only when it is one of these known losses, each checked
// precisely:
//
//   - dropped inlines: dump_syms ignores inlined calls nested in lexical
//     blocks ({ ... } scopes, loop bodies with declarations), and
//     everything inside them. Then the .sym chain is llvm's chain with
//     innermost frames removed: the outer frames match, and the innermost
//     .sym frame names the function llvm names at that level, at llvm's
//     innermost file and line.
//
//   - respelled names: dump_syms names a function from DWARF (qualified,
//     with parameters when DWARF has a linkage name) while llvm-symbolizer
//     takes the ELF symbol for the outermost frame and DW_AT_name for
//     inlined ones when GCC wrote no linkage name ("inl0" against
//     "inl0(int)", "gen::twice<long int>" against "twice<long int>"). Such
//     names must agree on the unqualified name without template arguments,
//     parameters and return type.
//
// Everything else counts as a disagreement and fails the test.

type llvmFrame struct {
	FunctionName string
	FileName     string
	Line         int
}

type llvmResult struct {
	Address string
	Symbol  []llvmFrame
}

// symbolize runs llvm-symbolizer once for all addresses.
func symbolize(t testing.TB, bin string, addrs []uint64) [][]llvmFrame {
	t.Helper()
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "%#x\n", a)
	}
	out := run(t, filepath.Dir(bin), in.Bytes(), requireTool(t, "llvm-symbolizer"),
		"--obj", bin, "--inlines", "--output-style=JSON")
	var res [][]llvmFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r llvmResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("llvm-symbolizer output %q: %v", sc.Text(), err)
		}
		res = append(res, r.Symbol)
	}
	if len(res) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d of %d addresses", len(res), len(addrs))
	}
	return res
}

// cloneSuffix matches what llvm-symbolizer appends to names of GCC's
// function clones (" (.cold)", " (.constprop.0)") and what demanglers
// write for them (" [clone .isra.0]"); dump_syms names the DWARF function.
var cloneSuffix = regexp.MustCompile(`( \(\.[A-Za-z_0-9.]+\)| \[clone \.[A-Za-z_0-9.]+\])+$`)

// normName drops clone suffixes and demangles names llvm-symbolizer left
// mangled (LLVM 14 fails on some GCC manglings that dump_syms demangles).
func normName(s string) string {
	s = cloneSuffix.ReplaceAllString(s, "")
	if strings.HasPrefix(s, "_Z") {
		if d, err := demangle.ToString(s, demangle.NoClones); err == nil {
			return d
		}
	}
	return s
}

// baseName reduces a function name to its last unqualified component
// without template arguments, parameters and return type:
// "long gen::scaled<long, 4>(long)" -> "scaled". It is how functions are
// matched when dump_syms and llvm-symbolizer spell a name differently.
func baseName(s string) string {
	trimmed := true
	for trimmed {
		trimmed = false
		for _, q := range []string{" const", " volatile", " &&", " &", " noexcept"} {
			if strings.HasSuffix(s, q) {
				s, trimmed = strings.TrimSuffix(s, q), true
			}
		}
	}
	cutGroup := func(open, close byte) {
		if !strings.HasSuffix(s, string(close)) || strings.HasSuffix(s, "operator()") {
			return
		}
		depth := 0
		for i := len(s) - 1; i >= 0; i-- {
			switch s[i] {
			case close:
				depth++
			case open:
				depth--
				if depth == 0 {
					s = s[:i]
					return
				}
			}
		}
	}
	cutGroup('(', ')')
	cutGroup('<', '>')
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')', '>', '}':
			depth++
		case '(', '<', '{':
			depth--
		case ' ', ':':
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}

type frameKey struct {
	fn, file string
	line     int
}

func (k frameKey) String() string { return fmt.Sprintf("%s %s:%d", k.fn, k.file, k.line) }

func keysOf(frames []Frame) []frameKey {
	var ks []frameKey
	for _, f := range frames {
		ks = append(ks, frameKey{normName(f.Function), f.File, f.Line})
	}
	return ks
}

func llvmKeys(frames []llvmFrame) []frameKey {
	var ks []frameKey
	for _, f := range frames {
		ks = append(ks, frameKey{normName(f.FunctionName), f.FileName, f.Line})
	}
	return ks
}

// match compares two frames: same file and line, and the same function,
// spelled alike or differently (respelled).
func match(a, b frameKey) (ok, respelled bool) {
	if a.file != b.file || a.line != b.line {
		return false, false
	}
	if a.fn == b.fn {
		return true, false
	}
	return baseName(a.fn) == baseName(b.fn), true
}

// compareChains compares frame chains pairwise.
func compareChains(got, want []frameKey) (ok, respelled bool) {
	if len(got) != len(want) {
		return false, false
	}
	for i := range got {
		m, r := match(got[i], want[i])
		if !m {
			return false, false
		}
		respelled = respelled || r
	}
	return true, respelled
}

// droppedInlines reports whether got is want with its innermost k>0
// frames dropped, the innermost remaining frame carrying want's innermost
// location.
func droppedInlines(got, want []frameKey) (ok, respelled bool) {
	k := len(want) - len(got)
	if k <= 0 || len(got) == 0 {
		return false, false
	}
	ok, respelled = compareChains(got[1:], want[k+1:])
	if !ok {
		return false, false
	}
	inner := frameKey{want[k].fn, want[0].file, want[0].line}
	m, r := match(got[0], inner)
	return m, respelled || r
}

type agreement struct {
	mu                                      sync.Mutex
	addrs, exact, respelled, droppd, public int
	bad                                     []string
}

func (a *agreement) add(o *agreement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addrs += o.addrs
	a.exact += o.exact
	a.respelled += o.respelled
	a.droppd += o.droppd
	a.public += o.public
	a.bad = append(a.bad, o.bad...)
}

func (a *agreement) String() string {
	return fmt.Sprintf("%d addresses: %d identical (%.2f%%), %d with names spelled differently (%.2f%%), %d with inlines dump_syms dropped (%.2f%%), %d in PUBLIC symbols with the same name, %d disagreeing",
		a.addrs, a.exact, pct(a.exact, a.addrs), a.respelled, pct(a.respelled, a.addrs), a.droppd, pct(a.droppd, a.addrs), a.public, len(a.bad))
}

func TestLookupAgreesWithLLVMSymbolizer(t *testing.T) {
	requireTool(t, "llvm-symbolizer")
	var total agreement
	t.Cleanup(func() { t.Logf("total: %v", &total) })
	for _, spec := range corpusSpecs(testing.Short()) {
		spec := spec
		t.Run(spec.String(), func(t *testing.T) {
			t.Parallel()
			bin := build(t, spec)
			var a agreement
			checkLookup(t, bin, spec.seed, &a)
			total.add(&a)
			t.Logf("%v", &a)
			for i, b := range a.bad {
				if i == 10 {
					t.Errorf("... and %d more", len(a.bad)-10)
					break
				}
				t.Error(b)
			}
		})
	}
}

// hasInlineAt reports whether the FUNC covering addr has an INLINE record
// at the given depth whose range covers addr.
func (f *File) hasInlineAt(addr uint64, depth int) bool {
	fn := f.funcAt(addr)
	if fn == nil {
		return false
	}
	for _, in := range f.inlines[fn.inline0:fn.inline1] {
		if int(in.depth) == depth && addr >= in.addr && addr-in.addr < in.size {
			return true
		}
	}
	return false
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

// checkLookup compares Lookup with llvm-symbolizer at every line record
// start and at random addresses inside each FUNC of bin's .sym file.
func checkLookup(t *testing.T, bin string, seed int64, a *agreement) {
	f, _ := symFile(t, bin)
	r := rand.New(rand.NewSource(seed))
	seen := map[uint64]bool{}
	var addrs []uint64
	add := func(x uint64) {
		if !seen[x] {
			seen[x] = true
			addrs = append(addrs, x)
		}
	}
	for _, fn := range f.funcs {
		for _, l := range f.lines[fn.line0:fn.line1] {
			add(l.addr)
		}
		for i := 0; i < 8; i++ {
			add(fn.addr + uint64(r.Int63n(int64(fn.size))))
		}
	}
	// PUBLIC symbols: their first byte and a few more before the next
	// symbol.
	for i, p := range f.publics {
		add(p.addr)
		for k := uint64(1); k < 4; k++ {
			if i+1 < len(f.publics) && p.addr+k >= f.publics[i+1].addr {
				break
			}
			add(p.addr + k)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	ref := symbolize(t, bin, addrs)
	for i, addr := range addrs {
		frames, ok := f.Lookup(addr)
		if !ok {
			a.bad = append(a.bad, fmt.Sprintf("%#x: no frames", addr))
			continue
		}
		got, want := keysOf(frames), llvmKeys(ref[i])
		a.addrs++
		if f.funcAt(addr) == nil {
			// A PUBLIC symbol: a .sym file has no location for it, while
			// llvm-symbolizer names the object file the symbol table
			// attributes it to; compare the names.
			if len(want) > 0 && len(got) == 1 && got[0].fn == want[len(want)-1].fn {
				a.public++
			} else {
				a.bad = append(a.bad, fmt.Sprintf("%#x (PUBLIC):\n  got  %v\n  want %v", addr, got, want))
			}
			continue
		}
		if ok, respelled := compareChains(got, want); ok {
			if respelled {
				a.respelled++
			} else {
				a.exact++
			}
			continue
		}
		// A dropped inline is only accepted when the .sym file indeed has
		// no INLINE range covering addr one level below the frames Lookup
		// returned.
		if ok, _ := droppedInlines(got, want); ok && !f.hasInlineAt(addr, len(got)-1) {
			a.droppd++
			continue
		}
		a.bad = append(a.bad, fmt.Sprintf("%#x:\n  got  %v\n  want %v", addr, got, want))
	}
}
