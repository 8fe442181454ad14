package crashtest

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// SymbolStore writes a Breakpad symbol file for each binary into dir, laid
// out as minidump_stackwalk looks them up: <name>/<ID>/<name>.sym, name
// and ID from dump_syms's MODULE line. It returns dir.
func SymbolStore(t testing.TB, dir string, binaries ...string) string {
	t.Helper()
	for _, bin := range binaries {
		sym := dumpSyms(t, bin)
		first, _, _ := strings.Cut(sym, "\n")
		f := strings.Fields(first) // MODULE os arch id name
		if len(f) != 5 || f[0] != "MODULE" {
			t.Fatalf("dump_syms %s: first line %q is not a MODULE line", bin, first)
		}
		id, name := f[3], f[4]
		d := filepath.Join(dir, name, id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, name+".sym"), sym)
	}
	return dir
}

// symCache keeps the symbol files of system libraries, which every x86_64
// crash maps and which do not change while tests run.
var symCache struct {
	sync.Mutex
	m map[string]string
}

func dumpSyms(t testing.TB, bin string) string {
	t.Helper()
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", bin, st.Size(), st.ModTime().UnixNano())
	symCache.Lock()
	sym, ok := symCache.m[key]
	symCache.Unlock()
	if ok {
		return sym
	}
	r := run(filepath.Dir(bin), nil, BreakpadTool(t, "dump_syms"), bin)
	if r.err != nil || !strings.HasPrefix(r.stdout, "MODULE ") {
		t.Fatalf("dump_syms %s: %v\n%s", bin, r.err, r.stderr)
	}
	if !strings.HasPrefix(bin, os.TempDir()) { // a test's own binaries are not worth keeping
		symCache.Lock()
		if symCache.m == nil {
			symCache.m = map[string]string{}
		}
		symCache.m[key] = r.stdout
		symCache.Unlock()
	}
	return r.stdout
}

// Symbols writes the symbol store for a crash into a new t.TempDir(): the
// program, its libraries, and every other ELF file the core maps that can
// be read here (libc, the dynamic loader, libstdc++), whose CFI the walker
// needs to unwind through them.
func (c *Crash) Symbols(t testing.TB) string {
	t.Helper()
	bins := append([]string{c.Path}, c.Libs...)
	seen := map[string]bool{}
	for _, b := range bins {
		seen[b] = true
	}
	for _, f := range c.ReadCore(t).Files {
		if seen[f.Path] {
			continue
		}
		seen[f.Path] = true
		if e, err := elf.Open(f.Path); err == nil {
			e.Close()
			bins = append(bins, f.Path)
		}
	}
	return SymbolStore(t, t.TempDir(), bins...)
}

// Walk is minidump_stackwalk's account of a dump: its machine-readable
// output (-m), with each frame's address and trust taken from the
// human-readable one.
type Walk struct {
	OS, OSVersion string
	CPU, CPUInfo  string
	CPUCount      int
	CrashReason   string // e.g. "SIGSEGV /SEGV_MAPERR"; "" if the dump has no exception
	CrashAddress  uint64
	CrashThread   int // index into Threads; -1 if none
	Modules       []WalkModule
	Threads       []WalkThread
	Machine, Text string // the raw outputs
}

// WalkModule is a Module line.
type WalkModule struct {
	Name, Version, DebugFile, DebugID string
	Base, Max                         uint64
	Main                              bool
}

// WalkThread is one thread's frames, innermost first.
type WalkThread struct {
	Frames []Frame
}

// Frame is one stack frame as minidump_stackwalk reports it.
type Frame struct {
	Module, Function, File string
	Line                   int
	// Offset is what -m prints: from the function's start when the function
	// is known, else from the module's base, else the address itself.
	Offset uint64
	// Address is the instruction address (for callers, the return address).
	Address uint64
	// ModuleOffset is Address minus the module's base (0 without a module).
	ModuleOffset uint64
	// Trust is how the walker found the frame: "context", "cfi",
	// "cfi_scan", "frame_pointer", "scan", "prewalked", "inline" or the
	// tool's own words.
	Trust string
}

// Signal returns the signal name of the crash reason ("SIGSEGV").
func (w *Walk) Signal() string {
	name, _, _ := strings.Cut(w.CrashReason, " ")
	return name
}

// Stackwalk runs minidump_stackwalk over dump with the symbol store symdir
// ("" for none) and parses both of its output forms.
func Stackwalk(t testing.TB, dump, symdir string) *Walk {
	t.Helper()
	tool := BreakpadTool(t, "minidump_stackwalk")
	args := func(extra ...string) []string {
		a := append(extra, dump)
		if symdir != "" {
			a = append(a, symdir)
		}
		return a
	}
	m := run(filepath.Dir(dump), nil, tool, args("-m")...)
	if m.err != nil {
		t.Fatalf("minidump_stackwalk -m %s: %v\n%s", dump, m.err, m.stderr)
	}
	h := run(filepath.Dir(dump), nil, tool, args()...)
	if h.err != nil {
		t.Fatalf("minidump_stackwalk %s: %v\n%s", dump, h.err, h.stderr)
	}
	w, err := ParseStackwalk(m.stdout, h.stdout)
	if err != nil {
		t.Fatalf("minidump_stackwalk %s: %v\n%s", dump, err, m.stdout)
	}
	return w
}

// ParseStackwalk parses minidump_stackwalk's -m output and, for addresses
// and trust, its human-readable output of the same dump.
func ParseStackwalk(machine, text string) (*Walk, error) {
	w := &Walk{CrashThread: -1, Machine: machine, Text: text}
	for n, line := range strings.Split(machine, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		bad := func() error { return fmt.Errorf("-m line %d: malformed %q", n+1, line) }
		switch f[0] {
		case "OS":
			if len(f) != 3 {
				return nil, bad()
			}
			w.OS, w.OSVersion = f[1], f[2]
		case "CPU":
			if len(f) != 4 {
				return nil, bad()
			}
			w.CPU, w.CPUInfo = f[1], f[2]
			w.CPUCount, _ = strconv.Atoi(f[3])
		case "GPU":
		case "Crash":
			if len(f) != 4 {
				return nil, bad()
			}
			w.CrashReason = f[1]
			if f[2] != "" {
				a, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 64)
				if err != nil {
					return nil, bad()
				}
				w.CrashAddress = a
			}
			if f[3] != "" {
				i, err := strconv.Atoi(f[3])
				if err != nil {
					return nil, bad()
				}
				w.CrashThread = i
			}
		case "Module":
			if len(f) != 8 {
				return nil, bad()
			}
			base, err1 := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
			max, err2 := strconv.ParseUint(strings.TrimPrefix(f[6], "0x"), 16, 64)
			if err1 != nil || err2 != nil {
				return nil, bad()
			}
			w.Modules = append(w.Modules, WalkModule{Name: f[1], Version: f[2], DebugFile: f[3], DebugID: f[4], Base: base, Max: max, Main: f[7] == "1"})
		default:
			// thread|frame|module|function|file|line|offset; a C++ function
			// name may hold '|' (operator|), so fields are taken from both
			// ends.
			if len(f) < 7 {
				return nil, bad()
			}
			ti, err1 := strconv.Atoi(f[0])
			fi, err2 := strconv.Atoi(f[1])
			if err1 != nil || err2 != nil || ti < 0 || fi < 0 || ti > len(w.Threads) {
				return nil, bad()
			}
			if ti == len(w.Threads) {
				w.Threads = append(w.Threads, WalkThread{})
			}
			k := len(f)
			fr := Frame{Module: f[2], Function: strings.Join(f[3:k-3], "|"), File: f[k-3]}
			fr.Line, _ = strconv.Atoi(f[k-2])
			off, err := strconv.ParseUint(strings.TrimPrefix(f[k-1], "0x"), 16, 64)
			if err != nil {
				return nil, bad()
			}
			fr.Offset = off
			if fi != len(w.Threads[ti].Frames) {
				return nil, fmt.Errorf("-m line %d: frame %d of thread %d out of order", n+1, fi, ti)
			}
			w.Threads[ti].Frames = append(w.Threads[ti].Frames, fr)
		}
	}
	if err := w.addTextDetails(text); err != nil {
		return nil, err
	}
	return w, nil
}

var (
	textThread = regexp.MustCompile(`^Thread (\d+)`)
	textFrame  = regexp.MustCompile(`^\s*(\d+)  \S`)
	textPC     = regexp.MustCompile(`\b(?:rip|pc|eip) = 0x([0-9a-f]+)`)
)

// addTextDetails fills each frame's Address, ModuleOffset and Trust from
// the human-readable output.
func (w *Walk) addTextDetails(text string) error {
	thread, frame := -1, -1
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := textThread.FindStringSubmatch(line); m != nil {
			thread, _ = strconv.Atoi(m[1])
			frame = -1
			continue
		}
		if thread < 0 || thread >= len(w.Threads) {
			continue
		}
		frames := w.Threads[thread].Frames
		if m := textFrame.FindStringSubmatch(line); m != nil {
			frame, _ = strconv.Atoi(m[1])
			continue
		}
		if frame < 0 || frame >= len(frames) {
			continue
		}
		if m := textPC.FindStringSubmatch(line); m != nil {
			a, _ := strconv.ParseUint(m[1], 16, 64)
			frames[frame].Address = a
			for _, mod := range w.Modules {
				if mod.Base <= a && a <= mod.Max {
					frames[frame].ModuleOffset = a - mod.Base
				}
			}
		}
		if by, ok := strings.CutPrefix(strings.TrimSpace(line), "Found by: "); ok {
			frames[frame].Trust = trustName(by)
		}
	}
	for ti, th := range w.Threads {
		for fi, f := range th.Frames {
			if f.Trust == "" {
				return fmt.Errorf("thread %d frame %d: no \"Found by\" in the text output", ti, fi)
			}
		}
	}
	return sc.Err()
}

// trustName turns Breakpad's "Found by" words into rust-minidump's trust
// names.
func trustName(by string) string {
	switch by {
	case "given as instruction pointer in context":
		return "context"
	case "call frame info":
		return "cfi"
	case "call frame info with scanning":
		return "cfi_scan"
	case "previous frame's frame pointer", "frame pointer":
		return "frame_pointer"
	case "stack scanning":
		return "scan"
	case "inlining":
		return "inline"
	}
	return by
}

// DumpInfo is what minidump_dump reports of a dump, as far as tests check
// it.
type DumpInfo struct {
	ThreadIDs         []uint32
	ExceptionThreadID uint32
	ExceptionCode     uint32
	ExceptionFlags    uint32
	ExceptionAddress  uint64
	Modules           []DumpModule
	// Errors are minidump_dump's ERROR lines, except those for the streams
	// that Breakpad's own Linux writer never writes (MiscInfo,
	// MemoryInfoList), which it reports for every Linux dump.
	Errors []string
	Output string
}

// DumpModule is one MDRawModule.
type DumpModule struct {
	Base, Size        uint64
	CodeFile, BuildID string
}

// MinidumpDump runs minidump_dump over dump and parses what tests check.
func MinidumpDump(t testing.TB, dump string) *DumpInfo {
	t.Helper()
	r := run(filepath.Dir(dump), nil, BreakpadTool(t, "minidump_dump"), dump)
	// minidump_dump exits 1 whenever an optional stream is missing, as
	// MiscInfo always is in Linux dumps: the ERROR lines tell.
	if r.stdout == "" {
		t.Fatalf("minidump_dump %s: %v\n%s", dump, r.err, r.stderr)
	}
	return ParseMinidumpDump(r.stdout, r.stderr)
}

// ParseMinidumpDump parses minidump_dump's output.
func ParseMinidumpDump(stdout, stderr string) *DumpInfo {
	d := &DumpInfo{Output: stdout}
	for _, line := range strings.Split(stderr+"\n"+stdout, "\n") {
		if !strings.Contains(line, ": ERROR: ") {
			continue
		}
		if strings.Contains(line, "GetMiscInfo() failed") || strings.Contains(line, "GetMemoryInfoList() failed") {
			continue
		}
		d.Errors = append(d.Errors, line)
	}
	block := ""
	var mod *DumpModule
	for _, line := range strings.Split(stdout, "\n") {
		if line != "" && line[0] != ' ' {
			block = strings.TrimSpace(line)
			if block == "MDRawModule" {
				d.Modules = append(d.Modules, DumpModule{})
				mod = &d.Modules[len(d.Modules)-1]
			}
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		num := func() uint64 {
			f := strings.Fields(val)
			if len(f) == 0 {
				return 0
			}
			v, _ := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 64)
			return v
		}
		switch block {
		case "MDRawThread":
			if key == "thread_id" {
				d.ThreadIDs = append(d.ThreadIDs, uint32(num()))
			}
		case "MDException":
			switch key {
			case "thread_id":
				d.ExceptionThreadID = uint32(num())
			case "exception_record.exception_code":
				d.ExceptionCode = uint32(num())
			case "exception_record.exception_flags":
				d.ExceptionFlags = uint32(num())
			case "exception_record.exception_address":
				d.ExceptionAddress = num()
			}
		case "MDRawModule":
			if mod == nil {
				continue
			}
			switch key {
			case "base_of_image":
				mod.Base = num()
			case "size_of_image":
				mod.Size = num()
			case "(code_file)":
				mod.CodeFile = strings.Trim(val, `"`)
			case "(cv_record).build_id":
				mod.BuildID = val
			}
		}
	}
	return d
}
