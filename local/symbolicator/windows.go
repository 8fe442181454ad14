package symbolicator

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/symflow/symflow/local/symbolicator/breakpad"
	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/pe"
	"github.com/symflow/symflow/local/symbolicator/unwind"
)

// Windows debug files: PE images and their PDBs.
//
// Both are looked up by RVA (the offset from the image base), which is
// what a module's instruction address minus its image_addr gives, so
// their load address is 0. A PE module's debug file is its PDB (functions,
// inlinees, lines); the image itself answers from its exports when no PDB
// is found, as symbolic's symbol map does, and gives the x64 unwind
// information (.pdata/.xdata) the stack walk uses. A 32-bit x86 image has
// no unwind tables: there the PDB's frame data (FPO and FrameData records)
// is what the walk uses.

// fromPE describes an image as symbolic does for a PE file.
func fromPE(f *pe.File) *loadedFile {
	return &loadedFile{kind: "pe", arch: f.Arch, codeID: f.CodeID, debugID: f.DebugID, image: f,
		features: objfile.Features{HasDebugInfo: f.Features.HasDebugInfo, HasUnwindInfo: f.Features.HasUnwindInfo,
			HasSymbols: f.Features.HasSymbols, HasSources: f.Features.HasSources}}
}

// fromPDB describes a program database as symbolic does. An x86 PDB with
// frame records carries its unwind rules from the start (pdbCFI builds
// them on first use); loadedFile.unwindRules leaves a cfi it does not
// compute itself alone.
func fromPDB(f *pdb.File) *loadedFile {
	lf := &loadedFile{kind: "pdb", arch: f.Arch, debugID: f.DebugID, pdb: f,
		features: objfile.Features{HasDebugInfo: f.Features.HasDebugInfo, HasUnwindInfo: f.Features.HasUnwindInfo,
			HasSymbols: f.Features.HasSymbols, HasSources: f.Features.HasSources}}
	if f.Arch == "x86" && len(f.FrameRecords()) > 0 {
		lf.cfi = &pdbCFI{recs: f.FrameRecords()}
	}
	return lf
}

// lookupPDB returns the PDB's frames at rva. symbolic reports no language
// for PDB functions, so none is given.
func lookupPDB(f *pdb.File, rva uint64) ([]objfile.Frame, bool) {
	pf, ok := f.Lookup(rva)
	if !ok || len(pf) == 0 {
		return nil, false
	}
	out := make([]objfile.Frame, len(pf))
	for i, p := range pf {
		out[i] = objfile.Frame{Function: p.Function, Symbol: p.Symbol, AbsPath: p.AbsPath, Line: p.Line, SymAddr: p.SymAddr}
	}
	return out, true
}

// lookupExports names the export covering rva, the only names an image
// without its PDB has.
func lookupExports(f *pe.File, rva uint64) ([]objfile.Frame, bool) {
	if rva > 0xffffffff {
		return nil, false
	}
	e, ok := f.Symbol(uint32(rva))
	if !ok || e.Name == "" {
		return nil, false
	}
	fn := demangleName(e.Name)
	if fn == "" {
		fn = e.Name
	}
	return []objfile.Frame{{Function: fn, Symbol: e.Name, SymAddr: uint64(e.RVA)}}, true
}

// peCFI is an x64 image's .pdata/.xdata, read as Symbolicator's walk reads
// them: the rules of a function's body (pe.Rules.Unwind).
type peCFI struct{ f *pe.File }

func (p peCFI) rules(rva uint64) unwind.Rules {
	if rva > 0xffffffff {
		return nil
	}
	r, ok := p.f.Rules(uint32(rva))
	if !ok || r.Err() != nil {
		return nil
	}
	return r
}

func (p peCFI) covers(rva uint64) bool {
	if rva > 0xffffffff {
		return false
	}
	_, ok := p.f.FunctionAt(uint32(rva))
	return ok
}

// pdbCFI is an x86 PDB's frame data as Symbolicator walks with it.
//
// Symbolicator does not read a PDB's frame table during the walk: it
// converts it to the Breakpad STACK WIN records of its CFI cache (symbolic's
// AsciiCfiWriter, as Breakpad's dump_syms does: FrameData as type 4 with
// its program string, FPO as type 0) and rust-minidump walks with those.
// pdbCFI does the same, writing the records as text and reading them with
// package breakpad, so that which record covers an address (overlapping
// records cut short, duplicates dropped) and how a program string is
// evaluated are those of a .sym file's STACK WIN records, not a second
// reading of the same data.
type pdbCFI struct {
	recs []pdb.FrameRecord // the PDB's, by RVA
	once sync.Once
	win  *breakpad.File // nil when the records could not be read
	// err says why win is nil. The text is written here, so this is not
	// expected; FuzzX86FrameRecords checks it stays nil.
	err error
}

// table builds the STACK WIN records on first use: a /symbolicate request
// never walks, and a system PDB has tens of thousands of records.
func (p *pdbCFI) table() *breakpad.File {
	p.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				p.win, p.err = nil, fmt.Errorf("pdb frame data: %v", r)
			}
		}()
		b, err := breakpad.Parse(stackWinText(p.recs))
		switch {
		case err != nil:
			p.err = fmt.Errorf("pdb frame data: %w", err)
		case b.StackErr != nil:
			p.err = fmt.Errorf("pdb frame data: %w", b.StackErr)
		default:
			p.win = b
		}
	})
	return p.win
}

func (p *pdbCFI) rules(rva uint64) unwind.Rules {
	t := p.table()
	if t == nil {
		return nil
	}
	r, ok := t.Win(rva)
	if !ok {
		return nil
	}
	return winRules{r}
}

func (p *pdbCFI) covers(rva uint64) bool {
	t := p.table()
	if t == nil {
		return false
	}
	_, ok := t.Win(rva)
	return ok
}

// stackWinText writes frame records as the STACK WIN lines of a Breakpad
// symbol file, the way symbolic's CFI writer does for a PDB: records in
// RVA order, a record identical to the one before in type, start, size and
// prolog size left out (DIA and the streams repeat them), sizes beyond
// 2^31 skipped (they are not code sizes), an epilog size of 0, and the
// maximum stack size of FrameData records. Records whose FPO frame type is
// not FPO proper (trap, TSS, standard frames) are left out, as the walkers
// ignore them. A program string is written as one line: control
// characters, which would cut the record, become spaces, and invalid UTF-8
// is replaced. A FrameData record without a program cannot unwind and is
// left out. An FPO record at the RVA of a FrameData record is dropped, as
// the pdb crate's merge of the two streams does.
func stackWinText(recs []pdb.FrameRecord) []byte {
	var b strings.Builder
	b.WriteString("MODULE windows x86 000000000000000000000000000000000 frame.pdb\n")
	fdAt := map[uint32]bool{}
	for _, r := range recs {
		if r.Type == 4 {
			fdAt[r.RVA] = true
		}
	}
	var last *pdb.FrameRecord
	for i := range recs {
		r := &recs[i]
		if r.Size > math.MaxInt32 || (r.Type == 0 && (r.FrameKind != 0 || fdAt[r.RVA])) || (r.Type != 0 && r.Type != 4) {
			continue
		}
		if last != nil && r.Type == last.Type && r.RVA == last.RVA && r.Size == last.Size && r.PrologSize == last.PrologSize {
			continue
		}
		if r.Type == 4 {
			prog := strings.TrimSpace(strings.Map(func(c rune) rune {
				if c < ' ' || c == 0x7f {
					return ' '
				}
				return c
			}, strings.ToValidUTF8(r.ProgramString, "\uFFFD")))
			if prog == "" {
				continue
			}
			fmt.Fprintf(&b, "STACK WIN 4 %x %x %x 0 %x %x %x %x 1 %s\n", r.RVA, r.Size, r.PrologSize, r.ParamsSize, r.SavedRegsSize, r.LocalsSize, r.MaxStackSize, prog)
		} else {
			bp := 0
			if r.AllocatesBasePointer {
				bp = 1
			}
			fmt.Fprintf(&b, "STACK WIN 0 %x %x %x 0 %x %x %x 0 0 %d\n", r.RVA, r.Size, r.PrologSize, r.ParamsSize, r.SavedRegsSize, r.LocalsSize, bp)
		}
		last = r
	}
	return []byte(b.String())
}

// winRules evaluates a STACK WIN record the way rust-minidump's walker
// does, which Symbolicator uses, on top of the record's own evaluation:
//
//   - a program that aligns ("@") finds the return address above the
//     saved %ebp: .raSearchStart is %ebp + 4, not %esp plus the frame;
//   - an FPO record in the context frame skips a return address left on
//     the stack by a frame-pointer-omitting system call: when the word
//     where the return address should be equals the callee's own %eip,
//     the next word is used;
//   - esi and edi are never passed on from the callee (STACK WIN clears
//     the caller's registers; only ebp and ebx start out with the callee's
//     values), nor is ebx by an FPO function that allocates %ebp.
//
// The parameter size of the callee's callee that Breakpad adds to the
// frame (.cbCalleeParams) is what the walker supplies: 0 in Symbolicator,
// whose symbol provider gives rust-minidump no function information.
type winRules struct{ r *breakpad.WinRecord }

// errNoEBP is returned for an aligning program when %ebp is unknown.
var errNoEBP = errors.New("STACK WIN: the program aligns the frame and %ebp is unknown")

func (w winRules) Unwind(get func(name string) (uint64, bool), mem unwind.Memory) (map[string]uint64, error) {
	var start uint64
	haveStart := false
	switch {
	case w.r.Type == 4 && strings.Contains(w.r.ProgramString, "@"):
		ebp, ok := get("ebp")
		if !ok {
			return nil, errNoEBP
		}
		if uint32(ebp) > math.MaxUint32-4 {
			return nil, fmt.Errorf("STACK WIN at %#x: %%ebp %#x + 4 overflows", w.r.Start, ebp)
		}
		start, haveStart = uint64(uint32(ebp)+4), true
	case w.r.Type == 0:
		grand, _ := get(unwind.GrandCalleeReg)
		esp, okSP := get("esp")
		eip, okIP := get("eip")
		if grand != 0 || !okSP || !okIP || mem == nil {
			break
		}
		params, _ := get(unwind.CalleeParamsReg)
		at := uint64(uint32(esp) + uint32(params) + w.r.LocalsSize + w.r.SavedRegsSize)
		if ra, ok := mem.Read(at, 4); ok && ra == uint64(uint32(eip)) {
			start, haveStart = uint64(uint32(at)+4), true
		}
	}
	g := get
	if haveStart {
		g = func(name string) (uint64, bool) {
			if name == ".raSearchStart" {
				return start, true
			}
			return get(name)
		}
	}
	return w.r.Unwind(g, mem)
}

// HasRule keeps the walker from passing esi and edi (and ebx where
// rust-minidump clears it) on from the callee when the program does not
// set them.
func (w winRules) HasRule(name string) bool {
	switch name {
	case "esi", "edi":
		return true
	case "ebx":
		return w.r.Type == 0 && w.r.AllocatesBasePointer
	}
	return false
}

// openPE parses an image, reusing an earlier parse of the same bytes.
func (s *Service) openPE(data []byte) (*pe.File, error) {
	v, err := s.openOther("pe", data, func() (any, error) { return pe.Open(data) })
	if err != nil {
		return nil, err
	}
	return v.(*pe.File), nil
}

// openPDB parses and indexes a PDB, reusing an earlier parse of the same
// bytes.
func (s *Service) openPDB(data []byte) (*pdb.File, error) {
	v, err := s.openOther("pdb", data, func() (any, error) { return pdb.Open(data) })
	if err != nil {
		return nil, err
	}
	return v.(*pdb.File), nil
}

// openOther opens a file with a reader other than objfile through the
// index cache, as openBreakpad does: parses are kept by a digest of the
// content, failures remembered and refused with a *RememberedError.
func (s *Service) openOther(kind string, data []byte, open func() (any, error)) (v any, err error) {
	digest := contentDigest(data)
	fkey := failureKey(kind, digest)
	if err := s.rememberedFailure(fkey, data); err != nil {
		return nil, err
	}
	key := kind + "/" + digest
	if e, ok := s.index.get(key); ok && e.other != nil {
		return e.other, nil
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("the %s reader failed: %v", kind, r)
			}
		}()
		v, err = open()
	}()
	if err != nil {
		s.rememberFailure(fkey, data, err)
		return nil, err
	}
	s.index.add(key, indexedFile{other: v}, int64(len(data)))
	return v, nil
}
