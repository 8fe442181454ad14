package symbolicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/symflow/symflow/local/symbolicator/minidump"
	"github.com/symflow/symflow/local/symbolicator/unwind"
)

// maxWalkFrames is how many frames of a thread are kept: Symbolicator
// trims walked stacks to 256 frames from the top, as Sentry would anyway.
const maxWalkFrames = 256

// processMinidump answers POST /minidump as Symbolicator does: it walks
// every thread of the dump with rust-minidump's rules (package unwind),
// fetching each module's unwind information from the request's sources
// the first time the walk needs it, then symbolicates the walked frames
// like a /symbolicate request and adds what the dump says about the crash.
func (s *Service) processMinidump(ctx context.Context, req *symbolicateRequest, data []byte) map[string]any {
	dump, err := minidump.Parse(data)
	if dump == nil {
		return failedResponse(fmt.Sprintf("invalid minidump: %v", err))
	}
	var streamErrs minidump.ErrorList
	errors.As(err, &streamErrs)
	if dump.SystemInfo == nil {
		return failedResponse("invalid minidump: " + missingStream("system information", minidump.SystemInfoStream, streamErrs))
	}
	if _, ok := dump.Stream(minidump.ThreadListStream); !ok || streamErrs.Has(minidump.ThreadListStream) {
		return failedResponse("invalid minidump: " + missingStream("thread list", minidump.ThreadListStream, streamErrs))
	}
	if err != nil {
		s.log.Info("minidump partly unreadable", "error", err)
	}

	objType := objectTypeForOS(dump.SystemInfo.OS)
	mods := dump.ModulesByAddress()
	req.Modules = nil
	for _, m := range mods {
		req.Modules = append(req.Modules, &rawModule{Type: objType, CodeID: normalizeCodeID(m.CodeID), DebugID: normalizeDebugID(m.DebugID),
			CodeFile: m.Name, DebugFile: m.DebugFile, ImageAddr: m.Base, ImageSize: m.Size, HasImageSize: m.Size != 0})
	}
	// Walked stacks are callee first whatever the request's options say,
	// and carry no signal: Symbolicator symbolicates them that way.
	req.Options.CallerFirst, req.Signal = false, nil
	e := newEngine(s, req, true)
	w := &walkModules{ctx: ctx, e: e}
	var modulesEnd uint64
	if n := len(mods); n > 0 {
		modulesEnd = mods[n-1].End()
	}
	opts := unwind.Options{OS: walkOS(dump.SystemInfo.OS), ModulesEnd: modulesEnd}

	requesting := -1
	for i, th := range dump.Threads {
		if dump.Exception != nil && th.ID == dump.Exception.ThreadID {
			requesting = i
			break
		}
	}
	req.Stacktraces = nil
	for i, th := range dump.Threads {
		c := th.Context
		if i == requesting && dump.Exception.Context != nil {
			c = dump.Exception.Context // the crash, not the dump writer's handler
		}
		st := &rawStacktrace{fields: jsonObject{}}
		st.fields["thread_id"] = rawJSON(th.ID)
		if th.Name != "" {
			st.fields["thread_name"] = rawJSON(th.Name)
		}
		if requesting >= 0 {
			st.fields["is_requesting"] = rawJSON(i == requesting)
		}
		if c != nil {
			regs := map[string]uint64{}
			for _, name := range c.Names() {
				if v, ok := c.Get(name); ok {
					regs[name] = v
				}
			}
			frames, err := unwind.Walk(ctx, dump.SystemInfo.CPU, regs, th.Stack, w, opts)
			if err != nil && ctx.Err() != nil {
				return map[string]any{"status": "timeout"}
			}
			if len(frames) > 0 {
				st.Registers = frames[0].Registers
			}
			for j, f := range frames {
				if j == maxWalkFrames {
					break
				}
				rf := &rawFrame{Addr: f.Resume, Trust: f.Trust, fields: jsonObject{}}
				if len(f.Registers) > 0 {
					rf.fields["registers"] = rawJSON(hexRegisters(f.Registers))
				}
				st.Frames = append(st.Frames, rf)
			}
		}
		req.Stacktraces = append(req.Stacktraces, st)
	}

	// Modules the walk never needed and that have no identifier to go by
	// are left out (mapped fonts, JIT regions), as Symbolicator does.
	kept := e.modules[:0]
	req.Modules = req.Modules[:0]
	for _, m := range e.modules {
		if m.unwindStatus == statusUnused && m.raw.CodeID == "" && m.raw.DebugID == "" && !e.framesIn(m) {
			continue
		}
		m.index = len(kept)
		kept = append(kept, m)
		req.Modules = append(req.Modules, m.raw)
	}
	e.modules = kept

	out := e.run(ctx)
	crashed := dump.Exception != nil
	out["timestamp"] = dump.Timestamp.Unix()
	out["crashed"] = crashed
	out["crash_reason"] = ""
	if crashed {
		out["crash_reason"] = fmt.Sprintf("%s / %#x", crashReason(dump), dump.Exception.Address)
	}
	out["assertion"] = assertionText(dump.Assertion)
	out["system_info"] = map[string]any{
		"os_name":      minidumpOSName(dump.SystemInfo.OS),
		"os_version":   dump.SystemInfo.OSVersion,
		"os_build":     dump.SystemInfo.OSBuild,
		"cpu_arch":     e.cpuArch(symbolicArch(dump.SystemInfo.CPU)),
		"device_model": "",
	}
	return out
}

// failedResponse is Symbolicator's answer to a request it could not
// process.
func failedResponse(msg string) map[string]any {
	return map[string]any{"status": "failed", "message": msg}
}

func missingStream(what string, t minidump.StreamType, errs minidump.ErrorList) string {
	for _, e := range errs {
		if strings.Contains(e.Error(), t.String()) {
			return e.Error()
		}
	}
	return "no " + what + " stream"
}

func hexRegisters(regs map[string]uint64) map[string]string {
	out := make(map[string]string, len(regs))
	for k, v := range regs {
		out[k] = formatHex(v)
	}
	return out
}

// cpuArch is the dump's architecture, or when the dump does not name one,
// the first a debug file gave.
func (e *engine) cpuArch(arch string) string {
	if arch != "unknown" {
		return arch
	}
	for _, m := range e.modules {
		if m.arch != "" && m.arch != "unknown" {
			return m.arch
		}
	}
	return "unknown"
}

// objectTypeForOS is the type of a dump's modules: PE on Windows, Mach-O
// on Apple platforms, ELF on Linux, Android and Solaris.
func objectTypeForOS(os string) string {
	switch os {
	case "Windows NT":
		return "pe"
	case "Mac OS X", "iOS":
		return "macho"
	case "Linux", "Solaris", "Android":
		return "elf"
	}
	return "unknown"
}

// minidumpOSName is Symbolicator's os_name for rust-minidump's OS names.
func minidumpOSName(os string) string {
	switch os {
	case "Windows NT":
		return "Windows"
	case "Mac OS X":
		return "macOS"
	case "iOS", "Linux", "Solaris", "Android", "PS3", "NaCl":
		return os
	}
	return ""
}

// walkOS is the operating system as the walker wants it.
func walkOS(os string) string {
	switch os {
	case "Windows NT":
		return "windows"
	case "Mac OS X":
		return "macos"
	}
	return strings.ToLower(os)
}

// symbolicArch maps rust-minidump's CPU names to symbolic's architecture
// names, which Symbolicator reports as cpu_arch.
func symbolicArch(cpu string) string {
	switch cpu {
	case "x86", "ppc", "ppc64", "arm", "arm64", "mips", "mips64":
		return cpu
	case "amd64":
		return "x86_64"
	}
	return "unknown"
}

// assertionText describes Breakpad's assertion stream: the expression,
// then where it failed when the dump says.
func assertionText(a *minidump.Assertion) string {
	if a == nil {
		return ""
	}
	s := a.Expression
	if a.Function != "" {
		s += " in " + a.Function
	}
	if a.File != "" {
		s += fmt.Sprintf(" at %s:%d", a.File, a.Line)
	}
	return strings.TrimSpace(s)
}

// rawJSON encodes a value the service produced itself.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only values of this package's own making come here
	}
	return b
}

// walkModules is the walker's view of the dump's modules. It loads a
// module's files the first time the walk asks about an address in it and
// records that the module's unwind information was needed.
type walkModules struct {
	ctx context.Context
	e   *engine
}

// entry returns the module whose [base, base+size) holds addr: as in
// rust-minidump, a module the dump gives no size covers nothing.
func (w *walkModules) entry(addr uint64) *moduleEntry {
	m := w.e.moduleFor(addr, addrMode{})
	if m == nil || m.raw.ImageSize == 0 || addr-m.raw.ImageAddr >= m.raw.ImageSize {
		return nil
	}
	w.touch(m)
	return m
}

// touch loads m and sets its unwind status.
func (w *walkModules) touch(m *moduleEntry) {
	w.e.ensureLoaded(w.ctx, m)
	if m.unwindStatus != statusUnused {
		return
	}
	switch {
	case m.unwindFile != nil:
		m.unwindStatus = statusFound
	case m.status == statusFound, m.status == statusUnused, m.status == statusUnsupported:
		m.unwindStatus = statusMissing
	default:
		m.unwindStatus = m.status
	}
}

func (w *walkModules) CFI(addr uint64) unwind.Rules {
	m := w.entry(addr)
	if m == nil || m.unwindFile == nil {
		return nil
	}
	src := m.unwindFile.unwindRules()
	if src == nil {
		return nil
	}
	return src.rules(addr - m.raw.ImageAddr + m.unwindFile.load)
}

// Code answers as Symbolicator's symbol provider does: an address in a
// module is rejected only when both the module's unwind information and
// its debug information are loaded and neither covers the address.
func (w *walkModules) Code(addr uint64) (inModule, hasSymbols, inFunction bool) {
	m := w.entry(addr)
	if m == nil {
		return false, false, false
	}
	var cfi cfiSource
	if m.unwindFile != nil {
		cfi = m.unwindFile.unwindRules()
	}
	if cfi == nil || m.file == nil {
		return true, false, false
	}
	rel := addr - m.raw.ImageAddr
	if cfi.covers(rel + m.unwindFile.load) {
		return true, true, true
	}
	frames, ok := m.file.lookup(rel + m.file.load)
	return true, true, ok && len(frames) > 0
}

// framesIn reports whether any frame of the request lies in m.
func (e *engine) framesIn(m *moduleEntry) bool {
	for _, st := range e.req.Stacktraces {
		for _, f := range st.Frames {
			if e.moduleFor(f.Addr, f.Mode) == m {
				return true
			}
		}
	}
	return false
}
