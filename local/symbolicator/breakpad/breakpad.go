// Package breakpad reads Breakpad text symbol files (.sym), as dump_syms
// writes them, and answers the three questions a minidump walker asks of
// them: which functions (with inlined ones) are at an address, how to
// recover the caller's registers there (STACK CFI, STACK WIN), and whether
// any symbol covers an address at all.
//
// The package only reads. Parse checks every record it keeps, bounds every
// allocation by the size of its input and never panics; the lookups are
// binary searches plus work proportional to one function's records.
//
// # Records
//
//	MODULE os arch id [name]                  first line, required
//	INFO CODE_ID id [file]                    first one gives File.CodeID; other INFO records are ignored
//	FILE n name
//	INLINE_ORIGIN n name
//	FUNC [m] address size param_size [name]   followed by its line and INLINE records:
//	address size line filenum                 line record (a negative line reads as 0)
//	INLINE depth call_line call_file origin address size [address size]...
//	PUBLIC [m] address param_size [name]
//	STACK CFI INIT address size rules
//	STACK CFI address rules
//	STACK WIN type rva code_size prolog epilog params saved_regs locals max_stack has_program program_or_allocates_bp
//
// Numbers are hexadecimal except line numbers, FILE/INLINE_ORIGIN ids and the
// INLINE depth, line and file fields, which are decimal. Fields are separated
// by runs of blanks; lines end in \n or \r\n. A missing FUNC or PUBLIC name
// reads as "<unknown>".
//
// # Broken and unknown records
//
// Parse tolerates what symbolic (getsentry/symbolic, whose symcache
// Symbolicator builds from .sym files) tolerates, and rejects the file where
// symbolic rejects it, so that a file is usable here exactly when it is
// usable there:
//
//   - The file fails when its first line is not a valid MODULE record, and
//     when a FUNC, INLINE_ORIGIN, INLINE or line record is malformed. Inside
//     a function (from a FUNC record to the next FUNC, PUBLIC or STACK
//     record) every non-empty line must be an INLINE_ORIGIN, INLINE or line
//     record, so an unknown record there fails the file as well.
//   - Malformed PUBLIC, FILE and INFO records are skipped, and so are unknown
//     records outside functions.
//   - Symbol records end at the first STACK record: after it only STACK
//     records count, as in symbolic, which stops reading FUNC, PUBLIC,
//     INLINE_ORIGIN and line records there.
//   - A malformed STACK CFI INIT or STACK WIN record makes symbolic drop all
//     unwind information of the module while symbols stay usable. Parse
//     then returns the File with StackErr set, and CFI and Win find nothing.
//     A malformed STACK CFI delta record is skipped.
//   - STACK WIN records of types other than 0 and 4, and those whose type
//     and has_program_string disagree, are ignored, as rust-minidump (which
//     walks Symbolicator's stacks) ignores them.
//
// Where symbolic depends on record order in ways dump_syms never exercises,
// this package is more lenient: FILE and INFO records count wherever they
// appear before the STACK records (symbolic reads them only in the block
// right after MODULE), and INLINE_ORIGIN names are resolved after the whole
// file is read. The MODULE architecture is not checked against a list, and
// addresses are not limited to 32 bits as in symcache.
//
// Overlapping FUNC, STACK CFI INIT and STACK WIN ranges are resolved as
// rust-minidump resolves them (see CFI and Win); the first range in address
// order wins.
package breakpad

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Module is the MODULE record.
type Module struct {
	OS   string // "Linux", "windows", "mac", ...
	Arch string // "x86_64", "x86", "arm64", "arm", ...
	// ID is the Breakpad debug identifier as written: 32 hex digits of the
	// GUID or build id, then the age (usually 33 characters).
	ID   string
	Name string // debug file name; "" when the record has none
}

// Frame is one function activation at an address: the function the address
// is in, or one of the functions inlined there.
type Frame struct {
	// Function is the name as written in the FUNC, INLINE_ORIGIN or PUBLIC
	// record; dump_syms writes names already demangled, with parameters.
	Function string
	// Symbol is the raw name of the record. A .sym file carries no mangled
	// names, so it equals Function; it is kept so that callers treat .sym
	// files and object files alike.
	Symbol string
	// File is the path of the FILE record the line came from, as written;
	// "" when unknown.
	File string
	// Line is the source line; 0 when unknown.
	Line int
	// SymAddr is where the function starts: the FUNC or PUBLIC address, or
	// for an inlined frame the start of the inlined range holding the
	// address.
	SymAddr uint64
	// Inline reports an inlined frame.
	Inline bool
}

// File is a parsed .sym file. It is immutable and safe for concurrent use.
type File struct {
	Module Module
	// CodeID is the first non-empty INFO CODE_ID (a build id, or a PE
	// timestamp and size); "" when there is none.
	CodeID string
	// StackErr is set when a STACK CFI INIT or STACK WIN record is
	// malformed. symbolic then keeps no unwind information for the module,
	// and neither does File: CFI and Win find nothing.
	StackErr error

	ptrSize int    // bytes read by the ^ operator
	raReg   string // canonical register held in the return address column

	files   map[uint64]string
	origins map[uint64]string
	funcs   []funcRec // by address, non-overlapping
	publics []publicRec
	lines   []lineRec   // line records of all functions, grouped by function
	inlines []inlineRec // INLINE ranges of all functions, grouped by function

	cfi    []cfiRec // by address, non-overlapping
	deltas []cfiDelta
	winFD  []WinRecord // type 4, by address, non-overlapping
	winFPO []WinRecord // type 0

	last atomic.Pointer[builtFunc] // the function Lookup built last
}

type funcRec struct {
	addr, size       uint64
	name             string
	line0, line1     int // f.lines[line0:line1]
	inline0, inline1 int // f.inlines[inline0:inline1]
}

type publicRec struct {
	addr uint64
	name string
}

type lineRec struct {
	addr, size uint64
	file       uint64
	line       uint32
}

// inlineRec is one address range of an INLINE record.
type inlineRec struct {
	addr, size uint64
	callFile   uint64
	origin     uint64
	callLine   uint32
	depth      uint32
}

type cfiRec struct {
	addr, size     uint64
	rules          string
	delta0, delta1 int // f.deltas[delta0:delta1], by address
}

type cfiDelta struct {
	addr  uint64
	rules string
}

// unknownName is what symbolic calls a FUNC or PUBLIC record without name.
const unknownName = "<unknown>"

// Parse reads a .sym file. The result refers to a copy of data. Errors
// name the line and the record that is wrong, e.g.
// `breakpad: line 7: FUNC record: size "1x" is not hexadecimal`.
func Parse(data []byte) (*File, error) {
	p := parser{text: string(data)}
	return p.parse()
}

type parser struct {
	text string
	f    File

	lineNo     int
	inFunc     bool // inside the body of the last FUNC record
	afterStack bool // a STACK record was seen: symbol records are over

	// The STACK CFI INIT record that delta records on the following lines
	// belong to; -1 when the previous line was no STACK CFI record.
	curCFI int

	pendingDeltas []pendingDelta
	rawWin        []WinRecord // in file order, both types
}

type pendingDelta struct {
	init int
	cfiDelta
}

func (p *parser) errorf(record, format string, args ...any) error {
	return fmt.Errorf("breakpad: line %d: %s record: %s", p.lineNo, record, fmt.Sprintf(format, args...))
}

func (p *parser) parse() (*File, error) {
	p.curCFI = -1
	p.f.files = map[uint64]string{}
	p.f.origins = map[uint64]string{}
	rest := p.text
	for first := true; first || rest != ""; first = false {
		var raw string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			raw, rest = rest[:i], rest[i+1:]
		} else {
			raw, rest = rest, ""
		}
		raw = strings.TrimSuffix(raw, "\r")
		p.lineNo++
		if p.lineNo == 1 {
			if err := p.module(raw); err != nil {
				return nil, err
			}
			continue
		}
		if err := p.line(raw); err != nil {
			return nil, err
		}
	}
	p.finish()
	return &p.f, nil
}

func (p *parser) module(raw string) error {
	s := trim(raw)
	c := cursor{s}
	if c.word() != "MODULE" {
		shown := s
		if len(shown) > 40 {
			shown = shown[:40] + "..."
		}
		return fmt.Errorf("breakpad: line 1: no MODULE record (the file starts with %q)", shown)
	}
	if !utf8.ValidString(s) {
		return p.errorf("MODULE", "not UTF-8")
	}
	m := &p.f.Module
	for _, field := range []struct {
		what string
		dst  *string
	}{{"OS", &m.OS}, {"architecture", &m.Arch}, {"debug id", &m.ID}} {
		if !c.space() || c.s == "" {
			return p.errorf("MODULE", "no %s", field.what)
		}
		*field.dst = c.word()
	}
	if len(m.ID) < 32 || len(m.ID) > 40 || !isHex(m.ID) {
		return p.errorf("MODULE", "debug id %q is not 32 to 40 hexadecimal digits", m.ID)
	}
	c.space()
	m.Name = c.s
	p.f.ptrSize, p.f.raReg = archInfo(m.Arch)
	return nil
}

func (p *parser) line(raw string) error {
	if strings.HasPrefix(raw, "STACK ") {
		p.afterStack = true
		p.inFunc = false
	}
	if p.afterStack {
		p.stack(raw)
		return nil
	}
	switch {
	case strings.HasPrefix(raw, "FUNC "):
		p.inFunc = true
		return p.funcRecord(raw)
	case strings.HasPrefix(raw, "INLINE_ORIGIN "):
		return p.inlineOrigin(raw)
	case strings.HasPrefix(raw, "PUBLIC "):
		p.inFunc = false
		p.public(raw)
		return nil
	}
	if p.inFunc {
		switch {
		case strings.HasPrefix(raw, "INLINE "):
			return p.inline(raw)
		case raw == "":
			return nil
		}
		return p.lineRecord(raw)
	}
	switch {
	case strings.HasPrefix(raw, "FILE "):
		p.file(raw)
	case strings.HasPrefix(raw, "INFO "):
		p.info(raw)
	}
	return nil
}

func (p *parser) funcRecord(raw string) error {
	s := trim(raw)
	if !utf8.ValidString(s) {
		return p.errorf("FUNC", "not UTF-8")
	}
	c := cursor{s[len("FUNC"):]}
	c.space()
	if c.peekWord() == "m" {
		c.word()
		if !c.space() {
			return p.errorf("FUNC", "no address")
		}
	}
	addr, err := c.hexField("address", 64, true)
	if err != nil {
		return p.errorf("FUNC", "%v", err)
	}
	size, err := c.hexField("size", 64, true)
	if err != nil {
		return p.errorf("FUNC", "%v", err)
	}
	if _, err := c.hexField("parameter size", 64, false); err != nil {
		return p.errorf("FUNC", "%v", err)
	}
	name := c.s
	if name == "" {
		name = unknownName
	}
	n := len(p.f.lines)
	m := len(p.f.inlines)
	p.f.funcs = append(p.f.funcs, funcRec{addr: addr, size: size, name: name, line0: n, line1: n, inline0: m, inline1: m})
	return nil
}

func (p *parser) lineRecord(raw string) error {
	s := trim(raw)
	c := cursor{s}
	addr, err := c.hexField("address", 64, true)
	if err != nil {
		return p.errorf("line", "%v", err)
	}
	size, err := c.hexField("size", 64, true)
	if err != nil {
		return p.errorf("line", "%v", err)
	}
	w := c.word()
	neg := strings.HasPrefix(w, "-")
	line, ok := parseDec(strings.TrimPrefix(w, "-"))
	if !ok {
		return p.errorf("line", "line number %q is not decimal", w)
	}
	if neg {
		line = 0
	}
	if !c.space() {
		return p.errorf("line", "no file number")
	}
	w = c.word()
	file, ok := parseDec(w)
	if !ok {
		return p.errorf("line", "file number %q is not decimal", w)
	}
	if c.s != "" {
		return p.errorf("line", "unexpected %q after the file number", trim(c.s))
	}
	if size == 0 { // carries nothing; symbolic and rust-minidump drop these
		return nil
	}
	fn := &p.f.funcs[len(p.f.funcs)-1]
	p.f.lines = append(p.f.lines, lineRec{addr: addr, size: size, file: file, line: uint32(line)})
	fn.line1 = len(p.f.lines)
	return nil
}

func (p *parser) inline(raw string) error {
	s := trim(raw)
	c := cursor{s[len("INLINE"):]}
	c.space()
	var v [4]uint64
	for i, what := range [4]string{"depth", "call line", "call file", "origin"} {
		w := c.word()
		n, ok := parseDec(w)
		if !ok {
			return p.errorf("INLINE", "%s %q is not decimal", what, w)
		}
		if !c.space() {
			return p.errorf("INLINE", "nothing after the %s", what)
		}
		v[i] = n
	}
	fn := &p.f.funcs[len(p.f.funcs)-1]
	start := len(p.f.inlines)
	for c.s != "" {
		addr, err := c.hexField("range address", 64, true)
		if err != nil {
			p.f.inlines = p.f.inlines[:start]
			return p.errorf("INLINE", "%v", err)
		}
		size, err := c.hexField("range size", 64, false)
		if err != nil {
			p.f.inlines = p.f.inlines[:start]
			return p.errorf("INLINE", "%v", err)
		}
		p.f.inlines = append(p.f.inlines, inlineRec{
			addr: addr, size: size,
			depth:    uint32(v[0]), // symbolic keeps the low 32 bits
			callLine: uint32(v[1]),
			callFile: v[2],
			origin:   v[3],
		})
	}
	if len(p.f.inlines) == start {
		return p.errorf("INLINE", "no address range")
	}
	fn.inline1 = len(p.f.inlines)
	return nil
}

func (p *parser) inlineOrigin(raw string) error {
	s := trim(raw)
	if !utf8.ValidString(s) {
		return p.errorf("INLINE_ORIGIN", "not UTF-8")
	}
	c := cursor{s[len("INLINE_ORIGIN"):]}
	c.space()
	w := c.word()
	id, ok := parseDec(w)
	if !ok {
		return p.errorf("INLINE_ORIGIN", "id %q is not decimal", w)
	}
	if !c.space() {
		return p.errorf("INLINE_ORIGIN", "no name")
	}
	p.f.origins[id] = c.s
	return nil
}

func (p *parser) public(raw string) {
	s := trim(raw)
	if !utf8.ValidString(s) {
		return
	}
	c := cursor{s[len("PUBLIC"):]}
	c.space()
	if c.peekWord() == "m" {
		c.word()
		if !c.space() {
			return
		}
	}
	addr, err := c.hexField("address", 64, true)
	if err != nil {
		return
	}
	if _, err := c.hexField("parameter size", 64, false); err != nil {
		return
	}
	name := c.s
	if name == "" {
		name = unknownName
	}
	p.f.publics = append(p.f.publics, publicRec{addr: addr, name: name})
}

func (p *parser) file(raw string) {
	s := trim(raw)
	if !utf8.ValidString(s) {
		return
	}
	c := cursor{s[len("FILE"):]}
	c.space()
	id, ok := parseDec(c.word())
	if !ok || (c.s != "" && !c.space()) {
		return
	}
	p.f.files[id] = c.s
}

func (p *parser) info(raw string) {
	s := trim(raw)
	c := cursor{s[len("INFO"):]}
	c.space()
	if c.word() != "CODE_ID" || !c.space() {
		return
	}
	id := c.word()
	if p.f.CodeID == "" && isHex(id) && utf8.ValidString(s) {
		p.f.CodeID = id
	}
}

// finish sorts what lookups search and resolves overlaps.
func (p *parser) finish() {
	f := &p.f
	f.funcs = dropOverlaps(f.funcs, func(r *funcRec) (uint64, uint64) { return r.addr, r.size })

	// Of PUBLIC records at one address the first one counts, as in symcache.
	sort.SliceStable(f.publics, func(i, j int) bool { return f.publics[i].addr < f.publics[j].addr })
	out := f.publics[:0]
	for _, r := range f.publics {
		if len(out) > 0 && out[len(out)-1].addr == r.addr {
			continue
		}
		out = append(out, r)
	}
	f.publics = out

	if f.StackErr != nil {
		f.cfi, f.deltas, f.winFD, f.winFPO = nil, nil, nil, nil
		return
	}
	// Delta records apply in address order; among equal addresses the later
	// line wins, so keep file order for ties.
	sort.SliceStable(p.pendingDeltas, func(i, j int) bool {
		a, b := p.pendingDeltas[i], p.pendingDeltas[j]
		if a.init != b.init {
			return a.init < b.init
		}
		return a.addr < b.addr
	})
	f.deltas = make([]cfiDelta, len(p.pendingDeltas))
	for i, d := range p.pendingDeltas {
		f.deltas[i] = d.cfiDelta
		r := &f.cfi[d.init]
		if r.delta1 == 0 {
			r.delta0 = i
		}
		r.delta1 = i + 1
	}
	f.cfi = dropOverlaps(f.cfi, func(r *cfiRec) (uint64, uint64) { return r.addr, r.size })
	f.winFD, f.winFPO = splitWin(p.rawWin)
}

// dropOverlaps sorts records by (start, end), drops empty ones and every
// record that overlaps one kept before it, as rust-minidump builds its
// range maps.
func dropOverlaps[T any](recs []T, span func(*T) (uint64, uint64)) []T {
	end := func(r *T) uint64 {
		a, n := span(r)
		if a+n < a {
			return ^uint64(0)
		}
		return a + n
	}
	sort.SliceStable(recs, func(i, j int) bool {
		ai, _ := span(&recs[i])
		aj, _ := span(&recs[j])
		if ai != aj {
			return ai < aj
		}
		return end(&recs[i]) < end(&recs[j])
	})
	out := recs[:0]
	var lastEnd uint64
	for i := range recs {
		a, n := span(&recs[i])
		if n == 0 {
			continue
		}
		if len(out) > 0 && a < lastEnd {
			continue
		}
		out = append(out, recs[i])
		lastEnd = end(&recs[i])
	}
	return out
}

// archInfo gives the pointer size of an architecture as dump_syms names it,
// and the register that the return address column of its CFI stands for.
func archInfo(arch string) (ptrSize int, ra string) {
	switch strings.ToLower(arch) {
	case "x86", "i386", "i486", "i586", "i686":
		return 4, "eip"
	case "x86_64", "amd64", "x86_64h":
		return 8, "rip"
	case "arm64", "arm64e", "aarch64":
		return 8, "lr"
	case "arm64_32":
		return 4, "lr"
	case "ppc", "mips", "sparc", "riscv32", "wasm32":
		return 4, ""
	}
	if strings.HasPrefix(strings.ToLower(arch), "arm") { // arm, armv7, armv7s, ...
		return 4, "lr"
	}
	return 8, ""
}

// cursor walks one record: words separated by runs of blanks.
type cursor struct{ s string }

func isBlank(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == '\v' || b == '\f'
}

func trim(s string) string {
	for s != "" && isBlank(s[0]) {
		s = s[1:]
	}
	for s != "" && isBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// word takes the characters up to the next blank (possibly none).
func (c *cursor) word() string {
	i := 0
	for i < len(c.s) && !isBlank(c.s[i]) {
		i++
	}
	w := c.s[:i]
	c.s = c.s[i:]
	return w
}

func (c *cursor) peekWord() string {
	d := *c
	return d.word()
}

// space takes a run of blanks and reports whether there was one.
func (c *cursor) space() bool {
	i := 0
	for i < len(c.s) && isBlank(c.s[i]) {
		i++
	}
	c.s = c.s[i:]
	return i > 0
}

// hexField reads a hexadecimal word of at most bits bits followed by blanks
// (needSpace) or by blanks or the end of the record.
func (c *cursor) hexField(what string, bits int, needSpace bool) (uint64, error) {
	w := c.word()
	v, ok := parseHex(w, bits)
	if !ok {
		if w == "" {
			return 0, fmt.Errorf("no %s", what)
		}
		return 0, fmt.Errorf("%s %q is not hexadecimal (of at most %d bits)", what, w, bits)
	}
	if !c.space() && (needSpace || c.s != "") {
		return 0, fmt.Errorf("nothing after the %s", what)
	}
	return v, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if hexVal(s[i]) < 0 {
			return false
		}
	}
	return true
}

func hexVal(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// parseHex parses a non-empty run of hex digits (leading zeros allowed)
// that fits in bits bits.
func parseHex(s string, bits int) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 || v>>(bits-4) != 0 {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// parseDec parses a non-empty run of decimal digits that fits in 64 bits.
func parseDec(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			return 0, false
		}
		d := uint64(b - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
