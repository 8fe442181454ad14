package symbolicator

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/symflow/symflow/internal/crashtest"
	"github.com/symflow/symflow/local/symbolicator/minidump"
	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// walkAgreement counts how symflow's walk of a crashing thread agrees
// with Breakpad's minidump_stackwalk over the same dump.
type walkAgreement struct {
	dumps, frames, sameAddr, sameTrust int
	cfiFrames, cfiSame                 int // frames the reference found from context or CFI
	gdb                                crashtest.Agreement
}

func (a *walkAgreement) String() string {
	return fmt.Sprintf("%d dumps: %d/%d frames at the same module offset, %d/%d with the same trust; context/CFI frames %d/%d; names vs gdb %d/%d",
		a.dumps, a.sameAddr, a.frames, a.sameTrust, a.frames, a.cfiSame, a.cfiFrames, a.gdb.SameName, a.gdb.Named)
}

var walkAgreements struct {
	sync.Mutex
	by map[string]*walkAgreement
}

// TestMinidumpWalkAgainstBreakpad crashes every crashtest scenario on both
// CPUs (x86_64 natively, arm64 under qemu-user), converts the core to a
// minidump and walks it through POST /minidump twice: with the Breakpad
// symbol files dump_syms wrote (the reference's own input) and with the
// ELF files themselves (.eh_frame read by dwarfcfi). Each walk of the
// crashing thread is compared with Breakpad's minidump_stackwalk frame by
// frame (module and offset, trust) and its function names with gdb's
// backtrace of the core. Every frame the reference found from the context
// or by CFI must agree; scanned frames are counted (rust-minidump, whose
// rules symflow follows, scans other windows than Breakpad).
func TestMinidumpWalkAgainstBreakpad(t *testing.T) {
	_, srv := testService(t, Config{})
	t.Run("all", func(t *testing.T) {
		for _, s := range crashtest.Scenarios() {
			for _, arch := range []crashtest.Arch{crashtest.AMD64, crashtest.ARM64} {
				if !s.Supports(arch) {
					continue
				}
				t.Run(s.Name+"/"+string(arch), func(t *testing.T) {
					t.Parallel()
					r := crashtest.Run(t, s, arch, crashtest.Captures(arch)[0])
					elfDir := elfStore(t, r.Dump)
					for _, mode := range []struct{ name, dir string }{{"breakpad", r.Symbols}, {"elf", elfDir}} {
						a := compareWalk(t, srv.URL, s, r, mode.dir)
						walkAgreements.Lock()
						if walkAgreements.by == nil {
							walkAgreements.by = map[string]*walkAgreement{}
						}
						key := string(arch) + " with " + mode.name + " files"
						if walkAgreements.by[key] == nil {
							walkAgreements.by[key] = &walkAgreement{}
						}
						sum := walkAgreements.by[key]
						sum.dumps++
						sum.frames += a.frames
						sum.sameAddr += a.sameAddr
						sum.sameTrust += a.sameTrust
						sum.cfiFrames += a.cfiFrames
						sum.cfiSame += a.cfiSame
						sum.gdb = sum.gdb.Add(a.gdb)
						walkAgreements.Unlock()
					}
				})
			}
		}
	})
	var lines []string
	for k, a := range walkAgreements.by {
		lines = append(lines, k+": "+a.String())
	}
	sort.Strings(lines)
	t.Logf("symflow's walk against minidump_stackwalk and gdb, crashing threads:\n%s", strings.Join(lines, "\n"))
}

// elfStore lays out every module of the dump that exists on this machine
// in the native (GDB build-id) layout, as a symbol server of executables
// would.
func elfStore(t *testing.T, dumpPath string) string {
	t.Helper()
	data, err := os.ReadFile(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := minidump.Parse(data)
	if d == nil {
		t.Fatalf("parse %s: %v", dumpPath, err)
	}
	dir := t.TempDir()
	for _, m := range d.Modules {
		b, err := os.ReadFile(m.Name)
		if err != nil {
			continue
		}
		id, err := objfile.Identify(b)
		if err != nil || id.CodeID == "" {
			continue
		}
		p := filepath.Join(dir, id.CodeID[:2], id.CodeID[2:])
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func compareWalk(t *testing.T, url string, s crashtest.Scenario, r *crashtest.Result, symdir string) walkAgreement {
	t.Helper()
	dump, err := os.ReadFile(r.Dump)
	if err != nil {
		t.Fatal(err)
	}
	body, ct := minidumpBody(t, dump, fmt.Sprintf(`[{"type":"filesystem","id":"local","path":%q,"layout":{"type":"native"}}]`, symdir))
	resp := doRequest(t, http.MethodPost, url+"/minidump?timeout=600", ct, body)
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("%s: status %d: %.500s", symdir, resp.Status, resp.Body)
	}
	if r.Walk.CrashThread < 0 {
		t.Fatalf("minidump_stackwalk found no crashing thread")
	}
	ref := r.Walk.Threads[r.Walk.CrashThread].Frames
	var mine map[string]any
	for _, st := range arr(t, resp.JSON["stacktraces"], "stacktraces") {
		if st := obj(t, st, "thread"); st["is_requesting"] == true {
			mine = st
		}
	}
	if mine == nil {
		t.Fatalf("no requesting thread in %.300s", resp.Body)
	}
	if os.Getenv("SYMFLOW_TEST_DUMP") != "" {
		fr := arr(t, mine["frames"], "frames")
		t.Logf("last frame: %v", fr[len(fr)-1])
	}
	mods := arr(t, resp.JSON["modules"], "modules")
	moduleOf := func(addr uint64) (string, uint64) {
		for _, m := range mods {
			m := obj(t, m, "module")
			var base uint64
			fmt.Sscanf(m["image_addr"].(string), "0x%x", &base)
			size, _ := m["image_size"].(float64)
			if addr >= base && addr-base < uint64(size) {
				name, _ := m["code_file"].(string)
				return path.Base(name), addr - base
			}
		}
		return "", addr
	}
	// One walked frame per original_index: symbolication expands inlines.
	type walked struct {
		addr         uint64
		trust, fn    string
		symbolicated bool
	}
	var frames []walked
	for _, f := range arr(t, mine["frames"], "frames") {
		f := obj(t, f, "frame")
		idx := int(f["original_index"].(float64))
		var addr uint64
		fmt.Sscanf(f["instruction_addr"].(string), "0x%x", &addr)
		fn, _ := f["function"].(string)
		trust, _ := f["trust"].(string)
		w := walked{addr: addr, trust: trust, fn: fn, symbolicated: f["status"] == "symbolicated"}
		if w.symbolicated && idx > 0 {
			// A symbolicated caller reports the address it was looked up
			// at, one instruction before the return address the walk found.
			w.addr += map[crashtest.Arch]uint64{crashtest.AMD64: 1, crashtest.ARM64: 4}[r.Arch]
		}
		if idx < len(frames) {
			frames[idx] = w // the last of an inline group is the real function
			continue
		}
		for len(frames) < idx {
			frames = append(frames, walked{}) // dropped by symbolication (a scan false positive)
		}
		frames = append(frames, w)
	}
	var a walkAgreement
	cfiRun := true // still in the run of context and CFI frames
	for i, rf := range ref {
		refTrust := map[string]string{"frame_pointer": "fp", "cfi_scan": "cfiscan"}[rf.Trust]
		if refTrust == "" {
			refTrust = rf.Trust
		}
		if refTrust != "context" && refTrust != "cfi" {
			cfiRun = false
		}
		a.frames++
		if cfiRun {
			a.cfiFrames++
		}
		if i >= len(frames) {
			if cfiRun {
				t.Errorf("%s: frame %d (%s+%#x, %s) missing from symflow's walk", filepath.Base(symdir), i, rf.Module, rf.ModuleOffset, refTrust)
			}
			continue
		}
		w := frames[i]
		mod, off := moduleOf(w.addr)
		same := mod == rf.Module && off == rf.ModuleOffset
		if rf.Module == "" {
			// Outside every module: the garbage caller CFI finds below
			// _start or clone (the return address there is undefined and
			// Breakpad's and Symbolicator's CFI keep an older rule). Both
			// must find one from CFI outside every module; the value is
			// whatever the stack holds where each looks.
			same = mod == "" && i > 0 && frames[i-1].fn != "" && isThreadBase(frames[i-1].fn)
		}
		if same {
			a.sameAddr++
		}
		if w.trust == refTrust {
			a.sameTrust++
		}
		if cfiRun {
			if same && w.trust == refTrust {
				a.cfiSame++
			} else {
				t.Errorf("%s: frame %d: symflow %s+%#x (%s %q), minidump_stackwalk %s+%#x (%s)", s.Name, i, mod, off, w.trust, w.fn, rf.Module, rf.ModuleOffset, refTrust)
				if os.Getenv("SYMFLOW_TEST_DUMP") != "" {
					t.Logf("symflow: %+v\nminidump_stackwalk: %s", frames, r.Walk.Text)
				}
			}
		}
	}
	// Names of the walked frames against gdb's, through the same
	// comparison crashtest makes for minidump_stackwalk.
	var wt crashtest.WalkThread
	for _, w := range frames {
		mod, off := moduleOf(w.addr)
		wt.Frames = append(wt.Frames, crashtest.Frame{Module: mod, ModuleOffset: off, Address: w.addr, Function: w.fn, Trust: map[string]string{"fp": "frame_pointer"}[w.trust] + w.trust})
	}
	if th := r.GDB.Thread(r.GDB.CurrentLWP); th != nil {
		a.gdb = crashtest.Compare(s, wt, th)
		if a.gdb.SameName < a.gdb.Named {
			t.Errorf("%s: function names differ from gdb's: %v", s.Name, a.gdb.Diffs)
		}
	}
	return a
}

// isThreadBase reports the functions glibc ends a stack with.
func isThreadBase(fn string) bool {
	return fn == "_start" || fn == "__clone" || fn == "__clone3" || strings.HasPrefix(fn, "clone")
}
