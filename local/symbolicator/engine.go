package symbolicator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/local/symbolicator/sourcebundle"
)

// Module debug statuses (SEMANTICS §4).
const (
	statusFound          = "found"
	statusUnused         = "unused"
	statusMissing        = "missing"
	statusMalformed      = "malformed"
	statusFetchingFailed = "fetching_failed"
	statusTimeout        = "timeout"
	statusUnsupported    = "unsupported"
	statusOther          = "other"
)

// Frame statuses.
const (
	frameSymbolicated  = "symbolicated"
	frameMissingSymbol = "missing_symbol"
	frameUnknownImage  = "unknown_image"
	frameMissing       = "missing"
	frameMalformed     = "malformed"
)

// candidate is one place a module's debug file was looked for.
type candidate struct {
	Source   string       `json:"source"`
	Location string       `json:"location"`
	Download downloadInfo `json:"download"`
	Unwind   *useInfo     `json:"unwind,omitempty"`
	Debug    *useInfo     `json:"debug,omitempty"`
}

type downloadInfo struct {
	Status   string            `json:"status"`
	Features *objfile.Features `json:"features,omitempty"`
	Details  *string           `json:"details,omitempty"`
}

type useInfo struct {
	Status string `json:"status"`
}

// moduleEntry is a request module while it is being symbolicated.
type moduleEntry struct {
	index      int
	raw        *rawModule
	size       uint64 // image_size, backfilled from the next module when 0
	sizeSet    bool
	used       bool
	status     string
	features   objfile.Features
	arch       string
	file       *loadedFile // for symbolication
	candidates []candidate
	bundles    []*sourcebundle.Bundle // source bundles found for the module

	// once loads the module's files the first time symbolication or a
	// stack walk needs them.
	once sync.Once
	// unwindFile is the file with the best unwind information, nil
	// without; unwindStatus is the module's unwind_status, "" when no walk
	// asked for it.
	unwindFile   *loadedFile
	unwindStatus string
	// answer is what the module's symbolicated frames share, made with
	// the first.
	answer *frameModule
}

// engine symbolicates one request. It holds no state across requests; the
// caches live in the Service.
type engine struct {
	svc  *Service
	req  *symbolicateRequest
	walk bool // the request walks stacks: modules need unwind files too
	// pendingContext lists the frames whose source no bundle held.
	pendingContext []pendingContext
	// bundleSources holds the bundle files read for this request.
	bundleSources map[bundleFile]bundleSource
	modules       []*moduleEntry // request order
	sorted        []*moduleEntry // by image_addr
	// paths remembers cleaned source paths and their file names: a
	// request's frames share few.
	paths map[string]*cleanedPath
	// slab hands out symbolicated frames a block at a time: a request of
	// 30,000 addresses has a hundred thousand of them.
	slab []symFrame
	// debuginfod caches hasDebuginfod: 0 unknown, 1 no, 2 yes.
	debuginfod int8
}

// cleanedPath is a source path cleaned and its file name.
type cleanedPath struct{ path, name string }

// cleanPath is cleanPath remembered for the request, with the path's file
// name; nil when the cleaned path is empty.
func (e *engine) cleanPath(p string) *cleanedPath {
	if c, ok := e.paths[p]; ok {
		return c
	}
	var c *cleanedPath
	if clean := cleanPath(p); clean != "" {
		c = &cleanedPath{path: clean, name: splitName(clean)}
	}
	if e.paths == nil {
		e.paths = map[string]*cleanedPath{}
	}
	e.paths[p] = c
	return c
}

// symFrames returns n zero frames, contiguous, from the slab.
func (e *engine) symFrames(n int) []symFrame {
	const block = 1024
	if cap(e.slab)-len(e.slab) < n {
		if n > block/4 {
			return make([]symFrame, n)
		}
		e.slab = make([]symFrame, 0, block)
	}
	start := len(e.slab)
	e.slab = e.slab[:start+n]
	return e.slab[start : start+n : start+n]
}

func (s *Service) symbolicate(ctx context.Context, req *symbolicateRequest) map[string]any {
	return newEngine(s, req, false).run(ctx)
}

// newEngine prepares req's modules. walk says whether stacks will be
// walked first (minidumps), so that modules also need unwind files.
func newEngine(s *Service, req *symbolicateRequest, walk bool) *engine {
	e := &engine{svc: s, req: req, walk: walk}
	for i, m := range req.Modules {
		me := &moduleEntry{index: i, raw: m, size: m.ImageSize, sizeSet: m.HasImageSize, status: statusUnused, arch: "unknown"}
		if walk {
			me.unwindStatus = statusUnused
		}
		e.modules = append(e.modules, me)
	}
	e.sorted = append([]*moduleEntry(nil), e.modules...)
	sort.SliceStable(e.sorted, func(i, j int) bool { return e.sorted[i].raw.ImageAddr < e.sorted[j].raw.ImageAddr })
	// A missing or zero image_size spans up to the next image; the last
	// one then extends to the end of the address space (as Symbolicator).
	for i := 0; i+1 < len(e.sorted); i++ {
		m := e.sorted[i]
		if m.size == 0 {
			m.size = e.sorted[i+1].raw.ImageAddr - m.raw.ImageAddr
			m.sizeSet = true
		}
	}
	return e
}

// run symbolicates the request's stack traces.
func (e *engine) run(ctx context.Context) map[string]any {
	req := e.req
	if req.Options.CallerFirst {
		for _, st := range req.Stacktraces {
			reverse(st.Frames)
		}
	}
	for _, st := range req.Stacktraces {
		for _, f := range st.Frames {
			if m := e.moduleFor(f.Addr, f.Mode); m != nil {
				m.used = true
			}
		}
	}
	e.loadModules(ctx)
	if e.walk {
		// A module the walk loaded but no frame is in keeps its unwind
		// status; its debug status is unused, as Symbolicator reports it.
		for _, m := range e.modules {
			if !m.used {
				m.status = statusUnused
			}
		}
	}

	// One slice of lookups for every frame of the request, reused by the
	// next request: it is megabytes for a large one, and fresh memory is
	// paid for in page faults.
	total := 0
	for _, st := range req.Stacktraces {
		total += len(st.Frames)
	}
	bp := lookupBuffers.Get().(*[]frameLookup)
	all := slices.Grow((*bp)[:0], total)[:total]
	lookups := make([][]frameLookup, len(req.Stacktraces))
	start := 0
	for i, st := range req.Stacktraces {
		lookups[i] = all[start : start+len(st.Frames) : start+len(st.Frames)]
		start += len(st.Frames)
		e.locateThread(st, lookups[i])
	}
	e.lookupAll(all)
	traces := make([]any, 0, len(req.Stacktraces))
	for i, st := range req.Stacktraces {
		traces = append(traces, e.symbolicateThread(st, lookups[i]))
	}
	clear(all) // drops the modules and frames it points at
	*bp = all[:0]
	lookupBuffers.Put(bp)
	if len(e.pendingContext) > 0 {
		e.applyDebuginfodContext(ctx)
	}
	if req.Options.CallerFirst {
		for _, t := range traces {
			frames := t.(map[string]any)["frames"].([]any)
			reverse(frames)
		}
	}
	mods := make([]any, 0, len(e.modules))
	for _, m := range e.modules {
		mods = append(mods, e.moduleJSON(m))
	}
	out := map[string]any{"status": "completed", "stacktraces": traces, "modules": mods}
	if req.Signal != nil {
		out["signal"] = *req.Signal
	}
	return out
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// moduleFor finds the module holding addr: the one with the highest
// image_addr not above addr whose [image_addr, image_addr+size) holds it
// (size 0: open-ended), or module N for "rel:N".
func (e *engine) moduleFor(addr uint64, mode addrMode) *moduleEntry {
	if mode.Rel {
		if mode.Index < len(e.modules) {
			return e.modules[mode.Index]
		}
		return nil
	}
	i := sort.Search(len(e.sorted), func(i int) bool { return e.sorted[i].raw.ImageAddr > addr })
	if i == 0 {
		return nil
	}
	m := e.sorted[i-1]
	if m.size != 0 {
		end := m.raw.ImageAddr + m.size
		if end < m.raw.ImageAddr { // overflow: reaches the top
			return m
		}
		if addr >= end {
			return nil
		}
	}
	return m
}

// loadModules finds and opens the debug file of every referenced module,
// a few at a time.
func (e *engine) loadModules(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.svc.cfg.ModuleConcurrency)
	for _, m := range e.modules {
		if !m.used {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			e.ensureLoaded(ctx, m)
		}()
	}
	wg.Wait()
}

// ensureLoaded loads the module's debug and unwind files once.
func (e *engine) ensureLoaded(ctx context.Context, m *moduleEntry) {
	m.once.Do(func() { e.loadModule(ctx, m) })
}

func (e *engine) loadModule(ctx context.Context, m *moduleEntry) {
	log := e.svc.log.With("module", m.index, "type", m.raw.Type, "code_id", m.raw.CodeID, "debug_id", m.raw.DebugID)
	defer func() {
		if r := recover(); r != nil {
			// A debug file that trips the reader must not take the
			// service down: the module is reported malformed.
			log.Error("panic while loading debug file", "panic", fmt.Sprint(r))
			m.status, m.file, m.unwindFile = statusMalformed, nil, nil
		}
	}()
	types := fileTypesFor(m.raw.Type)
	id := objectID{
		Type: m.raw.Type, CodeID: m.raw.CodeID, DebugID: m.raw.DebugID,
		CodeFile: m.raw.CodeFile, DebugFile: m.raw.DebugFile, Checksum: m.raw.DebugChecksum,
	}
	var files []remoteFile
	listed := map[string]bool{}
	for _, src := range e.req.Sources {
		rfs, err := e.svc.fetch.list(ctx, src, id, types)
		if err != nil {
			log.Warn("listing debug files failed", "source", src.ID, "error", err)
		}
		if len(rfs) > 0 {
			listed[src.ID] = true
		}
		files = append(files, rfs...)
	}

	metas := make([]fileMeta, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.svc.cfg.DownloadConcurrency)
	for i, rf := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			metas[i] = e.svc.loadFile(ctx, rf, id, log)
		}()
	}
	wg.Wait()

	// Pick the best file: debug info over symbols only, earlier sources
	// and layouts winning ties; files with neither are skipped. Without a
	// usable file the first failure (in source, then file type order)
	// decides the status, except that a file that was downloaded but is
	// malformed comes before any failure to get one: a symbol server's
	// compressed name ("foo.pd_") comes before the plain one and is
	// usually the one missing, and a broken image is not "missing".
	best, bestQ := -1, 6 // q: 0 debug info, 1 symbols, 3 malformed, 4 not fetched
	unreadable := false
	for i, fm := range metas {
		var q int
		switch {
		case fm.unreadable:
			unreadable = true
			continue
		case fm.err == nil && fm.file.features.HasDebugInfo:
			q = 0
		case fm.err == nil && fm.file.features.HasSymbols:
			q = 1
		case fm.err == nil:
			continue
		case fm.err.Status == downloadMalformed:
			q = 3
		default:
			q = 4
		}
		if q < bestQ {
			best, bestQ = i, q
		}
	}

	// The unwind file is chosen apart: the first file with unwind
	// information (an executable's .eh_frame, a .sym file's STACK records),
	// as Symbolicator fetches CFI and debug info separately.
	unwindBest := -1
	for i, fm := range metas {
		if !e.walk {
			break // /symbolicate looks for debug information only
		}
		if fm.err == nil && fm.file != nil && fm.file.features.HasUnwindInfo {
			unwindBest = i
			break
		}
	}
	if unwindBest >= 0 {
		m.unwindFile = metas[unwindBest].file
		m.features.HasUnwindInfo = true
	}

	var cands []candidate
	for i, fm := range metas {
		c := newCandidate(fm.rf, fm.err)
		if fm.err == nil && fm.file != nil {
			feat := fm.file.features
			c.Download.Features = &feat
		}
		if i == best && fm.err == nil {
			c.Debug = &useInfo{Status: "ok"}
		}
		if i == unwindBest {
			c.Unwind = &useInfo{Status: "ok"}
		}
		cands = append(cands, c)
	}
	for _, src := range e.req.Sources {
		if !listed[src.ID] {
			cands = append(cands, candidate{Source: src.ID, Location: "No object files listed on this source", Download: downloadInfo{Status: downloadNotFound}})
		}
	}
	m.candidates = sortCandidates(cands)

	if best < 0 || (unreadable && metas[best].err != nil && metas[best].err.Status == downloadNotFound) {
		// Found only in formats the service does not read (a portable
		// PDB): say so rather than claim the file is not there.
		m.status = statusMissing
		if unreadable {
			m.status = statusUnsupported
		}
		return
	}
	sel := metas[best]
	if sel.err != nil {
		switch sel.err.Status {
		case downloadNotFound:
			m.status = statusMissing
		case downloadMalformed:
			m.status = statusMalformed
		case downloadError:
			m.status = statusFetchingFailed
			if sel.err.Timeout {
				m.status = statusTimeout
			}
		default:
			m.status = statusFetchingFailed
		}
		return
	}
	m.status = statusFound
	m.file = sel.file
	unwindInfo := m.features.HasUnwindInfo
	m.features = sel.file.features
	m.features.HasUnwindInfo = m.features.HasUnwindInfo || unwindInfo
	if sel.file.arch != "" {
		m.arch = sel.file.arch
	}
	log.Debug("debug file selected", "source", sel.rf.src.ID, "location", sel.rf.uri())
	if e.req.Options.ApplySourceContext {
		m.candidates = sortCandidates(append(m.candidates, e.findSourceBundles(ctx, m, id, log)...))
	}
}

// findSourceBundles looks for the module's source bundles (.src.zip beside
// its debug files) on every source, as Symbolicator does before it applies
// source context, and keeps the ones found on the module.
func (e *engine) findSourceBundles(ctx context.Context, m *moduleEntry, id objectID, log *slog.Logger) []candidate {
	var cands []candidate
	for _, src := range e.req.Sources {
		rfs, err := e.svc.fetch.list(ctx, src, id, []string{"sourcebundle"})
		if err != nil {
			log.Warn("listing source bundles failed", "source", src.ID, "error", err)
		}
		for _, rf := range rfs {
			data, ferr := e.svc.fetch.fetch(ctx, rf)
			c := newCandidate(rf, ferr)
			if ferr == nil {
				if b, err := sourcebundle.Open(data, sourcebundle.Limits{}); err != nil {
					log.Info("source bundle unreadable", "source", src.ID, "location", rf.uri(), "error", err)
					c.Download.Status = downloadMalformed
				} else {
					c.Download.Features = &objfile.Features{HasSources: true}
					m.bundles = append(m.bundles, b)
					m.features.HasSources = true
				}
			}
			cands = append(cands, c)
		}
	}
	return cands
}

// newCandidate is the candidate for one place looked at: downloaded, or
// the fetch error's status, with its details when they say what failed.
func newCandidate(rf remoteFile, ferr *fetchError) candidate {
	c := candidate{Source: rf.src.ID, Location: rf.uri(), Download: downloadInfo{Status: downloadOK}}
	if ferr != nil {
		c.Download.Status = ferr.Status
		if ferr.Status == downloadNoPerm || ferr.Status == downloadError {
			d := ferr.Details
			c.Download.Details = &d
		}
	}
	return c
}

// sortCandidates orders candidates as Symbolicator lists them, by source
// id and then location, one per place.
func sortCandidates(cands []candidate) []candidate {
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Source != cands[j].Source {
			return cands[i].Source < cands[j].Source
		}
		return cands[i].Location < cands[j].Location
	})
	for i := 0; i < len(cands); i++ {
		if i > 0 && cands[i].Source == cands[i-1].Source && cands[i].Location == cands[i-1].Location {
			cands = append(cands[:i], cands[i+1:]...)
			i--
		}
	}
	return cands
}

type fileMeta struct {
	rf   remoteFile
	file *loadedFile
	err  *fetchError
	// unreadable marks a file that was downloaded but is in a format the
	// service does not read as a debug file (a source bundle, a portable
	// PDB).
	unreadable bool
}

// loadFile downloads one candidate and opens it through the index cache.
func (s *Service) loadFile(ctx context.Context, rf remoteFile, id objectID, log *slog.Logger) (fm fileMeta) {
	fm.rf = rf
	data, ferr := s.fetch.fetch(ctx, rf)
	if ferr != nil {
		if ferr.Status != downloadNotFound {
			log.Info("debug file download failed", "source", rf.src.ID, "location", rf.uri(), "status", ferr.Status, "details", ferr.Details)
		}
		fm.err = ferr
		return fm
	}
	var lf *loadedFile
	switch kind := unreadKind(data); kind {
	case "":
		f, err := s.openIndexed(data)
		if err != nil {
			log.Info("debug file unreadable", "source", rf.src.ID, "location", rf.uri(), "error", err)
			fm.err = &fetchError{Status: downloadMalformed}
			return fm
		}
		lf = fromObject(f, data)
	case "breakpad":
		f, err := s.openBreakpad(data)
		if err != nil {
			log.Info("Breakpad symbol file unreadable", "source", rf.src.ID, "location", rf.uri(), "error", err)
			fm.err = &fetchError{Status: downloadMalformed}
			return fm
		}
		lf = fromBreakpad(f)
	case "pe":
		f, err := s.openPE(data)
		if err != nil {
			log.Info("PE image unreadable", "source", rf.src.ID, "location", rf.uri(), "error", err)
			fm.err = &fetchError{Status: downloadMalformed}
			return fm
		}
		lf = fromPE(f)
	case "pdb":
		f, err := s.openPDB(data)
		if err != nil {
			log.Info("PDB unreadable", "source", rf.src.ID, "location", rf.uri(), "error", err)
			fm.err = &fetchError{Status: downloadMalformed}
			return fm
		}
		lf = fromPDB(f)
	default:
		log.Info("debug file in a format not read here", "source", rf.src.ID, "location", rf.uri(), "format", kind)
		fm.unreadable = true
		return fm
	}
	if !identityMatches(lf.codeID, lf.debugID, id) {
		log.Warn("debug file does not match the module", "source", rf.src.ID, "location", rf.uri(), "file_code_id", lf.codeID, "file_debug_id", lf.debugID)
		fm.err = &fetchError{Status: downloadMalformed}
		return fm
	}
	fm.file = lf
	return fm
}

// unreadKind names the format of data when objfile does not read it:
// those the service reads otherwise ("breakpad", "pe", "pdb") and those it
// recognises but does not read; "" for objfile's (ELF, Mach-O, wasm).
func unreadKind(data []byte) string {
	switch {
	case len(data) >= 2 && data[0] == 'M' && data[1] == 'Z':
		return "pe"
	case strings.HasPrefix(string(data[:min(len(data), 32)]), "Microsoft C/C++ MSF 7.00"):
		return "pdb"
	case strings.HasPrefix(string(data[:min(len(data), 7)]), "MODULE "):
		return "breakpad" // read by breakpad, not objfile
	case sourcebundle.Is(data), strings.HasPrefix(string(data[:min(len(data), 4)]), "PK\x03\x04"):
		return "sourcebundle"
	}
	return ""
}

// identityMatches refuses a file whose ids contradict the module's: a
// symbol server answering with the wrong file must not produce wrong
// frames.
func identityMatches(codeID, debugID string, id objectID) bool {
	if id.DebugID != "" && debugID != "" {
		want, ok1 := parseDebugID(id.DebugID)
		got, ok2 := parseDebugID(debugID)
		if ok1 && ok2 && want.UUID != got.UUID {
			return false
		}
	}
	if id.CodeID != "" && codeID != "" && !strings.EqualFold(strings.ReplaceAll(id.CodeID, "-", ""), strings.ReplaceAll(codeID, "-", "")) {
		return false
	}
	return true
}

// adjustment is how a frame's address is turned into a lookup address.
type adjustment int

const (
	adjustAuto adjustment = iota
	adjustYes
	adjustNo
)

// crashSignals are the faults after which a crash reporter (KSCrash, for
// one) may have removed the signal handler's frame, leaving a return
// address in frame 0. symbolic lists SIGILL 4, SIGBUS 10 (Darwin's number)
// and SIGSEGV 11; SIGBUS is 7 on Linux, which SEMANTICS §4 names, so both
// are accepted (7 is SIGEMT on Darwin and 10 SIGUSR1 on Linux: neither is a
// crash either platform reports with a removed handler frame).
var crashSignals = map[uint32]bool{4: true, 7: true, 10: true, 11: true}

// shouldAdjust decides whether addr is a return address whose call
// instruction precedes it (SEMANTICS §4): every frame but the crashing one
// (index 0) is. The crashing frame holds the faulting instruction itself,
// unless the thread's ip register is present, differs from addr and the
// signal is a crash signal: then a handler frame was removed above it.
func shouldAdjust(mode adjustment, frameIndex int, signal *uint32, ip *uint64, addr uint64) bool {
	switch mode {
	case adjustYes:
		return true
	case adjustNo:
		return false
	}
	if frameIndex != 0 {
		return true
	}
	return ip != nil && *ip != addr && signal != nil && crashSignals[*signal]
}

// instructionAlignment returns the alignment of instructions on arch and
// how far before a return address its call instruction starts, as symbolic
// has them: one instruction, two on MIPS (the call's delay slot), and
// byte-granular (1) for x86 and architectures symbolic does not know.
func instructionAlignment(arch string) (align, size uint64) {
	switch {
	case strings.HasPrefix(arch, "arm64"), strings.HasPrefix(arch, "aarch64"):
		return 4, 4
	case strings.HasPrefix(arch, "arm"):
		return 2, 2
	case strings.HasPrefix(arch, "mips"):
		return 4, 8
	case strings.HasPrefix(arch, "ppc64"):
		return 8, 8
	case strings.HasPrefix(arch, "ppc"):
		return 4, 4
	}
	return 1, 1
}

// lookupAddress returns the address to look up for a frame at addr: the
// address aligned to the instruction size, minus one instruction when it is
// a return address (x86: addr-1; arm64: addr aligned down to 4, -4).
func lookupAddress(arch string, addr uint64, adjust bool) uint64 {
	align, size := instructionAlignment(arch)
	aligned := addr &^ (align - 1)
	if !adjust {
		return aligned
	}
	if aligned < size {
		return 0
	}
	return aligned - size
}

// ipRegister names the instruction pointer register of arch.
func ipRegister(arch string) string {
	switch {
	case arch == "x86_64" || arch == "amd64":
		return "rip"
	case arch == "x86" || arch == "i386" || arch == "i686":
		return "eip"
	case strings.HasPrefix(arch, "arm"), strings.HasPrefix(arch, "aarch64"):
		return "pc"
	}
	return ""
}

// frameLookup is where a frame is looked up, and what was found: frames
// are located first and looked up together, in parallel when there are
// many (lookupAll), so that a large request uses the machine's cores.
type frameLookup struct {
	m   *moduleEntry
	rel uint64 // the lookup address, relative to the module
	// status is the frame's status when it is not looked up.
	status string
	frames []objfile.Frame
	ok     bool
}

// lookupBuffers recycles the lookups of requests.
var lookupBuffers = sync.Pool{New: func() any { return new([]frameLookup) }}

// locateThread locates the frames of a stack trace into out.
func (e *engine) locateThread(st *rawStacktrace, out []frameLookup) {
	def := adjustAuto
	for _, f := range st.Frames {
		if f.Adjust != nil {
			def = adjustYes
			break
		}
	}
	for i, f := range st.Frames {
		mode := def
		if f.Adjust != nil {
			if *f.Adjust {
				mode = adjustYes
			} else {
				mode = adjustNo
			}
		}
		out[i] = e.locateFrame(st, f, i, mode)
	}
}

// Parallel lookups: at most lookupWorkers goroutines, each with at least
// minWorkerLookups addresses (fewer are not worth starting one for).
const (
	lookupWorkers    = 4
	minWorkerLookups = 1024
)

// lookupAll looks up every located frame.
func (e *engine) lookupAll(all []frameLookup) {
	run := func(ls []frameLookup) {
		for i := range ls {
			if l := &ls[i]; l.status == "" {
				file := l.m.file
				l.frames, l.ok = file.lookup(l.rel + file.load)
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), lookupWorkers, len(all)/minWorkerLookups)
	if workers <= 1 {
		run(all)
		return
	}
	var wg sync.WaitGroup
	per := (len(all) + workers - 1) / workers
	for start := 0; start < len(all); start += per {
		wg.Add(1)
		go func(ls []frameLookup) {
			defer wg.Done()
			run(ls)
		}(all[start:min(start+per, len(all))])
	}
	wg.Wait()
}

func (e *engine) symbolicateThread(st *rawStacktrace, lookups []frameLookup) map[string]any {
	out := map[string]any{}
	for k, v := range st.fields {
		out[k] = v
	}
	if len(st.Registers) > 0 {
		out["registers"] = hexRegisters(st.Registers)
	}
	// Room for every frame of the answer: one per frame not symbolicated,
	// one per function of the inline chain of a symbolicated one.
	n := 0
	for i := range lookups {
		n += max(len(lookups[i].frames), 1)
	}
	frames := make([]any, 0, n)
	// lastFunction is the function of the frame appended last, if any.
	var lastFunction string
	appended := false
	for i, f := range st.Frames {
		res, status := e.symbolicateFrame(f, i, &lookups[i])
		lookups[i].frames = nil // the symbolicated frames keep what they need
		if status == frameSymbolicated {
			for i := range res {
				frames = append(frames, &res[i])
			}
			lastFunction, appended = res[len(res)-1].function, true
			continue
		}
		outermost := i == len(st.Frames)-1
		// Frames found by stack scanning that resolve to nothing are
		// false positives of the unwinder; Symbolicator drops them.
		if f.Trust == "scan" && (status == frameMissingSymbol || status == frameUnknownImage) {
			continue
		}
		// glibc marks _start and clone as having no return address, which
		// unwinders miss: the garbage frame after them is dropped.
		if status == frameUnknownImage && outermost && appended {
			if fn := lastFunction; fn == "_start" || fn == "__clone" || fn == "__clone3" {
				continue
			}
		}
		// A null-ish outermost address marks the end of the stack.
		if status == frameUnknownImage && outermost && !f.Mode.Rel && f.Addr < 4096 && len(frames) > 0 {
			continue
		}
		last := e.unsymbolicatedFrame(f, i, status)
		lastFunction, appended = last.str("function"), true
		frames = append(frames, last)
	}
	out["frames"] = frames
	return out
}

func (e *engine) unsymbolicatedFrame(f *rawFrame, index int, status string) *frame {
	out := newFrame(len(f.fields) + 8)
	for k, v := range f.fields {
		out.set(k, v)
	}
	out.setString("status", status)
	out.setInt("original_index", index)
	out.setHex("instruction_addr", f.Addr)
	if f.Mode.Rel {
		out.setString("addr_mode", f.Mode.String())
	}
	if f.Adjust != nil {
		out.set("adjust_instruction_addr", *f.Adjust)
	}
	if f.Trust != "none" {
		out.setString("trust", f.Trust)
	}
	if m := e.moduleFor(f.Addr, f.Mode); m != nil {
		out.del("package")
		if m.raw.CodeFile != "" {
			out.setString("package", m.raw.CodeFile)
		}
	}
	function, symbol := f.Function, f.Symbol
	// With only one of function and symbol given, treat it as a mangled
	// name: demangled into function, raw kept as symbol.
	if (function == "") != (symbol == "") {
		raw := function + symbol
		if d := demangleName(raw); d != "" && d != raw {
			function, symbol = d, raw
		}
	}
	if function != "" {
		out.setString("function", function)
	}
	if symbol != "" {
		out.setString("symbol", symbol)
	}
	return out
}

// locateFrame finds a frame's module and the address to look up in it,
// or the frame's status when it is not looked up.
func (e *engine) locateFrame(st *rawStacktrace, f *rawFrame, index int, mode adjustment) frameLookup {
	m := e.moduleFor(f.Addr, f.Mode)
	if m == nil {
		return frameLookup{status: frameUnknownImage}
	}
	if m.file == nil {
		if m.status == statusMalformed {
			return frameLookup{status: frameMalformed}
		}
		return frameLookup{status: frameMissing}
	}
	image := m.raw.ImageAddr
	var rel uint64
	switch {
	case f.Mode.Rel:
		rel = f.Addr
	case image != 0 && f.Addr >= image:
		rel = f.Addr - image
	default:
		return frameLookup{status: frameMissingSymbol}
	}
	file := m.file
	if image != 0 {
		abs := image + rel
		if abs < image {
			return frameLookup{status: frameMissingSymbol}
		}
		var ip *uint64
		if index == 0 {
			if name := ipRegister(file.arch); name != "" {
				if v, ok := st.Registers[name]; ok {
					ip = &v
				}
			}
		}
		caller := lookupAddress(file.arch, abs, shouldAdjust(mode, index, e.req.Signal, ip, abs))
		if caller < image {
			return frameLookup{status: frameMissingSymbol}
		}
		rel = caller - image
	}
	return frameLookup{m: m, rel: rel}
}

// symbolicateFrame makes the symbolicated frames of a looked-up frame
// (its inline chain, innermost first), or says why there are none.
func (e *engine) symbolicateFrame(f *rawFrame, index int, l *frameLookup) ([]symFrame, string) {
	if l.status != "" {
		return nil, l.status
	}
	m, rel, file, frames := l.m, l.rel, l.m.file, l.frames
	if !l.ok || len(frames) == 0 {
		return nil, frameMissingSymbol
	}
	image := m.raw.ImageAddr
	// Addresses are answered in the request's address space: the image's,
	// or the module's own for modules without an image address.
	exposed := image
	if m.answer == nil {
		m.answer = &frameModule{pkg: m.raw.CodeFile}
		if image == 0 {
			m.answer.addrMode = addrMode{Rel: true, Index: m.index}.String()
		}
	}
	out := e.symFrames(len(frames))
	for i, fr := range frames {
		o := &out[i]
		o.setSource(f)
		o.index, o.addr, o.mod = int32(index), exposed+rel, m.answer
		o.symbol, o.function = fr.Symbol, fr.Function
		if o.symbol == "" {
			o.symbol = fr.Function
		}
		if o.function == "" {
			o.function = fr.Symbol
		}
		if fr.AbsPath != "" {
			o.path = e.cleanPath(fr.AbsPath)
		}
		o.line = max(fr.Line, 0)
		if abs := o.absPath(); e.req.Options.ApplySourceContext && abs != "" && o.line > 0 && !e.applySourceContext(o, abs, o.line, m.bundles) && e.hasDebuginfod() {
			e.pendingContext = append(e.pendingContext, pendingContext{frame: o, path: abs, line: o.line, module: m})
		}
		if fr.Lang != "" && fr.Lang != "unknown" {
			o.lang = fr.Lang
		}
		if i == len(frames)-1 {
			sym := fr.SymAddr
			if sym == 0 {
				for _, x := range frames {
					if x.SymAddr != 0 {
						sym = x.SymAddr
					}
				}
			}
			if sym >= file.load {
				o.symAddr, o.hasSymAddr = exposed+sym-file.load, true
			}
		}
	}
	return out, frameSymbolicated
}

// hasDebuginfod reports whether the request has a debuginfod source, the
// only place source context comes from besides source bundles.
func (e *engine) hasDebuginfod() bool {
	if e.debuginfod == 0 {
		e.debuginfod = 1
		for _, s := range e.req.Sources {
			if s.Type == sourceHTTP && s.Layout.Type == "debuginfod" {
				e.debuginfod = 2
			}
		}
	}
	return e.debuginfod == 2
}

func (e *engine) moduleJSON(m *moduleEntry) map[string]any {
	out := map[string]any{}
	for k, v := range m.raw.fields {
		out[k] = v
	}
	out["debug_status"] = m.status
	if m.unwindStatus != "" {
		out["unwind_status"] = m.unwindStatus
	}
	out["features"] = m.features
	out["arch"] = m.arch
	out["type"] = m.raw.Type
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("code_id", m.raw.CodeID)
	set("code_file", m.raw.CodeFile)
	set("debug_id", m.raw.DebugID)
	set("debug_file", m.raw.DebugFile)
	set("debug_checksum", m.raw.DebugChecksum)
	out["image_addr"] = formatHex(m.raw.ImageAddr)
	if m.sizeSet {
		out["image_size"] = m.size
	}
	if e.req.Options.DifCandidates && len(m.candidates) > 0 {
		out["candidates"] = m.candidates
	}
	return out
}

// marshalResponse renders a response object (see answer.go).
func marshalResponse(v any) []byte {
	b, err := appendValue(nil, v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"status": "failed", "message": "internal server error: cannot encode response"})
	}
	return b
}

// contextFrame is a frame that source context can be added to.
type contextFrame interface {
	setContext(pre []string, line string, post []string)
}

// applySourceContext adds the lines around a frame's line (path, line)
// from the first source bundle holding its file, as Symbolicator does:
// five lines before and after, long lines cut. It reports whether the
// frame is done: it has context, or it has no file and line to look for.
func (e *engine) applySourceContext(frame contextFrame, path string, line int, bundles []*sourcebundle.Bundle) bool {
	if path == "" || line <= 0 {
		return true
	}
	for _, b := range bundles {
		// A file is decompressed once per request, however many frames
		// it holds.
		k := bundleFile{b, path}
		f, seen := e.bundleSources[k]
		if !seen {
			f.src, f.ok = b.Source(path)
			if e.bundleSources == nil {
				e.bundleSources = map[bundleFile]bundleSource{}
			}
			e.bundleSources[k] = f
		}
		if f.ok {
			return setContext(frame, f.src, line)
		}
	}
	return false
}

// bundleFile is one file of one source bundle; bundleSource its contents
// and whether the bundle has it.
type bundleFile struct {
	bundle *sourcebundle.Bundle
	path   string
}

type bundleSource struct {
	src []byte
	ok  bool
}

// setContext cuts the context of line out of src into the frame.
func setContext(frame contextFrame, src []byte, line int) bool {
	pre, cur, post, ok := sourcebundle.Context(src, line, sourcebundle.DefaultContextLines)
	if !ok {
		return true // not text, or no such line: nothing to show
	}
	frame.setContext(pre, cur, post)
	return true
}

// pendingContext is a symbolicated frame whose source no bundle held.
type pendingContext struct {
	frame  contextFrame
	path   string
	line   int
	module *moduleEntry
}

// maxSourceBytes bounds one source file fetched from a debuginfod server.
const maxSourceBytes = 8 << 20

// applyDebuginfodContext fetches the sources no bundle held from the
// request's debuginfod sources (GET <url>/<build id>/source/<path>, the
// debuginfod protocol), one download per file, and adds their context.
func (e *engine) applyDebuginfodContext(ctx context.Context) {
	type key struct{ codeID, path string }
	fetched := map[key][]byte{}
	for _, p := range e.pendingContext {
		codeID := p.module.raw.CodeID
		path, line := p.path, p.line
		if codeID == "" || p.module.raw.Type != "elf" || !strings.HasPrefix(path, "/") {
			continue
		}
		k := key{codeID, path}
		src, seen := fetched[k]
		if !seen {
			for _, s := range e.req.Sources {
				if s.Type != sourceHTTP || s.Layout.Type != "debuginfod" {
					continue
				}
				data, ferr := e.svc.fetch.fetch(ctx, remoteFile{src: s, location: codeID + "/source" + path})
				if ferr == nil && len(data) <= maxSourceBytes {
					src = data
					break
				}
			}
			fetched[k] = src
		}
		if src != nil {
			setContext(p.frame, src, line)
		}
	}
}
