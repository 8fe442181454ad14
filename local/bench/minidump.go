package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/crashtest"
	"github.com/symflow/symflow/local/httpserver"
	"github.com/symflow/symflow/local/symbolicator"
	"github.com/symflow/symflow/local/symbolicator/minidump"
	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// GoalMinidumpSpeedup is issue 13's goal: symflow walks and symbolicates
// every dump, cold, at least this many times faster than
// minidump_stackwalk.
const GoalMinidumpSpeedup = 2.0

// MinidumpRun is section 6 for one dump: a real crash walked and
// symbolicated by symflow's embedded Symbolicator (POST /minidump over
// loopback HTTP) and by Breakpad's minidump_stackwalk (a whole process),
// both from the same Breakpad symbol store. Times are medians of the
// repetitions.
type MinidumpRun struct {
	// Dump names the crash: crashtest scenario and CPU.
	Dump      string `json:"dump"`
	DumpBytes int64  `json:"dump_bytes"`
	Threads   int    `json:"threads"`
	Modules   int    `json:"modules"`
	// SymbolBytes is the size of the .sym files of the store (the
	// program, its libraries and the system libraries the core maps).
	SymbolBytes int64 `json:"symbol_bytes"`
	// Frames counts the frames of every thread in symflow's answer
	// (inlined functions expanded); ReferenceFrames those of
	// minidump_stackwalk's -m output. They differ where the walkers'
	// rules do (stack scanning) and by inlined frames.
	Frames          int `json:"frames"`
	ReferenceFrames int `json:"reference_frames"`

	// Cold is a fresh service (empty caches) answering the dump; Warm the
	// same service answering it again, its parsed symbol files cached.
	Cold time.Duration `json:"cold_ns"`
	Warm time.Duration `json:"warm_ns"`
	// Process is a fresh `symflow symbolicator serve` process: from its
	// start to the answer read, as minidump_stackwalk is timed.
	// ProcessStart is the part of it before the process listens: the
	// symflow binary's start (its package initialisation included).
	Process      time.Duration `json:"process_ns"`
	ProcessStart time.Duration `json:"process_start_ns"`
	// ELFCold and ELFWarm read the ELF files themselves (CFI from
	// .eh_frame, symbols from DWARF) from a native-layout store instead
	// of the Breakpad files.
	ELFCold time.Duration `json:"elf_cold_ns"`
	ELFWarm time.Duration `json:"elf_warm_ns"`
	// Reference is minidump_stackwalk -m DUMP STORE.
	Reference time.Duration `json:"reference_ns"`

	// Speedup is Reference/Cold: how many times faster symflow is cold
	// (>1: symflow is faster). ProcessSpeedup is Reference/Process,
	// ELFSpeedup Reference/ELFCold.
	Speedup        float64 `json:"cold_speedup"`
	ProcessSpeedup float64 `json:"process_speedup"`
	ELFSpeedup     float64 `json:"elf_speedup"`
}

// Minidumps is section 6 of the report.
type Minidumps struct {
	// Repeats is how many times each dump was answered each way.
	Repeats int           `json:"repeats"`
	Runs    []MinidumpRun `json:"runs"`
	// Median holds the median of every column over the dumps (its
	// speedups are the medians of the per-dump speedups).
	Median MinidumpRun `json:"median"`
	// Slowest is the dump with the smallest cold speedup: the goal is per
	// dump.
	Slowest string `json:"slowest"`
}

// minidumpDump is one crash prepared for the section.
type minidumpDump struct {
	name     string
	dump     string // the minidump
	breakpad string // Breakpad symbol store (<name>/<ID>/<name>.sym)
	elf      string // the ELF files the dump maps, native layout
	run      MinidumpRun
}

// measureMinidumps runs section 6: it crashes cfg.Minidumps' scenarios,
// converts their cores and writes their symbol stores (crashtest), then
// times symflow and minidump_stackwalk on each dump.
func measureMinidumps(ctx context.Context, cfg Config, tmp string) (*Minidumps, error) {
	stackwalk := filepath.Join(cfg.Root, "node_modules", "minidump", "bin", "linux-x64", "minidump_stackwalk")
	if st, err := os.Stat(stackwalk); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("minidump_stackwalk is not installed: run make deps (no executable %s)", stackwalk)
	}
	symflowBin, err := buildSymflow(ctx, cfg.Root, tmp)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "minidumps")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var dumps []*minidumpDump
	for _, name := range cfg.Minidumps {
		d, err := makeDump(dir, name)
		if err != nil {
			return nil, err
		}
		dumps = append(dumps, d)
	}
	reps := coldRuns(cfg)
	rep := &Minidumps{Repeats: reps}
	for _, d := range dumps {
		if err := d.measure(ctx, stackwalk, symflowBin, reps); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		rep.Runs = append(rep.Runs, d.run)
	}
	rep.Median, rep.Slowest = medianRun(rep.Runs)
	return rep, nil
}

// buildSymflow builds the symflow command into dir, for the fresh-process
// timings. Like buildHost it keeps full paths and CGO off, reusing what
// go run compiled for the bench.
func buildSymflow(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "symflow")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "./cmd/symflow")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build symflow: %w\n%s", err, b)
	}
	return out, nil
}

// fixtureTB lets the bench use crashtest, whose helpers report failure
// through a testing.TB, outside a test: Fatal and Fatalf panic with a
// fixtureError that makeDump recovers into an error, TempDir makes
// directories under the bench's own. The embedded TB is nil: crashtest
// calls only the methods defined here.
type fixtureTB struct {
	testing.TB
	dir      string
	n        int
	cleanups []func()
}

type fixtureError struct{ err error }

func (t *fixtureTB) Helper()             {}
func (t *fixtureTB) Name() string        { return "bench" }
func (t *fixtureTB) Log(...any)          {}
func (t *fixtureTB) Logf(string, ...any) {}
func (t *fixtureTB) Fatal(a ...any) {
	panic(fixtureError{errors.New(strings.TrimSpace(fmt.Sprintln(a...)))})
}
func (t *fixtureTB) Fatalf(format string, a ...any) {
	panic(fixtureError{fmt.Errorf(format, a...)})
}
func (t *fixtureTB) Error(a ...any)                 { t.Fatal(a...) }
func (t *fixtureTB) Errorf(format string, a ...any) { t.Fatalf(format, a...) }
func (t *fixtureTB) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }

func (t *fixtureTB) TempDir() string {
	t.n++
	d := filepath.Join(t.dir, fmt.Sprintf("%03d", t.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func (t *fixtureTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// makeDump crashes a crashtest scenario named "scenario/arch" (gdb's
// generate-core-file on x86_64, qemu's core on arm64), converts the core
// to a minidump and writes both symbol stores.
func makeDump(dir, name string) (d *minidumpDump, err error) {
	sname, arch, ok := strings.Cut(name, "/")
	var sc *crashtest.Scenario
	for _, s := range crashtest.Scenarios() {
		if s.Name == sname {
			sc = &s
			break
		}
	}
	if !ok || sc == nil || !sc.Supports(crashtest.Arch(arch)) {
		return nil, fmt.Errorf("minidump %q: not a crashtest scenario/arch", name)
	}
	t := &fixtureTB{dir: filepath.Join(dir, strings.ReplaceAll(name, "/", "-"))}
	defer t.cleanup()
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fixtureError)
			if !ok {
				panic(r)
			}
			d, err = nil, fmt.Errorf("minidump %s: %w", name, fe.err)
		}
	}()
	// gdb writes the x86_64 core wherever the kernel's core_pattern
	// points; qemu writes the arm64 guest's.
	capture := crashtest.GDB
	if crashtest.Arch(arch) == crashtest.ARM64 {
		capture = crashtest.QEMU
	}
	p := crashtest.Build(t, *sc, crashtest.Arch(arch))
	cr := p.Crash(t, capture)
	d = &minidumpDump{name: name, dump: cr.Minidump(t, cr.Options()), breakpad: cr.Symbols(t)}
	d.run.Dump = name
	if d.elf, err = elfStore(t.TempDir(), d.dump, &d.run); err != nil {
		return nil, fmt.Errorf("minidump %s: %w", name, err)
	}
	err = filepath.WalkDir(d.breakpad, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				d.run.SymbolBytes += fi.Size()
			}
		}
		return err
	})
	return d, err
}

// elfStore copies every module of the dump found on this machine into dir
// in the native layout (build id: ab/cdef…), as a symbol server of
// executables serves them, and fills in the dump's sizes.
func elfStore(dir, dumpPath string, run *MinidumpRun) (string, error) {
	data, err := os.ReadFile(dumpPath)
	if err != nil {
		return "", err
	}
	d, err := minidump.Parse(data)
	if d == nil {
		return "", fmt.Errorf("parse %s: %w", dumpPath, err)
	}
	run.DumpBytes, run.Threads, run.Modules = int64(len(data)), len(d.Threads), len(d.Modules)
	for _, m := range d.Modules {
		b, err := os.ReadFile(m.Name)
		if err != nil {
			continue // not on this machine (the vDSO)
		}
		id, err := objfile.Identify(b)
		if err != nil || len(id.CodeID) < 3 {
			continue
		}
		p := filepath.Join(dir, id.CodeID[:2], id.CodeID[2:])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// minidumpRequest is the multipart body of POST /minidump with one
// filesystem source in the native layout, as Sentry sends it.
func minidumpRequest(dump []byte, store string) ([]byte, string, error) {
	return minidumpRequestSources(dump, []any{map[string]any{"type": "filesystem", "id": "bench", "path": store, "layout": map[string]string{"type": "native"}}})
}

// minidumpRequestSources is minidumpRequest with the sources given.
func minidumpRequestSources(dump []byte, sources []any) ([]byte, string, error) {
	src, err := json.Marshal(sources)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("platform", `"native"`)
	mw.WriteField("sources", string(src))
	mw.WriteField("options", `{"dif_candidates": true}`)
	fw, err := mw.CreateFormFile("upload_file_minidump", "crash.dmp")
	if err != nil {
		return nil, "", err
	}
	fw.Write(dump)
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// postMinidump posts the body to base/minidump, reads the answer fully
// and returns the frames of its stack traces; an answer that is not a
// completed one is an error.
func postMinidump(ctx context.Context, client *http.Client, base string, body []byte, contentType string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/minidump?timeout=600", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	var out struct {
		Status      string `json:"status"`
		Stacktraces []struct {
			Frames []json.RawMessage `json:"frames"`
		} `json:"stacktraces"`
	}
	if err := json.Unmarshal(data, &out); err != nil || resp.StatusCode != http.StatusOK || out.Status != "completed" {
		return 0, fmt.Errorf("POST /minidump: status %d, %q: %.300s", resp.StatusCode, out.Status, data)
	}
	n := 0
	for _, st := range out.Stacktraces {
		n += len(st.Frames)
	}
	return n, nil
}

// inProcess is a fresh embedded Symbolicator on a loopback port.
type inProcess struct {
	svc    *symbolicator.Service
	srv    *http.Server
	url    string
	client *http.Client
}

func startInProcess() (*inProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &inProcess{
		svc:    symbolicator.New(symbolicator.Config{Logger: slog.New(slog.DiscardHandler)}),
		url:    "http://" + ln.Addr().String(),
		client: &http.Client{Transport: &http.Transport{}},
	}
	p.srv = httpserver.New(p.svc, httpserver.Timeouts{})
	go p.srv.Serve(ln)
	return p, nil
}

func (p *inProcess) close() {
	p.client.CloseIdleConnections()
	p.srv.Close()
	p.svc.Close()
}

// coldAndWarm times a fresh service's first answer to the request, then
// the same service's second.
func coldAndWarm(ctx context.Context, body []byte, contentType string) (cold, warm time.Duration, frames int, err error) {
	runtime.GC() // the previous service's garbage is not this one's work
	start := time.Now()
	p, err := startInProcess()
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.close()
	if frames, err = postMinidump(ctx, p.client, p.url, body, contentType); err != nil {
		return 0, 0, 0, err
	}
	cold = time.Since(start)
	start = time.Now()
	if _, err = postMinidump(ctx, p.client, p.url, body, contentType); err != nil {
		return 0, 0, 0, err
	}
	return cold, time.Since(start), frames, nil
}

// freshProcess times a new `symflow symbolicator serve` process from its
// start until its answer to the request is read, and until it listens.
func freshProcess(ctx context.Context, bin string, body []byte, contentType string) (total, listening time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "symbolicator", "serve", "--listen", "127.0.0.1:0")
	logs := &listenWatcher{addr: make(chan string, 1)}
	cmd.Stderr = logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		<-exited
	}()
	var addr string
	select {
	case addr = <-logs.addr:
		listening = time.Since(start)
	case err := <-exited:
		exited <- err // for the deferred wait
		return 0, 0, fmt.Errorf("symflow symbolicator serve ended without listening (%v): %s", err, lastLines(logs.text(), 5))
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if _, err := postMinidump(ctx, client, "http://"+addr, body, contentType); err != nil {
		return 0, 0, err
	}
	return time.Since(start), listening, nil
}

// listenWatcher receives a symflow process's JSON log lines and sends the
// address of its "symbolicator listening" line on addr.
type listenWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer // the partial last line
	all  bytes.Buffer // the first lines, for errors
	addr chan string
	sent bool
}

func (w *listenWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.all.Len() < 4096 {
		w.all.Write(p)
	}
	if w.sent {
		return len(p), nil
	}
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil {
			w.buf.Write(line) // incomplete: wait for the rest
			return len(p), nil
		}
		var l struct{ Msg, Addr string }
		if json.Unmarshal(line, &l) == nil && l.Msg == "symbolicator listening" {
			w.sent = true
			w.addr <- l.Addr
			return len(p), nil
		}
	}
}

func (w *listenWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// stackwalk times minidump_stackwalk -m over the dump and the store and
// counts the frames it printed.
func stackwalk(ctx context.Context, tool, dump, store string) (time.Duration, int, error) {
	cmd := exec.CommandContext(ctx, tool, "-m", dump, store)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("minidump_stackwalk %s: %w: %s", dump, err, lastLines(errb.String(), 5))
	}
	d := time.Since(start)
	frames := 0
	for _, line := range strings.Split(out.String(), "\n") {
		// thread|frame|module|function|file|line|offset
		if f := strings.Split(line, "|"); len(f) == 7 && f[0] != "" && f[0][0] >= '0' && f[0][0] <= '9' {
			frames++
		}
	}
	return d, frames, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// measure answers the dump reps times each way, interleaved so that the
// machine's drift falls on every column alike, and keeps the medians.
func (d *minidumpDump) measure(ctx context.Context, tool, symflowBin string, reps int) error {
	dump, err := os.ReadFile(d.dump)
	if err != nil {
		return err
	}
	bpBody, bpType, err := minidumpRequest(dump, d.breakpad)
	if err != nil {
		return err
	}
	elfBody, elfType, err := minidumpRequest(dump, d.elf)
	if err != nil {
		return err
	}
	var ref, cold, warm, proc, procStart, elfCold, elfWarm []time.Duration
	for range reps {
		r, n, err := stackwalk(ctx, tool, d.dump, d.breakpad)
		if err != nil {
			return err
		}
		d.run.ReferenceFrames = n
		c, w, n, err := coldAndWarm(ctx, bpBody, bpType)
		if err != nil {
			return fmt.Errorf("symflow with Breakpad files: %w", err)
		}
		d.run.Frames = n
		ec, ew, _, err := coldAndWarm(ctx, elfBody, elfType)
		if err != nil {
			return fmt.Errorf("symflow with ELF files: %w", err)
		}
		p, ps, err := freshProcess(ctx, symflowBin, bpBody, bpType)
		if err != nil {
			return fmt.Errorf("symflow process: %w", err)
		}
		ref, cold, warm, elfCold, elfWarm = append(ref, r), append(cold, c), append(warm, w), append(elfCold, ec), append(elfWarm, ew)
		proc, procStart = append(proc, p), append(procStart, ps)
	}
	m := func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }
	d.run.Reference, d.run.Cold, d.run.Warm, d.run.ELFCold, d.run.ELFWarm = m(ref), m(cold), m(warm), m(elfCold), m(elfWarm)
	d.run.Process, d.run.ProcessStart = m(proc), m(procStart)
	d.run.Speedup = d.run.Reference.Seconds() / d.run.Cold.Seconds()
	d.run.ProcessSpeedup = d.run.Reference.Seconds() / d.run.Process.Seconds()
	d.run.ELFSpeedup = d.run.Reference.Seconds() / d.run.ELFCold.Seconds()
	return nil
}

// medianRun returns the median of every column over runs, and the name
// of the run with the smallest cold speedup.
func medianRun(runs []MinidumpRun) (MinidumpRun, string) {
	med := MinidumpRun{Dump: "median"}
	if len(runs) == 0 {
		return med, ""
	}
	med.Reference = medianOf(runs, func(r MinidumpRun) time.Duration { return r.Reference })
	med.Cold = medianOf(runs, func(r MinidumpRun) time.Duration { return r.Cold })
	med.Warm = medianOf(runs, func(r MinidumpRun) time.Duration { return r.Warm })
	med.Process = medianOf(runs, func(r MinidumpRun) time.Duration { return r.Process })
	med.ProcessStart = medianOf(runs, func(r MinidumpRun) time.Duration { return r.ProcessStart })
	med.ELFCold = medianOf(runs, func(r MinidumpRun) time.Duration { return r.ELFCold })
	med.ELFWarm = medianOf(runs, func(r MinidumpRun) time.Duration { return r.ELFWarm })
	med.Speedup = medianOf(runs, func(r MinidumpRun) float64 { return r.Speedup })
	med.ProcessSpeedup = medianOf(runs, func(r MinidumpRun) float64 { return r.ProcessSpeedup })
	med.ELFSpeedup = medianOf(runs, func(r MinidumpRun) float64 { return r.ELFSpeedup })
	med.DumpBytes = medianOf(runs, func(r MinidumpRun) int64 { return r.DumpBytes })
	med.SymbolBytes = medianOf(runs, func(r MinidumpRun) int64 { return r.SymbolBytes })
	slowest := runs[0]
	for _, r := range runs[1:] {
		if r.Speedup < slowest.Speedup {
			slowest = r
		}
	}
	return med, slowest.Dump
}

// medianOf is the median of one column (the lower middle of an even
// count, as percentile).
func medianOf[T int64 | float64 | time.Duration](runs []MinidumpRun, col func(MinidumpRun) T) T {
	xs := make([]T, len(runs))
	for i, r := range runs {
		xs[i] = col(r)
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}
