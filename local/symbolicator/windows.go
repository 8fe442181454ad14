package symbolicator

import (
	"fmt"

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
// information (.pdata/.xdata) the stack walk uses.

// fromPE describes an image as symbolic does for a PE file.
func fromPE(f *pe.File) *loadedFile {
	return &loadedFile{kind: "pe", arch: f.Arch, codeID: f.CodeID, debugID: f.DebugID, image: f,
		features: objfile.Features{HasDebugInfo: f.Features.HasDebugInfo, HasUnwindInfo: f.Features.HasUnwindInfo,
			HasSymbols: f.Features.HasSymbols, HasSources: f.Features.HasSources}}
}

// fromPDB describes a program database as symbolic does.
func fromPDB(f *pdb.File) *loadedFile {
	return &loadedFile{kind: "pdb", arch: f.Arch, debugID: f.DebugID, pdb: f,
		features: objfile.Features{HasDebugInfo: f.Features.HasDebugInfo, HasUnwindInfo: f.Features.HasUnwindInfo,
			HasSymbols: f.Features.HasSymbols, HasSources: f.Features.HasSources}}
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
